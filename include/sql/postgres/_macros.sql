{#- Shared fragments rendered from the taxi spec (``taxi``); imported by the Postgres templates. -#}

{%- macro column_list(taxi, prefix="") -%}
{%- for column in taxi.columns %}{{ prefix }}{{ column.name }}{{ ", " if not loop.last }}{% endfor -%}
{%- endmacro -%}

{%- macro column_definitions(taxi) -%}
{%- for column in taxi.columns %}
    {{ column.name }} {{ column.postgres_type }}{{ "," if not loop.last }}
{%- endfor -%}
{%- endmacro -%}

{#- The course's unique_row_id, byte for byte: md5 over the text casts of the hashed columns. -#}
{%- macro unique_row_id(taxi, prefix="") -%}
md5(
{%- for name in taxi.postgres_hash_columns %}
        COALESCE(CAST({{ prefix }}{{ name }} AS text), ''){{ " ||" if not loop.last }}
{%- endfor %}
    )
{%- endmacro -%}

{%- macro hash_column_list(taxi) -%}
{{ taxi.postgres_hash_columns | join(", ") }}
{%- endmacro -%}

{#- The hashed columns that come before the pickup time in the id's text (VendorID). -#}
{%- macro id_prefix(taxi) -%}
{{ taxi.postgres_hash_columns[:taxi.postgres_hash_columns.index(taxi.pickup_column)] | join(", ") }}
{%- endmacro -%}

{%- macro id_prefix_parameters(taxi) -%}
{%- for name in taxi.postgres_hash_columns[:taxi.postgres_hash_columns.index(taxi.pickup_column)] -%}
{{ name }} {{ taxi.column(name).postgres_type }}, {% endfor -%}
{%- endmacro -%}

{#- The functions create_tables.sql defines, by name. -#}
{%- macro row_id_function(taxi, staging_schema) -%}
{{ staging_schema }}.{{ taxi.taxi }}_unique_row_id
{%- endmacro -%}

{%- macro in_month_function(taxi, staging_schema) -%}
{{ staging_schema }}.{{ taxi.taxi }}_in_month
{%- endmacro -%}

{#- "A month's own row" (see create_tables.sql): true for the rows of a file whose pickup lies in the
    file's month and whose id text fixes the pickup; every other row of its partition is in the
    partition's small partial "rest" index. ``first``/``after`` are SQL timestamp expressions. -#}
{%- macro in_month(taxi, staging_schema, first, after, prefix="") -%}
{{ in_month_function(taxi, staging_schema) }}(
{%- for name in taxi.postgres_hash_columns[:taxi.postgres_hash_columns.index(taxi.pickup_column)] -%}
{{ prefix }}{{ name }}, {% endfor -%}
{{ prefix }}{{ taxi.pickup_column }}, {{ first }}, {{ after }})
{%- endmacro -%}

{#- The partition of ``main`` that holds ``filename`` (an SQL text expression), as regclass or NULL. -#}
{%- macro file_partition(main, filename) -%}
(SELECT c.oid::regclass
     FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
     WHERE i.inhparent = to_regclass('{{ main }}')
       AND pg_get_expr(c.relpartbound, c.oid) = format('FOR VALUES IN (%L)', {{ filename }}))
{%- endmacro -%}
