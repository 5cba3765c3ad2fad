--
-- omendb_bad_input: every bad value on its way into or out of an omendb
-- index gets a clean error with the right SQLSTATE, never a crash and
-- never a wrong row.
--
\set VERBOSITY sqlstate
SET jit = off;
CREATE TABLE omendb_bad (id int, v vector(3));
INSERT INTO omendb_bad SELECT i, ARRAY[i, i % 7, -i]::real[] FROM generate_series(1, 50) i;
CREATE INDEX omendb_bad_l2 ON omendb_bad USING omendb (v vector_l2_ops);
CREATE INDEX omendb_bad_ip ON omendb_bad USING omendb (v vector_ip_ops);
CREATE INDEX omendb_bad_cos ON omendb_bad USING omendb (v vector_cosine_ops);
SET enable_seqscan = off;

-- NaN and infinity cannot reach the index through any path: text,
-- casts from every array type, arithmetic that overflows.
INSERT INTO omendb_bad VALUES (100, '[NaN,1,2]');
INSERT INTO omendb_bad VALUES (100, '[1,Infinity,2]');
INSERT INTO omendb_bad VALUES (100, '[1,2,-Infinity]');
INSERT INTO omendb_bad VALUES (100, ARRAY['NaN', 1, 2]::real[]);
INSERT INTO omendb_bad VALUES (100, ARRAY['Infinity', 1, 2]::float8[]);
INSERT INTO omendb_bad VALUES (100, ARRAY[1e39, 1, 2]::float8[]);
INSERT INTO omendb_bad VALUES (100, ARRAY['NaN', 1, 2]::numeric[]);
INSERT INTO omendb_bad VALUES (100, '[3e38,1,2]'::vector + '[3e38,1,2]');
INSERT INTO omendb_bad VALUES (100, '[3e38,1,2]'::vector * '[10,1,2]');
INSERT INTO omendb_bad VALUES (100, '[1e-30,1,2]'::vector * '[1e-30,1,2]');
SELECT count(*) AS rows_unchanged FROM omendb_bad;

-- ... nor a query.
SELECT id FROM omendb_bad ORDER BY v <-> '[NaN,1,2]' LIMIT 1;
SELECT id FROM omendb_bad ORDER BY v <#> ARRAY['Infinity', 1, 2]::real[]::vector LIMIT 1;
SELECT id FROM omendb_bad ORDER BY v <=> ('[3e38,1,2]'::vector + '[3e38,0,0]') LIMIT 1;

-- Wrong dimensions: on insert, on update, and in a query, for each index.
INSERT INTO omendb_bad VALUES (100, '[1,2]');
INSERT INTO omendb_bad VALUES (100, '[1,2,3,4]');
UPDATE omendb_bad SET v = '[1,2,3,4]' WHERE id = 1;
SELECT id FROM omendb_bad ORDER BY v <-> '[1,2]' LIMIT 1;
SELECT id FROM omendb_bad ORDER BY v <#> '[1,2,3,4]' LIMIT 1;
SELECT id FROM omendb_bad ORDER BY v <=> '[1]' LIMIT 1;
-- An empty vector is not a vector.
SELECT id FROM omendb_bad ORDER BY v <-> '[]' LIMIT 1;
SELECT id FROM omendb_bad ORDER BY v <-> ARRAY[]::real[]::vector LIMIT 1;

\i sql/include/index_ordered.sql

-- A NULL query (also as a parameter) returns every row, NULL distances
-- last; no error.  (A constant NULL would let the planner drop the ORDER
-- BY; these reach the index, a generic plan's parameter included.)
SELECT pg_temp.index_ordered('SELECT id FROM omendb_bad ORDER BY v <-> (SELECT NULL::vector)') AS null_query_by_index;
SELECT count(*) AS all_rows, count(DISTINCT id) AS distinct_rows FROM (SELECT id FROM omendb_bad ORDER BY v <-> (SELECT NULL::vector)) s;
SET plan_cache_mode = force_generic_plan;
PREPARE omendb_bad_q(vector) AS SELECT id FROM omendb_bad ORDER BY v <-> $1 LIMIT 3;
SELECT pg_temp.index_ordered('EXECUTE omendb_bad_q(NULL)') AS null_parameter_by_index;
EXECUTE omendb_bad_q(NULL);
EXECUTE omendb_bad_q('[1,1,-1]');
EXECUTE omendb_bad_q('[1,1]');
DEALLOCATE omendb_bad_q;
RESET plan_cache_mode;

-- Rows that fail leave nothing behind in the index: every row is found
-- once, by each index.
CREATE TEMP TABLE omendb_bad_ids AS SELECT array_agg(id ORDER BY id) AS ids FROM omendb_bad;
SELECT (SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM omendb_bad ORDER BY v <-> '[0,0,0]') s) = ids AS l2,
	   (SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM omendb_bad ORDER BY v <#> '[1,0,0]') s) = ids AS ip,
	   (SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM omendb_bad ORDER BY v <=> '[1,0,0]') s) = ids AS cosine
FROM omendb_bad_ids;
DROP TABLE omendb_bad_ids;
RESET enable_seqscan;

-- Random reloptions and settings: each is accepted and works (the query
-- runs through the new index, on a copy of the table without the others),
-- or is refused with 22023 (invalid_parameter_value) or 54000 (a node too
-- big for a page); nothing else (which would abort the block).
CREATE TABLE omendb_bad_r AS SELECT * FROM omendb_bad;
SET enable_seqscan = off;
\set VERBOSITY terse
DO $$
DECLARE
	opts text;
	ok int := 0;
	refused int := 0;
	plan text;
	line text;
BEGIN
	PERFORM setseed(0.42);
	FOR i IN 1..60 LOOP
		opts := format('graph_degree = %s, build_list_size = %s, alpha = %s',
					   (ARRAY['0', '3', '4', '17', '64', '128', '129', '-1'])[1 + floor(random() * 8)],
					   (ARRAY['7', '8', '20', '64', '1000', '1001', '0'])[1 + floor(random() * 7)],
					   (ARRAY['0.9', '1', '1.2', '2', '2.01', '-3', '1e10'])[1 + floor(random() * 7)]);
		BEGIN
			EXECUTE 'CREATE INDEX omendb_bad_rand ON omendb_bad_r USING omendb (v) WITH (' || opts || ')';
			EXECUTE 'SET LOCAL omendb.search_list_size = ' || floor(random() * 50)::int;
			plan := '';
			FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) SELECT id FROM omendb_bad_r ORDER BY v <-> ''[1,2,3]'' LIMIT 5' LOOP
				plan := plan || line || E'\n';
			END LOOP;
			IF plan !~ 'Index Scan using omendb_bad_rand' THEN
				RAISE EXCEPTION 'not a scan of omendb_bad_rand: %', plan;
			END IF;
			PERFORM 1 FROM (SELECT id FROM omendb_bad_r ORDER BY v <-> '[1,2,3]' LIMIT 5) s;
			EXECUTE 'DROP INDEX omendb_bad_rand';
			ok := ok + 1;
		EXCEPTION WHEN invalid_parameter_value OR program_limit_exceeded THEN
			refused := refused + 1;
		END;
	END LOOP;
	RAISE NOTICE 'random options: % accepted, % refused', ok, refused;
END $$;
\set VERBOSITY sqlstate
DROP TABLE omendb_bad_r;
SET omendb.search_list_size = -1;
SET omendb.search_list_size = 10001;
SET omendb.search_list_size = 'many';
SET omendb.search_list_size = 10000;
SELECT pg_temp.index_ordered($$SELECT id FROM omendb_bad ORDER BY v <-> '[1,2,3]' LIMIT 5$$) AS longest_list_by_index;
SELECT count(*) FROM (SELECT id FROM omendb_bad ORDER BY v <-> '[1,2,3]' LIMIT 5) s;
RESET omendb.search_list_size;
RESET enable_seqscan;
CREATE INDEX ON omendb_bad USING omendb (v) WITH (quantizer = 'pq');
CREATE INDEX ON omendb_bad USING omendb (v) WITH (quantizer = '');
CREATE INDEX ON omendb_bad USING omendb (v) WITH (no_such_option = 1);
CREATE INDEX ON omendb_bad USING omendb (v) WITH (alpha = 'NaN');
CREATE INDEX ON omendb_bad USING omendb (v) WITH (graph_degree = 1.5);

-- Expression and partial indexes check their own values the same way.
CREATE INDEX omendb_bad_expr ON omendb_bad USING omendb (((v * '[2,2,2]')::vector(3)));
CREATE INDEX omendb_bad_part ON omendb_bad USING omendb (v) WHERE id > 1000;
INSERT INTO omendb_bad VALUES (1001, '[3e38,1,1]');
INSERT INTO omendb_bad VALUES (1002, '[1,2]');
SET enable_seqscan = off;
SELECT id FROM omendb_bad ORDER BY (v * '[2,2,2]')::vector(3) <-> '[2,2,-2]' LIMIT 1;
SELECT id FROM omendb_bad WHERE id > 1000 ORDER BY v <-> '[1,1,1]' LIMIT 1;
RESET enable_seqscan;
DROP TABLE omendb_bad;

-- Values near the float limit: an index built empty and trained by such a
-- vector, and one built over them, still answer exactly and pass the check.
-- An inner-product index refuses a vector whose norm is beyond float range,
-- at insert as at build (see omendb_build_stats, omendb_training).
CREATE TABLE omendb_huge (id int, v vector(3));
CREATE INDEX omendb_huge_l2 ON omendb_huge USING omendb (v vector_l2_ops);
CREATE INDEX omendb_huge_ip ON omendb_huge USING omendb (v vector_ip_ops);
CREATE INDEX omendb_huge_cos ON omendb_huge USING omendb (v vector_cosine_ops);
INSERT INTO omendb_huge VALUES (1, '[3e38,-1e38,1]'), (2, '[1,2,3]'), (3, '[-1e38,2e38,0]'), (4, '[0,0,1]');
INSERT INTO omendb_huge VALUES (5, '[3e38,-3e38,1]');
SET enable_seqscan = off;
SELECT array_agg(id) AS l2 FROM (SELECT id FROM omendb_huge ORDER BY v <-> '[1,2,2]' LIMIT 4) s;
SELECT array_agg(id) AS cosine FROM (SELECT id FROM omendb_huge ORDER BY v <=> '[1,2,2]' LIMIT 4) s;
SELECT array_agg(id) AS ip FROM (SELECT id FROM omendb_huge ORDER BY v <#> '[1e-30,2e-30,1]' LIMIT 4) s;
SELECT live_nodes, reachable_fraction FROM omendb_check('omendb_huge_l2', true);
SELECT live_nodes, reachable_fraction FROM omendb_check('omendb_huge_ip', true);
SELECT live_nodes, reachable_fraction FROM omendb_check('omendb_huge_cos', true);
REINDEX TABLE omendb_huge;
SELECT array_agg(id) AS l2 FROM (SELECT id FROM omendb_huge ORDER BY v <-> '[1,2,2]' LIMIT 4) s;
SELECT array_agg(id) AS cosine FROM (SELECT id FROM omendb_huge ORDER BY v <=> '[1,2,2]' LIMIT 4) s;
SELECT array_agg(id) AS ip FROM (SELECT id FROM omendb_huge ORDER BY v <#> '[1e-30,2e-30,1]' LIMIT 4) s;
SELECT live_nodes, reachable_fraction FROM omendb_check('omendb_huge_l2', true);
SELECT live_nodes, reachable_fraction FROM omendb_check('omendb_huge_ip', true);
SELECT live_nodes, reachable_fraction FROM omendb_check('omendb_huge_cos', true);
RESET enable_seqscan;
DROP TABLE omendb_huge;
