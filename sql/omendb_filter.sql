--
-- omendb_filter: filter columns, the key columns after the vector.  Every
-- supported type and operator (int2, int4 and int8 with constants of any
-- width, bool, date, timestamp, timestamptz, text and varchar, uuid,
-- arrays), IN lists and = ANY, NULL constants and NULL columns, AND of
-- quals on several columns, a filter nothing passes, LIMIT 10 at about 1%
-- selectivity, prepared statements and rescans with other keys, a radius
-- qual with a filter, zero vectors under cosine, an index built empty, a
-- partial index, deletes, VACUUM and inserts into the freed slots: in
-- each case the index returns exactly the rows a sequential scan returns,
-- and under LIMIT in the same order.  Data comes from hashint4, not
-- random(), so that every run and every PostgreSQL version sees the same
-- rows.
--
SET jit = off;

-- check(query, ordered): whether query, run with sequential scans off,
-- scans an omendb index, how many rows it returns, and whether they are
-- the rows a sequential scan returns (in the same order when ordered, as
-- a set otherwise).
CREATE FUNCTION pg_temp.check(query text, ordered boolean DEFAULT true,
	OUT uses_index boolean, OUT nrows int, OUT exact boolean)
LANGUAGE plpgsql AS $$
DECLARE
	line text;
	r record;
	got text[] := '{}';
	want text[] := '{}';
BEGIN
	uses_index := false;
	PERFORM set_config('enable_seqscan', 'off', true);
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		IF EXISTS (SELECT FROM pg_class c JOIN pg_am a ON a.oid = c.relam
				   WHERE a.amname = 'omendb'
					 AND c.relname = substring(line from 'Index Scan using (\w+) on')) THEN
			uses_index := true;
		END IF;
	END LOOP;
	FOR r IN EXECUTE query LOOP
		got := got || r::text;
	END LOOP;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	FOR r IN EXECUTE query LOOP
		want := want || r::text;
	END LOOP;
	PERFORM set_config('enable_indexscan', 'on', true);
	PERFORM set_config('enable_bitmapscan', 'on', true);
	nrows := cardinality(got);
	IF ordered THEN
		exact := got = want;
	ELSE
		exact := ARRAY(SELECT unnest(got) ORDER BY 1) = ARRAY(SELECT unnest(want) ORDER BY 1);
	END IF;
END
$$;

-- knn(table, filter, op): a filter checked two ways on a table's omendb
-- index, with one query vector: all the rows that pass it, in order of
-- distance, and the 10 nearest of them.  uses_index: both scan the
-- omendb index; matching: the rows a sequential scan finds; same_rows:
-- the index returns exactly those rows, each once (as a set: a row the
-- graph reaches late comes out of order, as without a filter);
-- same_top10: under LIMIT 10 it returns the 10 nearest (or all when
-- fewer pass), in the same order as a sequential scan.
CREATE FUNCTION pg_temp.knn(tab text, filter text, op text DEFAULT '<->',
	OUT uses_index boolean, OUT matching int,
	OUT same_rows boolean, OUT same_top10 boolean)
LANGUAGE plpgsql AS $$
DECLARE
	q text := format('SELECT id FROM %I WHERE %s ORDER BY v %s %L', tab, filter, op,
					 '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]');
	a record;
	t record;
BEGIN
	SELECT * INTO a FROM pg_temp.check(q, false);
	SELECT * INTO t FROM pg_temp.check(q || ' LIMIT 10', true);
	uses_index := a.uses_index AND t.uses_index;
	PERFORM set_config('enable_indexscan', 'off', true);
	EXECUTE format('SELECT count(*) FROM %I WHERE %s', tab, filter) INTO matching;
	PERFORM set_config('enable_indexscan', 'on', true);
	same_rows := a.exact AND a.nrows = matching;
	same_top10 := t.exact AND t.nrows = least(matching, 10);
END
$$;

-- vec(i): 8 pseudo-random coordinates in [0, 1) from i, distinct for
-- distinct i.
CREATE FUNCTION pg_temp.vec(i int) RETURNS vector LANGUAGE sql IMMUTABLE AS $$
	SELECT array_agg((hashint4(i * 8 + j) & 65535) / 65536.0 ORDER BY j)::real[]::vector
	FROM generate_series(0, 7) j
$$;

-- 3,000 rows with a column of each filter type, from a hash h of the row
-- number, each column NULL in some rows.  i4 takes 128 values (each
-- about 0.8% of the rows), t and vc 64, u 64; d has infinities, t an
-- empty string and a long (TOASTed) value; tags are 1 to 4 of 32 values,
-- empty, with a NULL element, or two-dimensional; ttags slices of
-- {red,green,blue,cyan}, some empty.
CREATE TABLE flt (id int PRIMARY KEY, v vector(8),
	i2 int2, i4 int4, i8 int8, b bool, d date, ts timestamp, tz timestamptz,
	t text, vc varchar(40), u uuid, tags int[], ttags text[]);
CREATE FUNCTION pg_temp.fill(tab text, first int, last int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format($q$
	INSERT INTO %I
	SELECT i, pg_temp.vec(i),
		CASE WHEN i %% 41 = 0 THEN NULL ELSE ((h >> 4) & 1023) - 512 END,
		CASE WHEN i %% 37 = 0 THEN NULL ELSE h & 127 END,
		CASE WHEN i %% 43 = 0 THEN NULL ELSE i::int8 * 1000003 - 1500000000 END,
		CASE WHEN i %% 31 = 0 THEN NULL ELSE ((h >> 7) & 3) = 0 END,
		CASE WHEN i %% 29 = 0 THEN NULL WHEN i %% 500 = 1 THEN 'infinity'
			 WHEN i %% 500 = 2 THEN '-infinity'
			 ELSE date '2020-01-01' + ((h >> 9) & 1023) END,
		CASE WHEN i %% 23 = 0 THEN NULL
			 ELSE timestamp '2020-01-01' + ((h >> 3) & 65535) * interval '1 minute' END,
		CASE WHEN i %% 19 = 0 THEN NULL
			 ELSE timestamptz '2020-01-01 00:00+00' + ((h >> 5) & 4095) * interval '1 hour' END,
		CASE WHEN i %% 17 = 0 THEN NULL WHEN i %% 400 = 3 THEN ''
			 WHEN i %% 1000 = 4 THEN (SELECT string_agg(md5((i * 1000 + g)::text), '' ORDER BY g)
									 FROM generate_series(1, 300) g)
			 ELSE 'c' || ((h >> 11) & 63) END,
		CASE WHEN i %% 13 = 0 THEN NULL ELSE 'c' || ((h >> 11) & 63) END,
		CASE WHEN i %% 11 = 0 THEN NULL ELSE md5(((h >> 13) & 63)::text)::uuid END,
		CASE WHEN i %% 7 = 0 THEN NULL WHEN i %% 300 = 5 THEN '{}'
			 WHEN i %% 300 = 6 THEN ARRAY[(h >> 15) & 31, NULL]
			 WHEN i %% 300 = 7 THEN '{{1,2},{3,4}}'
			 ELSE ARRAY(SELECT hashint4(i * 5 + k) & 31
						FROM generate_series(1, 1 + ((h >> 20) & 3)) k) END,
		CASE WHEN i %% 5 = 0 THEN NULL
			 ELSE (ARRAY['red', 'green', 'blue', 'cyan'])[1 + (h & 3):1 + ((h >> 2) & 3)] END
	FROM (SELECT i, hashint4(i * 7919) AS h FROM generate_series(%s, %s) i) s
	$q$, tab, first, last);
END
$$;
SELECT pg_temp.fill('flt', 1, 3000);
CREATE INDEX flt_idx ON flt USING omendb (v vector_l2_ops, i2, i4, i8, b, d, ts, tz, t, vc, u, tags, ttags);
ANALYZE flt;

-- The index's columns: the vector, then a filter column of each type,
-- each with its type's default filter class.
SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type, c.opcname
FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indexrelid
JOIN pg_opclass c ON c.oid = i.indclass[a.attnum - 1]
WHERE i.indexrelid = 'flt_idx'::regclass ORDER BY a.attnum;

-- The quals on filter columns are Index Conds of the ordered scan: of
-- every width of integer, with a constant of another width, date,
-- timestamp, timestamptz, text (also on a varchar column), uuid, arrays.
-- Quals the filter classes lack (text <, <>) stay filters of the
-- executor.  (Whether the planner gives an ordered scan the IN lists and
-- boolean quals on columns after the first depends on the PostgreSQL
-- version; the results are checked below either way.)
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM flt
WHERE i2 = 5::int8 AND i4 >= 3 AND i8 < 100 AND vc = 'c5' AND tags && '{3}'
ORDER BY v <-> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM flt
WHERE u = md5('7')::uuid AND ttags @> '{red}' AND d BETWEEN '2020-03-01' AND '2020-06-01'
  AND ts > '2020-01-02' AND tz <= '2020-06-01 00:00+00' AND t = 'c1' AND tags <@ '{1,2,3}'
ORDER BY v <-> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM flt
WHERE t < 'c5' AND i4 <> 7 AND i2 = 3
ORDER BY v <-> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]' LIMIT 10;
-- Under a ball condition, without ORDER BY, an IN list is one = ANY key.
EXPLAIN (COSTS OFF) SELECT id FROM flt
WHERE v <<-> omendb_within('[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]', 0.9) AND i4 IN (1, 2, NULL);
RESET enable_seqscan;

-- Integers: every operator, on each width, with constants of the same
-- and of the other widths (the integer_ops family's cross-type
-- operators), constants beyond the column's range, BETWEEN, IN lists and
-- = ANY of each width, with NULL elements.
SELECT n, filter, k.* FROM (VALUES
	(1, 'i4 = 7'),
	(2, 'i4 < 3'),
	(3, 'i4 <= 3'),
	(4, 'i4 > 124'),
	(5, 'i4 >= 124'),
	(6, 'i4 BETWEEN 60 AND 62'),
	(7, 'i4 IN (1, 2, 3)'),
	(8, 'i4 IN (5, NULL)'),
	(9, 'i4 = ANY (ARRAY[9, NULL, 11])'),
	(10, 'i4 = 7::int2'),
	(11, 'i4 = 7::int8'),
	(12, 'i4 < 3::int8'),
	(13, 'i4 > 124::int2'),
	(14, 'i4 = 5000000000'),
	(15, 'i4 < 5000000000'),
	(16, 'i4 > -5000000000'),
	(17, 'i4 = ANY (''{1,2,5000000000}''::int8[])'),
	(18, 'i4 <> 7'),
	(19, 'i2 = 5'),
	(20, 'i2 = 5::int8'),
	(21, 'i2 < -500'),
	(22, 'i2 <= -500::int8'),
	(23, 'i2 > 500'),
	(24, 'i2 >= 500::int4'),
	(25, 'i2 < 100000'),
	(26, 'i2 > -100000'),
	(27, 'i2 > 40000::int8'),
	(28, 'i2 BETWEEN -3 AND 3'),
	(29, 'i2 IN (0, 1, 2)'),
	(30, 'i2 = ANY (ARRAY[0, NULL, 1]::int8[])'),
	(31, 'i8 = -1498999997'),
	(32, 'i8 = 1500000000'),
	(33, 'i8 < -1497000000'),
	(34, 'i8 <= -1496999991::int8'),
	(35, 'i8 > 1500000000'),
	(36, 'i8 >= 1499000000'),
	(37, 'i8 < 5::int2'),
	(38, 'i8 > 5::int4'),
	(39, 'i8 BETWEEN -1000 AND 2000000'),
	(40, 'i8 IN (-1498999997, -1497999994, 3)'),
	(41, 'i8 = ANY (ARRAY[-1498999997, NULL]::int8[])'),
	(42, 'i8 < ANY (ARRAY[-1497000000, -1498000000])'),
	(43, 'i4 < ALL (ARRAY[5, 10])')
) v(n, filter), LATERAL pg_temp.knn('flt', filter) k ORDER BY n;

-- bool, date, timestamp, timestamptz: integer labels too, every operator
-- exact, infinities included.  A bare boolean column and NOT, IS TRUE
-- are the executor's, and so are b = true, b = false and b IN (true),
-- which the planner simplifies to b or NOT b, and b = ANY (...), which it
-- passes to an ordered scan on the first column only (README.md).
SELECT n, filter, k.* FROM (VALUES
	(1, 'b = true'),
	(2, 'b = false'),
	(3, 'b IN (true)'),
	(4, 'b = ANY (ARRAY[false, NULL])'),
	(5, 'b'),
	(6, 'NOT b'),
	(7, 'b IS NOT TRUE'),
	(8, 'd = ''2021-03-04'''),
	(9, 'd < ''2020-02-01'''),
	(10, 'd <= ''2020-02-01'''),
	(11, 'd > ''2022-10-01'''),
	(12, 'd >= ''2022-10-01'''),
	(13, 'd BETWEEN ''2021-01-01'' AND ''2021-01-15'''),
	(14, 'd IN (''2021-03-04'', ''2021-03-05'', NULL)'),
	(15, 'd = ''infinity'''),
	(16, 'd < ''-infinity'''),
	(17, 'd > ''2030-01-01'''),
	(18, 'd <= ''-infinity'''),
	(19, 'd < timestamp ''2020-02-01 12:00'''),
	(20, 'ts = ''2020-01-04 15:29'''),
	(21, 'ts < ''2020-01-02'''),
	(22, 'ts <= ''2020-01-02'''),
	(23, 'ts > ''2020-02-15'''),
	(24, 'ts >= ''2020-02-15'''),
	(25, 'ts BETWEEN ''2020-01-20'' AND ''2020-01-21 12:00'''),
	(26, 'ts IN (''2020-01-04 15:29'', ''2020-01-28 17:36'')'),
	(27, 'tz = ''2020-02-24 16:00+00'''),
	(28, 'tz < ''2020-01-03 00:00+00'''),
	(29, 'tz <= ''2020-01-03 01:00+01'''),
	(30, 'tz > ''2020-06-15 00:00+00'''),
	(31, 'tz >= ''2020-06-15 00:00+00'''),
	(32, 'tz BETWEEN ''2020-03-01 00:00+00'' AND ''2020-03-03 00:00-05'''),
	(33, 'tz IN (''2020-02-24 16:00+00'', ''2020-03-15 17:00+01'')')
) v(n, filter), LATERAL pg_temp.knn('flt', filter) k ORDER BY n;

-- text, varchar and uuid: hash labels, = and IN.  The empty string, a
-- TOASTed value, a value no row has; varchar compared as text and as
-- varchar.  Text's other operators are the executor's.
SELECT n, filter, k.* FROM (VALUES
	(1, 't = ''c5'''),
	(2, 't IN (''c5'', ''c6'', NULL)'),
	(3, 't = ANY (ARRAY[''c7'', ''c8''])'),
	(4, 't = '''''),
	(5, 't = (SELECT string_agg(md5((4000 + g)::text), '''' ORDER BY g) FROM generate_series(1, 300) g)'),
	(6, 't = ''no such value'''),
	(7, 't < ''c2'''),
	(8, 't LIKE ''c1%'''),
	(9, 'vc = ''c5'''),
	(10, 'vc = ''c5''::varchar'),
	(11, 'vc IN (''c5'', ''c6'')'),
	(12, 'vc = ANY (ARRAY[''c9'', NULL]::varchar[])'),
	(13, 'u = md5(''7'')::uuid'),
	(14, 'u IN (md5(''7'')::uuid, md5(''8'')::uuid)'),
	(15, 'u = ''00000000-0000-0000-0000-000000000000''')
) v(n, filter), LATERAL pg_temp.knn('flt', filter) k ORDER BY n;

-- Arrays: signature labels for && @> <@ and =.  Empty constants, NULL
-- elements (in rows and in constants), a two-dimensional array, text
-- arrays; <> is the executor's.
SELECT n, filter, k.* FROM (VALUES
	(1, 'tags && ''{3}'''),
	(2, 'tags && ''{3,17,30}'''),
	(3, 'tags @> ''{3}'''),
	(4, 'tags @> ''{3,4}'''),
	(5, 'tags <@ ''{1,2,3,4,5,6,7,8,9,10,11,12}'''),
	(6, 'tags <@ ''{3}'''),
	(7, 'tags = ''{1,2}'''),
	(8, 'tags = ''{{1,2},{3,4}}'''),
	(9, 'tags @> ''{1,2,3,4}'''),
	(10, 'tags && ''{}'''),
	(11, 'tags @> ''{}'''),
	(12, 'tags <@ ''{}'''),
	(13, 'tags = ''{}'''),
	(14, 'tags @> ''{NULL}'''),
	(15, 'tags && ''{NULL,5}'''),
	(16, 'tags = (SELECT tags FROM flt WHERE id = 6)'),
	(17, 'tags <@ ''{5,NULL}'''),
	(18, 'tags <> ''{1,2}'''),
	(19, 'ttags && ''{red}'''),
	(20, 'ttags @> ''{green,blue}'''),
	(21, 'ttags <@ ''{red,green}'''),
	(22, 'ttags = ''{cyan}'''),
	(23, 'ttags = ''{}''')
) v(n, filter), LATERAL pg_temp.knn('flt', filter) k ORDER BY n;

-- NULLs.  A NULL constant matches nothing (written out, the planner
-- folds the qual to false and scans nothing), and so does an IN list or
-- an array of NULLs alone; constants from subqueries reach the index as
-- keys at run time, where NULL is possible.  A NULL filter column fails
-- every qual on it, and no other: IS NULL is the executor's.
SELECT n, filter, k.* FROM (VALUES
	(1, 'i4 = NULL'),
	(2, 'i4 = (SELECT NULL::int)'),
	(3, 'i4 < (SELECT NULL::int8)'),
	(4, 't = (SELECT NULL::text)'),
	(5, 'tags && (SELECT NULL::int[])'),
	(6, 'i4 IN (NULL, NULL)'),
	(7, 'i4 = ANY ((SELECT ''{NULL,NULL}''::int[])::int[])'),
	(8, 'i4 = ANY ((SELECT NULL::int[])::int[])'),
	(9, 'i4 = ANY (''{}''::int[])'),
	(10, 'i4 IS NULL'),
	(11, 'i4 IS NULL AND i2 > 0'),
	(12, 'i2 IS NOT NULL AND i4 > 100'),
	(13, 'i4 = (SELECT 7)'),
	(14, 'i4 = ANY ((SELECT ARRAY[7, NULL, 8])::int[])')
) v(n, filter), LATERAL pg_temp.knn('flt', filter) k ORDER BY n;

-- A NULL constant, or a parameter that is NULL, ends the scan before it
-- meets a node.
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM flt WHERE i4 = (SELECT NULL::int)
					  ORDER BY v <-> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]' LIMIT 10) s;
SELECT nodes_met, rows_returned FROM omendb_scan_stats() WHERE scope = 'last_scan';
SELECT count(*) FROM flt WHERE v <<-> omendb_within('[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]', 0.9)
	AND i4 = ANY ((SELECT '{NULL}'::int[])::int[]);
SELECT nodes_met, rows_returned FROM omendb_scan_stats() WHERE scope = 'last_scan';
RESET enable_seqscan;

-- IN lists and = ANY arrays, under a ball condition without ORDER BY
-- (where the planner of every PostgreSQL version may make them index
-- keys, as above): a row passes if it matches any element; NULL elements
-- match nothing, and neither does a list of NULLs alone or an empty
-- array; constants of another integer width.
SELECT n, filter, k.* FROM (VALUES
	(1, 'i4 IN (1, 2, 3)'),
	(2, 'i4 IN (1, 2, NULL)'),
	(3, 'i4 IN (NULL, NULL)'),
	(4, 'i4 = ANY (''{}''::int[])'),
	(5, 'i4 = ANY ((SELECT ''{NULL,NULL}''::int[])::int[])'),
	(6, 'i4 = ANY (''{1,2,5000000000}''::int8[])'),
	(7, 'i2 = ANY (''{-1,0,1,2,3,4,5,6,7,8,9,10}''::int8[])'),
	(8, 'i8 IN (-1498999997, -1497999994, -1496999991, 3)'),
	(9, 'i4 < ANY (''{3,NULL}''::int[])'),
	(10, 'i4 >= ANY (ARRAY[125, 126]::int2[])'),
	(11, 'b IN (false)'),
	(12, 'b = ANY (ARRAY[true, NULL])'),
	(13, 'd IN (''2021-03-04'', ''2021-03-05'', ''infinity'', NULL)'),
	(14, 'ts = ANY (ARRAY[''2020-01-04 15:29'', ''2020-01-28 17:36'']::timestamp[])'),
	(15, 'tz IN (''2020-02-24 16:00+00'', ''2020-03-15 17:00+01'')'),
	(16, 't IN (''c1'', ''c2'', '''', NULL)'),
	(17, 'vc IN (''c1'', ''c2'')'),
	(18, 'u IN (md5(''1'')::uuid, md5(''2'')::uuid, NULL)'),
	(19, 'i4 IN (1, 2, 3) AND t IN (''c1'', ''c2'', ''c3'') AND i2 > 0')
) v(n, filter), LATERAL pg_temp.check(format(
	'SELECT id FROM flt WHERE v <<-> omendb_within(%L, 0.9) AND %s',
	'[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]', filter), false) k
ORDER BY n;

-- AND of quals on several columns, of every kind; with quals the
-- executor applies beside them; and filters nothing passes.
CREATE TEMP TABLE and_filters (n, filter) AS VALUES
	(1, 'i4 < 64 AND b = true'),
	(2, 'i4 < 64 AND t IN (''c1'', ''c2'', ''c3'', ''c4'') AND tags && ''{1,2,3,4,5,6,7,8}'''),
	(3, 'i2 > 0 AND i8 < 0 AND d >= ''2021-01-01'' AND ts < ''2020-02-01'''),
	(4, 'tz < ''2020-04-01 00:00+00'' AND u IN (md5(''1'')::uuid, md5(''2'')::uuid, md5(''3'')::uuid)'),
	(5, 'vc = ''c5'' AND t = ''c5'''),
	(6, 'ttags @> ''{red}'' AND tags <@ ''{1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16}'''),
	(7, 'i4 = 7 AND i4 >= 8'),
	(8, 'i4 > 10 AND i4 < 10'),
	(9, 'i4 < 64 AND (i2 < 0 OR b = true) AND id % 2 = 0'),
	(10, 'i4 = -1'),
	(11, 't = ''c5'' AND vc = ''c6'''),
	(12, 'tags @> ''{1,2,3,4,5,6}''');
SELECT n, filter, k.* FROM and_filters, LATERAL pg_temp.knn('flt', filter) k ORDER BY n;

-- The same, with the label directory off: the scans walk the graph (and
-- sweep every node page past a budget), and answer alike.
SET omendb.label_directory = off;
SELECT n, filter, k.* FROM and_filters, LATERAL pg_temp.knn('flt', filter) k ORDER BY n;
RESET omendb.label_directory;
DROP TABLE and_filters;

-- A filter nothing passes ends the scan after one pass over the label
-- directory, which no entry passes: no node met, no row returned.  (A
-- sample of the directory's pages tells the scan not to search at all.)
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM flt WHERE i4 = -1
					  ORDER BY v <-> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]' LIMIT 10) s;
SELECT nodes_met = 0 AS "no node met", rows_returned FROM omendb_scan_stats() WHERE scope = 'last_scan';
SELECT count(*) FROM (SELECT id FROM flt WHERE t = 'no such value'
					  ORDER BY v <-> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]' LIMIT 10) s;
SELECT nodes_met = 0 AS "no node met", rows_returned FROM omendb_scan_stats() WHERE scope = 'last_scan';
-- With the directory off, the scan sweeps every node page instead.
SET omendb.label_directory = off;
SELECT count(*) FROM (SELECT id FROM flt WHERE i4 = -1
					  ORDER BY v <-> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]' LIMIT 10) s;
SELECT nodes_met = 3000 AS "every node met", rows_returned FROM omendb_scan_stats() WHERE scope = 'last_scan';
RESET omendb.label_directory;
RESET enable_seqscan;

-- LIMIT 10 returns the 10 nearest rows that pass, in order, for 20 query
-- vectors each: filters passing about 1% of the rows (the exact one on
-- i4, the hashed one on t, an array's), 2%, 10% and 25%.
CREATE TABLE flt_queries (qid int PRIMARY KEY, q vector(8));
INSERT INTO flt_queries SELECT g, pg_temp.vec(100000 + g) FROM generate_series(1, 20) g;
CREATE FUNCTION pg_temp.top10(filter text, OUT exact int, OUT short int) LANGUAGE plpgsql AS $$
DECLARE
	c record;
BEGIN
	exact := 0;
	short := 0;
	FOR c IN SELECT k.* FROM flt_queries, LATERAL pg_temp.check(format(
			'SELECT id FROM flt WHERE %s ORDER BY v <-> %L LIMIT 10', filter, q::text)) k
			ORDER BY qid LOOP
		exact := exact + (c.uses_index AND c.exact)::int;
		short := short + (c.nrows < 10)::int;
	END LOOP;
END
$$;
SELECT n, filter, t.exact AS "exact (of 20)", t.short AS "fewer than 10 (of 20)" FROM (VALUES
	(1, 'i4 = 7'),
	(2, 't = ''c9'''),
	(3, 'tags @> ''{3,4}'''),
	(4, 'i4 BETWEEN 20 AND 21'),
	(5, 'i4 < 13'),
	(6, 'b = true')
) v(n, filter), LATERAL pg_temp.top10(filter) t ORDER BY n;
-- The index hands the executor only the rows that pass an exact filter:
-- at about 1%, a LIMIT 10 query gets few more than 10 rows from it, out
-- of many nodes met walking (with the label directory off; through it,
-- the scan meets only the rows that pass past its initial search).
SET enable_seqscan = off;
SET omendb.label_directory = off;
SELECT count(*) FROM (SELECT id FROM flt WHERE i4 = 7
					  ORDER BY v <-> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]' LIMIT 10) s;
SELECT rows_returned < 20 AS "few rows returned", nodes_met > 10 * rows_returned AS "many nodes met"
FROM omendb_scan_stats() WHERE scope = 'last_scan';
RESET omendb.label_directory;
RESET enable_seqscan;

-- A filter that few rows pass (i4 = 7: 12 rows; i4 BETWEEN 20 AND 23:
-- 112) reads the label directory instead of walking: it meets only the
-- rows whose entries pass, expands no node, and returns them in exact
-- order.  A walk to the 40th row of i4 BETWEEN 20 AND 21 took 403 to
-- 2,215 expansions.
CREATE FUNCTION pg_temp.walk(filter text, lim int, OUT exact boolean, OUT nrows int,
	OUT swept bigint, OUT met bigint, OUT expanded bigint) LANGUAGE plpgsql AS $$
DECLARE
	c record;
BEGIN
	SELECT * INTO c FROM pg_temp.check(format('SELECT id FROM flt WHERE %s ORDER BY v <-> %L LIMIT %s',
		filter, '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]', lim));
	exact := c.uses_index AND c.exact;
	nrows := c.nrows;
	SELECT swept_rows, nodes_met, nodes_expanded INTO swept, met, expanded
	FROM omendb_scan_stats() WHERE scope = 'last_scan';
END
$$;
SELECT f, w.exact, w.nrows, w.met = w.swept AS only_passing_rows_met,
	   w.expanded = 0 AS no_node_expanded
FROM (VALUES ('i4 = 7'), ('i4 BETWEEN 20 AND 21'), ('i4 BETWEEN 20 AND 23')) v(f),
	LATERAL pg_temp.walk(f, 40) w;
RESET enable_seqscan;

-- An exhaustive search list returns every row that passes in exact
-- order, whatever the graph's shape.
SET omendb.search_list_size = 10000;
SELECT n, filter, k.* FROM (VALUES
	(1, 'i4 = 7'),
	(2, 't IN (''c1'', ''c2'')'),
	(3, 'tags && ''{5}'' AND b = false'),
	(4, 'd < ''2020-06-01''')
) v(n, filter), LATERAL pg_temp.check(format(
	'SELECT id FROM flt WHERE %s ORDER BY v <-> %L', filter, '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]')) k
ORDER BY n;
RESET omendb.search_list_size;

-- Rescans with other keys: the inner side of a nested loop, one scan per
-- probe with its own category and query, a NULL category among them,
-- every row that passes and the 5 nearest.
CREATE TABLE flt_probe (pid int PRIMARY KEY, cat int, q vector(8));
INSERT INTO flt_probe SELECT g, CASE WHEN g = 5 THEN NULL ELSE g * 3 END, pg_temp.vec(200000 + g)
FROM generate_series(1, 12) g;
SELECT * FROM pg_temp.check($$
	SELECT p.pid, s.id FROM flt_probe p CROSS JOIN LATERAL (
		SELECT id FROM flt WHERE i4 = p.cat ORDER BY v <-> p.q) s$$, false);
SELECT * FROM pg_temp.check($$
	SELECT p.pid, s.id FROM flt_probe p CROSS JOIN LATERAL (
		SELECT id FROM flt WHERE i4 > p.cat AND tags && ARRAY[p.pid] ORDER BY v <-> p.q) s$$, false);
SELECT * FROM pg_temp.check($$
	SELECT p.pid, s.id FROM flt_probe p CROSS JOIN LATERAL (
		SELECT id FROM flt WHERE i4 = p.cat ORDER BY v <-> p.q LIMIT 5) s$$);

-- A prepared statement's generic plan: its keys are parameters, NULL
-- ones included.
SET plan_cache_mode = force_generic_plan;
PREPARE flt_by(int, text) AS
	SELECT id FROM flt WHERE i4 < $1 AND t = $2 ORDER BY v <-> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]';
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) EXECUTE flt_by(64, 'c5');
CREATE TEMP TABLE flt_got1 AS EXECUTE flt_by(64, 'c5');
CREATE TEMP TABLE flt_got2 AS EXECUTE flt_by(NULL, 'c5');
SELECT nodes_met FROM omendb_scan_stats() WHERE scope = 'last_scan';
CREATE TEMP TABLE flt_got3 AS EXECUTE flt_by(100, NULL);
RESET enable_seqscan;
SELECT (SELECT array_agg(id ORDER BY id) FROM flt_got1) =
	   (SELECT array_agg(id ORDER BY id) FROM flt WHERE i4 < 64 AND t = 'c5') AS same_rows,
	   (SELECT count(*) FROM flt_got1) AS n1,
	   (SELECT count(*) FROM flt_got2) AS n2,
	   (SELECT count(*) FROM flt_got3) AS n3;
DEALLOCATE flt_by;
RESET plan_cache_mode;

-- A radius qual and a filter: the index takes the ball the radius
-- implies and the filter, with and without ORDER BY, or the ball written
-- out; the rows are those of a sequential scan.  (A radius query alone
-- is the index's too, filter columns or not.)
SELECT * FROM pg_temp.check($$
	SELECT id FROM flt WHERE v <-> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]' < 0.6$$, false);
SELECT * FROM pg_temp.check($$
	SELECT id FROM flt WHERE v <-> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]' < 0.6 AND i4 < 40$$, false);
SELECT * FROM pg_temp.check($$
	SELECT id FROM flt WHERE v <-> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]' <= 0.6 AND t IN ('c1', 'c2', 'c3')
	ORDER BY v <-> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]'$$, false);
SELECT * FROM pg_temp.check($$
	SELECT id FROM flt WHERE v <-> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]' < 0.6 AND i4 = -1$$, false);
SELECT * FROM pg_temp.check($$
	SELECT id FROM flt WHERE v <<-> omendb_within('[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]', 0.6)
	AND i4 < 40 AND tags && '{1,2,3}'$$, false);
SELECT * FROM pg_temp.check($$
	SELECT id FROM flt WHERE v <<-> omendb_within('[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]', 0.6)
	AND d >= '2021-01-01' ORDER BY v <-> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]'$$, false);

-- Under cosine, zero vectors (NaN distance to everything) come last, as
-- in a sequential scan, and a filter applies to them as to any row.
CREATE TABLE flt_cos (id int PRIMARY KEY, v vector(8), cat int, tags text[]);
INSERT INTO flt_cos SELECT i, pg_temp.vec(i), i % 10, ARRAY['t' || (i % 3)] FROM generate_series(1, 1000) i;
INSERT INTO flt_cos SELECT 1000 + i, '[0,0,0,0,0,0,0,0]', i % 4, ARRAY['t' || (i % 3)]
FROM generate_series(1, 12) i;
CREATE INDEX flt_cos_idx ON flt_cos USING omendb (v vector_cosine_ops, cat, tags);
-- (and zero vectors inserted after the build)
INSERT INTO flt_cos SELECT 1100 + i, '[0,0,0,0,0,0,0,0]', i % 4, ARRAY['t' || (i % 3)]
FROM generate_series(1, 4) i;
SELECT n, filter, k.* FROM (VALUES
	(1, 'cat = 1'),
	(2, 'cat = 1 AND tags && ''{t1}'''),
	(3, 'cat >= 2 AND cat <= 3'),
	(4, 'cat = 11')
) v(n, filter), LATERAL pg_temp.knn('flt_cos', filter, '<=>') k ORDER BY n;
SET enable_seqscan = off;
SELECT count(*) AS nrows, array_agg(n ORDER BY n) FILTER (WHERE id > 1000) AS "zero vectors at"
FROM (SELECT id, row_number() OVER () AS n
	  FROM (SELECT id FROM flt_cos WHERE cat = 1 ORDER BY v <=> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]') s) s2;
RESET enable_seqscan;
SELECT * FROM pg_temp.check($$
	SELECT id FROM flt_cos WHERE v <=> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]' < 0.1 AND cat = 3$$, false);
SELECT * FROM pg_temp.check($$
	SELECT id FROM flt_cos WHERE v <<=> omendb_within('[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]', 0.1)
	AND cat = 3 AND tags && '{t0,t2}'$$, false);
SELECT live_nodes, deleted_nodes FROM omendb_check('flt_cos_idx', true);

-- Expressions and a domain as filter columns.
CREATE DOMAIN flt_small AS int CHECK (VALUE < 1000);
CREATE TABLE flt_expr (id int PRIMARY KEY, v vector(8), c flt_small, t text);
INSERT INTO flt_expr SELECT id, v, i4, t FROM flt;
CREATE INDEX flt_expr_idx ON flt_expr USING omendb (v, (c % 10), c, lower(t));
SELECT n, filter, k.* FROM (VALUES
	(1, 'c % 10 = 3'),
	(2, 'c % 10 = 3 AND c < 50'),
	(3, 'c = 7'),
	(4, 'c > 120::int8'),
	(5, 'lower(t) = ''c5''')
) v(n, filter), LATERAL pg_temp.knn('flt_expr', filter) k ORDER BY n;
SELECT live_nodes FROM omendb_check('flt_expr_idx', true);

-- An index created on an empty table, then filled by inserts (the first
-- trains the quantizer), gives the same answers.
CREATE TABLE flt_empty (LIKE flt);
CREATE INDEX flt_empty_idx ON flt_empty USING omendb (v, i4, t, tags, d);
SELECT pg_temp.fill('flt_empty', 1, 3000);
SELECT n, filter, k.* FROM (VALUES
	(1, 'i4 = 7'),
	(2, 'i4 BETWEEN 20 AND 40 AND d < ''2021-01-01'''),
	(3, 't = ''c5'''),
	(4, 'tags @> ''{3}'' AND i4 > 64'),
	(5, 'i4 = -1')
) v(n, filter), LATERAL pg_temp.knn('flt_empty', filter) k ORDER BY n;
SELECT nodes, live_nodes, deleted_nodes, free_nodes FROM omendb_check('flt_empty_idx', true);

-- A partial index with filter columns: a query whose WHERE implies the
-- predicate uses it, and it holds the rows of the predicate alone.
CREATE TABLE flt_part (LIKE flt);
SELECT pg_temp.fill('flt_part', 1, 3000);
CREATE INDEX flt_part_idx ON flt_part USING omendb (v, i4, ttags) WHERE i2 > 0;
ANALYZE flt_part;
SELECT n, filter, k.* FROM (VALUES
	(1, 'i2 > 0 AND i4 < 64'),
	(2, 'i2 > 0 AND i4 = 7'),
	(3, 'i2 > 0 AND ttags && ''{red}'' AND i4 >= 100'),
	(4, 'i2 > 0 AND i4 = -1')
) v(n, filter), LATERAL pg_temp.knn('flt_part', filter) k ORDER BY n;
SELECT live_nodes = (SELECT count(*) FROM flt_part WHERE i2 > 0) AS "a node for each row of the predicate"
FROM omendb_check('flt_part_idx', true);

-- Deletes, VACUUM (which moves the nodes of the last pages into freed
-- slots, labels and all, and cuts off the pages it empties) and inserts:
-- the new rows' labels replace the old ones', and the answers stay exact;
-- omendb_check's heap cross-check compares every node's labels with its
-- row's.
DELETE FROM flt WHERE id % 3 = 0 OR i4 = 7;
VACUUM flt;
SELECT nodes, live_nodes = (SELECT count(*) FROM flt) AS "a node for each row",
	   deleted_nodes <= 1 AS "no deleted node but the entry point",
	   nodes <= live_nodes + 64 AS "freed slots filled, emptied pages cut off"
FROM omendb_check('flt_idx', true);
SELECT pg_temp.fill('flt', 3001, 3800);
-- the new rows took the free slots left, then new ones
SELECT nodes, live_nodes = (SELECT count(*) FROM flt) AS "a node for each row"
FROM omendb_check('flt_idx', true);
SELECT n, filter, k.* FROM (VALUES
	(1, 'i4 = 7'),
	(2, 'i4 = 8'),
	(3, 'i4 < 3::int8 AND b = false'),
	(4, 't = ''c5'''),
	(5, 'u = md5(''7'')::uuid'),
	(6, 'tags && ''{3}'''),
	(7, 'ttags = ''{red}'''),
	(8, 'd > ''2022-10-01'''),
	(9, 'tz < ''2020-01-03 00:00+00'''),
	(10, 'i8 > 1500000000 AND i4 < 10')
) v(n, filter), LATERAL pg_temp.knn('flt', filter) k ORDER BY n;
-- An update of filter columns alone gives the row a new node, with the
-- new labels.
UPDATE flt SET i4 = 7, t = 'updated' WHERE id % 10 = 1;
SELECT n, filter, k.* FROM (VALUES
	(1, 'i4 = 7'),
	(2, 't = ''updated'''),
	(3, 'i4 = 7 AND t <> ''updated'''),
	(4, 'i4 = 8')
) v(n, filter), LATERAL pg_temp.knn('flt', filter) k ORDER BY n;
VACUUM flt;
SELECT live_nodes = (SELECT count(*) FROM flt) AS "a node for each row",
	   deleted_nodes <= 1 AS "no deleted node but the entry point"
FROM omendb_check('flt_idx', true);

-- An array column's signature passes few rows that do not match: with
-- two bits an element, a one-element overlap on 4,000 rows of 1 to 5 of
-- 500 tags passes about 1% of the rows besides those that match (one bit
-- an element passed about 5%).  The scan without LIMIT returns every row
-- whose signature passes; the executor drops those the qual rejects.
CREATE TABLE flt_sig (id int, v vector(8), tags int[]);
INSERT INTO flt_sig SELECT i, pg_temp.vec(i),
	ARRAY(SELECT (hashint4(i * 5 + k) & 65535) % 500
		  FROM generate_series(1, 1 + (hashint4(i) & 65535) % 5) k)
FROM generate_series(1, 4000) i;
CREATE INDEX flt_sig_idx ON flt_sig USING omendb (v, tags);
SELECT signature_bits FROM omendb_index_stats('flt_sig_idx');
CREATE FUNCTION pg_temp.signature_passes(t int, OUT matching bigint,
	OUT returned bigint, OUT passed bigint) LANGUAGE plpgsql AS $$
BEGIN
	SET LOCAL enable_seqscan = on;
	SELECT count(*) INTO matching FROM flt_sig WHERE tags && ARRAY[t];
	SET LOCAL enable_seqscan = off;
	SELECT count(*) INTO returned FROM
		(SELECT id FROM flt_sig WHERE tags && ARRAY[t]
		 ORDER BY v <-> '[0.3,0.6,0.2,0.7,0.5,0.4,0.8,0.1]') s;
	SELECT rows_returned INTO passed FROM omendb_scan_stats() WHERE scope = 'last_scan';
END $$;
SELECT t, p.*, p.passed - p.matching <= 0.015 * 4000 AS "few pass that do not match"
FROM unnest(ARRAY[7, 123, 499]) t, pg_temp.signature_passes(t) p;
DROP TABLE flt_sig;

-- What a filter column cannot be: first (the vector leads), a second
-- vector, a type without a filter class, an array of elements without a
-- hash function; and an omendb index has no INCLUDE columns.
CREATE TABLE flt_bad (id int, cat int, v vector(8), v2 vector(8), x float8, pts point[]);
CREATE INDEX flt_bad_lead ON flt_bad USING omendb (cat, v);
CREATE INDEX flt_bad_only ON flt_bad USING omendb (cat);
CREATE INDEX flt_bad_two ON flt_bad USING omendb (v, cat, v2);
CREATE INDEX flt_bad_float ON flt_bad USING omendb (v, x);
CREATE INDEX flt_bad_points ON flt_bad USING omendb (v, pts);
CREATE INDEX flt_bad_include ON flt_bad USING omendb (v, cat) INCLUDE (id);
-- (none was made)
SELECT count(*) FROM pg_indexes WHERE tablename = 'flt_bad';

DROP TABLE flt, flt_queries, flt_probe, flt_cos, flt_expr, flt_empty, flt_part, flt_bad;
DROP DOMAIN flt_small;
