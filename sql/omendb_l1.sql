--
-- omendb_l1: the L1 (Manhattan) operator classes, vector_l1_ops and
-- halfvec_l1_ops.  A scan returns rows in exact <+> order: with a search
-- list covering the table it finds exactly the sequential scan's nearest
-- neighbours, and with the shortest list the rows it returns still come
-- in non-decreasing distance, none twice.  This holds on data with ties,
-- duplicates and zero vectors, for queries far outside the data, for
-- codes clamped outside the quantizer's ranges (an index built empty),
-- and at tiny and huge magnitudes, where the bound's float margins
-- matter.  Radius queries by <+> are answered by the index too.
--
-- Answers are compared as lists of distances: tied rows may come back in
-- either order.
--
SET jit = off;

CREATE TABLE l1_t (id int, v vector(12), h halfvec(12));
CREATE TABLE l1_q (qid int, v vector(12), h halfvec(12));

-- vs_exact(tab, col, k): for every query, the distances of its k nearest
-- rows of tab by <+> on col, forced onto the index at a search list that
-- covers the table and then computed by a sequential scan; 'same as
-- exact', or the two answers ('index not used' if the forced plan has no
-- index ORDER BY).
CREATE FUNCTION pg_temp.vs_exact(tab text, col text, k int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	query text := format('SELECT q.qid, (SELECT array_agg(d) FROM (SELECT t.%2$I <+> q.%2$I AS d FROM %1$I t ORDER BY t.%2$I <+> q.%2$I LIMIT %3$s) s) FROM l1_q q ORDER BY q.qid',
						 tab, col, k);
	line text;
	plan text := '';
	got text;
	want text;
BEGIN
	PERFORM set_config('omendb.search_list_size', '10000', true);
	PERFORM set_config('enable_seqscan', 'off', true);
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		plan := plan || line || E'\n';
	END LOOP;
	EXECUTE format('SELECT array_agg(r::text)::text FROM (%s) r', query) INTO got;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	EXECUTE format('SELECT array_agg(r::text)::text FROM (%s) r', query) INTO want;
	PERFORM set_config('enable_indexscan', 'on', true);
	PERFORM set_config('omendb.search_list_size', '0', true);
	IF plan NOT LIKE '%Order By:%<+>%' THEN
		RETURN 'index not used: ' || plan;
	ELSIF got IS NOT DISTINCT FROM want THEN
		RETURN 'same as exact';
	ELSE
		RETURN format('DIFFERENT: index %s, exact %s', got, want);
	END IF;
END
$$;

-- order_check(tab, col): at the shortest search list, the first 200 rows
-- of each query's index scan come in non-decreasing exact distance, with
-- no row twice.
CREATE FUNCTION pg_temp.order_check(tab text, col text)
RETURNS TABLE (queries bigint, rows_returned bigint, distinct_ids bigint, out_of_order bigint)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('omendb.search_list_size', '1', true);
	RETURN QUERY EXECUTE format($q$
		SELECT count(DISTINCT qid), count(*), count(DISTINCT (qid, id)),
			   count(*) FILTER (WHERE d < prev)
		FROM (SELECT q.qid, r.id, r.d, lag(r.d) OVER (PARTITION BY q.qid ORDER BY r.n) AS prev
			  FROM l1_q q CROSS JOIN LATERAL (
				SELECT s.id, s.d, row_number() OVER () AS n
				FROM (SELECT t.id, t.%2$I <+> q.%2$I AS d FROM %1$I t ORDER BY t.%2$I <+> q.%2$I LIMIT 200) s) r) x$q$,
		tab, col);
	PERFORM set_config('omendb.search_list_size', '0', true);
	PERFORM set_config('enable_seqscan', 'on', true);
END
$$;

-- checks(tab): top 10 and every row against exact, and the order check;
-- for the vector and the halfvec column.
CREATE FUNCTION pg_temp.checks(tab text)
RETURNS TABLE (col text, top10 text, all_rows text, queries bigint,
			   rows_returned bigint, distinct_ids bigint, out_of_order bigint)
LANGUAGE sql AS $$
	SELECT c, pg_temp.vs_exact(tab, c, 10), pg_temp.vs_exact(tab, c, 100000),
		   o.queries, o.rows_returned, o.distinct_ids, o.out_of_order
	FROM unnest(ARRAY['v', 'h']) c, LATERAL pg_temp.order_check(tab, c) o
$$;

-- Small integers (many ties), 100 duplicated rows, 10 zero vectors.
-- A hash of (i, j) in [0, 1): the same rows on every server version,
-- whose random() differ.
CREATE FUNCTION pg_temp.unit(i int, j int) RETURNS float8 LANGUAGE sql IMMUTABLE
	AS $$ SELECT x - floor(x) FROM (SELECT sin(i * 12.9898 + j * 78.233) * 43758.5453 AS x) s $$;
INSERT INTO l1_t (id, v)
	SELECT i, (SELECT array_agg(floor(pg_temp.unit(i, j) * 9 - 4)::real) FROM generate_series(1, 12) j)::vector
	FROM generate_series(1, 1500) i;
INSERT INTO l1_t (id, v) SELECT 1500 + id, v FROM l1_t WHERE id <= 100;
INSERT INTO l1_t (id, v) SELECT 1600 + i, array_fill(0::real, ARRAY[12])::vector FROM generate_series(1, 10) i;
UPDATE l1_t SET h = v::halfvec;

-- Queries: random ones, rows of the table (distance 0, among duplicates),
-- the zero vector, fractional values, and points far outside the data.
INSERT INTO l1_q (qid, v)
	SELECT i, (SELECT array_agg((pg_temp.unit(5000 + i, j) * 9 - 4)::real) FROM generate_series(1, 12) j)::vector
	FROM generate_series(1, 8) i;
INSERT INTO l1_q (qid, v) SELECT 100 + id, v FROM l1_t WHERE id IN (3, 50, 1520, 1605);
INSERT INTO l1_q (qid, v)
	SELECT 200 + i, (SELECT array_agg(((pg_temp.unit(6000 + i, j) - 0.5) * 200)::real) FROM generate_series(1, 12) j)::vector
	FROM generate_series(1, 4) i;
UPDATE l1_q SET h = v::halfvec;

CREATE INDEX l1_t_v ON l1_t USING omendb (v vector_l1_ops);
CREATE INDEX l1_t_h ON l1_t USING omendb (h halfvec_l1_ops);

SELECT * FROM pg_temp.checks('l1_t');

-- The planner takes the index for ORDER BY <+> ... LIMIT, and only for
-- <+>.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM l1_t ORDER BY v <+> '[1,2,3,4,5,6,7,8,9,10,11,12]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM l1_t ORDER BY h <+> '[1,2,3,4,5,6,7,8,9,10,11,12]'::halfvec LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM l1_t ORDER BY v <-> '[1,2,3,4,5,6,7,8,9,10,11,12]' LIMIT 5;
RESET enable_seqscan;

-- The metric is recorded and reported; the index verifies.
SELECT metric, dimensions, live_nodes FROM omendb_index_stats('l1_t_v');
SELECT metric, dimensions, live_nodes FROM omendb_index_stats('l1_t_h');
SELECT nodes, live_nodes, reachable_fraction FROM omendb_check('l1_t_v', true);
SELECT nodes, live_nodes, reachable_fraction FROM omendb_check('l1_t_h', true);
SELECT opcname, amvalidate(oid) FROM pg_opclass
WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'omendb') AND opcname LIKE '%l1%'
ORDER BY opcname;

-- Inserts after the build are found in order too.
INSERT INTO l1_t (id, v)
	SELECT 2000 + i, (SELECT array_agg((pg_temp.unit(7000 + i, j) * 12 - 6)::real) FROM generate_series(1, 12) j)::vector
	FROM generate_series(1, 300) i;
UPDATE l1_t SET h = v::halfvec WHERE id > 2000;
SELECT * FROM pg_temp.checks('l1_t');

-- An index built empty learns its ranges from the first row, a hundredth
-- the scale of the rest: every later code is clamped, and the bounds hold.
CREATE TABLE l1_clamped (id int, v vector(12), h halfvec(12));
CREATE INDEX ON l1_clamped USING omendb (v vector_l1_ops);
CREATE INDEX ON l1_clamped USING omendb (h halfvec_l1_ops);
INSERT INTO l1_clamped (id, v) VALUES (0, array_fill(0.04::real, ARRAY[12])::vector);
INSERT INTO l1_clamped (id, v) SELECT id, v FROM l1_t;
UPDATE l1_clamped SET h = v::halfvec;
SELECT clamped_nodes > live_nodes / 2 AS mostly_clamped FROM omendb_check('l1_clamped_v_idx');
SELECT * FROM pg_temp.checks('l1_clamped');

-- Tiny and huge magnitudes (vector only: halves cannot hold them).
CREATE TABLE l1_tiny (id int, v vector(12));
INSERT INTO l1_tiny SELECT id, v * array_fill(1e-37::real, ARRAY[12])::vector FROM l1_t;
CREATE TABLE l1_huge (id int, v vector(12));
INSERT INTO l1_huge SELECT id, v * array_fill(1e36::real, ARRAY[12])::vector FROM l1_t;
CREATE INDEX ON l1_tiny USING omendb (v vector_l1_ops);
CREATE INDEX ON l1_huge USING omendb (v vector_l1_ops);
UPDATE l1_q SET v = h::vector * array_fill(1e-37::real, ARRAY[12])::vector;
SELECT pg_temp.vs_exact('l1_tiny', 'v', 10) AS tiny_top10, pg_temp.vs_exact('l1_tiny', 'v', 100000) AS tiny_all;
SELECT * FROM pg_temp.order_check('l1_tiny', 'v');
-- (queries of 1e38 scale: their distances overflow a float, and the
-- executor sums those in double)
UPDATE l1_q SET v = h::vector * array_fill(1e36::real, ARRAY[12])::vector;
SELECT pg_temp.vs_exact('l1_huge', 'v', 10) AS huge_top10, pg_temp.vs_exact('l1_huge', 'v', 100000) AS huge_all;
SELECT * FROM pg_temp.order_check('l1_huge', 'v');

-- Bad input gets the errors the other operator classes give.
\set VERBOSITY sqlstate
-- NaN and infinity reach neither the index nor a query.
INSERT INTO l1_t (id, v) VALUES (9999, '[NaN,1,2,3,4,5,6,7,8,9,10,11]');
INSERT INTO l1_t (id, v) VALUES (9999, '[Infinity,1,2,3,4,5,6,7,8,9,10,11]');
INSERT INTO l1_t (id, v) VALUES (9999, '[3e38,1,2,3,4,5,6,7,8,9,10,11]'::vector + '[3e38,1,2,3,4,5,6,7,8,9,10,11]');
INSERT INTO l1_t (id, h) VALUES (9999, '[1e6,1,2,3,4,5,6,7,8,9,10,11]');
SET enable_seqscan = off;
SELECT id FROM l1_t ORDER BY v <+> '[NaN,1,2,3,4,5,6,7,8,9,10,11]' LIMIT 1;
SELECT id FROM l1_t ORDER BY h <+> '[-Infinity,1,2,3,4,5,6,7,8,9,10,11]' LIMIT 1;
-- Wrong dimensions: on insert, and in a query.
INSERT INTO l1_t (id, v) VALUES (9999, '[1,2,3]');
SELECT id FROM l1_t ORDER BY v <+> '[1,2,3]' LIMIT 1;
SELECT id FROM l1_t ORDER BY h <+> '[1,2,3]'::halfvec LIMIT 1;
-- An empty query is not a vector.
SELECT id FROM l1_t ORDER BY v <+> '[]' LIMIT 1;
\set VERBOSITY default
\i sql/include/index_ordered.sql
-- A NULL query returns every row with a vector, with NULL distances (the
-- NULL known only at run time, so that the planner keeps the ORDER BY and
-- the index).
SELECT pg_temp.index_ordered('SELECT id FROM l1_t ORDER BY v <+> (SELECT NULL::vector)') AS null_query_by_index;
SELECT count(*) AS all_rows, count(DISTINCT id) AS distinct_rows, count(d) AS non_null
FROM (SELECT id, v <+> (SELECT NULL::vector) AS d FROM l1_t ORDER BY v <+> (SELECT NULL::vector)) s;
RESET enable_seqscan;
SELECT count(*) AS rows_unchanged FROM l1_t;

-- Radius queries: "WHERE v <+> q < r" (or <=) takes the ball <<+> as its
-- index condition and returns exactly the rows a sequential scan returns,
-- at radius 0 (duplicates), at a row's own distance, past every row, and
-- for a NULL radius; with and without ORDER BY.
CREATE FUNCTION pg_temp.radius_check(query text,
	OUT index_scan boolean, OUT missing bigint, OUT extra bigint, OUT nrows bigint)
LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	index_scan := false;
	PERFORM set_config('enable_seqscan', 'off', true);
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		IF line LIKE '%Index Cond: (v <<+> %' THEN
			index_scan := true;
		END IF;
	END LOOP;
	EXECUTE format('CREATE TEMP TABLE got AS %s', query);
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	EXECUTE format('CREATE TEMP TABLE want AS %s', query);
	PERFORM set_config('enable_indexscan', 'on', true);
	PERFORM set_config('enable_bitmapscan', 'on', true);
	SELECT count(*) INTO missing FROM (SELECT * FROM want EXCEPT ALL SELECT * FROM got) s;
	SELECT count(*) INTO extra FROM (SELECT * FROM got EXCEPT ALL SELECT * FROM want) s;
	SELECT count(*) INTO nrows FROM want;
	DROP TABLE got;
	DROP TABLE want;
END
$$;
UPDATE l1_q SET v = h::vector;
ANALYZE l1_t;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM l1_t WHERE v <+> '[1,2,3,4,5,6,7,8,9,10,11,12]' < 50
	ORDER BY v <+> '[1,2,3,4,5,6,7,8,9,10,11,12]';
RESET enable_seqscan;
SELECT q.qid, r.radius, c.*
FROM l1_q q,
	 (VALUES (0::float8), (12), (20), (1e6)) r(radius),
	 LATERAL pg_temp.radius_check(format('SELECT id FROM l1_t WHERE v <+> %L <= %s', q.v, r.radius)) c
WHERE q.qid IN (1, 103, 1705, 201)
ORDER BY q.qid, r.radius;
SELECT * FROM pg_temp.radius_check(
	$$SELECT id, v <+> '[1,-1,2,-2,0,0,1,1,3,-3,0,1]' AS d FROM l1_t
	  WHERE v <+> '[1,-1,2,-2,0,0,1,1,3,-3,0,1]' < (SELECT v <+> '[1,-1,2,-2,0,0,1,1,3,-3,0,1]' FROM l1_t WHERE id = 7)
	  ORDER BY v <+> '[1,-1,2,-2,0,0,1,1,3,-3,0,1]'$$);
SELECT * FROM pg_temp.radius_check($$SELECT id FROM l1_t WHERE v <+> '[1,2,3,4,5,6,7,8,9,10,11,12]' < NULL$$);
SELECT '[1,0]'::vector <<+> omendb_within('[2,1]', 2) AS on_edge,
	   '[1,0]'::vector <<+> omendb_within('[2,1]', 1.9) AS outside;

DROP TABLE l1_t, l1_q, l1_clamped, l1_tiny, l1_huge;
