{#- For-hire trips with their zones (the course's fact_fhv_trips), kept like fact_trips: every
    trip, unknown zones included. Incremental by file. -#}
{{ config(
    materialized='incremental',
    unique_key=['filename', 'unique_row_id'],
    indexes=[{'columns': ['filename']}, {'columns': ['source_loaded_at']}],
    partition_by={'field': 'file_month', 'data_type': 'date', 'granularity': 'month'},
) }}

with trips as (
    select * from {{ ref('stg_fhv_tripdata') }} where {{ rebuilt_files(['fhv']) }}
),

loads as (
    select filename, max(finished_at) as source_loaded_at
    from {{ source('audit', 'loads') }}
    where inserted_rows > 0 and taxi = 'fhv'
    group by filename
)

select
    trips.*,
    pickup_zone.borough as pickup_borough,
    pickup_zone.zone as pickup_zone,
    dropoff_zone.borough as dropoff_borough,
    dropoff_zone.zone as dropoff_zone,
    loads.source_loaded_at
from trips
left join {{ ref('dim_zones') }} as pickup_zone on trips.pickup_location_id = pickup_zone.location_id
left join {{ ref('dim_zones') }} as dropoff_zone on trips.dropoff_location_id = dropoff_zone.location_id
left join loads on trips.filename = loads.filename
