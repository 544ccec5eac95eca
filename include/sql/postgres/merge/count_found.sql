{#- How many staged rows already have their id in the table (a parallel scan; the DELETE that
    would remove them is not parallel, so it only runs when this finds some). ``strays_only``: no
    candidate can match a staged home row (candidates.sql), so only the staged strays are read,
    through the staging table's strays index. -#}
{%- import "postgres/_macros.sql" as m -%}
SELECT count(*) FROM {{ staging_table }} AS s
WHERE {% if strays_only %}{{ m.stray(taxi, staging_schema, "s.") }} AND {% endif %}s.unique_row_id IN (SELECT unique_row_id FROM pg_temp.ny_taxi_candidates)
