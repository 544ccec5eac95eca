{#- Staging tables of this taxi type that runs killed between load and merge left behind. Their
    names end with their creation time (epoch seconds); anything older than the TTL cannot belong
    to a live run. -#}
SELECT schemaname || '.' || tablename FROM pg_tables
WHERE schemaname = %(schema)s
  AND tablename ~ ('^' || %(taxi)s || '_[0-9]{4}_[0-9]{2}_[0-9a-f]{10}_[0-9]+$')
  AND split_part(tablename, '_', 5)::bigint < extract(epoch FROM now()) - %(ttl_seconds)s
