{#- After the COPY. A first load's staging table keeps its computed ids as plain values (no rewrite)
    and gets the partition's partial "rest" index (see create_tables.sql), built here so the merge
    holds its lock only briefly. -#}
{%- import "postgres/_macros.sql" as m -%}
ALTER TABLE {{ run.staging_table }} ALTER COLUMN filename DROP DEFAULT
    {%- if not reload %}, ALTER COLUMN unique_row_id DROP EXPRESSION{% endif %};
{%- if not reload %}
CREATE INDEX {{ run.staging_table.split(".")[-1] }}_rest ON {{ run.staging_table }} (unique_row_id)
    WHERE {{ m.in_month(taxi, staging_schema, "'" ~ run.month_first ~ "'", "'" ~ run.month_after ~ "'") }} IS NOT TRUE;
{%- endif %}
