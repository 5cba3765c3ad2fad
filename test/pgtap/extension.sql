-- pgTAP: the objects of the omendb extension exist with the properties the
-- spec asks for (pgvector-compatible vector type, distance operators,
-- function markings, relocatability).  Runs in one transaction and rolls
-- back, so it leaves the database as it found it.
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

SELECT plan(31);

-- Inside lives_ok: if the extension cannot be created the remaining tests
-- still run (and fail one by one) instead of aborting the whole file.
SELECT lives_ok('CREATE EXTENSION omendb', 'CREATE EXTENSION omendb succeeds');

SELECT has_extension('omendb', 'extension omendb is installed');

SELECT is(
	(SELECT extrelocatable FROM pg_extension WHERE extname = 'omendb'),
	true,
	'extension omendb is relocatable');

-- the vector type ------------------------------------------------------------

SELECT has_type('vector', 'type vector exists');

SELECT is(
	(SELECT typstorage::text FROM pg_type WHERE oid = to_regtype('vector')),
	'e',
	'vector has storage EXTERNAL (not compressed, toastable out of line)');

SELECT is(
	(SELECT typlen::int FROM pg_type WHERE oid = to_regtype('vector')),
	-1,
	'vector is a varlena (typlen -1)');

-- vector.h: same on-disk layout as pgvector (int32 header, int16, int16, float4[])
SELECT is(
	(SELECT typalign::text FROM pg_type WHERE oid = to_regtype('vector')),
	'i',
	'vector has int4 alignment, as pgvector''s');

SELECT ok(
	(SELECT typreceive <> 0 AND typsend <> 0 FROM pg_type WHERE oid = to_regtype('vector')),
	'vector has binary I/O (receive and send functions)');

SELECT ok(
	(SELECT typmodin <> 0 FROM pg_type WHERE oid = to_regtype('vector')),
	'vector has a type-modifier input function (vector(n))');

SELECT is(
	format_type(to_regtype('vector'), 3),
	'vector(3)',
	'vector(3) is displayed as vector(3)');

-- the distance operators -------------------------------------------------------

SELECT has_operator('vector', '<->', 'vector', 'double precision',
	'operator vector <-> vector (L2 distance) returns double precision');
SELECT has_operator('vector', '<#>', 'vector', 'double precision',
	'operator vector <#> vector (negative inner product) returns double precision');
SELECT has_operator('vector', '<=>', 'vector', 'double precision',
	'operator vector <=> vector (cosine distance) returns double precision');
SELECT has_operator('vector', '<+>', 'vector', 'double precision',
	'operator vector <+> vector (L1 distance) returns double precision');

-- function markings ------------------------------------------------------------
-- Every function that belongs to the extension (pg_depend deptype 'e').
-- Index access method handlers (returning index_am_handler) are exempt:
-- PostgreSQL calls them only to get the AM's struct, and they are
-- conventionally left VOLATILE.  Aggregates are exempt from STRICT only.
-- The index check omendb_check is exempt too, and has its own tests below:
-- it reads relations, so it is VOLATILE and PARALLEL RESTRICTED, like
-- amcheck's functions.  So is omendb_kernels, STABLE: it reports what the
-- server chose at start, which a restart can change.  So are omendb_recall
-- and its worker omendb_recall_measure, below: they run queries and change
-- settings for their duration, so VOLATILE and PARALLEL UNSAFE.  So are the
-- scan counters, omendb_scan_stats and omendb_scan_stats_reset: VOLATILE,
-- and PARALLEL RESTRICTED since they read and zero backend-local state.
-- So is omendb_index_stats: VOLATILE, as it reads an index that changes,
-- and PARALLEL SAFE, as it reads shared buffers only.

CREATE TEMP VIEW omendb_all_funcs AS
	SELECT p.oid, p.oid::regprocedure::text AS sig, p.proname, p.prokind,
		   p.provolatile, p.proisstrict, p.proparallel, p.proacl
	FROM pg_proc p
	JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
	JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass
		AND d.refobjid = e.oid AND d.deptype = 'e'
	WHERE e.extname = 'omendb'
	  AND p.prorettype <> 'index_am_handler'::regtype;

CREATE TEMP VIEW omendb_funcs AS
	SELECT oid, sig, prokind, provolatile, proisstrict, proparallel
	FROM omendb_all_funcs
	WHERE proname NOT IN ('omendb_check', 'omendb_kernels',
						  'omendb_recall', 'omendb_recall_measure',
						  'omendb_scan_stats', 'omendb_scan_stats_reset',
						  'omendb_index_stats');

SELECT cmp_ok(
	(SELECT count(*) FROM omendb_funcs)::int, '>=', 6,
	'extension owns its functions (type I/O and the four distances at least)');

SELECT is_empty(
	$$ SELECT sig FROM omendb_funcs WHERE provolatile <> 'i' ORDER BY 1 $$,
	'every extension function is IMMUTABLE');

SELECT is_empty(
	$$ SELECT sig FROM omendb_funcs WHERE NOT proisstrict AND prokind <> 'a' ORDER BY 1 $$,
	'every extension function is STRICT');

SELECT is_empty(
	$$ SELECT sig FROM omendb_funcs WHERE proparallel <> 's' ORDER BY 1 $$,
	'every extension function is PARALLEL SAFE');

SELECT is_empty(
	$$ SELECT o.oprname || ' -> ' || o.oprcode::regprocedure::text
	   FROM pg_operator o
	   WHERE o.oprname IN ('<->', '<#>', '<=>', '<+>')
	     AND o.oprleft = to_regtype('vector') AND o.oprright = to_regtype('vector')
	     AND o.oprcode NOT IN (SELECT oid FROM omendb_funcs) $$,
	'the distance operators are implemented by extension functions');

SELECT results_eq(
	$$ SELECT sig, provolatile::text, proisstrict, proparallel::text
	   FROM omendb_all_funcs WHERE proname = 'omendb_check' $$,
	$$ VALUES ('omendb_check(regclass,boolean)', 'v', true, 'r') $$,
	'omendb_check(regclass, boolean) is VOLATILE, STRICT, PARALLEL RESTRICTED');

SELECT results_eq(
	$$ SELECT sig, provolatile::text, proisstrict, proparallel::text
	   FROM omendb_all_funcs WHERE proname = 'omendb_kernels' $$,
	$$ VALUES ('omendb_kernels()', 's', true, 's') $$,
	'omendb_kernels() is STABLE, STRICT, PARALLEL SAFE');

SELECT results_eq(
	$$ SELECT sig, provolatile::text, proisstrict, proparallel::text
	   FROM omendb_all_funcs WHERE proname = 'omendb_index_stats' $$,
	$$ VALUES ('omendb_index_stats(regclass)', 'v', true, 's') $$,
	'omendb_index_stats(regclass) is VOLATILE, STRICT, PARALLEL SAFE');

SELECT results_eq(
	$$ SELECT sig, provolatile::text, proisstrict, proparallel::text
	   FROM omendb_all_funcs WHERE proname = 'omendb_scan_stats' $$,
	$$ VALUES ('omendb_scan_stats()', 'v', true, 'r') $$,
	'omendb_scan_stats() is VOLATILE, STRICT, PARALLEL RESTRICTED');

SELECT results_eq(
	$$ SELECT sig, provolatile::text, proisstrict, proparallel::text
	   FROM omendb_all_funcs WHERE proname = 'omendb_scan_stats_reset' $$,
	$$ VALUES ('omendb_scan_stats_reset()', 'v', true, 'r') $$,
	'omendb_scan_stats_reset() is VOLATILE, STRICT, PARALLEL RESTRICTED');

SELECT ok(
	(SELECT NOT has_function_privilege('public', oid, 'EXECUTE')
	 FROM omendb_all_funcs WHERE proname = 'omendb_check'),
	'omendb_check is not executable by PUBLIC (superusers, or whoever is granted it)');

SELECT results_eq(
	$$ SELECT sig, provolatile::text, proisstrict, proparallel::text
	   FROM omendb_all_funcs WHERE proname IN ('omendb_recall', 'omendb_recall_measure')
	   ORDER BY sig $$,
	$$ VALUES ('omendb_recall(regclass,integer,integer,double precision)', 'v', true, 'u'),
			  ('omendb_recall(regclass,vector[],integer,double precision)', 'v', true, 'u'),
			  ('omendb_recall_measure(regclass,vector[],integer,integer,double precision)', 'v', false, 'u') $$,
	'omendb_recall (both forms) is VOLATILE, STRICT, PARALLEL UNSAFE; its worker takes NULLs');

SELECT is_empty(
	$$ SELECT p.oid::regprocedure::text FROM omendb_all_funcs f JOIN pg_proc p ON p.oid = f.oid
	   WHERE f.proname IN ('omendb_recall', 'omendb_recall_measure') AND p.prosecdef $$,
	'omendb_recall runs with the caller''s privileges (SECURITY INVOKER)');

SELECT ok(
	(SELECT bool_and(has_function_privilege('public', oid, 'EXECUTE'))
	 FROM omendb_all_funcs WHERE proname IN ('omendb_recall', 'omendb_recall_measure')),
	'omendb_recall is executable by PUBLIC (the table''s privileges apply)');

-- relocatability, for real ------------------------------------------------------

SELECT lives_ok(
	'CREATE SCHEMA omendb_reloc; ALTER EXTENSION omendb SET SCHEMA omendb_reloc',
	'ALTER EXTENSION omendb SET SCHEMA works');

SELECT is(
	(SELECT n.nspname::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
	 WHERE t.typname = 'vector' AND n.nspname = 'omendb_reloc'),
	'omendb_reloc',
	'the vector type moved with the extension');

-- The type and operator still work from the new schema, which is not on
-- the search path (no function may hard-code its schema).
SELECT results_eq(
	$$ SELECT '[1,2]'::omendb_reloc.vector OPERATOR(omendb_reloc.<->) '[4,6]'::omendb_reloc.vector $$,
	$$ VALUES (5::float8) $$,
	'after relocation, [1,2] <-> [4,6] = 5');

SELECT * FROM finish();
ROLLBACK;
