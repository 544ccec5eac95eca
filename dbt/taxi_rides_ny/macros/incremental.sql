{#- Incremental marts, keyed by the monthly file (`filename`).

    A build after a month lands rebuilds only that file's slice: the files to rebuild are the var
    `filenames` (comma-separated; the dbt DAG passes the files its triggering Asset events name),
    or, when it is unset (`make dbt`, a manual run), every file whose latest load that inserted
    rows finished after the newest load this model holds (the audit table; `source_loaded_at`
    is indexed, so finding that is not a scan). -#}

{#- The var `filenames` as a list (each one checked to be a monthly filename), or none when unset. -#}
{% macro given_filenames() %}
    {%- set given = var('filenames') -%}
    {%- if given is none -%}{{ return(none) }}{%- endif -%}
    {%- set names = [] -%}
    {%- for name in (given | string).split(',') | map('trim') | reject('equalto', '') -%}
        {%- if not modules.re.fullmatch('[a-z]+_tripdata_[0-9]{4}-[0-9]{2}\.csv', name) -%}
            {{ exceptions.raise_compiler_error("var filenames: " ~ name ~ " is not a monthly filename like green_tripdata_2021-01.csv") }}
        {%- endif -%}
        {%- do names.append(name) -%}
    {%- endfor -%}
    {{ return(names) }}
{% endmacro %}

{% macro filenames_to_rebuild(taxis) %}
    {%- set given = given_filenames() -%}
    {%- if given is not none -%}
        {%- set names = [] -%}
        {%- for name in given if name.split('_')[0] in taxis -%}{%- do names.append(name) -%}{%- endfor -%}
        {{ return(names) }}
    {%- endif -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set query -%}
        select filename from {{ source('audit', 'loads') }}
        where inserted_rows > 0 and taxi in ('{{ taxis | join("', '") }}')
        group by filename
        having max(finished_at) > (select coalesce(max(source_loaded_at), cast('1970-01-01' as {{ dbt.type_timestamp() }})) from {{ this }})
        order by filename
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{% endmacro %}

{#- The WHERE of an incremental model's new rows: every row on a full build, else the rebuilt files'. -#}
{% macro rebuilt_files(taxis) %}
    {%- if is_incremental() -%}
        {%- set names = filenames_to_rebuild(taxis) -%}
        {%- do log(this.identifier ~ ": rebuilding " ~ (names | length) ~ " file(s)" ~ (": " ~ names | join(", ") if names else ""), info=True) -%}
        {{ filename_in(names) }}
    {%- else -%}
        1 = 1
    {%- endif -%}
{% endmacro %}

{% macro filename_in(names) -%}
    {%- if names -%} filename in ('{{ names | join("', '") }}') {%- else -%} 1 = 0 {%- endif -%}
{%- endmacro %}

{#- The strategy `replace_files`: delete the target's rows of the files the new rows are of, insert
    the new rows. The delete names the files as literals, so Postgres reads them through the
    target's filename index instead of scanning it. -#}
{% macro get_incremental_replace_files_sql(arg_dict) %}
    {%- set target, source = arg_dict['target_relation'], arg_dict['temp_relation'] -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    {%- set files = run_query('select distinct filename from ' ~ source).columns[0].values() | list -%}
    delete from {{ target }} where {{ filename_in(files) }};
    insert into {{ target }} ({{ columns }}) select {{ columns }} from {{ source }}
{% endmacro %}

{#- Tests configured `where: rebuilt_files` look at the files this run rebuilt (the var
    `filenames`) and at every row when it is unset: a month's build does not re-test the table. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where == 'rebuilt_files' -%}
        {%- set given = given_filenames() -%}
        {%- set where = filename_in(given) if given is not none else none -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return("(select * from " ~ relation ~ " where " ~ where ~ ") dbt_subquery") -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
