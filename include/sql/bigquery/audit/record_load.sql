{#- The load's audit row, the job right after the MERGE job, with that job's row count (the
    emulator runs no multi-statement transactions; gcp/operators.py says what this leaves open). -#}
INSERT INTO {{ table }} (load_id, dag_id, run_id, try_number, taxi, month, filename, source_url, compressed_bytes, sha256,
                         rows_in_file, inserted_rows, skipped_rows, placement, started_at, finished_at, seconds)
VALUES (@load_id, @dag_id, @run_id, @try_number, @taxi, @month, @filename, @source_url, @compressed_bytes, @sha256,
        @rows_in_file, @inserted_rows, @skipped_rows, @placement, @started_at, CURRENT_TIMESTAMP(),
        TIMESTAMP_DIFF(CURRENT_TIMESTAMP(), @started_at, MILLISECOND) / 1000.0)
