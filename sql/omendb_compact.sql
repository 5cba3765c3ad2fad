--
-- omendb_compact: VACUUM moves the live nodes of an index's last pages into
-- the slots it frees and truncates the pages it empties, so that under
-- rounds of deletes, inserts and VACUUM the index keeps the size of a
-- fresh build of the same rows.
--
-- Rows inserted before the VACUUM that frees the slots of the rows deleted
-- find no free slot and go to new pages; without the moves the index kept
-- a round's worth of free slots, 1.2 times a fresh build's size at 20%
-- churn.  A moved node keeps its code, its filter labels and its stored
-- value; every edge to its old slot is taken over to the new one
-- (README.omendb, "Moving nodes").
--
SET enable_seqscan = off;

-- 16 pseudo-random elements in [0, 1) from the id; every 50th row's vector
-- is zero, which a cosine index holds as a zero node outside the graph
-- (and which the queries below leave out: their distances tie)
CREATE FUNCTION cmp_vec(id int) RETURNS vector LANGUAGE sql IMMUTABLE AS
$$ SELECT array_agg(CASE WHEN id % 50 = 0 THEN 0 ELSE (hashint4(id * 16 + j) & 65535) / 65536.0 END
				   ORDER BY j)::real[]::vector
   FROM generate_series(0, 15) j $$;

CREATE TABLE cmp (id int PRIMARY KEY, v vector(16) NOT NULL, tag int NOT NULL)
	WITH (autovacuum_enabled = off);
INSERT INTO cmp SELECT i, cmp_vec(i), i % 7 FROM generate_series(1, 4000) i;
-- with a filter column (labels), cosine (zero nodes), stored vectors
CREATE INDEX cmp_l2 ON cmp USING omendb (v, tag);
CREATE INDEX cmp_cos ON cmp USING omendb (v vector_cosine_ops);
CREATE INDEX cmp_sv ON cmp USING omendb (v) WITH (store_vectors = on);
CREATE TEMP TABLE fresh AS
SELECT c.relname AS index_name, pg_relation_size(c.oid) AS bytes
FROM pg_class c WHERE c.relname IN ('cmp_l2', 'cmp_cos', 'cmp_sv');

-- misses(op, index): rows not among the first 3 that index returns for
-- their own vector by op (zero vectors left out: their cosine distance is
-- NaN); raises if the planner takes another index for it
CREATE FUNCTION misses(op text, index text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	query text := format('SELECT count(*) FROM cmp t WHERE t.id %% 50 <> 0 AND
		t.id NOT IN (SELECT u.id FROM cmp u ORDER BY u.v %s t.v LIMIT 3)', op);
	plan text := '';
	line text;
	n bigint;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		plan := plan || line || E'\n';
	END LOOP;
	IF plan !~ ('Index Scan using ' || index || ' on cmp u') THEN
		RAISE EXCEPTION 'not a scan of %: %', index, plan;
	END IF;
	EXECUTE query INTO n;
	RETURN n;
END $$;

-- Three rounds: a fifth of the rows deleted, as many new ones inserted
-- (into new pages: no slot is free yet), then VACUUM.
SELECT stmt FROM generate_series(1, 3) r,
	LATERAL (VALUES
		(1, format('DELETE FROM cmp WHERE id IN (SELECT id FROM cmp ORDER BY hashint4(id + 31 * %s) LIMIT 800)', r)),
		(2, format('INSERT INTO cmp SELECT i, cmp_vec(i), i %% 7 FROM generate_series(%s, %s) i',
				   4001 + 800 * (r - 1), 4000 + 800 * r)),
		(3, 'VACUUM cmp')) s(k, stmt)
ORDER BY r, k
\gexec

-- Each index is within 5% of its fresh build's size (it would be 20%
-- larger without the moves), holds a node for each row and no deleted one
-- but a kept entry point, and passes omendb_check with the heap check,
-- which compares every live node's code, labels and stored value with its
-- row's.
SELECT f.index_name,
	   pg_relation_size(f.index_name::regclass) <= f.bytes * 1.05 AS within_5_percent_of_fresh,
	   k.live_nodes = (SELECT count(*) FROM cmp) AS node_for_each_row,
	   k.deleted_nodes <= 1 AS no_deleted_but_entry,
	   k.reachable_fraction = 1 AS all_reachable
FROM fresh f, LATERAL omendb_check(f.index_name::regclass, true) k
ORDER BY f.index_name;

-- Every row finds itself through each index (each L2 index while the
-- other is out of the way: the planner may take either).
BEGIN;
DROP INDEX cmp_sv;
SELECT count(*) AS live_rows, misses('<->', 'cmp_l2') AS missed_l2, misses('<=>', 'cmp_cos') AS missed_cos
FROM cmp;
ROLLBACK;
BEGIN;
DROP INDEX cmp_l2;
SELECT misses('<->', 'cmp_sv') AS missed_sv;
ROLLBACK;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SET enable_seqscan = on;
CREATE TEMP TABLE exact AS
SELECT q.id AS qid, t.tag, array(SELECT u.id FROM cmp u WHERE u.tag = t.tag AND u.id % 50 <> 0
								  ORDER BY u.v <-> q.v LIMIT 10) AS ids
FROM cmp q, (VALUES (0), (3)) t(tag) WHERE q.id % 500 = 7;
RESET enable_indexscan;
RESET enable_bitmapscan;
SET enable_seqscan = off;

-- Filtered answers through the moved labels are exact: the executor
-- rechecks the order, and the index returns every row that passes.
EXPLAIN (COSTS OFF)
SELECT u.id FROM cmp u WHERE u.tag = 3 AND u.id % 50 <> 0
ORDER BY u.v <-> '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 10;
SELECT count(*) AS queries,
	   count(*) FILTER (WHERE e.ids = array(SELECT u.id FROM cmp u WHERE u.tag = e.tag AND u.id % 50 <> 0
											ORDER BY u.v <-> q.v LIMIT 10)) AS exact
FROM exact e JOIN cmp q ON q.id = e.qid;

-- A VACUUM with nothing to free or move leaves the index as it is.
CREATE TEMP TABLE before AS
SELECT c.relname AS index_name, pg_relation_size(c.oid) AS bytes
FROM pg_class c WHERE c.relname IN ('cmp_l2', 'cmp_cos', 'cmp_sv');
VACUUM cmp;
SELECT b.index_name, pg_relation_size(b.index_name::regclass) = b.bytes AS same_size
FROM before b ORDER BY b.index_name;

-- Deleting most of the table: VACUUM moves the rest to the front and
-- truncates the index to about the pages they fill.
DELETE FROM cmp WHERE id % 10 <> 0;
VACUUM cmp;
SELECT f.index_name,
	   pg_relation_size(f.index_name::regclass) <= f.bytes * 0.2 AS at_most_a_fifth_of_fresh,
	   k.live_nodes = (SELECT count(*) FROM cmp) AS node_for_each_row
FROM fresh f, LATERAL omendb_check(f.index_name::regclass, true) k
ORDER BY f.index_name;
BEGIN;
DROP INDEX cmp_sv;
SELECT count(*) AS live_rows, misses('<->', 'cmp_l2') AS missed_l2, misses('<=>', 'cmp_cos') AS missed_cos
FROM cmp;
ROLLBACK;
BEGIN;
DROP INDEX cmp_l2;
SELECT misses('<->', 'cmp_sv') AS missed_sv;
ROLLBACK;

DROP TABLE cmp;
DROP FUNCTION cmp_vec(int);
DROP FUNCTION misses(text, text);
