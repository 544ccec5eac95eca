{#- The raw tables, as the staging models read them. -#}

{#- A raw table's node in _sources.yml (its columns, its meta); none while parsing. -#}
{% macro raw_source_node(table) %}
    {{ return(graph.sources.get('source.' ~ project_name ~ '.raw.' ~ table) if execute else none) }}
{% endmacro %}

{#- A raw table's declared columns ({lower-case name: column}); {} while parsing. -#}
{% macro declared_columns(table) %}
    {%- set node = raw_source_node(table) -%}
    {%- set columns = {} -%}
    {%- for column in (node.columns.values() if node else []) -%}
        {%- do columns.update({column.name | lower: column}) -%}
    {%- endfor -%}
    {{ return(columns) }}
{% endmacro %}

{#- The source table, or (a type never loaded) an empty relation with its declared columns and
    types, so the project builds on what was loaded instead of failing on a missing table. -#}
{% macro trips_source(table) %}
    {%- set relation = source('raw', table) -%}
    {%- if execute and load_relation(relation) is none -%}
        {%- do log(table ~ ": not loaded yet, read as empty", info=True) -%}
        {%- set type_key = 'postgres_type' if target.type == 'postgres' else 'bigquery_type' -%}
        (select
        {%- for name, column in declared_columns(table).items() %}
            cast(null as {{ column.meta[type_key] }}) as {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
        from (select 1 as one) as nothing where 1 = 0)
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{% endmacro %}

{#- The first day of the month a file is of, from its name: `green_tripdata_2021-01.csv` -> 2021-01-01
    (the name's one YYYY-MM; no capture group: the BigQuery emulator returns the whole match). -#}
{% macro file_month(filename) %}{{ return(adapter.dispatch('file_month')(filename)) }}{% endmacro %}

{% macro default__file_month(filename) -%}
    to_date(substring({{ filename }} from '\d{4}-\d{2}'), 'YYYY-MM')
{%- endmacro %}

{% macro bigquery__file_month(filename) -%}
    parse_date('%Y-%m', regexp_extract({{ filename }}, r'\d{4}-\d{2}'))
{%- endmacro %}
