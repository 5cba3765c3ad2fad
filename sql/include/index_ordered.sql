-- index_ordered(query): whether query's plan is an omendb index scan in
-- order of distance, with no sort above it (asked as a boolean: how EXPLAIN
-- shows an InitPlan's value differs between PostgreSQL versions).
CREATE FUNCTION pg_temp.index_ordered(query text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	plan text := '';
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		plan := plan || line || E'\n';
	END LOOP;
	RETURN plan ~ 'Index Scan using \S+ on ' AND plan ~ 'Order By:' AND plan !~ 'Sort';
END
$$;
