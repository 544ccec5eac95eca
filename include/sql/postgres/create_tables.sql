{#- Idempotent DDL for one taxi type: the main table, the schema of the per-run staging tables and
    the two functions the load uses.

    The main table has the course's columns and is LIST-partitioned by ``filename``: one partition
    per monthly file. A first load builds the month's partition as its staging table (rows written
    once, by COPY) and the merge attaches it; nothing is ever rewritten (see merge.sql). No index
    on unique_row_id: each partition has only a small partial "rest" index (below), so a month
    costs the same however many months the table already holds. -#}
{%- import "postgres/_macros.sql" as m -%}
-- Concurrent first runs would race on CREATE ... IF NOT EXISTS (pg_type unique violation).
SELECT pg_advisory_xact_lock(hashtext('ny_taxi_ddl'));

CREATE SCHEMA IF NOT EXISTS {{ staging_schema }};

CREATE TABLE IF NOT EXISTS public.{{ taxi.table }} (
    unique_row_id text,
    filename text,
{{- m.column_definitions(taxi) }}
) PARTITION BY LIST (filename);

DO $check$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'public.{{ taxi.table }}'::regclass) <> 'p' THEN
        RAISE EXCEPTION 'public.{{ taxi.table }} exists but is not partitioned by filename (made by the course''s flow or an older version of this pipeline?)'
            USING HINT = 'Rename it (ALTER TABLE public.{{ taxi.table }} RENAME TO {{ taxi.table }}_old) and re-run the months; this pipeline keeps one partition per file.';
    END IF;
END
$check$;

-- The course's id for a staged row, as a generated column computes it during COPY (so rows are
-- written once, id included). Generated columns need IMMUTABLE functions, and casting a timestamp
-- to text is only STABLE (it follows DateStyle), so the cast goes through timestamp_text: for a
-- superuser, Postgres's own timestamp_out under an IMMUTABLE label (the id function then inlines
-- to plain built-ins); otherwise a PL/pgSQL wrapper (slower per row). Either is only used while a
-- load's COPY runs, in that session; the column then becomes a plain one (finish_staging.sql).
DO $timestamp_text$
BEGIN
    IF to_regprocedure('{{ staging_schema }}.timestamp_text(timestamp)') IS NOT NULL THEN
        RETURN;
    ELSIF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        CREATE FUNCTION {{ staging_schema }}.timestamp_text(timestamp) RETURNS cstring
            LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'timestamp_out';
    ELSE
        CREATE FUNCTION {{ staging_schema }}.timestamp_text(ts timestamp) RETURNS text
            LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ BEGIN RETURN CAST(ts AS text); END $fn$;
    END IF;
END
$timestamp_text$;

CREATE OR REPLACE FUNCTION {{ m.row_id_function(taxi, staging_schema) }}(
{%- for name in taxi.postgres_hash_columns %}
    {{ name }} {{ taxi.column(name).postgres_type }}{{ "," if not loop.last }}
{%- endfor %}
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT {{ m.unique_row_id(taxi, timestamp_text=staging_schema ~ ".timestamp_text") }}
$fn$;

-- A month's "own" rows: pickup in [first, after), whole seconds, and a VendorID that is empty or one
-- digit. For two such rows the id text '<vendor><pickup as YYYY-MM-DD HH:MI:SS>...' can only be
-- equal if the pickups are: the 19-character pickup starts right after a 0- or 1-character vendor
-- (and a 4-digit year cannot begin where another row's year has its '-'). So an own row can only
-- share its id with rows picked up at the same second. Every other row (pickups outside the file's
-- month, odd vendors, fractional seconds, NULL pickups) goes in its partition's partial "rest"
-- index: a few per thousand rows in the real files. Truly immutable, so SQL-inlined.
CREATE OR REPLACE FUNCTION {{ m.in_month_function(taxi, staging_schema) }}(
    {{ m.id_prefix_parameters(taxi) }}pickup timestamp, first timestamp, after timestamp
) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT pickup >= first AND pickup < after
        AND date_trunc('second', pickup) = pickup
        AND ({% for name in taxi.postgres_hash_columns[:taxi.postgres_hash_columns.index(taxi.pickup_column)] -%}
            COALESCE(CAST({{ name }} AS text), ''){{ " || " if not loop.last }}
        {%- endfor %}) IN ('', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9')
$fn$;
