{#- The hash-merge into the partitioned main table: the course's MERGE (WHEN NOT MATCHED THEN
    INSERT: rows whose id is present are skipped, in-file duplicates are all inserted), with the
    target restricted to the pickup-date partitions this month's rows touch (``dates``, found by
    find_partitions), passed as constants so BigQuery prunes -- and bills -- only those partitions
    instead of scanning the whole table every month. A row with the same id has the same pickup,
    hence the same partition, so the restriction cannot miss a match. ``present``: the file's
    columns (the monthly table's, by name in any case: BigQuery's names are case-insensitive, so
    ``Airport_fee`` is ``airport_fee``), cast to the main table's types (a parquet file keeps the
    TLC's: VendorID INT64 becomes the STRING '1' a csv.gz month has); the spec's others are NULL. -#}
{%- import "bigquery/_macros.sql" as m -%}
MERGE INTO {{ taxi.table }} AS T
USING (
    SELECT
        {{ m.unique_row_id(taxi, "S.") }} AS unique_row_id,
        "{{ filename }}" AS filename,
        {%- for column in taxi.columns %}
        CAST({{ "S." ~ column.name if column.name in present else "NULL" }} AS {{ column.bigquery_type }}) AS {{ column.name }}{{ "," if not loop.last }}
        {%- endfor %}
    FROM {{ monthly_table }} AS S
) AS S
ON T.unique_row_id = S.unique_row_id
    AND (DATE(T.{{ taxi.pickup_column }}) IN UNNEST(ARRAY<DATE>[
        {%- for day in dates %}DATE "{{ day }}"{{ ", " if not loop.last }}{% endfor -%}
    ]){% if null_pickups %} OR T.{{ taxi.pickup_column }} IS NULL{% endif %})
WHEN NOT MATCHED THEN
    INSERT (unique_row_id, filename, {{ m.column_list(taxi) }})
    VALUES (S.unique_row_id, S.filename, {{ m.column_list(taxi, "S.") }})
