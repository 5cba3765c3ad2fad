/*-------------------------------------------------------------------------
 *
 * omendb_pgvector.c
 *	  Indexing pgvector's own vector and halfvec columns in place.
 *
 * The companion extension omendb_pgvector (pgvector/ in the source tree)
 * declares omendb operator classes for pgvector's types, with these
 * functions as their support functions.  pgvector's vector and halfvec
 * have the same in-memory layout as ours (a varlena header, int16
 * dimensions, an int16 that is zero, then float4s or IEEE binary16
 * halves), so support function 2 reads a pgvector value as it stands,
 * after checking that its header says so.
 *
 * The executor rechecks every row with the query's operator, so with
 * these classes with pgvector's distance functions.  Those sum in float
 * with no fallback: where omendb's own functions redo a sum in double
 * because it overflowed or lost every significant bit below the normal
 * float range, pgvector's return what the float sum gave.  Their support
 * function 1 says so (OMENDB_METRIC_FLOAT_SUMS), and the bounds a scan
 * returns allow for it: see "pgvector's columns" in src/README.omendb.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/genam.h"
#include "fmgr.h"

#include "halfvec.h"
#include "omendb_metric.h"
#include "omendb_pgvector.h"
#include "vector.h"

/*
 * Whether an index's operator class computes distances in plain float sums
 * (support function 1 says so).  Looks the function up in the catalogs the
 * first time: never call it under a buffer lock.
 */
bool
omendb_index_float_sums(Relation index)
{
	FmgrInfo   *proc = index_getprocinfo(index, 1, OMENDB_METRIC_PROC);
	int32		m = DatumGetInt32(FunctionCall1Coll(proc, InvalidOid, (Datum) 0));

	return (m & OMENDB_METRIC_FLOAT_SUMS) != 0;
}

/*
 * Whether float sums of the products of x with itself, and with any other
 * vector that passes this test, keep their precision: the sum of squares
 * at least twice dim smallest normal floats (so what products below the
 * normal range lose, half the smallest float each, is below a float's
 * precision of the sums), and at most a quarter of the largest float (so
 * neither it nor a sum of products with another such vector overflows).
 */
static bool
float_sums_exact_enough(const float *x, int dim)
{
	double		ss = 0;

	for (int i = 0; i < dim; i++)
		ss += (double) x[i] * x[i];
	return ss >= 2.0 * dim * FLT_MIN && ss <= FLT_MAX / 4;
}

/*
 * The error bound to store for a row x whose code the quantizer encoded
 * with bound error.  A float-sums cosine distance of a row outside the
 * range where its sums keep their precision can be anything in [0, 2]
 * (the sum of squares of a vector of norm 1e-23 rounds to 0, and every
 * vector less than 90 degrees from it comes out at distance 0): its bound
 * must be 0.  Adding the largest distance
 * between unit vectors, 2, to its error makes it so (cosine bounds are
 * |q - x^| - e, and |q - x^| is at most 2 + the code's true error), and
 * leaves a valid bound, so omendb_check accepts it (and counts the node as
 * clamped).  Every other row keeps the encoder's bound.
 */
float
omendb_float_sums_error(bool float_sums, OmenMetric metric, const float *x,
						int dim, float error)
{
	if (!float_sums || metric != OMENDB_METRIC_COSINE ||
		float_sums_exact_enough(x, dim))
		return error;
	return nextafterf(error + 2.0f, INFINITY);
}

/*
 * What a scan for query q (as the column's type gives it, before the
 * metric transform) must cap its bounds at.  *bound_cap caps every bound:
 * a float-sums cosine query outside the range where its sums keep their
 * precision can come out at any distance in [0, 2], so 0.  *norm_cap is
 * the largest node norm for which an inner-product bound stands: pgvector's
 * float inner product overflows to an infinite result (a negative infinite
 * distance) once |q| |x| nears the largest float, so beyond a quarter of
 * it the bound is -infinity.  Both are infinite when nothing needs
 * capping, as under L2 and L1 always: their float sums add non-negative
 * terms, whose rounding the usual margins cover, and one that overflows
 * is +infinity, above every bound.
 */
void
omendb_float_sums_limits(bool float_sums, OmenMetric metric, const float *q,
						 int dim, double *bound_cap, double *norm_cap)
{
	*bound_cap = INFINITY;
	*norm_cap = INFINITY;
	if (!float_sums)
		return;
	if (metric == OMENDB_METRIC_COSINE && !float_sums_exact_enough(q, dim))
		*bound_cap = 0;
	else if (metric == OMENDB_METRIC_IP)
	{
		double		ss = 0;

		for (int i = 0; i < dim; i++)
			ss += (double) q[i] * q[i];
		if (ss > 0)
			*norm_cap = FLT_MAX / 4 / sqrt(ss);
	}
}

/* ----------------------------------------------------------------
 *		Support functions of the omendb_pgvector operator classes
 * ----------------------------------------------------------------
 */

/*
 * Support function 1: the metric, and that pgvector's distance functions
 * sum in float.
 */
PG_FUNCTION_INFO_V1(omendb_metric_pgvector_l2);
Datum
omendb_metric_pgvector_l2(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(OMENDB_METRIC_L2 | OMENDB_METRIC_FLOAT_SUMS);
}

PG_FUNCTION_INFO_V1(omendb_metric_pgvector_ip);
Datum
omendb_metric_pgvector_ip(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(OMENDB_METRIC_IP | OMENDB_METRIC_FLOAT_SUMS);
}

PG_FUNCTION_INFO_V1(omendb_metric_pgvector_cosine);
Datum
omendb_metric_pgvector_cosine(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(OMENDB_METRIC_COSINE | OMENDB_METRIC_FLOAT_SUMS);
}

PG_FUNCTION_INFO_V1(omendb_metric_pgvector_l1);
Datum
omendb_metric_pgvector_l1(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(OMENDB_METRIC_L1 | OMENDB_METRIC_FLOAT_SUMS);
}

/*
 * Check that a pgvector value has the layout we read it with: a header
 * whose size is that of dim elements of elemsize bytes, dim within the
 * type's limit, and the unused field zero.  A pgvector release that
 * changed its layout would fail here rather than be misread.
 */
static void
check_pgvector_layout(const char *type, Size size, int dim, int unused,
					  Size expected, int maxdim)
{
	if (dim < 1 || dim > maxdim || unused != 0 || size != expected)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("value of pgvector's type %s does not have the layout omendb reads", type),
				 errdetail("The value has %zu bytes, %d dimensions and a reserved field of %d; %zu bytes and a reserved field of 0 were expected.",
						   size, dim, unused, expected),
				 errhint("Check that omendb_pgvector supports the installed version of pgvector.")));
}

/* The dimension a typmod asks for, as a length coercion checks it. */
static void
check_typmod_dim(int32 typmod, int dim)
{
	if (typmod > 0 && typmod != dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", typmod, dim)));
}

/*
 * Support function 2 for pgvector's vector: the value itself, read as
 * omendb's vector (same layout).  Arguments as a cast function's: the
 * value, a typmod (-1: none) and whether the cast is explicit.
 */
PG_FUNCTION_INFO_V1(omendb_pgvector_vector);
Datum
omendb_pgvector_vector(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	check_pgvector_layout("vector", VARSIZE_ANY(v), v->dim, v->unused,
						  VECTOR_SIZE(v->dim), VECTOR_MAX_DIM);
	check_typmod_dim(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_VECTOR_P(v);
}

/*
 * Support function 2 for pgvector's halfvec: its halves widened to floats,
 * exactly, as pgvector's distance functions widen them.
 */
PG_FUNCTION_INFO_V1(omendb_pgvector_halfvec);
Datum
omendb_pgvector_halfvec(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	Vector	   *result;

	check_pgvector_layout("halfvec", VARSIZE_ANY(v), v->dim, v->unused,
						  HALFVEC_SIZE(v->dim), HALFVEC_MAX_DIM);
	check_typmod_dim(PG_GETARG_INT32(1), v->dim);
	result = InitVector(v->dim);
	for (int i = 0; i < v->dim; i++)
		result->x[i] = HalfToFloat4(v->x[i]);
	PG_RETURN_VECTOR_P(result);
}
