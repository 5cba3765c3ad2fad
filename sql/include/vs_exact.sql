-- vs_exact(query): run the query once forced onto an index (sequential
-- scans off) and once with index scans off, and compare the rows.  Says
-- 'index not used' if the forced plan has no index ORDER BY, else
-- 'same as exact' or the two answers.
CREATE FUNCTION pg_temp.vs_exact(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	line text;
	plan text := '';
	got text;
	want text;
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		plan := plan || line || E'\n';
	END LOOP;
	EXECUTE format('SELECT array_agg(r::text)::text FROM (%s) r', query) INTO got;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	EXECUTE format('SELECT array_agg(r::text)::text FROM (%s) r', query) INTO want;
	PERFORM set_config('enable_indexscan', 'on', true);
	IF plan NOT LIKE '%Order By:%' THEN
		RETURN 'index not used: ' || plan;
	ELSIF got IS NOT DISTINCT FROM want THEN
		RETURN 'same as exact';
	ELSE
		RETURN format('DIFFERENT: index %s, exact %s', got, want);
	END IF;
END
$$;
