/*-------------------------------------------------------------------------
 *
 * kernels_sq8.c
 *	  The SQ8 code kernels: distances between float queries and 8-bit
 *	  codes, and between codes, for graph building and scans.
 *
 * Each kernel exists as portable C and, on x86-64, as AVX2 and AVX-512
 * versions compiled with target attributes; the dispatcher (kernels.c)
 * picks the best one the CPU supports when the library is loaded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels.h"
#include "vector.h"

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

/*
 * The L1 kernel: returns sum(w[i] * |q[i] - c[i]|), the weighted distance
 * to the codes, and sets *cell to sum(w[i] * t[i]), t[i] the distance from
 * q[i] to the cell [c[i] - half, c[i] + half] of values that encode as
 * c[i].  The cell of code 0 is open below and that of code 255 above:
 * clamped values lie anywhere there.
 */
static inline float
l1_cell_dim(float q, float half, uint8 c, float *ad)
{
	float		d = q - (float) c;
	float		t;

	*ad = fabsf(d);
	t = *ad - half;
	if (!(t > 0) || (c == 0 && d < 0) || (c == 255 && d > 0))
		t = 0;
	return t;
}

static float
sq8_l1_portable(const float *q, const float *w, const uint8 *c, float half,
				int n, float *cell)
{
	float		acc[8] = {0};
	float		cacc[8] = {0};
	float		sum = 0;
	float		csum = 0;
	int			i = 0;

	for (; i + 8 <= n; i += 8)
	{
		for (int j = 0; j < 8; j++)
		{
			float		ad;
			float		t = l1_cell_dim(q[i + j], half, c[i + j], &ad);

			acc[j] += w[i + j] * ad;
			cacc[j] += w[i + j] * t;
		}
	}
	for (; i < n; i++)
	{
		float		ad;
		float		t = l1_cell_dim(q[i], half, c[i], &ad);

		sum += w[i] * ad;
		csum += w[i] * t;
	}
	for (int j = 0; j < 8; j++)
	{
		sum += acc[j];
		csum += cacc[j];
	}
	*cell = csum;
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
					 int n, uint8 *qround, double *g, SQ8RoundSums *sums)
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

/*
 * sq8_l1, eight dimensions at a time: the same cells as the portable
 * version's (VMAXPS and the masks pick as l1_cell_dim does), with fused
 * multiply-adds and summed in another order.  AVX-512 CPUs run it too:
 * scoring waits on memory, not arithmetic.
 */
__attribute__((target("avx2,fma")))
static float
sq8_l1_avx2(const float *q, const float *w, const uint8 *c, float half,
			int n, float *cell)
{
	const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
	const __m256 vhalf = _mm256_set1_ps(half);
	const __m256 zero = _mm256_setzero_ps();
	const __m256 top = _mm256_set1_ps(255);
	__m256		acc = _mm256_setzero_ps();
	__m256		cacc = _mm256_setzero_ps();
	float		sum;
	float		csum;
	float		rest;
	int			i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m256		cf = load_u8x8_avx2(c + i);
		__m256		wv = _mm256_loadu_ps(w + i);
		__m256		d = _mm256_sub_ps(_mm256_loadu_ps(q + i), cf);
		__m256		ad = _mm256_and_ps(d, absmask);
		__m256		t = _mm256_max_ps(_mm256_sub_ps(ad, vhalf), zero);
		__m256		open = _mm256_or_ps(_mm256_and_ps(_mm256_cmp_ps(cf, zero, _CMP_EQ_OQ),
													  _mm256_cmp_ps(d, zero, _CMP_LT_OQ)),
										_mm256_and_ps(_mm256_cmp_ps(cf, top, _CMP_EQ_OQ),
													  _mm256_cmp_ps(d, zero, _CMP_GT_OQ)));

		t = _mm256_andnot_ps(open, t);
		acc = _mm256_fmadd_ps(wv, ad, acc);
		cacc = _mm256_fmadd_ps(wv, t, cacc);
	}
	sum = hsum256(acc);
	csum = hsum256(cacc);
	rest = sq8_l1_portable(q + i, w + i, c + i, half, n - i, cell);
	*cell += csum;
	return sum + rest;
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
				   int n, uint8 *qround, double *g, SQ8RoundSums *sums)
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

/*
 * The SQ8 kernels of a level, for the dispatcher.  portable_scan turns on
 * the portable integer scan kernel, which no CPU chooses on its own.
 */
void
omendb_sq8_kernels_choose(OmenKernels *k, OmenKernelLevel level,
						  bool portable_scan)
{
	k->sq8_l2 = sq8_l2_portable;
	k->sq8_l1 = sq8_l1_portable;
	k->sq8_dot = sq8_dot_portable;
	k->sq8_pair = sq8_pair_portable;
	k->sq8_scan = NULL;
	k->sq8_round_query = round_query_portable;
	k->sq8_round_cross = round_cross_portable;
	k->sq8_name = "portable";
	k->scan_name = "none";
	if (portable_scan)
	{
		k->sq8_scan = sq8_scan_portable;
		k->scan_name = "portable";
		return;
	}
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (level >= OMENDB_KERNELS_AVX2)
		k->sq8_l1 = sq8_l1_avx2;
	if (level == OMENDB_KERNELS_AVX512)
	{
		k->sq8_l2 = sq8_l2_avx512;
		k->sq8_dot = sq8_dot_avx512;
		if (__builtin_cpu_supports("avx512vl"))
		{
			k->sq8_round_query = round_query_avx512;
			k->sq8_round_cross = round_cross_avx512;
		}
	}
	else if (level == OMENDB_KERNELS_AVX2)
	{
		k->sq8_l2 = sq8_l2_avx2;
		k->sq8_dot = sq8_dot_avx2;
	}
	if (level == OMENDB_KERNELS_AVX512 && __builtin_cpu_supports("avx512bw"))
	{
		k->sq8_pair = sq8_pair_avx512;
		k->sq8_name = "avx512";
		if (__builtin_cpu_supports("avx512vl"))
		{
			k->sq8_scan = sq8_scan_avx512;
			k->scan_name = "avx512";
		}
	}
	else if (level >= OMENDB_KERNELS_AVX2)
	{
		k->sq8_pair = sq8_pair_avx2;
		k->sq8_name = "avx2";
	}
#endif
}
