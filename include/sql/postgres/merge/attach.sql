{#- A first load: the staging table becomes the month's partition, as it is (no row is copied
    again). Its CHECK on filename lets ATTACH skip the validation scan, and its strays index is
    adopted by the parent's. -#}
{%- set staged_name = staging_table.split(".")[-1] -%}
{%- set partition_name = partition.split(".")[-1] -%}
ALTER TABLE {{ staging_table }} SET SCHEMA public;
ALTER INDEX public.{{ staged_name }}_strays RENAME TO {{ partition_name }}_strays;
ALTER TABLE public.{{ staged_name }} RENAME TO {{ partition_name }};
ALTER TABLE public.{{ taxi.table }} ATTACH PARTITION {{ partition }} FOR VALUES IN ({{ filename | literal }});
