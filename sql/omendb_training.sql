--
-- omendb_training: an index created on an empty table learns its quantizer
-- ranges from the first vector it indexes.  The ranges must come from the
-- vector as the index stores it (the unit vector under cosine), and must
-- stay finite however large that vector is, or every bound collapses and a
-- LIMIT query reads the whole index to prove its order.
--
-- Results that depend on how the graph happens to be built are never
-- printed; only whether they meet their bounds.
--
SET jit = off;

\i sql/include/index_hits.sql
\i sql/include/same_as_exact_query.sql

-- Cosine: a first row of tiny elements is the unit vector
-- [0.026, 0.052, ... 0.41] to the index, so the quantizer trains on that
-- unit vector, not on the raw elements (0.001 to 0.016), whose ranges
-- would clamp every later code and make a LIMIT 10 query read most of
-- the index's 5,000 nodes.  No code is clamped.
CREATE TABLE omendb_tr (id int, v vector(16));
CREATE INDEX omendb_tr_cos ON omendb_tr USING omendb (v vector_cosine_ops);
INSERT INTO omendb_tr VALUES (0, '[0.001,0.002,0.003,0.004,0.005,0.006,0.007,0.008,0.009,0.010,0.011,0.012,0.013,0.014,0.015,0.016]');
SELECT setseed(0.5);
INSERT INTO omendb_tr
SELECT i, array_agg(random() - 0.5)::real[]::vector
FROM generate_series(1, 5000) i, generate_series(1, 16) j GROUP BY i;

SELECT pg_temp.index_hits($$SELECT id FROM omendb_tr ORDER BY v <=> '[0.3,-0.2,0.1,0.1,0.3,-0.2,0.1,0.1,0.3,-0.2,0.1,0.1,0.3,-0.2,0.1,0.1]' LIMIT 10$$)
	< 5000 AS cosine_limit_reads_a_fraction_of_the_index;
SELECT pg_temp.same_as_exact($$SELECT id FROM omendb_tr ORDER BY v <=> '[0.3,-0.2,0.1,0.1,0.3,-0.2,0.1,0.1,0.3,-0.2,0.1,0.1,0.3,-0.2,0.1,0.1]' LIMIT 10$$)
	AS cosine_top10_exact;
SELECT live_nodes, reachable_fraction, clamped_nodes FROM omendb_check('omendb_tr_cos', true);
DROP TABLE omendb_tr;

-- Inner product: a first row with an element of 2e19 has a squared norm
-- beyond float range, so norms are summed in double: in float, the
-- index's maximum norm would be infinite, every bound -infinity, and each
-- query would drain the index.
CREATE TABLE omendb_tr (id int, v vector(4));
CREATE INDEX omendb_tr_ip ON omendb_tr USING omendb (v vector_ip_ops);
INSERT INTO omendb_tr VALUES (0, '[2e19,1,1,1]');
INSERT INTO omendb_tr
SELECT i, ARRAY[1e19 * sin(i), 1e19 * cos(i), 1e19 * sin(i * 0.7), 1e19 * cos(i * 1.3)]::real[]
FROM generate_series(1, 5000) i;

SELECT pg_temp.index_hits($$SELECT id FROM omendb_tr ORDER BY v <#> '[1,0.5,-0.25,2]' LIMIT 10$$)
	< 2500 AS ip_limit_reads_a_fraction_of_the_index;
SELECT pg_temp.same_as_exact($$SELECT id FROM omendb_tr ORDER BY v <#> '[1,0.5,-0.25,2]' LIMIT 10$$)
	AS ip_top10_exact;
SELECT live_nodes, reachable_fraction FROM omendb_check('omendb_tr_ip', true);
DROP TABLE omendb_tr;

-- A vector whose norm is beyond float range cannot be ranked by an
-- inner-product index (its maximum norm would be infinite): refused as the
-- first vector of an index built empty, which stays untrained, and by a
-- trained index, as the build refuses it.
CREATE TABLE omendb_tr (id int, v vector(3));
CREATE INDEX omendb_tr_ip ON omendb_tr USING omendb (v vector_ip_ops);
\set VERBOSITY sqlstate
INSERT INTO omendb_tr VALUES (1, '[3e38,3e38,1]');
\set VERBOSITY default
INSERT INTO omendb_tr VALUES (1, '[3e38,3e38,1]');
INSERT INTO omendb_tr VALUES (2, '[3e38,0,1]'), (3, '[1,2,3]'), (4, '[-1,0.5,0]');
INSERT INTO omendb_tr VALUES (5, '[0,3e38,3e38]');
SELECT pg_temp.same_as_exact($$SELECT id FROM omendb_tr ORDER BY v <#> '[1,1,1]' LIMIT 3$$) AS ip_exact;
SELECT live_nodes, reachable_fraction FROM omendb_check('omendb_tr_ip', true);
DROP TABLE omendb_tr;
