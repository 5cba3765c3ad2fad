--
-- vector_aggregates: avg(vector) and sum(vector), serial and parallel.
--

-- Report the SQLSTATE, message and detail of the error a statement raises.
CREATE FUNCTION pg_temp.error_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' (' || nullif(detail, '') || ')', '');
END
$$;

CREATE TABLE vector_agg_t (id int, g int, v vector);
INSERT INTO vector_agg_t VALUES
	(1, 1, '[1,2,3]'), (2, 1, '[3,2,1]'), (3, 1, NULL),
	(4, 2, '[-1,0.5]'), (5, 2, '[1,0.25]'), (6, 2, '[0,0]');

-- avg and sum are element-wise and skip NULLs; both may share one
-- transition state in a query.
SELECT avg(v), sum(v) FROM vector_agg_t WHERE g = 1;
SELECT g, avg(v), sum(v), count(v) FROM vector_agg_t GROUP BY g ORDER BY g;

-- No rows, or only NULLs: NULL, like the built-in avg and sum.
SELECT avg(v), sum(v) FROM vector_agg_t WHERE false;
SELECT avg(v), sum(v) FROM vector_agg_t WHERE id = 3;
CREATE TABLE vector_agg_empty (v vector);
SELECT avg(v), sum(v) FROM vector_agg_empty;

-- Rows of different dimensions are a data_exception (22000).
SELECT avg(v) FROM vector_agg_t;
SELECT sum(v) FROM vector_agg_t;

-- Sums are kept in double precision: ten 0.1s sum to exactly 1, and the
-- average of large and small values keeps the small ones.
SELECT sum('[0.1]'::vector) FROM generate_series(1, 10);
SELECT avg(v) FROM (VALUES ('[1e30,1]'::vector), ('[-1e30,1]'), ('[1,1]')) t(v);

-- A sum beyond float4's range is numeric_value_out_of_range (22003); an
-- average of in-range values never is.
SELECT sum(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v);
SELECT avg(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v);

-- As window functions (the final functions run once per row on a shared,
-- growing state).
SELECT id, avg(v) OVER w, sum(v) OVER w
FROM vector_agg_t WHERE g = 2
WINDOW w AS (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY id;
SELECT id, avg(v) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
FROM vector_agg_t WHERE g = 2 ORDER BY id;

-- With FILTER and DISTINCT.
SELECT avg(v) FILTER (WHERE id <> 1), sum(DISTINCT v) FROM vector_agg_t WHERE g = 1;

-- The aggregates are PARALLEL SAFE with combine functions, and a parallel
-- plan gives the same result as a serial one.
SELECT p.proname, a.aggtransfn, a.aggcombinefn, a.aggfinalfn, a.aggtranstype::regtype,
	   a.agginitval, p.proparallel
FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
WHERE p.proargtypes[0] = 'vector'::regtype
ORDER BY p.proname;
CREATE TABLE vector_agg_big AS
SELECT i, ARRAY[i, -i, i % 7, 1]::vector AS v FROM generate_series(1, 100000) i;
ANALYZE vector_agg_big;
SELECT avg(v), sum(v) FROM vector_agg_big;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT avg(v), sum(v) FROM vector_agg_big;
SELECT avg(v), sum(v) FROM vector_agg_big;
-- workers that meet no row combine their initial states
SELECT avg(v), sum(v) FROM vector_agg_big WHERE i > 99998;
SELECT avg(v), sum(v) FROM vector_agg_big WHERE i < 0;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- The support functions can be called directly: the state is float8[]
-- {row count, sum of each element}.  The initial state '{0}' has no
-- dimensions: the first vector, or the other state, gives them.  A state
-- without rows but with dimensions, '{0,0}', holds vectors of those only.
SELECT vector_accum('{0}', '[1,2]'), vector_accum('{1,1,2}', '[3,4]'),
	   vector_accum('{0,0}', '[5]');
SELECT vector_combine('{2,4,6}', '{1,1,1}'), vector_combine('{0}', '{1,1,1}'),
	   vector_combine('{1,1,1}', '{0}'), vector_combine('{0}', '{0}');
SELECT vector_combine('{0,0,0}', '{1,1,1}'), vector_combine('{2,4,6}', '{0,0,0}');
SELECT vector_avg('{4,2,6}'), vector_sum('{4,2,6}'), vector_avg('{0}') IS NULL AS empty,
	   vector_sum('{0,0,0}') IS NULL AS empty_with_dimensions;
SELECT vector_avg(vector_accum(vector_accum(vector_combine('{0}', '{0}'), '[1,2]'), '[3,4]'));
SELECT vector_avg(array_fill(0::float8, ARRAY[16001])) IS NULL AS empty_at_the_limit,
	   vector_dims(vector_sum(array_fill(1::float8, ARRAY[16001]))) AS dims_at_the_limit;

-- ... and reject states they did not make: invalid_parameter_value (22023)
-- for a state that is not one (not a one-dimensional float8 array without
-- NULLs, a row count that is not a whole number of at least 0, rows
-- without sums, sums without rows, a sum that is not finite, more sums
-- than a vector has dimensions), data_exception (22000) for states and
-- vectors whose dimensions differ, even when one of them has no rows.
SELECT stmt, pg_temp.error_of(stmt)
FROM unnest(ARRAY[
	$$SELECT vector_avg('{}')$$,
	$$SELECT vector_avg('{{1,2},{3,4}}')$$,
	$$SELECT vector_avg('{1,NULL}')$$,
	$$SELECT vector_avg('{-2,4}')$$,
	$$SELECT vector_sum('{1.5,3}')$$,
	$$SELECT vector_sum('{NaN,3}')$$,
	$$SELECT vector_sum('{Infinity,3}')$$,
	$$SELECT vector_accum('{-1,5}', '[1]')$$,
	$$SELECT vector_combine('{1,1}', '{0.5,1}')$$,
	$$SELECT vector_avg('{1}')$$,
	$$SELECT vector_accum('{1}', '[1]')$$,
	$$SELECT vector_avg('{0,1}')$$,
	$$SELECT vector_combine('{0,0,-1}', '{1,1,1}')$$,
	$$SELECT vector_sum('{1,NaN}')$$,
	$$SELECT vector_accum('{2,-Infinity}', '[1]')$$,
	$$SELECT vector_avg(array_fill(1::float8, ARRAY[16002]))$$,
	$$SELECT vector_accum('{1,1,2}', '[1,2,3]')$$,
	$$SELECT vector_accum('{0,0}', '[1,2,3]')$$,
	$$SELECT vector_combine('{1,1,2}', '{1,1}')$$,
	$$SELECT vector_combine('{0,0}', '{1,1,1}')$$,
	$$SELECT vector_combine('{1,1,1}', '{0,0}')$$,
	$$SELECT vector_combine('{0,0}', '{0,0,0}')$$
]) AS stmt;

DROP TABLE vector_agg_t, vector_agg_big, vector_agg_empty;
