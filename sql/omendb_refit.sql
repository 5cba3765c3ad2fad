--
-- omendb_refit: VACUUM refits a quantizer that no longer fits the rows.
-- An index created on an empty table learns its ranges from the first
-- vector it indexes; when that vector is a thousandth of the scale of the
-- rows that follow, nearly every code is clamped.  VACUUM retrains the
-- ranges on the rows and re-encodes the nodes in place.  A refit cut short
-- (omendb.refit_max_pages) leaves nodes of both parameter sets, and the
-- index stays exact and checkable until the next VACUUM finishes it.
--
-- Results that depend on how the graph happens to be built are never
-- printed; only whether they meet their bounds.  Scans search
-- exhaustively (a list as long as the index), which returns every row in
-- the exact order whatever the graph's shape, so that a bound that does
-- not hold shows as a wrong order.
--
SET jit = off;
SET omendb.search_list_size = 10000;

\i sql/include/same_as_exact_query.sql

-- exact_everywhere(tab): same_as_exact for the ten nearest rows of 20
-- queries spread over the data.
CREATE FUNCTION pg_temp.exact_everywhere(tab text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	ok boolean := true;
BEGIN
	FOR q IN 1..20 LOOP
		ok := ok AND pg_temp.same_as_exact(format(
			'SELECT id FROM %I ORDER BY v <-> (SELECT v FROM %I WHERE id = %s) LIMIT 10',
			tab, tab, q * 97));
	END LOOP;
	RETURN ok;
END
$$;

CREATE TABLE omendb_rf (id int PRIMARY KEY, v vector(16))
	WITH (autovacuum_enabled = off);
CREATE INDEX omendb_rf_idx ON omendb_rf USING omendb (v vector_l2_ops);
-- the first vector, a thousandth of the rows' scale, sets the ranges
INSERT INTO omendb_rf
	SELECT 0, array_agg(0.1 * sin(i) ORDER BY i)::vector FROM generate_series(1, 16) i;
-- 16 pseudo-random elements in [0, 100) from the id
INSERT INTO omendb_rf
	SELECT g, array_agg((hashint4(g * 16 + i) & 65535) / 655.36 ORDER BY i)::vector
	FROM generate_series(1, 3000) g, generate_series(1, 16) i GROUP BY g;

-- nearly every code is clamped; scans are exact all the same
SELECT live_nodes, clamped_nodes > 2900 AS mostly_clamped
FROM omendb_check('omendb_rf_idx', true);
SELECT pg_temp.exact_everywhere('omendb_rf');
CREATE TEMP TABLE fit_before AS
	SELECT clamped_nodes FROM omendb_check('omendb_rf_idx', true);

-- a refit cut short after two node pages: two parameter sets in use
SET omendb.refit_max_pages = 2;
VACUUM omendb_rf;
SELECT live_nodes, c.clamped_nodes BETWEEN 1 AND b.clamped_nodes - 1 AS partly_refitted
FROM omendb_check('omendb_rf_idx', true) c, fit_before b;
SELECT pg_temp.exact_everywhere('omendb_rf');
-- inserts meanwhile encode with the new set; a delete leaves a deleted node
INSERT INTO omendb_rf
	SELECT g, array_agg((hashint4(g * 16 + i) & 65535) / 655.36 ORDER BY i)::vector
	FROM generate_series(3001, 3100) g, generate_series(1, 16) i GROUP BY g;
DELETE FROM omendb_rf WHERE id % 10 = 3 AND id % 97 <> 0;
SELECT live_nodes FROM omendb_check('omendb_rf_idx', true);
SELECT pg_temp.exact_everywhere('omendb_rf');

-- the next VACUUM finishes it: no code is clamped, and bounds are tight
RESET omendb.refit_max_pages;
VACUUM omendb_rf;
SELECT live_nodes, deleted_nodes, clamped_nodes, mean_error_ratio < 0.7 AS tight
FROM omendb_check('omendb_rf_idx', true);
SELECT pg_temp.exact_everywhere('omendb_rf');
SELECT clamped_fraction, mean_error_ratio < 0.7 AS tight
FROM omendb_index_stats('omendb_rf_idx');

-- a quantizer that fits is left alone: VACUUM again changes no code
CREATE TEMP TABLE codes_before AS
	SELECT clamped_nodes, mean_error_ratio FROM omendb_check('omendb_rf_idx', true);
VACUUM omendb_rf;
SELECT c.mean_error_ratio = b.mean_error_ratio AS unchanged
FROM omendb_check('omendb_rf_idx', true) c, codes_before b;

-- an index built on the data fits from the start, and is not refitted
CREATE INDEX omendb_rf_built ON omendb_rf USING omendb (v vector_l2_ops);
SELECT clamped_nodes FROM omendb_check('omendb_rf_built', true);

DROP TABLE omendb_rf;
