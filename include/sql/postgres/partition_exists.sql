{#- Whether the month already has its partition (named from the spec and the month). -#}
SELECT to_regclass(%(partition)s) IS NOT NULL
