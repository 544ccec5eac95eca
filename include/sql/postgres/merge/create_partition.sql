{#- An empty partition for the month, to INSERT into (CREATE TABLE ... PARTITION OF would lock out
    readers; ATTACH does not, and it builds the strays index on the empty table). -#}
CREATE TABLE {{ partition }} (LIKE public.{{ taxi.table }}, CHECK (filename IS NOT NULL AND filename = {{ filename | literal }}));
ALTER TABLE public.{{ taxi.table }} ATTACH PARTITION {{ partition }} FOR VALUES IN ({{ filename | literal }});
