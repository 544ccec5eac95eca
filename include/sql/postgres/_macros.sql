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
