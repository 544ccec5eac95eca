{#- The month's check results (quality.py), into its load's audit row. -#}
UPDATE {{ table }} SET quality = PARSE_JSON(@quality) WHERE load_id = @load_id
