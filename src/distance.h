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

/*
 * Instruction sets the kernels are compiled for, in order.  Every kernel
 * family (these float kernels, the SQ8 kernels of omendb_quant.c) uses the
 * best one this CPU supports, or a lower one named by OMENDB_KERNELS in
 * the server's environment ("portable" or "avx2"), so that tests can run
 * the kernels an older CPU would.
 */
typedef enum OmenKernelLevel
{
	OMENDB_KERNELS_PORTABLE,	/* plain C (SSE2 on x86-64) */
	OMENDB_KERNELS_AVX2,		/* AVX2 and FMA */
	OMENDB_KERNELS_AVX512		/* AVX-512F (the SQ8 kernels also check BW
								 * and VL) */
} OmenKernelLevel;

extern OmenKernelLevel omendb_kernel_level(void);

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
