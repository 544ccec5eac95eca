{#- One row per load, every type's: audit.py's columns in BigQuery types (Postgres:
    ny_taxi_audit.loads, create_tables.sql); created by the first merge that finds it missing. -#}
CREATE TABLE IF NOT EXISTS {{ table }} (
    load_id STRING NOT NULL,
{%- for column in audit_columns %}
    {{ column.name }} {{ column.bigquery_type }} NOT NULL,
{%- endfor %}
    quality JSON
)
