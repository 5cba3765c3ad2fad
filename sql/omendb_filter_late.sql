--
-- omendb_filter_late: under a filter, a walk returns a row only once it
-- has gone a share of its length past it, so that the rows the graph
-- leads to late (their in-edges come from nodes farther from the query)
-- still come out among the first.  The share is a quarter at the
-- default search list and grows with the list (README.omendb, "Scan").
--
-- 20,000 rows in 50 tight clusters of 16 dimensions and a filter that 1%
-- of the rows pass: a LIMIT 10 walk goes through about a thousand nodes.
-- Returning each row as soon as the walk passed it, 0.99 of the true ten
-- came out at every list (10, 40 and 80 alike); waiting, 0.994, 0.999
-- and all of them.
--
CREATE FUNCTION late_h(i int, j int) RETURNS float8 LANGUAGE sql IMMUTABLE AS
$$ SELECT (hashint4(i * 131 + j) & 65535) / 65536.0 $$;
CREATE FUNCTION late_vec(centre int, jitter int) RETURNS vector LANGUAGE sql IMMUTABLE AS
$$ SELECT array_agg(late_h(centre, j) * 10 + (late_h(jitter, j + 100) - 0.5) * 0.8 ORDER BY j)::real[]::vector
   FROM generate_series(1, 16) j $$;
CREATE TABLE late (id int, v vector(16), c100 int) WITH (autovacuum_enabled = off);
INSERT INTO late SELECT i, late_vec(i % 50, i), (hashint4(i * 7) & 65535) % 100
FROM generate_series(1, 20000) i;
CREATE TABLE late_q AS SELECT i AS id, late_vec(i % 50, i + 100000) AS v,
	(hashint4(i) & 65535) % 100 AS c100
FROM generate_series(1, 200) i;
CREATE INDEX late_v ON late USING omendb (v, c100);
ANALYZE late;
-- (the label directory would answer a 1% filter here by reading the rows
-- that pass, exactly: this file pins down the walk)
SET omendb.label_directory = off;

-- found(list): of the true ten nearest rows that pass each query's filter
-- (a sequential scan's), the share the index returns among its first ten
CREATE FUNCTION found(list int) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
	hits bigint;
	total bigint;
BEGIN
	PERFORM set_config('enable_indexscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	CREATE TEMP TABLE want AS SELECT q.id AS qid, x.id FROM late_q q,
		LATERAL (SELECT t.id FROM late t WHERE t.c100 = q.c100 ORDER BY t.v <-> q.v LIMIT 10) x;
	PERFORM set_config('enable_indexscan', 'on', true);
	PERFORM set_config('enable_bitmapscan', 'on', true);
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('omendb.search_list_size', list::text, true);
	CREATE TEMP TABLE got AS SELECT q.id AS qid, x.id FROM late_q q,
		LATERAL (SELECT t.id FROM late t WHERE t.c100 = q.c100 ORDER BY t.v <-> q.v LIMIT 10) x;
	SELECT count(*) INTO hits FROM want JOIN got USING (qid, id);
	SELECT count(*) INTO total FROM want;
	DROP TABLE want, got;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('omendb.search_list_size', '0', true);
	RETURN round(hits::numeric / total, 3);
END $$;

-- At the default list (40) nearly every true row comes out among the first
-- ten; at 80 every one; a short list waits less and finds fewer.
SELECT found(0) >= 0.995 AS default_list_finds_995,
	   found(80) = 1 AS list_80_finds_all,
	   found(10) <= found(80) AS shorter_list_finds_no_more;

DROP TABLE late, late_q;
DROP FUNCTION found(int);
DROP FUNCTION late_vec(int, int);
DROP FUNCTION late_h(int, int);
