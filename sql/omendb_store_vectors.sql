--
-- omendb_store_vectors: nodes that carry their rows' vectors
-- (WITH (store_vectors = on)).  Scans then compute exact distances
-- themselves, with the ORDER BY operator's own function, and return rows
-- in exact order with nothing for the executor to recheck.  Scans here
-- search exhaustively (a list as long as the index) where they compare
-- with a sequential scan, so that any row out of order shows.
--
SET jit = off;

\i sql/include/same_as_exact_nearest.sql
\i sql/include/exact_everywhere.sql

-- rechecked(query): how many rows the executor rechecked running it by the
-- index (omendb_scan_stats).
CREATE FUNCTION pg_temp.rechecked(query text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM omendb_scan_stats_reset();
	PERFORM set_config('enable_seqscan', 'off', true);
	EXECUTE format('SELECT count(*) FROM (%s) s', query);
	PERFORM set_config('enable_seqscan', 'on', true);
	SELECT rows_rechecked INTO n FROM omendb_scan_stats() WHERE scope = 'backend';
	RETURN n;
END
$$;

SELECT setseed(0.42);

-- L2, with duplicate vectors (ties) and NULLs
CREATE TABLE sv_l2 (id int, v vector(16));
INSERT INTO sv_l2 SELECT i, (SELECT array_agg(round((random() * 8)::numeric, 0)::real)
	FROM generate_series(1, 16) WHERE i > 0)::vector FROM generate_series(1, 1500) i;
INSERT INTO sv_l2 VALUES (1501, NULL), (1502, NULL);
CREATE INDEX sv_l2_idx ON sv_l2 USING omendb (v vector_l2_ops) WITH (store_vectors = on);
SELECT quantizer, bits, store_vectors FROM omendb_index_stats('sv_l2_idx');
SET omendb.search_list_size = 2000;
SELECT pg_temp.exact_everywhere('sv_l2', '<->', 40) AS l2_exact;
SELECT pg_temp.exact_everywhere('sv_l2', '<->', 1500) AS l2_exact_every_row;
-- every row comes out with its exact distance: nothing is rechecked
SELECT pg_temp.rechecked('SELECT id FROM sv_l2 ORDER BY v <-> (SELECT v FROM sv_l2 WHERE id = 5) LIMIT 20') AS rechecked;
-- (an index without values has the executor recheck its rows)
CREATE TABLE sv_plain AS SELECT * FROM sv_l2;
CREATE INDEX sv_plain_idx ON sv_plain USING omendb (v vector_l2_ops);
SELECT quantizer, bits, store_vectors FROM omendb_index_stats('sv_plain_idx');
SELECT pg_temp.rechecked('SELECT id FROM sv_plain ORDER BY v <-> (SELECT v FROM sv_plain WHERE id = 5) LIMIT 20') >= 20 AS plain_rechecked;
DROP TABLE sv_plain;
-- the distances the executor sees are the operator's
SET enable_seqscan = off;
SELECT bool_and(d = v <-> q) AS same_distances FROM (
	SELECT v, v <-> (SELECT v FROM sv_l2 WHERE id = 5) d, (SELECT v FROM sv_l2 WHERE id = 5) q
	FROM sv_l2 ORDER BY v <-> (SELECT v FROM sv_l2 WHERE id = 5) LIMIT 50) s;
RESET enable_seqscan;
RESET omendb.search_list_size;

-- radius queries: the stored values decide the ball condition, with and
-- without ORDER BY, and for a ball around another vector
-- same_rows(query): whether query returns some rows, and the same set of
-- ids by the index as by a sequential scan.  Raises an error unless the
-- index answers it.
CREATE FUNCTION pg_temp.same_rows(query text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	plan text := '';
	line text;
	got int[];
	want int[];
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		plan := plan || line || E'\n';
	END LOOP;
	IF plan !~ 'Index Scan using|Bitmap Index Scan on' THEN
		RAISE EXCEPTION 'not an index scan: %', plan;
	END IF;
	EXECUTE format('SELECT array_agg(id ORDER BY id) FROM (%s) s', query) INTO got;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	EXECUTE format('SELECT array_agg(id ORDER BY id) FROM (%s) s', query) INTO want;
	PERFORM set_config('enable_indexscan', 'on', true);
	PERFORM set_config('enable_bitmapscan', 'on', true);
	RETURN cardinality(got) > 0 AND got = want;
END
$$;
SELECT pg_temp.same_rows('SELECT id FROM sv_l2 WHERE v <-> (SELECT v FROM sv_l2 WHERE id = 9) < 8') AS radius,
	pg_temp.same_rows('SELECT id FROM sv_l2 WHERE v <-> (SELECT v FROM sv_l2 WHERE id = 9) <= 8
		ORDER BY v <-> (SELECT v FROM sv_l2 WHERE id = 9)') AS radius_ordered,
	pg_temp.same_as_exact('sv_l2', '<->', 'SELECT v FROM sv_l2 WHERE id = 9', NULL,
		'v <-> (SELECT v FROM sv_l2 WHERE id = 9) < 9') AS radius_in_order,
	pg_temp.same_rows('SELECT id FROM sv_l2 WHERE v <-> (SELECT v FROM sv_l2 WHERE id = 9) < 13
		AND v <-> (SELECT v FROM sv_l2 WHERE id = 10) < 13
		ORDER BY v <-> (SELECT v FROM sv_l2 WHERE id = 9)') AS two_balls;

-- churn: inserts take the values too, VACUUM frees them with their slots
-- (and moves the last pages' nodes, values and all, into them and cuts off
-- the pages it empties)
INSERT INTO sv_l2 SELECT i, (SELECT array_agg((random() * 8)::real)
	FROM generate_series(1, 16) WHERE i > 0)::vector FROM generate_series(1503, 2500) i;
DELETE FROM sv_l2 WHERE id % 4 = 0;
CREATE TEMP TABLE sv_before AS SELECT nodes FROM omendb_check('sv_l2_idx');
VACUUM sv_l2;
SELECT c.nodes < b.nodes OR c.free_nodes > 0 AS reclaimed
	FROM omendb_check('sv_l2_idx', true) c, sv_before b;
INSERT INTO sv_l2 SELECT i, (SELECT array_agg((random() * 8)::real)
	FROM generate_series(1, 16) WHERE i > 0)::vector FROM generate_series(2501, 2800) i;
SELECT live_nodes FROM omendb_check('sv_l2_idx', true);
SET omendb.search_list_size = 3000;
SELECT pg_temp.exact_everywhere('sv_l2', '<->', 60) AS l2_exact_after_churn;
RESET omendb.search_list_size;

-- cosine, with zero vectors (distance NaN: they come last) and inner product
CREATE TABLE sv_cos (id int, v vector(24));
INSERT INTO sv_cos SELECT i, (SELECT array_agg((random() - 0.5)::real)
	FROM generate_series(1, 24) WHERE i > 0)::vector FROM generate_series(1, 1200) i;
UPDATE sv_cos SET v = array_fill(0, ARRAY[24])::vector WHERE id % 100 = 0;
UPDATE sv_cos SET v = array_fill('-0'::real, ARRAY[24])::vector WHERE id = 150;
CREATE INDEX sv_cos_idx ON sv_cos USING omendb (v vector_cosine_ops) WITH (store_vectors = on);
CREATE INDEX sv_ip_idx ON sv_cos USING omendb (v vector_ip_ops) WITH (store_vectors = on);
CREATE INDEX sv_l1_idx ON sv_cos USING omendb (v vector_l1_ops) WITH (store_vectors = on);
SELECT count(*) AS checked FROM omendb_check('sv_cos_idx', true);
SET omendb.search_list_size = 2000;
SELECT pg_temp.exact_everywhere('sv_cos', '<=>', 30) AS cosine_exact;
SELECT pg_temp.exact_everywhere('sv_cos', '<=>', 1200) AS cosine_exact_zero_vectors_last;
SELECT pg_temp.exact_everywhere('sv_cos', '<#>', 30) AS ip_exact;
SELECT pg_temp.exact_everywhere('sv_cos', '<+>', 30) AS l1_exact;
RESET omendb.search_list_size;

-- halfvec keeps halves, and a filter column works alongside
CREATE TABLE sv_half (id int, cat int, v halfvec(20));
INSERT INTO sv_half SELECT i, i % 7, (SELECT array_agg(random()::real)
	FROM generate_series(1, 20) WHERE i > 0)::halfvec FROM generate_series(1, 1000) i;
CREATE INDEX sv_half_idx ON sv_half USING omendb (v halfvec_l2_ops, cat) WITH (store_vectors = on);
SELECT count(*) AS checked FROM omendb_check('sv_half_idx', true);
SET omendb.search_list_size = 2000;
SELECT pg_temp.exact_everywhere('sv_half', '<->', 30) AS halfvec_exact;
SELECT pg_temp.same_as_exact('sv_half', '<->', 'SELECT v FROM sv_half WHERE id = 9', 25, 'cat = 3') AS filtered_exact;
RESET omendb.search_list_size;

-- built empty: the first row sets the value size, and the check compares
CREATE TABLE sv_empty (id int, v vector(12));
CREATE INDEX sv_empty_idx ON sv_empty USING omendb (v) WITH (store_vectors = on, quantizer = 'rabitq');
-- omendb_index_stats: no node layout until the first row sets it
SELECT quantizer, bits, store_vectors, node_bytes FROM omendb_index_stats('sv_empty_idx');
INSERT INTO sv_empty SELECT i, (SELECT array_agg(random()::real)
	FROM generate_series(1, 12) WHERE i > 0)::vector FROM generate_series(1, 800) i;
SELECT count(*) AS checked FROM omendb_check('sv_empty_idx', true);
SELECT quantizer, bits, store_vectors, node_bytes > 12 * 4 AS node_holds_value
	FROM omendb_index_stats('sv_empty_idx');
-- (certain bounds, which a RaBitQ index takes only when asked: with its
-- default likely ones a row whose error exceeds them is held back)
SET omendb.search_list_size = 1000;
SET omendb.exact_order = on;
SELECT pg_temp.exact_everywhere('sv_empty', '<->', 30) AS empty_build_exact;
RESET omendb.exact_order;
RESET omendb.search_list_size;

-- a refit re-encodes the codes in place and leaves the values: an SQ8
-- index built empty on a first row a thousandth of the rows' scale
CREATE TABLE sv_refit (id int, v vector(16)) WITH (autovacuum_enabled = off);
CREATE INDEX sv_refit_idx ON sv_refit USING omendb (v) WITH (store_vectors = on);
INSERT INTO sv_refit
	SELECT 0, array_agg(0.1 * sin(i) ORDER BY i)::vector FROM generate_series(1, 16) i;
INSERT INTO sv_refit
	SELECT g, array_agg((hashint4(g * 16 + i) & 65535) / 655.36 ORDER BY i)::vector
	FROM generate_series(1, 2000) g, generate_series(1, 16) i GROUP BY g;
SELECT clamped_nodes > 1900 AS mostly_clamped FROM omendb_check('sv_refit_idx', true);
VACUUM sv_refit;
SELECT live_nodes, clamped_nodes FROM omendb_check('sv_refit_idx', true);
SET omendb.search_list_size = 3000;
SELECT pg_temp.exact_everywhere('sv_refit', '<->', 30) AS refitted_exact;
RESET omendb.search_list_size;

-- vectors too long to be TOAST-free: 1536 dimensions, stored in the node
CREATE TABLE sv_wide (id int, v vector(1536));
INSERT INTO sv_wide SELECT i, (SELECT array_agg(random()::real)
	FROM generate_series(1, 1536) WHERE i > 0)::vector FROM generate_series(1, 300) i;
CREATE INDEX sv_wide_idx ON sv_wide USING omendb (v vector_cosine_ops) WITH (store_vectors = on);
SELECT count(*) AS checked FROM omendb_check('sv_wide_idx', true);
SET omendb.search_list_size = 400;
SELECT pg_temp.exact_everywhere('sv_wide', '<=>', 20) AS wide_exact;
RESET omendb.search_list_size;

-- a node with its vector must fit a page: past that, a clear error
CREATE TABLE sv_huge (id int, v vector(2000));
\set VERBOSITY default
CREATE INDEX ON sv_huge USING omendb (v) WITH (store_vectors = on);
\set VERBOSITY terse
-- (other options leave the quantizer to its default: RaBitQ where SQ8's
-- node would not fit)
CREATE TABLE sv_16k (id int, v vector(16000));
CREATE INDEX sv_16k_idx ON sv_16k USING omendb (v) WITH (graph_degree = 16);
DROP TABLE sv_l2, sv_cos, sv_half, sv_empty, sv_refit, sv_wide, sv_huge, sv_16k;
