{#- One COPY stream into the staging table (postgres/load.py runs several at once). FREEZE only
    when the table was created in the same transaction, i.e. with a single stream. -#}
{%- import "postgres/_macros.sql" as m -%}
COPY {{ staging_table }} ({{ columns | join(", ") }}) FROM STDIN WITH (FORMAT csv{{ ", FREEZE true" if freeze }})
