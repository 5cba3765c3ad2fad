--
-- omendb_scan_stats: counters of this backend's omendb index scans, for
-- the last scan to end and summed since the backend started or they were
-- reset; the line EXPLAIN ANALYZE ends with; and pg_stat_user_indexes,
-- which counts the same scans and rows.  Each run of a rescanned scan (a
-- nested loop's inner side) is one scan, as it is one idx_scan.
-- The counts depend on the graph, so only relations between them are
-- printed, and exact values where the specification fixes them.
--
SET jit = off;

-- 2,000 rows of 8 pseudo-random coordinates in [0, 1).
CREATE TABLE omendb_ss (id int PRIMARY KEY, v vector(8));
INSERT INTO omendb_ss
SELECT i, ARRAY(SELECT ((abs(sin(i * 12.9898 + j * 78.233)) * 43758.5453)::numeric % 1)::real
				FROM generate_series(1, 8) j)::vector
FROM generate_series(1, 2000) i;
CREATE INDEX omendb_ss_v ON omendb_ss USING omendb (v);
ANALYZE omendb_ss;
SET enable_seqscan = off;

-- counts(scope): the counters of a scope, in the order of the columns.
CREATE FUNCTION pg_temp.counts(which text) RETURNS bigint[] LANGUAGE sql AS $$
	SELECT ARRAY[scans, nodes_met, nodes_expanded, pages_pinned, rows_returned,
				 rows_rechecked, late_rows, swept_rows]
	FROM omendb_scan_stats() WHERE scope = which
$$;
-- plus(a, b), minus(a, b): element by element.
CREATE FUNCTION pg_temp.plus(a bigint[], b bigint[]) RETURNS bigint[] LANGUAGE sql AS $$
	SELECT array_agg(x + y ORDER BY i) FROM unnest(a, b) WITH ORDINALITY u(x, y, i)
$$;
CREATE FUNCTION pg_temp.minus(a bigint[], b bigint[]) RETURNS bigint[] LANGUAGE sql AS $$
	SELECT array_agg(x - y ORDER BY i) FROM unnest(a, b) WITH ORDINALITY u(x, y, i)
$$;

-- The function's shape: two rows, one per scope.
SELECT scope FROM omendb_scan_stats();

-- After a reset both scopes are zero.
SELECT omendb_scan_stats_reset();
SELECT * FROM omendb_scan_stats();

-- One LIMIT 10 query is one scan.  The executor reads rows past the tenth
-- until the bound of the latest reaches the tenth's exact distance, so at
-- least 10 rows come back, each with a bound for it to recheck; the scan
-- met at least as many nodes as it returned, expanded some and pinned
-- their pages.
SELECT count(*) FROM
	(SELECT id FROM omendb_ss ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' LIMIT 10) s;
CREATE TEMP TABLE first_scan AS SELECT pg_temp.counts('last_scan') AS c;
SELECT c[1] AS scans,
	   c[5] >= 10 AS "rows_returned >= 10",
	   c[6] = c[5] AS "rows_rechecked = rows_returned",
	   c[2] >= c[5] AS "nodes_met >= rows_returned",
	   c[3] >= 1 AS "nodes_expanded >= 1",
	   c[4] >= 1 AS "pages_pinned >= 1",
	   c[4] <= c[2] + c[3] AS "pages_pinned <= nodes_met + nodes_expanded"
FROM first_scan;
-- The backend's sum is that scan.
SELECT pg_temp.counts('backend') = c AS "backend = last_scan" FROM first_scan;

-- A second query, without LIMIT: every row comes back exactly once, and
-- the backend's sum is the two scans'.
SELECT count(*), count(DISTINCT id) FROM
	(SELECT id FROM omendb_ss ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]') s;
SELECT c[1] AS scans, c[5] AS rows_returned, c[6] AS rows_rechecked,
	   c[2] >= 2000 AS "nodes_met >= 2000"
FROM (SELECT pg_temp.counts('last_scan') AS c) s;
SELECT pg_temp.counts('backend') = pg_temp.plus(f.c, pg_temp.counts('last_scan'))
	AS "backend = first + second"
FROM first_scan f;

-- Rows come out of order only if the scan held them back as late or
-- swept them in: count those a scan without LIMIT returns after a
-- farther row, in order of return.
CREATE FUNCTION pg_temp.out_of_order(q vector) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	d float8;
	farthest float8 := '-infinity';
	n int := 0;
BEGIN
	FOR d IN SELECT v <-> q FROM omendb_ss ORDER BY v <-> q LOOP
		IF d < farthest THEN
			n := n + 1;
		END IF;
		farthest := greatest(farthest, d);
	END LOOP;
	RETURN n;
END
$$;
SELECT pg_temp.out_of_order('[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]') AS out_of_order \gset
SELECT scans, rows_returned,
	   :out_of_order <= late_rows + swept_rows AS "out of order <= late + swept"
FROM omendb_scan_stats() WHERE scope = 'last_scan';

-- Swept rows are the live rows the graph does not reach: under cosine the
-- zero vectors, which lie outside the graph (omendb_check counts them
-- apart from the reachable ones), come back from the sweep.
CREATE TABLE omendb_ss_cos AS SELECT * FROM omendb_ss;
INSERT INTO omendb_ss_cos SELECT 3000 + i, array_fill(0, ARRAY[8])::vector
	FROM generate_series(1, 5) i;
CREATE INDEX omendb_ss_cos_v ON omendb_ss_cos USING omendb (v vector_cosine_ops);
SELECT count(*) FROM
	(SELECT id FROM omendb_ss_cos ORDER BY v <=> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]') s;
SELECT s.swept_rows, c.live_nodes - c.reachable_live_nodes AS unreachable,
	   s.rows_returned
FROM omendb_scan_stats() s, omendb_check('omendb_ss_cos_v') c
WHERE s.scope = 'last_scan';
DROP TABLE omendb_ss_cos;

-- A NULL query returns every row, with no distance for the executor to
-- recompute: rows returned, none rechecked, none expanded.
SELECT omendb_scan_stats_reset();
SELECT count(*) FROM
	(SELECT id FROM omendb_ss ORDER BY v <-> (SELECT NULL::vector)) s;
SELECT scans, nodes_met, nodes_expanded, pages_pinned >= 1 AS pinned,
	   rows_returned, rows_rechecked, late_rows, swept_rows
FROM omendb_scan_stats() WHERE scope = 'last_scan';

-- A rescanned scan: a nested loop runs the inner index scan once for each
-- of 3 query vectors.  Each run is a scan: the last one is last_scan, and
-- the backend's sum has three.
SELECT omendb_scan_stats_reset();
SELECT q.i, count(*) FROM generate_series(1, 3) q(i)
	CROSS JOIN LATERAL (SELECT id FROM omendb_ss
						ORDER BY v <-> array_fill(q.i / 4.0, ARRAY[8])::vector
						LIMIT 5) s
GROUP BY q.i ORDER BY q.i;
SELECT l[1] AS last_scans, b[1] AS backend_scans,
	   l[5] >= 5 AS "last rows_returned >= 5",
	   b[5] >= 15 AS "backend rows_returned >= 15",
	   b[5] > l[5] AS "backend holds more than the last run"
FROM (SELECT pg_temp.counts('last_scan') AS l, pg_temp.counts('backend') AS b) s;

-- Reset zeroes both scopes again.
SELECT omendb_scan_stats_reset();
SELECT pg_temp.counts('last_scan') AS last_scan, pg_temp.counts('backend') AS backend;

-- EXPLAIN ANALYZE (text) ends with one line: the sum of the counters of
-- the omendb scans the query ran.  explain_counters(q) prints the plan
-- with that line's counts masked, except scans, and checks that the line
-- equals what the backend's sum gained meanwhile.
CREATE FUNCTION pg_temp.explain_counters(q text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	before bigint[] := pg_temp.counts('backend');
	line text;
	shown bigint[];
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q
	LOOP
		IF line LIKE 'omendb Scans:%' THEN
			shown := ARRAY(SELECT m[1]::bigint
						   FROM regexp_matches(line, '=(\d+)', 'g') m);
			line := regexp_replace(line,
				'(nodes_met|nodes_expanded|pages_pinned|rows_returned|rows_rechecked|late_rows|swept_rows)=\d+',
				'\1=N', 'g');
		END IF;
		RETURN NEXT line;
	END LOOP;
	IF shown IS NOT NULL THEN
		RETURN NEXT 'line = change in omendb_scan_stats: ' ||
			(shown = pg_temp.minus(pg_temp.counts('backend'), before))::text;
	END IF;
END
$$;
SELECT pg_temp.explain_counters($$
	SELECT id FROM omendb_ss ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' LIMIT 10$$);
SELECT pg_temp.explain_counters($$
	SELECT q.i, s.id FROM generate_series(1, 3) q(i)
		CROSS JOIN LATERAL (SELECT id FROM omendb_ss
							ORDER BY v <-> array_fill(q.i / 4.0, ARRAY[8])::vector
							LIMIT 5) s$$);
-- No omendb scan ran, no line.
SELECT pg_temp.explain_counters($$SELECT count(*) FROM generate_series(1, 10)$$);
-- Without ANALYZE nothing runs: no line.
EXPLAIN (COSTS OFF)
	SELECT id FROM omendb_ss ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' LIMIT 10;
-- Other formats are left as they are (their document is complete): no
-- line, and valid JSON.
CREATE FUNCTION pg_temp.explain_json(q text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
	doc text;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) ' || q
		INTO doc;
	RETURN doc::json;
END
$$;
SELECT pg_temp.explain_json($$
	SELECT id FROM omendb_ss ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' LIMIT 10$$)
	-> 0 -> 'Plan' ->> 'Node Type' AS top_node;
-- omendb.explain_counters = off drops the line.
SET omendb.explain_counters = off;
SELECT pg_temp.explain_counters($$
	SELECT id FROM omendb_ss ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' LIMIT 10$$);
RESET omendb.explain_counters;

-- The statistics views count the same: idx_scan once per run that starts,
-- idx_tup_read once per row returned.  They show counts once a backend
-- flushes them, lazily; the current transaction's counts are there before
-- (pg_stat_get_xact_*), so the runs and the comparison share a transaction.
BEGIN;
CREATE TEMP TABLE idx_before AS
	SELECT pg_stat_get_xact_numscans('omendb_ss_v'::regclass) AS idx_scan,
		   pg_stat_get_xact_tuples_returned('omendb_ss_v'::regclass) AS idx_tup_read;
SELECT omendb_scan_stats_reset();
SELECT count(*) FROM
	(SELECT id FROM omendb_ss ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' LIMIT 10) s;
SELECT count(*) FROM generate_series(1, 3) q(i)
	CROSS JOIN LATERAL (SELECT id FROM omendb_ss
						ORDER BY v <-> array_fill(q.i / 4.0, ARRAY[8])::vector
						LIMIT 5) s;
SELECT s.idx_scan - b.idx_scan AS idx_scans,
	   (SELECT scans FROM omendb_scan_stats() WHERE scope = 'backend') AS scans,
	   s.idx_tup_read - b.idx_tup_read =
	   (SELECT rows_returned FROM omendb_scan_stats() WHERE scope = 'backend')
	   AS "idx_tup_read = rows_returned"
FROM (SELECT pg_stat_get_xact_numscans('omendb_ss_v'::regclass) AS idx_scan,
			 pg_stat_get_xact_tuples_returned('omendb_ss_v'::regclass) AS idx_tup_read) s,
	 idx_before b;
COMMIT;

RESET enable_seqscan;
DROP TABLE omendb_ss;
