"""Shared code of the NYC TLC taxi DAG bundle: specs, month resolution, extract, load and the DAG factory.

Airflow puts ``plugins/`` on ``sys.path``, so DAG files import this package as ``taxi_pipeline``.
Modules keep heavy imports (requests, psycopg2, google clients) inside functions so that parsing
the DAG files stays cheap.
"""
