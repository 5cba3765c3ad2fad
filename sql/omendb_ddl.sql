--
-- omendb_ddl: omendb indexes under table-level DDL: partitioned tables,
-- TRUNCATE, VACUUM FULL and CLUSTER, SET LOGGED/UNLOGGED, ALTER COLUMN
-- TYPE, materialized views, and transactions that roll back.  After each,
-- index scans give the sequential scan's answer (search list covering the
-- table, so the graph search is exhaustive).
--
SET jit = off;

\i sql/include/vs_exact.sql

-- 4-dimensional vectors with no ties in distance from the queries used.
CREATE FUNCTION pg_temp.v(i int) RETURNS vector LANGUAGE sql IMMUTABLE AS $$
	SELECT ARRAY[sin(i * 0.7), cos(i * 1.3), 2 * sin(i * 0.19), cos(i * 0.53) - 0.5]::real[]::vector
$$;

SET omendb.search_list_size = 1000;

--
-- Partitioned tables: an index on the parent is created on every
-- partition (also one attached or created later); ORDER BY ... LIMIT
-- merges the partitions' ordered index scans.
--
CREATE TABLE omendb_part (id int, cat int, v vector(4)) PARTITION BY LIST (cat);
CREATE TABLE omendb_part0 PARTITION OF omendb_part FOR VALUES IN (0);
CREATE TABLE omendb_part1 PARTITION OF omendb_part FOR VALUES IN (1);
INSERT INTO omendb_part SELECT i, i % 3, pg_temp.v(i) FROM generate_series(1, 600) i WHERE i % 3 < 2;
CREATE INDEX omendb_part_l2 ON omendb_part USING omendb (v);
CREATE TABLE omendb_part2 PARTITION OF omendb_part FOR VALUES IN (2);
INSERT INTO omendb_part SELECT i, i % 3, pg_temp.v(i) FROM generate_series(1, 600) i WHERE i % 3 = 2;
SELECT c.relname, i.indexrelid::regclass IS NOT NULL AS has_index,
	   (SELECT amname FROM pg_am WHERE oid = ic.relam) AS am
FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
JOIN pg_index i ON i.indrelid = c.oid JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE h.inhparent = 'omendb_part'::regclass ORDER BY c.relname;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM omendb_part ORDER BY v <-> '[0.1,0.2,0.3,0.4]' LIMIT 10;
-- Partition pruning leaves one ordered index scan.
EXPLAIN (COSTS OFF) SELECT id FROM omendb_part WHERE cat = 1 ORDER BY v <-> '[0.1,0.2,0.3,0.4]' LIMIT 10;
RESET enable_seqscan;
SELECT pg_temp.vs_exact($$SELECT id, v <-> '[0.1,0.2,0.3,0.4]' FROM omendb_part ORDER BY v <-> '[0.1,0.2,0.3,0.4]' LIMIT 10$$) AS all_partitions,
	   pg_temp.vs_exact($$SELECT id FROM omendb_part WHERE cat = 2 ORDER BY v <-> '[0.1,0.2,0.3,0.4]' LIMIT 10$$) AS one_partition;
-- A table attached as a partition gets a matching index.
CREATE TABLE omendb_part3 (id int, cat int, v vector(4));
INSERT INTO omendb_part3 SELECT i, 3, pg_temp.v(i) FROM generate_series(601, 700) i;
ALTER TABLE omendb_part ATTACH PARTITION omendb_part3 FOR VALUES IN (3);
SELECT count(*) AS omendb_indexes FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = 'omendb_part3'::regclass AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'omendb');
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_part ORDER BY v <-> '[-0.5,0.2,1,0]' LIMIT 10$$);

--
-- TRUNCATE empties the index; it then takes new rows.  Also TRUNCATE in
-- the transaction that created the table and index.
--
TRUNCATE omendb_part;
SET enable_seqscan = off;
SELECT id FROM omendb_part ORDER BY v <-> '[0.1,0.2,0.3,0.4]' LIMIT 10;
RESET enable_seqscan;
INSERT INTO omendb_part SELECT i, i % 4, pg_temp.v(i) FROM generate_series(1, 400) i;
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_part ORDER BY v <-> '[0.1,0.2,0.3,0.4]' LIMIT 10$$);
DROP TABLE omendb_part;

BEGIN;
CREATE TABLE omendb_trunc (id int, v vector(4));
CREATE INDEX ON omendb_trunc USING omendb (v vector_cosine_ops);
INSERT INTO omendb_trunc SELECT i, pg_temp.v(i) FROM generate_series(1, 100) i;
TRUNCATE omendb_trunc;
INSERT INTO omendb_trunc SELECT i, pg_temp.v(i) FROM generate_series(101, 300) i;
COMMIT;
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_trunc ORDER BY v <=> '[0.1,0.2,0.3,0.4]' LIMIT 10$$);
DROP TABLE omendb_trunc;

--
-- Table rewrites rebuild the index: VACUUM FULL, CLUSTER on another index,
-- SET UNLOGGED / SET LOGGED (the index follows the table's persistence),
-- ALTER COLUMN TYPE.
--
CREATE TABLE omendb_rw (id int PRIMARY KEY, v vector(4));
INSERT INTO omendb_rw SELECT i, pg_temp.v(i) FROM generate_series(1, 300) i;
CREATE INDEX omendb_rw_l2 ON omendb_rw USING omendb (v);
CREATE INDEX omendb_rw_ip ON omendb_rw USING omendb (v vector_ip_ops);
DELETE FROM omendb_rw WHERE id % 2 = 0;
VACUUM FULL omendb_rw;
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_rw ORDER BY v <-> '[0.1,0.2,0.3,0.4]' LIMIT 10$$) AS l2,
	   pg_temp.vs_exact($$SELECT id FROM omendb_rw ORDER BY v <#> '[0.1,0.2,0.3,0.4]' LIMIT 10$$) AS ip;
CLUSTER omendb_rw USING omendb_rw_pkey;
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_rw ORDER BY v <-> '[0.1,0.2,0.3,0.4]' LIMIT 10$$) AS l2,
	   pg_temp.vs_exact($$SELECT id FROM omendb_rw ORDER BY v <#> '[0.1,0.2,0.3,0.4]' LIMIT 10$$) AS ip;
-- ... but not on an omendb index, which has no order of its own.
CLUSTER omendb_rw USING omendb_rw_l2;
ALTER TABLE omendb_rw SET UNLOGGED;
SELECT relname, relpersistence FROM pg_class WHERE relname LIKE 'omendb_rw%' ORDER BY relname;
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_rw ORDER BY v <-> '[0.1,0.2,0.3,0.4]' LIMIT 10$$);
INSERT INTO omendb_rw SELECT i, pg_temp.v(i) FROM generate_series(301, 350) i;
ALTER TABLE omendb_rw SET LOGGED;
SELECT relname, relpersistence FROM pg_class WHERE relname LIKE 'omendb_rw%' ORDER BY relname;
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_rw ORDER BY v <-> '[0.1,0.2,0.3,0.4]' LIMIT 10$$);
ALTER TABLE omendb_rw ALTER COLUMN v TYPE vector(4) USING v * '[2,2,2,2]';
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_rw ORDER BY v <-> '[0.2,0.4,0.6,0.8]' LIMIT 10$$) AS l2,
	   pg_temp.vs_exact($$SELECT id FROM omendb_rw ORDER BY v <#> '[0.2,0.4,0.6,0.8]' LIMIT 10$$) AS ip;
-- A new dimension: the rebuilt index is for that dimension.
ALTER TABLE omendb_rw ALTER COLUMN v TYPE vector(2) USING subvector(v, 1, 2);
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_rw ORDER BY v <-> '[0.2,0.4]' LIMIT 10$$) AS l2,
	   pg_temp.vs_exact($$SELECT id FROM omendb_rw ORDER BY v <#> '[0.2,0.4]' LIMIT 10$$) AS ip;
-- Dropping the typmod is rejected by the rebuild, as by CREATE INDEX (the
-- index has no dimension to keep), and the table is left as it was.
ALTER TABLE omendb_rw ALTER COLUMN v TYPE vector USING CASE WHEN id = 1 THEN subvector(v, 1, 1) ELSE v END;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'omendb_rw'::regclass AND attname = 'v';
DROP TABLE omendb_rw;

--
-- Transactions: rows inserted by a rolled-back transaction or
-- subtransaction are never returned; an index created in a rolled-back
-- transaction does not exist.
--
CREATE TABLE omendb_tx (id int, v vector(4));
INSERT INTO omendb_tx SELECT i, pg_temp.v(i) FROM generate_series(1, 200) i;
CREATE INDEX omendb_tx_l2 ON omendb_tx USING omendb (v);
BEGIN;
INSERT INTO omendb_tx SELECT i, '[5,5,5,5]' FROM generate_series(1001, 1005) i;
SAVEPOINT s;
INSERT INTO omendb_tx SELECT i, '[5,5,5,5.01]' FROM generate_series(2001, 2005) i;
ROLLBACK TO s;
INSERT INTO omendb_tx SELECT i, '[5,5,5,5.02]' FROM generate_series(3001, 3005) i;
COMMIT;
BEGIN;
INSERT INTO omendb_tx SELECT i, '[5,5,5,5.03]' FROM generate_series(4001, 4005) i;
ROLLBACK;
SET enable_seqscan = off;
SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM omendb_tx ORDER BY v <-> '[5,5,5,5.01]' LIMIT 10) s;
RESET enable_seqscan;
BEGIN;
CREATE INDEX omendb_tx_cos ON omendb_tx USING omendb (v vector_cosine_ops);
SET LOCAL enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM omendb_tx ORDER BY v <=> '[1,1,1,1]' LIMIT 5) s;
ROLLBACK;
SELECT count(*) FROM pg_class WHERE relname = 'omendb_tx_cos';
DROP TABLE omendb_tx;

--
-- A materialized view can have an omendb index; REFRESH rebuilds it.  (The
-- first one spells out pg_temp.v's expression: PostgreSQL 17 on populates a
-- materialized view with search_path pg_catalog, pg_temp, where the body of
-- that SQL function, inlined, would not find the type.)
--
CREATE MATERIALIZED VIEW omendb_mv AS SELECT i AS id,
	ARRAY[sin(i * 0.7), cos(i * 1.3), 2 * sin(i * 0.19), cos(i * 0.53) - 0.5]::real[]::vector(4) AS v
	FROM generate_series(1, 100) i;
CREATE INDEX omendb_mv_l2 ON omendb_mv USING omendb (v);
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_mv ORDER BY v <-> '[0.1,0.2,0.3,0.4]' LIMIT 5$$);
DROP MATERIALIZED VIEW omendb_mv;
CREATE TABLE omendb_mv_src (id int, v vector(4));
INSERT INTO omendb_mv_src SELECT i, pg_temp.v(i) FROM generate_series(1, 100) i;
CREATE MATERIALIZED VIEW omendb_mv AS SELECT * FROM omendb_mv_src;
CREATE INDEX omendb_mv_l2 ON omendb_mv USING omendb (v);
INSERT INTO omendb_mv_src SELECT i, pg_temp.v(i) FROM generate_series(101, 300) i;
REFRESH MATERIALIZED VIEW omendb_mv;
SELECT pg_temp.vs_exact($$SELECT id FROM omendb_mv ORDER BY v <-> '[0.1,0.2,0.3,0.4]' LIMIT 10$$);
DROP MATERIALIZED VIEW omendb_mv;
DROP TABLE omendb_mv_src;

RESET omendb.search_list_size;
