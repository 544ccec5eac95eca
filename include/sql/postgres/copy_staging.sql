{%- import "postgres/_macros.sql" as m -%}
COPY {{ run.staging_table }} ({{ m.column_list(taxi) }}) FROM STDIN WITH (FORMAT csv, FREEZE true)
