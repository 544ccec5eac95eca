{#- Readable codes: the data dictionaries' values are vars in dbt_project.yml (payment_types,
    rate_codes), which the accepted_values tests read too. -#}

{% macro code_description(codes_var, code) -%}
    case {{ code }}
    {%- for value, text in var(codes_var).items() %}
        when {{ value }} then '{{ text }}'
    {%- endfor %}
        else {{ "'Unknown'" }}
    end
{%- endmacro %}

{#- A code the raw tables keep as text ('1', '1.0', blank) as an integer. -#}
{% macro to_integer(column) -%}
    cast(cast(nullif(trim(cast({{ column }} as {{ dbt.type_string() }})), '') as {{ dbt.type_numeric() }}) as {{ dbt.type_int() }})
{%- endmacro %}
