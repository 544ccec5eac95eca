{#- A pending stray without a fixed pickup can share its id with any row: look at the whole table,
    as the course's MERGE does (never needed for the real files). -#}
CREATE TEMP TABLE ny_taxi_candidates ON COMMIT DROP AS
SELECT unique_row_id, true AS home FROM public.{{ taxi.table }}
WHERE unique_row_id IN (SELECT unique_row_id FROM {{ pending }})
