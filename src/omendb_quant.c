/*-------------------------------------------------------------------------
 *
 * omendb_quant.c
 *	  Quantizers and the code-distance kernels the graph search runs on.
 *
 * SQ8 maps each dimension linearly onto 0..255 with a per-dimension range
 * learned at build time.  All graph distances for L2 and cosine are taken
 * in "code space", where a vector x becomes x' = (x - lower) / step: there
 * the squared distance to a code c is sum(step^2 * (x' - c)^2), so a hop
 * needs no decoding.  Inner products use sum(q * step * c) + q . lower.
 *
 * Every node stores |x - decode(code)|, which turns an approximate distance
 * into a rigorous lower bound on the exact one (omendb_lower_bound); the
 * executor then re-sorts on exact distances (xs_recheckorderby).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "distance.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "omendb.h"

/* C11's smallest subnormal float, which -std=gnu99 does not define */
#ifndef FLT_TRUE_MIN
#define FLT_TRUE_MIN __FLT_DENORM_MIN__
#endif

/* ----------------------------------------------------------------
 *		Kernels
 *
 * Each kernel exists as portable C and, on x86-64, as AVX2 and AVX-512
 * versions compiled with target attributes; omendb_quant_kernels_init()
 * picks the best one the CPU supports when the library is loaded.
 * ----------------------------------------------------------------
 */

typedef float (*sq8_l2_fn) (const float *q, const float *w, const uint8 *c,
							int n);
typedef float (*sq8_dot_fn) (const float *a, const uint8 *c, int n);
typedef int64 (*sq8_pair_fn) (const uint8 *a, const uint8 *b, const int16 *w,
							  int n);
typedef int64 (*sq8_scan_fn) (const uint8 *a, const uint8 *b, const int16 *w,
							  const int16 *g, int n, int64 *cross);

/* What the first pass of rounding a scan query sums (query_init_rounded). */
typedef struct QueryRoundSums
{
	double		fa;				/* sum of g * a */
	double		ff;				/* sum of g * f */
	double		gmax;			/* largest |g| */
} QueryRoundSums;

typedef void (*round_query_fn) (const float *x, const float *lower,
								const float *step, int n, uint8 *qround,
								double *g, QueryRoundSums *sums);
typedef double (*round_cross_fn) (const double *g, double cross_scale, int n,
								  int16 *qcross);

/*
 * A lane of the integer kernels gains at most 2 * 255^2 * 127 (< 2^24) per
 * step; flushing to 64 bits every 64 steps keeps lanes below 2^30, and the
 * lanes are summed in 64 bits.
 */
#define PAIR_FLUSH_STEPS 64

/* sum(w[i] * (q[i] - c[i])^2) */
static float
sq8_l2_portable(const float *q, const float *w, const uint8 *c, int n)
{
	float		acc[8] = {0};
	float		sum = 0;
	int			i = 0;

	for (; i + 8 <= n; i += 8)
	{
		for (int j = 0; j < 8; j++)
		{
			float		d = q[i + j] - (float) c[i + j];

			acc[j] += w[i + j] * d * d;
		}
	}
	for (; i < n; i++)
	{
		float		d = q[i] - (float) c[i];

		sum += w[i] * d * d;
	}
	for (int j = 0; j < 8; j++)
		sum += acc[j];
	return sum;
}

/* sum(a[i] * c[i]) */
static float
sq8_dot_portable(const float *a, const uint8 *c, int n)
{
	float		acc[8] = {0};
	float		sum = 0;
	int			i = 0;

	for (; i + 8 <= n; i += 8)
	{
		for (int j = 0; j < 8; j++)
			acc[j] += a[i + j] * (float) c[i + j];
	}
	for (; i < n; i++)
		sum += a[i] * (float) c[i];
	for (int j = 0; j < 8; j++)
		sum += acc[j];
	return sum;
}

/* sum(w[i] * (a[i] - b[i])^2) over codes, in integers */
static int64
sq8_pair_portable(const uint8 *a, const uint8 *b, const int16 *w, int n)
{
	int64		sum = 0;

	for (int i = 0; i < n; i++)
	{
		int32		d = (int32) a[i] - (int32) b[i];

		sum += (int64) w[i] * d * d;
	}
	return sum;
}

/*
 * The scan's integer kernel: returns sum(w[i] * ((a[i] - b[i])^2 - 32768))
 * and sets *cross to sum(g[i] * b[i]), for weights of at most 12 bits and
 * |g[i]| < 2048.  The offset lets the vector kernel square differences of
 * up to 255 into signed 16-bit lanes; the caller adds 32768 * sum(w) back.
 */
static int64
sq8_scan_portable(const uint8 *a, const uint8 *b, const int16 *w,
				  const int16 *g, int n, int64 *cross)
{
	int64		sum = 0;
	int64		x = 0;

	for (int i = 0; i < n; i++)
	{
		int32		d = (int32) a[i] - (int32) b[i];

		sum += (int64) w[i] * (d * d - 32768);
		x += (int64) g[i] * b[i];
	}
	*cross = x;
	return sum;
}

/*
 * Round dimension i of a scan query to its nearest code a (in code units
 * q' = a + f); returns f and sets *g = w f.  All in double from the floats:
 * |x - lower| / step is below 2^129 / 2^-149, so nothing here overflows or
 * becomes NaN.
 */
static inline double
round_query_dim(const float *x, const float *lower, const float *step, int i,
				uint8 *qround, double *g)
{
	double		w = (double) step[i] * step[i];
	double		qc = ((double) x[i] - lower[i]) / step[i];
	double		a = rint(qc);

	a = (a >= 0) ? Min(a, 255) : 0;
	qround[i] = (uint8) a;
	*g = w * (qc - a);
	return qc - a;
}

/* Round w f to 12 bits for the kernel; returns what the rounding lost. */
static inline double
round_cross_dim(const double *g, double cross_scale, int i, int16 *qcross)
{
	double		gi = rint(g[i] * cross_scale);

	gi = Max(-2047, Min(gi, 2047));
	qcross[i] = (int16) gi;
	return fabs(g[i] - (cross_scale > 0 ? gi / cross_scale : 0));
}

/*
 * The two passes of query_init_rounded over the dimensions.  Four partial
 * sums each: one chain of dependent double adds would cost the adder's
 * latency per dimension.
 */
static void
round_query_portable(const float *x, const float *lower, const float *step,
					 int n, uint8 *qround, double *g, QueryRoundSums *sums)
{
	double		fa[4] = {0};
	double		ff[4] = {0};

	sums->gmax = 0;
	for (int i = 0; i < n; i++)
	{
		double		f = round_query_dim(x, lower, step, i, qround, &g[i]);

		fa[i & 3] += g[i] * qround[i];
		ff[i & 3] += g[i] * f;
		sums->gmax = Max(sums->gmax, fabs(g[i]));
	}
	sums->fa = (fa[0] + fa[1]) + (fa[2] + fa[3]);
	sums->ff = (ff[0] + ff[1]) + (ff[2] + ff[3]);
}

static double
round_cross_portable(const double *g, double cross_scale, int n, int16 *qcross)
{
	double		slack[4] = {0};

	for (int i = 0; i < n; i++)
		slack[i & 3] += round_cross_dim(g, cross_scale, i, qcross);
	return (slack[0] + slack[1]) + (slack[2] + slack[3]);
}

#if defined(__x86_64__)

__attribute__((target("avx2,fma")))
static inline __m256
load_u8x8_avx2(const uint8 *c)
{
	__m128i		b = _mm_loadl_epi64((const __m128i *) c);

	return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
}

__attribute__((target("avx2,fma")))
static float
hsum256(__m256 v)
{
	__m128		lo = _mm256_castps256_ps128(v);
	__m128		hi = _mm256_extractf128_ps(v, 1);

	lo = _mm_add_ps(lo, hi);
	lo = _mm_hadd_ps(lo, lo);
	lo = _mm_hadd_ps(lo, lo);
	return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma")))
static float
sq8_l2_avx2(const float *q, const float *w, const uint8 *c, int n)
{
	__m256		acc0 = _mm256_setzero_ps();
	__m256		acc1 = _mm256_setzero_ps();
	float		sum;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		__m256		d0 = _mm256_sub_ps(_mm256_loadu_ps(q + i), load_u8x8_avx2(c + i));
		__m256		d1 = _mm256_sub_ps(_mm256_loadu_ps(q + i + 8), load_u8x8_avx2(c + i + 8));

		acc0 = _mm256_fmadd_ps(_mm256_mul_ps(d0, _mm256_loadu_ps(w + i)), d0, acc0);
		acc1 = _mm256_fmadd_ps(_mm256_mul_ps(d1, _mm256_loadu_ps(w + i + 8)), d1, acc1);
	}
	sum = hsum256(_mm256_add_ps(acc0, acc1));
	return sum + sq8_l2_portable(q + i, w + i, c + i, n - i);
}

__attribute__((target("avx2,fma")))
static float
sq8_dot_avx2(const float *a, const uint8 *c, int n)
{
	__m256		acc0 = _mm256_setzero_ps();
	__m256		acc1 = _mm256_setzero_ps();
	float		sum;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_u8x8_avx2(c + i), acc0);
		acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load_u8x8_avx2(c + i + 8), acc1);
	}
	sum = hsum256(_mm256_add_ps(acc0, acc1));
	return sum + sq8_dot_portable(a + i, c + i, n - i);
}

__attribute__((target("avx2")))
static int64
sq8_pair_avx2(const uint8 *a, const uint8 *b, const int16 *w, int n)
{
	int64		sum = 0;
	int			i = 0;

	while (i + 16 <= n)
	{
		__m256i		acc = _mm256_setzero_si256();
		int32		lanes[8];

		for (int steps = 0; steps < PAIR_FLUSH_STEPS && i + 16 <= n; steps++, i += 16)
		{
			__m256i		va = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *) (a + i)));
			__m256i		vb = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *) (b + i)));
			__m256i		d = _mm256_sub_epi16(va, vb);
			__m256i		dw = _mm256_mullo_epi16(d, _mm256_loadu_si256((const __m256i *) (w + i)));

			acc = _mm256_add_epi32(acc, _mm256_madd_epi16(d, dw));
		}
		_mm256_storeu_si256((__m256i *) lanes, acc);
		for (int j = 0; j < 8; j++)
			sum += lanes[j];
	}
	return sum + sq8_pair_portable(a + i, b + i, w + i, n - i);
}

/* The sum of 16 int32 lanes. */
__attribute__((target("avx512f")))
static inline int64
reduce_epi32_avx512(__m512i v)
{
	return _mm512_reduce_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(v))) +
		_mm512_reduce_add_epi64(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1)));
}

__attribute__((target("avx512f,avx512bw")))
static int64
sq8_pair_avx512(const uint8 *a, const uint8 *b, const int16 *w, int n)
{
	int64		sum = 0;
	int			i = 0;

	while (i + 32 <= n)
	{
		__m512i		acc = _mm512_setzero_si512();

		for (int steps = 0; steps < PAIR_FLUSH_STEPS && i + 32 <= n; steps++, i += 32)
		{
			__m512i		va = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *) (a + i)));
			__m512i		vb = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *) (b + i)));
			__m512i		d = _mm512_sub_epi16(va, vb);
			__m512i		dw = _mm512_mullo_epi16(d, _mm512_loadu_si512((const void *) (w + i)));

			acc = _mm512_add_epi32(acc, _mm512_madd_epi16(d, dw));
		}
		sum += reduce_epi32_avx512(acc);
	}
	return sum + sq8_pair_portable(a + i, b + i, w + i, n - i);
}

/*
 * A lane of the scan kernel gains at most 2 * 32768 * 4095 (< 2^28) per
 * step in the distance, so four steps stay clear of 2^31; then the lanes
 * are widened into 64-bit ones, which costs less than summing them (that
 * was a quarter of the kernel).  The cross term gains at most
 * 2 * 255 * 2047 (< 2^20) per step, so it needs no flushing below 2^11
 * steps of 32 dimensions.
 */
#define SCAN_FLUSH_STEPS 4
StaticAssertDecl(VECTOR_MAX_DIM / 32 + 1 < (1 << 11),
				 "the scan kernel's cross term fits 32-bit lanes");

/* One step of sq8_scan over the dimensions in m (masked-off lanes add 0). */
__attribute__((target("avx512f,avx512bw,avx512vl")))
static inline void
sq8_scan_step_avx512(const uint8 *a, const uint8 *b, const int16 *w,
					 const int16 *g, __mmask32 m, __m512i *acc, __m512i *xacc)
{
	const __m512i offset = _mm512_set1_epi16((int16) 0x8000);
	__m512i		va = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, a));
	__m512i		vb = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, b));
	__m512i		d = _mm512_sub_epi16(va, vb);

	/* d^2 <= 65025 fits 16 bits unsigned; the offset makes it signed */
	__m512i		sq = _mm512_xor_si512(_mm512_mullo_epi16(d, d), offset);

	*acc = _mm512_add_epi32(*acc, _mm512_madd_epi16(sq, _mm512_maskz_loadu_epi16(m, w)));
	*xacc = _mm512_add_epi32(*xacc, _mm512_madd_epi16(vb, _mm512_maskz_loadu_epi16(m, g)));
}

__attribute__((target("avx512f,avx512bw,avx512vl")))
static int64
sq8_scan_avx512(const uint8 *a, const uint8 *b, const int16 *w,
				const int16 *g, int n, int64 *cross)
{
	__m512i		wide = _mm512_setzero_si512();	/* 8 x int64 */
	__m512i		xacc = _mm512_setzero_si512();
	int			i = 0;

	while (i < n)
	{
		__m512i		acc = _mm512_setzero_si512();

		for (int steps = 0; steps < SCAN_FLUSH_STEPS && i < n; steps++, i += 32)
		{
			__mmask32	m = n - i >= 32 ? (__mmask32) 0xFFFFFFFF :
				_cvtu32_mask32((1U << (n - i)) - 1);

			sq8_scan_step_avx512(a + i, b + i, w + i, g + i, m, &acc, &xacc);
		}
		wide = _mm512_add_epi64(wide, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc)));
		wide = _mm512_add_epi64(wide, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(acc, 1)));
	}
	*cross = reduce_epi32_avx512(xacc);
	return _mm512_reduce_add_epi64(wide);
}

/*
 * round_query and round_cross eight dimensions at a time: the same
 * operations lane by lane (MINPD and MAXPD pick as Min and Max do), so the
 * codes and rounded terms are the portable versions'; only the sums are
 * added in another order.
 */
__attribute__((target("avx512f,avx512vl")))
static void
round_query_avx512(const float *x, const float *lower, const float *step,
				   int n, uint8 *qround, double *g, QueryRoundSums *sums)
{
	const __m512d top = _mm512_set1_pd(255);
	__m512d		fa = _mm512_setzero_pd();
	__m512d		ff = _mm512_setzero_pd();
	__m512d		gmax = _mm512_setzero_pd();
	int			i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m512d		st = _mm512_cvtps_pd(_mm256_loadu_ps(step + i));
		__m512d		qc = _mm512_div_pd(_mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(x + i)),
													 _mm512_cvtps_pd(_mm256_loadu_ps(lower + i))),
									   st);
		__m512d		a = _mm512_roundscale_pd(qc, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
		__m512d		f;
		__m512d		gv;

		a = _mm512_maskz_min_pd(_mm512_cmp_pd_mask(a, _mm512_setzero_pd(), _CMP_GE_OQ),
								a, top);
		f = _mm512_sub_pd(qc, a);
		gv = _mm512_mul_pd(_mm512_mul_pd(st, st), f);
		_mm_storel_epi64((__m128i *) (qround + i),
						 _mm256_cvtepi32_epi8(_mm512_cvtpd_epi32(a)));
		_mm512_storeu_pd(g + i, gv);
		fa = _mm512_add_pd(fa, _mm512_mul_pd(gv, a));
		ff = _mm512_add_pd(ff, _mm512_mul_pd(gv, f));
		gmax = _mm512_max_pd(gmax, _mm512_abs_pd(gv));
	}
	sums->fa = _mm512_reduce_add_pd(fa);
	sums->ff = _mm512_reduce_add_pd(ff);
	sums->gmax = _mm512_reduce_max_pd(gmax);
	for (; i < n; i++)
	{
		double		f = round_query_dim(x, lower, step, i, qround, &g[i]);

		sums->fa += g[i] * qround[i];
		sums->ff += g[i] * f;
		sums->gmax = Max(sums->gmax, fabs(g[i]));
	}
}

__attribute__((target("avx512f,avx512vl")))
static double
round_cross_avx512(const double *g, double cross_scale, int n, int16 *qcross)
{
	const __m512d cs = _mm512_set1_pd(cross_scale);
	const __m512d lim = _mm512_set1_pd(2047);
	const __m512d nlim = _mm512_set1_pd(-2047);
	__m512d		slack = _mm512_setzero_pd();
	double		sum;
	int			i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m512d		gv = _mm512_loadu_pd(g + i);
		__m512d		gi = _mm512_roundscale_pd(_mm512_mul_pd(gv, cs),
											  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
		__m512d		back;

		gi = _mm512_max_pd(nlim, _mm512_min_pd(gi, lim));
		_mm_storeu_si128((__m128i *) (qcross + i),
						 _mm256_cvtepi32_epi16(_mm512_cvtpd_epi32(gi)));
		back = cross_scale > 0 ? _mm512_div_pd(gi, cs) : _mm512_setzero_pd();
		slack = _mm512_add_pd(slack, _mm512_abs_pd(_mm512_sub_pd(gv, back)));
	}
	sum = _mm512_reduce_add_pd(slack);
	for (; i < n; i++)
		sum += round_cross_dim(g, cross_scale, i, qcross);
	return sum;
}

/* 16 codes as floats */
__attribute__((target("avx512f")))
static inline __m512
load_u8x16_avx512(const uint8 *c)
{
	return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *) c)));
}

__attribute__((target("avx512f")))
static float
sq8_l2_avx512(const float *q, const float *w, const uint8 *c, int n)
{
	__m512		acc0 = _mm512_setzero_ps();
	__m512		acc1 = _mm512_setzero_ps();
	float		sum;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m512		c0 = load_u8x16_avx512(c + i);
		__m512		c1 = load_u8x16_avx512(c + i + 16);
		__m512		d0 = _mm512_sub_ps(_mm512_loadu_ps(q + i), c0);
		__m512		d1 = _mm512_sub_ps(_mm512_loadu_ps(q + i + 16), c1);

		acc0 = _mm512_fmadd_ps(_mm512_mul_ps(d0, _mm512_loadu_ps(w + i)), d0, acc0);
		acc1 = _mm512_fmadd_ps(_mm512_mul_ps(d1, _mm512_loadu_ps(w + i + 16)), d1, acc1);
	}
	/* dimensions are often a multiple of 16 but not of 32 (784, 1200) */
	if (i + 16 <= n)
	{
		__m512		c0 = load_u8x16_avx512(c + i);
		__m512		d0 = _mm512_sub_ps(_mm512_loadu_ps(q + i), c0);

		acc0 = _mm512_fmadd_ps(_mm512_mul_ps(d0, _mm512_loadu_ps(w + i)), d0, acc0);
		i += 16;
	}
	sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
	return sum + sq8_l2_portable(q + i, w + i, c + i, n - i);
}

__attribute__((target("avx512f")))
static float
sq8_dot_avx512(const float *a, const uint8 *c, int n)
{
	__m512		acc0 = _mm512_setzero_ps();
	__m512		acc1 = _mm512_setzero_ps();
	float		sum;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m512		c0 = load_u8x16_avx512(c + i);
		__m512		c1 = load_u8x16_avx512(c + i + 16);

		acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), c0, acc0);
		acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), c1, acc1);
	}
	if (i + 16 <= n)
	{
		__m512		c0 = load_u8x16_avx512(c + i);

		acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), c0, acc0);
		i += 16;
	}
	sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
	return sum + sq8_dot_portable(a + i, c + i, n - i);
}
#endif							/* __x86_64__ */

static sq8_l2_fn sq8_l2 = sq8_l2_portable;
static sq8_dot_fn sq8_dot = sq8_dot_portable;
static sq8_pair_fn sq8_pair = sq8_pair_portable;
static sq8_scan_fn sq8_scan = NULL;	/* no fast integer scan kernel */
static round_query_fn round_query = round_query_portable;
static round_cross_fn round_cross = round_cross_portable;

/*
 * Choose kernels for this CPU, at most the level OMENDB_KERNELS allows
 * (distance.h).  Forcing "portable" also turns on the portable integer
 * scan kernel, which no CPU chooses on its own (without AVX-512BW scans
 * use the float kernel), so that tests run it.
 */
void
omendb_quant_kernels_init(void)
{
	const char *cap = getenv("OMENDB_KERNELS");
	OmenKernelLevel level;

	if (cap && strcmp(cap, "portable") == 0)
	{
		sq8_scan = sq8_scan_portable;
		return;
	}
	level = omendb_kernel_level();
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (level == OMENDB_KERNELS_AVX512)
	{
		sq8_l2 = sq8_l2_avx512;
		sq8_dot = sq8_dot_avx512;
		if (__builtin_cpu_supports("avx512vl"))
		{
			round_query = round_query_avx512;
			round_cross = round_cross_avx512;
		}
	}
	else if (level == OMENDB_KERNELS_AVX2)
	{
		sq8_l2 = sq8_l2_avx2;
		sq8_dot = sq8_dot_avx2;
	}
	if (level == OMENDB_KERNELS_AVX512 && __builtin_cpu_supports("avx512bw"))
	{
		sq8_pair = sq8_pair_avx512;
		if (__builtin_cpu_supports("avx512vl"))
			sq8_scan = sq8_scan_avx512;
	}
	else if (level >= OMENDB_KERNELS_AVX2)
		sq8_pair = sq8_pair_avx2;
#endif
}

/*
 * omendb_kernels(): the kernels this backend runs, for tests and bug
 * reports: "float=F sq8=S scan=N", F the float kernels' instruction set,
 * S the SQ8 code-to-code kernel's, and N the scan's integer kernel ("none"
 * where scans use the float kernel).
 */
PG_FUNCTION_INFO_V1(omendb_kernels);
Datum
omendb_kernels(PG_FUNCTION_ARGS)
{
	static const char *const levels[] = {"portable", "avx2", "avx512"};
	const char *pair = "portable";
	const char *scan = "none";

#if defined(__x86_64__)
	if (sq8_pair == sq8_pair_avx512)
		pair = "avx512";
	else if (sq8_pair == sq8_pair_avx2)
		pair = "avx2";
	if (sq8_scan == sq8_scan_avx512)
		scan = "avx512";
#endif
	if (sq8_scan == sq8_scan_portable)
		scan = "portable";
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("float=%s sq8=%s scan=%s",
											  levels[omendb_kernel_level()],
											  pair, scan)));
}

/* ----------------------------------------------------------------
 *		SQ8 training and encoding
 * ----------------------------------------------------------------
 */

OmenQuantState *
omendb_sq8_alloc(int dim)
{
	OmenQuantState *qs = palloc0(sizeof(OmenQuantState));

	qs->dim = dim;
	qs->kind = OMENDB_QUANT_SQ8;
	qs->code_size = dim;
	qs->lower = palloc0(sizeof(float) * dim);
	qs->step = palloc0(sizeof(float) * dim);
	qs->weight = palloc0(sizeof(float) * dim);
	qs->iweight = palloc0(sizeof(int16) * dim);
	qs->sweight = palloc0(sizeof(int16) * dim);
	return qs;
}

/*
 * Set ranges from per-dimension minima and maxima.  A constant dimension
 * gets step 1 so that it encodes exactly as code 0.
 */
void
omendb_sq8_set_ranges(OmenQuantState *qs, const float *minv, const float *maxv)
{
	for (int i = 0; i < qs->dim; i++)
	{
		/* in double: a range near FLT_MAX on each side overflows a float */
		float		step = (float) (((double) maxv[i] - minv[i]) / 255.0);

		qs->lower[i] = minv[i];
		qs->step[i] = (step > 0 && isfinite(step)) ? step : 1.0f;
	}
	omendb_sq8_finish(qs);
}

/*
 * The weight of a step s (in units of the largest step, see
 * omendb_sq8_finish): s^2 as a float no greater than it, so that code
 * distances never exceed the distances to the decoded vectors.  A weight
 * below the normal float range, 2^-126 of the largest, is 0, which only
 * leaves distances lower.
 */
static float
weight_of_step(double s)
{
	double		w = s * s;
	float		fw = (float) w;

	if (fw > w)
		fw = nextafterf(fw, 0);
	return fw < FLT_MIN ? 0 : fw;
}

/*
 * Derive the weights once lower and step are set.  Weights are the squared
 * steps in units of a power of two near the largest step (dist_unscale),
 * so that they stay in the normal float range whatever the data's
 * magnitude: code distances are squared distances in those units, and
 * scans multiply their square roots by dist_unscale (exactly).  The
 * integer weights
 * keep 7 bits of each weight relative to the largest: enough to rank
 * neighbours while building, where exactness is not needed (scans use the
 * float weights).  But if a few dimensions have much larger ranges than
 * the rest (the extra dimension of an inner-product index, say), the rest
 * would round to little or nothing; when more than 2% of the total weight
 * sits in dimensions rounded by more than 10%, graph building uses the
 * float kernel instead.
 */
void
omendb_sq8_finish(OmenQuantState *qs)
{
	double		maxstep = 0;
	double		maxw = 0;
	double		total = 0;
	double		coarse = 0;
	int			e = 0;

	for (int i = 0; i < qs->dim; i++)
		if (isfinite(qs->step[i]))
			maxstep = Max(maxstep, qs->step[i]);
	if (maxstep > 0)
		(void) frexp(maxstep, &e);
	qs->dist_unscale = ldexp(1.0, e);

	for (int i = 0; i < qs->dim; i++)
	{
		qs->weight[i] = weight_of_step(ldexp(qs->step[i], -e));
		maxw = Max(maxw, qs->weight[i]);
		total += qs->weight[i];
	}
	if (!(maxw > 0) || !isfinite(maxw))
		maxw = 1;
	qs->iweight_scale = maxw / 127.0;
	for (int i = 0; i < qs->dim; i++)
	{
		double		w = qs->weight[i] / qs->iweight_scale;

		qs->iweight[i] = (int16) Min(rint(w), 127);
		if (fabs(qs->iweight[i] - w) > 0.1 * w)
			coarse += qs->weight[i];
	}
	qs->iweight_ok = !(coarse > 0.02 * total);

	/*
	 * The scan's integer weights are rounded down, so that the distance
	 * they give never exceeds the true one and bounds built on it hold.
	 */
	qs->sweight_scale = maxw / 4095.0;
	qs->sweight_sum = 0;
	for (int i = 0; i < qs->dim; i++)
	{
		double		w = floor(qs->weight[i] / qs->sweight_scale);

		w = Max(0, Min(w, 4095));
		while (w > 0 && w * qs->sweight_scale > qs->weight[i])
			w--;
		qs->sweight[i] = (int16) w;
		qs->sweight_sum += qs->sweight[i];
	}
}

/*
 * Encode x into code; returns |x - decode(code)|, rounded up so that it is
 * a true bound despite float rounding.
 */
float
omendb_sq8_encode(const OmenQuantState *qs, const float *x, uint8 *code)
{
	double		err = 0;

	for (int i = 0; i < qs->dim; i++)
	{
		float		v = rintf((x[i] - qs->lower[i]) / qs->step[i]);
		uint8		c;
		double		d;

		/*
		 * Over a range wider than FLT_MAX, x - lower overflows a float:
		 * redo it in double.  Only then, so that codes stay bit for bit
		 * what every index was built with (omendb_check compares them).
		 */
		if (!isfinite(v))
			v = (float) rint(((double) x[i] - qs->lower[i]) / qs->step[i]);
		c = (v <= 0) ? 0 : (v >= 255) ? 255 : (uint8) v;
		d = (double) x[i] - ((double) qs->lower[i] + (double) qs->step[i] * c);
		code[i] = c;
		err += d * d;
	}
	/* round up; an error beyond float range is no bound at all: infinite */
	if (!(sqrt(err) < FLT_MAX))
		return INFINITY;
	return nextafterf((float) sqrt(err), FLT_MAX);
}

/*
 * Turn a heap vector into the vector the index works on: a copy for L2, the
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

	for (int i = 0; i < dim; i++)
		ss += (double) in[i] * in[i];
	*norm = (float) sqrt(ss);

	switch (metric)
	{
		case OMENDB_METRIC_L2:
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
			for (int i = 0; i < dim; i++)
				out[i] = (float) (in[i] / sqrt(ss));
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
 * NaN anyway), a copy for L2.
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

/* ----------------------------------------------------------------
 *		Queries
 * ----------------------------------------------------------------
 */

/*
 * Prepare the integer form of a scan query (see rounded_code_distance).  In
 * code units the query is q' = a + f, a its nearest code.  Then
 *
 *	 |q' - c|^2 = |a - c|^2 + 2 <f, a> - 2 <f, c> + |f|^2
 *
 * under the weights.  The first term comes from the integer kernel, the
 * constants once per query, and <f, c> from the kernel's cross term with
 * g = w f rounded to 12 bits; what that rounding can cost is kept in
 * cross_slack.  All of it is computed in double from the float query.
 */
static void
query_init_rounded(OmenQuery *query, const OmenQuantState *qs, const float *x)
{
	int			dim = query->dim;
	double	   *g = palloc(sizeof(double) * dim);
	QueryRoundSums sums;
	double		slack;

	query->qround = palloc(dim);
	query->qcross = palloc(sizeof(int16) * dim);
	round_query(x, qs->lower, qs->step, dim, query->qround, g, &sums);
	query->cross_scale = (sums.gmax > 0 && isfinite(sums.gmax)) ? 2047.0 / sums.gmax : 0;
	slack = round_cross(g, query->cross_scale, dim, query->qcross);
	query->cross_const = 2 * sums.fa + sums.ff;
	query->cross_slack = 2 * 255 * slack;
	pfree(g);
}

/*
 * Where products fall below the normal float range, float rounding is
 * absolute, not relative: each product is off by up to half the smallest
 * float, FLT_TRUE_MIN / 2, which no margin proportional to the operands
 * covers when the operands are tiny themselves.  For L2 the executor's sum
 * of squares and our code distance are each off by up to dim such terms,
 * so each distance by up to sqrt(dim * FLT_TRUE_MIN / 2) in its units
 * (ours are dist_unscale), and the bound takes both off.  For inner product our kernel sums qip * code, each qip
 * off by up to FLT_TRUE_MIN / 2 in its scaled units and each code up to
 * 255: the caller converts that back (query_init_ip) and adds the
 * executor's dim * FLT_TRUE_MIN / 2.  (Cosine works on unit vectors, and
 * the executor's cosine redoes vectors this short in double.)  For vectors
 * of ordinary magnitudes these slacks vanish in the bound's last bit.
 */
static double
subnormal_slack(OmenMetric metric, int dim)
{
	if (metric == OMENDB_METRIC_IP)
		return 256.0 * dim * FLT_TRUE_MIN;
	return sqrt(dim * (double) FLT_TRUE_MIN / 2);
}

/*
 * The inner-product form of a query: q . x^ = ipconst + sum(qip * code),
 * qip = q * step and ipconst = q . lower over the first ipdim dimensions.
 * Computed in units scaled by a power of two that brings the largest
 * q * step near 1 (ip_unscale undoes it exactly), so that neither tiny nor
 * huge vectors leave the normal float range in the kernel.
 */
static void
query_init_ip(OmenQuery *query, const OmenQuantState *qs, const float *x)
{
	double		maxp = 0;
	double		ipc = 0;
	double		scale = 1;
	int			e;

	query->ipdim = query->dim - 1;
	query->qip = palloc(sizeof(float) * query->ipdim);
	for (int i = 0; i < query->ipdim; i++)
		maxp = Max(maxp, fabs((double) x[i] * qs->step[i]));
	if (maxp > 0 && isfinite(maxp))
	{
		(void) frexp(maxp, &e);
		scale = ldexp(1.0, -e);
	}
	for (int i = 0; i < query->ipdim; i++)
	{
		query->qip[i] = (float) ((double) x[i] * qs->step[i] * scale);
		ipc += (double) x[i] * qs->lower[i];
	}
	query->ipconst = ipc * scale;
	query->ip_unscale = 1 / scale;
	query->abs_slack = subnormal_slack(OMENDB_METRIC_IP, query->dim) * query->ip_unscale +
		query->ipdim * (double) FLT_TRUE_MIN;
}

/*
 * Prepare a query for code distances.  x is the vector as indexed (see
 * omendb_prepare_vector); the caller keeps it alive.  A scan query (for
 * omendb_score_node) gets the integer form where the metric and CPU allow
 * (L2 and cosine with a fast integer kernel), else the float kernel's.
 */
void
omendb_query_init(OmenQuery *query, const OmenQuantState *qs,
				  OmenMetric metric, const float *x, int dim, bool scan)
{
	double		ss[4] = {0};

	memset(query, 0, sizeof(OmenQuery));
	query->metric = metric;
	query->dim = dim;
	query->quant = qs;
	query->q = (float *) x;
	for (int i = 0; i < dim; i++)
		ss[i & 3] += (double) x[i] * x[i];
	query->qnorm = (float) sqrt((ss[0] + ss[1]) + (ss[2] + ss[3]));
	query->abs_slack = subnormal_slack(metric, dim) * (1 + qs->dist_unscale);

	if (metric == OMENDB_METRIC_IP)
		query_init_ip(query, qs, x);
	else if (scan && sq8_scan != NULL)
		query_init_rounded(query, qs, x);
	else
	{
		query->qcode = palloc(sizeof(float) * dim);
		for (int i = 0; i < dim; i++)
			query->qcode[i] = (x[i] - qs->lower[i]) / qs->step[i];
	}
}

/*
 * A query that is a stored code (L2 in code space): what graph building
 * uses, both for placing a node and for pruning.
 */
void
omendb_query_init_code(OmenQuery *query, const OmenQuantState *qs,
					   const uint8 *code)
{
	memset(query, 0, sizeof(OmenQuery));
	query->metric = OMENDB_METRIC_L2;
	query->dim = qs->dim;
	query->quant = qs;
	if (!qs->iweight_ok)
		query->qcode = palloc(sizeof(float) * qs->dim);
	if (code)
		omendb_query_from_code(query, code);
}

/* Re-point a code query at another code (RobustPrune's pivot). */
void
omendb_query_from_code(OmenQuery *query, const uint8 *code)
{
	if (query->quant->iweight_ok)
	{
		query->qbytes = code;
		return;
	}
	/* float kernel: the code is its own position in code space */
	for (int i = 0; i < query->dim; i++)
		query->qcode[i] = (float) code[i];
}

/*
 * Approximate squared Euclidean distance from the query to a code, in the
 * space the graph lives in (transformed for inner product).
 */
float
omendb_code_distance(const OmenQuery *query, const uint8 *code)
{
	if (query->qbytes)
		return (float) sq8_pair(query->qbytes, code, query->quant->iweight,
								query->dim) * query->quant->iweight_scale;
	return sq8_l2(query->qcode, query->quant->weight, code, query->dim);
}

/*
 * The distance from the query to a node's decoded vector by the integer
 * kernel (L2 and cosine).  The kernel gives the squared distance from the
 * query's nearest code to the node's code under the weights rounded down,
 * which is no more than under the true weights; with the cross term and
 * constants of query_init_rounded that is the squared distance from the
 * query itself, less at most cross_slack.  Returns the estimate and sets
 * *lower to a distance that is certainly no more (the sums here are exact
 * integers or doubles).
 */
static double
rounded_code_distance(const OmenQuery *query, const uint8 *code, double *lower)
{
	const OmenQuantState *qs = query->quant;
	int64		cross;
	int64		sum = sq8_scan(query->qround, code, qs->sweight, query->qcross,
							   query->dim, &cross) +
		32768 * qs->sweight_sum;
	double		d2 = (double) sum * qs->sweight_scale + query->cross_const;

	if (query->cross_scale > 0)
		d2 -= 2.0 * (double) cross / query->cross_scale;
	*lower = sqrt(Max(d2 - query->cross_slack, 0));
	return sqrt(Max(d2, 0));
}

/*
 * Score a node for a scan: *approx, the approximate distance in the units of
 * the ordering operator (what the search navigates by), and the returned
 * value, a rigorous lower bound on the exact distance the executor will
 * compute.
 *
 * The quantization error e = |x - x^| bounds how far the decoded point is
 * from the real one: by the triangle inequality |q - x| >= |q - x^| - e,
 * and by Cauchy-Schwarz q.x <= q.x^ + |q| e.  A margin proportional to the
 * magnitudes covers float rounding in both our sum and the executor's
 * (each is within dim * FLT_EPSILON of the true sum of magnitudes).  Where
 * the arithmetic overflows, the bound falls back to the smallest possible
 * value, which is always valid.
 *
 * Where the query has a rounded form (L2 and cosine, with a fast integer
 * kernel), the integer kernel gives the distance to the decoded vector
 * instead, and a lower figure for the bound.
 */
double
omendb_score_node(const OmenQuery *query, const OmenNodeHeader node,
				  const uint8 *code, float *approx)
{
	double		rel = 4.0 * (query->dim + 16) * FLT_EPSILON;
	double		err = node->error;
	double		d;
	double		dlo;
	double		lb;

	switch (query->metric)
	{
		case OMENDB_METRIC_L2:
		case OMENDB_METRIC_COSINE:
			if (query->qround)
				d = rounded_code_distance(query, code, &dlo);
			else
				dlo = d = sqrt(Max(sq8_l2(query->qcode, query->quant->weight, code, query->dim), 0));
			d *= query->quant->dist_unscale;
			dlo *= query->quant->dist_unscale;
			if (query->metric == OMENDB_METRIC_L2)
			{
				*approx = (float) d;
				lb = dlo - err - rel * ((double) query->qnorm + node->norm + err)
					- query->abs_slack;
				if (!isfinite(lb) || lb < 0)
					lb = 0;
				return lb;
			}
			/* unit vectors: cosine distance = |q - x|^2 / 2 */
			*approx = (float) (d * d / 2);
			lb = dlo - err - rel * (2.0 + err);
			if (!isfinite(lb) || lb < 0)
				lb = 0;
			/* the executor's cosine distance may round below 0 */
			return lb * lb / 2.0 - rel;
		case OMENDB_METRIC_IP:

			/*
			 * Inner product order is Euclidean order in the transformed
			 * space, so navigating by it follows the graph's geometry.  err
			 * also bounds |x - x^| on the first ipdim dimensions.
			 */
			d = -(query->ipconst + sq8_dot(query->qip, code, query->ipdim)) *
				query->ip_unscale;
			*approx = (float) d;
			lb = d - (double) query->qnorm * err
				- rel * (double) query->qnorm * ((double) node->norm + err)
				- query->abs_slack;
			if (isnan(lb) || lb == INFINITY)
				lb = -INFINITY;
			return lb;
	}
	*approx = 0;
	return -INFINITY;
}
