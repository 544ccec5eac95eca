{#- Whether the main table already has a partition for this file (a re-load): load_month then stages
    into an UNLOGGED table and skips the partition's index, as the merge will only read it. -#}
{%- import "postgres/_macros.sql" as m -%}
SELECT to_regclass('public.{{ taxi.table }}') IS NOT NULL
    AND {{ m.file_partition("public." ~ taxi.table, "'" ~ run.filename ~ "'") }} IS NOT NULL AS reload
