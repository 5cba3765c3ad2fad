/*-------------------------------------------------------------------------
 *
 * kernels.h
 *	  The SIMD kernels of the vector type and of the index, behind one
 *	  dispatcher.
 *
 * Each kernel exists as portable C and, on x86-64, as AVX2 and AVX-512
 * versions compiled with target attributes: the float kernels of the
 * vector type's distances in kernels_float.c, the SQ8 code kernels in
 * kernels_sq8.c.  omendb_kernels_init(), run when the library loads, fills
 * omendb_kern with the best version of each that this CPU supports, and
 * every caller goes through that table.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_KERNELS_H
#define OMENDB_KERNELS_H

/*
 * Instruction sets the kernels are compiled for, in order.  Every kernel
 * uses the best one this CPU supports, or a lower one named by
 * OMENDB_KERNELS in the server's environment ("portable" or "avx2"), so
 * that tests can run the kernels an older CPU would.
 */
typedef enum OmenKernelLevel
{
	OMENDB_KERNELS_PORTABLE,	/* plain C (SSE2 on x86-64) */
	OMENDB_KERNELS_AVX2,		/* AVX2 and FMA */
	OMENDB_KERNELS_AVX512		/* AVX-512F (the SQ8 kernels also check BW
								 * and VL) */
} OmenKernelLevel;

/* What the first pass of rounding a scan query sums (sq8_round_query). */
typedef struct SQ8RoundSums
{
	double		fa;				/* sum of g * a */
	double		ff;				/* sum of g * f */
	double		gmax;			/* largest |g| */
} SQ8RoundSums;

typedef struct OmenKernels
{
	/* Float kernels over two arrays of n floats (see distance.h). */
	float		(*l2_squared) (const float *a, const float *b, int n);
	float		(*inner_product) (const float *a, const float *b, int n);
	float		(*l1) (const float *a, const float *b, int n);
	float		(*norm_squared) (const float *a, int n);
	double		(*cosine_distance) (const float *a, const float *b, int n);

	/* sum(w[i] * (q[i] - c[i])^2), a float query against a code */
	float		(*sq8_l2) (const float *q, const float *w, const uint8 *c,
						   int n);
	/*
	 * sum(w[i] * |q[i] - c[i]|), and in *cell sum(w[i] * t[i]), t[i] the
	 * distance from q[i] to the cell of c[i] (kernels_sq8.c)
	 */
	float		(*sq8_l1) (const float *q, const float *w, const uint8 *c,
						   float half, int n, float *cell);
	/* sum(a[i] * c[i]) */
	float		(*sq8_dot) (const float *a, const uint8 *c, int n);
	/* sum(w[i] * (a[i] - b[i])^2) over two codes, in integers */
	int64		(*sq8_pair) (const uint8 *a, const uint8 *b, const int16 *w,
							 int n);

	/*
	 * The scan's integer kernel (kernels_sq8.c), or NULL where the CPU has
	 * no fast one and scans use sq8_l2.
	 */
	int64		(*sq8_scan) (const uint8 *a, const uint8 *b, const int16 *w,
							 const int16 *g, int n, int64 *cross);
	/* The two passes that round a scan query for sq8_scan. */
	void		(*sq8_round_query) (const float *x, const float *lower,
									const float *step, int n, uint8 *qround,
									double *g, SQ8RoundSums *sums);
	double		(*sq8_round_cross) (const double *g, double cross_scale,
									int n, int16 *qcross);

	/* popcount(a & b) over words 64-bit words (kernels_rabitq.c) */
	uint64		(*rabitq_and_count) (const uint8 *a, const uint8 *b,
									 int words);

	/* What omendb_kernels() reports. */
	const char *float_name;
	const char *sq8_name;		/* of sq8_pair */
	const char *scan_name;		/* of sq8_scan, "none" if NULL */
} OmenKernels;

/* The kernels this backend runs; set once, by omendb_kernels_init(). */
extern OmenKernels omendb_kern;

extern OmenKernelLevel omendb_kernel_level(void);
extern void omendb_kernels_init(void);

/* Each family fills its part of the table for a level. */
extern void omendb_float_kernels_choose(OmenKernels *k, OmenKernelLevel level);
extern void omendb_sq8_kernels_choose(OmenKernels *k, OmenKernelLevel level,
									  bool portable_scan);
extern void omendb_rabitq_kernels_choose(OmenKernels *k,
										 OmenKernelLevel level);

#endif							/* OMENDB_KERNELS_H */
