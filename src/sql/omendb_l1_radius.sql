
-- Radius queries by L1 distance: "v <<+> ball" holds when
-- v <+> center <= radius, the ball operator (strategy 2) of vector_l1_ops,
-- so that "WHERE v <+> q < r" is answered by an L1 index as the other
-- metrics' radii are (see "Radius queries" in README.md).
CREATE FUNCTION l1_within(vector, omendb_ball) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR <<+> (
	LEFTARG = vector, RIGHTARG = omendb_ball, PROCEDURE = l1_within,
	RESTRICT = omendb_within_selectivity
);

ALTER OPERATOR FAMILY vector_l1_ops USING omendb ADD
	OPERATOR 2 <<+> (vector, omendb_ball);

COMMENT ON FUNCTION omendb_within(vector, float8) IS
	'the ball of the given radius around center, for <<-> (L2), <<=> (cosine), <<#> (negative inner product) and <<+> (L1)';
