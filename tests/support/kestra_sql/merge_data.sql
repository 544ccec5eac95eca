{#- The course's {taxi}_merge_data, verbatim (the main table has no index). -#}
MERGE INTO {{ table }} AS T
USING {{ staging }} AS S
ON T.unique_row_id = S.unique_row_id
WHEN NOT MATCHED THEN
  INSERT (
    unique_row_id, filename, {{ taxi.dtc_columns | join(", ") }}
  )
  VALUES (
    S.unique_row_id, S.filename, {% for name in taxi.dtc_columns %}S.{{ name }}{{ ", " if not loop.last }}{% endfor %}
  );
