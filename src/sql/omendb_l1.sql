
-- L1 (Manhattan) operator classes for omendb: the graph is the one an L2
-- index builds, scans navigate it by L1 distance to the codes and return
-- rows in exact L1 order ("L1 (Manhattan) distance" in src/README.omendb).
CREATE FUNCTION omendb_metric_l1(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR CLASS vector_l1_ops
	FOR TYPE vector USING omendb AS
	OPERATOR 1 <+> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 omendb_metric_l1(internal);

CREATE OPERATOR CLASS halfvec_l1_ops
	FOR TYPE halfvec USING omendb AS
	OPERATOR 1 <+> (halfvec, halfvec) FOR ORDER BY float_ops,
	FUNCTION 1 omendb_metric_l1(internal),
	FUNCTION 2 halfvec_to_vector(halfvec, integer, boolean);
