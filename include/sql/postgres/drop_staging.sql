{#- Teardown: drop this run's staging table (it runs whether the merge succeeded or not), then
    sweep staging tables of this taxi type that runs killed between load and merge left behind.
    Their names end with their creation time; anything older than the TTL cannot belong to a live
    run. -#}
{%- set run = ti.xcom_pull(task_ids="resolve_month") -%}
DROP TABLE IF EXISTS {{ run.staging_table }};

DO $sweep$
DECLARE
    stale record;
BEGIN
    FOR stale IN
        SELECT tablename FROM pg_tables
        WHERE schemaname = '{{ staging_schema }}'
          AND tablename ~ '^{{ taxi.taxi }}_[0-9]{4}_[0-9]{2}_[0-9a-f]{10}_[0-9]+$'
          AND split_part(tablename, '_', 5)::bigint < extract(epoch FROM now()) - {{ staging_ttl_seconds }}
    LOOP
        RAISE NOTICE 'dropping stale staging table %.%', '{{ staging_schema }}', stale.tablename;
        EXECUTE format('DROP TABLE IF EXISTS %I.%I', '{{ staging_schema }}', stale.tablename);
    END LOOP;
END
$sweep$;
