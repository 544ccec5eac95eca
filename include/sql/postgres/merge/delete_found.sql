{#- Take the staged rows whose id is in the table out, before the staging table becomes the month's partition. -#}
DELETE FROM {{ staging_table }}
WHERE unique_row_id IN (SELECT unique_row_id FROM pg_temp.ny_taxi_candidates)
