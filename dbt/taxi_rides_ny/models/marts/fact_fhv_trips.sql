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

{{ trips_with_zones(['fhv']) }}
