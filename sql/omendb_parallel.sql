--
-- omendb_parallel: CREATE INDEX with parallel workers.  The table's
-- parallel_workers, max_parallel_maintenance_workers and enough
-- maintenance_work_mem (32 MB a participant) make even a small table get
-- two workers; the leader takes part.  The graph they build together must
-- be as sound and as good as a serial build's: every row indexed once with
-- its code (heapallindexed), every graph node reachable, nearly every row
-- its own nearest neighbour through the index, and recall against the
-- exact answer level with a serial build of the same table.  TAP
-- 037_parallel_build.pl checks that the workers do take part.
--
-- Which worker places which node varies from run to run, so results that
-- depend on the graph are never printed; only whether they meet their
-- bounds.
--
SET jit = off;

-- gen(s): a vector of 24 dimensions in one of 6 clusters, with noise (a
-- hash of s and the dimension), so that no two rows are equal.
CREATE FUNCTION pg_temp.gen(s int) RETURNS vector LANGUAGE sql AS $$
	SELECT array_agg(((s % 6) - 2.5) * cos(j * (s % 6))
					 + 0.5 * sin(s * 0.37 + j * 1.1)
					 + ((abs(sin(s * 12.9898 + j * 78.233)) * 43758.5453)::numeric % 1 - 0.5))::real[]::vector
	FROM generate_series(1, 24) j
$$;

-- 6,000 rows, every 100th vector NULL, every 250th a zero vector; a
-- filter column c; 20 queries that are not rows.
CREATE TABLE omendb_par (id int PRIMARY KEY, c int, v vector(24))
	WITH (parallel_workers = 2);
INSERT INTO omendb_par
SELECT i, i % 4,
	   CASE WHEN i % 100 = 0 THEN NULL
			WHEN i % 250 = 0 THEN array_fill(0, ARRAY[24])::real[]::vector
			ELSE pg_temp.gen(i) END
FROM generate_series(1, 6000) i;
CREATE TABLE omendb_parq (qid int PRIMARY KEY, v vector(24));
INSERT INTO omendb_parq SELECT q, pg_temp.gen(100000 + q) FROM generate_series(1, 20) q;

-- recall(op): the mean share of each query's exact top 10 (index scans
-- off) that its index top 10 (sequential scans off) holds.
CREATE FUNCTION pg_temp.recall(op text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
	top10 text := format('SELECT q.qid, ARRAY(SELECT id FROM omendb_par t WHERE t.v IS NOT NULL ORDER BY t.v %s q.v LIMIT 10) AS ids FROM omendb_parq q', op);
	r numeric;
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	EXECUTE 'CREATE TEMP TABLE omendb_got AS ' || top10;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	EXECUTE 'CREATE TEMP TABLE omendb_want AS ' || top10;
	PERFORM set_config('enable_indexscan', 'on', true);
	SELECT avg((SELECT count(*) FROM unnest(g.ids) x WHERE x = ANY (w.ids))) / 10
	INTO r FROM omendb_got g JOIN omendb_want w USING (qid);
	DROP TABLE omendb_got, omendb_want;
	RETURN r;
END
$$;

-- self_matches(op): how many rows with a nonzero vector find themselves
-- first through the index.
CREATE FUNCTION pg_temp.self_matches(op text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	r bigint;
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	EXECUTE format('SELECT count(*) FROM omendb_par t WHERE t.v IS NOT NULL AND t.id %% 250 <> 0 '
				   'AND (SELECT u.id FROM omendb_par u ORDER BY u.v %s t.v LIMIT 1) = t.id', op)
	INTO r;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_bitmapscan', 'on', true);
	RETURN r;
END
$$;

-- 1. A serial build first, for comparison.
SET max_parallel_maintenance_workers = 0;
CREATE INDEX omendb_par_l2 ON omendb_par USING omendb (v vector_l2_ops);
CREATE TEMP TABLE serial AS SELECT pg_temp.recall('<->') AS l2;
DROP INDEX omendb_par_l2;

-- 2. The same index with two workers: sound, every node reachable, nearly
-- all of the 5,928 nonzero rows their own nearest neighbours, and recall
-- within 0.02 of the serial build's.  Which worker places which node
-- varies: six builds on PostgreSQL 15 found all 5,928, one on PostgreSQL
-- 18 with other tests running beside it 5,925.
SET max_parallel_maintenance_workers = 2;
SET min_parallel_table_scan_size = 0;
SET maintenance_work_mem = '128MB';
CREATE INDEX omendb_par_l2 ON omendb_par USING omendb (v vector_l2_ops);
SELECT nodes, live_nodes, deleted_nodes, reachable_live_nodes = live_nodes AS reachable
FROM omendb_check('omendb_par_l2', true);
SELECT reltuples AS index_tuples FROM pg_class WHERE oid = 'omendb_par_l2'::regclass;
SELECT pg_temp.self_matches('<->') >= 5920 AS self_matches_at_least_5920;
SELECT pg_temp.recall('<->') >= l2 - 0.02 AS level_with_serial,
	   pg_temp.recall('<->') >= 0.95 AS recall_at_least_095
FROM serial;

-- 3. Cosine, with the zero vectors as zero nodes outside the graph (every
-- other node reachable) and a filter column; the filter column's labels
-- come from whichever participant placed the node.  Directions within a
-- cluster lie close together: at the default search list serial builds
-- (the table in heap order or shuffled) find 5,926 to 5,928 rows
-- themselves, parallel builds mostly 5,920 to 5,928, and now and then
-- fewer than 5,900 on a machine loaded with other work; at a longer
-- list serial builds find all of them, parallel builds all or all but
-- one.
CREATE INDEX omendb_par_cos ON omendb_par USING omendb (v vector_cosine_ops, c);
SELECT nodes, live_nodes, nodes - reachable_live_nodes AS zero_nodes
FROM omendb_check('omendb_par_cos', true);
SELECT pg_temp.self_matches('<=>') >= 5800 AS self_matches_at_least_5800;
SET omendb.search_list_size = 200;
SELECT pg_temp.self_matches('<=>') >= 5920 AS self_matches_at_list_200_at_least_5920;
RESET omendb.search_list_size;
SET enable_seqscan = off;
\i sql/include/index_ordered.sql
-- gen() is volatile, so its value comes from an InitPlan: as an ORDER BY
-- argument it would leave the index out
SELECT pg_temp.index_ordered('SELECT c FROM omendb_par WHERE c = 1 ORDER BY v <=> (SELECT pg_temp.gen(7)) LIMIT 50')
	AS filter_query_by_index;
SELECT bool_and(c = 1) AS filter_holds, count(*) AS n
FROM (SELECT c FROM omendb_par WHERE c = 1 ORDER BY v <=> (SELECT pg_temp.gen(7)) LIMIT 50) s;
RESET enable_seqscan;
DROP INDEX omendb_par_cos;

-- 4. Inner product, built concurrently (the workers scan with the
-- build's MVCC snapshot), then rebuilt by REINDEX.
CREATE INDEX CONCURRENTLY omendb_par_ip ON omendb_par USING omendb (v vector_ip_ops);
SELECT nodes, live_nodes, reachable_live_nodes = live_nodes AS reachable
FROM omendb_check('omendb_par_ip', true);
REINDEX INDEX omendb_par_ip;
SELECT nodes, live_nodes, reachable_live_nodes = live_nodes AS reachable
FROM omendb_check('omendb_par_ip', true);
DROP INDEX omendb_par_ip;

-- 4b. Stored vectors: each participant copies the values of the rows it
-- places into the shared graph; the heap check compares every stored
-- value with its row's, and a zero vector's node holds +0.
CREATE INDEX omendb_par_sv ON omendb_par USING omendb (v vector_cosine_ops)
	WITH (store_vectors = on);
SELECT nodes, live_nodes FROM omendb_check('omendb_par_sv', true);
DROP INDEX omendb_par_sv;

-- 5. The parallel index takes inserts and deletes like any other.
INSERT INTO omendb_par SELECT i, i % 4, pg_temp.gen(i) FROM generate_series(6001, 6500) i;
DELETE FROM omendb_par WHERE id % 7 = 0;
VACUUM omendb_par;
SELECT nodes, live_nodes, reachable_live_nodes = live_nodes AS reachable
FROM omendb_check('omendb_par_l2', true);
SELECT pg_temp.recall('<->') >= 0.95 AS recall_at_least_095;

RESET max_parallel_maintenance_workers;
RESET min_parallel_table_scan_size;
RESET maintenance_work_mem;
DROP TABLE omendb_par, omendb_parq;
