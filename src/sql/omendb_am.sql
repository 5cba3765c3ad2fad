
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
