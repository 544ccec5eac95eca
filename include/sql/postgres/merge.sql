{#- The hash-merge, in one transaction (the operator commits once, after the last statement):
    same semantics as the course's ``MERGE ... ON T.unique_row_id = S.unique_row_id WHEN NOT
    MATCHED THEN INSERT`` -- rows whose id is already in the table are skipped, rows repeated
    inside the file are all inserted -- written as INSERT ... WHERE NOT EXISTS so it can return
    the inserted count (MERGE ... RETURNING needs Postgres 17). unique_row_id is computed here,
    once, instead of the course's UPDATE that rewrites every staged row. -#}
{%- import "postgres/_macros.sql" as m -%}
{%- set run = ti.xcom_pull(task_ids="resolve_month") -%}
-- Merges into one table take turns (readers are not blocked): two runs of the same month, or
-- two months sharing a trip, must not both see an id as missing and both insert it.
LOCK TABLE public.{{ taxi.table }} IN SHARE ROW EXCLUSIVE MODE;

WITH staged AS (
    SELECT
        {{ m.unique_row_id(taxi, "s.") }} AS unique_row_id,
        {{ m.column_list(taxi, "s.") }}
    FROM {{ run.staging_table }} AS s
),
inserted AS (
    INSERT INTO public.{{ taxi.table }} (unique_row_id, filename, {{ m.column_list(taxi) }})
    SELECT staged.unique_row_id, '{{ run.filename }}', {{ m.column_list(taxi, "staged.") }}
    FROM staged
    WHERE NOT EXISTS (
        SELECT 1 FROM public.{{ taxi.table }} AS t WHERE t.unique_row_id = staged.unique_row_id
    )
    RETURNING 1
)
SELECT count(*) AS inserted_rows FROM inserted;
