{#- User row triggers on the main table: then every new row is INSERTed (never attached), so the
    triggers see it. -#}
SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'public.{{ taxi.table }}'::regclass AND NOT tgisinternal)
