--
-- vector_casts: casts between vector and arrays, and the length coercion.
--

\i sql/include/error_of.sql

-- The casts and their contexts: arrays convert to vector on assignment,
-- vector to real[] implicitly, vector to vector(n) is the length coercion.
SELECT castsource::regtype, casttarget::regtype, castfunc::regprocedure,
	   castcontext, castmethod
FROM pg_cast
WHERE castsource = 'vector'::regtype OR casttarget = 'vector'::regtype
ORDER BY castsource::regtype::text, casttarget::regtype::text;

-- From integer[], real[], double precision[] and numeric[].
SELECT ARRAY[1, -2, 3]::vector AS int4,
	   ARRAY[1.5, -2.25, 3e-10]::real[]::vector AS float4,
	   ARRAY[1.5, -2.25, 3e-10]::float8[]::vector AS float8,
	   ARRAY[1.5, -2.25, 3e-10]::numeric[]::vector AS numeric;

-- Each element is rounded to float4: large integers and doubles with more
-- precision than float4 lose digits; doubles below float4's range become 0
-- or denormal, as in text input.
SELECT ARRAY[16777217, 2147483647]::vector AS int4,
	   ARRAY[0.1::float8, 1e-40, 1e-50]::vector AS float8,
	   ARRAY[0.1000000000000000055511151231257827]::numeric[]::vector AS numeric;

-- Arrays with a non-default lower bound convert too.
SELECT '[0:2]={1,2,3}'::int[]::vector;

-- Assignment casts apply in INSERT and UPDATE without an explicit cast,
-- and the typmod is enforced.
CREATE TABLE vector_casts_t (v vector(3));
INSERT INTO vector_casts_t VALUES (ARRAY[1, 2, 3]), (ARRAY[1.5, 2, 3]::float8[]),
	(ARRAY[1, 2, 3]::real[]), (ARRAY[1.25, 2, 3]::numeric[]);
INSERT INTO vector_casts_t VALUES (ARRAY[1, 2]);
UPDATE vector_casts_t SET v = ARRAY[1, 2, 3, 4]::float8[];
SELECT ARRAY[1, 2]::vector(3);
SELECT * FROM vector_casts_t;

-- ... but an array is not a vector in an expression: no implicit cast.
SELECT ARRAY[1, 2] <-> '[1,2]'::vector;

-- NULL elements, multidimensional and empty arrays are rejected.
SELECT ARRAY[1, NULL, 3]::vector;
SELECT ARRAY[[1, 2], [3, 4]]::vector;
SELECT '{}'::real[]::vector;
SELECT stmt, pg_temp.error_of(stmt)
FROM unnest(ARRAY[
	$$SELECT ARRAY[1.5, NULL]::float8[]::vector$$,
	$$SELECT ARRAY[NULL]::numeric[]::vector$$,
	$$SELECT ARRAY[[1.5]]::real[]::vector$$,
	$$SELECT '{}'::int[]::vector$$,
	$$SELECT '{}'::numeric[]::vector$$
]) AS stmt;

-- NaN and infinities are rejected (data_exception, 22000); values beyond
-- float4's range are numeric_value_out_of_range (22003).
SELECT ARRAY['NaN']::real[]::vector;
SELECT ARRAY[1e39]::float8[]::vector;
SELECT stmt, pg_temp.error_of(stmt)
FROM unnest(ARRAY[
	$$SELECT ARRAY['Infinity']::real[]::vector$$,
	$$SELECT ARRAY['-Infinity']::float8[]::vector$$,
	$$SELECT ARRAY['NaN']::float8[]::vector$$,
	$$SELECT ARRAY['NaN']::numeric[]::vector$$,
	$$SELECT ARRAY['Infinity']::numeric[]::vector$$,
	$$SELECT ARRAY[-1e39]::float8[]::vector$$,
	$$SELECT ARRAY[1e39]::numeric[]::vector$$
]) AS stmt;

-- At most 16000 elements (program_limit_exceeded, 54000).
SELECT vector_dims(array_fill(1.5::float8, ARRAY[16000])::vector);
SELECT array_fill(1.5::float8, ARRAY[16001])::vector;
SELECT array_fill(1, ARRAY[100000])::vector;

-- vector to real[]: explicitly, implicitly (a real[] argument), and the
-- round trip is exact.
SELECT '[1,-2.5,3e-10]'::vector::real[];
CREATE FUNCTION pg_temp.first_element(real[]) RETURNS real LANGUAGE sql AS 'SELECT $1[1]';
SELECT pg_temp.first_element('[7,8,9]'::vector);
SELECT ('[0.1,1e-45,3.4028235e38]'::vector::real[])::vector = '[0.1,1e-45,3.4028235e38]' AS round_trip;
CREATE TABLE vector_casts_arr (a real[]);
INSERT INTO vector_casts_arr SELECT v FROM vector_casts_t;
SELECT * FROM vector_casts_arr;

-- The length coercion cast vector(vector, integer, boolean) checks the
-- typmod, whether the cast is explicit or implicit.
SELECT vector('[1,2,3]', 3, true), vector('[1,2,3]', -1, false);
SELECT vector('[1,2,3]', 2, false);

DROP TABLE vector_casts_t, vector_casts_arr;
