"""Extract: where a month's file is and how to read it, checked against the taxi spec.

* ``releases.py``: the sources (dtc, tlc, a mirror) and their layouts: a month's URL, what is published.
* ``fetch.py``: a file's raw bytes over HTTP(S) or from disk, with progress and sha256.
* ``csv_gz.py``: a csv.gz as CSV bytes for COPY, or as checked gzip bytes for GCS.
* ``parquet.py``: a TLC parquet file as the same CSV stream.
* ``columns.py``: a file's header matched to the spec.
* ``published.py``: the sensor that waits for a month to be published.
* ``errors.py``: the failures, by whether a retry helps.
"""
