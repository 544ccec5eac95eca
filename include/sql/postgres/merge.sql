{#- The hash-merge of one month, in one transaction (the operator commits once, after the last
    statement). Same semantics as the course's ``MERGE ... ON T.unique_row_id = S.unique_row_id WHEN
    NOT MATCHED THEN INSERT``: a staged row whose id is already in the table is skipped, rows repeated
    inside the file are all inserted; a failure anywhere leaves the table as it was.

    Which rows of the table can share an id with a staged row, without an index over the whole table:
      * this file's own partition, if an earlier run loaded the file: one parallel hash anti-join on
        the hashed columns themselves (equal columns, equal ids), so re-loading an unchanged file
        ends there, with nothing hashed and nothing written; the few staged rows it cannot pair (a
        NULL among those columns, or new rows) get their ids and are looked up by id there as well;
      * in every other partition, only its "rest" rows (small partial index, see create_tables.sql):
        a staged row picked up in this file's month can only match another file's row picked up
        in that month too, which is a rest row there;
      * for staged rows picked up in another month m: month m's partition, rows at those pickups;
      * staged rows whose id text does not fix the pickup (never seen in the real files): the
        whole table, as the course does.
    On a first load the staged rows already carry their ids (computed by the COPY) and the staging
    table -- minus any rows found above -- becomes the month's partition (ATTACH: no row is copied
    again); otherwise the remaining rows are INSERTed. Tables with user row triggers always take the
    INSERT path, so those triggers see every new row. -#}
{%- import "postgres/_macros.sql" as m -%}
{%- set run = ti.xcom_pull(task_ids="resolve_month") -%}
{%- set staged_rows = ti.xcom_pull(task_ids="load_staging")["staged_rows"] -%}
{%- set after = (run.year + 1, 1) if run.month == 12 else (run.year, run.month + 1) -%}
{%- set prefix = taxi.postgres_hash_columns[:taxi.postgres_hash_columns.index(taxi.pickup_column)] -%}
-- Merges into one table take turns (readers are not blocked): two runs of the same month, or
-- two months sharing a trip, must not both see an id as missing and both insert it.
LOCK TABLE public.{{ taxi.table }} IN SHARE ROW EXCLUSIVE MODE;

-- This transaction only: room for a whole month's rows in the re-load's hash anti-join (a yellow
-- month: ~7M), and hash joins whatever the planner guesses for a partition not analyzed yet (it
-- otherwise sorts a whole month per worker for a merge join); JIT only adds compile time here.
SET LOCAL work_mem = '256MB';
SET LOCAL enable_mergejoin = off;
SET LOCAL enable_nestloop = off;
SET LOCAL jit = off;

DO $merge$
DECLARE
    main constant regclass := 'public.{{ taxi.table }}';
    staged constant regclass := '{{ run.staging_table }}';
    file constant text := '{{ run.filename }}';
    partition_name constant text := '{{ taxi.table }}_{{ "%04d_%02d" % (run.year, run.month) }}';
    month_first constant timestamp := '{{ "%04d-%02d-01" % (run.year, run.month) }}';
    month_after constant timestamp := '{{ "%04d-%02d-01" % after }}';
    -- a staged row's id: computed by the COPY on a first load; on a re-load here, for the few rows that need it
    id constant text := $id$COALESCE(s.unique_row_id, {{ m.unique_row_id(taxi, "s.") | replace("\n", " ") }})$id$;
    same constant text := $same${{ m.same_hashed_columns(taxi) }}$same$;
    -- in_month(<prefix columns>, <pickup>, first, after), see create_tables.sql
    in_month constant text := '{{ m.in_month_function(taxi, staging_schema) }}({{ (prefix | list + [taxi.pickup_column]) | join(", ") }}, %L, %L)';
    own regclass := {{ m.file_partition("public." ~ taxi.table, "'" ~ run.filename ~ "'") }};
    attach boolean;
    pending regclass := staged;  -- the staged rows still to be placed
    left_over bigint;
    out_pickups timestamp[];     -- pickups of pending rest rows (outside this month)
    irregular boolean;           -- a pending row whose id text does not fix its pickup
    existing text := '';         -- query: (ids in the table that pending rows may share, bulk: whether
                                 -- a pending row picked up in this month may be among them)
    own_month text;              -- "a row of this month" (in_month for this file)
    regular text;                -- "an id text that fixes the pickup" (in_month over all 4-digit years)
    part record;
    for_rest text[];             -- ids that the staged rest rows may share
    for_bulk text[];             -- ... and the staged rows of the month itself
    removed bigint := 0;
    n bigint;
BEGIN
    PERFORM set_config('ny_taxi.attached_rows', '0', true);
    attach := own IS NULL
        AND (SELECT relpersistence = 'p' FROM pg_class WHERE oid = staged)
        AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = main AND NOT tgisinternal);

    -- 1. The file was loaded before: compare with its own partition (parallel hash anti-join).
    IF own IS NOT NULL THEN
        EXECUTE format('SELECT count(*) FROM %s AS s WHERE NOT EXISTS (SELECT 1 FROM %s AS t WHERE %s)', staged, own, same)
            INTO left_over;
        IF left_over = 0 THEN  -- a re-load: every row is there already
            EXECUTE format('CREATE TEMP VIEW ny_taxi_new_rows AS SELECT * FROM %s WHERE false', main);
            RETURN;
        END IF;
        EXECUTE format('CREATE TEMP TABLE ny_taxi_pending ON COMMIT DROP AS SELECT %s AS unique_row_id, filename, {{ m.column_list(taxi) }} '
                       'FROM %s AS s WHERE NOT EXISTS (SELECT 1 FROM %s AS t WHERE %s)', id, staged, own, same);
        pending := 'pg_temp.ny_taxi_pending'::regclass;
    END IF;

    -- 2. What pending rows could match elsewhere. Rest rows come from the partial indexes, whatever
    --    the planner guesses for freshly attached partitions without statistics (for the rest of
    --    this transaction: a month's own scans are seq scans anyway, there being no other way).
    PERFORM set_config('enable_seqscan', 'off', true);
    own_month := format(in_month, month_first, month_after);
    regular := format(in_month, '1000-01-01', '10000-01-01');
    EXECUTE format('SELECT array_agg(DISTINCT {{ taxi.pickup_column }}) FILTER (WHERE {{ taxi.pickup_column }} IS NOT NULL), coalesce(bool_or(%s IS NOT TRUE), false) FROM %s WHERE %s IS NOT TRUE',
                   regular, pending, own_month)
        INTO out_pickups, irregular;
    FOR part IN
        SELECT c.oid::regclass AS rel,
               (substring(pg_get_expr(c.relpartbound, c.oid) from '^FOR VALUES IN \(''{{ taxi.table }}_([0-9]{4}-[0-9]{2})\.csv''\)$') || '-01')::timestamp AS first
        FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = main AND c.oid IS DISTINCT FROM own
    LOOP
        IF irregular OR part.first IS NULL THEN  -- all its rows
            existing := existing || format(' UNION ALL SELECT unique_row_id, true AS bulk FROM %s', part.rel);
            CONTINUE;
        END IF;
        existing := existing || format(
            ' UNION ALL SELECT unique_row_id, ({{ taxi.pickup_column }} >= %L AND {{ taxi.pickup_column }} < %L) OR %s IS NOT TRUE AS bulk'
            ' FROM %s WHERE %s IS NOT TRUE',
            month_first, month_after, regular, part.rel, format(in_month, part.first, part.first + interval '1 month'));
        IF EXISTS (SELECT 1 FROM unnest(out_pickups) AS p WHERE p >= part.first AND p < part.first + interval '1 month') THEN
            existing := existing || format(' UNION ALL SELECT unique_row_id, %s IS NOT TRUE AS bulk FROM %s WHERE {{ taxi.pickup_column }} = ANY ($1)',
                                           regular, part.rel);
        END IF;
    END LOOP;
    IF own IS NOT NULL THEN  -- rows phase 1 could not pair (a NULL among the hashed columns) may still share an id there
        existing := existing || format(' UNION ALL SELECT unique_row_id, true AS bulk FROM %s WHERE unique_row_id IN (SELECT unique_row_id FROM %s)', own, pending);
    END IF;
    existing := coalesce(nullif(substr(existing, 12), ''), 'SELECT NULL::text AS unique_row_id, true AS bulk WHERE false');

    -- 3. Place the rows: attach the staging table as the month's partition, or leave the rows to
    --    insert in a view for the INSERT below (a statement of its own, so it shows in pg_stat_activity).
    IF attach AND irregular THEN  -- the whole table: look, then remove if anything is there
        EXECUTE format('SELECT count(*) FROM %s AS s WHERE %s IN (SELECT unique_row_id FROM (%s) AS e)', staged, id, existing)
            INTO removed USING out_pickups;
        IF removed > 0 THEN
            EXECUTE format('DELETE FROM %s AS s WHERE %s IN (SELECT unique_row_id FROM (%s) AS e)', staged, id, existing)
                USING out_pickups;
        END IF;
    ELSIF attach THEN  -- a few candidate ids: the staged rest rows through their partial index, the
                       -- month's own rows (a parallel scan) only if a candidate can match them
        EXECUTE format('SELECT array_agg(unique_row_id), array_agg(unique_row_id) FILTER (WHERE bulk) FROM (%s) AS e', existing)
            INTO for_rest, for_bulk USING out_pickups;
        IF for_rest IS NOT NULL THEN
            EXECUTE format('SELECT count(*) FROM %s AS s WHERE %s IS NOT TRUE AND s.unique_row_id = ANY ($1)', staged, own_month)
                INTO removed USING for_rest;
        END IF;
        IF for_bulk IS NOT NULL THEN
            EXECUTE format('SELECT count(*) FROM %s AS s WHERE %s AND s.unique_row_id = ANY ($1)', staged, own_month)
                INTO n USING for_bulk;
            removed := removed + n;
        END IF;
        IF removed > 0 THEN
            EXECUTE format('DELETE FROM %s AS s WHERE (%s IS NOT TRUE AND s.unique_row_id = ANY ($1)) OR (%s AND s.unique_row_id = ANY ($2))',
                           staged, own_month, own_month) USING for_rest, coalesce(for_bulk, '{}');
        END IF;
    END IF;
    IF attach THEN
        EXECUTE format('ALTER TABLE %s SET SCHEMA public', staged);
        EXECUTE format('ALTER INDEX public.%I RENAME TO %I', split_part('{{ run.staging_table }}', '.', 2) || '_rest', partition_name || '_rest');
        EXECUTE format('ALTER TABLE %s RENAME TO %I', staged, partition_name);
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES IN (%L)', main, staged, file);
        PERFORM set_config('ny_taxi.attached_rows', ({{ staged_rows }} - removed)::text, true);
        EXECUTE format('CREATE TEMP VIEW ny_taxi_new_rows AS SELECT * FROM %s WHERE false', main);
        RETURN;
    END IF;
    IF own IS NULL THEN  -- an empty partition to insert into (CREATE ... PARTITION OF would lock out readers)
        EXECUTE format('CREATE TABLE public.%I (LIKE %s, CHECK (filename IS NOT NULL AND filename = %L))', partition_name, main, file);
        EXECUTE format('CREATE INDEX %I ON public.%I (unique_row_id) WHERE %s IS NOT TRUE',
                       partition_name || '_rest', partition_name, format(in_month, month_first, month_after));
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION public.%I FOR VALUES IN (%L)', main, partition_name, file);
    END IF;
    EXECUTE format('CREATE TEMP VIEW ny_taxi_new_rows AS SELECT %s AS unique_row_id, filename, {{ m.column_list(taxi) }} FROM %s AS s '
                   'WHERE NOT EXISTS (SELECT 1 FROM (%s) AS e WHERE e.unique_row_id = %s)',
                   id, pending, replace(existing, '$1', quote_literal(coalesce(out_pickups, '{}')) || '::timestamp[]'), id);
END
$merge$;

WITH staged AS (
    SELECT * FROM pg_temp.ny_taxi_new_rows
),
inserted AS (
    INSERT INTO public.{{ taxi.table }} (unique_row_id, filename, {{ m.column_list(taxi) }})
    SELECT unique_row_id, filename, {{ m.column_list(taxi) }} FROM staged
    RETURNING 1
)
SELECT set_config('ny_taxi.inserted_rows', (current_setting('ny_taxi.attached_rows')::bigint + count(*))::text, true)
FROM inserted;

DROP VIEW pg_temp.ny_taxi_new_rows;

SELECT current_setting('ny_taxi.inserted_rows')::bigint AS inserted_rows;
