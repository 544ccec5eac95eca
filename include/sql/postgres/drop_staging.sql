{#- Drop one staging table (this run's, or a stale one the sweep found). -#}
DROP TABLE IF EXISTS {{ staging_table | ident }}
