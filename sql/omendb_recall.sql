--
-- omendb_recall: recall@k of an index scan against an exact scan, for given
-- or sampled queries; its 95% interval; the search list it suggests; the
-- index's key, operator and predicate taken from the catalogs; the
-- caller's privileges; and its errors.
--
SET jit = off;

\i sql/include/error_of.sql

-- err_detail(sql): the same, with the error's detail.
CREATE FUNCTION pg_temp.err_detail(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE sql;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM || ' (' || detail || ')';
END
$$;

-- plain_recall(tab, key, op, pred, queries, k): recall@k computed here,
-- apart from omendb_recall: for each query, the k-th distance of an exact
-- scan (no index scans allowed), and how many of the first k rows of an
-- index scan (no sequential scans allowed) lie within it, over k times the
-- number of queries.
CREATE FUNCTION pg_temp.plain_recall(tab text, key text, op text, pred text,
									 queries vector[], k int)
RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	q vector;
	kth float8;
	n bigint;
	hits bigint := 0;
BEGIN
	FOREACH q IN ARRAY queries LOOP
		PERFORM set_config('enable_indexscan', 'off', true);
		EXECUTE format('SELECT max(d) FROM (SELECT %s %s $1 AS d FROM %s WHERE %s ORDER BY d LIMIT $2) s',
					   key, op, tab, pred) INTO kth USING q, k;
		PERFORM set_config('enable_indexscan', 'on', true);
		PERFORM set_config('enable_seqscan', 'off', true);
		EXECUTE format('SELECT count(*) FROM (SELECT %s %s $1 AS d FROM %s WHERE %s ORDER BY d LIMIT $2) s WHERE d <= $3',
					   key, op, tab, pred) INTO n USING q, k, kth;
		PERFORM set_config('enable_seqscan', 'on', true);
		hits := hits + n;
	END LOOP;
	RETURN hits::float8 / (cardinality(queries) * k);
END
$$;

-- wave(i, d, f): a d-dimensional vector varied in every dimension.
CREATE FUNCTION pg_temp.wave(i int, d int, f float8) RETURNS vector LANGUAGE sql AS $$
	SELECT array_agg(sin(i * f * j + j) + cos(i * 0.011 * j))::real[]::vector FROM generate_series(1, d) j
$$;

-- 3,000 rows of 16 dimensions, and 20 queries that are not rows.
CREATE TABLE rec (id int, v vector(16), c int);
INSERT INTO rec SELECT i, pg_temp.wave(i, 16, 0.37), i % 4 FROM generate_series(1, 3000) i;
INSERT INTO rec VALUES (0, NULL, 0);
CREATE INDEX rec_l2 ON rec USING omendb (v);
CREATE TEMP TABLE probe AS
SELECT array_agg(pg_temp.wave(i, 16, 0.61)) AS qs FROM generate_series(5001, 5020) i;

-- 1. The recall of the given queries equals the one computed above, at a
-- list of 1, where the index misses rows, and at the default list.  The
-- 95% interval holds it.  The settings the measurement changes are back
-- as they were.
SET omendb.search_list_size = 1;
SELECT r.recall = pg_temp.plain_recall('rec', 'v', '<->', 'true', p.qs, 10) AS same_recall,
	   r.recall < 1 AS misses, r.queries, r.search_list_size,
	   r.recall_low <= r.recall AND r.recall <= r.recall_high AS interval_holds_it,
	   r.recall_low < r.recall_high AS interval_has_width
FROM probe p, omendb_recall('rec_l2', p.qs) r;
SHOW omendb.search_list_size;
SHOW enable_seqscan;
SHOW enable_sort;
RESET omendb.search_list_size;
SELECT r.recall = pg_temp.plain_recall('rec', 'v', '<->', 'true', p.qs, 5) AS same_recall,
	   r.queries, r.search_list_size,
	   r.recall_low <= r.recall AND r.recall <= r.recall_high AS interval_holds_it
FROM probe p, omendb_recall('rec_l2', p.qs, k => 5) r;
SHOW omendb.search_list_size;
-- settings made with SET LOCAL are kept too, and end with the transaction
BEGIN;
SET LOCAL enable_seqscan = off;
SET LOCAL omendb.search_list_size = 3;
SELECT r.search_list_size FROM probe p, omendb_recall('rec_l2', p.qs) r;
SHOW enable_seqscan;
SHOW omendb.search_list_size;
COMMIT;
SHOW enable_seqscan;
SHOW omendb.search_list_size;

-- 2. A list at least as long as the index has node slots searches the
-- whole index: recall 1, for given and sampled queries.  The interval
-- still has width: 1 over 20 queries is no proof of 1 everywhere.
SET omendb.search_list_size = 10000;
SELECT r.recall, r.recall_high, round(r.recall_low::numeric, 4) AS recall_low, r.queries
FROM probe p, omendb_recall('rec_l2', p.qs) r;
SELECT recall, queries, search_list_size FROM omendb_recall('rec_l2', sample => 20);
RESET omendb.search_list_size;

-- 3. Below the target, the smallest of the doubled lists that reaches it
-- is suggested, and set, it measures at least the target.  Above the
-- target, halving down to k finds a smaller list that still reaches it.
SET omendb.search_list_size = 1;
CREATE TEMP TABLE low AS
SELECT r.* FROM probe p, omendb_recall('rec_l2', p.qs, k => 10, target => 0.99) r;
SELECT recall < 0.99 AS below_target, search_list_size,
	   suggested_search_list_size > 1 AS suggests_longer FROM low;
SELECT set_config('omendb.search_list_size', suggested_search_list_size::text, false) <> '0' FROM low;
SELECT r.recall >= 0.99 AS reaches_target, r.suggested_search_list_size = l.suggested_search_list_size AS same_suggestion
FROM probe p, low l, omendb_recall('rec_l2', p.qs, k => 10, target => 0.99) r;
-- one setting less than the suggestion falls short (it was swept before it)
SELECT set_config('omendb.search_list_size', (suggested_search_list_size / 2)::text, false) <> '0' FROM low;
SELECT r.recall < 0.99 AS half_falls_short
FROM probe p, omendb_recall('rec_l2', p.qs, k => 10, target => 0.99) r;
-- sampled the same way twice (the same seed), the sample gives the same
-- figures
SET omendb.search_list_size = 1;
SELECT setseed(0.25);
CREATE TEMP TABLE low_sampled AS SELECT * FROM omendb_recall('rec_l2', 40, 10, 0.99);
SELECT set_config('omendb.search_list_size', suggested_search_list_size::text, false) <> '0'
FROM low_sampled;
SELECT setseed(0.25);
SELECT r.recall >= 0.99 AS reaches_target, s.recall < 0.99 AS was_below
FROM low_sampled s, omendb_recall('rec_l2', 40, 10, 0.99) r;
RESET omendb.search_list_size;
SELECT r.recall >= 0.5 AS reaches_target, r.search_list_size,
	   r.suggested_search_list_size BETWEEN 10 AND 40 AS halved_within_k_and_40
FROM probe p, omendb_recall('rec_l2', p.qs, k => 10, target => 0.5) r;

-- 4. A sampled row is not its own neighbour: with two rows, each has one.
-- A sample larger than the table measures every row once.
CREATE TABLE rec_two (v vector(2));
INSERT INTO rec_two VALUES ('[0,0]'), ('[3,4]');
CREATE INDEX rec_two_l2 ON rec_two USING omendb (v);
SELECT recall, queries FROM omendb_recall('rec_two_l2', k => 1);
SELECT pg_temp.err_detail($$SELECT omendb_recall('rec_two_l2', k => 2)$$);
SELECT recall, queries FROM omendb_recall('rec_two_l2', ARRAY['[1,1]']::vector[], k => 2);
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_two_l2', ARRAY['[1,1]']::vector[], k => 3)$$);
DROP TABLE rec_two;

-- 5. Cosine and inner-product indexes: each index's own operator orders
-- both scans.  (Inner product's default list is 160.)
CREATE INDEX rec_cos ON rec USING omendb (v vector_cosine_ops);
CREATE INDEX rec_ip ON rec USING omendb (v vector_ip_ops);
SET omendb.search_list_size = 2;
SELECT r.recall = pg_temp.plain_recall('rec', 'v', '<=>', 'true', p.qs, 10) AS same_recall,
	   r.recall < 1 AS misses, r.search_list_size
FROM probe p, omendb_recall('rec_cos', p.qs) r;
SELECT r.recall = pg_temp.plain_recall('rec', 'v', '<#>', 'true', p.qs, 10) AS same_recall,
	   r.recall < 1 AS misses, r.search_list_size
FROM probe p, omendb_recall('rec_ip', p.qs) r;
RESET omendb.search_list_size;
SELECT search_list_size FROM probe p, omendb_recall('rec_ip', p.qs) r;
SET omendb.search_list_size = 10000;
SELECT recall FROM omendb_recall('rec_cos', sample => 10);
SELECT recall FROM omendb_recall('rec_ip', sample => 10);
RESET omendb.search_list_size;
DROP INDEX rec_cos, rec_ip;

-- 6. A partial index measures only rows its predicate accepts, and an
-- expression index its expression: the queries stay within the index.
CREATE TABLE rec_part (id int, v vector(16), c int);
INSERT INTO rec_part SELECT * FROM rec WHERE id <= 400;
CREATE INDEX rec_part_l2 ON rec_part USING omendb (v) WHERE c = 1;
SET omendb.search_list_size = 1;
SELECT r.recall = pg_temp.plain_recall('rec_part', 'v', '<->', 'c = 1', p.qs, 10) AS same_recall,
	   r.recall < 1 AS misses
FROM probe p, omendb_recall('rec_part_l2', p.qs) r;
SET omendb.search_list_size = 10000;
SELECT recall, queries FROM omendb_recall('rec_part_l2', sample => 1000, k => 3);
SELECT count(*) FROM rec_part WHERE c = 1;
CREATE TABLE rec_expr (id int, w vector(20));
INSERT INTO rec_expr SELECT id, v || '[1,2,3,4]'::vector FROM rec WHERE v IS NOT NULL;
CREATE INDEX rec_expr_cos ON rec_expr USING omendb ((subvector(w, 1, 16)::vector(16)) vector_cosine_ops);
SET omendb.search_list_size = 1;
SELECT r.recall = pg_temp.plain_recall('rec_expr', '(subvector(w, 1, 16)::vector(16))', '<=>', 'true', p.qs, 10)
		AS same_recall,
	   r.recall < 1 AS misses
FROM probe p, omendb_recall('rec_expr_cos', p.qs) r;
SET omendb.search_list_size = 10000;
SELECT recall, queries FROM omendb_recall('rec_expr_cos', sample => 10);
RESET omendb.search_list_size;
-- names that need quoting
CREATE SCHEMA "Rec Schema";
CREATE TABLE "Rec Schema"."Rec Table" ("Vec" vector(16), "Keep" boolean);
INSERT INTO "Rec Schema"."Rec Table" SELECT v, id % 2 = 0 FROM rec WHERE id <= 200;
CREATE INDEX "Rec Index" ON "Rec Schema"."Rec Table" USING omendb ("Vec") WHERE "Keep";
SET omendb.search_list_size = 1;
SELECT r.recall = pg_temp.plain_recall('"Rec Schema"."Rec Table"', '"Vec"', '<->', '"Keep"', p.qs, 10) AS same_recall
FROM probe p, omendb_recall('"Rec Schema"."Rec Index"', p.qs) r;
SET omendb.search_list_size = 10000;
SELECT recall, queries FROM omendb_recall('"Rec Schema"."Rec Index"', sample => 1000);
RESET omendb.search_list_size;
DROP SCHEMA "Rec Schema" CASCADE;
-- a table and columns named like the measurement's own aliases
CREATE TABLE omendb_q (v vector(16), tid int, d float8, self int);
INSERT INTO omendb_q SELECT v, id, id, id FROM rec WHERE id BETWEEN 1 AND 200;
CREATE INDEX omendb_q_l2 ON omendb_q USING omendb (v);
SET omendb.search_list_size = 1;
SELECT r.recall = pg_temp.plain_recall('omendb_q', 'v', '<->', 'true', p.qs, 10) AS same_recall
FROM probe p, omendb_recall('omendb_q_l2', p.qs) r;
SET omendb.search_list_size = 10000;
SELECT recall, queries FROM omendb_recall('omendb_q_l2', sample => 10);
RESET omendb.search_list_size;
DROP TABLE omendb_q;
-- a query of another dimension than the key is the operator's error
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_expr_cos', ARRAY[w] ) FROM rec_expr LIMIT 1$$);
DROP TABLE rec_part, rec_expr;

-- 7. It runs with the caller's privileges: a role that may not read the
-- table gets the usual error; granted SELECT, it measures.
CREATE ROLE regress_omendb_recall;
SET ROLE regress_omendb_recall;
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_l2', sample => 5)$$);
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_l2', ARRAY['[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]']::vector[])$$);
RESET ROLE;
GRANT SELECT ON rec TO regress_omendb_recall;
SET ROLE regress_omendb_recall;
SET omendb.search_list_size = 10000;
SELECT recall, queries FROM omendb_recall('rec_l2', sample => 5);
RESET omendb.search_list_size;
RESET ROLE;
REVOKE SELECT ON rec FROM regress_omendb_recall;
DROP ROLE regress_omendb_recall;

-- 8. The extension may move: the functions find their worker and the
-- index's operator wherever they are.
-- (Not on PostgreSQL 13, which has no SQL-standard function bodies: there
-- the wrappers look for the worker in the schema the extension was created
-- in, expected/omendb_recall_1.out.)
CREATE SCHEMA rec_s;
ALTER EXTENSION omendb SET SCHEMA rec_s;
SET omendb.search_list_size = 10000;
SELECT recall, queries FROM rec_s.omendb_recall('rec_l2', sample => 5);
SELECT recall, queries FROM rec_s.omendb_recall('rec_l2', ARRAY['[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]']::rec_s.vector[]);
RESET omendb.search_list_size;
ALTER EXTENSION omendb SET SCHEMA public;
DROP SCHEMA rec_s;

-- 9. Two indexes on the same key and operator class: the planner scans
-- only one of them for the queries, and measuring the other says so.
CREATE INDEX rec_l2_again ON rec USING omendb (v) WITH (graph_degree = 8);
SELECT pg_temp.err_detail($$SELECT omendb_recall('rec_l2', sample => 5)$$);
SELECT pg_temp.err_detail($$SELECT omendb_recall('rec_l2_again', sample => 5)$$);
DROP INDEX rec_l2_again;

-- 10. Errors.
CREATE INDEX rec_btree ON rec (id);
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_btree')$$);
SELECT pg_temp.error_of($$SELECT omendb_recall('rec')$$);
CREATE TABLE rec_parted (id int, v vector(2)) PARTITION BY RANGE (id);
CREATE TABLE rec_parted_1 PARTITION OF rec_parted FOR VALUES FROM (0) TO (10);
CREATE INDEX rec_parted_l2 ON rec_parted USING omendb (v);
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_parted_l2')$$);
DROP TABLE rec_parted;
-- an index the planner may not use, as a failed CREATE INDEX CONCURRENTLY
-- leaves it
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'rec_l2'::regclass;
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_l2')$$);
UPDATE pg_index SET indisvalid = true WHERE indexrelid = 'rec_l2'::regclass;
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_l2', sample => 0)$$);
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_l2', k => 0)$$);
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_l2', k => 3001)$$);
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_l2', target => 0)$$);
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_l2', target => 1.01)$$);
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_l2', target => 'NaN')$$);
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_l2', ARRAY[]::vector[])$$);
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_l2', ARRAY['[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]', NULL]::vector[])$$);
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_l2', ARRAY['[1,2]']::vector[])$$);
-- NULL arguments: a NULL row, as with other strict functions
SELECT recall IS NULL FROM omendb_recall('rec_l2', NULL::int);
SELECT pg_temp.error_of($$SELECT omendb_recall_measure('rec_l2', NULL, NULL, 10, 0.9)$$);
CREATE TABLE rec_empty (v vector(2), c int);
CREATE INDEX rec_empty_l2 ON rec_empty USING omendb (v);
CREATE INDEX rec_empty_part ON rec_empty USING omendb (v) WHERE c > 0;
SELECT pg_temp.err_detail($$SELECT omendb_recall('rec_empty_l2')$$);
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_empty_l2', ARRAY['[1,2]']::vector[])$$);
INSERT INTO rec_empty VALUES (NULL, 1), ('[1,2]', 0);
SELECT pg_temp.error_of($$SELECT omendb_recall('rec_empty_part')$$);
DROP TABLE rec_empty;
DROP INDEX rec_btree;

DROP TABLE rec;
