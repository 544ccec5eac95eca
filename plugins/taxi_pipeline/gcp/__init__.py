"""The GCP target: ``tasks`` (GCS lake -> monthly BigQuery table -> MERGE), ``operators`` (the
merge job's report), ``parquet`` (the optional Parquet lake object)."""
