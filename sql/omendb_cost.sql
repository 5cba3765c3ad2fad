--
-- omendb_cost: the planner's cost of an omendb index scan follows the
-- search list the scan will use.  The first row waits for the initial
-- search, which touches about list_size * R / 2 nodes, so the startup cost
-- grows with the list; with omendb.search_list_size = 0 (the default) the
-- list is the index's own: 40, or 160 for inner product.
--
-- Absolute costs are not printed (the cost model may evolve); only how
-- the startup costs of the same index compare under different settings.
--
SET jit = off;

CREATE TABLE omendb_cost (id int PRIMARY KEY, v vector(3));
INSERT INTO omendb_cost
SELECT i, ARRAY[sin(i), cos(i), sin(i * 0.37)]::real[] FROM generate_series(1, 5000) i;
CREATE INDEX omendb_cost_l2 ON omendb_cost USING omendb (v vector_l2_ops);
CREATE INDEX omendb_cost_ip ON omendb_cost USING omendb (v vector_ip_ops);
CREATE INDEX omendb_cost_cos ON omendb_cost USING omendb (v vector_cosine_ops);
ANALYZE omendb_cost;

-- startup(op, list): the startup cost of the index scan that orders by op
-- (sequential scans off) with omendb.search_list_size = list.
CREATE FUNCTION pg_temp.startup(op text, list int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	plan json;
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('omendb.search_list_size', list::text, true);
	EXECUTE format('EXPLAIN (FORMAT JSON) SELECT id FROM omendb_cost ORDER BY v %s %L',
				   op, '[1,0,0]') INTO plan;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('omendb.search_list_size', '0', true);
	IF plan->0->'Plan'->>'Node Type' <> 'Index Scan' THEN
		RAISE EXCEPTION 'not an index scan: %', plan;
	END IF;
	RETURN (plan->0->'Plan'->>'Startup Cost')::float8;
END
$$;

-- The default list costs what an explicit 40 costs for L2 and cosine, and
-- what an explicit 160 costs for inner product.
SELECT pg_temp.startup('<->', 0) = pg_temp.startup('<->', 40) AS l2_default_is_40,
	   pg_temp.startup('<=>', 0) = pg_temp.startup('<=>', 40) AS cosine_default_is_40,
	   pg_temp.startup('<#>', 0) = pg_temp.startup('<#>', 160) AS ip_default_is_160;

-- A longer list costs more to start: the inner-product default costs
-- about 4 times what a list of 40 does (281 nodes against 71: in three
-- dimensions the cost counts 1.75 new nodes an expansion).
SELECT pg_temp.startup('<#>', 0) > pg_temp.startup('<#>', 40) AS ip_default_above_40,
	   round((pg_temp.startup('<#>', 0) / pg_temp.startup('<#>', 40))::numeric, 1) AS ip_ratio;

DROP TABLE omendb_cost;

-- Where the index stops winning.  A streaming scan meets a node or two per
-- row in three dimensions (R / 2 in many), so on 3,000 rows the index
-- beats a sort for LIMIT 10 (0.34 ms against 1.0 ms, best of three), is
-- even with it near LIMIT 500, and loses for a third of the table
-- (LIMIT 1000: 2.6 ms against 1.8 ms) and for all of it (6.2 against
-- 2.2 ms).
CREATE TABLE omendb_cost_plan (id int, v vector(3));
INSERT INTO omendb_cost_plan
SELECT i, ARRAY[sin(i), cos(i), sin(i * 0.37)]::real[] FROM generate_series(1, 3000) i;
CREATE INDEX omendb_cost_plan_l2 ON omendb_cost_plan USING omendb (v);
ANALYZE omendb_cost_plan;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_cost_plan ORDER BY v <-> '[1,0,0]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_cost_plan ORDER BY v <-> '[1,0,0]' LIMIT 1000;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_cost_plan ORDER BY v <-> '[1,0,0]';

-- Inner product searches a list of 160, yet on a small low-dimensional
-- graph meets few nodes (339 for LIMIT 10 here, not the whole table), so
-- LIMIT 10 takes the index (0.7 ms against 1.1 ms for the sort).
DROP INDEX omendb_cost_plan_l2;
CREATE INDEX omendb_cost_plan_ip ON omendb_cost_plan USING omendb (v vector_ip_ops);
EXPLAIN (COSTS OFF) SELECT id FROM omendb_cost_plan ORDER BY v <#> '[1,0,0]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_cost_plan ORDER BY v <#> '[1,0,0]';

DROP TABLE omendb_cost_plan;

-- A distance on a table's vector stored out of line is charged the fetch
-- from the TOAST table besides the arithmetic: one probe of its index and
-- a page a chunk.  A vector(600) is 2,408 bytes, past the 2,032 at which a
-- row goes out of line, in two chunks: 3 more a row under the default
-- storage (external), none once the column keeps it in the row (main),
-- and none for a vector short enough to stay there anyway.  Unpriced, the
-- fetch made a sort over a 1%-selective filter look cheaper than the
-- index (Fashion-MNIST: 12.8 ms against 4.1).
CREATE TABLE omendb_cost_toast (id int, v vector(600), s vector(100), h halfvec(1200));
INSERT INTO omendb_cost_toast SELECT i, NULL, NULL, NULL FROM generate_series(1, 2000) i;
ANALYZE omendb_cost_toast;
CREATE FUNCTION pg_temp.scan_cost(expr text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	plan json;
BEGIN
	EXECUTE format('EXPLAIN (FORMAT JSON) SELECT %s FROM omendb_cost_toast', expr) INTO plan;
	RETURN (plan->0->'Plan'->>'Total Cost')::float8;
END
$$;
CREATE TEMP TABLE cost_external AS SELECT
	pg_temp.scan_cost('v <-> v') AS v, pg_temp.scan_cost('s <-> s') AS s,
	pg_temp.scan_cost('h <-> h') AS h, pg_temp.scan_cost('v <-> ''[1]''') AS v_const,
	pg_temp.scan_cost('id') AS bare;
ALTER TABLE omendb_cost_toast ALTER COLUMN v SET STORAGE main,
	ALTER COLUMN h SET STORAGE plain;
SELECT round(((e.v - pg_temp.scan_cost('v <-> v')) / 2000)::numeric, 2) AS vector_fetch_a_row_each_side,
	   round(((e.v_const - pg_temp.scan_cost('v <-> ''[1]''')) / 2000)::numeric, 2) AS vector_fetch_a_row,
	   round(((e.h - pg_temp.scan_cost('h <-> h')) / 2000)::numeric, 2) AS halfvec_fetch_a_row_each_side,
	   round(((e.s - e.bare) / 2000)::numeric, 4) AS short_vector_distance_only
FROM cost_external e;
DROP TABLE omendb_cost_toast;

-- The walk rate: deep in a walk an expansion meets fewer new nodes than in
-- the initial search (its neighbours were mostly met already), by how
-- much depending on the data's intrinsic dimension, so the index measures
-- it.  A build measures it on an index of 10,000 rows or more, and VACUUM
-- on one built smaller or empty once it has grown that far; below that
-- it stays NULL and the cost counts a node's new neighbours from the
-- dimensions.
CREATE FUNCTION pg_temp.walk_vec(id int) RETURNS vector LANGUAGE sql IMMUTABLE AS
$$ SELECT array_agg((hashint4(id * 8 + j) & 65535) / 65536.0 ORDER BY j)::real[]::vector
   FROM generate_series(0, 7) j $$;
CREATE TABLE omendb_cost_walk (id int, v vector(8), c1000 int, c10 int)
	WITH (autovacuum_enabled = off);
CREATE INDEX omendb_cost_walk_empty ON omendb_cost_walk USING omendb (v, c1000, c10);
INSERT INTO omendb_cost_walk
SELECT i, pg_temp.walk_vec(i), i % 1000, i % 10 FROM generate_series(1, 12000) i;
CREATE INDEX omendb_cost_walk_built ON omendb_cost_walk USING omendb (v, c1000, c10);
CREATE INDEX omendb_cost_walk_small ON omendb_cost_walk USING omendb (v, c1000, c10)
	WHERE id <= 5000;
SELECT i AS index, walk_rate IS NOT NULL AS measured,
	   walk_rate BETWEEN 1 AND max_degree AS within_degree
FROM unnest(ARRAY['omendb_cost_walk_built', 'omendb_cost_walk_small',
				  'omendb_cost_walk_empty']) i, omendb_index_stats(i::regclass);
VACUUM omendb_cost_walk;
SELECT walk_rate IS NOT NULL AS empty_built_measured_by_vacuum,
	   walk_rate BETWEEN 1 AND max_degree AS within_degree
FROM omendb_index_stats('omendb_cost_walk_empty');
DROP INDEX omendb_cost_walk_empty, omendb_cost_walk_small;
ANALYZE omendb_cost_walk;

-- A filter too rare to walk to costs a sweep, paid before most of its
-- rows.  With the label directory, the scan takes its pass (the entries,
-- and the pages of the rows that pass) instead of a graph search, so the
-- pass alone is the startup: here 12,000 entries and 12 rows, less than
-- an unfiltered scan's initial search.  With the directory off, a pass
-- over the index's pages comes after the initial search (a filtered walk
-- that has met a sixth of the nodes past its first batch hands the rest
-- to that sweep).  A common filter's rows cost the walk, and it starts as
-- an unfiltered scan does.
CREATE FUNCTION pg_temp.walk_startup(filter text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	plan json;
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	EXECUTE format('EXPLAIN (FORMAT JSON) SELECT id FROM omendb_cost_walk WHERE %s ORDER BY v <-> %L LIMIT 10',
				   filter, pg_temp.walk_vec(0)) INTO plan;
	PERFORM set_config('enable_seqscan', 'on', true);
	IF plan->0->'Plan'->'Plans'->0->>'Node Type' <> 'Index Scan' THEN
		RAISE EXCEPTION 'not an index scan: %', plan;
	END IF;
	RETURN (plan->0->'Plan'->'Plans'->0->>'Startup Cost')::float8;
END
$$;
SELECT pg_temp.walk_startup('c10 = 3') = pg_temp.walk_startup('true') AS common_filter_starts_as_unfiltered,
	   pg_temp.walk_startup('c1000 = 3') < pg_temp.walk_startup('true') AS rare_filter_starts_with_the_pass_alone;
SET omendb.label_directory = off;
SELECT pg_temp.walk_startup('c10 = 3') = pg_temp.walk_startup('true') AS common_filter_starts_as_unfiltered,
	   pg_temp.walk_startup('c1000 = 3') - pg_temp.walk_startup('true') >=
	   (SELECT relpages FROM pg_class WHERE relname = 'omendb_cost_walk_built') AS rare_filter_pays_a_pass_over_the_pages;
RESET omendb.label_directory;
DROP TABLE omendb_cost_walk;
