--
-- omendb_scan_memory: what an ordered scan holds past its first rows stays
-- within omendb.scan_mem_limit (-1, the default: work_mem).  A scan that
-- reaches the limit says so with a NOTICE and sheds what its search would
-- reach last; if it must go past that, it returns the rest of its rows
-- from one sorted pass over the index.  No row is lost or returned twice,
-- and no row comes out of order that would not without the limit.
-- (test/tap/021_scan_memory.pl checks the peak against the limit.)
--
SET jit = off;

-- 20,000 rows of 8 pseudo-random coordinates in [0, 1), and 3 queries.
CREATE TABLE omendb_sm (id int PRIMARY KEY, v vector(8));
INSERT INTO omendb_sm
SELECT i, ARRAY(SELECT ((abs(sin(i * 12.9898 + j * 78.233)) * 43758.5453)::numeric % 1)::real
				FROM generate_series(1, 8) j)::vector
FROM generate_series(1, 20000) i;
CREATE TABLE omendb_smq (qid int PRIMARY KEY, v vector(8));
INSERT INTO omendb_smq
SELECT q, ARRAY(SELECT ((abs(sin(q * 7.123 + j * 3.71)) * 1234.5678)::numeric % 1)::real
				FROM generate_series(1, 8) j)::vector
FROM generate_series(1, 3) q;
CREATE INDEX omendb_sm_l2 ON omendb_sm USING omendb (v vector_l2_ops);

-- The setting: -1 (work_mem) or at least 64 kB, like work_mem.
SHOW omendb.scan_mem_limit;
SET omendb.scan_mem_limit = '63kB';
SET omendb.scan_mem_limit = 0;
SET omendb.scan_mem_limit = -2;
SET omendb.scan_mem_limit = '64kB';
SHOW omendb.scan_mem_limit;
RESET omendb.scan_mem_limit;

-- stream(op, q, mem): every row an index scan without LIMIT returns for
-- query q, position and exact distance, with omendb.scan_mem_limit = mem.
CREATE FUNCTION pg_temp.stream(op text, q vector, mem text)
RETURNS TABLE (pos bigint, id int, d float8) LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('omendb.scan_mem_limit', mem, true);
	PERFORM set_config('enable_seqscan', 'off', true);
	RETURN QUERY EXECUTE format(
		'SELECT row_number() OVER (), s.id, s.d FROM '
		'(SELECT t.id, t.v %1$s $1 AS d FROM omendb_sm t ORDER BY t.v %1$s $1) s', op)
		USING q;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('omendb.scan_mem_limit', '-1', true);
END
$$;

SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT id FROM omendb_sm ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]';
RESET enable_seqscan;

-- Each query's stream within 64 kB, which the search state outgrows (one
-- NOTICE a scan; most rows then come from the sweep), and within 64 MB,
-- which it does not (no NOTICE).
CREATE TEMP TABLE streams AS
SELECT q.qid, m.mem, s.*
FROM omendb_smq q, (VALUES ('64kB'), ('64MB')) m (mem), pg_temp.stream('<->', q.v, m.mem) s;

-- Every row comes back exactly once.
SELECT qid, mem, count(*) AS rows, count(DISTINCT id) AS distinct_ids,
	   count(*) FILTER (WHERE id BETWEEN 1 AND 20000) AS table_ids
FROM streams GROUP BY qid, mem ORDER BY qid, mem;

-- A row comes out after a farther one only if the graph met it late (it
-- is held back and returned with the sweep), and the limit adds no such
-- row: every row late under the limit is late without it.
CREATE TEMP TABLE late AS
SELECT qid, mem, id FROM (
	SELECT qid, mem, id, d,
		   max(d) OVER (PARTITION BY qid, mem ORDER BY pos
						ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS farthest_before
	FROM streams) s
WHERE d < farthest_before;
SELECT count(*) AS late_only_under_limit FROM (
	SELECT qid, id FROM late WHERE mem = '64kB'
	EXCEPT
	SELECT qid, id FROM late WHERE mem = '64MB') s;

-- A filter that matches nothing walks the whole index, within the limit,
-- and returns nothing; one that matches a few rows returns each of them.
SET omendb.scan_mem_limit = '64kB';
SET enable_seqscan = off;
SELECT id FROM omendb_sm WHERE id < 0
ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' LIMIT 10;
SELECT array_agg(id ORDER BY id) = ARRAY(SELECT generate_series(1000, 20000, 1000)) AS every_match
FROM (SELECT id FROM omendb_sm WHERE id % 1000 = 0
	  ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]') s;

-- Rescans start over: each query gets its own rows, also after the
-- previous one stopped in the middle of its sweep.  (Each scan raises the
-- NOTICE once, not once per rescan.)
SELECT q.qid,
	   (SELECT count(DISTINCT id) FROM (SELECT id FROM omendb_sm t WHERE t.id % 7 = 0
										ORDER BY t.v <-> q.v LIMIT 2000) s) AS deep_limit,
	   (SELECT count(*) FROM (SELECT id FROM omendb_sm t WHERE t.id % 7 = 0
							  ORDER BY t.v <-> q.v) s) AS all_matches
FROM omendb_smq q ORDER BY q.qid;
RESET enable_seqscan;
RESET omendb.scan_mem_limit;

-- Cosine and inner product (bounds down to -infinity) sweep the same way.
CREATE INDEX omendb_sm_cos ON omendb_sm USING omendb (v vector_cosine_ops);
CREATE INDEX omendb_sm_ip ON omendb_sm USING omendb (v vector_ip_ops);
SELECT op, count(*) AS rows, count(DISTINCT id) AS distinct_ids
FROM (VALUES ('<=>'), ('<#>')) o (op),
	 pg_temp.stream(o.op, '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]', '64kB') s
GROUP BY op ORDER BY op;

DROP TABLE omendb_sm, omendb_smq;
