"""The Postgres target: ``steps`` (what each task does), ``load`` (COPY into staging), ``merge``
(the hash-merge), ``tasks`` (the steps wired into a DAG)."""
