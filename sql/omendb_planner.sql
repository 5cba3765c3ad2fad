--
-- omendb_planner: when the planner uses an omendb index.  Only an
-- ORDER BY <index column> <operator of the index's class> <query> can use
-- it; it needs a LIMIT (or a small fraction of the table) to beat a
-- sequential scan and sort.
--

-- Plans only; no costs (they depend on the machine-independent but
-- evolving cost model, the plan shapes do not).
SET jit = off;

CREATE TABLE omendb_plan (id int PRIMARY KEY, cat int, v vector(3));
INSERT INTO omendb_plan
SELECT i, i % 10, ARRAY[sin(i), cos(i), sin(i * 0.37)]::real[]
FROM generate_series(1, 3000) i;
CREATE INDEX omendb_plan_l2 ON omendb_plan USING omendb (v vector_l2_ops);
ANALYZE omendb_plan;

-- The default operator class is vector_l2_ops: <-> with LIMIT uses it, and
-- the plan shows the index's ORDER BY key.
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan ORDER BY v <-> '[1,0,0]' LIMIT 10;

-- The query vector may come from a parameter: a generic plan (as for a
-- prepared statement whose parameter is not known at plan time) uses the
-- index with $1 as the key, and executing it returns the exact top LIMIT
-- rows.
SET plan_cache_mode = force_generic_plan;
PREPARE omendb_plan_l2q(vector, int) AS
	SELECT id FROM omendb_plan ORDER BY v <-> $1 LIMIT $2;
EXPLAIN (COSTS OFF) EXECUTE omendb_plan_l2q('[1,0,0]', 10);
CREATE TEMP TABLE omendb_plan_res AS EXECUTE omendb_plan_l2q('[1,0,0]', 10);
SET enable_indexscan = off;
SELECT count(*) AS rows, array_agg(id ORDER BY id) = (SELECT array_agg(id ORDER BY id)
	FROM (SELECT id FROM omendb_plan ORDER BY v <-> '[1,0,0]' LIMIT 10) e) AS exact_top10
FROM omendb_plan_res;
RESET enable_indexscan;
DROP TABLE omendb_plan_res;
DEALLOCATE omendb_plan_l2q;
RESET plan_cache_mode;

-- ... or from a subquery (an initplan), or from the outer side of a
-- LATERAL join (the index scan is rescanned for each outer row).
EXPLAIN (COSTS OFF)
SELECT id FROM omendb_plan ORDER BY v <-> (SELECT v FROM omendb_plan WHERE id = 1) LIMIT 10;
EXPLAIN (COSTS OFF)
SELECT q.id, n.id FROM omendb_plan q
CROSS JOIN LATERAL (SELECT id FROM omendb_plan p ORDER BY p.v <-> q.v LIMIT 5) n
WHERE q.id <= 3;

-- The operator's commuted form (query <-> column) uses the index too:
-- <-> is its own commutator.
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan ORDER BY '[1,0,0]' <-> v LIMIT 10;

-- An l2 index does not serve other distances (inner product, cosine, L1),
-- nor descending distance (farthest first): those sort a sequential scan.
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan ORDER BY v <#> '[1,0,0]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan ORDER BY v <=> '[1,0,0]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan ORDER BY v <+> '[1,0,0]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan ORDER BY v <-> '[1,0,0]' DESC LIMIT 10;

-- A filter on another column is applied to the rows the index scan
-- returns (forced here: the planner may prefer the sort for a selective
-- filter).
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT id FROM omendb_plan WHERE cat = 3 ORDER BY v <-> '[1,0,0]' LIMIT 10;
RESET enable_seqscan;

-- Without an ORDER BY on the distance the index is useless: WHERE-only
-- queries and plain scans never use it, even with sequential scans
-- disabled (the plan is still a sequential scan, at a disabled cost);
-- but a radius, a WHERE clause bounding the distance, is a condition the
-- index takes (omendb_radius).
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan WHERE v = '[1,0,0]';
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan WHERE v = '[1,0,0]';
EXPLAIN (COSTS OFF) SELECT count(*) FROM omendb_plan;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan WHERE v <-> '[1,0,0]' < 0.5;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan ORDER BY v LIMIT 10;
RESET enable_seqscan;

-- vector_ip_ops serves <#> (negative inner product), and only that.  Its
-- scans search with a list of 160, costed to touch most of these 3,000
-- rows (omendb_cost), close to what a sort of the table costs: sequential
-- scans are off, so that the plans show what the index serves.
DROP INDEX omendb_plan_l2;
CREATE INDEX omendb_plan_ip ON omendb_plan USING omendb (v vector_ip_ops);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan ORDER BY v <#> '[1,0,0]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan ORDER BY v <-> '[1,0,0]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan ORDER BY v <=> '[1,0,0]' LIMIT 10;
SET plan_cache_mode = force_generic_plan;
PREPARE omendb_plan_ipq(vector) AS
	SELECT id FROM omendb_plan ORDER BY v <#> $1 LIMIT 10;
EXPLAIN (COSTS OFF) EXECUTE omendb_plan_ipq('[1,0,0]');
CREATE TEMP TABLE omendb_plan_res AS EXECUTE omendb_plan_ipq('[1,0,0]');
SET enable_indexscan = off;
SELECT count(*) AS rows, array_agg(id ORDER BY id) = (SELECT array_agg(id ORDER BY id)
	FROM (SELECT id FROM omendb_plan ORDER BY v <#> '[1,0,0]' LIMIT 10) e) AS exact_top10
FROM omendb_plan_res;
RESET enable_indexscan;
DROP TABLE omendb_plan_res;
DEALLOCATE omendb_plan_ipq;
RESET plan_cache_mode;
RESET enable_seqscan;

-- vector_cosine_ops serves <=> (cosine distance), and only that.
DROP INDEX omendb_plan_ip;
CREATE INDEX omendb_plan_cos ON omendb_plan USING omendb (v vector_cosine_ops);
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan ORDER BY v <=> '[1,0,0]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan ORDER BY v <-> '[1,0,0]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan ORDER BY v <#> '[1,0,0]' LIMIT 10;
SET plan_cache_mode = force_generic_plan;
PREPARE omendb_plan_cosq(vector) AS
	SELECT id FROM omendb_plan ORDER BY v <=> $1 LIMIT 10;
EXPLAIN (COSTS OFF) EXECUTE omendb_plan_cosq('[1,0,0]');
CREATE TEMP TABLE omendb_plan_res AS EXECUTE omendb_plan_cosq('[1,0,0]');
SET enable_indexscan = off;
SELECT count(*) AS rows, array_agg(id ORDER BY id) = (SELECT array_agg(id ORDER BY id)
	FROM (SELECT id FROM omendb_plan ORDER BY v <=> '[1,0,0]' LIMIT 10) e) AS exact_top10
FROM omendb_plan_res;
RESET enable_indexscan;
DROP TABLE omendb_plan_res;
DEALLOCATE omendb_plan_cosq;
RESET plan_cache_mode;

-- With one index of each class on the column, each operator picks its own
-- (sequential scans off, for the inner product's sake, as above).
CREATE INDEX omendb_plan_l2 ON omendb_plan USING omendb (v);
CREATE INDEX omendb_plan_ip ON omendb_plan USING omendb (v vector_ip_ops);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan ORDER BY v <-> '[1,0,0]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan ORDER BY v <#> '[1,0,0]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan ORDER BY v <=> '[1,0,0]' LIMIT 10;
RESET enable_seqscan;

DROP TABLE omendb_plan;

-- A tiny table: with default settings, reading 10 rows and sorting them is
-- cheaper than the index, so the planner does that.
CREATE TABLE omendb_plan_tiny (id int, v vector(3));
INSERT INTO omendb_plan_tiny SELECT i, ARRAY[i, -i, i * 0.5]::real[] FROM generate_series(1, 10) i;
CREATE INDEX ON omendb_plan_tiny USING omendb (v);
ANALYZE omendb_plan_tiny;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan_tiny ORDER BY v <-> '[1,0,0]' LIMIT 3;
-- ... but it can still be made to use the index.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_plan_tiny ORDER BY v <-> '[1,0,0]' LIMIT 3;
RESET enable_seqscan;
DROP TABLE omendb_plan_tiny;

-- Index properties: the column is distance-orderable (what the planner
-- uses the index for), not orderable by value, not returnable.
CREATE TABLE omendb_prop (v vector(3));
CREATE INDEX omendb_prop_idx ON omendb_prop USING omendb (v);
SELECT p AS property, pg_index_column_has_property('omendb_prop_idx', 1, p) AS value
FROM unnest(ARRAY['distance_orderable', 'orderable', 'returnable', 'search_nulls']) p;
DROP TABLE omendb_prop;
