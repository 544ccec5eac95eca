{#- Shared BigQuery fragments rendered from the taxi spec (``taxi``). Tables are named relative to
    the job's default dataset (the Variables gcp_project_id.gcp_dataset, set on every job). -#}

{%- macro column_list(taxi, prefix="") -%}
{%- for column in taxi.columns %}{{ prefix }}{{ column.name }}{{ ", " if not loop.last }}{% endfor -%}
{%- endmacro -%}

{#- The course's BigQuery unique_row_id: MD5 over the five hashed fields, as BYTES. -#}
{%- macro unique_row_id(taxi, prefix="") -%}
MD5(CONCAT(
{%- for name in taxi.bigquery_hash_columns %}
        COALESCE(CAST({{ prefix }}{{ name }} AS STRING), ""){{ "," if not loop.last }}
{%- endfor %}
    ))
{%- endmacro -%}
