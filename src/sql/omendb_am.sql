
-- The omendb index access method: see src/README.omendb.

CREATE FUNCTION omendb_handler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME' LANGUAGE C;

CREATE ACCESS METHOD omendb TYPE INDEX HANDLER omendb_handler;

COMMENT ON ACCESS METHOD omendb IS 'DiskANN/Vamana graph index on quantized codes';

-- Support function 1 of each operator class names its metric.
CREATE FUNCTION omendb_metric_l2(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION omendb_metric_ip(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION omendb_metric_cosine(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR CLASS vector_l2_ops
	DEFAULT FOR TYPE vector USING omendb AS
	OPERATOR 1 <-> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 omendb_metric_l2(internal);

CREATE OPERATOR CLASS vector_ip_ops
	FOR TYPE vector USING omendb AS
	OPERATOR 1 <#> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 omendb_metric_ip(internal);

CREATE OPERATOR CLASS vector_cosine_ops
	FOR TYPE vector USING omendb AS
	OPERATOR 1 <=> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 omendb_metric_cosine(internal);

-- Verification, in the manner of amcheck's bt_index_check: see
-- "Verification (omendb_check)" in src/README.omendb.  Reads the whole
-- index (and with heapallindexed the whole table), so only superusers may
-- run it unless granted.
CREATE FUNCTION omendb_check(index regclass, heapallindexed boolean DEFAULT false,
	OUT nodes bigint, OUT live_nodes bigint, OUT deleted_nodes bigint,
	OUT free_nodes bigint, OUT reachable_live_nodes bigint,
	OUT reachable_fraction float8, OUT clamped_nodes bigint,
	OUT mean_error_ratio float8)
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
REVOKE ALL ON FUNCTION omendb_check(regclass, boolean) FROM PUBLIC;
COMMENT ON FUNCTION omendb_check(regclass, boolean) IS
	'verify an omendb index: pages, graph, and optionally that it holds every row of its table; counts its nodes and free slots, the nodes a search can reach, and those whose codes were clamped outside the quantizer''s ranges, and gives their mean error as a fraction of the largest inside them (REINDEX retrains the ranges)';

-- The distance kernels this backend runs (OMENDB_KERNELS in the server's
-- environment caps them): see "Codes: SQ8 and lower bounds" in
-- src/README.omendb.
CREATE FUNCTION omendb_kernels() RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION omendb_kernels() IS
	'the distance kernels this backend runs: float operators, SQ8 code-to-code, and the scan''s integer kernel';
