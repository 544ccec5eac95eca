{#- No two rows share these columns' values (dbt core's `unique` takes one column). -#}
{% test unique_together(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows_sharing
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
