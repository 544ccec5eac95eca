{#- Every row of the table that can share an id with a pending row, by the argument in
    create_tables.sql, as a superset (the next step compares ids): strays whose fixed pickup lies in
    this month or at a pending stray's pickup, strays without a fixed pickup (all three from the
    strays index), the rows at those pickups in the partitions of their months, and, on a re-load,
    the rows of this month's own partition that the pending rows' ids name. No other month's rows
    are read, so the cost does not grow with the months in the table. The stray pickups reach the
    strays indexes as an InitPlan's value, unknown to the planner: planning ``= ANY`` over ~2,000
    constants against the statistics of each of 200 partitions took 0.5 s. ``home``: the row may
    share its id with a staged home row (its fixed pickup lies in this month, or it has none); the
    others can only match staged strays (same id, same fixed pickup), which the strays index finds. -#}
{%- import "postgres/_macros.sql" as m -%}
{%- set fixed = m.fixed_pickup(taxi, staging_schema) -%}
CREATE TEMP TABLE ny_taxi_candidates ON COMMIT DROP AS
SELECT unique_row_id, {{ fixed }} IS NULL OR ({{ fixed }} >= %(month_first)s AND {{ fixed }} < %(month_after)s) AS home
FROM public.{{ taxi.table }}
WHERE {{ m.stray(taxi, staging_schema) }}
  AND (({{ fixed }} >= %(month_first)s AND {{ fixed }} < %(month_after)s)
       OR {{ fixed }} = ANY ((SELECT %(stray_pickups)s::timestamp[])::timestamp[])
       OR {{ fixed }} IS NULL)
UNION ALL
SELECT unique_row_id, false FROM public.{{ taxi.table }}
WHERE filename = ANY (%(stray_files)s) AND {{ taxi.pickup_column }} = ANY (%(stray_pickups)s)
UNION ALL
SELECT unique_row_id, true FROM public.{{ taxi.table }}
WHERE filename = %(own_file)s AND unique_row_id IN (SELECT unique_row_id FROM {{ pending }})
