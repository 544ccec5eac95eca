{#- The audit rows of the window's months, every type's (the "Taxi loads" page and /metrics;
    monitor/sources.py). The same SQL for both targets: ``table``, the bind parameters' style
    (``param``) and the JSON-as-text function (``json_text``) are the target's (sources.AUDIT_TARGETS). -#}
SELECT taxi, month, dag_id, run_id, rows_in_file, inserted_rows, seconds, finished_at,
       {{ json_text }}(quality) AS quality
FROM {{ table }}
WHERE month BETWEEN {{ param("first") }} AND {{ param("last") }}
ORDER BY finished_at
