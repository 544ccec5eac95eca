{#- The course's flow (04_postgres_taxi.yaml, {taxi}_create_table / {taxi}_create_staging_table):
    the same statement for the main and the staging table. -#}
CREATE TABLE IF NOT EXISTS {{ table }} (
    unique_row_id          text,
    filename               text,
{%- for column in taxi.columns if column.in_dtc %}
    {{ column.name }} {{ column.postgres_type }}{{ "," if not loop.last }}
{%- endfor %}
);
