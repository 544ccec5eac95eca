{#- Revenue by pickup zone, month and service type (the course's dm_monthly_zone_revenue).

    The month is the file's month (`file_month`), not the pickup's: each row is one file's slice,
    so a month that lands rebuilds only its own rows. A file holds a few pickups of other months
    (the ingest's pickups_outside_the_month check allows 2%; real green 2020: at most 0.017%);
    the course, truncating pickup_datetime, counts those in their pickup month. -#}
{{ config(
    materialized='incremental',
    unique_key=['filename', 'revenue_zone'],
    indexes=[{'columns': ['filename']}, {'columns': ['source_loaded_at']}],
) }}

select
    filename,
    coalesce(pickup_zone, 'Unknown') as revenue_zone,
    file_month as revenue_month,
    service_type,
    sum(fare_amount) as revenue_monthly_fare,
    sum(extra) as revenue_monthly_extra,
    sum(mta_tax) as revenue_monthly_mta_tax,
    sum(tip_amount) as revenue_monthly_tip_amount,
    sum(tolls_amount) as revenue_monthly_tolls_amount,
    sum(ehail_fee) as revenue_monthly_ehail_fee,
    sum(improvement_surcharge) as revenue_monthly_improvement_surcharge,
    sum(congestion_surcharge) as revenue_monthly_congestion_surcharge,
    sum(total_amount) as revenue_monthly_total_amount,
    count(*) as total_monthly_trips,
    avg(passenger_count) as avg_monthly_passenger_count,
    avg(trip_distance) as avg_monthly_trip_distance,
    max(source_loaded_at) as source_loaded_at
from {{ ref('fact_trips') }}
where {{ rebuilt_files(['green', 'yellow']) }}
group by filename, coalesce(pickup_zone, 'Unknown'), file_month, service_type
