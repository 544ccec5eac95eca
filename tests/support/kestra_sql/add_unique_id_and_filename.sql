{#- The course's {taxi}_add_unique_id_and_filename, verbatim. -#}
UPDATE {{ staging }}
SET 
  unique_row_id = md5(
    COALESCE(CAST(VendorID AS text), '') ||
    COALESCE(CAST({{ taxi.pickup_column }} AS text), '') || 
    COALESCE(CAST({{ taxi.dropoff_column }} AS text), '') || 
    COALESCE(PULocationID, '') || 
    COALESCE(DOLocationID, '') || 
    COALESCE(CAST(fare_amount AS text), '') || 
    COALESCE(CAST(trip_distance AS text), '')      
  ),
  filename = '{{ file }}';
