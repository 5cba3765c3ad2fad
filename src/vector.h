/*-------------------------------------------------------------------------
 *
 * vector.h
 *	  The vector type: a varlena of float4 elements.
 *
 * The in-memory (and on-disk heap) representation is the same as
 * pgvector's: a varlena header, an int16 dimension count, an unused int16
 * that must be zero, then dim float4s.  The binary wire format is int16
 * dim, int16 zero, then dim big-endian float4s, so every client that speaks
 * pgvector's vector speaks ours.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_VECTOR_H
#define OMENDB_VECTOR_H

#include "postgres.h"

#include "access/attnum.h"
#include "fmgr.h"
#include "utils/array.h"

#include "compat.h"

/* Largest number of dimensions a vector may have (also the typmod limit). */
#define VECTOR_MAX_DIM 16000

typedef struct Vector
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int16		dim;			/* number of dimensions */
	int16		unused;			/* reserved for future use, always zero */
	float		x[FLEXIBLE_ARRAY_MEMBER];	/* the elements */
} Vector;

#define VECTOR_SIZE(_dim)		(offsetof(Vector, x) + sizeof(float) * (_dim))
#define DatumGetVector(x)		((Vector *) PG_DETOAST_DATUM(x))
#define PG_GETARG_VECTOR_P(x)	DatumGetVector(PG_GETARG_DATUM(x))
#define PG_RETURN_VECTOR_P(x)	PG_RETURN_POINTER(x)

/*
 * A read-only argument, fetched from TOAST storage at most once per
 * transaction for the last few values read (vector_detoast.c).  For the
 * distance functions, which the executor calls twice on each row an
 * index scan rechecks.  Never pfree the result.
 */
extern Vector *DatumGetVectorCached(Datum datum);

#define PG_GETARG_VECTOR_CACHED(x)	DatumGetVectorCached(PG_GETARG_DATUM(x))

/* Allocate a zeroed vector of the given dimension in CurrentMemoryContext. */
extern Vector *InitVector(int dim);
extern double vector_fetch_cost(Oid relid, AttrNumber attnum, Size value_size);

/* Raise the standard errors for a bad dimension count or element. */
extern void CheckVectorDim(int dim);
extern void CheckVectorElement(float value);

/* Raise an error unless both vectors have the same dimension. */
extern void CheckVectorDimsMatch(const Vector *a, const Vector *b);

/*
 * The state of the avg and sum aggregates, shared by both vector types: a
 * float8[] of the row count, then the sum of each dimension.
 * CheckStateArray validates one and returns its elements (dim 0: no row
 * yet); VectorAggAccum adds a row.
 */
extern float8 *CheckStateArray(ArrayType *state, int *dim);
extern ArrayType *VectorAggAccum(FunctionCallInfo fcinfo, ArrayType *state,
								 const float *x, int dim);

#endif							/* OMENDB_VECTOR_H */
