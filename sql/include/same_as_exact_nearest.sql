-- same_as_exact(tab, op, q, n, qual): whether the index returns the n rows
-- of tab nearest the vector q by op (of those qual passes; every one if n
-- is NULL) at the distances a sequential scan and sort finds, in their
-- order; rows at equal distances may come in any order, and at the LIMIT
-- either of them.  Raises an error unless the plan is the index's ordered
-- scan with no sort above it, so that a sort cannot pass for the index.
CREATE FUNCTION pg_temp.same_as_exact(tab text, op text, q text, n int, qual text DEFAULT 'true')
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	query text := format('SELECT id, v %2$s (%3$s) AS d FROM %1$I WHERE %4$s ORDER BY v %2$s (%3$s) %5$s',
						 tab, op, q, qual, 'LIMIT ' || n);
	ranked text := format('SELECT s.*, row_number() OVER () AS o FROM (%s) s', query);
	plan text := '';
	line text;
	got_d float8[];
	want_d float8[];
	got_ids int[];
	want_ids int[];
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		plan := plan || line || E'\n';
	END LOOP;
	IF plan !~ ('Index Scan using \S+ on ' || tab || '\M') OR plan !~ 'Order By:' OR plan ~ 'Sort' THEN
		RAISE EXCEPTION 'not an ordered scan of an index on %: %', tab, plan;
	END IF;
	EXECUTE format('SELECT array_agg(d ORDER BY o) FROM (%s) r', ranked) INTO got_d;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	EXECUTE format('SELECT array_agg(d ORDER BY o) FROM (%s) r', ranked) INTO want_d;
	IF got_d IS DISTINCT FROM want_d THEN
		RETURN false;
	END IF;
	-- the same rows, but for ties at the LIMIT
	EXECUTE format('SELECT array_agg(id ORDER BY d, id) FROM (%s) r WHERE $1 IS NULL OR d < $2', query)
		INTO want_ids USING n, want_d[cardinality(want_d)];
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_indexscan', 'on', true);
	PERFORM set_config('enable_bitmapscan', 'on', true);
	EXECUTE format('SELECT array_agg(id ORDER BY d, id) FROM (%s) r WHERE $1 IS NULL OR d < $2', query)
		INTO got_ids USING n, want_d[cardinality(want_d)];
	RETURN got_ids IS NOT DISTINCT FROM want_ids;
END
$$;
