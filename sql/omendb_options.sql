--
-- omendb_options: the index's reloptions (graph_degree, build_list_size,
-- alpha, quantizer), their ranges and cross-checks, where they show up in
-- the catalogs, and the omendb.search_list_size setting.
--

CREATE TABLE omendb_opt (id int, v vector(3));
INSERT INTO omendb_opt SELECT i, ARRAY[i, i % 7, i % 3]::real[] FROM generate_series(1, 50) i;

-- Every option at its default, implicitly: no reloptions are stored.
CREATE INDEX omendb_opt_default ON omendb_opt USING omendb (v);
SELECT reloptions FROM pg_class WHERE relname = 'omendb_opt_default';

-- Each option accepts the ends of its range.
CREATE INDEX omendb_opt_min ON omendb_opt USING omendb (v)
	WITH (graph_degree = 4, build_list_size = 8, alpha = 1.0, quantizer = 'sq8');
CREATE INDEX omendb_opt_max ON omendb_opt USING omendb (v)
	WITH (graph_degree = 128, build_list_size = 1000, alpha = 2.0);

-- The options given are stored as given, in pg_class.reloptions and in the
-- index definition.
SELECT relname, reloptions FROM pg_class
WHERE relname IN ('omendb_opt_min', 'omendb_opt_max') ORDER BY relname;
SELECT indexname, indexdef FROM pg_indexes
WHERE tablename = 'omendb_opt' ORDER BY indexname;

-- Values out of range are rejected, each with its valid range.
CREATE INDEX ON omendb_opt USING omendb (v) WITH (graph_degree = 3);
CREATE INDEX ON omendb_opt USING omendb (v) WITH (graph_degree = 129);
CREATE INDEX ON omendb_opt USING omendb (v) WITH (build_list_size = 7);
CREATE INDEX ON omendb_opt USING omendb (v) WITH (build_list_size = 1001);
CREATE INDEX ON omendb_opt USING omendb (v) WITH (alpha = 0.99);
CREATE INDEX ON omendb_opt USING omendb (v) WITH (alpha = 2.01);

-- Values of the wrong type are rejected.
CREATE INDEX ON omendb_opt USING omendb (v) WITH (graph_degree = 'many');
CREATE INDEX ON omendb_opt USING omendb (v) WITH (alpha = 'abc');

-- Quantizers are sq8 and rabitq; others (pq) are rejected, naming the valid ones.
CREATE INDEX ON omendb_opt USING omendb (v) WITH (quantizer = 'pq');
CREATE INDEX ON omendb_opt USING omendb (v) WITH (quantizer = '');

-- Unknown options are rejected.
CREATE INDEX ON omendb_opt USING omendb (v) WITH (foo = 1);
CREATE INDEX ON omendb_opt USING omendb (v) WITH (m = 16);

-- build_list_size must be at least graph_degree: explicitly, and against
-- the other option's default (graph_degree 32, build_list_size 64).
CREATE INDEX ON omendb_opt USING omendb (v) WITH (graph_degree = 64, build_list_size = 63);
CREATE INDEX ON omendb_opt USING omendb (v) WITH (build_list_size = 16);
CREATE INDEX ON omendb_opt USING omendb (v) WITH (graph_degree = 100);
-- ... and equal is fine.
CREATE INDEX omendb_opt_equal ON omendb_opt USING omendb (v)
	WITH (graph_degree = 64, build_list_size = 64);
-- ... also when the table is empty (nothing to build, options still checked).
CREATE TABLE omendb_opt_empty (v vector(3));
CREATE INDEX ON omendb_opt_empty USING omendb (v) WITH (graph_degree = 64, build_list_size = 63);
CREATE INDEX ON omendb_opt_empty USING omendb (v) WITH (graph_degree = 64, build_list_size = 64);
DROP TABLE omendb_opt_empty;

-- Indexes built with any valid options answer queries.
SET enable_seqscan = off;
SELECT id FROM omendb_opt ORDER BY v <-> '[10.2,3,1]' LIMIT 3;
RESET enable_seqscan;

-- Every operator class takes the same options.
CREATE INDEX omendb_opt_ip ON omendb_opt USING omendb (v vector_ip_ops) WITH (graph_degree = 8, alpha = 1.5);
CREATE INDEX omendb_opt_cos ON omendb_opt USING omendb (v vector_cosine_ops) WITH (build_list_size = 100);
SELECT indexdef FROM pg_indexes WHERE indexname IN ('omendb_opt_ip', 'omendb_opt_cos') ORDER BY indexname;

-- ALTER INDEX SET/RESET validates the same ranges and updates reloptions.
ALTER INDEX omendb_opt_min SET (graph_degree = 0);
ALTER INDEX omendb_opt_min SET (quantizer = 'pq');
ALTER INDEX omendb_opt_min SET (bar = 1);
ALTER INDEX omendb_opt_min SET (alpha = 1.5);
ALTER INDEX omendb_opt_min RESET (quantizer);
SELECT reloptions FROM pg_class WHERE relname = 'omendb_opt_min';

-- What omendb indexes cannot be: with two vector columns, unique,
-- covering, or led by a column other than the vector.
CREATE INDEX ON omendb_opt USING omendb (v, v);
CREATE UNIQUE INDEX ON omendb_opt USING omendb (v);
CREATE INDEX ON omendb_opt USING omendb (v) INCLUDE (id);
CREATE INDEX ON omendb_opt USING omendb (id);
CREATE INDEX ON omendb_opt USING omendb (v vector_ops);

-- An SQ8 node (header, neighbour slots, one code byte a dimension) must fit
-- one page: 8000 dimensions do not with the default graph_degree, but do
-- with a small one.  Without a quantizer named, the index takes SQ8 where
-- it fits and RaBitQ where it does not.
CREATE TABLE omendb_opt_wide (v vector(8000));
INSERT INTO omendb_opt_wide SELECT array_fill(0.5, ARRAY[8000])::vector;
CREATE INDEX ON omendb_opt_wide USING omendb (v) WITH (quantizer = 'sq8');
CREATE INDEX omendb_opt_wide_auto ON omendb_opt_wide USING omendb (v);
SELECT quantizer, code_bytes FROM omendb_index_stats('omendb_opt_wide_auto');
DROP INDEX omendb_opt_wide_auto;
CREATE INDEX omendb_opt_wide_small ON omendb_opt_wide USING omendb (v)
	WITH (graph_degree = 4, build_list_size = 8);
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT 1 FROM omendb_opt_wide ORDER BY v <-> array_fill(0.5, ARRAY[8000])::vector LIMIT 1) s;
RESET enable_seqscan;
DROP TABLE omendb_opt_wide;

DROP TABLE omendb_opt;

--
-- omendb.search_list_size: an integer from 0 to 10000 that any user may set.
-- The default 0 means automatic: 40, or 160 for inner-product indexes.
--
SHOW omendb.search_list_size;
SELECT name, setting, unit, vartype, min_val, max_val, boot_val, reset_val, context
FROM pg_settings WHERE name LIKE 'omendb.%' ORDER BY name;
SET omendb.search_list_size = 1;
SHOW omendb.search_list_size;
SET omendb.search_list_size = 0;
SHOW omendb.search_list_size;
SET omendb.search_list_size = 10000;
SHOW omendb.search_list_size;
RESET omendb.search_list_size;
SHOW omendb.search_list_size;

-- Out of range, or not a number: rejected, the setting unchanged.
SET omendb.search_list_size = 10001;
SET omendb.search_list_size = -1;
SET omendb.search_list_size = 'lots';
SHOW omendb.search_list_size;

-- SET LOCAL lasts until the end of the transaction.
BEGIN;
SET LOCAL omendb.search_list_size = 200;
SHOW omendb.search_list_size;
COMMIT;
SHOW omendb.search_list_size;

-- omendb.exact_order: auto (the default: certain bounds for SQ8, likely
-- ones for RaBitQ), on or off, which it also takes spelt as a boolean
-- setting; anything else is rejected, the setting unchanged.
SHOW omendb.exact_order;
SET omendb.exact_order = on;
SHOW omendb.exact_order;
SET omendb.exact_order = false;
SHOW omendb.exact_order;
SET omendb.exact_order = 'yes';
SHOW omendb.exact_order;
SET omendb.exact_order = maybe;
SHOW omendb.exact_order;
RESET omendb.exact_order;
SHOW omendb.exact_order;

-- The omendb prefix is reserved: unknown omendb.* settings are rejected
-- rather than silently accepted as placeholders.
SET omendb.search_list = 10;
SET omendb.ef_search = 10;
SELECT set_config('omendb.foo', '1', false);
SELECT count(*) FROM pg_settings WHERE name LIKE 'omendb.%';
