-- same_as_exact(query): whether query returns the same ids in the same
-- order by the index as by a sequential scan and sort.
CREATE FUNCTION pg_temp.same_as_exact(query text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	got int[];
	want int[];
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	EXECUTE format('SELECT array_agg(id) FROM (%s) s', query) INTO got;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	EXECUTE format('SELECT array_agg(id) FROM (%s) s', query) INTO want;
	PERFORM set_config('enable_indexscan', 'on', true);
	RETURN got = want;
END
$$;
