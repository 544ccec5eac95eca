{#- For-hire trips (fhv): typed and renamed like the taxi staging models, one row per trip
    (in-file copies collapse as in macros/staging.sql). -#}
with trips as (
    select
        *,
        row_number() over (
            partition by filename, unique_row_id
            order by dispatching_base_num, pickup_datetime, dropoff_datetime, pulocationid, dolocationid, sr_flag,
                     affiliated_base_number
        ) as copy_number
    from {{ trips_source('fhv_tripdata') }} as raw_trips
)
select
    unique_row_id,
    filename,
    {{ file_month('filename') }} as file_month,
    'FHV' as service_type,
    dispatching_base_num,
    pickup_datetime,
    dropoff_datetime,
    cast(pulocationid as {{ dbt.type_int() }}) as pickup_location_id,
    cast(dolocationid as {{ dbt.type_int() }}) as dropoff_location_id,
    sr_flag,
    affiliated_base_number
from trips
where copy_number = 1
