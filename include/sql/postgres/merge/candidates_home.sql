{#- Whether any candidate may share its id with a staged home row (else only staged strays can match). -#}
SELECT coalesce(bool_or(home), false) FROM pg_temp.ny_taxi_candidates
