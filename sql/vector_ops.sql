--
-- vector_ops: the distance, arithmetic, concatenation and comparison
-- operators, and the btree operator class.
--

\i sql/include/error_of.sql

-- <-> is Euclidean distance, <#> the negative inner product, <=> cosine
-- distance and <+> L1 (taxicab) distance, all double precision.
SELECT '[1,2,3]'::vector <-> '[3,2,1]' AS l2,
	   '[1,2,3]'::vector <#> '[4,5,6]' AS neg_ip,
	   '[1,2,3]'::vector <=> '[-1,0,2]' AS cosine,
	   '[1,2,3]'::vector <+> '[4,0,3]' AS l1;

-- Distances are symmetric (each operator is its own commutator), and zero
-- from a vector to itself.
SELECT a <-> b = b <-> a AS l2, a <#> b = b <#> a AS ip,
	   a <=> b = b <=> a AS cosine, a <+> b = b <+> a AS l1,
	   a <-> a AS l2_self, a <=> a AS cosine_self, a <+> a AS l1_self
FROM (VALUES ('[1.5,-2,3e10]'::vector, '[0.25,7,-1e-3]'::vector)) t(a, b);

-- Cosine distance is 0 for the same direction, 1 for orthogonal, 2 for
-- opposite vectors, and NaN when either vector is zero.
SELECT '[1,2,3]'::vector <=> '[2,4,6]' AS same,
	   '[1,0]'::vector <=> '[0,1]' AS orthogonal,
	   '[1,0]'::vector <=> '[-3,0]' AS opposite,
	   '[1,1]'::vector <=> '[1,0]' AS diagonal,
	   '[0,0]'::vector <=> '[1,1]' AS zero;

-- Elements near the float limit do not overflow the distances, which are
-- double precision.  (1e20 as a float4 is 100000002004087734272.)
SELECT '[1e20]'::vector <-> '[-1e20]' AS l2,
	   '[1e20]'::vector <#> '[1e20]' AS neg_ip,
	   '[1e20,1e20]'::vector <=> '[3e20,3e20]' AS cosine,
	   '[3e38,3e38]'::vector <+> '[-3e38,-3e38]' AS l1;

-- NULL in, NULL out.
SELECT NULL::vector <-> '[1]', '[1]'::vector <#> NULL, NULL::vector <=> NULL, '[1]'::vector <+> NULL;

-- Operands of different dimensions are a data_exception (22000).
SELECT '[1,2,3]'::vector <-> '[1,2]';
SELECT stmt, pg_temp.error_of(stmt)
FROM unnest(ARRAY[
	$$SELECT '[1,2,3]'::vector <#> '[1,2]'$$,
	$$SELECT '[1,2,3]'::vector <=> '[1,2]'$$,
	$$SELECT '[1]'::vector <+> '[1,2]'$$,
	$$SELECT '[1]'::vector + '[1,2]'$$,
	$$SELECT '[1]'::vector - '[1,2]'$$,
	$$SELECT '[1]'::vector * '[1,2]'$$
]) AS stmt;

-- The distances agree with a double-precision reference within 1e-4
-- (relative; for the inner product relative to |a| |b|, for cosine
-- absolute) for random vectors of every length class the kernels treat
-- differently: below, at and above multiples of the vector width, up to the
-- 16000-dimension limit, with small and with widely ranging magnitudes.
SELECT setseed(0.5);
CREATE TABLE vector_ops_rand AS
SELECT n, k, array_agg(x ORDER BY j) AS a, array_agg(y ORDER BY j) AS b
FROM unnest(ARRAY[1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64,
				  65, 100, 127, 128, 129, 255, 300, 1000, 1536, 4099, 16000]) n,
	 generate_series(1, 4) k,
	 LATERAL (SELECT j,
				((random() * 2 - 1) * CASE WHEN k > 2 THEN 10 ^ (random() * 20 - 10) ELSE 1 END)::real AS x,
				((random() * 2 - 1) * CASE WHEN k > 2 THEN 10 ^ (random() * 20 - 10) ELSE 1 END)::real AS y
			  FROM generate_series(1, n) j) e
GROUP BY n, k;
WITH ref AS (
	SELECT n, k, a::vector AS a, b::vector AS b,
		   (SELECT sum((x::float8 - y::float8) ^ 2) FROM unnest(a, b) u(x, y)) AS l2sq,
		   (SELECT sum(x::float8 * y::float8) FROM unnest(a, b) u(x, y)) AS ip,
		   (SELECT sum(abs(x::float8 - y::float8)) FROM unnest(a, b) u(x, y)) AS l1,
		   (SELECT sqrt(sum(x::float8 ^ 2) * sum(y::float8 ^ 2)) FROM unnest(a, b) u(x, y)) AS norms
	FROM vector_ops_rand
)
SELECT count(*) AS pairs,
	   count(*) FILTER (WHERE abs((a <-> b) - sqrt(l2sq)) > 1e-4 * sqrt(l2sq)) AS l2_bad,
	   count(*) FILTER (WHERE abs((a <#> b) + ip) > 1e-4 * norms) AS ip_bad,
	   count(*) FILTER (WHERE abs((a <=> b) - (1 - ip / norms)) > 1e-4) AS cosine_bad,
	   count(*) FILTER (WHERE abs((a <+> b) - l1) > 1e-4 * l1) AS l1_bad
FROM ref;

-- Element-wise arithmetic.
SELECT '[1,2,3]'::vector + '[4,5,6.5]' AS sum,
	   '[1,2,3]'::vector - '[4,5,6.5]' AS difference,
	   '[1,2,3]'::vector * '[4,5,6.5]' AS product;
SELECT '[0,1e-30]'::vector * '[5,1]' AS product_with_zero;
SELECT NULL::vector + '[1]', '[1]'::vector - NULL, NULL::vector * NULL;

-- Arithmetic that overflows float4 is numeric_value_out_of_range (22003),
-- never an infinite element; so is a product of nonzero elements that
-- underflows to zero, as for real.
SELECT '[1,3e38]'::vector + '[1,3e38]';
SELECT '[-3e38]'::vector - '[3e38]';
SELECT '[1e20]'::vector * '[1e20]';
SELECT '[1e-30]'::vector * '[1e-30]';

-- || concatenates, up to 16000 dimensions; beyond is
-- program_limit_exceeded (54000).
SELECT '[1,2]'::vector || '[3]' AS concat, '[3]'::vector || '[1,2]' AS reversed;
SELECT vector_dims(array_fill(1, ARRAY[8000])::vector || array_fill(2, ARRAY[8000])::vector);
SELECT array_fill(1, ARRAY[8000])::vector || array_fill(2, ARRAY[8001])::vector;

-- Comparison: element by element, then a prefix sorts first; -0 equals 0.
SELECT a, b, a < b AS lt, a <= b AS le, a = b AS eq, a <> b AS ne,
	   a >= b AS ge, a > b AS gt, vector_cmp(a, b) AS cmp
FROM (VALUES
	('[1,2,3]'::vector, '[1,2,3]'::vector),
	('[1,2,3]', '[1,2,4]'),
	('[1,2,4]', '[1,2,3]'),
	('[1,2]', '[1,2,3]'),
	('[1,2,3]', '[1,2]'),
	('[1,3]', '[1,2,3]'),
	('[-1]', '[0]'),
	('[0]', '[-0]'),
	('[1e-45]', '[0]')
) t(a, b);

-- Operator properties: commutators, negators, selectivity estimators, and
-- = can merge join.
SELECT oprname, oprcode, oprcom::regoperator AS commutator,
	   oprnegate::regoperator AS negator, oprrest, oprjoin, oprcanmerge
FROM pg_operator
WHERE oprleft = 'vector'::regtype AND oprright = 'vector'::regtype
  AND oprname IN ('<->', '<#>', '<=>', '<+>', '+', '-', '*', '||',
				  '<', '<=', '=', '<>', '>=', '>')
ORDER BY oprname;

-- The default btree operator class vector_ops sorts, indexes and merge
-- joins vectors, including ones stored out of line (TOAST).
CREATE TABLE vector_ops_cmp (id int, v vector);
INSERT INTO vector_ops_cmp VALUES
	(1, '[1,2,3]'), (2, '[1,2]'), (3, '[1,3]'), (4, '[0,5,5,5]'),
	(5, '[1,2,3]'), (6, '[-1]'), (7, '[2]'), (8, '[1,2,3,0]'), (9, NULL);
SELECT opcname, opcdefault FROM pg_opclass
WHERE opcintype = 'vector'::regtype AND opcmethod = (SELECT oid FROM pg_am WHERE amname = 'btree');
SELECT id, v FROM vector_ops_cmp ORDER BY v, id;
SELECT id, v FROM vector_ops_cmp ORDER BY v DESC NULLS LAST, id;
SELECT v, count(*) FROM vector_ops_cmp GROUP BY v ORDER BY v;
CREATE UNIQUE INDEX ON vector_ops_cmp (v);
CREATE INDEX vector_ops_cmp_v ON vector_ops_cmp (v);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM vector_ops_cmp WHERE v = '[1,2,3]';
SELECT id FROM vector_ops_cmp WHERE v = '[1,2,3]' ORDER BY id;
EXPLAIN (COSTS OFF) SELECT v FROM vector_ops_cmp WHERE v > '[1,2]' AND v <= '[1,3]' ORDER BY v;
SELECT v FROM vector_ops_cmp WHERE v > '[1,2]' AND v <= '[1,3]' ORDER BY v;
SET enable_hashjoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT a.id, b.id FROM vector_ops_cmp a JOIN vector_ops_cmp b ON a.v = b.v;
SELECT a.id, b.id FROM vector_ops_cmp a JOIN vector_ops_cmp b ON a.v = b.v ORDER BY 1, 2;
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_hashjoin;
RESET enable_nestloop;
-- (A btree index cannot hold vectors this large: index rows are not toasted.)
DROP INDEX vector_ops_cmp_v;
INSERT INTO vector_ops_cmp
SELECT 100 + i, array_fill(i % 3, ARRAY[4000])::vector || array_fill(i, ARRAY[1])::vector
FROM generate_series(1, 6) i;
SELECT id, vector_dims(v), subvector(v, 4000, 2) FROM vector_ops_cmp WHERE id > 100 ORDER BY v;

-- Distances on vectors stored out of line (TOAST) are those of the same
-- vectors in memory.  The distance functions keep the last 32 vectors they
-- fetched from TOAST storage until the transaction ends, because the
-- executor computes a rechecked ORDER BY twice for each row; a row updated
-- within that transaction is a new TOAST value and gets its new distance,
-- and more values than the cache holds are fetched again correctly.
CREATE TABLE vector_ops_toast (id int, v vector);
INSERT INTO vector_ops_toast
SELECT i, array_fill(i::real, ARRAY[1000])::vector FROM generate_series(1, 40) i;
SELECT pg_relation_size(reltoastrelid) > 0 AS stored_out_of_line
FROM pg_class WHERE relname = 'vector_ops_toast';
BEGIN;
CREATE TEMP TABLE vector_ops_toast_q AS
SELECT array_fill(0.5::real, ARRAY[1000])::vector AS q;
SELECT id, v <-> q AS l2, v <#> q AS neg_ip, v <=> q AS cosine, v <+> q AS l1
FROM vector_ops_toast, vector_ops_toast_q WHERE id IN (1, 2, 40) ORDER BY id;
SELECT count(*) FILTER (WHERE v <-> q = v::real[]::vector <-> q AND
						v <#> q = v::real[]::vector <#> q AND
						v <=> q = v::real[]::vector <=> q AND
						v <+> q = v::real[]::vector <+> q) AS equal_in_memory,
	   count(*) AS total
FROM vector_ops_toast, vector_ops_toast_q;
UPDATE vector_ops_toast SET v = array_fill(-2::real, ARRAY[1000])::vector
WHERE id = 2;
SELECT id, v <-> q AS l2, v <#> q AS neg_ip, v <=> q AS cosine, v <+> q AS l1
FROM vector_ops_toast, vector_ops_toast_q WHERE id IN (1, 2, 40) ORDER BY id;
SELECT sum(v <-> q) = sum(v::real[]::vector <-> q) AS sums_agree
FROM vector_ops_toast, vector_ops_toast_q;
COMMIT;
-- Both arguments stored out of line, the first the oldest of a full cache:
-- fetching the second must not evict the first while the call still reads
-- it.
CREATE TABLE vector_ops_toast_w AS
SELECT array_fill(-1::real, ARRAY[1000])::vector AS w;
BEGIN;
SELECT count(v <-> array_fill(0::real, ARRAY[1000])::vector) AS fills_cache
FROM (SELECT v FROM vector_ops_toast WHERE id <= 32 ORDER BY id OFFSET 0) s;
SELECT id, v <-> w AS l2, sqrt(1000 * 4) AS expected
FROM vector_ops_toast, vector_ops_toast_w WHERE id = 1;
COMMIT;

DROP TABLE vector_ops_rand, vector_ops_cmp, vector_ops_toast, vector_ops_toast_w;
