{#- The month has a partition already: keep the staged rows it does not hold, with their ids. One
    parallel hash anti-join on the hashed columns themselves (equal columns, equal ids), so an
    unchanged file ends here with nothing hashed and nothing written. Rows it cannot pair (a NULL
    among those columns, or new rows) get their ids for the next steps. -#}
{%- import "postgres/_macros.sql" as m -%}
CREATE TEMP TABLE ny_taxi_pending ON COMMIT DROP AS
SELECT COALESCE(s.unique_row_id, {{ m.unique_row_id(taxi, "s.") }}) AS unique_row_id, s.filename, {{ m.column_list(taxi, "s.") }}
FROM {{ staging_table }} AS s
WHERE NOT EXISTS (SELECT 1 FROM {{ partition }} AS t WHERE {{ m.same_hashed_columns(taxi) }})
