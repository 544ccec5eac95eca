{#- The analyst tab: trips and revenue per month, service type and borough, from the dbt mart
    dm_monthly_zone_revenue (the course's) and dim_zones. Zone names repeat across boroughs in the
    lookup (e.g. "Corona"), so a zone takes one borough: the first in name order. -#}
WITH borough_of AS (
    SELECT zone, MIN(borough) AS borough FROM {{ schema }}.dim_zones GROUP BY zone
)
SELECT r.revenue_month AS month,
       r.service_type,
       COALESCE(b.borough, 'Unknown') AS borough,
       SUM(r.total_monthly_trips) AS trips,
       SUM(r.revenue_monthly_total_amount) AS revenue
FROM {{ schema }}.dm_monthly_zone_revenue AS r
LEFT JOIN borough_of AS b ON b.zone = r.revenue_zone
WHERE r.revenue_month BETWEEN {{ param("first") }} AND {{ param("last") }}
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
