{#- The fixed pickups of the pending rows that are strays (outside this month), and whether any
    pending stray has no fixed pickup (then only a look at the whole table is exact). -#}
{%- import "postgres/_macros.sql" as m -%}
SELECT array_agg(DISTINCT {{ m.fixed_pickup(taxi, staging_schema) }}) FILTER (WHERE {{ m.fixed_pickup(taxi, staging_schema) }} IS NOT NULL),
       coalesce(bool_or({{ m.fixed_pickup(taxi, staging_schema) }} IS NULL), false)
FROM {{ pending }}
WHERE {{ m.stray(taxi, staging_schema) }}
