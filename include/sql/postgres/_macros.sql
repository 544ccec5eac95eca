{#- Shared fragments rendered from the taxi spec (``taxi``); imported by the Postgres templates. -#}

{%- macro column_list(taxi, prefix="") -%}
{%- for column in taxi.columns %}{{ prefix }}{{ column.name }}{{ ", " if not loop.last }}{% endfor -%}
{%- endmacro -%}

{%- macro column_definitions(taxi) -%}
{%- for column in taxi.columns %}
    {{ column.name }} {{ column.postgres_type }}{{ "," if not loop.last }}
{%- endfor -%}
{%- endmacro -%}

{#- The course's unique_row_id, byte for byte: md5 over the text casts of the hashed columns.
    ``timestamp_text``: a function to turn timestamps into that text (create_tables.sql's IMMUTABLE
    one, for the generated column); by default the plain cast. -#}
{%- macro unique_row_id(taxi, prefix="", timestamp_text=None) -%}
md5(
{%- for name in taxi.postgres_hash_columns %}
{%- if timestamp_text and taxi.column(name).postgres_type == "timestamp" %}
        COALESCE(CAST({{ timestamp_text }}({{ prefix }}{{ name }}) AS text), ''){{ " ||" if not loop.last }}
{%- else %}
        COALESCE(CAST({{ prefix }}{{ name }} AS text), ''){{ " ||" if not loop.last }}
{%- endif %}
{%- endfor %}
    )
{%- endmacro -%}

{#- True when staged row ``s`` and table row ``t`` have equal hashed columns, hence equal ids (for
    rows whose stored id is the md5 of their own columns, as every row this pipeline writes): the
    text casts of equal values are equal, except 0 and -0 (same double, texts '0' and '-0'), so zero
    doubles compare their bits. NULLs never match here; such rows are compared by id instead. -#}
{%- macro same_hashed_columns(taxi, s="s.", t="t.") -%}
{%- for name in taxi.postgres_hash_columns %}
{%- set kind = taxi.column(name).postgres_type %}
{%- if kind == "text" %}COALESCE({{ t }}{{ name }}, '') = COALESCE({{ s }}{{ name }}, '')
{%- elif kind == "double precision" %}{{ t }}{{ name }} = {{ s }}{{ name }} AND ({{ s }}{{ name }} <> 0 OR float8send({{ s }}{{ name }}) = float8send({{ t }}{{ name }}))
{%- else %}{{ t }}{{ name }} = {{ s }}{{ name }}
{%- endif %}{{ " AND " if not loop.last }}
{%- endfor %}
{%- endmacro -%}

{%- macro hash_column_list(taxi) -%}
{{ taxi.postgres_hash_columns | join(", ") }}
{%- endmacro -%}

{#- Calls of the functions create_tables.sql defines (see there for what they mean). -#}
{%- macro row_id_function(taxi, staging_schema) -%}
{{ staging_schema }}.{{ taxi.taxi }}_unique_row_id
{%- endmacro -%}

{%- macro fixed_pickup(taxi, staging_schema, prefix="") -%}
{{ staging_schema }}.{{ taxi.taxi }}_fixed_pickup(
{%- for name in taxi.postgres_hash_columns[:taxi.postgres_hash_columns.index(taxi.pickup_column)] -%}
{{ prefix }}{{ name }}, {% endfor -%}
{{ prefix }}{{ taxi.pickup_column }})
{%- endmacro -%}

{%- macro stray(taxi, staging_schema, prefix="") -%}
NOT {{ staging_schema }}.{{ taxi.taxi }}_home(
{%- for name in taxi.postgres_hash_columns[:taxi.postgres_hash_columns.index(taxi.pickup_column)] -%}
{{ prefix }}{{ name }}, {% endfor -%}
{{ prefix }}{{ taxi.pickup_column }}, {{ prefix }}filename)
{%- endmacro -%}
