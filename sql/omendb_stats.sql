--
-- omendb_index_stats: a cheap summary of an omendb index from its meta
-- page's counters and a sample of node pages.  Its node counts agree with
-- what omendb_check counts by reading every node, through each change
-- that moves a node between the states it counts: a build, inserts,
-- DELETE and VACUUM (nodes flagged deleted, then freed), inserts that take
-- free slots, a scan's kills, an index built empty; for L2 and cosine
-- indexes.  On an index of at most 32 node pages the sample is every page,
-- so the sampled figures are omendb_check's exactly.  It is for whoever
-- may SELECT from the table, and refuses what is not an omendb index.
--
-- Sizes depend on the platform, so only whether they are positive is
-- shown; how the graph is built decides degrees and repairs, so only
-- whether they are in range is.
--
SET jit = off;

-- agree(index): the node counts, and whether omendb_check (which reads
-- every node) counts the same.
CREATE FUNCTION pg_temp.agree(idx regclass) RETURNS text
LANGUAGE sql AS $$
	SELECT format('%s nodes, %s live, %s deleted, %s free: %s',
				  s.nodes, coalesce(s.live_nodes::text, 'unknown'),
				  coalesce(s.deleted_nodes::text, 'unknown'),
				  coalesce(s.free_nodes::text, 'unknown'),
				  CASE WHEN (s.nodes, s.live_nodes, s.deleted_nodes, s.free_nodes) =
							(c.nodes, c.live_nodes, c.deleted_nodes, c.free_nodes)
					   THEN 'as omendb_check counts'
					   ELSE format('omendb_check counts %s nodes, %s live, %s deleted, %s free',
								   c.nodes, c.live_nodes, c.deleted_nodes, c.free_nodes) END)
	FROM omendb_index_stats(idx) s, omendb_check(idx) c
$$;

-- sample(index): the sampled figures against omendb_check's, which reads
-- every live node.  all_pages: the index has at most 32 node pages, so
-- the sample read all of them and the figures must be the same; else the
-- sample's must be near (the clamped fraction within 0.05, the error
-- ratio within a quarter).
CREATE FUNCTION pg_temp.sample(idx regclass, all_pages boolean) RETURNS text
LANGUAGE sql AS $$
	SELECT CASE WHEN all_pages THEN
		format('sampled %s, clamped %s, ratio %s, degree %s',
			   CASE WHEN s.sampled_nodes = c.live_nodes THEN 'every live node'
					ELSE format('%s of %s live nodes', s.sampled_nodes, c.live_nodes) END,
			   CASE WHEN s.clamped_fraction IS NOT DISTINCT FROM
						 c.clamped_nodes::float8 / nullif(c.live_nodes, 0)
					THEN 'as omendb_check' ELSE format('%s against %s', s.clamped_fraction, c.clamped_nodes) END,
			   CASE WHEN abs(s.mean_error_ratio - c.mean_error_ratio) < 1e-9 OR
						 (s.mean_error_ratio IS NULL AND c.mean_error_ratio IS NULL)
					THEN 'as omendb_check' ELSE format('%s against %s', s.mean_error_ratio, c.mean_error_ratio) END,
			   CASE WHEN s.mean_degree IS NULL THEN 'none'
					WHEN s.mean_degree >= 1 AND s.mean_degree <= s.max_degree THEN 'in range'
					ELSE s.mean_degree::text END)
	ELSE
		format('sampled %s, clamped %s, ratio %s, degree %s',
			   CASE WHEN s.sampled_nodes > 0 AND s.sampled_nodes < c.live_nodes AND
						 s.sampled_nodes <= 32 * (8192 / s.node_bytes)
					THEN 'some of the live nodes, from at most 32 pages'
					ELSE format('%s of %s', s.sampled_nodes, c.live_nodes) END,
			   CASE WHEN abs(s.clamped_fraction - c.clamped_nodes::float8 / c.live_nodes) <= 0.05
					THEN 'near omendb_check''s' ELSE format('%s against %s', s.clamped_fraction, c.clamped_nodes) END,
			   CASE WHEN abs(s.mean_error_ratio - c.mean_error_ratio) <= 0.25 * c.mean_error_ratio
					THEN 'near omendb_check''s' ELSE format('%s against %s', s.mean_error_ratio, c.mean_error_ratio) END,
			   CASE WHEN s.mean_degree >= 1 AND s.mean_degree <= s.max_degree THEN 'in range'
					ELSE s.mean_degree::text END)
	END
	FROM omendb_index_stats(idx) s, omendb_check(idx) c
$$;

-- vac(index): the last VACUUM cleanup's figures.
CREATE FUNCTION pg_temp.vac(idx regclass) RETURNS text
LANGUAGE sql AS $$
	SELECT CASE WHEN vacuum_deleted IS NULL THEN 'no VACUUM cleanup yet'
		   ELSE format('last VACUUM met %s deleted nodes, freed %s, repaired %s, linked %s',
					   vacuum_deleted, vacuum_freed,
					   CASE WHEN vacuum_repaired > 0 THEN 'some' ELSE '0' END,
					   CASE WHEN vacuum_linked >= 0 THEN 'some or none' END) END
	FROM omendb_index_stats(idx)
$$;

\i sql/include/error_of.sql

-- 3,000 rows of 8 dimensions (about 40 nodes a page: 75 node pages, more
-- than the sample reads), autovacuum off so that only this file's VACUUMs
-- change the counts, and these VACUUMs do not renumber the nodes (which
-- omendb_renumber pins down).
SET omendb.renumber_min_gain = 0;
CREATE TABLE st_t (id int PRIMARY KEY, v vector(8)) WITH (autovacuum_enabled = off);
INSERT INTO st_t
SELECT i, (SELECT array_agg(sin(i * 0.37 * j + j * j))::real[] FROM generate_series(1, 8) j)
FROM generate_series(1, 3000) i;
CREATE INDEX st_t_l2 ON st_t USING omendb (v vector_l2_ops);

-- A fresh build: every node live, nothing deleted or freed, no VACUUM.
-- (heap_rows is the table's reltuples, which PostgreSQL 18's CREATE INDEX
-- leaves unknown on a table with autovacuum off: expected/omendb_stats_1.out.)
SELECT pg_temp.agree('st_t_l2');
SELECT heap_rows, nodes = live_nodes AS all_live, bytes > 0 AS has_bytes,
	   bytes_per_live_row > 0 AS per_row, dimensions, metric, quantizer,
	   quantizer_trained, code_bytes, node_bytes > code_bytes AS node_holds_code,
	   graph_degree, max_degree, build_list_size, alpha, entry_node IS NOT NULL AS has_entry
FROM omendb_index_stats('st_t_l2');
SELECT pg_temp.sample('st_t_l2', false);
SELECT pg_temp.vac('st_t_l2');

-- Inserts take new slots.
INSERT INTO st_t
SELECT i, (SELECT array_agg(cos(i * 0.11 * j) + sin(j))::real[] FROM generate_series(1, 8) j)
FROM generate_series(3001, 3400) i;
SELECT pg_temp.agree('st_t_l2');

-- DELETE leaves the nodes live until VACUUM, which flags them deleted
-- (ambulkdelete) and frees them (cleanup), but the entry point's.
DELETE FROM st_t WHERE id % 3 = 0;
SELECT pg_temp.agree('st_t_l2');
VACUUM st_t;
SELECT pg_temp.agree('st_t_l2');
SELECT pg_temp.vac('st_t_l2');
SELECT heap_rows FROM omendb_index_stats('st_t_l2');
SELECT pg_temp.sample('st_t_l2', false);

-- Inserts take the free slots first (VACUUM cut off the pages it emptied,
-- so fewer are left than rows come): then new ones.
CREATE TEMP TABLE st_before AS SELECT nodes, free_nodes FROM omendb_index_stats('st_t_l2');
INSERT INTO st_t
SELECT i, (SELECT array_agg(sin(i * 0.05 * j) - cos(j))::real[] FROM generate_series(1, 8) j)
FROM generate_series(4001, 4500) i;
SELECT pg_temp.agree('st_t_l2');
SELECT s.free_nodes AS free_left, s.nodes - b.nodes = 500 - b.free_nodes AS free_slots_taken_first
FROM omendb_index_stats('st_t_l2') s, st_before b;

-- A VACUUM with nothing to free records that too.
VACUUM st_t;
SELECT pg_temp.agree('st_t_l2');
SELECT pg_temp.vac('st_t_l2');

-- Kills.  A temporary table's dead rows are dead to every snapshot as soon
-- as the deleting transaction ends (no other backend sees it), and its
-- index is not WAL-logged, so a scan's kills need no pruning first: an
-- exhaustive ordered scan meets every row and kills the node of each
-- deleted one, which the counters count.  Also a cosine index, with zero
-- vectors (live nodes outside the graph) among its rows.
CREATE TEMP TABLE st_k (id int, v vector(8));
INSERT INTO st_k
SELECT i, CASE WHEN i % 50 = 0 THEN '[0,0,0,0,0,0,0,0]'::vector
		  ELSE (SELECT array_agg(cos(i * 0.29 * j + j))::real[] FROM generate_series(1, 8) j)::vector END
FROM generate_series(1, 600) i;
CREATE INDEX st_k_cos ON st_k USING omendb (v vector_cosine_ops);
SELECT pg_temp.agree('st_k_cos');
SELECT metric, live_nodes, pg_temp.sample('st_k_cos', true) FROM omendb_index_stats('st_k_cos');
DELETE FROM st_k WHERE id % 4 = 0;
SELECT pg_temp.agree('st_k_cos');
SET enable_seqscan = off;
SET enable_sort = off;
SET omendb.search_list_size = 1000;
SELECT count(*) FROM (SELECT id FROM st_k ORDER BY v <=> '[1,2,3,4,5,6,7,8]' LIMIT 1000) s;
RESET enable_seqscan;
RESET enable_sort;
RESET omendb.search_list_size;
-- Every deleted row's node was killed: 150 deleted nodes, before VACUUM.
SELECT pg_temp.agree('st_k_cos');
SELECT pg_temp.vac('st_k_cos');
VACUUM st_k;
SELECT pg_temp.agree('st_k_cos');
SELECT pg_temp.vac('st_k_cos');

-- An index built empty: no layout, no node, until the first row trains
-- its quantizer; then it counts like any other.
-- (PostgreSQL 13 has no unknown reltuples: 0 until the first VACUUM,
-- expected/omendb_stats_2.out.)
CREATE TABLE st_e (id int, v vector(8)) WITH (autovacuum_enabled = off);
CREATE INDEX st_e_l2 ON st_e USING omendb (v);
SELECT heap_rows, nodes, live_nodes, deleted_nodes, free_nodes, dimensions,
	   quantizer_trained, code_bytes, sampled_nodes, mean_degree, entry_node
FROM omendb_index_stats('st_e_l2');
SELECT pg_temp.agree('st_e_l2');
VACUUM st_e;
SELECT pg_temp.vac('st_e_l2');
INSERT INTO st_e
SELECT i, (SELECT array_agg(sin(i * 0.7 * j))::real[] FROM generate_series(1, 8) j)
FROM generate_series(1, 200) i;
SELECT pg_temp.agree('st_e_l2');
SELECT quantizer_trained, code_bytes, pg_temp.sample('st_e_l2', true)
FROM omendb_index_stats('st_e_l2');
DELETE FROM st_e WHERE id <= 50;
VACUUM st_e;
SELECT pg_temp.agree('st_e_l2');
SELECT pg_temp.vac('st_e_l2');

-- Privilege: whoever may SELECT from the table may call it; others get
-- insufficient_privilege (42501), whether or not they know the index.
CREATE ROLE regress_omendb_stats;
SET ROLE regress_omendb_stats;
SELECT pg_temp.error_of($$SELECT nodes FROM omendb_index_stats('st_t_l2')$$);
RESET ROLE;
GRANT SELECT ON st_t TO regress_omendb_stats;
SET ROLE regress_omendb_stats;
SELECT nodes > 0 AS has_nodes FROM omendb_index_stats('st_t_l2');
-- omendb_check, which reads everything, stays for superusers and grantees.
SELECT pg_temp.error_of($$SELECT nodes FROM omendb_check('st_t_l2')$$);
RESET ROLE;
REVOKE SELECT ON st_t FROM regress_omendb_stats;
DROP ROLE regress_omendb_stats;

-- What is not an omendb index is refused with wrong_object_type (42809).
CREATE INDEX st_t_btree ON st_t (id);
SELECT pg_temp.error_of($$SELECT nodes FROM omendb_index_stats('st_t')$$);
SELECT pg_temp.error_of($$SELECT nodes FROM omendb_index_stats('st_t_btree')$$);
SELECT pg_temp.error_of($$SELECT nodes FROM omendb_index_stats('st_t_pkey')$$);
CREATE TABLE st_p (id int, v vector(8)) PARTITION BY RANGE (id);
CREATE TABLE st_p1 PARTITION OF st_p FOR VALUES FROM (0) TO (1000);
CREATE INDEX st_p_l2 ON st_p USING omendb (v);
SELECT pg_temp.error_of($$SELECT nodes FROM omendb_index_stats('st_p_l2')$$);
SELECT nodes, live_nodes FROM omendb_index_stats('st_p1_v_idx');
SELECT * FROM omendb_index_stats(NULL);

DROP TABLE st_t, st_e, st_p, st_k, st_before;
