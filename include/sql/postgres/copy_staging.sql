{#- One COPY stream into the staging table (postgres/load.py runs several at once): csv (csv.gz
    files) or binary (parquet, encoded by pgpq). FREEZE only when the table was created in the same
    transaction, i.e. with a single stream. -#}
{%- import "postgres/_macros.sql" as m -%}
COPY {{ staging_table }} ({{ columns | join(", ") }}) FROM STDIN WITH (FORMAT {{ copy_format }}{{ ", FREEZE true" if freeze }})
