{#- This run's staging table, shaped like a partition of public.{taxi}_tripdata: typed like the
    file (so COPY errors name line and column), filename fixed by a default plus the CHECK that lets
    ATTACH PARTITION skip its validation scan.

    First load of the month: logged, because it becomes the month's partition as it is, and
    unique_row_id is computed by the COPY itself (a generated column; finish_staging.sql turns it
    into a plain column), and it has the partition's strays index (create_tables.sql) from the start:
    each COPY stream adds its own rows' strays, in parallel, instead of one serial pass over the
    table after the COPY (0.06 s a 90k-row month); ATTACH adopts the index, its definition being the
    parent's. ``reload`` (the month already has a partition): UNLOGGED and without ids or index, as
    the merge only compares it with that partition, hashing in parallel workers. -#}
{%- import "postgres/_macros.sql" as m -%}
DROP TABLE IF EXISTS {{ staging_table }};
CREATE {{ "UNLOGGED " if reload }}TABLE {{ staging_table }} (
    unique_row_id text{% if not reload %} GENERATED ALWAYS AS ({{ m.row_id_function(taxi, staging_schema) }}({{ m.hash_column_list(taxi) }})) STORED{% endif %},
    filename text NOT NULL DEFAULT {{ filename | literal }} CHECK (filename = {{ filename | literal }}),
{{- m.column_definitions(taxi) }}
);
{%- if not reload %}
CREATE INDEX {{ staging_table.split(".")[-1] }}_strays ON {{ staging_table }} ({{ m.fixed_pickup(taxi, staging_schema) }})
    WHERE {{ m.stray(taxi, staging_schema) }};
{%- endif %}
