--
-- omendb_rabitq: the rotation quantizer (quantizer = 'rabitq', bits 1 to 8).
-- Codes are approximate, but every node keeps a rigorous bound on its
-- error, so index scans return rows in the exact order of the operator.
-- Scans here search exhaustively (a list as long as the index), which
-- returns every row in exact order whatever the graph's shape, so that a
-- bound that does not hold shows as a wrong order; recall at the default
-- list is checked against a floor, never printed.  Section 8 checks the
-- probable bounds of omendb.exact_order = off, RaBitQ's and SQ8's, and
-- that its default, auto, means off for RaBitQ and on for SQ8; the
-- sections before it ask for the rigorous bounds.
--
SET jit = off;
SET omendb.exact_order = on;

\i sql/include/same_as_exact_nearest.sql
\i sql/include/exact_everywhere.sql

-- self_found(tab, op): the share of rows (of up to 200) that find
-- themselves first at the default search list.
CREATE FUNCTION pg_temp.self_found(tab text, op text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	hits int := 0;
	total int := 0;
	got int;
	r record;
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('omendb.search_list_size', '0', true);
	FOR r IN EXECUTE format('SELECT id FROM %I ORDER BY id LIMIT 200', tab) LOOP
		EXECUTE format('SELECT id FROM %I ORDER BY v %s (SELECT v FROM %I WHERE id = %s) LIMIT 1',
					   tab, op, tab, r.id) INTO got;
		total := total + 1;
		IF got = r.id THEN
			hits := hits + 1;
		END IF;
	END LOOP;
	RETURN hits::float8 / total;
END
$$;

-- fill(tab, n, d): n pseudo-random rows of d dimensions, in 13 clusters.
CREATE FUNCTION pg_temp.fill(tab text, n int, d int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format($f$
		INSERT INTO %I
		SELECT g, array_agg(((hashint4(g * 7 + i) & 1023) / 1024.0 +
							 (hashint4(g %% 13 + i * 31) & 7)) ORDER BY i)::vector
		FROM generate_series(1, %s) g, generate_series(1, %s) i GROUP BY g$f$,
		tab, n, d);
END
$$;

-- 1. Options.  rabitq takes bits 1 to 8 (0: its default, 1); sq8 takes
-- none.  L1 needs per-dimension cells, which a rotation mixes.
CREATE TABLE rq_opt (id int, v vector(8));
CREATE INDEX ON rq_opt USING omendb (v) WITH (quantizer = 'rabitq', bits = 9);
CREATE INDEX ON rq_opt USING omendb (v) WITH (bits = 4);
CREATE INDEX ON rq_opt USING omendb (v) WITH (quantizer = 'sq8', bits = 1);
CREATE INDEX ON rq_opt USING omendb (v vector_l1_ops) WITH (quantizer = 'rabitq');
CREATE INDEX rq_opt_idx ON rq_opt USING omendb (v) WITH (quantizer = 'rabitq', bits = 3);
SELECT quantizer, bits, code_bytes, quantizer_trained, store_vectors FROM omendb_index_stats('rq_opt_idx');
ALTER INDEX rq_opt_idx SET (bits = 5, quantizer = 'sq8');
ALTER INDEX rq_opt_idx SET (bits = 5);
DROP TABLE rq_opt;

-- 2. Exact order under every metric RaBitQ supports, at dimensions 1, 7
-- and 64, with 1, 2, 4 and 8 bits.
CREATE TABLE rq1 (id int, v vector(1));
INSERT INTO rq1 SELECT g, ARRAY[(hashint4(g) & 1023) / 64.0 - 8]::vector
	FROM generate_series(1, 400) g;
CREATE TABLE rq7 (id int, v vector(7));
SELECT pg_temp.fill('rq7', 800, 7);
CREATE TABLE rq64 (id int, v vector(64));
SELECT pg_temp.fill('rq64', 1500, 64);

SET omendb.search_list_size = 10000;
CREATE INDEX rq1_l2 ON rq1 USING omendb (v vector_l2_ops) WITH (quantizer = 'rabitq');
CREATE INDEX rq7_l2 ON rq7 USING omendb (v vector_l2_ops) WITH (quantizer = 'rabitq', bits = 2);
CREATE INDEX rq64_l2 ON rq64 USING omendb (v vector_l2_ops) WITH (quantizer = 'rabitq');
SELECT pg_temp.exact_everywhere('rq1', '<->', 30) AS l2_1,
	   pg_temp.exact_everywhere('rq7', '<->', 30) AS l2_7,
	   pg_temp.exact_everywhere('rq64', '<->', 30) AS l2_64;
DROP INDEX rq1_l2, rq7_l2, rq64_l2;

CREATE INDEX rq1_cos ON rq1 USING omendb (v vector_cosine_ops) WITH (quantizer = 'rabitq', bits = 4);
CREATE INDEX rq7_cos ON rq7 USING omendb (v vector_cosine_ops) WITH (quantizer = 'rabitq');
CREATE INDEX rq64_cos ON rq64 USING omendb (v vector_cosine_ops) WITH (quantizer = 'rabitq', bits = 8);
SELECT pg_temp.exact_everywhere('rq7', '<=>', 30) AS cos_7,
	   pg_temp.exact_everywhere('rq64', '<=>', 30) AS cos_64;
-- one dimension has two directions: every distance is 0 or 2
SELECT pg_temp.same_as_exact('rq1', '<=>', '''[-3]''::vector', NULL) AS cos_1;
DROP INDEX rq1_cos, rq7_cos, rq64_cos;

CREATE INDEX rq1_ip ON rq1 USING omendb (v vector_ip_ops) WITH (quantizer = 'rabitq');
CREATE INDEX rq7_ip ON rq7 USING omendb (v vector_ip_ops) WITH (quantizer = 'rabitq', bits = 8);
CREATE INDEX rq64_ip ON rq64 USING omendb (v vector_ip_ops) WITH (quantizer = 'rabitq', bits = 2);
SELECT pg_temp.exact_everywhere('rq1', '<#>', 30) AS ip_1,
	   pg_temp.exact_everywhere('rq7', '<#>', 30) AS ip_7,
	   pg_temp.exact_everywhere('rq64', '<#>', 30) AS ip_64;
DROP INDEX rq1_ip, rq7_ip, rq64_ip;

-- 3. Every node's code is its row's, re-encoded bit for bit, and its
-- error bound holds (omendb_check with heapallindexed); the default
-- search list finds nearly every row by itself.
CREATE INDEX rq64_l2 ON rq64 USING omendb (v vector_l2_ops) WITH (quantizer = 'rabitq');
SELECT nodes, live_nodes, reachable_fraction, clamped_nodes
	FROM omendb_check('rq64_l2', true);
SELECT pg_temp.self_found('rq64', '<->') >= 0.95 AS self_found_l2;
DROP INDEX rq64_l2;

-- 4. An index created empty centres its codes on the first row, and is as
-- exact; inserts, deletes and VACUUM keep it so.
CREATE TABLE rq_empty (id int, v vector(64));
CREATE INDEX rq_empty_idx ON rq_empty USING omendb (v vector_l2_ops)
	WITH (quantizer = 'rabitq', bits = 2);
SELECT pg_temp.fill('rq_empty', 1200, 64);
SELECT pg_temp.exact_everywhere('rq_empty', '<->', 20) AS empty_exact;
DELETE FROM rq_empty WHERE id % 3 = 0;
VACUUM rq_empty;
SELECT pg_temp.exact_everywhere('rq_empty', '<->', 20) AS after_vacuum;
SELECT nodes >= live_nodes, live_nodes, reachable_fraction
	FROM omendb_check('rq_empty_idx', true);
SELECT pg_temp.self_found('rq_empty', '<->') >= 0.95 AS self_found_empty;

-- 5. A zero vector under cosine is a zero node and sorts last, as in a
-- sequential scan.
INSERT INTO rq64 VALUES (0, array_fill(0, ARRAY[64])::vector);
CREATE INDEX rq64_cos ON rq64 USING omendb (v vector_cosine_ops) WITH (quantizer = 'rabitq');
SET enable_seqscan = off;
SELECT id AS last_row FROM rq64 ORDER BY v <=> (SELECT v FROM rq64 WHERE id = 5)
	OFFSET 1500;
RESET enable_seqscan;
DROP INDEX rq64_cos;

-- 6. 1,536 dimensions at R = 32: a 1-bit node is under 400 bytes (SQ8's is
-- 1,712), so pages hold 21 nodes instead of 4.
CREATE TABLE rq1536 (id int, v vector(1536));
SELECT pg_temp.fill('rq1536', 60, 1536);
CREATE INDEX rq1536_idx ON rq1536 USING omendb (v vector_cosine_ops) WITH (quantizer = 'rabitq');
SELECT code_bytes, node_bytes, node_bytes <= 400 AS under_400
	FROM omendb_index_stats('rq1536_idx');
SELECT pg_temp.exact_everywhere('rq1536', '<=>', 20) AS cos_1536;
DROP TABLE rq1536;

-- 7. 16,000 dimensions, the type's limit, index and answer exactly (SQ8
-- cannot: its node would not fit a page, so without a quantizer named the
-- index takes RaBitQ).
CREATE TABLE rq16k (id int, v vector(16000));
SELECT pg_temp.fill('rq16k', 40, 16000);
CREATE INDEX ON rq16k USING omendb (v vector_l2_ops) WITH (quantizer = 'sq8');
CREATE INDEX rq16k_l2 ON rq16k USING omendb (v vector_l2_ops);
SELECT quantizer FROM omendb_index_stats('rq16k_l2');
SELECT code_bytes, node_bytes FROM omendb_index_stats('rq16k_l2');
SELECT pg_temp.exact_everywhere('rq16k', '<->', 10) AS l2_16000;
DROP INDEX rq16k_l2;
CREATE INDEX rq16k_ip ON rq16k USING omendb (v vector_ip_ops) WITH (quantizer = 'rabitq');
SELECT pg_temp.exact_everywhere('rq16k', '<#>', 10) AS ip_16000;
SELECT nodes, live_nodes FROM omendb_check('rq16k_ip', true);
DROP TABLE rq16k;

DROP TABLE rq1, rq7, rq64, rq_empty;

-- 8. With omendb.exact_order off, a scan bounds each row by its estimate
-- less a probable error instead of the rigorous bound: far fewer rows go
-- to the executor's re-check, rows the walk has met still come out in
-- exact order (here, with an exhaustive list, every one), and a scan
-- without LIMIT still returns every row once.  The rows lie along a
-- curve, so that a row's nearest neighbours are nearly in its direction
-- from the centre, where the probable error is smallest.
CREATE TABLE rq_curve (id int, v vector(512));
INSERT INTO rq_curve
	SELECT g, array_agg(cos(g / 300.0 * (1 + (hashint4(i) & 1023) / 256.0) + i) ORDER BY i)::vector
	FROM generate_series(1, 3000) g, generate_series(1, 512) i GROUP BY g;
CREATE INDEX rq_curve_l2 ON rq_curve USING omendb (v vector_l2_ops) WITH (quantizer = 'rabitq');

-- rechecked_per_query(tab, ids): the rows re-checked per query of LIMIT
-- 10 queries by tab's rows of those ids, at the default search list.
CREATE FUNCTION pg_temp.rechecked_per_query(tab text, ids int[]) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	r float8;
	q int;
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('omendb.search_list_size', '0', true);
	PERFORM omendb_scan_stats_reset();
	FOREACH q IN ARRAY ids LOOP
		EXECUTE format('SELECT count(*) FROM (SELECT id FROM %1$I
						ORDER BY v <-> (SELECT v FROM %1$I WHERE id = %2$s) LIMIT 10) s',
					   tab, q);
	END LOOP;
	SELECT rows_rechecked::float8 / scans INTO r
		FROM omendb_scan_stats() WHERE scope = 'backend';
	RETURN r;
END
$$;
SET omendb.exact_order = on;
CREATE TEMP TABLE rechecks_on AS
	SELECT pg_temp.rechecked_per_query('rq_curve', array(SELECT g * 97 FROM generate_series(1, 30) g)) AS n;
SET omendb.exact_order = off;
CREATE TEMP TABLE rechecks_off AS
	SELECT pg_temp.rechecked_per_query('rq_curve', array(SELECT g * 97 FROM generate_series(1, 30) g)) AS n;
SELECT off.n < on_.n / 2 AS fewer_than_half FROM rechecks_off off, rechecks_on on_;
-- The default bounds a RaBitQ index's rows as off does.
SET omendb.exact_order = auto;
SELECT pg_temp.rechecked_per_query('rq_curve', array(SELECT g * 97 FROM generate_series(1, 30) g)) = n
	AS auto_is_off_for_rabitq FROM rechecks_off;
SET omendb.exact_order = off;
SELECT pg_temp.exact_everywhere('rq_curve', '<->', 30) AS probable_l2;
SET enable_seqscan = off;
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_rows
	FROM (SELECT id FROM rq_curve ORDER BY v <-> (SELECT v FROM rq_curve WHERE id = 1)) s;
RESET enable_seqscan;
-- A radius query in order of distance keeps rigorous bounds: it returns
-- every row within the radius, in order, as a sequential scan finds them.
SELECT bool_and(pg_temp.same_as_exact('rq_curve', '<->',
		format('SELECT v FROM rq_curve WHERE id = %s', q), NULL,
		format('v <-> (SELECT v FROM rq_curve WHERE id = %s) < %s', q, r))) AS radius_exact
	FROM generate_series(100, 2900, 400) q, (VALUES (2.0), (4.0), (8.0)) rr(r);
DROP INDEX rq_curve_l2;
CREATE INDEX rq_curve_cos ON rq_curve USING omendb (v vector_cosine_ops) WITH (quantizer = 'rabitq');
SELECT pg_temp.exact_everywhere('rq_curve', '<=>', 30) AS probable_cos;
DROP INDEX rq_curve_cos;
CREATE INDEX rq_curve_ip ON rq_curve USING omendb (v vector_ip_ops) WITH (quantizer = 'rabitq', bits = 2);
SELECT pg_temp.exact_everywhere('rq_curve', '<#>', 30) AS probable_ip;
DROP INDEX rq_curve_ip;

-- SQ8 bounds rows probably too: the cross term between the query's offset
-- from a node's decoded vector and the node's error, at its likely
-- largest instead of its largest.  Fewer rows re-checked, the same exact
-- order, under each metric.
CREATE INDEX rq_curve_sq8 ON rq_curve USING omendb (v vector_l2_ops);
SET omendb.exact_order = on;
CREATE TEMP TABLE sq8_rechecks_on AS
	SELECT pg_temp.rechecked_per_query('rq_curve', array(SELECT g * 97 FROM generate_series(1, 30) g)) AS n;
SET omendb.exact_order = off;
SELECT pg_temp.rechecked_per_query('rq_curve', array(SELECT g * 97 FROM generate_series(1, 30) g)) < n
	AS sq8_fewer FROM sq8_rechecks_on;
-- The default bounds an SQ8 index's rows as on does.
SET omendb.exact_order = auto;
SELECT pg_temp.rechecked_per_query('rq_curve', array(SELECT g * 97 FROM generate_series(1, 30) g)) = n
	AS auto_is_on_for_sq8 FROM sq8_rechecks_on;
SET omendb.exact_order = off;
SELECT pg_temp.exact_everywhere('rq_curve', '<->', 30) AS sq8_probable_l2;
DROP INDEX rq_curve_sq8;
CREATE INDEX rq_curve_sq8 ON rq_curve USING omendb (v vector_cosine_ops);
SELECT pg_temp.exact_everywhere('rq_curve', '<=>', 30) AS sq8_probable_cos;
DROP INDEX rq_curve_sq8;
CREATE INDEX rq_curve_sq8 ON rq_curve USING omendb (v vector_ip_ops);
SELECT pg_temp.exact_everywhere('rq_curve', '<#>', 30) AS sq8_probable_ip;
DROP INDEX rq_curve_sq8;
-- An index created empty whose first row is tiny clamps the codes of the
-- rows after it; those keep rigorous bounds, and the order stays exact.
CREATE TABLE sq8_clamped (id int, v vector(512));
CREATE INDEX sq8_clamped_l2 ON sq8_clamped USING omendb (v vector_l2_ops);
INSERT INTO sq8_clamped
	SELECT 0, (SELECT array_agg(x * 1e-3 ORDER BY o) FROM unnest(v::real[]) WITH ORDINALITY u(x, o))::vector
	FROM rq_curve WHERE id = 1;
INSERT INTO sq8_clamped SELECT id, v FROM rq_curve;
SELECT clamped_nodes > 0 AS codes_clamped FROM omendb_check('sq8_clamped_l2', true);
SELECT pg_temp.exact_everywhere('sq8_clamped', '<->', 30) AS sq8_clamped_l2;
DROP TABLE sq8_clamped;
-- Rows inserted after the build far outside the ranges in one dimension
-- clamp there, and their error lies in that dimension instead of spread
-- over all 256, so the probable cross term understates it: a query
-- beyond them in that dimension would get rows out of order (4 of its 40
-- nearest, with the probable bound for every node).  Clamped nodes keep
-- their rigorous bounds.
CREATE TABLE sq8_outliers (id int, v vector(256));
INSERT INTO sq8_outliers
	SELECT i, array_agg((hashint4(i * 256 + j) & 65535) / 65536.0 ORDER BY j)::vector
	FROM generate_series(1, 2000) i, generate_series(0, 255) j GROUP BY i;
CREATE INDEX sq8_outliers_l2 ON sq8_outliers USING omendb (v vector_l2_ops);
INSERT INTO sq8_outliers
	SELECT 10000 + i, (array[(5 + 0.1 * i)::float8] || array_fill(0.5::float8, array[255]))::real[]::vector
	FROM generate_series(0, 49) i;
SELECT clamped_nodes FROM omendb_check('sq8_outliers_l2', true);
SELECT pg_temp.same_as_exact('sq8_outliers', '<->',
	'(array[6.0::float8] || array_fill(0.5::float8, array[255]))::real[]::vector', 40)
	AS sq8_outliers_l2;
DROP TABLE sq8_outliers;

-- Rows dead to every snapshot that such a scan meets in the heap are
-- flagged in the index, as the executor's kills would be: a second run
-- re-checks fewer rows.
CREATE TABLE rq_dead (id int, v vector(64)) WITH (autovacuum_enabled = off);
INSERT INTO rq_dead
	SELECT g, array_agg(cos(g / 50.0 * (1 + (hashint4(i) & 1023) / 256.0) + i) ORDER BY i)::vector
	FROM generate_series(1, 3000) g, generate_series(1, 64) i GROUP BY g;
CREATE INDEX rq_dead_idx ON rq_dead USING omendb (v vector_l2_ops) WITH (quantizer = 'rabitq');
DELETE FROM rq_dead WHERE id BETWEEN 1400 AND 1600;
CREATE TEMP TABLE dead_first AS
	SELECT pg_temp.rechecked_per_query('rq_dead', ARRAY[1399]) AS n;
SELECT pg_temp.rechecked_per_query('rq_dead', ARRAY[1399]) < n AS fewer_after_kills,
	   (SELECT deleted_nodes > 0 FROM omendb_index_stats('rq_dead_idx')) AS nodes_flagged
	FROM dead_first;
SET omendb.exact_order = on;
DROP TABLE rq_curve, rq_dead;

RESET omendb.search_list_size;
