-- exact_everywhere(tab, op, n): same_as_exact for the n nearest rows of 12
-- queries spread over the data, and a query that is no row.
CREATE FUNCTION pg_temp.exact_everywhere(tab text, op text, n int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	ok boolean := true;
	rows int;
BEGIN
	EXECUTE format('SELECT count(*) FROM %I', tab) INTO rows;
	FOR q IN 1..12 LOOP
		ok := ok AND pg_temp.same_as_exact(tab, op,
			format('SELECT v FROM %I WHERE id = %s', tab, 1 + (q * 7919) % rows), n);
	END LOOP;
	ok := ok AND pg_temp.same_as_exact(tab, op,
		format('SELECT a.v + b.v FROM %1$I a, %1$I b WHERE a.id = 1 AND b.id = 2', tab), n);
	RETURN ok;
END
$$;
