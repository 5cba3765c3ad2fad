--
-- omendb_check: verifying an omendb index.  The check passes on every kind
-- of healthy index (each operator class, after inserts, deletes, updates
-- and VACUUM, partial and expression indexes, an index built empty, with
-- and without the heap cross-check), its counts say how many nodes are
-- live and deleted and how many slots are free, and it refuses what is
-- not an omendb index, with the right SQLSTATE.  Damaged indexes are the
-- business of TAP test 015_corruption.pl.  Every fresh build learns its
-- quantizer's ranges from its rows, so it has no clamped codes; an index
-- created empty, whose ranges come from its first row, has them for rows
-- far outside.  How well the ranges fit shows in the mean error ratio
-- too (the section "The quantizer's fitness" below).
--
-- How many live nodes the graph reaches depends on how it happens to be
-- built, so it is printed only as whether it is nearly all of them.
--
SET jit = off;

-- chk(index, heapallindexed): the check's counts in one line.  The zero
-- vectors of a cosine index are live nodes outside the graph, in neither
-- figure of reachability: when all the others are reachable, the line
-- says how many are outside.
CREATE FUNCTION pg_temp.chk(idx regclass, heapallindexed boolean) RETURNS text
LANGUAGE sql AS $$
	SELECT format('%s nodes, %s live, %s deleted, %s free, %s',
				  nodes, live_nodes, deleted_nodes, free_nodes,
				  CASE WHEN reachable_live_nodes = live_nodes AND reachable_fraction = 1
					   THEN 'all reachable'
					   WHEN reachable_live_nodes < live_nodes AND reachable_fraction = 1
					   THEN format('all reachable but %s outside the graph',
								   live_nodes - reachable_live_nodes)
					   ELSE format('reachable %s (%s)', reachable_live_nodes, reachable_fraction) END)
	FROM omendb_check(idx, heapallindexed)
$$;

-- fit(index): the quantizer's fitness, clamped codes and the mean error
-- ratio (to two places; "none" when it is NULL; an infinite one as it is,
-- since numeric has no infinity before PostgreSQL 14).
CREATE FUNCTION pg_temp.fit(idx regclass) RETURNS text
LANGUAGE sql AS $$
	SELECT format('%s clamped, ratio %s', clamped_nodes,
				  coalesce(CASE WHEN mean_error_ratio = 'Infinity' THEN 'Infinity'
						   ELSE round(mean_error_ratio::numeric, 2)::text END, 'none'))
	FROM omendb_check(idx)
$$;

-- chk_all(): every omendb index in this schema, checked both ways, and
-- its quantizer's fitness.
CREATE FUNCTION pg_temp.chk_all() RETURNS TABLE (index_name text, plain text, heapallindexed text, fitness text)
LANGUAGE sql AS $$
	SELECT c.relname::text, pg_temp.chk(c.oid, false), pg_temp.chk(c.oid, true),
		   pg_temp.fit(c.oid)
	FROM pg_class c JOIN pg_am a ON a.oid = c.relam
	WHERE a.amname = 'omendb' AND c.relkind = 'i'
	  AND c.relnamespace = 'public'::regnamespace
	ORDER BY 1
$$;

\i sql/include/error_of.sql

-- 300 rows of 4 dimensions and 10 NULLs, one index per operator class.
CREATE TABLE chk_t (id int PRIMARY KEY, v vector(4), note text);
INSERT INTO chk_t
SELECT i, ARRAY[sin(i * 0.7), cos(i * 1.3), 2 * sin(i * 0.19), cos(i * 0.53) - 0.5]::real[], 'row ' || i
FROM generate_series(1, 300) i;
INSERT INTO chk_t SELECT i, NULL, NULL FROM generate_series(301, 310) i;
CREATE INDEX chk_t_l2 ON chk_t USING omendb (v vector_l2_ops);
CREATE INDEX chk_t_ip ON chk_t USING omendb (v vector_ip_ops);
CREATE INDEX chk_t_cos ON chk_t USING omendb (v vector_cosine_ops) WITH (graph_degree = 8);

-- A fresh build: one live node per non-NULL row.
SELECT * FROM pg_temp.chk_all();
-- The raw result: one row of counts.  Nodes are live, deleted or free.
SELECT nodes, live_nodes, deleted_nodes, free_nodes,
	   nodes = live_nodes + deleted_nodes + free_nodes AS adds_up,
	   reachable_live_nodes <= live_nodes AS reachable_le_live,
	   reachable_fraction > 0 AND reachable_fraction <= 1 AS fraction_in_range,
	   clamped_nodes, mean_error_ratio > 0.5 AND mean_error_ratio < 0.65 AS ratio_fits
FROM omendb_check('chk_t_l2');
-- heapallindexed defaults to false; it may be given by name.
SELECT nodes FROM omendb_check('chk_t_ip');
SELECT nodes FROM omendb_check(index => 'chk_t_ip', heapallindexed => true);

-- Inserts, one at a time and many at once; NULLs add no node.  Rows whose
-- last element, cos(i * 0.71), passes 0.5 lie outside the range the build
-- learned there ([-1.5, 0.5]); their codes clamp (in the cosine index,
-- those whose unit vectors leave the learned ranges).
INSERT INTO chk_t VALUES (311, '[0.5,0.5,0.5,0.5]', NULL), (312, NULL, NULL);
INSERT INTO chk_t
SELECT i, ARRAY[cos(i * 0.3), sin(i * 1.1), sin(i * 0.23), cos(i * 0.71)]::real[], NULL
FROM generate_series(1001, 1200) i;
SELECT * FROM pg_temp.chk_all();

-- Deleted rows keep their live nodes until VACUUM; the heap check accepts
-- live nodes of rows its snapshot does not see.  VACUUM flags the nodes
-- deleted, takes them out of the graph and frees their slots, all but
-- the entry point's, which stays a deleted node (in chk_t_ip the entry
-- point's row is not among the deleted).  The check finds no edge to a
-- free slot and each page's count of free slots right.  With more than 1%
-- of the live codes clamped, VACUUM also refits the quantizers: it learns
-- the ranges from the rows and re-encodes every node, and nothing clamps
-- after (the check compares each code with its row's, encoded by the
-- parameter set the node names); then it moves the entry point to the node
-- nearest the rows' centroid and relinks the graph with the new codes (so
-- that chk_t_ip, refitted, keeps a deleted entry node after the updates
-- below, as the others do).
DELETE FROM chk_t WHERE id % 3 = 0;
SELECT * FROM pg_temp.chk_all();
VACUUM chk_t;
SELECT * FROM pg_temp.chk_all();

-- Updates: a new vector is a new node, in a free slot (the old one is freed
-- at the next VACUUM); a HOT update of another column adds none, and the
-- heap check finds the row by its HOT chain's root.
UPDATE chk_t SET v = v * '[-1,1,-1,1]' WHERE id % 7 = 0;
UPDATE chk_t SET note = 'updated' WHERE id % 5 = 0;
SELECT * FROM pg_temp.chk_all();
VACUUM chk_t;
SELECT * FROM pg_temp.chk_all();
-- Rows inserted into the freed space, and into free slots: the index does
-- not grow.
INSERT INTO chk_t
SELECT i, ARRAY[sin(i * 0.31), cos(i * 0.9), cos(i * 0.27), sin(i * 0.6)]::real[], NULL
FROM generate_series(2001, 2100) i;
SELECT * FROM pg_temp.chk_all();

-- Inside a transaction that has changed the table: the heap check sees the
-- transaction's own changes.
BEGIN;
DELETE FROM chk_t WHERE id BETWEEN 2001 AND 2050;
INSERT INTO chk_t VALUES (3001, '[1,2,3,4]', NULL);
SELECT pg_temp.chk('chk_t_l2', true);
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.chk('chk_t_cos', true);
SELECT pg_temp.chk('chk_t_cos', true);
COMMIT;
DROP TABLE chk_t;

-- Partial and expression indexes hold only what their definition says;
-- the heap check evaluates the predicate and the expression.
CREATE TABLE chk_p (id int, v vector(4));
INSERT INTO chk_p
SELECT i, ARRAY[sin(i * 0.7), cos(i * 1.3), 2 * sin(i * 0.19), cos(i * 0.53) - 0.5]::real[]
FROM generate_series(1, 200) i;
CREATE INDEX chk_p_even ON chk_p USING omendb (v) WHERE id % 2 = 0;
CREATE INDEX chk_p_sub ON chk_p USING omendb ((subvector(v, 1, 3)::vector(3)) vector_cosine_ops);
CREATE INDEX chk_p_norm ON chk_p USING omendb ((l2_normalize(v)::vector(4)) vector_ip_ops) WHERE id > 50;
SELECT * FROM pg_temp.chk_all();
-- ([1,0,0,0] lies outside the ranges chk_p_sub and chk_p_norm learned
-- from unit vectors: the ten new rows clamp there)
INSERT INTO chk_p SELECT i, '[1,0,0,0]' FROM generate_series(201, 210) i;
DELETE FROM chk_p WHERE id < 20;
-- (VACUUM refits chk_p_sub's and chk_p_norm's quantizers, evaluating the
-- index expressions on the rows)
VACUUM chk_p;
SELECT * FROM pg_temp.chk_all();
DROP TABLE chk_p;

-- An index built on an empty table has no nodes and no quantizer until the
-- first vector arrives; a NULL does not train it, a row does.  A zero
-- vector does too, and a cosine index holds it as a zero node outside the
-- graph (every distance to it is NaN): a live node, which the heap check
-- expects, but no entry point; the next row becomes that.
CREATE TABLE chk_e (id int, v vector(3));
CREATE INDEX chk_e_l2 ON chk_e USING omendb (v);
CREATE INDEX chk_e_cos ON chk_e USING omendb (v vector_cosine_ops);
SELECT * FROM pg_temp.chk_all();
SELECT reachable_fraction FROM omendb_check('chk_e_l2');
INSERT INTO chk_e VALUES (1, NULL), (2, '[0,0,0]');
SELECT * FROM pg_temp.chk_all();
INSERT INTO chk_e VALUES (3, '[1,2,3]');
SELECT * FROM pg_temp.chk_all();
-- (both trained on [0,0,0]: chk_e_cos on [-1, 1] in each dimension, which
-- holds every unit vector; chk_e_l2 on [-2, 2], which [1,2,3] and nearly
-- all of these rows overstep, so their codes clamp)
INSERT INTO chk_e SELECT i, ARRAY[5 * sin(i), 5 * cos(i * 0.7), 3 * sin(i * 0.3)]::real[]
FROM generate_series(4, 100) i;
SELECT * FROM pg_temp.chk_all();
DROP TABLE chk_e;

-- Clamped codes.  An index created empty trains each dimension to
-- [-2m, 2m], m the first row's largest |element|: here [-0.008, 0.008].
-- Rows inside those ranges encode as usual; rows far outside clamp to
-- code 0 or 255, and their error bounds, hence the scan's lower bounds,
-- lose their precision.  The check counts them; REINDEX learns the ranges
-- from the rows, and nothing clamps.
CREATE TABLE chk_c (id int, v vector(4));
CREATE INDEX chk_c_l2 ON chk_c USING omendb (v);
CREATE INDEX chk_c_ip ON chk_c USING omendb (v vector_ip_ops);
INSERT INTO chk_c VALUES (1, '[0.001,0.002,0.003,0.004]');
INSERT INTO chk_c VALUES (2, '[-0.008,0.008,0,0.0079]'), (3, '[0.0005,-0.001,0.002,0.007]');
SELECT * FROM pg_temp.chk_all();
INSERT INTO chk_c SELECT i, ARRAY[i, -i, 2 * i, i % 5 + 1]::real[] FROM generate_series(4, 103) i;
SELECT * FROM pg_temp.chk_all();
REINDEX TABLE chk_c;
SELECT * FROM pg_temp.chk_all();
DROP TABLE chk_c;

-- The quantizer's fitness.  mean_error_ratio is the mean, over the live
-- nodes of the graph, of a node's error bound over the largest error a
-- vector inside the quantizer's ranges can get (half the diagonal of a
-- code cell).  Rows spread over the ranges land anywhere in their cells:
-- about 1/sqrt(3) = 0.58.  Rows on the grid of the codes encode exactly:
-- integers that span 0..255 in every dimension give steps of 1, and
-- ratio 0.  Rows far inside ranges much too wide for them share the two
-- cells around 0, which lies halfway between two codes in the ranges of
-- an index built empty ([-2m, 2m], m the first row's largest |element|):
-- near 1, though nothing clamps.  Clamped rows take it above 1 (chk_c
-- above).  Without the row that set the ranges, REINDEX learns ranges
-- that fit the others.
CREATE TABLE chk_f (id int, v vector(8));
INSERT INTO chk_f SELECT i, (SELECT array_agg((hashint4(i * 8 + j) & 65535) / 65536.0)::real[]
							 FROM generate_series(0, 7) j)
FROM generate_series(1, 300) i;
CREATE INDEX chk_f_spread ON chk_f USING omendb (v);
CREATE TABLE chk_g (id int, v vector(8));
INSERT INTO chk_g SELECT i, (SELECT array_agg((i * 37 + j * 11) % 256)::real[] FROM generate_series(0, 7) j)
FROM generate_series(0, 255) i;
CREATE INDEX chk_g_grid ON chk_g USING omendb (v);
CREATE TABLE chk_w (id int, v vector(8));
CREATE INDEX chk_w_wide ON chk_w USING omendb (v);
INSERT INTO chk_w SELECT 0, array_fill(1000::real, ARRAY[8]);
INSERT INTO chk_w SELECT * FROM chk_f;
SELECT pg_temp.fit('chk_f_spread') AS spread, pg_temp.fit('chk_g_grid') AS grid,
	   pg_temp.fit('chk_w_wide') AS wide;
DELETE FROM chk_w WHERE id = 0;
REINDEX INDEX chk_w_wide;
SELECT pg_temp.fit('chk_w_wide') AS reindexed;
SELECT pg_temp.chk('chk_w_wide', true);
DROP TABLE chk_f, chk_g, chk_w;

-- A row so far outside the ranges that its quantization error overflows a
-- float: the encoder stores the bound as +infinity, which scans take as no
-- bound at all.  That is valid (and clamped), and the scan still finds it.
CREATE TABLE chk_inf (id int, v vector(2));
CREATE INDEX chk_inf_l2 ON chk_inf USING omendb (v);
INSERT INTO chk_inf VALUES (1, '[1,1]');
INSERT INTO chk_inf VALUES (2, '[3e38,3e38]');
SELECT * FROM pg_temp.chk_all();
SET enable_seqscan = off;
SELECT id FROM chk_inf ORDER BY v <-> '[3e38,3e38]' LIMIT 2;
RESET enable_seqscan;
DROP TABLE chk_inf;

-- A column of 3 dimensions, an unlogged table and a temporary table.
CREATE TABLE chk_n (id int, v vector(3));
INSERT INTO chk_n SELECT i, ARRAY[i, i * i % 13, -i]::real[] FROM generate_series(1, 50) i;
CREATE INDEX chk_n_l2 ON chk_n USING omendb (v);
CREATE UNLOGGED TABLE chk_u (id int, v vector(2));
INSERT INTO chk_u SELECT i, ARRAY[sin(i), cos(i)]::real[] FROM generate_series(1, 50) i;
CREATE INDEX chk_u_l2 ON chk_u USING omendb (v);
SELECT * FROM pg_temp.chk_all();
CREATE TEMP TABLE chk_tmp (id int, v vector(2));
INSERT INTO chk_tmp SELECT i, ARRAY[sin(i), cos(i)]::real[] FROM generate_series(1, 50) i;
CREATE INDEX chk_tmp_l2 ON chk_tmp USING omendb (v);
SELECT pg_temp.chk('chk_tmp_l2', true);
-- after REINDEX, too
REINDEX INDEX chk_n_l2;
REINDEX INDEX CONCURRENTLY chk_u_l2;
SELECT * FROM pg_temp.chk_all();
DROP TABLE chk_n, chk_u, chk_tmp;

-- What is not an omendb index is refused with wrong_object_type (42809).
CREATE TABLE chk_x (id int PRIMARY KEY, v vector(2));
CREATE SEQUENCE chk_x_seq;
CREATE VIEW chk_x_view AS SELECT * FROM chk_x;
SELECT pg_temp.error_of($$SELECT omendb_check('chk_x')$$);
SELECT pg_temp.error_of($$SELECT omendb_check('chk_x_pkey')$$);
SELECT pg_temp.error_of($$SELECT omendb_check('chk_x_seq')$$);
SELECT pg_temp.error_of($$SELECT omendb_check('chk_x_view')$$);
-- a partitioned index has no data of its own: its partitions' indexes do
CREATE TABLE chk_part (id int, v vector(2)) PARTITION BY RANGE (id);
CREATE TABLE chk_part_1 PARTITION OF chk_part FOR VALUES FROM (0) TO (100);
INSERT INTO chk_part SELECT i, ARRAY[i, -i]::real[] FROM generate_series(0, 99) i;
CREATE INDEX chk_part_l2 ON chk_part USING omendb (v);
SELECT pg_temp.error_of($$SELECT omendb_check('chk_part_l2')$$);
SELECT pg_temp.chk(i.indexrelid, true)
FROM pg_index i WHERE i.indrelid = 'chk_part_1'::regclass;
-- STRICT: a NULL argument gives NULL
SELECT * FROM omendb_check(NULL);
SELECT * FROM omendb_check('chk_x_pkey', NULL);
DROP VIEW chk_x_view;
DROP TABLE chk_x, chk_part;
DROP SEQUENCE chk_x_seq;

-- Index expressions run with search_path pg_catalog, pg_temp, not the
-- caller's: a SQL function in an index expression resolves its names when
-- it runs, and must not pick up an operator the caller planted ahead of
-- pg_catalog (which would run as the table's owner).
CREATE TABLE chk_s (id int, v vector(3));
INSERT INTO chk_s SELECT i, ARRAY[i, 1, -i]::real[] FROM generate_series(1, 20) i;
CREATE FUNCTION public.chk_head(v vector) RETURNS vector IMMUTABLE LANGUAGE sql
	AS $$ SELECT public.subvector(v, 1, 1 + 1) $$;
CREATE INDEX chk_s_head ON chk_s USING omendb ((public.chk_head(v)::vector(2)));
CREATE SCHEMA chk_evil;
CREATE FUNCTION chk_evil.plus(int, int) RETURNS int LANGUAGE plpgsql
	AS $$ BEGIN RAISE EXCEPTION 'the caller''s operator ran'; END $$;
CREATE OPERATOR chk_evil.+ (LEFTARG = int, RIGHTARG = int, FUNCTION = chk_evil.plus);
SET search_path = chk_evil, pg_catalog, public;
SELECT 1 + 1;
SELECT pg_temp.chk('public.chk_s_head', true);
SHOW search_path;
RESET search_path;
DROP TABLE chk_s;
DROP FUNCTION public.chk_head(vector);
DROP SCHEMA chk_evil CASCADE;

-- Only superusers may run it, unless granted (it reads the whole index and
-- table, and their owners' expressions run).
CREATE ROLE regress_omendb_check;
CREATE TABLE chk_r (id int, v vector(2));
INSERT INTO chk_r VALUES (1, '[1,2]'), (2, '[2,1]');
CREATE INDEX chk_r_l2 ON chk_r USING omendb (v);
SET ROLE regress_omendb_check;
SELECT pg_temp.error_of($$SELECT omendb_check('chk_r_l2')$$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION omendb_check(regclass, boolean) TO regress_omendb_check;
SET ROLE regress_omendb_check;
SELECT nodes FROM omendb_check('chk_r_l2', true);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION omendb_check(regclass, boolean) FROM regress_omendb_check;
DROP TABLE chk_r;
DROP ROLE regress_omendb_check;
