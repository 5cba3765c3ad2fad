/*-------------------------------------------------------------------------
 *
 * omendb_metric.c
 *	  The vectors an index works on: every graph is built and searched by
 *	  Euclidean distance, so cosine indexes hold unit vectors and
 *	  inner-product indexes the MIPS-to-L2 transform of theirs; L1 indexes
 *	  hold their vectors as they are, as L2 indexes do.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/genam.h"
#include "catalog/pg_type.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "halfvec.h"
#include "omendb_metric.h"

/*
 * The float vector an indexed or query value stands for.  An operator
 * class for another type (halfvec) names its exact cast to vector as
 * support function 2; vector's classes have none.  The result is
 * palloc'd in CurrentMemoryContext, or the detoasted value itself.  Looks
 * the function up in the catalogs the first time: never call it under a
 * buffer lock.
 */
Vector *
omendb_datum_vector(Relation index, Datum value)
{
	FmgrInfo   *cast;

	if (!OidIsValid(index_getprocid(index, 1, OMENDB_TO_VECTOR_PROC)))
		return DatumGetVector(value);

	/* a cast function's arguments: the value, typmod -1, not explicit */
	cast = index_getprocinfo(index, 1, OMENDB_TO_VECTOR_PROC);
	return DatumGetVector(FunctionCall3(cast, value, Int32GetDatum(-1),
										BoolGetDatum(false)));
}

/* The unqualified name of a type. */
char *
omendb_type_name(Oid typid)
{
	HeapTuple	tuple = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	char	   *name;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for type %u", typid);
	name = pstrdup(NameStr(((Form_pg_type) GETSTRUCT(tuple))->typname));
	ReleaseSysCache(tuple);
	return name;
}

/*
 * The bytes a node's copy of an indexed value of dim dimensions takes, 0
 * if the index stores none: the value's varlena size.  Our vector and
 * halfvec and pgvector's share one layout (omendb_pgvector.c) but for the
 * element, a half in the halfvecs.  Looks up the type: never call it
 * under a buffer lock.
 */
int
omendb_value_size(Relation index, int dim)
{
	Oid			typid = TupleDescAttr(RelationGetDescr(index), 0)->atttypid;
	bool		is_half;

	if (!omendb_stores_vectors(index) || dim <= 0)
		return 0;
	is_half = strcmp(omendb_type_name(typid), "halfvec") == 0;
	return offsetof(Vector, x) + dim * (is_half ? sizeof(half) : sizeof(float));
}

/*
 * Check a row's value, detoasted, before a node stores it: value_size
 * bytes.  The caller has checked its dimensions, so another size means
 * the type is not laid out as omendb_value_size takes it to be.
 */
void
omendb_check_value_size(Relation index, const void *value, uint32 value_size)
{
	uint32		size = value ? VARSIZE(value) : 0;

	if (size != value_size)
		elog(ERROR, "omendb index \"%s\" stores values of %u bytes, not %u",
			 RelationGetRelationName(index), value_size, size);
}

/*
 * Turn a heap vector into the vector the index works on: a copy for L2 and L1, the
 * unit vector for cosine, and for inner product [x, sqrt(M^2 - |x|^2)]
 * (M = ip_max_norm; clamped at 0 for a vector longer than M), which makes
 * Euclidean order on the transformed vectors equal to inner-product order
 * for a query [q, 0].  out needs OmenCodeDims(metric, dim) floats.  Sets
 * *norm to |in|.  Returns false for a zero vector under cosine, which has
 * no unit vector (its distance to anything is NaN): out is then zero, and
 * the index holds the row as a zero node (see omendb.h), not in the graph.
 */
bool
omendb_prepare_vector(OmenMetric metric, const float *in, int dim,
					  float ip_max_norm, float *out, float *norm)
{
	double		ss = 0;
	double		len;

	for (int i = 0; i < dim; i++)
		ss += (double) in[i] * in[i];
	*norm = (float) sqrt(ss);

	switch (metric)
	{
		case OMENDB_METRIC_L2:
		case OMENDB_METRIC_L1:
			memcpy(out, in, sizeof(float) * dim);
			return true;
		case OMENDB_METRIC_IP:
			memcpy(out, in, sizeof(float) * dim);
			out[dim] = (float) sqrt(Max((double) ip_max_norm * ip_max_norm - ss, 0));
			return true;
		case OMENDB_METRIC_COSINE:
			if (ss == 0 || !isfinite(ss))
			{
				memset(out, 0, sizeof(float) * dim);
				return false;
			}
			/* divided, not multiplied by 1 / |in|: codes are encoded so */
			len = sqrt(ss);
			for (int i = 0; i < dim; i++)
				out[i] = (float) (in[i] / len);
			*norm = 1.0f;
			return true;
	}
	return false;
}

/*
 * An inner-product index works on M, the largest norm it indexes (a
 * build's, or twice an empty index's first vector's): a norm beyond float
 * range would make M infinite, and with it every code's error and every
 * bound a scan derives from it.  Such a vector is refused.  norm is |x| as
 * omendb_prepare_vector computes it, in double, rounded to float.
 */
void
omendb_check_ip_norm(Relation index, OmenMetric metric, float norm)
{
	if (metric == OMENDB_METRIC_IP && !isfinite(norm))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("vector norm overflows for inner-product index"),
				 errdetail("Index \"%s\" ranks by inner product, which needs the Euclidean norm of each vector to be at most %g.",
						   RelationGetRelationName(index), FLT_MAX)));
}

/*
 * The query side of omendb_prepare_vector: [q, 0] for inner product, the
 * unit vector for cosine (a zero query stays zero: every exact distance is
 * NaN anyway), a copy for L2 and L1.
 */
void
omendb_prepare_query(OmenMetric metric, const float *in, int dim, float *out)
{
	float		norm;

	if (!omendb_prepare_vector(metric, in, dim, 0, out, &norm))
		memset(out, 0, sizeof(float) * dim);
	if (metric == OMENDB_METRIC_IP)
		out[dim] = 0;
}

