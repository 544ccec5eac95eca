{#- The course's WHEN NOT MATCHED THEN INSERT: every pending row whose id is not in the table,
    in-file duplicates included. -#}
{%- import "postgres/_macros.sql" as m -%}
INSERT INTO public.{{ taxi.table }} (unique_row_id, filename, {{ m.column_list(taxi) }})
SELECT p.unique_row_id, p.filename, {{ m.column_list(taxi, "p.") }}
FROM {{ pending }} AS p
WHERE NOT EXISTS (SELECT 1 FROM pg_temp.ny_taxi_candidates AS c WHERE c.unique_row_id = p.unique_row_id)
