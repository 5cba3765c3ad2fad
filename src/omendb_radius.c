/*-------------------------------------------------------------------------
 *
 * omendb_radius.c
 *	  The ball operators of radius queries and their selectivity.
 *
 * A ball (the composite type omendb_ball) is a center and a radius.
 * "v <<-> ball" is "v <-> center <= radius" in float8's order (NaN above
 * every number), computed by the same distance function as the operator
 * <->, so that the ball that the planner hook adds to "v <-> q < r" or
 * "v <-> q <= r" holds of every row the original clause accepts, NULLs,
 * NaNs and the zero vectors of cosine included.  Likewise <<=> for <=>,
 * <<#> for <#> and <<+> for <+>.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/executor.h"
#include "fmgr.h"
#include "utils/float.h"
#include "utils/selfuncs.h"

#include "omendb_radius.h"

extern PGDLLEXPORT Datum l2_distance(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum cosine_distance(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum vector_negative_inner_product(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum l1_distance(PG_FUNCTION_ARGS);

bool
omendb_ball_fields(Datum ball, Datum *center, double *radius)
{
	HeapTupleHeader tuple = DatumGetHeapTupleHeader(ball);
	bool		isnull;
	Datum		r;

	*center = GetAttributeByNum(tuple, 1, &isnull);
	if (isnull)
		return false;
	r = GetAttributeByNum(tuple, 2, &isnull);
	if (isnull)
		return false;
	*radius = DatumGetFloat8(r);
	return true;
}

/* Whether the distance from v to the ball's center is at most its radius. */
static Datum
within_ball(FunctionCallInfo fcinfo, PGFunction distance)
{
	Datum		center;
	double		radius;
	double		d;

	if (!omendb_ball_fields(PG_GETARG_DATUM(1), &center, &radius))
		PG_RETURN_NULL();
	d = DatumGetFloat8(DirectFunctionCall2(distance, PG_GETARG_DATUM(0), center));
	PG_RETURN_BOOL(float8_le(d, radius));
}

PG_FUNCTION_INFO_V1(l2_within);
Datum
l2_within(PG_FUNCTION_ARGS)
{
	return within_ball(fcinfo, l2_distance);
}

PG_FUNCTION_INFO_V1(cosine_within);
Datum
cosine_within(PG_FUNCTION_ARGS)
{
	return within_ball(fcinfo, cosine_distance);
}

PG_FUNCTION_INFO_V1(negative_inner_product_within);
Datum
negative_inner_product_within(PG_FUNCTION_ARGS)
{
	return within_ball(fcinfo, vector_negative_inner_product);
}

PG_FUNCTION_INFO_V1(l1_within);
Datum
l1_within(PG_FUNCTION_ARGS)
{
	return within_ball(fcinfo, l1_distance);
}

/*
 * Restriction selectivity of "v <<-> ball": the share of the column's
 * most common values and histogram entries that lie in the ball, which
 * ANALYZE keeps for vectors of up to 254 dimensions (wider values are left
 * out of the statistics).  Without them, or for a ball known only when the
 * query runs, a range's default: a ball is a two-sided range.
 */
PG_FUNCTION_INFO_V1(omendb_within_selectivity);
Datum
omendb_within_selectivity(PG_FUNCTION_ARGS)
{
	PlannerInfo *root = (PlannerInfo *) PG_GETARG_POINTER(0);
	Oid			operator = PG_GETARG_OID(1);
	List	   *args = (List *) PG_GETARG_POINTER(2);
	int			varRelid = PG_GETARG_INT32(3);

	PG_RETURN_FLOAT8(generic_restriction_selectivity(root, operator, InvalidOid,
													 args, varRelid,
													 DEFAULT_RANGE_INEQ_SEL));
}
