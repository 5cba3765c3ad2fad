
-- Radius queries: see "Radius queries" in README.md and "Radius scans" in
-- src/README.omendb.  A ball is a centre and a radius; "v <<-> ball" holds
-- when v <-> centre <= radius (and <<=>, <<#> likewise for <=> and <#>).
-- The operators are search operators (strategy 2) of the omendb operator
-- families, so an index scan can take a ball as a scan key; a planner hook
-- adds the ball to a query that states the radius as
-- "v <-> q < r" or "v <-> q <= r", keeping that clause as it is.
CREATE TYPE omendb_ball AS (center vector, radius float8);
COMMENT ON TYPE omendb_ball IS
	'a ball: the vectors within radius of center, by the distance of the operator it is used with';

CREATE FUNCTION omendb_within(center vector, radius float8) RETURNS omendb_ball
	AS 'SELECT ROW($1, $2)::omendb_ball'
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION omendb_within(vector, float8) IS
	'the ball of the given radius around center, for <<-> (L2), <<=> (cosine) and <<#> (negative inner product)';

CREATE FUNCTION omendb_within_selectivity(internal, oid, internal, integer)
	RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION l2_within(vector, omendb_ball) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cosine_within(vector, omendb_ball) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION negative_inner_product_within(vector, omendb_ball) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR <<-> (
	LEFTARG = vector, RIGHTARG = omendb_ball, PROCEDURE = l2_within,
	RESTRICT = omendb_within_selectivity
);
CREATE OPERATOR <<=> (
	LEFTARG = vector, RIGHTARG = omendb_ball, PROCEDURE = cosine_within,
	RESTRICT = omendb_within_selectivity
);
CREATE OPERATOR <<#> (
	LEFTARG = vector, RIGHTARG = omendb_ball, PROCEDURE = negative_inner_product_within,
	RESTRICT = omendb_within_selectivity
);

ALTER OPERATOR FAMILY vector_l2_ops USING omendb ADD
	OPERATOR 2 <<-> (vector, omendb_ball);
ALTER OPERATOR FAMILY vector_cosine_ops USING omendb ADD
	OPERATOR 2 <<=> (vector, omendb_ball);
ALTER OPERATOR FAMILY vector_ip_ops USING omendb ADD
	OPERATOR 2 <<#> (vector, omendb_ball);
