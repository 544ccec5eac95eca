{#- This run's own staging table: typed like the file (so COPY errors name line and column),
    UNLOGGED (it is rebuilt on retry, WAL would be wasted) and created in the same transaction
    as the COPY so the COPY can use FREEZE. -#}
{%- import "postgres/_macros.sql" as m -%}
DROP TABLE IF EXISTS {{ run.staging_table }};
CREATE UNLOGGED TABLE {{ run.staging_table }} (
{{- m.column_definitions(taxi) }}
);
