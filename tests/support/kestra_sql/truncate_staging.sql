{#- The course's {taxi}_truncate_staging_table. -#}
TRUNCATE TABLE {{ staging }};
