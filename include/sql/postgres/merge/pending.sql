{#- The staged rows still to place, with their ids, in a temporary table. ``own``: the month has a
    partition already (a re-load), so keep only the rows it does not hold: one parallel hash
    anti-join on the hashed columns themselves (equal columns, equal ids), which ends an unchanged
    file here with nothing hashed and nothing written; rows it cannot pair (a NULL among those
    columns, or new rows) get their ids for the next steps. Without ``own`` (a staging table without
    ids whose partition went away before the merge), every staged row gets its id. -#}
{%- import "postgres/_macros.sql" as m -%}
CREATE TEMP TABLE ny_taxi_pending ON COMMIT DROP AS
SELECT COALESCE(s.unique_row_id, {{ m.unique_row_id(taxi, "s.") }}) AS unique_row_id, s.filename, {{ m.column_list(taxi, "s.") }}
FROM {{ staging_table }} AS s
{%- if own %}
WHERE NOT EXISTS (SELECT 1 FROM {{ partition }} AS t WHERE {{ m.same_hashed_columns(taxi) }})
{%- endif %}
