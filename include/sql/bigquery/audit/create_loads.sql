{#- One row per load, every type's (the Postgres target's ny_taxi_audit.loads, in BigQuery types);
    created by the first merge that finds it missing (gcp/operators.py). -#}
CREATE TABLE IF NOT EXISTS {{ table }} (
    load_id STRING NOT NULL,
    dag_id STRING NOT NULL,
    run_id STRING NOT NULL,
    try_number INT64 NOT NULL,
    taxi STRING NOT NULL,
    month DATE NOT NULL,
    filename STRING NOT NULL,
    source_url STRING NOT NULL,
    compressed_bytes INT64 NOT NULL,
    sha256 STRING NOT NULL,
    rows_in_file INT64 NOT NULL,
    inserted_rows INT64 NOT NULL,
    skipped_rows INT64 NOT NULL,
    placement STRING NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    seconds FLOAT64 NOT NULL,
    quality JSON
)
