{#- The 265 TLC taxi zones (seed taxi_zone_lookup). 264 and 265 are the lookup's own "Unknown"
    zones: trips there are kept (see fact_trips). -#}
select
    locationid as location_id,
    borough,
    zone,
    replace(service_zone, 'Boro', 'Green') as service_zone
from {{ ref('taxi_zone_lookup') }}
