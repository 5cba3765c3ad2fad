-- pgTAP: the omendb index access method's catalog objects: the access
-- method and its handler, the eight operator classes (their operators,
-- support functions, defaults, validity), what the AM says it can do, and
-- its setting.  Runs in one transaction and rolls back.
--
-- Run by test/run (suite "pgtap") in a scratch database where the pgtap
-- extension exists.  Each file is self-contained: it creates omendb itself.

\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
SET LOCAL client_min_messages = warning;

SELECT plan(37);

SELECT lives_ok('CREATE EXTENSION omendb', 'CREATE EXTENSION omendb succeeds');

-- the access method ----------------------------------------------------------

SELECT is(
	(SELECT amtype::text FROM pg_am WHERE amname = 'omendb'),
	'i',
	'omendb is an index access method');

SELECT is(
	(SELECT amhandler::regprocedure::text FROM pg_am WHERE amname = 'omendb'),
	'omendb_handler(internal)',
	'its handler is omendb_handler(internal)');

SELECT ok(
	(SELECT obj_description(oid, 'pg_am') IS NOT NULL FROM pg_am WHERE amname = 'omendb'),
	'the access method has a comment');

SELECT ok(
	(SELECT objid FROM pg_depend
	 WHERE classid = 'pg_am'::regclass AND deptype = 'e'
	   AND objid = (SELECT oid FROM pg_am WHERE amname = 'omendb')
	   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'omendb')) IS NOT NULL,
	'the access method belongs to the extension');

-- operator classes -------------------------------------------------------------

-- The vector classes: those whose family has support function 1, the
-- metric.  The filter classes, of the columns after the vector, have none.
CREATE TEMP VIEW omendb_all_opclasses AS
	SELECT c.oid, c.opcname::text COLLATE "default" AS opcname, c.opcdefault,
		   c.opcintype::regtype::text AS intype,
		   EXISTS (SELECT 1 FROM pg_amproc p
				   WHERE p.amprocfamily = c.opcfamily AND p.amprocnum = 1) AS vector_class
	FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
	WHERE a.amname = 'omendb';
CREATE TEMP VIEW omendb_opclasses AS
	SELECT oid, opcname, opcdefault, intype FROM omendb_all_opclasses WHERE vector_class;
CREATE TEMP VIEW omendb_filter_opclasses AS
	SELECT oid, opcname, opcdefault, intype FROM omendb_all_opclasses WHERE NOT vector_class;

SELECT results_eq(
	$$ SELECT opcname, intype FROM omendb_opclasses ORDER BY opcname $$,
	$$ VALUES ('halfvec_cosine_ops', 'halfvec'), ('halfvec_ip_ops', 'halfvec'), ('halfvec_l1_ops', 'halfvec'),
			  ('halfvec_l2_ops', 'halfvec'),
			  ('vector_cosine_ops', 'vector'), ('vector_ip_ops', 'vector'), ('vector_l1_ops', 'vector'),
			  ('vector_l2_ops', 'vector') $$,
	'four operator classes for vector (vector_l2_ops, vector_ip_ops, vector_cosine_ops, vector_l1_ops) and four for halfvec');

SELECT results_eq(
	$$ SELECT opcname FROM omendb_opclasses WHERE opcdefault ORDER BY opcname $$,
	$$ VALUES ('halfvec_l2_ops'), ('vector_l2_ops') $$,
	'vector_l2_ops and halfvec_l2_ops are the default operator classes');

-- Each class has one ordering operator: strategy 1 (FOR ORDER BY
-- float_ops), on two values of the class's type; and each vector class's
-- family one ball operator of radius queries: strategy 2, a search
-- operator, vector x omendb_ball.
SELECT results_eq(
	$$ SELECT c.opcname, o.amopstrategy::int, o.amoppurpose::text, o.amopopr::regoperator::text,
			  o.amopsortfamily::regclass::text IS NOT NULL
	   FROM omendb_opclasses c
	   JOIN pg_amop o ON o.amopfamily = (SELECT opcfamily FROM pg_opclass WHERE oid = c.oid)
	   ORDER BY c.opcname, o.amopstrategy $$,
	$$ VALUES ('halfvec_cosine_ops', 1, 'o', '<=>(halfvec,halfvec)', true),
			  ('halfvec_ip_ops', 1, 'o', '<#>(halfvec,halfvec)', true),
			  ('halfvec_l1_ops', 1, 'o', '<+>(halfvec,halfvec)', true),
			  ('halfvec_l2_ops', 1, 'o', '<->(halfvec,halfvec)', true),
			  ('vector_cosine_ops', 1, 'o', '<=>(vector,vector)', true),
			  ('vector_cosine_ops', 2, 's', '<<=>(vector,omendb_ball)', true),
			  ('vector_ip_ops', 1, 'o', '<#>(vector,vector)', true),
			  ('vector_ip_ops', 2, 's', '<<#>(vector,omendb_ball)', true),
			  ('vector_l1_ops', 1, 'o', '<+>(vector,vector)', true),
			  ('vector_l1_ops', 2, 's', '<<+>(vector,omendb_ball)', true),
			  ('vector_l2_ops', 1, 'o', '<->(vector,vector)', true),
			  ('vector_l2_ops', 2, 's', '<<->(vector,omendb_ball)', true) $$,
	'each class has one ordering operator, <-> (L2), <#> (inner product), <=> (cosine), <+> (L1); each vector class one ball operator, <<->, <<#>, <<=>, <<+>');

SELECT is(
	(SELECT count(*)::int FROM omendb_opclasses c
	 JOIN pg_amop o ON o.amopfamily = (SELECT opcfamily FROM pg_opclass WHERE oid = c.oid)
	 JOIN pg_opfamily f ON f.oid = o.amopsortfamily
	 WHERE f.opfname = 'float_ops' AND f.opfmethod = (SELECT oid FROM pg_am WHERE amname = 'btree')),
	8,
	'the ordering operators sort by btree float_ops');

-- Support function 1 names the metric; 2, in the halfvec classes, is the
-- exact cast to vector through which the index reads their values.
SELECT results_eq(
	$$ SELECT c.opcname, p.amprocnum::int, p.amproc::regprocedure::text
	   FROM omendb_opclasses c
	   JOIN pg_amproc p ON p.amprocfamily = (SELECT opcfamily FROM pg_opclass WHERE oid = c.oid)
	   ORDER BY c.opcname, p.amprocnum $$,
	$$ VALUES ('halfvec_cosine_ops', 1, 'omendb_metric_cosine(internal)'),
			  ('halfvec_cosine_ops', 2, 'halfvec_to_vector(halfvec,integer,boolean)'),
			  ('halfvec_ip_ops', 1, 'omendb_metric_ip(internal)'),
			  ('halfvec_ip_ops', 2, 'halfvec_to_vector(halfvec,integer,boolean)'),
			  ('halfvec_l1_ops', 1, 'omendb_metric_l1(internal)'),
			  ('halfvec_l1_ops', 2, 'halfvec_to_vector(halfvec,integer,boolean)'),
			  ('halfvec_l2_ops', 1, 'omendb_metric_l2(internal)'),
			  ('halfvec_l2_ops', 2, 'halfvec_to_vector(halfvec,integer,boolean)'),
			  ('vector_cosine_ops', 1, 'omendb_metric_cosine(internal)'),
			  ('vector_ip_ops', 1, 'omendb_metric_ip(internal)'),
			  ('vector_l1_ops', 1, 'omendb_metric_l1(internal)'),
			  ('vector_l2_ops', 1, 'omendb_metric_l2(internal)') $$,
	'each class has support function 1 naming its metric, the halfvec classes 2 casting to vector');

SELECT is_empty(
	$$ SELECT opcname FROM omendb_all_opclasses WHERE NOT amvalidate(oid) $$,
	'amvalidate accepts every operator class');

-- Filter classes: the default for each scalar type a filter column may
-- have, and for arrays; search operators only (btree's strategies 1 to 5,
-- then && @> <@ as 6 to 8), no ordering operator, no support function.
SELECT results_eq(
	$$ SELECT opcname, intype, opcdefault FROM omendb_filter_opclasses ORDER BY opcname $$,
	$$ VALUES ('array_ops', 'anyarray', true), ('bool_ops', 'boolean', true),
			  ('date_ops', 'date', true), ('int2_ops', 'smallint', true),
			  ('int4_ops', 'integer', true), ('int8_ops', 'bigint', true),
			  ('text_ops', 'text', true),
			  ('timestamp_ops', 'timestamp without time zone', true),
			  ('timestamptz_ops', 'timestamp with time zone', true),
			  ('uuid_ops', 'uuid', true) $$,
	'filter classes: the defaults for int2, int4, int8, bool, date, timestamp, timestamptz, text, uuid and arrays');

SELECT results_eq(
	$$ SELECT c.opcname, string_agg(o.amopstrategy::text || ' ' || o.amopopr::regoperator::text, ', '
									ORDER BY o.amopstrategy)
	   FROM omendb_filter_opclasses c
	   JOIN pg_amop o ON o.amopfamily = (SELECT opcfamily FROM pg_opclass WHERE oid = c.oid)
	   WHERE o.amoplefttype = o.amoprighttype AND o.amoplefttype = (SELECT opcintype FROM pg_opclass WHERE oid = c.oid)
	   GROUP BY c.opcname ORDER BY c.opcname $$,
	$$ VALUES ('array_ops', '3 =(anyarray,anyarray), 6 &&(anyarray,anyarray), 7 @>(anyarray,anyarray), 8 <@(anyarray,anyarray)'),
			  ('bool_ops', '3 =(boolean,boolean)'),
			  ('date_ops', '1 <(date,date), 2 <=(date,date), 3 =(date,date), 4 >=(date,date), 5 >(date,date)'),
			  ('int2_ops', '1 <(smallint,smallint), 2 <=(smallint,smallint), 3 =(smallint,smallint), 4 >=(smallint,smallint), 5 >(smallint,smallint)'),
			  ('int4_ops', '1 <(integer,integer), 2 <=(integer,integer), 3 =(integer,integer), 4 >=(integer,integer), 5 >(integer,integer)'),
			  ('int8_ops', '1 <(bigint,bigint), 2 <=(bigint,bigint), 3 =(bigint,bigint), 4 >=(bigint,bigint), 5 >(bigint,bigint)'),
			  ('text_ops', '3 =(text,text)'),
			  ('timestamp_ops', '1 <(timestamp without time zone,timestamp without time zone), 2 <=(timestamp without time zone,timestamp without time zone), 3 =(timestamp without time zone,timestamp without time zone), 4 >=(timestamp without time zone,timestamp without time zone), 5 >(timestamp without time zone,timestamp without time zone)'),
			  ('timestamptz_ops', '1 <(timestamp with time zone,timestamp with time zone), 2 <=(timestamp with time zone,timestamp with time zone), 3 =(timestamp with time zone,timestamp with time zone), 4 >=(timestamp with time zone,timestamp with time zone), 5 >(timestamp with time zone,timestamp with time zone)'),
			  ('uuid_ops', '3 =(uuid,uuid)') $$,
	'each filter class has btree''s strategies for its type (= alone for bool, text and uuid), arrays = && @> <@');

SELECT is(
	(SELECT count(*)::int FROM pg_amop o JOIN pg_opfamily f ON f.oid = o.amopfamily
	 WHERE f.opfname = 'integer_ops' AND f.opfmethod = (SELECT oid FROM pg_am WHERE amname = 'omendb')
	   AND o.amoplefttype <> o.amoprighttype),
	30,
	'integer_ops has the cross-type operators of int2, int4 and int8 (6 pairs, 5 strategies)');

SELECT is_empty(
	$$ SELECT c.opcname FROM omendb_filter_opclasses c
	   JOIN pg_opclass pc ON pc.oid = c.oid
	   WHERE EXISTS (SELECT 1 FROM pg_amproc p WHERE p.amprocfamily = pc.opcfamily)
		  OR EXISTS (SELECT 1 FROM pg_amop o WHERE o.amopfamily = pc.opcfamily AND o.amoppurpose <> 's') $$,
	'no filter class has a support function or an ordering operator');

-- An operator class with a search (non-ordering) operator is refused by
-- amvalidate.
CREATE OPERATOR FAMILY omendb_bad_ops USING omendb;
CREATE OPERATOR CLASS omendb_bad_ops FOR TYPE vector USING omendb FAMILY omendb_bad_ops AS
	OPERATOR 1 = (vector, vector),
	FUNCTION 1 omendb_metric_l2(internal);
SELECT is(
	amvalidate((SELECT oid FROM pg_opclass WHERE opcname = 'omendb_bad_ops')),
	false,
	'amvalidate refuses a class whose operator is not an ordering operator');

-- what the access method can do -----------------------------------------------

SELECT is(pg_indexam_has_property((SELECT oid FROM pg_am WHERE amname = 'omendb'), 'can_order'),
	false, 'omendb cannot order by the column itself (no ASC/DESC)');
SELECT is(pg_indexam_has_property((SELECT oid FROM pg_am WHERE amname = 'omendb'), 'can_unique'),
	false, 'omendb indexes cannot be unique');
SELECT is(pg_indexam_has_property((SELECT oid FROM pg_am WHERE amname = 'omendb'), 'can_multi_col'),
	true, 'omendb indexes may have filter columns after the vector');
SELECT is(pg_indexam_has_property((SELECT oid FROM pg_am WHERE amname = 'omendb'), 'can_include'),
	false, 'omendb indexes have no INCLUDE columns');

CREATE TABLE omendb_pgtap_t (id int, v vector(3));
INSERT INTO omendb_pgtap_t VALUES (1, '[1,2,3]'), (2, '[3,2,1]');
CREATE INDEX omendb_pgtap_i ON omendb_pgtap_t USING omendb (v);

SELECT is(pg_index_has_property('omendb_pgtap_i'::regclass, 'index_scan'),
	true, 'an omendb index supports plain index scans');
SELECT is(pg_index_has_property('omendb_pgtap_i'::regclass, 'bitmap_scan'),
	false, 'an omendb index does not support bitmap scans');
SELECT is(pg_index_has_property('omendb_pgtap_i'::regclass, 'backward_scan'),
	false, 'an omendb index does not scan backward');
SELECT is(pg_index_has_property('omendb_pgtap_i'::regclass, 'clusterable'),
	false, 'a table cannot be CLUSTERed on an omendb index');
SELECT is(pg_index_column_has_property('omendb_pgtap_i'::regclass, 1, 'orderable'),
	false, 'the column is not orderable by value');
SELECT is(pg_index_column_has_property('omendb_pgtap_i'::regclass, 1, 'returnable'),
	false, 'the index cannot return the vector (no index-only scans)');
SELECT is(pg_index_column_has_property('omendb_pgtap_i'::regclass, 1, 'search_nulls'),
	false, 'the index does not search for NULLs (NULLs are not indexed)');

CREATE INDEX omendb_pgtap_f ON omendb_pgtap_t USING omendb (v, id);
SELECT is(pg_index_column_has_property('omendb_pgtap_f'::regclass, 1, 'distance_orderable'),
	true, 'the vector column orders by distance');
SELECT is(pg_index_column_has_property('omendb_pgtap_f'::regclass, 2, 'distance_orderable'),
	false, 'a filter column does not');
SELECT is(pg_index_column_has_property('omendb_pgtap_f'::regclass, 2, 'search_array'),
	true, 'a filter column takes = ANY (array) as one qual');
DROP INDEX omendb_pgtap_f;
SELECT throws_ok(
	'CLUSTER omendb_pgtap_t USING omendb_pgtap_i',
	'0A000', NULL,
	'CLUSTER on an omendb index is refused');

-- the quantizers --------------------------------------------------------------

SELECT throws_ok(
	$$ CREATE INDEX ON omendb_pgtap_t USING omendb (v) WITH (quantizer = 'sq8', bits = 4) $$,
	'22023', 'omendb option bits does not apply to quantizer "sq8"',
	'bits is refused with sq8, which takes none');
SELECT throws_ok(
	$$ CREATE INDEX ON omendb_pgtap_t USING omendb (v vector_l1_ops) WITH (quantizer = 'rabitq') $$,
	'0A000', NULL,
	'rabitq refuses L1: its bound needs per-dimension cells');
SELECT lives_ok(
	$$ CREATE INDEX omendb_pgtap_rq ON omendb_pgtap_t USING omendb (v vector_cosine_ops)
	   WITH (quantizer = 'rabitq', bits = 3); DROP INDEX omendb_pgtap_rq $$,
	'rabitq takes bits 1 to 8 under cosine');

-- the setting ----------------------------------------------------------------

SELECT results_eq(
	$$ SELECT name, vartype, min_val, max_val, boot_val, context
	   FROM pg_settings WHERE name LIKE 'omendb.%' ORDER BY name $$,
	$$ VALUES ('omendb.directory_sketch', 'bool', NULL, NULL, 'on', 'user'),
			  ('omendb.exact_order', 'enum', NULL, NULL, 'auto', 'user'),
			  ('omendb.explain_counters', 'bool', NULL, NULL, 'on', 'user'),
			  ('omendb.label_directory', 'bool', NULL, NULL, 'on', 'user'),
			  ('omendb.radius_exact', 'bool', NULL, NULL, 'on', 'user'),
			  ('omendb.refit_max_pages', 'integer', '0', '2147483647', '0', 'user'),
			  ('omendb.renumber_min_gain', 'real', '0', '100', '1.15', 'user'),
			  ('omendb.scan_mem_limit', 'integer', '-1', '2147483647', '-1', 'user'),
			  ('omendb.search_list_size', 'integer', '0', '10000', '0', 'user') $$,
	'nine settings, user-settable: omendb.directory_sketch, bool, default on; '
	'omendb.exact_order, enum, default auto; '
	'omendb.explain_counters, bool, default on; '
	'omendb.label_directory, bool, default on; '
	'omendb.radius_exact, boolean, default on; '
	'omendb.refit_max_pages, integer, default 0 (all); '
	'omendb.renumber_min_gain, real 0..100, default 1.15; '
	'omendb.scan_mem_limit, integer kB, default -1 (work_mem); '
	'omendb.search_list_size, integer 0..10000, default 0 (automatic)');

-- Reserving a prefix came with PostgreSQL 15; before, an unknown name under
-- it is a placeholder, as under any prefix no module has loaded.
SELECT CASE WHEN current_setting('server_version_num')::int >= 150000 THEN
	throws_ok(
		'SET omendb.no_such_setting = 1',
		'42602', NULL,
		'the omendb. prefix is reserved: unknown settings are refused')
ELSE
	lives_ok(
		'SET LOCAL omendb.no_such_setting = 1',
		'before PostgreSQL 15 the omendb. prefix cannot be reserved: an unknown setting is a placeholder')
END;

SELECT lives_ok(
	'SET LOCAL omendb.search_list_size = 100',
	'omendb.search_list_size can be set by any user for a transaction');

SELECT * FROM finish();
ROLLBACK;
