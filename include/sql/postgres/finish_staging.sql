{#- After the COPY. A first load's staging table keeps its computed ids as plain values (no rewrite). -#}
ALTER TABLE {{ staging_table }} ALTER COLUMN filename DROP DEFAULT
    {%- if not reload %}, ALTER COLUMN unique_row_id DROP EXPRESSION{% endif %};
