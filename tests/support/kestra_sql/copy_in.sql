{#- The course's {taxi}_copy_in_to_staging_table (Kestra CopyIn, format CSV, header: true -- the
    header is consumed by the stream reader here, as for every path of the benchmark). -#}
COPY {{ staging }} ({{ taxi.dtc_columns | join(",") }}) FROM STDIN WITH (FORMAT csv)
