{#- Idempotent DDL for one taxi type: the main table, its one partial index, the schema of the
    per-run staging tables and the functions the load and the merge use.

    The main table has the course's columns and is LIST-partitioned by ``filename``: one partition
    per monthly file. A first load builds the month's partition as its staging table (rows written
    once, by COPY) and the merge attaches it (plugins/taxi_pipeline/postgres/merge.py). There is no
    index on unique_row_id: the only index is the small partial "strays" index below, which is what
    lets a merge find every row that can share an id with a month without reading other months. -#}
{%- import "postgres/_macros.sql" as m -%}
-- Concurrent first runs would race on CREATE ... IF NOT EXISTS (pg_type unique violation).
SELECT pg_advisory_xact_lock(hashtext('ny_taxi_ddl'));

CREATE SCHEMA IF NOT EXISTS {{ staging_schema }};

-- One row per load, every type's (audit.py: its columns), written in the merge's transaction:
-- the audit and the data never disagree. quality: the month's check results, set by check_quality.
CREATE SCHEMA IF NOT EXISTS {{ audit_schema }};
CREATE TABLE IF NOT EXISTS {{ audit_schema }}.loads (
    load_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
{%- for column in audit_columns %}
    {{ column.name }} {{ column.postgres_type }} NOT NULL,
{%- endfor %}
    quality jsonb
);
CREATE INDEX IF NOT EXISTS loads_taxi_month ON {{ audit_schema }}.loads (taxi, month);

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

-- Columns a spec grew since the table was made (specs.py): added nullable, so rows already there
-- read NULL. Only missing ones, so an up-to-date table takes no ACCESS EXCLUSIVE lock here.
DO $columns$
BEGIN
{%- for column in taxi.columns %}
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'public.{{ taxi.table }}'::regclass
                   AND attname = {{ column.name.lower() | literal }} AND NOT attisdropped) THEN
        ALTER TABLE public.{{ taxi.table }} ADD COLUMN {{ column.name }} {{ column.postgres_type }};
    END IF;
{%- endfor %}
END
$columns$;

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

{%- set prefix = taxi.postgres_hash_columns[:taxi.postgres_hash_columns.index(taxi.pickup_column)] %}

-- Why a merge may look at so few rows. The id is md5 of the text '<VendorID><pickup><dropoff>...'.
-- Call a row's pickup *fixed* when that text pins it down: the pickup is whole seconds in years
-- 1000..9999 (so its text is the 19 characters 'YYYY-MM-DD HH:MI:SS') and VendorID's text is empty
-- or one digit (VendorID: the columns hashed before the pickup; fhv and fhvhv hash the pickup first). Two rows with fixed pickups and the same id text have the same pickup: the pickup
-- text starts at offset 0 or 1, and it cannot start at 0 in one text and at 1 in the other (the
-- first text has its year's '-' where the second has its year's last digit). So, md5 collisions
-- aside (the course's MERGE would see those as matches), a row with a fixed pickup p can share its
-- id only with rows whose fixed pickup is p, or whose pickup is not fixed.
--
-- fixed_pickup() is that pickup, NULL when the pickup is not fixed.
CREATE OR REPLACE FUNCTION {{ staging_schema }}.{{ taxi.taxi }}_fixed_pickup(
    {% for name in prefix %}{{ name }} {{ taxi.column(name).postgres_type }}, {% endfor %}pickup timestamp
) RETURNS timestamp LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE WHEN pickup >= '1000-01-01' AND pickup < '10000-01-01'
                     AND date_trunc('second', pickup) = pickup
                     {%- if prefix %}
                     AND ({% for name in prefix %}COALESCE(CAST({{ name }} AS text), ''){{ " || " if not loop.last }}{% endfor %}) IN ('', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9')
                     {%- endif %}
                THEN pickup END
$fn$;

-- A partition's *home* rows: fixed pickup inside the file's month (the month is read from the
-- filename, '<taxi>_tripdata_YYYY-MM.csv', which the staging table's CHECK guarantees). Every other
-- row is a *stray* (picked up in another month, or a pickup that is not fixed): a few per thousand
-- in the real files. A home row of month M can then share its id only with home rows of M's own
-- partition, strays whose fixed pickup lies in M, and strays without a fixed pickup -- all of them
-- in the strays index, except the first.
CREATE OR REPLACE FUNCTION {{ staging_schema }}.{{ taxi.taxi }}_home(
    {% for name in prefix %}{{ name }} {{ taxi.column(name).postgres_type }}, {% endfor %}pickup timestamp, filename text
) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT COALESCE(date_trunc('month', {{ staging_schema }}.{{ taxi.taxi }}_fixed_pickup({% for name in prefix %}{{ name }}, {% endfor %}pickup))
        = make_timestamp(left(split_part(filename, '_', 3), 4)::int, substr(split_part(filename, '_', 3), 6, 2)::int, 1, 0, 0, 0), false)
$fn$;

-- The strays of every partition, keyed by fixed pickup (NULL: not fixed). One definition on the
-- parent: each partition has its own small index, a first load's staging table builds it before
-- the merge (finish_staging.sql) and ATTACH adopts it.
CREATE INDEX IF NOT EXISTS {{ taxi.table }}_strays ON public.{{ taxi.table }} ({{ m.fixed_pickup(taxi, staging_schema) }})
    WHERE {{ m.stray(taxi, staging_schema) }};
