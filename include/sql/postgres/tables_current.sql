{#- Whether this version's create_tables.sql has made this taxi's objects: the table carries its
    marker (``mark_tables.sql``) and what the loads need exists. One catalog read instead of the
    whole DDL (~0.15 s, every month). -#}
{%- import "postgres/_macros.sql" as m -%}
SELECT coalesce(obj_description(to_regclass('public.{{ taxi.table }}'), 'pg_class') = %(marker)s, false)
   AND to_regproc('{{ staging_schema }}.timestamp_text') IS NOT NULL
   AND to_regproc('{{ m.row_id_function(taxi, staging_schema) }}') IS NOT NULL
   AND to_regproc('{{ staging_schema }}.{{ taxi.taxi }}_fixed_pickup') IS NOT NULL
   AND to_regproc('{{ staging_schema }}.{{ taxi.taxi }}_home') IS NOT NULL
   AND to_regclass('public.{{ taxi.table }}_strays') IS NOT NULL
   AND to_regclass('{{ audit_schema }}.loads') IS NOT NULL
