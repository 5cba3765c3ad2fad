/*-------------------------------------------------------------------------
 *
 * distance.h
 *	  Float distance kernels of the vector type.
 *
 * All kernels take two arrays of n floats.  They accumulate in float with
 * several independent partial sums so that GCC vectorizes them at -O2, and
 * are compiled for several instruction sets (kernels_float.c), the best of
 * which the dispatcher (kernels.h) chose when the library loaded.  The
 * SQL-level functions widen the result to float8.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_DISTANCE_H
#define OMENDB_DISTANCE_H

#include "kernels.h"

/* sum((a[i] - b[i])^2) */
static inline float
vec_l2_squared(const float *a, const float *b, int n)
{
	return omendb_kern.l2_squared(a, b, n);
}

/* sum(a[i] * b[i]) */
static inline float
vec_inner_product(const float *a, const float *b, int n)
{
	return omendb_kern.inner_product(a, b, n);
}

/* sum(|a[i] - b[i]|) */
static inline float
vec_l1(const float *a, const float *b, int n)
{
	return omendb_kern.l1(a, b, n);
}

/* sum(a[i]^2) */
static inline float
vec_norm_squared(const float *a, int n)
{
	return omendb_kern.norm_squared(a, n);
}

/*
 * Cosine distance 1 - a.b / (|a| |b|), clamped to [0, 2].  Returns NaN if
 * either vector has zero norm (as pgvector does).
 */
static inline double
vec_cosine_distance(const float *a, const float *b, int n)
{
	return omendb_kern.cosine_distance(a, b, n);
}

#endif							/* OMENDB_DISTANCE_H */
