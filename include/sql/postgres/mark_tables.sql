{#- Last statement of the DDL's transaction: which version of it made the table (tables_current.sql). -#}
COMMENT ON TABLE public.{{ taxi.table }} IS {{ marker | literal }};
