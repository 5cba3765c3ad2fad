--
-- halfvec_index: omendb indexes on halfvec columns.  The index works on
-- the exact float values of the halves, and the executor rechecks with
-- halfvec's own distance functions, which compute in float exactly as
-- vector's do; so a scan returns rows in exact distance order, and with a
-- search list covering the table it finds exactly the sequential scan's
-- nearest neighbours, for each operator class, after inserts, and after
-- DELETE and VACUUM.
--
-- Answers are compared as lists of distances: halves tie more often than
-- floats, and tied rows may come back in either order.
--
SET jit = off;

\i sql/include/vs_exact.sql
-- nearest_vs_exact(op, k): vs_exact of the distances of every query's k
-- nearest rows by op.
CREATE FUNCTION pg_temp.nearest_vs_exact(op text, k int) RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.vs_exact(format('SELECT q.qid, (SELECT array_agg(d) FROM (SELECT t.v %1$s q.v AS d FROM halfvec_idx_t t ORDER BY t.v %1$s q.v LIMIT %2$s) s) FROM halfvec_idx_q q ORDER BY q.qid',
								   op, k))
$$;

-- order_check(op): the first 100 rows of each query's index scan come in
-- non-decreasing exact distance, with no row twice.
CREATE FUNCTION pg_temp.order_check(op text)
RETURNS TABLE (queries bigint, rows_returned bigint, distinct_ids bigint, out_of_order bigint)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	RETURN QUERY EXECUTE format($q$
		SELECT count(DISTINCT qid), count(*), count(DISTINCT (qid, id)),
			   count(*) FILTER (WHERE d < prev)
		FROM (SELECT q.qid, r.id, r.d, lag(r.d) OVER (PARTITION BY q.qid ORDER BY r.n) AS prev
			  FROM halfvec_idx_q q CROSS JOIN LATERAL (
				SELECT s.id, s.d, row_number() OVER () AS n
				FROM (SELECT t.id, t.v %1$s q.v AS d FROM halfvec_idx_t t ORDER BY t.v %1$s q.v LIMIT 100) s) r) x$q$,
		op);
	PERFORM set_config('enable_seqscan', 'on', true);
END
$$;

-- all_checks(): both checks for the three operator classes.
CREATE FUNCTION pg_temp.all_checks()
RETURNS TABLE (op text, top10 text, queries bigint, rows_returned bigint,
			   distinct_ids bigint, out_of_order bigint)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('omendb.search_list_size', '1000', true);
	RETURN QUERY SELECT 'l2', pg_temp.nearest_vs_exact('<->', 10), NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint
		UNION ALL SELECT 'ip', pg_temp.nearest_vs_exact('<#>', 10), NULL, NULL, NULL, NULL
		UNION ALL SELECT 'cosine', pg_temp.nearest_vs_exact('<=>', 10), NULL, NULL, NULL, NULL;
	PERFORM set_config('omendb.search_list_size', '1', true);
	RETURN QUERY SELECT 'l2', NULL, * FROM pg_temp.order_check('<->')
		UNION ALL SELECT 'ip', NULL, * FROM pg_temp.order_check('<#>')
		UNION ALL SELECT 'cosine', NULL, * FROM pg_temp.order_check('<=>');
	PERFORM set_config('omendb.search_list_size', '0', true);
END
$$;

-- 600 rows of 12 dimensions, with magnitudes from 0.001 to 300 (the
-- half's precision is relative), 10 NULLs and a zero vector; 8 queries,
-- one of them a stored vector.
CREATE TABLE halfvec_idx_t (id int PRIMARY KEY, v halfvec(12));
INSERT INTO halfvec_idx_t
SELECT i, array_agg(sin(i * (0.3 + d * 0.11)) * 10 ^ ((i + d) % 6 - 3) * 3)::real[]
FROM generate_series(1, 600) i, generate_series(1, 12) d GROUP BY i;
INSERT INTO halfvec_idx_t SELECT i, NULL FROM generate_series(601, 610) i;
INSERT INTO halfvec_idx_t SELECT 611, array_fill(0, ARRAY[12])::halfvec;
CREATE TABLE halfvec_idx_q (qid int PRIMARY KEY, v halfvec(12));
INSERT INTO halfvec_idx_q
SELECT q, array_agg(cos(q * (1.7 + d * 0.23)) * (1 + d % 3))::real[]
FROM generate_series(1, 7) q, generate_series(1, 12) d GROUP BY q;
INSERT INTO halfvec_idx_q SELECT 8, v FROM halfvec_idx_t WHERE id = 42;

CREATE INDEX halfvec_idx_l2 ON halfvec_idx_t USING omendb (v halfvec_l2_ops);
CREATE INDEX halfvec_idx_ip ON halfvec_idx_t USING omendb (v halfvec_ip_ops);
CREATE INDEX halfvec_idx_cos ON halfvec_idx_t USING omendb (v halfvec_cosine_ops);

-- The operator classes pass amvalidate, and each index is used for its
-- operator with a halfvec query.
SELECT opcname, amvalidate(oid) FROM pg_opclass
WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'omendb') AND opcintype = 'halfvec'::regtype
ORDER BY opcname;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM halfvec_idx_t ORDER BY v <-> '[1,2,3,4,5,6,7,8,9,10,11,12]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM halfvec_idx_t ORDER BY v <#> '[1,2,3,4,5,6,7,8,9,10,11,12]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM halfvec_idx_t ORDER BY v <=> '[1,2,3,4,5,6,7,8,9,10,11,12]' LIMIT 5;
-- A vector query is cast to halfvec (the implicit cast), so the index
-- still serves it.
EXPLAIN (COSTS OFF) SELECT id FROM halfvec_idx_t ORDER BY v <-> '[1,2,3,4,5,6,7,8,9,10,11,12]'::vector LIMIT 5;
-- A NULL query returns every row with a vector (the 10 rows whose vector
-- is NULL are not in the index), with a NULL distance.  The NULL is known
-- only at run time, so that the planner keeps the ORDER BY and the index.
SELECT count(*), count(d) FROM (SELECT v <-> (SELECT NULL::halfvec) AS d FROM halfvec_idx_t ORDER BY v <-> (SELECT NULL::halfvec)) s;
RESET enable_seqscan;

SELECT * FROM pg_temp.all_checks();

-- Rows inserted into the built index.
INSERT INTO halfvec_idx_t
SELECT 1000 + i, array_agg(cos(i * (0.7 + d * 0.05)) * 10 ^ ((i * d) % 5 - 2))::real[]
FROM generate_series(1, 300) i, generate_series(1, 12) d GROUP BY i;
SELECT * FROM pg_temp.all_checks();

-- DELETE and VACUUM: deleted rows never come back, and rows inserted after
-- VACUUM (into the space it freed) are found.
DELETE FROM halfvec_idx_t WHERE id % 3 = 0;
SELECT * FROM pg_temp.all_checks();
VACUUM halfvec_idx_t;
SELECT * FROM pg_temp.all_checks();
INSERT INTO halfvec_idx_t
SELECT 2000 + i, array_agg(sin(i * d * 0.37) * 50)::real[]
FROM generate_series(1, 100) i, generate_series(1, 12) d GROUP BY i;
SELECT * FROM pg_temp.all_checks();

-- Every index holds exactly the table's rows and passes its checks.
SELECT c.relname, k.live_nodes,
	   (SELECT count(v) FROM halfvec_idx_t) AS table_rows,
	   k.live_nodes = k.reachable_live_nodes + (c.relname = 'halfvec_idx_cos')::int AS all_reachable
FROM unnest(ARRAY['halfvec_idx_l2', 'halfvec_idx_ip', 'halfvec_idx_cos']) c(relname),
	 omendb_check(c.relname::regclass, true) k;

-- omendb_recall measures a halfvec index too: exhaustive searches find
-- every true neighbour of the queries.
SET omendb.search_list_size = 1000;
SELECT c.relname, r.recall, r.queries
FROM unnest(ARRAY['halfvec_idx_l2', 'halfvec_idx_ip', 'halfvec_idx_cos']) c(relname),
	 omendb_recall(c.relname::regclass, (SELECT array_agg(v::vector) FROM halfvec_idx_q)) r;
RESET omendb.search_list_size;

-- REINDEX keeps it all.
REINDEX TABLE halfvec_idx_t;
SELECT * FROM pg_temp.all_checks();

-- An index on a halfvec without a dimension is refused, as for vector.
CREATE TABLE halfvec_idx_nodim (v halfvec);
CREATE INDEX ON halfvec_idx_nodim USING omendb (v halfvec_l2_ops);
-- (halfvec_l2_ops is the default class)
CREATE INDEX halfvec_idx_expr ON halfvec_idx_nodim USING omendb ((v::halfvec(3)));
SELECT opcname FROM pg_opclass
WHERE oid = (SELECT indclass[0] FROM pg_index WHERE indexrelid = 'halfvec_idx_expr'::regclass);
INSERT INTO halfvec_idx_nodim VALUES ('[1,2,3]');
INSERT INTO halfvec_idx_nodim VALUES ('[1,2]');

DROP TABLE halfvec_idx_t, halfvec_idx_q, halfvec_idx_nodim;
