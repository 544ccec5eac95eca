{#- The staging model of a yellow or green table: typed, renamed to one convention (snake_case,
    `_id` codes as integers, amounts as numeric), codes described, one row per trip.

    One row per trip: `unique_row_id` is the course's md5 of the trip's hashed fields. The ingest's
    merge keeps the course's MERGE semantics, so an id is in one file only, but a file may repeat a
    trip (rows equal on the hashed fields): those copies are kept raw and collapse to one here,
    the first in the order of all their columns (so a rebuild picks the same one). -#}
{% macro stg_taxi_trips(taxi) %}
{%- set table = taxi ~ '_tripdata' -%}
{%- set declared = declared_columns(table) -%}
{%- set node = raw_source_node(table) -%}
{%- set pickup = node.meta.pickup_column | lower if node else 'pickup' -%}
{%- set dropoff = node.meta.dropoff_column | lower if node else 'dropoff' -%}
{%- set numeric = dbt.type_numeric() -%}
with trips as (
    select
        *,
        row_number() over (
            partition by filename, unique_row_id
            order by {{ (declared.keys() | reject('in', ['unique_row_id', 'filename']) | list or ['unique_row_id']) | join(', ') }}
        ) as copy_number
    from {{ trips_source(table) }} as raw_trips
)
select
    unique_row_id,
    filename,
    {{ file_month('filename') }} as file_month,
    '{{ node.meta.service_type if node else taxi }}' as service_type,
    {{ to_integer('vendorid') }} as vendor_id,
    {{ to_integer('ratecodeid') }} as rate_code_id,
    {{ code_description('rate_codes', to_integer('ratecodeid')) }} as rate_code_description,
    {{ to_integer('pulocationid') }} as pickup_location_id,
    {{ to_integer('dolocationid') }} as dropoff_location_id,
    {{ pickup }} as pickup_datetime,
    {{ dropoff }} as dropoff_datetime,
    store_and_fwd_flag,
    cast(passenger_count as {{ dbt.type_int() }}) as passenger_count,
    cast(trip_distance as {{ numeric }}) as trip_distance,
    {#- Yellow has no trip_type (its trips are street-hail: 1) and no ehail_fee (0), as in the course. #}
    cast({{ 'trip_type' if 'trip_type' in declared else 1 }} as {{ dbt.type_int() }}) as trip_type,
    {%- for amount in ['fare_amount', 'extra', 'mta_tax', 'tip_amount', 'tolls_amount', 'ehail_fee',
                       'improvement_surcharge', 'congestion_surcharge', 'total_amount'] %}
    cast({{ amount if amount in declared or not execute else 0 }} as {{ numeric }}) as {{ amount }},
    {%- endfor %}
    cast(payment_type as {{ dbt.type_int() }}) as payment_type,
    {{ code_description('payment_types', 'payment_type') }} as payment_type_description
from trips
where copy_number = 1
{% endmacro %}
