"""`make bench`: the Postgres load path measured against the course's Kestra SQL and a plain COPY.

Run it with ``make bench`` (see run.py for the knobs); it writes RESULTS.md and results.png here.
"""
