--
-- omendb_constant_dims: a dimension that is the same in every row (a
-- border pixel that is always 0, a padding column) carries no distance
-- between rows.  It must not set the scale of the quantizer's weights: if
-- it does, every other dimension's weight rounds to nothing in the
-- integer kernel the build compares codes with, every code-to-code
-- distance is 0, and the graph is built blind (recall@10 around 0.2).
--
-- Results that depend on how the graph happens to be built are never
-- printed; only whether they meet their bounds.
--
SET jit = off;

-- recall(tbl, op, n): mean recall@10 of the index over the first n rows
-- as queries, against a sequential scan and sort.
CREATE FUNCTION pg_temp.recall(tbl text, op text, n int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	got int[];
	want int[];
	hits int := 0;
	q record;
	sql text := format('SELECT array_agg(id) FROM (SELECT id FROM %I ORDER BY v %s $1 LIMIT 10) s', tbl, op);
BEGIN
	FOR q IN EXECUTE format('SELECT v FROM %I WHERE id <= %s', tbl, n) LOOP
		PERFORM set_config('enable_seqscan', 'off', true);
		PERFORM set_config('enable_indexscan', 'on', true);
		EXECUTE sql INTO got USING q.v;
		PERFORM set_config('enable_seqscan', 'on', true);
		PERFORM set_config('enable_indexscan', 'off', true);
		EXECUTE sql INTO want USING q.v;
		hits := hits + (SELECT count(*) FROM unnest(got) g WHERE g = ANY (want));
	END LOOP;
	RETURN hits / (10.0 * n);
END
$$;

-- Unit vectors with two dimensions always 0: the other dimensions' steps
-- are about 0.002, so a constant dimension given step 1 would outweigh
-- each of them some 250,000 times.
SELECT setseed(0.25);
CREATE TABLE omendb_cd (id int, v vector(32));
INSERT INTO omendb_cd
SELECT i, l2_normalize(('[0,0,' || string_agg(random()::text, ',') || ']')::vector)::vector(32)
FROM generate_series(1, 3000) i, generate_series(1, 30) j GROUP BY i;

CREATE INDEX omendb_cd_l2 ON omendb_cd USING omendb (v vector_l2_ops);
SELECT pg_temp.recall('omendb_cd', '<->', 50) >= 0.9 AS l2_recall_with_constant_dimensions;
DROP INDEX omendb_cd_l2;

-- Cosine indexes store the unit vectors, so the same holds for them.
CREATE INDEX omendb_cd_cos ON omendb_cd USING omendb (v vector_cosine_ops);
SELECT pg_temp.recall('omendb_cd', '<=>', 50) >= 0.9 AS cosine_recall_with_constant_dimensions;
DROP INDEX omendb_cd_cos;

-- Inner product: the transform's extra dimension spans [0, M] and the
-- constant ones must not outweigh the rest either.
CREATE INDEX omendb_cd_ip ON omendb_cd USING omendb (v vector_ip_ops);
SELECT pg_temp.recall('omendb_cd', '<#>', 50) >= 0.9 AS ip_recall_with_constant_dimensions;
DROP INDEX omendb_cd_ip;

-- A table whose rows are all the same vector: every dimension is constant.
-- Nothing to rank, but the index must build and find every row.
CREATE TABLE omendb_cd_same (id int, v vector(4));
INSERT INTO omendb_cd_same SELECT i, '[0.5,0,0,0.5]' FROM generate_series(1, 200) i;
CREATE INDEX omendb_cd_same_idx ON omendb_cd_same USING omendb (v vector_l2_ops);
SET enable_seqscan = off;
SELECT count(*) AS all_rows_found FROM (SELECT id FROM omendb_cd_same ORDER BY v <-> '[0.5,0,0,0.5]') s;
RESET enable_seqscan;
SELECT live_nodes, reachable_fraction FROM omendb_check('omendb_cd_same_idx', true);

DROP TABLE omendb_cd, omendb_cd_same;
