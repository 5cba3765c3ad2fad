--
-- omendb_churn: under rounds of deletes, VACUUM and inserts, every row
-- still finds itself, and deleted nodes waiting for VACUUM do not shorten
-- a search.
--
-- VACUUM's repair gives a node new edges only where it is among the
-- in-neighbours of a deleted node nearest to that node's out-neighbours;
-- a node that is not loses its edges to deleted nodes, and with its near
-- neighbours the in-edges from near it.  A node the repair would leave
-- with fewer than R/2 out-edges is re-linked from the deleted nodes'
-- lists and given its reverse edges (README.omendb, "Deletion and slot
-- reuse").  Without that, 5 of these 5,000 rows are not found at list 10.
--
SET enable_seqscan = off;

-- 32 pseudo-random elements in [0, 1) from the id: distinct for distinct
-- ids, so that a row's own vector finds that row alone at distance 0
CREATE FUNCTION churn_vec(id int) RETURNS vector LANGUAGE sql IMMUTABLE AS
$$ SELECT array_agg((hashint4(id * 32 + j) & 65535) / 65536.0 ORDER BY j)::real[]::vector
   FROM generate_series(0, 31) j $$;

-- misses(list): the rows that are not among the first 3 the index returns
-- for their own vector at that search list
CREATE FUNCTION misses(list int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM set_config('omendb.search_list_size', list::text, true);
	SELECT count(*) INTO n FROM churn t
	WHERE t.id NOT IN (SELECT u.id FROM churn u ORDER BY u.v <-> t.v LIMIT 3);
	RETURN n;
END $$;

CREATE TABLE churn (id int PRIMARY KEY, v vector(32) NOT NULL)
	WITH (autovacuum_enabled = off);
INSERT INTO churn SELECT i, churn_vec(i) FROM generate_series(1, 5000) i;
CREATE INDEX churn_v ON churn USING omendb (v);

-- Six rounds of deleting a quarter of the rows, VACUUM and inserting as
-- many new ones (each statement on its own, since VACUUM cannot run in a
-- transaction block).
SELECT stmt FROM generate_series(1, 6) r,
	LATERAL (VALUES
		(1, format('DELETE FROM churn WHERE id IN (SELECT id FROM churn ORDER BY hashint4(id + 77 * %s) LIMIT 1250)', r)),
		(2, 'VACUUM churn'),
		(3, format('INSERT INTO churn SELECT i, churn_vec(i) FROM generate_series(%s, %s) i',
				   5001 + 1250 * (r - 1), 5000 + 1250 * r))) s(k, stmt)
ORDER BY r, k
\gexec

-- Every row finds itself, at the default list and at a short one.
SELECT count(*) AS live_rows, misses(40) AS missed_at_40, misses(10) AS missed_at_10
FROM churn;

-- An insert whose reverse edge re-prunes a full list hands each live node
-- the prune drops to the kept neighbour nearest it (README.omendb,
-- "Insert"): at a list of 6, 5 rows are missed, 10 without that.
SELECT misses(6) <= 5 AS few_missed_at_6;

-- Deleted nodes wait in the graph for VACUUM, traversed but never
-- returned.  They take no place in a search's list: with a third of the
-- rows deleted and their nodes flagged (by a scan that met every row, as
-- the executor found them dead), every row left still finds itself at
-- the short list.  Counted as members of the list, they left 3 rows
-- unfound there.
DELETE FROM churn WHERE id % 3 = 0;
SELECT count(*) AS rows_returned FROM (SELECT id FROM churn ORDER BY v <-> churn_vec(1)) s;
SELECT live_nodes, deleted_nodes FROM omendb_check('churn_v');
SELECT count(*) AS live_rows, misses(10) AS missed_at_10 FROM churn;

-- VACUUM's repair keeps the lists about as long as it found them: a list
-- whose replacement edges outnumber the edges it lost is pruned
-- (README.omendb, "Why the repair keeps lists short").  After two VACUUMs
-- that each take out 5% of the rows, the sampled mean degree is 4% above
-- the build's; appending the replacement edges up to the slots leaves it
-- 8.5% above.
CREATE TABLE churn_deg (id int PRIMARY KEY, v vector(32) NOT NULL)
	WITH (autovacuum_enabled = off);
INSERT INTO churn_deg SELECT i, churn_vec(i) FROM generate_series(1, 5000) i;
CREATE INDEX churn_deg_v ON churn_deg USING omendb (v);
CREATE TEMP TABLE built_degree AS
	SELECT mean_degree FROM omendb_index_stats('churn_deg_v');
DELETE FROM churn_deg WHERE id IN (SELECT id FROM churn_deg ORDER BY hashint4(id + 77) LIMIT 250);
VACUUM churn_deg;
DELETE FROM churn_deg WHERE id IN (SELECT id FROM churn_deg ORDER BY hashint4(id + 78) LIMIT 250);
VACUUM churn_deg;
SELECT s.mean_degree < 1.05 * b.mean_degree AS degree_near_the_builds
FROM omendb_index_stats('churn_deg_v') s, built_degree b;
-- The rows are found as before: 3 of them not at list 10 with either rule.
SET omendb.search_list_size = 10;
SELECT count(*) AS live_rows,
	   count(*) FILTER (WHERE t.id NOT IN (SELECT u.id FROM churn_deg u
										  ORDER BY u.v <-> t.v LIMIT 3)) <= 3
	   AS few_missed_at_10
FROM churn_deg t;
RESET omendb.search_list_size;
DROP TABLE churn_deg;

DROP TABLE churn;
DROP FUNCTION misses(int);
DROP FUNCTION churn_vec(int);
