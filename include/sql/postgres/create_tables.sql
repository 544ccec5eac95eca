{#- Idempotent DDL for one taxi type: the main table (the course's columns and types), its
    unique_row_id index (the merge's anti-join probes it, so a month costs the same however big
    the table grows) and the schema that holds per-run staging tables. -#}
{%- import "postgres/_macros.sql" as m -%}
-- Concurrent first runs would race on CREATE ... IF NOT EXISTS (pg_type unique violation).
SELECT pg_advisory_xact_lock(hashtext('ny_taxi_ddl'));

CREATE SCHEMA IF NOT EXISTS {{ staging_schema }};

CREATE TABLE IF NOT EXISTS public.{{ taxi.table }} (
    unique_row_id text,
    filename text,
{{- m.column_definitions(taxi) }}
);

CREATE INDEX IF NOT EXISTS {{ taxi.table }}_unique_row_id_idx ON public.{{ taxi.table }} (unique_row_id);
