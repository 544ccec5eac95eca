{#- The load's audit row (audit.py: its columns and values), in the merge's transaction
    (steps.hash_merge): committed with the data or not at all. -#}
INSERT INTO {{ audit_schema }}.loads ({% for column in audit_columns %}{{ column.name }}{{ ", " if not loop.last }}{% endfor %})
VALUES ({% for column in audit_columns %}%({{ column.name }})s{{ ", " if not loop.last }}{% endfor %})
RETURNING load_id
