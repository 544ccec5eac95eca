{#- This run's staging table, shaped like a partition of public.{taxi}_tripdata: typed like the
    file (so COPY errors name line and column), unique_row_id computed by COPY itself (a generated
    column; postgres_load.py turns it into a plain column afterwards) and filename fixed by a
    default plus the CHECK that lets ATTACH PARTITION skip its validation scan.

    Logged, because a first load's staging table becomes the month's partition as it is; UNLOGGED
    (``unlogged``) when the month already has a partition, as the merge then only reads it. -#}
{%- import "postgres/_macros.sql" as m -%}
DROP TABLE IF EXISTS {{ run.staging_table }};
CREATE {{ "UNLOGGED " if unlogged }}TABLE {{ run.staging_table }} (
    unique_row_id text GENERATED ALWAYS AS ({{ m.row_id_function(taxi, staging_schema) }}({{ m.hash_column_list(taxi) }})) STORED,
    filename text NOT NULL DEFAULT '{{ run.filename }}' CHECK (filename = '{{ run.filename }}'),
{{- m.column_definitions(taxi) }}
);
