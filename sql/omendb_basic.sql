--
-- omendb_basic: what an omendb index scan returns.  An index scan returns
-- rows in exact distance order (the executor re-sorts on the exact
-- distance), never returns rows that are not there (NULLs, deleted rows),
-- and, on data this small with a search list covering the whole table,
-- finds exactly the nearest neighbours.  DDL around the index (REINDEX,
-- CONCURRENTLY, expression and partial indexes, unlogged and temporary
-- tables) keeps all of that.
--
-- Results that depend on how the graph happens to be built are never
-- printed; they are compared with the exact answer of a sequential scan.
--
SET jit = off;

\i sql/include/vs_exact.sql

-- top10_vs_exact(op, tab, qtab): vs_exact of every query's top 10 by
-- op, one index scan per query (rescanned through the correlated subquery).
CREATE FUNCTION pg_temp.top10_vs_exact(op text, tab text, qtab text) RETURNS text
LANGUAGE sql AS $$
	SELECT pg_temp.vs_exact(format('SELECT q.qid, (SELECT array_agg(id) FROM (SELECT id FROM %2$I t ORDER BY t.v %1$s q.v LIMIT 10) s) FROM %3$I q ORDER BY q.qid',
								   op, tab, qtab))
$$;

-- 300 rows of 4 dimensions with no two distances from the queries tied,
-- plus 10 NULL vectors; 8 query vectors, one of them a stored vector.
CREATE TABLE omendb_t (id int PRIMARY KEY, v vector(4));
INSERT INTO omendb_t
SELECT i, ARRAY[sin(i * 0.7), cos(i * 1.3), 2 * sin(i * 0.19), cos(i * 0.53) - 0.5]::real[]
FROM generate_series(1, 300) i;
INSERT INTO omendb_t SELECT i, NULL FROM generate_series(301, 310) i;
CREATE TABLE omendb_q (qid int PRIMARY KEY, v vector(4));
INSERT INTO omendb_q
SELECT q, ARRAY[sin(q * 3.1), cos(q * 2.3), sin(q), cos(q * 0.7)]::real[]
FROM generate_series(1, 7) q;
INSERT INTO omendb_q SELECT 8, v FROM omendb_t WHERE id = 42;

CREATE INDEX omendb_t_l2 ON omendb_t USING omendb (v vector_l2_ops);
CREATE INDEX omendb_t_ip ON omendb_t USING omendb (v vector_ip_ops);
CREATE INDEX omendb_t_cos ON omendb_t USING omendb (v vector_cosine_ops);

-- The top 10 of every query, as an array per query, ordered by query: one
-- index scan per query (rescanned through the correlated subquery).
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT q.qid, (SELECT array_agg(id) FROM (SELECT id FROM omendb_t t ORDER BY t.v <-> q.v LIMIT 10) s)
FROM omendb_q q ORDER BY q.qid;
RESET enable_seqscan;

-- With a search list at least the size of the table, the search is
-- exhaustive: the top 10 are exactly the sequential scan's, for each
-- operator class.
SET omendb.search_list_size = 400;
SELECT pg_temp.top10_vs_exact('<->', 'omendb_t', 'omendb_q') AS l2,
	   pg_temp.top10_vs_exact('<#>', 'omendb_t', 'omendb_q') AS ip,
	   pg_temp.top10_vs_exact('<=>', 'omendb_t', 'omendb_q') AS cosine;
-- ... and so are the distances the query computes.
SELECT pg_temp.vs_exact($$SELECT id, v <-> '[0.5,0.5,0.5,0.5]' FROM omendb_t ORDER BY v <-> '[0.5,0.5,0.5,0.5]' LIMIT 20$$) AS l2,
	   pg_temp.vs_exact($$SELECT id, v <#> '[0.5,0.5,0.5,0.5]' FROM omendb_t ORDER BY v <#> '[0.5,0.5,0.5,0.5]' LIMIT 20$$) AS ip,
	   pg_temp.vs_exact($$SELECT id, v <=> '[0.5,0.5,0.5,0.5]' FROM omendb_t ORDER BY v <=> '[0.5,0.5,0.5,0.5]' LIMIT 20$$) AS cosine;
RESET omendb.search_list_size;

-- Rows come back in non-decreasing exact distance, with no row twice, for
-- 100 rows (more than the search list holds, so the scan goes on past its
-- first search) at the default search list and at the smallest one.
CREATE FUNCTION pg_temp.order_check(op text, tab text DEFAULT 'omendb_t', qtab text DEFAULT 'omendb_q')
RETURNS TABLE (queries bigint, rows_returned bigint, distinct_ids bigint, out_of_order bigint)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	RETURN QUERY EXECUTE format($q$
		SELECT count(DISTINCT qid), count(*), count(DISTINCT (qid, id)),
			   count(*) FILTER (WHERE d < prev)
		FROM (SELECT q.qid, r.id, r.d, lag(r.d) OVER (PARTITION BY q.qid ORDER BY r.n) AS prev
			  FROM %3$I q CROSS JOIN LATERAL (
				SELECT s.id, s.d, row_number() OVER () AS n
				FROM (SELECT t.id, t.v %1$s q.v AS d FROM %2$I t ORDER BY t.v %1$s q.v LIMIT 100) s) r) x$q$,
		op, tab, qtab);
	PERFORM set_config('enable_seqscan', 'on', true);
END
$$;
SELECT 'l2' AS op, * FROM pg_temp.order_check('<->')
UNION ALL SELECT 'ip', * FROM pg_temp.order_check('<#>')
UNION ALL SELECT 'cosine', * FROM pg_temp.order_check('<=>');
SET omendb.search_list_size = 1;
SELECT 'l2' AS op, * FROM pg_temp.order_check('<->')
UNION ALL SELECT 'ip', * FROM pg_temp.order_check('<#>')
UNION ALL SELECT 'cosine', * FROM pg_temp.order_check('<=>');
RESET omendb.search_list_size;

-- Queries far outside the range the quantizer learned (under L2 each
-- dimension's nearest code is clamped to 0 or 255, so the scan's integer
-- scoring takes a large correction) still get rows in exact order, at the
-- smallest search list, and the exact top 10 with an exhaustive one.
CREATE TABLE omendb_q_far (qid int PRIMARY KEY, v vector(4));
INSERT INTO omendb_q_far
SELECT q, ARRAY[6 * sin(q * 3.1), -5 * cos(q * 2.3), 9 * sin(q) + 0.37, 4 + cos(q * 0.7)]::real[]
FROM generate_series(1, 7) q;
SET omendb.search_list_size = 1;
SELECT 'l2' AS op, * FROM pg_temp.order_check('<->', 'omendb_t', 'omendb_q_far')
UNION ALL SELECT 'cosine', * FROM pg_temp.order_check('<=>', 'omendb_t', 'omendb_q_far');
SET omendb.search_list_size = 400;
SELECT pg_temp.top10_vs_exact('<->', 'omendb_t', 'omendb_q_far') AS l2,
	   pg_temp.top10_vs_exact('<=>', 'omendb_t', 'omendb_q_far') AS cosine;
RESET omendb.search_list_size;
DROP TABLE omendb_q_far;

-- A dimension that is not a multiple of the kernels' widths (21: with
-- AVX-512 the query rounding takes two steps of 8 and 5 dimensions one by
-- one, the scan kernel one masked step) changes neither: rows in exact
-- order at the smallest search list, the exact top 10 with an exhaustive
-- one.
CREATE TABLE omendb_t21 (id int PRIMARY KEY, v vector(21));
INSERT INTO omendb_t21
SELECT i, array_agg(sin(i * (0.3 + d * 0.11)) * (1 + d % 3))::real[]
FROM generate_series(1, 300) i, generate_series(1, 21) d GROUP BY i;
CREATE TABLE omendb_q21 (qid int PRIMARY KEY, v vector(21));
INSERT INTO omendb_q21
SELECT q, array_agg(cos(q * (1.7 + d * 0.23)) * (1 + d % 3))::real[]
FROM generate_series(1, 7) q, generate_series(1, 21) d GROUP BY q;
CREATE INDEX ON omendb_t21 USING omendb (v vector_l2_ops);
CREATE INDEX ON omendb_t21 USING omendb (v vector_cosine_ops);
SET omendb.search_list_size = 1;
SELECT 'l2' AS op, * FROM pg_temp.order_check('<->', 'omendb_t21', 'omendb_q21')
UNION ALL SELECT 'cosine', * FROM pg_temp.order_check('<=>', 'omendb_t21', 'omendb_q21');
SET omendb.search_list_size = 400;
SELECT pg_temp.top10_vs_exact('<->', 'omendb_t21', 'omendb_q21') AS l2,
	   pg_temp.top10_vs_exact('<=>', 'omendb_t21', 'omendb_q21') AS cosine;
RESET omendb.search_list_size;
DROP TABLE omendb_t21, omendb_q21;

-- A stored vector finds itself first, by L2 and by cosine distance (inner
-- product is not a metric: a longer vector may beat the vector itself).
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT count(*) FROM omendb_t t
WHERE t.id = (SELECT t2.id FROM omendb_t t2 ORDER BY t2.v <-> t.v LIMIT 1);
SELECT count(*) AS found_themselves_l2 FROM omendb_t t
WHERE t.id = (SELECT t2.id FROM omendb_t t2 ORDER BY t2.v <-> t.v LIMIT 1);
SELECT count(*) AS found_themselves_cosine FROM omendb_t t
WHERE t.id = (SELECT t2.id FROM omendb_t t2 ORDER BY t2.v <=> t.v LIMIT 1);

-- An index scan, even without LIMIT, never returns a row whose vector is
-- NULL, nor any row twice.
EXPLAIN (COSTS OFF) SELECT id, v FROM omendb_t ORDER BY v <-> '[0,0,0,0]';
SELECT count(*) > 0 AS some_rows, count(*) = count(v) AS no_nulls, count(*) = count(DISTINCT id) AS no_duplicates
FROM (SELECT id, v FROM omendb_t ORDER BY v <-> '[0,0,0,0]') s;
SELECT count(*) > 0 AS some_rows, count(*) = count(v) AS no_nulls, count(*) = count(DISTINCT id) AS no_duplicates
FROM (SELECT id, v FROM omendb_t ORDER BY v <#> '[1,-1,1,-1]') s;
SELECT count(*) > 0 AS some_rows, count(*) = count(v) AS no_nulls, count(*) = count(DISTINCT id) AS no_duplicates
FROM (SELECT id, v FROM omendb_t ORDER BY v <=> '[1,1,1,1]') s;
-- With a search list covering the table, that is every row with a vector.
SET omendb.search_list_size = 400;
SELECT (SELECT count(*) FROM (SELECT id FROM omendb_t ORDER BY v <-> '[0,0,0,0]') s) AS l2,
	   (SELECT count(*) FROM (SELECT id FROM omendb_t ORDER BY v <#> '[1,-1,1,-1]') s) AS ip,
	   (SELECT count(*) FROM (SELECT id FROM omendb_t ORDER BY v <=> '[1,1,1,1]') s) AS cosine;
RESET omendb.search_list_size;

-- A cursor returns the same rows in the same order as a LIMIT query,
-- also when other index scans run between its fetches.
CREATE FUNCTION pg_temp.cursor_ids(query text, n int) RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE
	c refcursor;
	id int;
	other int;
	ids int[] := '{}';
BEGIN
	OPEN c FOR EXECUTE query;
	FOR i IN 1..n LOOP
		FETCH c INTO id;
		EXIT WHEN NOT FOUND;
		ids := ids || id;
		SELECT t.id INTO other FROM omendb_t t ORDER BY t.v <-> '[1,1,1,1]' LIMIT 1;
	END LOOP;
	CLOSE c;
	RETURN ids;
END
$$;
SELECT pg_temp.cursor_ids($$SELECT id FROM omendb_t ORDER BY v <-> '[0.1,0.2,0.3,0.4]'$$, 50)
	 = (SELECT array_agg(id) FROM (SELECT id FROM omendb_t ORDER BY v <-> '[0.1,0.2,0.3,0.4]' LIMIT 50) s)
	AS cursor_same_as_limit;
RESET enable_seqscan;

-- ORDER BY the distance to NULL returns rows, without error (in no
-- particular order: every distance is NULL), both when the planner folds
-- the constant NULL away and when a NULL parameter reaches the index scan.
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM omendb_t ORDER BY v <-> NULL LIMIT 5) s;
SELECT count(*) FROM (SELECT id FROM omendb_t ORDER BY v <=> NULL::vector(4) LIMIT 5) s;
SET plan_cache_mode = force_generic_plan;
PREPARE omendb_nn(vector) AS SELECT id FROM omendb_t ORDER BY v <#> $1 LIMIT 5;
EXPLAIN (COSTS OFF) EXECUTE omendb_nn(NULL);
CREATE TEMP TABLE omendb_res AS EXECUTE omendb_nn(NULL);
SELECT count(*) AS rows_returned, count(DISTINCT id) AS distinct_ids FROM omendb_res;
DROP TABLE omendb_res;
-- ... and the same prepared statement then works with a real query.
CREATE TEMP TABLE omendb_res AS EXECUTE omendb_nn('[1,2,3,4]');
SELECT count(*) AS rows_returned FROM omendb_res;
DROP TABLE omendb_res;
DEALLOCATE omendb_nn;
RESET plan_cache_mode;

-- A query vector of another dimension is an error, as for the operator.
SELECT id FROM omendb_t ORDER BY v <-> '[1,2,3]' LIMIT 1;
SELECT id FROM omendb_t ORDER BY v <#> '[1,2,3,4,5]' LIMIT 1;
SELECT id FROM omendb_t ORDER BY v <=> '[1]' LIMIT 1;
RESET enable_seqscan;

--
-- An index built on an empty table: queries find nothing, then rows
-- inserted one statement at a time, or many in one, are found.
--
CREATE TABLE omendb_empty (id int, v vector(3));
CREATE INDEX omendb_empty_l2 ON omendb_empty USING omendb (v);
CREATE INDEX omendb_empty_cos ON omendb_empty USING omendb (v vector_cosine_ops);
SET enable_seqscan = off;
SELECT id FROM omendb_empty ORDER BY v <-> '[1,2,3]' LIMIT 5;
SELECT id FROM omendb_empty ORDER BY v <=> '[1,2,3]' LIMIT 5;
RESET enable_seqscan;
INSERT INTO omendb_empty VALUES (1, '[1,2,3]');
INSERT INTO omendb_empty VALUES (2, NULL);
INSERT INTO omendb_empty VALUES (3, '[-1,0.5,2]');
SET enable_seqscan = off;
SELECT id FROM omendb_empty ORDER BY v <-> '[1,2,3]' LIMIT 5;
RESET enable_seqscan;
INSERT INTO omendb_empty SELECT i, ARRAY[sin(i) * i, cos(i), i % 7]::real[] FROM generate_series(4, 200) i;
SET omendb.search_list_size = 400;
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_empty ORDER BY v <-> '[10,0,3]' LIMIT 10$$) AS l2,
	   pg_temp.vs_exact($$SELECT id FROM omendb_empty ORDER BY v <=> '[10,0,3]' LIMIT 10$$) AS cosine,
	   pg_temp.vs_exact($$SELECT id FROM omendb_empty ORDER BY v <-> '[-150,0.5,1]' LIMIT 10$$) AS l2_far;
RESET omendb.search_list_size;
SET enable_seqscan = off;
SELECT count(*) AS found_themselves FROM omendb_empty t
WHERE t.id = (SELECT t2.id FROM omendb_empty t2 ORDER BY t2.v <-> t.v LIMIT 1);
RESET enable_seqscan;
DROP TABLE omendb_empty;

--
-- A column without a typmod is refused, empty or not: the index would
-- have to take its dimension from the first vector it indexes, and keep
-- it even if that vector's insert rolled back.  An expression that casts
-- to vector(n) is indexed, and rows of other dimensions fail the cast.
--
CREATE TABLE omendb_dims (id int, v vector);
CREATE INDEX ON omendb_dims USING omendb (v);
INSERT INTO omendb_dims VALUES (1, '[1,2,3]'), (2, '[4,5,6]'), (3, NULL);
CREATE INDEX ON omendb_dims USING omendb (v vector_cosine_ops);
CREATE INDEX omendb_dims_l2 ON omendb_dims USING omendb ((v::vector(3)));
INSERT INTO omendb_dims VALUES (4, '[7,8]');
INSERT INTO omendb_dims VALUES (6, '[7,8,9]');
SET enable_seqscan = off;
SELECT id FROM omendb_dims ORDER BY v::vector(3) <-> '[7,8,9]' LIMIT 1;
RESET enable_seqscan;
DROP TABLE omendb_dims;

--
-- Cosine distance is undefined (NaN) for zero vectors, and NaN sorts after
-- every number.  A cosine index holds them outside its graph and returns
-- them last, as a sequential scan sorts them, so that an ORDER BY gives
-- the same rows whichever plan runs; a zero query is not an error.
--
-- nan_last(tab, q, lim): vs_exact of tab's rows by cosine distance from q
-- (LIMIT lim), showing each row's id unless its distance is NaN: those
-- tie, and come in no particular order among themselves.
CREATE FUNCTION pg_temp.nan_last(tab text, q text, lim text DEFAULT 'ALL') RETURNS text
LANGUAGE sql AS $$
	SELECT pg_temp.vs_exact(format('SELECT CASE WHEN d <> %L THEN id END AS id, d FROM (SELECT id, v <=> %L AS d FROM %I ORDER BY v <=> %L LIMIT %s) s',
								   'NaN', q, tab, q, lim))
$$;
-- nan_ids(tab, q): the ids an index scan returns at distance NaN, sorted.
-- OFFSET 0 keeps the test on the distance out of the scan's query, where
-- it would make the ORDER BY, and with it the index, unneeded; raises
-- unless the index's ordered scan answers.
CREATE FUNCTION pg_temp.nan_ids(tab text, q text) RETURNS int[]
LANGUAGE plpgsql AS $$
DECLARE
	query text := format('SELECT array_agg(id ORDER BY id) FROM (SELECT id, v <=> %L AS d FROM %I ORDER BY v <=> %L OFFSET 0) s WHERE d = %L',
						 q, tab, q, 'NaN');
	plan text := '';
	line text;
	ids int[];
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		plan := plan || line || E'\n';
	END LOOP;
	IF plan !~ ('Index Scan using \S+ on ' || tab || '\M') OR plan !~ 'Order By:' THEN
		RAISE EXCEPTION 'not an ordered scan of an index on %: %', tab, plan;
	END IF;
	EXECUTE query INTO ids;
	PERFORM set_config('enable_seqscan', 'on', true);
	RETURN ids;
END
$$;
CREATE TABLE omendb_zero (id int, v vector(3));
INSERT INTO omendb_zero SELECT i, '[0,0,0]' FROM generate_series(1, 5) i;
INSERT INTO omendb_zero SELECT i, ARRAY[i, 10 - i, i % 3]::real[] FROM generate_series(6, 25) i;
CREATE INDEX omendb_zero_cos ON omendb_zero USING omendb (v vector_cosine_ops);
INSERT INTO omendb_zero VALUES (26, '[0,0,0]'), (27, '[1,1,1]');
SET enable_seqscan = off;
-- A zero query: every row comes back (every distance is NaN), no error.
SELECT count(*) FROM (SELECT id FROM omendb_zero ORDER BY v <=> '[0,0,0]' LIMIT 5) s;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM omendb_zero ORDER BY v <=> '[0,0,0]') s;
RESET enable_seqscan;
-- Any other query, without LIMIT: all 27 rows, the 21 non-zero vectors in
-- exact order, then the 6 zero vectors (built and inserted), as a
-- sequential scan returns them; and a LIMIT past the non-zero vectors
-- reaches into the zero ones.  Both at the default search list, where the
-- scan finds the zero vectors by sweeping the index after the graph, and
-- at one covering the index (an exhaustive search).
SELECT pg_temp.nan_last('omendb_zero', '[1,2,0]');
SELECT pg_temp.nan_last('omendb_zero', '[1,2,0]', '24');
SELECT pg_temp.nan_ids('omendb_zero', '[1,2,0]');
SET omendb.search_list_size = 100;
SELECT pg_temp.nan_last('omendb_zero', '[1,2,0]');
SELECT pg_temp.nan_last('omendb_zero', '[1,2,0]', '24');
SELECT pg_temp.nan_ids('omendb_zero', '[1,2,0]');
RESET omendb.search_list_size;
-- The other operator classes index zero vectors like any other.
CREATE INDEX omendb_zero_l2 ON omendb_zero USING omendb (v);
CREATE INDEX omendb_zero_ip ON omendb_zero USING omendb (v vector_ip_ops);
SET enable_seqscan = off;
SELECT count(*) FILTER (WHERE v = '[0,0,0]') AS zero_vectors_l2
FROM (SELECT v FROM omendb_zero ORDER BY v <-> '[0,0,0]' LIMIT 6) s;
SELECT count(*) FILTER (WHERE v = '[0,0,0]') AS zero_vectors_ip
FROM (SELECT v FROM omendb_zero ORDER BY v <#> '[-1,-1,-1]' LIMIT 6) s;
RESET enable_seqscan;
-- The zero vectors are live nodes outside the graph: in live_nodes, in
-- neither figure of reachability.  A deleted zero vector is vacuumed like
-- any row: its slot is freed.
SELECT nodes, live_nodes, reachable_live_nodes, reachable_fraction
FROM omendb_check('omendb_zero_cos', true);
DELETE FROM omendb_zero WHERE id IN (3, 26);
VACUUM omendb_zero;
SELECT nodes, live_nodes, deleted_nodes, free_nodes, reachable_live_nodes, reachable_fraction
FROM omendb_check('omendb_zero_cos', true);
SELECT pg_temp.nan_last('omendb_zero', '[1,2,0]');
SELECT pg_temp.nan_ids('omendb_zero', '[1,2,0]');
DROP TABLE omendb_zero;
-- A table of zero vectors alone: the index has nodes but no graph (no
-- entry point) and returns them all; the first other row inserted becomes
-- the entry point, and the graph grows from it.
CREATE TABLE omendb_zero_only (id int, v vector(3));
INSERT INTO omendb_zero_only SELECT i, '[0,0,0]' FROM generate_series(1, 4) i;
CREATE INDEX omendb_zero_only_cos ON omendb_zero_only USING omendb (v vector_cosine_ops);
SELECT nodes, live_nodes, reachable_live_nodes, reachable_fraction
FROM omendb_check('omendb_zero_only_cos', true);
SELECT pg_temp.nan_ids('omendb_zero_only', '[1,2,0]');
INSERT INTO omendb_zero_only VALUES (5, '[0,0,0]'), (6, '[1,2,0.5]'), (7, '[0,0,0]'), (8, '[-1,0,0]');
SELECT nodes, live_nodes, reachable_live_nodes, reachable_fraction
FROM omendb_check('omendb_zero_only_cos', true);
SELECT pg_temp.nan_last('omendb_zero_only', '[1,2,0]');
SELECT pg_temp.nan_ids('omendb_zero_only', '[1,2,0]');
DROP TABLE omendb_zero_only;

--
-- UPDATE and DELETE, before and after VACUUM: deleted rows are never
-- returned, updated rows are found at their new vector and not at the old
-- one, and rows inserted after VACUUM (into the space it freed) are found.
--
DROP INDEX omendb_t_ip, omendb_t_cos;
DELETE FROM omendb_t WHERE id % 3 = 0;
UPDATE omendb_t SET v = v + '[10,10,10,10]' WHERE id % 3 = 1 AND id <= 60;
CREATE FUNCTION pg_temp.dml_check() RETURNS TABLE (
	deleted_returned bigint, moved_found_themselves bigint,
	moved_near_old_place bigint, near_old_place text, near_new_place text)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('omendb.search_list_size', '400', true);
	RETURN QUERY SELECT
		(SELECT count(*) FROM (SELECT id FROM omendb_t ORDER BY v <-> '[0,0,0,0]' LIMIT 1000) s
		 WHERE id % 3 = 0 AND id <= 300),
		(SELECT count(*) FROM omendb_t t WHERE t.id % 3 = 1 AND t.id <= 60
		 AND t.id = (SELECT t2.id FROM omendb_t t2 ORDER BY t2.v <-> t.v LIMIT 1)),
		(SELECT count(*) FROM (SELECT id FROM omendb_t ORDER BY v <-> '[0,0,0,0]' LIMIT 50) s
		 WHERE id % 3 = 1 AND id <= 60),
		pg_temp.vs_exact($q$SELECT id FROM omendb_t ORDER BY v <-> '[0.3,-0.2,0.5,0]' LIMIT 10$q$),
		pg_temp.vs_exact($q$SELECT id FROM omendb_t ORDER BY v <-> '[10.3,9.8,10.5,10]' LIMIT 10$q$);
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('omendb.search_list_size', '40', true);
END
$$;
SELECT * FROM pg_temp.dml_check();
VACUUM (INDEX_CLEANUP ON) omendb_t;
SELECT * FROM pg_temp.dml_check();
-- VACUUM left the index with one entry per live row with a vector (a
-- statistic it counts exactly).  The scans above cannot show that the
-- index holds no node of a deleted row (the heap fetch hides dead rows);
-- the check counts live nodes on the index side.
SELECT reltuples FROM pg_class WHERE relname = 'omendb_t_l2';
SELECT count(v) FROM omendb_t;
SELECT live_nodes = (SELECT count(v) FROM omendb_t) AS one_live_node_per_row
FROM omendb_check('omendb_t_l2', true);
-- New rows, many of them in the heap space VACUUM freed.
INSERT INTO omendb_t
SELECT i, ARRAY[cos(i * 0.7), sin(i * 1.3), 2 * cos(i * 0.19), sin(i * 0.53) - 0.5]::real[]
FROM generate_series(1001, 1100) i;
SELECT * FROM pg_temp.dml_check();
SET enable_seqscan = off;
SELECT count(*) AS found_themselves FROM omendb_t t
WHERE t.id > 1000 AND t.id = (SELECT t2.id FROM omendb_t t2 ORDER BY t2.v <-> t.v LIMIT 1);
-- No row comes back twice, although VACUUM left deleted nodes behind
-- whose heap slots now hold other rows.
SELECT count(*) = count(DISTINCT id) AS no_duplicates
FROM (SELECT id FROM omendb_t ORDER BY v <-> '[0,0,0,0]') s;
RESET enable_seqscan;
-- Deleting everything, vacuuming, and filling again.
DELETE FROM omendb_t;
VACUUM omendb_t;
SET enable_seqscan = off;
SELECT id FROM omendb_t ORDER BY v <-> '[0,0,0,0]' LIMIT 5;
RESET enable_seqscan;
INSERT INTO omendb_t
SELECT i, ARRAY[sin(i * 0.7), cos(i * 1.3), 2 * sin(i * 0.19), cos(i * 0.53) - 0.5]::real[]
FROM generate_series(1, 300) i;
SET omendb.search_list_size = 400;
SELECT pg_temp.top10_vs_exact('<->', 'omendb_t', 'omendb_q');
RESET omendb.search_list_size;

--
-- Rebuilding: REINDEX, CREATE INDEX CONCURRENTLY and REINDEX INDEX
-- CONCURRENTLY give valid indexes with the exact answers.
--
CREATE FUNCTION pg_temp.rebuilt_check() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('omendb.search_list_size', '400', true);
	RETURN pg_temp.vs_exact($q$SELECT q.qid, (SELECT array_agg(id) FROM (SELECT id FROM omendb_t t ORDER BY t.v <-> q.v LIMIT 10) s) FROM omendb_q q ORDER BY q.qid$q$)
		|| ' / ' ||
		pg_temp.vs_exact($q$SELECT q.qid, (SELECT array_agg(id) FROM (SELECT id FROM omendb_t t ORDER BY t.v <=> q.v LIMIT 10) s) FROM omendb_q q ORDER BY q.qid$q$);
END
$$;
CREATE INDEX omendb_t_cos ON omendb_t USING omendb (v vector_cosine_ops);
REINDEX INDEX omendb_t_l2;
SELECT pg_temp.rebuilt_check();
REINDEX TABLE omendb_t;
SELECT pg_temp.rebuilt_check();
DROP INDEX omendb_t_l2;
CREATE INDEX CONCURRENTLY omendb_t_l2 ON omendb_t USING omendb (v) WITH (graph_degree = 16);
SELECT indexrelid::regclass, indisvalid, indisready FROM pg_index
WHERE indrelid = 'omendb_t'::regclass ORDER BY 1::text;
SELECT pg_temp.rebuilt_check();
REINDEX INDEX CONCURRENTLY omendb_t_l2;
REINDEX TABLE CONCURRENTLY omendb_t;
SELECT indexrelid::regclass, indisvalid, indisready FROM pg_index
WHERE indrelid = 'omendb_t'::regclass ORDER BY 1::text;
SELECT indexdef FROM pg_indexes WHERE indexname = 'omendb_t_l2';
SELECT pg_temp.rebuilt_check();
-- Rows inserted after the rebuilds are found.
INSERT INTO omendb_t SELECT i, ARRAY[cos(i), sin(i * 1.7), sin(i * 0.3), cos(i * 0.9) - 0.5]::real[] FROM generate_series(2001, 2050) i;
SELECT pg_temp.rebuilt_check();
SET enable_seqscan = off;
SELECT count(*) AS found_themselves FROM omendb_t t
WHERE t.id > 2000 AND t.id = (SELECT t2.id FROM omendb_t t2 ORDER BY t2.v <-> t.v LIMIT 1);
RESET enable_seqscan;

--
-- An index on an expression: ORDER BY the expression's distance uses it.
--
DROP INDEX omendb_t_l2, omendb_t_cos;
CREATE INDEX omendb_t_expr ON omendb_t USING omendb (((v + v)::vector(4)));
CREATE INDEX omendb_t_sub ON omendb_t USING omendb ((subvector(v, 1, 2)::vector(2)));
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_t ORDER BY (v + v)::vector(4) <-> '[1,1,1,1]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_t ORDER BY subvector(v, 1, 2)::vector(2) <-> '[1,1]' LIMIT 10;
-- ... not the column's distance.
EXPLAIN (COSTS OFF) SELECT id FROM omendb_t ORDER BY v <-> '[1,1,1,1]' LIMIT 10;
RESET enable_seqscan;
SET omendb.search_list_size = 400;
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_t ORDER BY (v + v)::vector(4) <-> '[1,1,1,1]' LIMIT 10$$) AS expr,
	   pg_temp.vs_exact($$SELECT id FROM omendb_t ORDER BY subvector(v, 1, 2)::vector(2) <-> '[0.3,0.1]' LIMIT 10$$) AS subvector;
RESET omendb.search_list_size;
DROP INDEX omendb_t_expr, omendb_t_sub;

--
-- A partial index serves queries whose WHERE implies its predicate, and
-- returns only rows that satisfy it.
--
CREATE INDEX omendb_t_even ON omendb_t USING omendb (v) WHERE id % 2 = 0;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_t WHERE id % 2 = 0 ORDER BY v <-> '[1,1,1,1]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_t ORDER BY v <-> '[1,1,1,1]' LIMIT 10;
SELECT count(*) AS rows_returned, count(*) FILTER (WHERE id % 2 = 0) AS even
FROM (SELECT id FROM omendb_t WHERE id % 2 = 0 ORDER BY v <-> '[1,1,1,1]' LIMIT 10) s;
RESET enable_seqscan;
SET omendb.search_list_size = 400;
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_t WHERE id % 2 = 0 ORDER BY v <-> '[1,1,1,1]' LIMIT 10$$);
SELECT pg_temp.vs_exact($$SELECT q.qid, (SELECT array_agg(id) FROM (SELECT id FROM omendb_t t WHERE id % 2 = 0 ORDER BY t.v <-> q.v LIMIT 10) s) FROM omendb_q q ORDER BY q.qid$$);
RESET omendb.search_list_size;
-- Rows inserted later are in the index only if they satisfy the predicate.
INSERT INTO omendb_t VALUES (3000, '[5,5,5,5]'), (3001, '[5,5,5,5.01]');
SET enable_seqscan = off;
SELECT id FROM omendb_t WHERE id % 2 = 0 ORDER BY v <-> '[5,5,5,5.01]' LIMIT 1;
RESET enable_seqscan;

DROP TABLE omendb_t;

--
-- Unlogged and temporary tables: the index works the same (crash
-- behaviour of unlogged tables is tested in test/tap).
--
CREATE UNLOGGED TABLE omendb_unlogged (id int, v vector(3));
INSERT INTO omendb_unlogged SELECT i, ARRAY[sin(i), cos(i * 2), i * 0.01]::real[] FROM generate_series(1, 150) i;
CREATE INDEX omendb_unlogged_l2 ON omendb_unlogged USING omendb (v);
INSERT INTO omendb_unlogged SELECT i, ARRAY[sin(i), cos(i * 2), i * 0.01]::real[] FROM generate_series(151, 300) i;
SELECT relpersistence FROM pg_class WHERE relname = 'omendb_unlogged_l2';
SET omendb.search_list_size = 400;
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_unlogged ORDER BY v <-> '[0.5,0.5,1]' LIMIT 10$$);
RESET omendb.search_list_size;
-- Built empty, then filled.
CREATE UNLOGGED TABLE omendb_unlogged2 (id int, v vector(3));
CREATE INDEX ON omendb_unlogged2 USING omendb (v vector_ip_ops);
INSERT INTO omendb_unlogged2 SELECT * FROM omendb_unlogged;
SET omendb.search_list_size = 400;
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_unlogged2 ORDER BY v <#> '[0.5,0.5,1]' LIMIT 10$$);
RESET omendb.search_list_size;
DROP TABLE omendb_unlogged, omendb_unlogged2;

CREATE TEMP TABLE omendb_temp (id int, v vector(3));
INSERT INTO omendb_temp SELECT i, ARRAY[sin(i), cos(i * 2), i * 0.01]::real[] FROM generate_series(1, 150) i;
CREATE INDEX ON omendb_temp USING omendb (v);
INSERT INTO omendb_temp SELECT i, ARRAY[sin(i), cos(i * 2), i * 0.01]::real[] FROM generate_series(151, 300) i;
DELETE FROM omendb_temp WHERE id % 5 = 0;
VACUUM omendb_temp;
SET omendb.search_list_size = 400;
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_temp ORDER BY v <-> '[0.5,0.5,1]' LIMIT 10$$);
RESET omendb.search_list_size;
DROP TABLE omendb_temp;

--
-- Vectors large enough to be stored out of line (TOAST), over more than
-- one quantizer page (1000 dimensions a page): built, inserted, queried.
--
CREATE TABLE omendb_wide (id int, v vector(2500));
INSERT INTO omendb_wide
SELECT i, (SELECT array_agg(sin(i * 0.3 + j * 0.01))::real[]::vector FROM generate_series(1, 2500) j)
FROM generate_series(1, 30) i;
SELECT pg_column_size(v) > 8000 AS large FROM omendb_wide WHERE id = 1;
CREATE INDEX ON omendb_wide USING omendb (v);
INSERT INTO omendb_wide
SELECT i, (SELECT array_agg(cos(i * 0.3 + j * 0.01))::real[]::vector FROM generate_series(1, 2500) j)
FROM generate_series(31, 60) i;
SET enable_seqscan = off;
SELECT count(*) AS found_themselves FROM omendb_wide t
WHERE t.id = (SELECT t2.id FROM omendb_wide t2 ORDER BY t2.v <-> t.v LIMIT 1);
RESET enable_seqscan;
SET omendb.search_list_size = 100;
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_wide ORDER BY v <-> (SELECT v FROM omendb_wide WHERE id = 45) + (SELECT v FROM omendb_wide WHERE id = 7) LIMIT 5$$);
RESET omendb.search_list_size;
DROP TABLE omendb_wide;

DROP TABLE omendb_q;
