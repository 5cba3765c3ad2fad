-- omendb_pgvector: omendb operator classes for pgvector's vector and
-- halfvec types, so that omendb indexes pgvector's columns in place and
-- scans them for pgvector's own distance operators.  See "pgvector's
-- columns" in README.md and in src/README.omendb.

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION omendb_pgvector" to load this file. \quit

-- Support function 1: the metric, and that pgvector's distance functions
-- sum in float with no fallback (the index's bounds allow for that).
CREATE FUNCTION omendb_metric_pgvector_l2(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION omendb_metric_pgvector_ip(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION omendb_metric_pgvector_cosine(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION omendb_metric_pgvector_l1(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Both extensions define a type named vector, so they live in different
-- schemas, known only at install time: the objects that name their types
-- are created with dynamic SQL.  Each operator class orders by pgvector's
-- own operator, so the executor rechecks every row with pgvector's
-- distance function; support function 2 reads a pgvector value as
-- omendb's vector (the layouts are the same; it checks each value's
-- header).  A class is made for each of pgvector's operators its version
-- has: halfvec and <+> came with pgvector 0.7.0.
DO $$
DECLARE
	pgv text;					-- pgvector's schema, quoted
	omen text;					-- omendb's schema, quoted
	here regnamespace := '@extschema@'::regnamespace;
	metric text;
	op text;
BEGIN
	SELECT quote_ident(n.nspname) INTO pgv
		FROM pg_catalog.pg_extension e
		JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = 'vector';
	SELECT quote_ident(n.nspname) INTO omen
		FROM pg_catalog.pg_extension e
		JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = 'omendb';
	IF omen::regnamespace = here THEN
		RAISE EXCEPTION 'omendb_pgvector cannot be installed in schema %, which holds omendb', omen
			USING ERRCODE = 'duplicate_object',
				DETAIL = 'Its operator classes have the names of omendb''s own.',
				HINT = format('Install it in pgvector''s schema: CREATE EXTENSION omendb_pgvector SCHEMA %s;', pgv);
	END IF;

	EXECUTE format('CREATE FUNCTION @extschema@.omendb_pgvector_vector(%s.vector, integer, boolean) '
				   'RETURNS %s.vector AS %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE',
				   pgv, omen, 'MODULE_PATHNAME');
	FOREACH metric IN ARRAY ARRAY['l2', 'ip', 'cosine', 'l1']
	LOOP
		op := CASE metric WHEN 'l2' THEN '<->' WHEN 'ip' THEN '<#>' WHEN 'cosine' THEN '<=>' ELSE '<+>' END;
		CONTINUE WHEN pg_catalog.to_regoperator(format('%1$s.%2$s(%1$s.vector,%1$s.vector)', pgv, op)) IS NULL;
		EXECUTE format('CREATE OPERATOR CLASS @extschema@.vector_%1$s_ops %2$s FOR TYPE %3$s.vector USING omendb AS '
					   'OPERATOR 1 %3$s.%4$s (%3$s.vector, %3$s.vector) FOR ORDER BY pg_catalog.float_ops, '
					   'FUNCTION 1 @extschema@.omendb_metric_pgvector_%1$s(internal), '
					   'FUNCTION 2 @extschema@.omendb_pgvector_vector(%3$s.vector, integer, boolean)',
					   metric, CASE metric WHEN 'l2' THEN 'DEFAULT' ELSE '' END, pgv, op);
	END LOOP;

	IF pg_catalog.to_regtype(pgv || '.halfvec') IS NOT NULL THEN
		EXECUTE format('CREATE FUNCTION @extschema@.omendb_pgvector_halfvec(%s.halfvec, integer, boolean) '
					   'RETURNS %s.vector AS %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE',
					   pgv, omen, 'MODULE_PATHNAME');
		FOREACH metric IN ARRAY ARRAY['l2', 'ip', 'cosine', 'l1']
		LOOP
			op := CASE metric WHEN 'l2' THEN '<->' WHEN 'ip' THEN '<#>' WHEN 'cosine' THEN '<=>' ELSE '<+>' END;
			EXECUTE format('CREATE OPERATOR CLASS @extschema@.halfvec_%1$s_ops %2$s FOR TYPE %3$s.halfvec USING omendb AS '
						   'OPERATOR 1 %3$s.%4$s (%3$s.halfvec, %3$s.halfvec) FOR ORDER BY pg_catalog.float_ops, '
						   'FUNCTION 1 @extschema@.omendb_metric_pgvector_%1$s(internal), '
						   'FUNCTION 2 @extschema@.omendb_pgvector_halfvec(%3$s.halfvec, integer, boolean)',
						   metric, CASE metric WHEN 'l2' THEN 'DEFAULT' ELSE '' END, pgv, op);
		END LOOP;
	END IF;
END
$$;
