{#- dbt-postgres's create_schema, safe when several dbt processes create the same schema at once.
    The cosmos DAG's first tasks (the seed and the staging views) start together, each a dbt
    process that creates the target schema if it is missing. Two concurrent ``CREATE SCHEMA IF NOT
    EXISTS`` both see it missing, and the later one fails on pg_namespace's unique index ("Key
    (nspname)=(analytics) already exists", seen in the e2e on a fresh database). The loser here
    finds the schema made, which is all it wanted. -#}
{% macro postgres__create_schema(relation) -%}
  {% if relation.database -%}
    {{ adapter.verify_database(relation.database) }}
  {%- endif -%}
  {%- call statement('create_schema') -%}
    do $create_schema$
    begin
        create schema if not exists {{ relation.without_identifier().include(database=False) }};
    exception when unique_violation or duplicate_schema then
        null;  -- created by a concurrent dbt process in the meantime
    end
    $create_schema$
  {%- endcall -%}
{% endmacro %}
