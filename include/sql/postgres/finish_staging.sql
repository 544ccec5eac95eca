{#- After the COPY. A first load's staging table keeps its computed ids as plain values (no rewrite)
    and gets the partition's strays index (create_tables.sql), built here, outside the merge's lock;
    ATTACH adopts it because the definition is the parent's. -#}
{%- import "postgres/_macros.sql" as m -%}
ALTER TABLE {{ staging_table }} ALTER COLUMN filename DROP DEFAULT
    {%- if not reload %}, ALTER COLUMN unique_row_id DROP EXPRESSION{% endif %};
{%- if not reload %}
CREATE INDEX {{ staging_table.split(".")[-1] }}_strays ON {{ staging_table }} ({{ m.fixed_pickup(taxi, staging_schema) }})
    WHERE {{ m.stray(taxi, staging_schema) }};
{%- endif %}
