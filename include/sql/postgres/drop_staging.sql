{%- set run = ti.xcom_pull(task_ids="resolve_month") -%}
DROP TABLE IF EXISTS {{ run.staging_table }};
