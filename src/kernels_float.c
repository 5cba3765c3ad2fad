/*-------------------------------------------------------------------------
 *
 * kernels_float.c
 *	  Float distance kernels of the vector type.
 *
 * Each kernel is written once, as a macro over GCC vector extensions:
 * vectors loaded unaligned through memcpy, with four independent partial
 * sums.  The compiler may not reassociate float additions, so a plain
 * scalar loop would never be vectorized; the partial sums make the
 * parallelism explicit.
 *
 * On x86-64 each kernel is instantiated three times, for AVX-512 (16-float
 * vectors), AVX2+FMA (8) and the SSE2 baseline (4), and the dispatcher
 * (kernels.c) picks the best version the CPU supports when the library
 * loads.  We use explicit target attributes rather than target_clones
 * because target_clones splits "avx2,fma" into two separate clones.  The
 * versions add in different orders and only the wider ones fuse
 * multiply-adds, so results may differ between CPUs in the last bits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "kernels.h"

/*
 * Vector types of each instruction set's native width.  GCC lowers generic
 * vectors wider than the hardware's through the stack, so each version of a
 * kernel uses its own width rather than one shared 64-byte type.
 */
typedef float v4sf __attribute__((vector_size(16)));
typedef int32 v4si __attribute__((vector_size(16)));
typedef float v8sf __attribute__((vector_size(32)));
typedef int32 v8si __attribute__((vector_size(32)));
typedef float v16sf __attribute__((vector_size(64)));
typedef int32 v16si __attribute__((vector_size(64)));

/*
 * The helpers are macros: passing wide vectors to or from functions
 * changes the calling convention between instruction sets (-Wpsabi).
 */

/* Unaligned load of one vector of type V */
#define VLOAD(V, p) \
	({ V	v_; memcpy(&v_, (p), sizeof(v_)); v_; })

/* |v| lane-wise, by clearing the sign bits; VI is V's integer twin */
#define VABS(V, VI, v) ((V) ((VI) (v) & 0x7fffffff))

/* Sum of the lanes, in lane order */
#define VSUM(v, lanes) \
	({ float r_ = 0.0f; \
	   for (int j_ = 0; j_ < (lanes); j_++) r_ += (v)[j_]; \
	   r_; })

/*
 * Define the five kernels for one instruction set: suffix names them, attrs
 * is their target attribute, V/VI the vector types and L their lane count.
 *
 * Each kernel walks 4 * L floats at a time into four independent partial
 * sums (enough to hide the add latency), then single vectors into the first
 * partial sum, then the scalar tail.
 */
#define DEFINE_KERNELS(suffix, attrs, V, VI, L) \
\
static attrs float \
l2_squared_##suffix(const float *a, const float *b, int n) \
{ \
	V			s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}; \
	float		r; \
	int			i = 0; \
\
	for (; i + 4 * L <= n; i += 4 * L) \
	{ \
		V			d0 = VLOAD(V, a + i) - VLOAD(V, b + i); \
		V			d1 = VLOAD(V, a + i + L) - VLOAD(V, b + i + L); \
		V			d2 = VLOAD(V, a + i + 2 * L) - VLOAD(V, b + i + 2 * L); \
		V			d3 = VLOAD(V, a + i + 3 * L) - VLOAD(V, b + i + 3 * L); \
\
		s0 += d0 * d0; \
		s1 += d1 * d1; \
		s2 += d2 * d2; \
		s3 += d3 * d3; \
	} \
	for (; i + L <= n; i += L) \
	{ \
		V			d = VLOAD(V, a + i) - VLOAD(V, b + i); \
\
		s0 += d * d; \
	} \
	s0 = (s0 + s1) + (s2 + s3); \
	r = VSUM(s0, L); \
	for (; i < n; i++) \
		r += (a[i] - b[i]) * (a[i] - b[i]); \
	return r; \
} \
\
static attrs float \
inner_product_##suffix(const float *a, const float *b, int n) \
{ \
	V			s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}; \
	float		r; \
	int			i = 0; \
\
	for (; i + 4 * L <= n; i += 4 * L) \
	{ \
		s0 += VLOAD(V, a + i) * VLOAD(V, b + i); \
		s1 += VLOAD(V, a + i + L) * VLOAD(V, b + i + L); \
		s2 += VLOAD(V, a + i + 2 * L) * VLOAD(V, b + i + 2 * L); \
		s3 += VLOAD(V, a + i + 3 * L) * VLOAD(V, b + i + 3 * L); \
	} \
	for (; i + L <= n; i += L) \
		s0 += VLOAD(V, a + i) * VLOAD(V, b + i); \
	s0 = (s0 + s1) + (s2 + s3); \
	r = VSUM(s0, L); \
	for (; i < n; i++) \
		r += a[i] * b[i]; \
	return r; \
} \
\
static attrs float \
l1_##suffix(const float *a, const float *b, int n) \
{ \
	V			s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}; \
	float		r; \
	int			i = 0; \
\
	for (; i + 4 * L <= n; i += 4 * L) \
	{ \
		s0 += VABS(V, VI, VLOAD(V, a + i) - VLOAD(V, b + i)); \
		s1 += VABS(V, VI, VLOAD(V, a + i + L) - VLOAD(V, b + i + L)); \
		s2 += VABS(V, VI, VLOAD(V, a + i + 2 * L) - VLOAD(V, b + i + 2 * L)); \
		s3 += VABS(V, VI, VLOAD(V, a + i + 3 * L) - VLOAD(V, b + i + 3 * L)); \
	} \
	for (; i + L <= n; i += L) \
		s0 += VABS(V, VI, VLOAD(V, a + i) - VLOAD(V, b + i)); \
	s0 = (s0 + s1) + (s2 + s3); \
	r = VSUM(s0, L); \
	for (; i < n; i++) \
		r += fabsf(a[i] - b[i]); \
	return r; \
} \
\
static attrs float \
norm_squared_##suffix(const float *a, int n) \
{ \
	V			s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}; \
	float		r; \
	int			i = 0; \
\
	for (; i + 4 * L <= n; i += 4 * L) \
	{ \
		V			x0 = VLOAD(V, a + i); \
		V			x1 = VLOAD(V, a + i + L); \
		V			x2 = VLOAD(V, a + i + 2 * L); \
		V			x3 = VLOAD(V, a + i + 3 * L); \
\
		s0 += x0 * x0; \
		s1 += x1 * x1; \
		s2 += x2 * x2; \
		s3 += x3 * x3; \
	} \
	for (; i + L <= n; i += L) \
	{ \
		V			x = VLOAD(V, a + i); \
\
		s0 += x * x; \
	} \
	s0 = (s0 + s1) + (s2 + s3); \
	r = VSUM(s0, L); \
	for (; i < n; i++) \
		r += a[i] * a[i]; \
	return r; \
} \
\
/* One pass over both vectors; two partial sums each for the three sums */ \
static attrs double \
cosine_distance_##suffix(const float *a, const float *b, int n) \
{ \
	V			ab0 = {0}, ab1 = {0}, aa0 = {0}, aa1 = {0}, bb0 = {0}, bb1 = {0}; \
	float		ab, aa, bb; \
	int			i = 0; \
\
	for (; i + 2 * L <= n; i += 2 * L) \
	{ \
		V			x0 = VLOAD(V, a + i); \
		V			x1 = VLOAD(V, a + i + L); \
		V			y0 = VLOAD(V, b + i); \
		V			y1 = VLOAD(V, b + i + L); \
\
		ab0 += x0 * y0; \
		ab1 += x1 * y1; \
		aa0 += x0 * x0; \
		aa1 += x1 * x1; \
		bb0 += y0 * y0; \
		bb1 += y1 * y1; \
	} \
	ab0 += ab1; \
	aa0 += aa1; \
	bb0 += bb1; \
	ab = VSUM(ab0, L); \
	aa = VSUM(aa0, L); \
	bb = VSUM(bb0, L); \
	for (; i < n; i++) \
	{ \
		ab += a[i] * b[i]; \
		aa += a[i] * a[i]; \
		bb += b[i] * b[i]; \
	} \
	return cosine_from_sums(a, b, n, ab, aa, bb); \
}

/* 1 - cos(a, b) from double sums: the slow path for huge elements */
static double
cosine_distance_double(const float *a, const float *b, int n)
{
	double		ab = 0.0,
				aa = 0.0,
				bb = 0.0;
	double		similarity;

	for (int i = 0; i < n; i++)
	{
		ab += (double) a[i] * b[i];
		aa += (double) a[i] * a[i];
		bb += (double) b[i] * b[i];
	}
	similarity = ab / (sqrt(aa) * sqrt(bb));

	/* Zero norm: 0/0 is undefined, say so */
	if (isnan(similarity) || isinf(similarity))
		return NAN;
	if (similarity > 1.0)
		similarity = 1.0;
	else if (similarity < -1.0)
		similarity = -1.0;
	return 1.0 - similarity;
}

/* Finish a cosine distance from the float sums a.b, a.a and b.b */
static double
cosine_from_sums(const float *a, const float *b, int n,
				 float ab, float aa, float bb)
{
	double		similarity;

	/*
	 * The result always fits, but with elements beyond about 1e19 the float
	 * sums of squares overflow, and with vectors shorter than about 1e-19
	 * their products fall below the normal float range, where rounding is
	 * absolute and can leave no significant bit (a cosine distance of
	 * 0.005 came out 0).  Redo those rare cases in double.  Above the
	 * cut-off, what subnormal products can add to a sum (half the smallest
	 * float each) is below its last bit, so a float sum stays as accurate,
	 * relatively, as for any other vectors: the index's bounds rely on it.
	 */
	if (isinf(aa) || isinf(bb) || isinf(ab) ||
		aa < n * FLT_MIN || bb < n * FLT_MIN)
		return cosine_distance_double(a, b, n);

	/* Widen before multiplying: aa * bb can overflow a float */
	similarity = (double) ab / sqrt((double) aa * (double) bb);

	/* Zero norm: 0/0 (or x/0) is undefined, say so */
	if (isnan(similarity) || isinf(similarity))
		return NAN;

	/* Rounding can push the similarity slightly outside [-1, 1] */
	if (similarity > 1.0)
		similarity = 1.0;
	else if (similarity < -1.0)
		similarity = -1.0;

	return 1.0 - similarity;
}

/* Baseline version (SSE2 on x86-64), the only one on other architectures */
DEFINE_KERNELS(default, pg_attribute_unused(), v4sf, v4si, 4)

#if defined(__x86_64__) && defined(__GNUC__)
#define OMENDB_DISPATCH 1
DEFINE_KERNELS(avx2, __attribute__((target("avx2,fma"))), v8sf, v8si, 8)
DEFINE_KERNELS(avx512, __attribute__((target("avx512f,avx2,fma"))), v16sf, v16si, 16)
#endif

#ifdef OMENDB_DISPATCH
#define CHOOSE(name, level) \
	((level) == OMENDB_KERNELS_AVX512 ? name##_avx512 : \
	 (level) == OMENDB_KERNELS_AVX2 ? name##_avx2 : name##_default)
#else
#define CHOOSE(name, level) (name##_default)
#endif

/* The float kernels of a level, for the dispatcher. */
void
omendb_float_kernels_choose(OmenKernels *k, OmenKernelLevel level)
{
	static const char *const names[] = {"portable", "avx2", "avx512"};

	k->l2_squared = CHOOSE(l2_squared, level);
	k->inner_product = CHOOSE(inner_product, level);
	k->l1 = CHOOSE(l1, level);
	k->norm_squared = CHOOSE(norm_squared, level);
	k->cosine_distance = CHOOSE(cosine_distance, level);
	k->float_name = names[level];
}
