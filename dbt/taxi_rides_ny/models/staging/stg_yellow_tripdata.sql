{{ stg_taxi_trips('yellow') }}
