--
-- omendb_magnitudes: the index works alike on vectors of any magnitude.
--
-- Vectors so short that products of their elements fall below the normal
-- float range, where float rounding is absolute rather than relative: the
-- index returns lower bounds that the executor's exact distance must never
-- undercut, and with such vectors the executor's float arithmetic came out
-- below the bound ("index returned tuples in wrong order").  The bounds
-- hold against the executor's arithmetic, and the executor's cosine
-- distance is accurate for them.
--
-- Scaled data: code distances are computed in units of a power of two
-- near the largest quantizer step, so an index over data scaled by a power
-- of two does the same work as over the data itself, where squared steps
-- would otherwise fall below or above the float range.
--
SET jit = off;

-- in_exact_order(tbl, op, q): whether the index returns every row of tbl
-- by v op q, in the order of the exact distances (ties in any order).
CREATE FUNCTION pg_temp.in_exact_order(tbl text, op text, q vector) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	query text := format('SELECT id, v %s %L::vector AS d FROM %I ORDER BY v %s %L::vector', op, q, tbl, op, q);
	got_d float8[];
	got_ids int[];
	want_d float8[];
	want_ids int[];
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	EXECUTE format('SELECT array_agg(d ORDER BY n), array_agg(id ORDER BY id) FROM (SELECT s.*, row_number() OVER () AS n FROM (%s) s) r', query)
		INTO got_d, got_ids;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	EXECUTE format('SELECT array_agg(d ORDER BY d), array_agg(id ORDER BY id) FROM (%s) s', query)
		INTO want_d, want_ids;
	PERFORM set_config('enable_indexscan', 'on', true);
	RETURN got_d = want_d AND got_ids = want_ids;
END
$$;

-- The cases that failed: a cosine distance of 0.005 that the executor's
-- float sums rounded to 0 under a bound of 0.00495, and an L2 distance
-- whose squared terms are below the smallest normal float.
CREATE TABLE omendb_tiny (id int, v vector(2));
INSERT INTO omendb_tiny VALUES (1, '[1e-22,1e-23]'), (2, '[1e-22,-1e-23]'), (3, '[1e-22,0]'), (4, '[2e-22,5e-23]');
CREATE INDEX omendb_tiny_l2 ON omendb_tiny USING omendb (v vector_l2_ops);
CREATE INDEX omendb_tiny_ip ON omendb_tiny USING omendb (v vector_ip_ops);
CREATE INDEX omendb_tiny_cos ON omendb_tiny USING omendb (v vector_cosine_ops);
SELECT id, round((v <=> '[1e-22,0]')::numeric, 6) AS cosine_distance FROM omendb_tiny ORDER BY id;
SELECT pg_temp.in_exact_order('omendb_tiny', '<=>', '[1e-22,0]') AS cosine,
	   pg_temp.in_exact_order('omendb_tiny', '<->', '[1e-22,1e-23]') AS l2,
	   pg_temp.in_exact_order('omendb_tiny', '<#>', '[1e-22,0]') AS ip;
DROP TABLE omendb_tiny;

-- 400 rows at each of four scales from 1e-19 (squares just subnormal) to
-- 1e-37 (elements near the smallest normal float), each scale in its own
-- table and indexes, queried at its own scale and at a larger one.
CREATE TABLE omendb_tiny (id int, v vector(8));
CREATE INDEX omendb_tiny_l2 ON omendb_tiny USING omendb (v vector_l2_ops);
CREATE INDEX omendb_tiny_ip ON omendb_tiny USING omendb (v vector_ip_ops);
CREATE INDEX omendb_tiny_cos ON omendb_tiny USING omendb (v vector_cosine_ops);
CREATE FUNCTION pg_temp.tiny_vec(s float8, i int) RETURNS vector LANGUAGE sql AS $$
	SELECT array_agg(s * sin(i * 1.3 + j * j * 0.7) * (1 + (i % 5)))::real[]::vector
	FROM generate_series(1, 8) j
$$;
CREATE TABLE omendb_tiny_scales (s float8);
INSERT INTO omendb_tiny_scales VALUES (1e-19), (1e-21), (1e-23), (1e-37);
CREATE FUNCTION pg_temp.all_in_order(s float8) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text := '';
	op text;
BEGIN
	TRUNCATE omendb_tiny;
	INSERT INTO omendb_tiny SELECT i, pg_temp.tiny_vec(s, i) FROM generate_series(1, 400) i;
	FOREACH op IN ARRAY ARRAY['<->', '<#>', '<=>'] LOOP
		r := r || op || ' ' ||
			pg_temp.in_exact_order('omendb_tiny', op, pg_temp.tiny_vec(s, 1000))::text || ' ' ||
			pg_temp.in_exact_order('omendb_tiny', op, pg_temp.tiny_vec(s * 1000, 1001))::text || '  ';
	END LOOP;
	RETURN r;
END
$$;
SELECT s, pg_temp.all_in_order(s) AS in_exact_order FROM omendb_tiny_scales ORDER BY s DESC;
SELECT live_nodes FROM omendb_check('omendb_tiny_l2', true);
SELECT live_nodes FROM omendb_check('omendb_tiny_ip', true);
SELECT live_nodes FROM omendb_check('omendb_tiny_cos', true);
DROP TABLE omendb_tiny, omendb_tiny_scales;

\i sql/include/index_hits.sql

-- work(s, op): buffers a LIMIT 10 query by op touches in an index over
-- 3,000 16-d rows scaled by s (the same rows, and query, at every scale).
CREATE TABLE omendb_mag_base AS
SELECT i AS id, array_agg(sin(i * 1.3 + j * j * 0.7) * (1 + (i % 5)))::real[] AS a
FROM generate_series(1, 3000) i, generate_series(1, 16) j GROUP BY i;
CREATE TABLE omendb_mag (id int, v vector(16));
CREATE FUNCTION pg_temp.work(s float8, op text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	opclass text := CASE op WHEN '<->' THEN 'vector_l2_ops' WHEN '<#>' THEN 'vector_ip_ops' ELSE 'vector_cosine_ops' END;
	qv vector;
	hits int;
BEGIN
	TRUNCATE omendb_mag;
	INSERT INTO omendb_mag SELECT id, (SELECT array_agg(x * s) FROM unnest(a) x)::real[] FROM omendb_mag_base;
	EXECUTE format('CREATE INDEX omendb_mag_idx ON omendb_mag USING omendb (v %s)', opclass);
	SELECT v INTO qv FROM omendb_mag WHERE id = 17;
	hits := pg_temp.index_hits(format('SELECT id FROM omendb_mag ORDER BY v %s %L::vector LIMIT 10', op, qv));
	DROP INDEX omendb_mag_idx;
	RETURN hits;
END
$$;

-- At scale 1 a query touches about 95 (L2), 100 (cosine) and 285 (inner
-- product) buffers.  Scaled by 2^-70, 2^-100, 2^70 and 2^100, L2 and
-- cosine do within half as much again; inner product too at 2^-70.  (At
-- 2^-100 the executor's float inner products are all 0, and every bound
-- must allow for that.)
CREATE TABLE omendb_mag_cases (op text, e int);
INSERT INTO omendb_mag_cases VALUES
	('<->', -70), ('<->', -100), ('<->', 70), ('<->', 100),
	('<=>', -70), ('<=>', -100), ('<=>', 70), ('<=>', 100),
	('<#>', -70);
SELECT op, e, pg_temp.work(power(2::float8, e), op) <= 1.5 * pg_temp.work(1, op) AS same_work
FROM omendb_mag_cases ORDER BY op, e;
DROP TABLE omendb_mag, omendb_mag_base, omendb_mag_cases;

-- A range wider than the float range itself: x - lower overflowed a float
-- in the encoder, so the middle row clamped to code 255.
CREATE TABLE omendb_mag (id int, v vector(1));
INSERT INTO omendb_mag VALUES (1, '[-3e38]'), (2, '[1e38]'), (3, '[3e38]');
CREATE INDEX omendb_mag_l2 ON omendb_mag USING omendb (v);
SELECT live_nodes, clamped_nodes FROM omendb_check('omendb_mag_l2', true);
DROP TABLE omendb_mag;

-- Vectors tiny against the ranges: rows within a thousandth of 0, which
-- ranges of -127 to 128 make a code's value, so that their nodes' errors
-- are tiny too.  The bound's margin for float rounding, proportional to
-- the vectors and errors, is then tiny, but the query's rounding into code
-- space is proportional to its offset from the ranges' lower ends (L2),
-- and the kernel's inner-product sum to the codes' offsets: each needs a
-- slack of its own.
CREATE TABLE omendb_mag (id int, v vector(6));
INSERT INTO omendb_mag VALUES (-1, '[-127,-127,-127,-127,-127,-127]'), (-2, '[128,128,128,128,128,128]');
INSERT INTO omendb_mag
	SELECT i, ARRAY(SELECT (sin(i * 4.1414 + j * 17.17) * 0.001)::real FROM generate_series(1, 6) j)
	FROM generate_series(1, 300) i;
CREATE INDEX omendb_mag_l2 ON omendb_mag USING omendb (v vector_l2_ops);
CREATE INDEX omendb_mag_ip ON omendb_mag USING omendb (v vector_ip_ops);
SELECT op, count(*) FILTER (WHERE pg_temp.in_exact_order('omendb_mag', op, v)) AS in_order,
	count(*) AS queries
FROM omendb_mag, unnest(ARRAY['<->', '<#>']) op
WHERE id BETWEEN 1 AND 40
GROUP BY op ORDER BY op;
DROP TABLE omendb_mag;
