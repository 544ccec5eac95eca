{#- The select of a fact model over its CTE `trips`: each trip with its pickup and dropoff zones,
    and `source_loaded_at`, when its file's latest load that inserted rows finished (the audit
    table): the watermark the next build compares against (macros/incremental.sql). -#}
{% macro trips_with_zones(taxis) %}
loads as (
    select filename, max(finished_at) as source_loaded_at
    from {{ source('audit', 'loads') }}
    where inserted_rows > 0 and taxi in ('{{ taxis | join("', '") }}')
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
{% endmacro %}
