{#- The load's audit row, in the merge's transaction (steps.hash_merge): committed with the data or not at all. -#}
INSERT INTO {{ audit_schema }}.loads (dag_id, run_id, try_number, taxi, month, filename, source_url, compressed_bytes,
                                      sha256, rows_in_file, inserted_rows, skipped_rows, placement, started_at,
                                      finished_at, seconds)
VALUES (%(dag_id)s, %(run_id)s, %(try_number)s, %(taxi)s, %(month)s, %(filename)s, %(source_url)s, %(compressed_bytes)s,
        %(sha256)s, %(rows_in_file)s, %(inserted_rows)s, %(skipped_rows)s, %(placement)s, %(started_at)s,
        clock_timestamp(), extract(epoch FROM clock_timestamp() - %(started_at)s::timestamptz))
RETURNING load_id
