{#- The merge's first statement. Merges into one table take turns (readers are never blocked): two
    runs of the same month, or two months sharing a trip, must not both see an id as missing and
    both insert it. ONLY the parent: every writer goes through it (a merge's INSERT, ATTACH), and
    locking the partitions too would wait for autovacuum on a freshly attached one (it yields only
    after deadlock_timeout). Then, for this transaction only: room for a whole month's rows in the re-load's
    hash anti-join (a yellow month: ~7M), hash joins whatever the planner guesses for a partition
    not analyzed yet (it otherwise sorts a whole month per worker for a merge join), and no JIT
    (compile time only). -#}
LOCK TABLE ONLY public.{{ taxi.table }} IN SHARE ROW EXCLUSIVE MODE;
SET LOCAL work_mem = '256MB';
SET LOCAL enable_mergejoin = off;
SET LOCAL enable_nestloop = off;
SET LOCAL jit = off;
