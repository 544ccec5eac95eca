{#- The month's check results (quality.py), into its load's audit row. -#}
UPDATE {{ audit_schema }}.loads SET quality = %(quality)s::jsonb WHERE load_id = %(load_id)s
