{#- Take the staged rows whose id is in the table out, before the staging table becomes the month's
    partition (``strays_only`` as in count_found.sql). -#}
{%- import "postgres/_macros.sql" as m -%}
DELETE FROM {{ staging_table }} AS s
WHERE {% if strays_only %}{{ m.stray(taxi, staging_schema, "s.") }} AND {% endif %}s.unique_row_id IN (SELECT unique_row_id FROM pg_temp.ny_taxi_candidates)
