--
-- omendb_build_stats: what CREATE INDEX and REINDEX leave behind besides
-- the graph.  The table's row estimate (pg_class.reltuples) counts the
-- rows the build scanned, NULL vectors included; the index's counts the
-- nodes it wrote.  Any maintenance_work_mem, up to the largest, builds in
-- memory as long as the graph fits.  An inner-product index refuses a
-- vector whose norm overflows a float, which would leave it without
-- usable bounds.
--
SET jit = off;

-- 1. 1,000 rows, 700 of them with a NULL vector, never analyzed: the
-- build sets the table's estimate to 1,000 (PostgreSQL 18.6 leaves it
-- at -1, never analyzed) and the index's to 300.
CREATE TABLE omendb_bs (id int, v vector(3));
INSERT INTO omendb_bs
SELECT i, CASE WHEN i % 10 < 7 THEN NULL ELSE ARRAY[i, i % 7, i % 13]::real[]::vector END
FROM generate_series(1, 1000) i;
SELECT reltuples AS never_analyzed FROM pg_class WHERE oid = 'omendb_bs'::regclass;
CREATE INDEX omendb_bs_l2 ON omendb_bs USING omendb (v vector_l2_ops);
SELECT relname, reltuples FROM pg_class
WHERE oid IN ('omendb_bs'::regclass, 'omendb_bs_l2'::regclass) ORDER BY relname;

-- ... and so does REINDEX, after 150 more rows, 50 with a vector.
INSERT INTO omendb_bs
SELECT i, CASE WHEN i % 3 = 0 THEN ARRAY[i, 1, 2]::real[]::vector END
FROM generate_series(1001, 1150) i;
REINDEX INDEX omendb_bs_l2;
SELECT relname, reltuples FROM pg_class
WHERE oid IN ('omendb_bs'::regclass, 'omendb_bs_l2'::regclass) ORDER BY relname;

-- A cosine index holds zero vectors as zero nodes, outside its graph:
-- they count as nodes like any other (360), but not in reachability.
INSERT INTO omendb_bs SELECT i, '[0,0,0]' FROM generate_series(2001, 2010) i;
CREATE INDEX omendb_bs_cos ON omendb_bs USING omendb (v vector_cosine_ops);
SELECT relname, reltuples FROM pg_class
WHERE oid IN ('omendb_bs'::regclass, 'omendb_bs_cos'::regclass) ORDER BY relname;
SELECT nodes, live_nodes, reachable_live_nodes, reachable_fraction
FROM omendb_check('omendb_bs_cos', true);
DROP INDEX omendb_bs_cos;

-- 2. The largest maintenance_work_mem (2147483647 kB) builds the whole
-- graph in memory: no NOTICE of a spill, and a sound index.
SET maintenance_work_mem = 2147483647;
REINDEX INDEX omendb_bs_l2;
CREATE INDEX omendb_bs_ip ON omendb_bs USING omendb (v vector_ip_ops);
RESET maintenance_work_mem;
SELECT nodes, live_nodes, reachable_fraction FROM omendb_check('omendb_bs_l2', true);
SELECT nodes, live_nodes, reachable_fraction FROM omendb_check('omendb_bs_ip', true);
DROP TABLE omendb_bs;

-- 3. The budget covers the whole build, writing included: each node of
-- 3 dimensions at graph_degree 32 takes 187 bytes of graph (code 3,
-- 40 neighbours 160, their count 2, heap TID 6, error, norm and visit
-- mark 12) and 13 of scratch while the graph is written, so 1 MB holds
-- 1048576 / 200 = 5242 nodes; the rest go in after the spill.  The row
-- estimates count each node once, and the NULL rows as table rows.
CREATE TABLE omendb_bs_mem (id int, v vector(3));
INSERT INTO omendb_bs_mem
SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE ARRAY[sin(i), cos(i), sin(i * 0.37)]::real[]::vector END
FROM generate_series(1, 7000) i;
SET maintenance_work_mem = '1MB';
CREATE INDEX omendb_bs_mem_l2 ON omendb_bs_mem USING omendb (v vector_l2_ops);
RESET maintenance_work_mem;
SELECT nodes, live_nodes FROM omendb_check('omendb_bs_mem_l2', true);
SELECT relname, reltuples FROM pg_class
WHERE oid IN ('omendb_bs_mem'::regclass, 'omendb_bs_mem_l2'::regclass) ORDER BY relname;
DROP TABLE omendb_bs_mem;

-- A cosine build that spills holds each zero vector as one zero node,
-- those met before the spill (written after the in-memory graph) and
-- those after (through the insert path) alike; the zero vectors' heap
-- TIDs, held until the graph is written, count against the budget too.
-- Here 8,000 rows, 1,333 of them zero vectors.
CREATE TABLE omendb_bs_zero (id int, v vector(3));
INSERT INTO omendb_bs_zero
SELECT i, CASE WHEN i % 6 = 0 THEN '[0,0,0]' ELSE ARRAY[sin(i), cos(i), sin(i * 0.37)]::real[]::vector END
FROM generate_series(1, 8000) i;
SET maintenance_work_mem = '1MB';
CREATE INDEX omendb_bs_zero_cos ON omendb_bs_zero USING omendb (v vector_cosine_ops);
RESET maintenance_work_mem;
SELECT nodes, live_nodes, reachable_live_nodes <= 6667 AS zero_nodes_unreachable,
	   reachable_fraction > 0.99 AS graph_reachable
FROM omendb_check('omendb_bs_zero_cos', true);
SELECT relname, reltuples FROM pg_class
WHERE oid IN ('omendb_bs_zero'::regclass, 'omendb_bs_zero_cos'::regclass) ORDER BY relname;
SET enable_seqscan = off;
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_rows,
	   count(*) FILTER (WHERE d = 'NaN') AS zero_vectors,
	   bool_and(n > 6667) FILTER (WHERE d = 'NaN') AS zero_vectors_last
FROM (SELECT id, v <=> '[1,0,0]' AS d, row_number() OVER () AS n
	  FROM (SELECT id, v FROM omendb_bs_zero ORDER BY v <=> '[1,0,0]') o) s;
RESET enable_seqscan;
DROP TABLE omendb_bs_zero;

-- 4. Inner product: a norm beyond float range (above about 3.4e38) is
-- refused with 22003 (numeric_value_out_of_range), by an insert into the
-- index and by CREATE INDEX; the other operator classes take the same
-- rows.
CREATE TABLE omendb_bs_norm (id int, v vector(3));
INSERT INTO omendb_bs_norm SELECT i, ARRAY[i, i % 7, -i]::real[] FROM generate_series(1, 100) i;
CREATE INDEX omendb_bs_norm_ip ON omendb_bs_norm USING omendb (v vector_ip_ops);
\set VERBOSITY sqlstate
INSERT INTO omendb_bs_norm VALUES (0, '[3e38,3e38,1]');
DROP INDEX omendb_bs_norm_ip;
INSERT INTO omendb_bs_norm VALUES (0, '[3e38,3e38,1]');
CREATE INDEX omendb_bs_norm_ip ON omendb_bs_norm USING omendb (v vector_ip_ops);
\set VERBOSITY default
CREATE INDEX omendb_bs_norm_ip ON omendb_bs_norm USING omendb (v vector_ip_ops);
CREATE INDEX omendb_bs_norm_l2 ON omendb_bs_norm USING omendb (v vector_l2_ops);
CREATE INDEX omendb_bs_norm_cos ON omendb_bs_norm USING omendb (v vector_cosine_ops);
-- Other metrics have no M: such a row leaves their meta page valid, and
-- they answer and pass the check.
SET enable_seqscan = off;
SELECT array_agg(id) AS nearest_l2 FROM (SELECT id FROM omendb_bs_norm ORDER BY v <-> '[1,1,1]' LIMIT 3) s;
SELECT id AS nearest_cos FROM omendb_bs_norm ORDER BY v <=> '[1,1,1]' LIMIT 1;
RESET enable_seqscan;
SELECT live_nodes, reachable_fraction FROM omendb_check('omendb_bs_norm_l2', true);
SELECT live_nodes, reachable_fraction FROM omendb_check('omendb_bs_norm_cos', true);
DROP INDEX omendb_bs_norm_l2, omendb_bs_norm_cos;
DELETE FROM omendb_bs_norm WHERE id = 0;
CREATE INDEX omendb_bs_norm_ip ON omendb_bs_norm USING omendb (v vector_ip_ops);

-- A norm whose square overflows a float, but not the norm itself, is
-- indexed, up to the largest float: the index passes the check and
-- answers as a sequential scan does.
CREATE FUNCTION pg_temp.ip_top5(q vector) RETURNS TABLE (index_scan int[], seq_scan int[])
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	index_scan := ARRAY(SELECT id FROM omendb_bs_norm ORDER BY v <#> q LIMIT 5);
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	seq_scan := ARRAY(SELECT id FROM omendb_bs_norm ORDER BY v <#> q LIMIT 5);
	PERFORM set_config('enable_indexscan', 'on', true);
	RETURN NEXT;
END
$$;
DELETE FROM omendb_bs_norm WHERE id = 0;
INSERT INTO omendb_bs_norm VALUES (0, '[2e19,1,1]');
REINDEX INDEX omendb_bs_norm_ip;
SELECT nodes, live_nodes, reachable_fraction FROM omendb_check('omendb_bs_norm_ip', true);
SELECT * FROM pg_temp.ip_top5('[1,1,0]');
SELECT * FROM pg_temp.ip_top5('[-1,0,0]');
UPDATE omendb_bs_norm SET v = '[3.4e38,0,0]' WHERE id = 0;
REINDEX INDEX omendb_bs_norm_ip;
SELECT nodes, live_nodes, reachable_fraction FROM omendb_check('omendb_bs_norm_ip', true);
SELECT * FROM pg_temp.ip_top5('[1,1,0]');
SELECT * FROM pg_temp.ip_top5('[-1,0,0]');
DROP TABLE omendb_bs_norm;
