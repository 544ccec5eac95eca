{{ stg_taxi_trips('green') }}
