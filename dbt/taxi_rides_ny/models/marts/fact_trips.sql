{#- Green and yellow trips, one row per trip, with their pickup and dropoff zones.

    Unknown zones: every trip is kept. The course's fact_trips drops trips in the lookup's
    "Unknown" borough (zones 264 and 265) with an inner join; here they stay, under that borough,
    so revenue sums match the raw tables. A location id that is not a zone at all fails the
    relationships test (and, before that, the ingest's location_ids_outside_1_265 check).

    Incremental by file (macros/incremental.sql); `source_loaded_at` is when the file's latest load
    that inserted rows finished: the watermark of the next build. -#}
{{ config(
    materialized='incremental',
    unique_key=['filename', 'unique_row_id'],
    indexes=[{'columns': ['filename']}, {'columns': ['source_loaded_at']}],
    partition_by={'field': 'file_month', 'data_type': 'date', 'granularity': 'month'},
    cluster_by=['service_type'],
) }}

with trips as (
    select * from {{ ref('stg_green_tripdata') }} where {{ rebuilt_files(['green']) }}
    union all
    select * from {{ ref('stg_yellow_tripdata') }} where {{ rebuilt_files(['yellow']) }}
),

{{ trips_with_zones(['green', 'yellow']) }}
