--
-- omendb_radius: radius queries.  "WHERE v <-> q < r" (and <=, and <=> and
-- <#> under their operator classes) is answered by the index, with or
-- without ORDER BY, and returns exactly the rows a sequential scan
-- returns: for radii that match nothing, some rows and every row, at a
-- radius equal to a row's distance, for NULL, NaN, infinite and negative
-- radii and a NULL query, through prepared statements, a partial index,
-- and after deletes, VACUUM and inserts.
--
SET jit = off;

-- check(query): whether query runs as an index scan when sequential scans
-- are off, and then returns the same rows (each once) as a sequential
-- scan, compared by EXCEPT both ways; and how many rows that is.
CREATE FUNCTION pg_temp.check(query text,
	OUT index_scan boolean, OUT missing bigint, OUT extra bigint, OUT nrows bigint)
LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	index_scan := false;
	PERFORM set_config('enable_seqscan', 'off', true);
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		IF line LIKE '%Index Scan using%' THEN
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

-- Rows on a curve through 8 dimensions, some zero vectors (NaN under
-- cosine) and NULLs.
CREATE TABLE r (id int, v vector(8));
INSERT INTO r SELECT i, ARRAY(SELECT sin(i * 0.013 * j + j) * (1 + cos(i * 0.0007))
							  FROM generate_series(1, 8) j)::vector(8)
	FROM generate_series(1, 3000) i;
INSERT INTO r SELECT 3000 + i, '[0,0,0,0,0,0,0,0]' FROM generate_series(1, 3) i;
INSERT INTO r SELECT 3010 + i, NULL FROM generate_series(1, 3) i;
CREATE INDEX r_l2 ON r USING omendb (v vector_l2_ops);
CREATE INDEX r_cos ON r USING omendb (v vector_cosine_ops);
CREATE INDEX r_ip ON r USING omendb (v vector_ip_ops);
ANALYZE r;

-- The plans: the index takes the ball implied by the radius as its
-- condition and keeps the radius as a filter, with and without ORDER BY.
-- (On a table this small a sequential scan costs less than a radius scan,
-- which reads all of the index to be exact: sequential scans are off.)
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM r WHERE v <-> '[1,0,0,0,0,0,0,0]' < 0.5;
EXPLAIN (COSTS OFF) SELECT id FROM r WHERE v <-> '[1,0,0,0,0,0,0,0]' <= 0.5
	ORDER BY v <-> '[1,0,0,0,0,0,0,0]';
EXPLAIN (COSTS OFF) SELECT id FROM r WHERE v <=> '[1,0,0,0,0,0,0,0]' < 0.1;
EXPLAIN (COSTS OFF) SELECT id FROM r WHERE v <#> '[1,0,0,0,0,0,0,0]' < -1
	ORDER BY v <#> '[1,0,0,0,0,0,0,0]';
-- turned around, and the distance function itself
EXPLAIN (COSTS OFF) SELECT id FROM r WHERE 0.5 > '[1,0,0,0,0,0,0,0]' <-> v;
EXPLAIN (COSTS OFF) SELECT id FROM r WHERE l2_distance(v, '[1,0,0,0,0,0,0,0]') < 0.5;
-- not a radius: no ball
EXPLAIN (COSTS OFF) SELECT id FROM r WHERE v <-> '[1,0,0,0,0,0,0,0]' > 0.5;
EXPLAIN (COSTS OFF) SELECT id FROM r WHERE v <+> '[1,0,0,0,0,0,0,0]' < 0.5;
EXPLAIN (COSTS OFF) SELECT id FROM r WHERE v <-> v < 0.5;
-- the ball operators, written out
EXPLAIN (COSTS OFF) SELECT id FROM r WHERE v <<-> omendb_within('[1,0,0,0,0,0,0,0]', 0.5);
SELECT '[1,0,0,0,0,0,0,0]'::vector(8) <<-> omendb_within('[1.5,0,0,0,0,0,0,0]', 0.5) AS on_edge,
	'[1,0,0,0,0,0,0,0]'::vector(8) <<-> omendb_within('[1.5,0,0,0,0,0,0,0]', 0.4) AS outside,
	'[1,0,0,0,0,0,0,0]'::vector(8) <<-> omendb_within('[1.5,0,0,0,0,0,0,0]', NULL) AS null_radius,
	'[1,0,0,0,0,0,0,0]'::vector(8) <<-> ROW(NULL, 1)::omendb_ball AS null_center,
	'[0,0,0,0,0,0,0,0]'::vector(8) <<=> omendb_within('[1,0,0,0,0,0,0,0]', 'Infinity') AS zero_cosine,
	'[1,0,0,0,0,0,0,0]'::vector(8) <<#> omendb_within('[2,0,0,0,0,0,0,0]', -2) AS ip_on_edge;

RESET enable_seqscan;

-- Radii from the exact distances of each metric to a few queries: below
-- the nearest (nothing), at quantiles (some rows), above the farthest
-- (everything); by < and <=, with and without ORDER BY.
CREATE TABLE queries (qid int, q vector(8));
INSERT INTO queries VALUES
	(1, '[1,0,0,0,0,0,0,0]'),
	(2, (SELECT v FROM r WHERE id = 1234)),
	(3, '[0.3,-0.2,0.5,0.1,-0.7,0.2,0.9,-0.4]');
CREATE TABLE radii AS
SELECT qid, op, unnest(ARRAY[
		min(d) - 0.001,
		percentile_disc(0.002) WITHIN GROUP (ORDER BY d),
		percentile_disc(0.03) WITHIN GROUP (ORDER BY d),
		percentile_disc(0.3) WITHIN GROUP (ORDER BY d),
		max(d) + 0.001]) AS radius,
	unnest(ARRAY['none', 'q0.002', 'q0.03', 'q0.3', 'all']) AS what
FROM (SELECT qid, op,
			 CASE op WHEN '<->' THEN v <-> q WHEN '<=>' THEN v <=> q ELSE v <#> q END AS d
	  FROM queries, r, unnest(ARRAY['<->', '<=>', '<#>']) op
	  WHERE v IS NOT NULL AND (op <> '<=>' OR vector_norm(v) > 0)) s
GROUP BY qid, op;

SELECT op, what, cmp, ordered,
	bool_and(c.index_scan) AS index_scan, sum(c.missing) AS missing, sum(c.extra) AS extra,
	CASE what WHEN 'none' THEN bool_and(c.nrows = 0)
			  WHEN 'all' THEN bool_and(c.nrows >= 3000)
			  ELSE bool_and(c.nrows BETWEEN 1 AND 2999) END AS expected_rows
FROM radii, unnest(ARRAY['<', '<=']) cmp, unnest(ARRAY[false, true]) ordered,
	LATERAL pg_temp.check(format('SELECT id FROM r WHERE v %s %L::vector(8) %s %s %s',
		op, (SELECT q FROM queries WHERE queries.qid = radii.qid), cmp, radius,
		CASE WHEN ordered THEN format('ORDER BY v %s %L::vector(8)', op,
			(SELECT q FROM queries WHERE queries.qid = radii.qid)) ELSE '' END)) c
GROUP BY op, what, cmp, ordered
ORDER BY op, what, cmp, ordered;

-- With ORDER BY the rows come out in order of distance, also those the
-- graph search alone would not reach (inner product, radius q0.3).
CREATE FUNCTION pg_temp.in_order(query text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	d float8;
	last float8 := '-Infinity';
	ok boolean := true;
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	FOR d IN EXECUTE query LOOP
		ok := ok AND d >= last;
		last := d;
	END LOOP;
	PERFORM set_config('enable_seqscan', 'on', true);
	RETURN ok;
END
$$;
SELECT op, what, pg_temp.in_order(format('SELECT v %s %L::vector(8) FROM r WHERE v %s %L::vector(8) < %s ORDER BY v %s %L::vector(8)',
		op, q, op, q, radius, op, q)) AS in_order
FROM radii JOIN queries USING (qid)
WHERE what IN ('q0.03', 'q0.3') AND qid = 3
ORDER BY op, what;

-- A radius equal to a row's exact distance: < leaves that row out, <=
-- takes it, by the index as by a sequential scan.
SELECT v <-> '[0.3,-0.2,0.5,0.1,-0.7,0.2,0.9,-0.4]' AS tie FROM r WHERE id = 777 \gset
SELECT c.* FROM pg_temp.check(format(
	'SELECT id FROM r WHERE v <-> %L < %s', '[0.3,-0.2,0.5,0.1,-0.7,0.2,0.9,-0.4]', :'tie')) c;
SELECT c.* FROM pg_temp.check(format(
	'SELECT id FROM r WHERE v <-> %L <= %s', '[0.3,-0.2,0.5,0.1,-0.7,0.2,0.9,-0.4]', :'tie')) c;
SET enable_seqscan = off;
SELECT (SELECT count(*) FROM r WHERE v <-> '[0.3,-0.2,0.5,0.1,-0.7,0.2,0.9,-0.4]' <= :'tie'::float8) -
	(SELECT count(*) FROM r WHERE v <-> '[0.3,-0.2,0.5,0.1,-0.7,0.2,0.9,-0.4]' < :'tie'::float8)
	AS rows_at_the_tie;
SELECT 777 IN (SELECT id FROM r WHERE v <-> '[0.3,-0.2,0.5,0.1,-0.7,0.2,0.9,-0.4]' <= :'tie'::float8)
	AS tie_row_in,
	777 IN (SELECT id FROM r WHERE v <-> '[0.3,-0.2,0.5,0.1,-0.7,0.2,0.9,-0.4]' < :'tie'::float8)
	AS tie_row_out;
RESET enable_seqscan;

-- NULL radius and query, NaN, infinite and negative radii.  A NaN radius
-- takes every row by <= (NaN sorts above every number, zero vectors'
-- NaN distances included) and all but those by <.
SELECT what, c.*
FROM (VALUES
	('null radius', 'SELECT id FROM r WHERE v <-> ''[1,0,0,0,0,0,0,0]'' < NULL'),
	('null query', 'SELECT id FROM r WHERE v <-> NULL::vector(8) < 1'),
	('null query, ordered', 'SELECT id FROM r WHERE v <-> NULL::vector(8) < 1 ORDER BY v <-> NULL::vector(8)'),
	('NaN <', 'SELECT id FROM r WHERE v <-> ''[1,0,0,0,0,0,0,0]'' < ''NaN'''),
	('NaN <=', 'SELECT id FROM r WHERE v <-> ''[1,0,0,0,0,0,0,0]'' <= ''NaN'''),
	('cosine NaN <', 'SELECT id FROM r WHERE v <=> ''[1,0,0,0,0,0,0,0]'' < ''NaN'''),
	('cosine NaN <=', 'SELECT id FROM r WHERE v <=> ''[1,0,0,0,0,0,0,0]'' <= ''NaN'''),
	('cosine Infinity <=', 'SELECT id FROM r WHERE v <=> ''[1,0,0,0,0,0,0,0]'' <= ''Infinity'''),
	('ip Infinity <', 'SELECT id FROM r WHERE v <#> ''[1,0,0,0,0,0,0,0]'' < ''Infinity'''),
	('Infinity, ordered', 'SELECT id FROM r WHERE v <-> ''[1,0,0,0,0,0,0,0]'' < ''Infinity'' ORDER BY v <-> ''[1,0,0,0,0,0,0,0]'''),
	('-Infinity', 'SELECT id FROM r WHERE v <-> ''[1,0,0,0,0,0,0,0]'' < ''-Infinity'''),
	('negative', 'SELECT id FROM r WHERE v <-> ''[1,0,0,0,0,0,0,0]'' <= -1'),
	('ip negative', 'SELECT id FROM r WHERE v <#> ''[1,0,0,0,0,0,0,0]'' <= -1.5'),
	('zero query, cosine', 'SELECT id FROM r WHERE v <=> ''[0,0,0,0,0,0,0,0]'' <= ''NaN'''),
	('two radii', 'SELECT id FROM r WHERE v <-> ''[1,0,0,0,0,0,0,0]'' < 1 AND v <-> ''[1,0,0,0,0,0,0,0]'' < 0.7'),
	('two centers', 'SELECT id FROM r WHERE v <-> ''[1,0,0,0,0,0,0,0]'' < 1 AND v <-> ''[0,1,0,0,0,0,0,0]'' < 1.2'),
	('ordered by another query', 'SELECT id FROM r WHERE v <-> ''[1,0,0,0,0,0,0,0]'' < 1 ORDER BY v <-> ''[0,1,0,0,0,0,0,0]'''),
	('with a LIMIT', 'SELECT id FROM r WHERE v <-> ''[1,0,0,0,0,0,0,0]'' < 1 ORDER BY v <-> ''[1,0,0,0,0,0,0,0]'' LIMIT 1000'),
	('ball written out', 'SELECT id FROM r WHERE v <<=> omendb_within(''[1,0,0,0,0,0,0,0]'', 0.05)'),
	('ball with a NULL center', 'SELECT id FROM r WHERE v <<-> ROW(NULL, 1)::omendb_ball')
	) AS t(what, query), LATERAL pg_temp.check(query) c;

-- A query of the wrong dimension is refused, as by the operator.
SET enable_seqscan = off;
SELECT id FROM r WHERE v <-> '[1,0,0]' < 1;
RESET enable_seqscan;

-- Prepared statements: the query and radius as parameters, in a generic
-- plan and in custom plans.
PREPARE within(vector, float8) AS SELECT id FROM r WHERE v <-> $1 < $2;
PREPARE within_ordered(vector, float8) AS
	SELECT id FROM r WHERE v <-> $1 <= $2 ORDER BY v <-> $1;
SET enable_seqscan = off;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE within('[1,0,0,0,0,0,0,0]', 0.8);
EXPLAIN (COSTS OFF) EXECUTE within_ordered('[1,0,0,0,0,0,0,0]', 0.8);
CREATE TEMP TABLE generic_got AS EXECUTE within('[0.3,-0.2,0.5,0.1,-0.7,0.2,0.9,-0.4]', 1.2);
CREATE TEMP TABLE generic_ordered_got AS EXECUTE within_ordered('[0.3,-0.2,0.5,0.1,-0.7,0.2,0.9,-0.4]', 1.2);
CREATE TEMP TABLE generic_null_got AS EXECUTE within(NULL, 0.8);
SET plan_cache_mode = force_custom_plan;
EXPLAIN (COSTS OFF) EXECUTE within('[1,0,0,0,0,0,0,0]', 0.8);
CREATE TEMP TABLE custom_got AS EXECUTE within('[0.3,-0.2,0.5,0.1,-0.7,0.2,0.9,-0.4]', 1.2);
CREATE TEMP TABLE custom_null_got AS EXECUTE within('[1,0,0,0,0,0,0,0]', NULL);
RESET plan_cache_mode;
RESET enable_seqscan;
SET enable_indexscan = off;
CREATE TEMP TABLE p_want AS SELECT id FROM r WHERE v <-> '[0.3,-0.2,0.5,0.1,-0.7,0.2,0.9,-0.4]' < 1.2;
CREATE TEMP TABLE p_ordered_want AS SELECT id FROM r WHERE v <-> '[0.3,-0.2,0.5,0.1,-0.7,0.2,0.9,-0.4]' <= 1.2;
RESET enable_indexscan;
SELECT (SELECT count(*) FROM p_want) > 10 AS some_rows,
	(SELECT count(*) FROM (TABLE p_want EXCEPT ALL TABLE generic_got) s) AS generic_missing,
	(SELECT count(*) FROM (TABLE generic_got EXCEPT ALL TABLE p_want) s) AS generic_extra,
	(SELECT count(*) FROM (TABLE p_want EXCEPT ALL TABLE custom_got) s) AS custom_missing,
	(SELECT count(*) FROM (TABLE custom_got EXCEPT ALL TABLE p_want) s) AS custom_extra,
	(SELECT count(*) FROM (TABLE p_ordered_want EXCEPT ALL TABLE generic_ordered_got) s) AS ordered_missing,
	(SELECT count(*) FROM (TABLE generic_ordered_got EXCEPT ALL TABLE p_ordered_want) s) AS ordered_extra,
	(SELECT count(*) FROM generic_null_got) + (SELECT count(*) FROM custom_null_got) AS null_rows;

-- A partial index: used when the query implies its predicate.
CREATE INDEX r_l2_even ON r USING omendb (v) WHERE id % 2 = 0;
DROP INDEX r_l2;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM r WHERE id % 2 = 0 AND v <-> '[1,0,0,0,0,0,0,0]' < 0.8;
RESET enable_seqscan;
SELECT c.* FROM pg_temp.check(
	'SELECT id FROM r WHERE id % 2 = 0 AND v <-> ''[1,0,0,0,0,0,0,0]'' < 1.2') c;
SELECT c.* FROM pg_temp.check(
	'SELECT id FROM r WHERE id % 2 = 0 AND v <-> ''[1,0,0,0,0,0,0,0]'' <= 1.5 ORDER BY v <-> ''[1,0,0,0,0,0,0,0]''') c;
DROP INDEX r_l2_even;
CREATE INDEX r_l2 ON r USING omendb (v vector_l2_ops);

-- With omendb.radius_exact off the scan stops with its graph search: it
-- may miss rows the search does not reach, but returns none outside the
-- radius.
SET omendb.radius_exact = off;
SELECT op, bool_and(c.index_scan) AS index_scan, sum(c.extra) AS extra
FROM radii, LATERAL pg_temp.check(format('SELECT id FROM r WHERE v %s %L::vector(8) < %s',
		op, (SELECT q FROM queries WHERE queries.qid = radii.qid), radius)) c
GROUP BY op ORDER BY op;
RESET omendb.radius_exact;

-- Deletes, VACUUM and inserts: nothing within the radius is lost.
DELETE FROM r WHERE id % 3 = 0 OR id BETWEEN 1100 AND 1400;
VACUUM r;
INSERT INTO r SELECT 5000 + i, ARRAY(SELECT cos(i * 0.021 * j - j) * (1 + sin(i * 0.0011))
									 FROM generate_series(1, 8) j)::vector(8)
	FROM generate_series(1, 1500) i;
ANALYZE r;
SELECT op, what, cmp,
	bool_and(c.index_scan) AS index_scan, sum(c.missing) AS missing, sum(c.extra) AS extra
FROM radii, unnest(ARRAY['<', '<=']) cmp,
	LATERAL pg_temp.check(format('SELECT id FROM r WHERE v %s %L::vector(8) %s %s',
		op, (SELECT q FROM queries WHERE queries.qid = radii.qid), cmp, radius)) c
GROUP BY op, what, cmp
ORDER BY op, what, cmp;
