--
-- omendb_sketch: distance sketches in the label directory.  An index under
-- Euclidean distance with filter columns, built on enough rows, keeps in
-- each directory entry a sketch of the row's vector that bounds its
-- distance from below; a scan whose filter sends it through the directory
-- reads the pages of only the rows whose turn may come.  Whatever the
-- sketches hold back, the scan returns exactly the rows a sequential scan
-- returns, in the same order: under LIMIT, in deep scans, for rows of
-- equal distance, within a radius, after deletes, VACUUM and inserts, in
-- an index built empty (which has no sketch), and with
-- omendb.directory_sketch off.  omendb_check verifies every entry's sketch
-- against its row.  Data comes from hashint4, so that every run sees the
-- same rows.
--
SET jit = off;

-- vec(i): 32 coordinates from i, in clusters of 10 (a spectrum like an
-- embedding's: a few directions carry most of the spread).
CREATE FUNCTION pg_temp.vec(i int) RETURNS vector LANGUAGE sql IMMUTABLE AS $$
	SELECT array_agg(((i % 10) * ((j % 5) - 2) +
					  ((hashint4(i * 32 + j) & 65535) / 65536.0 - 0.5) * 4 / (1 + j))::real
					 ORDER BY j)::vector
	FROM generate_series(0, 31) j
$$;

\i sql/include/same_as_exact_query.sql

-- same(filter, q, lim): whether the index returns the rows a sequential
-- scan returns, in the same order, for ORDER BY v <-> q with the filter
-- and LIMIT lim (all rows that pass when lim is NULL).
CREATE FUNCTION pg_temp.same(filter text, q vector, lim int) RETURNS boolean
LANGUAGE sql AS $$
	SELECT pg_temp.same_as_exact(format('SELECT id FROM sk WHERE %s ORDER BY v <-> %L, id LIMIT %s',
										filter, q, coalesce(lim::text, 'ALL')))
$$;

-- agreeing(filter): of 20 queries (vectors of no row), at LIMIT
-- 1, 10, 100 and without LIMIT, how many the index answers exactly.
CREATE FUNCTION pg_temp.agreeing(filter text) RETURNS int LANGUAGE sql AS $$
	SELECT count(*)::int FROM generate_series(1, 20) k, (VALUES (1), (10), (100), (NULL)) l(lim)
	WHERE pg_temp.same(filter, pg_temp.vec(50000 + k * 97), lim)
$$;

-- 6,000 rows; tenant t holds about 6000 / (t * 6.9) of them (Zipf), cat
-- one of 19 values, tags two of 96.
CREATE TABLE sk (id int PRIMARY KEY, v vector(32), tenant int, cat int, tags int[]);
INSERT INTO sk
SELECT i, pg_temp.vec(i),
	greatest(1, ceil(power(1001, (hashint4(i) & 65535) / 65536.0) - 1))::int,
	(hashint4(i * 3) & 15) + (i % 4),
	ARRAY[hashint4(i * 5) & 63, 64 + (hashint4(i * 7) & 31)]
FROM generate_series(1, 6000) i;
-- two rows with the same vector as another, in the same tenant
INSERT INTO sk SELECT 100000 + id, v, tenant, cat, tags FROM sk WHERE id IN (11, 12);
CREATE INDEX sk_idx ON sk USING omendb (v vector_l2_ops, tenant, cat, tags);
ANALYZE sk;

SELECT tenant, count(*) FROM sk WHERE tenant <= 3 GROUP BY tenant ORDER BY tenant;

-- The filters: tenants of 10%, 2.6% and 0.5% of the rows, a category of
-- 5%, a tag, and AND of two.
SELECT pg_temp.agreeing('tenant = 1') AS t1, pg_temp.agreeing('tenant = 5') AS t5,
	pg_temp.agreeing('tenant = 30') AS t30, pg_temp.agreeing('cat = 3') AS cat,
	pg_temp.agreeing('tags && ''{70}''') AS tag,
	pg_temp.agreeing('tenant IN (4, 6) AND cat < 10') AS tenants_and_cat;

-- Rows of equal distance: the duplicates of rows 11 and 12 come out
-- beside them, ties broken by id as a sequential scan sorts them.
SELECT pg_temp.same(format('tenant = %s', (SELECT tenant FROM sk WHERE id = 11)),
					(SELECT v FROM sk WHERE id = 11), 10) AS duplicates;

-- A pass with sketches meets fewer nodes than rows pass; without them
-- (omendb.directory_sketch off) the same rows come out, from every row
-- that passes.
SELECT count(*) AS passing FROM sk WHERE tenant = 5 \gset
SET enable_seqscan = off;
SELECT omendb_scan_stats_reset();
SELECT array_agg(id) AS top10 FROM (SELECT id FROM sk WHERE tenant = 5
	ORDER BY v <-> pg_temp.vec(50007) LIMIT 10) s;
SELECT nodes_met < :passing / 2 AS "fewer than half the passing rows met", rows_returned
FROM omendb_scan_stats() WHERE scope = 'last_scan';
SET omendb.directory_sketch = off;
SELECT array_agg(id) AS top10 FROM (SELECT id FROM sk WHERE tenant = 5
	ORDER BY v <-> pg_temp.vec(50007) LIMIT 10) s;
SELECT nodes_met >= :passing AS "every passing row met", rows_returned
FROM omendb_scan_stats() WHERE scope = 'last_scan';
SELECT pg_temp.agreeing('tenant = 5') AS t5_without_sketches;
RESET omendb.directory_sketch;
RESET enable_seqscan;

-- Within a radius holding 20 of the tenant's rows, with and without
-- ORDER BY.
SELECT v <-> pg_temp.vec(50007) AS r FROM sk WHERE tenant = 5
ORDER BY 1 OFFSET 19 LIMIT 1 \gset
SELECT pg_temp.same(format('tenant = 5 AND v <-> %L <= %s', pg_temp.vec(50007), :r),
					pg_temp.vec(50007), NULL) AS radius_ordered;
SET enable_seqscan = off;
SELECT count(*) AS within FROM sk WHERE tenant = 5 AND v <-> pg_temp.vec(50007) <= :r;
RESET enable_seqscan;

SELECT omendb_check('sk_idx', heapallindexed => true) IS NOT NULL AS checked;

-- Deletes, VACUUM (which may move rows to free the last pages, copying
-- their entries), and inserts into the freed slots, whose sketches the
-- insert computes.
DELETE FROM sk WHERE id % 3 = 0;
VACUUM (INDEX_CLEANUP ON) sk;
INSERT INTO sk SELECT 200000 + i, pg_temp.vec(i * 13), 1 + i % 7, i % 20, ARRAY[i % 64]
FROM generate_series(1, 1500) i;
SELECT pg_temp.agreeing('tenant = 5') AS t5_after_churn,
	pg_temp.agreeing('tenant = 2 AND cat = 7') AS t2_cat_after_churn;
SELECT omendb_check('sk_idx', heapallindexed => true) IS NOT NULL AS checked_after_churn;

-- An index built empty learns no sketch; its scans are as exact.
CREATE TABLE sk_empty (LIKE sk);
CREATE INDEX sk_empty_idx ON sk_empty USING omendb (v vector_l2_ops, tenant);
INSERT INTO sk_empty SELECT * FROM sk;
DROP INDEX sk_idx;
ALTER TABLE sk RENAME TO sk_full;
ALTER TABLE sk_empty RENAME TO sk;
SELECT pg_temp.agreeing('tenant = 5') AS t5_built_empty;
SELECT omendb_check('sk_empty_idx', heapallindexed => true) IS NOT NULL AS checked_built_empty;

-- A vector of fewer dimensions than a sketch has directions gets none.
CREATE TABLE sk_narrow (id int, v vector(4), tenant int);
INSERT INTO sk_narrow SELECT i, ARRAY[i % 7, i % 11, i % 13, i % 17]::real[]::vector, i % 50
FROM generate_series(1, 2000) i;
CREATE INDEX ON sk_narrow USING omendb (v vector_l2_ops, tenant);
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM sk_narrow WHERE tenant = 3 ORDER BY v <-> '[1,2,3,4]' LIMIT 10) s;
RESET enable_seqscan;

DROP TABLE sk, sk_full, sk_narrow;
