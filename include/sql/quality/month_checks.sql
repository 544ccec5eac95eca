{#- The month's quality checks (quality.py), one row each: (check_name, check_result), 1 if the
    check passed, else 0 -- the rows SQLTableCheckOperator.execute reads into its verdicts. Both
    Postgres and BigQuery read it. ``checks``: name, measure (SQL), and the bounds as a condition on
    the measure's column (``on_measures``) or on the month's rows (``on_rows``); ``month_rows``: the
    table and WHERE of the month's rows. ``shared``: every check reads one row, the month's measures
    made in one scan (``materialized``: Postgres's keyword to compute it once); otherwise each check
    scans the month itself, as the provider's own query does (``make bench CASES=quality``). -#}
{%- if shared %}
WITH month_measures AS {{ materialized }}(
    SELECT {% for check in checks %}{{ check.measure }} AS {{ check.name }}{{ ", " if not loop.last }}{% endfor %}
    FROM {{ month_rows }}
)
{%- endif %}
{%- for check in checks %}
SELECT '{{ check.name }}' AS check_name, CASE WHEN {{ check.on_measures if shared else check.on_rows }} THEN 1 ELSE 0 END AS check_result
FROM {{ "month_measures" if shared else month_rows }}
{%- if not loop.last %}
UNION ALL{% endif %}
{%- endfor %}
