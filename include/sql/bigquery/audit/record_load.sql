{#- The load's audit row (audit.py: its columns and values), the job right after the MERGE job,
    with that job's row count (the emulator runs no multi-statement transactions; gcp/operators.py
    says what this leaves open). -#}
INSERT INTO {{ table }} (load_id, {% for column in audit_columns %}{{ column.name }}{{ ", " if not loop.last }}{% endfor %})
VALUES (@load_id, {% for column in audit_columns %}@{{ column.name }}{{ ", " if not loop.last }}{% endfor %})
