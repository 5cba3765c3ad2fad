--
-- vector_functions: the named distance functions, vector_dims, vector_norm,
-- l2_normalize, subvector, and the properties every function declares.
--

\i sql/include/error_of.sql

-- The distance functions behind the operators; inner_product is the
-- positive inner product, vector_negative_inner_product (<#>) its negation.
SELECT l2_distance('[1,2,3]'::vector, '[3,2,1]'),
	   inner_product('[1,2,3]'::vector, '[4,5,6]'),
	   vector_negative_inner_product('[1,2,3]', '[4,5,6]'),
	   cosine_distance('[1,2,3]'::vector, '[-1,0,2]'),
	   l1_distance('[1,2,3]'::vector, '[4,0,3]');
SELECT l2_distance(a, b) = a <-> b AS l2, -inner_product(a, b) = a <#> b AS ip,
	   cosine_distance(a, b) = a <=> b AS cosine, l1_distance(a, b) = a <+> b AS l1
FROM (VALUES ('[0.1,0.2,-0.3]'::vector, '[4,-5,6e-3]'::vector)) t(a, b);

-- vector_l2_squared_distance (the index's support function) is the square
-- of l2_distance, computed without the square root.
SELECT vector_l2_squared_distance('[1,2]', '[4,6]'),
	   vector_l2_squared_distance('[1e20]', '[-1e20]') = l2_distance('[1e20]'::vector, '[-1e20]') ^ 2 AS huge;

-- Each distance function rejects operands of different dimensions.
SELECT l2_distance('[1,2]'::vector, '[1]');
SELECT stmt, pg_temp.error_of(stmt)
FROM unnest(ARRAY[
	$$SELECT inner_product('[1,2]'::vector, '[1]')$$,
	$$SELECT cosine_distance('[1,2]'::vector, '[1]')$$,
	$$SELECT l1_distance('[1,2]'::vector, '[1]')$$,
	$$SELECT vector_l2_squared_distance('[1,2]', '[1]')$$,
	$$SELECT vector_negative_inner_product('[1,2]', '[1]')$$
]) AS stmt;

-- vector_dims is the number of elements.
SELECT vector_dims('[1]'::vector), vector_dims('[1,2,3]'::vector), vector_dims(array_fill(0, ARRAY[16000])::vector);

-- vector_norm is the Euclidean norm, computed in double precision.
SELECT vector_norm('[3,4]'), vector_norm('[0,0]'), vector_norm('[-1]'),
	   vector_norm('[3e38,3e38]'), vector_norm('[1e-45]');

-- l2_normalize scales to unit norm; the zero vector stays zero.
SELECT l2_normalize('[3,4]'::vector), l2_normalize('[0,0,0]'::vector), l2_normalize('[-5]'::vector),
	   l2_normalize('[3e38,3e38]'::vector), l2_normalize('[1e-45,0]'::vector);
SELECT abs(vector_norm(l2_normalize(v)) - 1) < 1e-6 AS unit,
	   cosine_distance(l2_normalize(v), v) < 1e-6 AS same_direction
FROM (VALUES ('[1,2,3,4,5,6,7,8,9]'::vector), ('[-1e10,1e-10,5]')) t(v);

-- subvector(v, start, count): count elements from 1-based position start.
SELECT subvector('[1,2,3,4,5]'::vector, 1, 3), subvector('[1,2,3,4,5]'::vector, 3, 2),
	   subvector('[1,2,3,4,5]'::vector, 5, 1), subvector('[1,2,3,4,5]'::vector, 1, 5);

-- subvector clips the range [start, start + count) to the vector, like
-- substring.
SELECT subvector('[1,2,3,4,5]'::vector, 0, 3), subvector('[1,2,3,4,5]'::vector, -10, 12),
	   subvector('[1,2,3,4,5]'::vector, -1, 4), subvector('[1,2,3,4,5]'::vector, 4, 10),
	   subvector('[1,2,3,4,5]'::vector, 2, 2147483647);

-- subvector with nothing left is an error like the empty vector's, and
-- extreme arguments do not overflow.
SELECT subvector('[1,2,3]'::vector, 4, 1);
SELECT stmt, pg_temp.error_of(stmt)
FROM unnest(ARRAY[
	$$SELECT subvector('[1,2,3]'::vector, 1, 0)$$,
	$$SELECT subvector('[1,2,3]'::vector, 2, -1)$$,
	$$SELECT subvector('[1,2,3]'::vector, 0, 1)$$,
	$$SELECT subvector('[1,2,3]'::vector, -5, 5)$$,
	$$SELECT subvector('[1,2,3]'::vector, 2147483647, 2147483647)$$,
	$$SELECT subvector('[1,2,3]'::vector, -2147483648, 2147483647)$$,
	$$SELECT subvector('[1,2,3]'::vector, -2147483648, -2147483648)$$,
	$$SELECT subvector('[1,2,3]'::vector, 2, -2147483648)$$
]) AS stmt;

-- Every function of the type belongs to the extension and is IMMUTABLE,
-- STRICT and PARALLEL SAFE (the aggregates, which are never strict, are
-- checked in vector_aggregates).
CREATE TEMP VIEW vector_functions AS
SELECT p.oid::regprocedure AS function, provolatile, proisstrict, proparallel
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'omendb')
  AND p.proname IN ('vector_in', 'vector_out', 'vector_typmod_in', 'vector_recv',
					'vector_send', 'l2_distance', 'inner_product',
					'cosine_distance', 'l1_distance', 'vector_dims',
					'vector_norm', 'l2_normalize', 'subvector',
					'vector_l2_squared_distance', 'vector_negative_inner_product',
					'vector_add', 'vector_sub', 'vector_mul', 'vector_concat',
					'vector_lt', 'vector_le', 'vector_eq', 'vector_ne',
					'vector_ge', 'vector_gt', 'vector_cmp', 'vector_accum',
					'vector_combine', 'vector_avg', 'vector_sum', 'vector',
					'array_to_vector', 'vector_to_float4');
SELECT count(*) AS functions FROM vector_functions;
SELECT * FROM vector_functions
WHERE provolatile <> 'i' OR NOT proisstrict OR proparallel <> 's';
