{#- What each of the month's checks measured (quality.py), one column per check, in ``checks``'s order. -#}
SELECT {% for check in checks %}{{ check.measure }}{{ ", " if not loop.last }}{% endfor %}
FROM {{ month_rows }}
