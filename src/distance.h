/*-------------------------------------------------------------------------
 *
 * distance.h
 *	  Float distance kernels shared by the vector type and the index.
 *
 * All kernels take two arrays of n floats.  They accumulate in float with
 * several independent partial sums so that GCC vectorizes them at -O2, and
 * are compiled for several instruction sets with run-time dispatch.  The
 * SQL-level functions widen the result to float8.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_DISTANCE_H
#define OMENDB_DISTANCE_H

/* sum((a[i] - b[i])^2) */
extern float vec_l2_squared(const float *a, const float *b, int n);

/* sum(a[i] * b[i]) */
extern float vec_inner_product(const float *a, const float *b, int n);

/* sum(|a[i] - b[i]|) */
extern float vec_l1(const float *a, const float *b, int n);

/* sum(a[i]^2) */
extern float vec_norm_squared(const float *a, int n);

/*
 * Cosine distance 1 - a.b / (|a| |b|), clamped to [0, 2].  Returns NaN if
 * either vector has zero norm (as pgvector does).
 */
extern double vec_cosine_distance(const float *a, const float *b, int n);

#endif							/* OMENDB_DISTANCE_H */
