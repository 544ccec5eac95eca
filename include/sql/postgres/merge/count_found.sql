{#- How many staged rows already have their id in the table (a parallel scan; the DELETE that
    would remove them is not parallel, so it only runs when this finds some). -#}
SELECT count(*) FROM {{ staging_table }}
WHERE unique_row_id IN (SELECT unique_row_id FROM pg_temp.ny_taxi_candidates)
