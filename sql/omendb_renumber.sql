--
-- omendb_renumber: VACUUM lays an index's live graph nodes out again in
-- breadth-first order from the entry point, as a build numbers them, when
-- a search would then pin omendb.renumber_min_gain times fewer pages a
-- node it expands.  Rows inserted one by one lie in the order they came, so a search
-- pins a page for nearly every node it meets; after renumbering, the nodes
-- it meets together share pages again.  Each node moves twice, with the
-- moves compaction makes (to pages appended in the new order, then back
-- into the slots that frees): the index keeps its size, every row its
-- node, code and labels, and every search its answers (README.omendb,
-- "Renumbering").
--
SET enable_seqscan = off;

-- 8 dimensions: three spread over [0, 128) by a hash of the id, five
-- small, so that rows inserted one after the other lie apart
CREATE FUNCTION rn_vec(id int) RETURNS vector LANGUAGE sql IMMUTABLE AS
$$ SELECT (ARRAY[(hashint4(id) & 1023) / 8.0, (hashint4(id + 77777) & 1023) / 8.0,
				 (hashint4(id + 555) & 1023) / 8.0]::float8[] ||
		   (SELECT array_agg(sin(id * 0.37 * j) * 0.5 ORDER BY j) FROM generate_series(1, 5) j))::real[]::vector $$;

CREATE TABLE rn (id int PRIMARY KEY, v vector(8) NOT NULL, tag int NOT NULL)
	WITH (autovacuum_enabled = off);
-- built empty, with a filter column (labels, a label directory)
CREATE INDEX rn_v ON rn USING omendb (v, tag);
INSERT INTO rn SELECT i, rn_vec(i), i % 7 FROM generate_series(1, 6000) i;

-- pages pinned a query, over the searches of every nth row of tbl (id, v)
-- for its 10 nearest rows, from this backend's scan counters
CREATE FUNCTION pages_a_query(tbl regclass, nth int) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
	pages float8;
BEGIN
	PERFORM omendb_scan_stats_reset();
	EXECUTE format('SELECT count(*) FROM %1$s t WHERE t.id %% %2$s = 0 AND
		t.id IN (SELECT u.id FROM %1$s u ORDER BY u.v <-> t.v LIMIT 10)',
				   tbl, nth);
	SELECT pages_pinned::float8 / scans INTO pages
	FROM omendb_scan_stats() WHERE scope = 'backend';
	RETURN pages;
END $$;

-- each query row's 10 nearest rows, and its 3 nearest of tag 3, by a sort
-- of the table
SET enable_indexscan = off;
CREATE TEMP TABLE exact AS
SELECT t.id AS qid,
	   array(SELECT u.id FROM rn u ORDER BY u.v <-> t.v, u.id LIMIT 10) AS ids,
	   array(SELECT u.id FROM rn u WHERE u.tag = 3 ORDER BY u.v <-> t.v, u.id LIMIT 3) AS ids_tag3
FROM rn t WHERE t.id % 50 = 0;
RESET enable_indexscan;

-- 0 never renumbers: this VACUUM refits the quantizer the index trained
-- on its first row and relinks the graph, which makes searches pin a
-- tenth fewer pages, and leaves the nodes where they are (renumbered,
-- they pin less than two thirds of what they did).
CREATE TEMP TABLE inserted AS SELECT pages_a_query('rn', 50) AS pages;
SET omendb.renumber_min_gain = 0;
VACUUM rn;
RESET omendb.renumber_min_gain;
CREATE TEMP TABLE before AS
SELECT pages_a_query('rn', 50) AS pages, pg_relation_size('rn_v') AS bytes;
SELECT b.pages > 3 * i.pages / 4 AS not_renumbered FROM before b, inserted i;

-- A row more, so that this VACUUM does not skip its cleanup as unchanged;
-- it renumbers at the default gain.
INSERT INTO rn VALUES (6001, rn_vec(6001), 6001 % 7);
VACUUM rn;

-- Searches pin at most two thirds of the pages they did, the index has
-- the size it had, and it passes omendb_check with the heap check (every
-- live node's code and labels those of its row, no edge to a free slot,
-- the counters as the pages have them), every node reachable.
SELECT pages_a_query('rn', 50) <= 2 * pages / 3 AS fewer_pages_a_query,
	   pg_relation_size('rn_v') = bytes AS same_size
FROM before;
SELECT k.live_nodes = (SELECT count(*) FROM rn) AS node_for_each_row,
	   k.deleted_nodes = 0 AS no_deleted_node,
	   k.reachable_fraction = 1 AS all_reachable
FROM omendb_check('rn_v', true) k;

-- The same answers as the sort, through the index, unfiltered and with
-- the filter column's quals.
SET omendb.search_list_size = 200;
SELECT count(*) AS differ
FROM exact e
WHERE e.ids <> array(SELECT u.id FROM rn u WHERE u.id <> 6001
					 ORDER BY u.v <-> (SELECT v FROM rn WHERE id = e.qid) LIMIT 10);
SELECT count(*) AS differ_filtered
FROM exact e
WHERE e.ids_tag3 <> array(SELECT u.id FROM rn u WHERE u.tag = 3 AND u.id <> 6001
						  ORDER BY u.v <-> (SELECT v FROM rn WHERE id = e.qid) LIMIT 3);
RESET omendb.search_list_size;

-- Laid out in order, the index is not renumbered again.
INSERT INTO rn VALUES (6002, rn_vec(6002), 6002 % 7);
CREATE TEMP TABLE renumbered AS SELECT pages_a_query('rn', 50) AS pages;
VACUUM rn;
SELECT pages_a_query('rn', 50) = pages AS same_pages_a_query FROM renumbered;

DROP TABLE rn;
DROP FUNCTION rn_vec(int);

-- Rows with no order to them, uniform in 32 dimensions, inserted one by
-- one: the members of a node's list share few pages in any order, but
-- the nodes a search meets first at each step do once laid out
-- breadth-first, and the default VACUUM renumbers (a search pinned 13%
-- fewer pages after it; counting each list's pages instead, it did not
-- renumber).
CREATE TABLE rr (id int PRIMARY KEY, v vector(32) NOT NULL)
	WITH (autovacuum_enabled = off);
CREATE INDEX rr_v ON rr USING omendb (v);
INSERT INTO rr
SELECT i, (SELECT array_agg((hashint4(i * 32 + j) & 1023) / 1024.0 ORDER BY j)
		   FROM generate_series(1, 32) j)::real[]::vector
FROM generate_series(1, 5000) i;
-- (this VACUUM refits the quantizer its first row trained)
SET omendb.renumber_min_gain = 0;
VACUUM rr;
RESET omendb.renumber_min_gain;
CREATE TEMP TABLE rr_before AS SELECT pages_a_query('rr', 25) AS pages;
INSERT INTO rr SELECT 5001, v FROM rr WHERE id = 1;
VACUUM rr;
SELECT pages_a_query('rr', 25) <= 11 * pages / 12 AS fewer_pages_a_query
FROM rr_before;
DROP TABLE rr;
DROP FUNCTION pages_a_query(regclass, int);
