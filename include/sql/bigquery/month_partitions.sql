{#- Pickup dates (partitions) of one monthly table and the rows on each; NULL day = NULL pickups. -#}
SELECT DATE({{ taxi.pickup_column }}) AS day, COUNT(*) AS trips
FROM {{ table }}
GROUP BY day
ORDER BY day
