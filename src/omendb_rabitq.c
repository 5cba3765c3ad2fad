/*-------------------------------------------------------------------------
 *
 * omendb_rabitq.c
 *	  RaBitQ, the rotation quantizer: 1 to 8 bits a dimension, no ranges.
 *
 * A vector x is encoded relative to the centroid c of the data, after a
 * random rotation P: y = P (x - c).  Each rotated dimension gets a code u_i
 * of B bits (0 .. 2^B - 1), standing for v_i = u_i - (2^B - 1) / 2, and
 * the vector one scale delta, so that decode(code) = c + P^T (delta v).
 * With B = 1 the code is the signs of y, as in the RaBitQ paper; with more
 * bits it is the nearest grid point at the scale that fits y best, as in
 * Extended RaBitQ.  After the rotation every dimension of y looks alike
 * (about |y| / sqrt(D) each), so no per-dimension range is learned: the
 * quantizer needs only the centroid, and an index built empty works as
 * well as one built on data.
 *
 * Navigation uses RaBitQ's estimator of <y, z>, <delta v, z> / cos^2 of
 * the angle between y and v, which is unbiased over the rotation and much
 * nearer than <delta v, z> when B is small.  Scans also get a rigorous lower
 * bound from the stored error |y - delta v| (the triangle inequality, as
 * SQ8's), so the executor's re-sort still yields exact order.
 *
 * The rotation is orthogonal by construction: four rounds of a random sign
 * flip and a normalized Walsh-Hadamard transform over a power-of-two block,
 * the first or last 2^k of the padded dimensions in turn, so distances are
 * kept whatever the dimension.  Codes are bit planes (plane b holds bit b of
 * every u_i), so code-to-code inner products are popcounts and a query's
 * are table lookups, four dimensions at a time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "utils/rel.h"

#include "kernels.h"
#include "omendb_page.h"
#include "omendb_quant.h"

/* C11's smallest subnormal float, which -std=gnu99 does not define */
#ifndef FLT_TRUE_MIN
#define FLT_TRUE_MIN __FLT_DENORM_MIN__
#endif

#define RABITQ_ROUNDS	4

/*
 * With probable bounds (omendb.exact_order off, or auto), scans take an
 * estimate's error to be at most this many standard deviations
 * (README.omendb, "RaBitQ").
 */
#define RABITQ_EPSILON0 2.0
#define RABITQ_SEED		UINT64CONST(0x6f6d656e64627251)

/*
 * A trained quantizer.  data[] holds the centroid (code_dims floats), then
 * the sign bits of the rotation's rounds (RABITQ_ROUNDS * pdims bits).
 */
typedef struct RaBitQState
{
	OmenQuantState base;
	int			bits;			/* B */
	int			pdims;			/* code dimensions padded to 64 */
	int			block;			/* the Hadamard block: 2^k <= pdims */
	uint64		seed;			/* of the signs */
	float		radius;			/* typical |x - c| at training */
	double		cnorm;			/* |c| */
	double		unscale;		/* code distances are in units of its
								 * square */
	float		data[FLEXIBLE_ARRAY_MEMBER];
} RaBitQState;

#define AsRaBitQ(qs)		((const RaBitQState *) (qs))
#define RaBitQCentroid(s)	((s)->data)
#define RaBitQSigns(s)		((const uint8 *) ((s)->data + (s)->base.dims))

/*
 * A code: these factors, then the B bit planes of pdims / 8 bytes each.
 */
typedef struct RaBitQFactors
{
	float4		delta;			/* the scale: y^ = delta v */
	float4		ip_scale;		/* |y|^2 / <y, v>: the estimator's factor */
	float4		ynorm;			/* |y| = |x - c| */
	float4		yhat;			/* |delta v| */
	uint32		usum;			/* sum of u_i */
	uint32		pad;
} RaBitQFactors;

#define RaBitQPlanes(code)	((code) + sizeof(RaBitQFactors))

/* On a quantizer page: this header, then the centroid's floats. */
typedef struct RaBitQPageHeader
{
	uint64		seed;			/* of the rotation's signs */
	uint16		bits;			/* B */
	uint16		pad;
	uint32		start;			/* the centroid's first dimension here */
	uint32		n;				/* and how many */
	float4		radius;			/* typical |x - c| at training */
} RaBitQPageHeader;

#define RABITQ_DIMS_PER_PAGE	1900

static int
pad_dims(int cdim)
{
	return TYPEALIGN(64, cdim);
}

/* ----------------------------------------------------------------
 *		Layout
 * ----------------------------------------------------------------
 */

static bool
rabitq_supports(OmenMetric metric)
{
	/* an L1 bound needs per-dimension cells, which a rotation mixes */
	return metric != OMENDB_METRIC_L1;
}

static int
rabitq_code_dims(OmenMetric metric, int dim)
{
	return OmenCodeDims(metric, dim);
}

static int
rabitq_code_bytes(OmenMetric metric, int dim, int bits)
{
	return sizeof(RaBitQFactors) +
		bits * pad_dims(rabitq_code_dims(metric, dim)) / 8;
}

static BlockNumber
rabitq_page_count(OmenMetric metric, int dim)
{
	return (rabitq_code_dims(metric, dim) + RABITQ_DIMS_PER_PAGE - 1) /
		RABITQ_DIMS_PER_PAGE;
}

/* ----------------------------------------------------------------
 *		The rotation
 * ----------------------------------------------------------------
 */

static uint64
splitmix64(uint64 *state)
{
	uint64		z = (*state += UINT64CONST(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64CONST(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static RaBitQState *
rabitq_alloc(int cdim, int bits, uint64 seed)
{
	int			pdims = pad_dims(cdim);
	Size		size = MAXALIGN(offsetof(RaBitQState, data) +
								sizeof(float) * cdim +
								RABITQ_ROUNDS * pdims / 8);
	RaBitQState *s = palloc0(size);
	uint8	   *signs;
	uint64		state = seed;

	s->base.routine = &omendb_rabitq_routine;
	s->base.size = size;
	s->base.dims = cdim;
	/* one-bit codes rank each other coarsely (places_by_vector) */
	s->base.places_by_vector = (bits == 1);
	s->bits = bits;
	s->pdims = pdims;
	s->block = 1;
	while (s->block * 2 <= pdims)
		s->block *= 2;
	s->seed = seed;
	signs = (uint8 *) RaBitQSigns(s);
	for (int i = 0; i < RABITQ_ROUNDS * pdims / 8; i += 8)
	{
		uint64		r = splitmix64(&state);

		memcpy(signs + i, &r, 8);
	}
	return s;
}

/*
 * Derive what follows from the centroid and radius once they are set.  Data
 * whose rows are all alike has radius 0: it gets the centroid's length, or
 * 1, which only sets the units of code distances.
 */
static void
rabitq_finish(RaBitQState *s)
{
	const float *c = RaBitQCentroid(s);
	double		cc = 0;
	int			e = 0;

	for (int i = 0; i < s->base.dims; i++)
		cc += (double) c[i] * c[i];
	s->cnorm = sqrt(cc);
	if (!(s->radius > 0))
		s->radius = (s->cnorm > 0 && s->cnorm < FLT_MAX) ? (float) s->cnorm : 1;
	if (s->radius > 0 && isfinite(s->radius))
		(void) frexp(s->radius, &e);
	s->unscale = ldexp(1.0, e);
}

/* The normalized Walsh-Hadamard transform of n (a power of two) values. */
static void
hadamard(double *v, int n)
{
	double		scale = 1 / sqrt((double) n);

	for (int len = 1; len < n; len <<= 1)
		for (int i = 0; i < n; i += 2 * len)
			for (int j = i; j < i + len; j++)
			{
				double		a = v[j];
				double		b = v[j + len];

				v[j] = a + b;
				v[j + len] = a - b;
			}
	for (int i = 0; i < n; i++)
		v[i] *= scale;
}

static inline void
flip_signs(const RaBitQState *s, int round, double *v)
{
	const uint8 *signs = RaBitQSigns(s) + round * s->pdims / 8;

	for (int i = 0; i < s->pdims; i++)
		if (signs[i >> 3] & (1 << (i & 7)))
			v[i] = -v[i];
}

/* The first or the last block of the padded dimensions, by round. */
static inline int
round_block_start(const RaBitQState *s, int round)
{
	return (round & 1) ? s->pdims - s->block : 0;
}

/* v := P v, in place, over pdims values. */
static void
rotate(const RaBitQState *s, double *v)
{
	for (int r = 0; r < RABITQ_ROUNDS; r++)
	{
		flip_signs(s, r, v);
		hadamard(v + round_block_start(s, r), s->block);
	}
}

/* v := P^T v: each step is its own inverse, taken in reverse. */
static void
unrotate(const RaBitQState *s, double *v)
{
	for (int r = RABITQ_ROUNDS - 1; r >= 0; r--)
	{
		hadamard(v + round_block_start(s, r), s->block);
		flip_signs(s, r, v);
	}
}

/* y = P (x - c), x of code_dims doubles, y of pdims. */
static void
rotate_offset(const RaBitQState *s, const double *x, double *y)
{
	const float *c = RaBitQCentroid(s);

	for (int i = 0; i < s->base.dims; i++)
		y[i] = x[i] - c[i];
	for (int i = s->base.dims; i < s->pdims; i++)
		y[i] = 0;
	rotate(s, y);
}

/* ----------------------------------------------------------------
 *		Training
 * ----------------------------------------------------------------
 */

/*
 * Train on the data's mean (its centroid).  The ranges give the scale of
 * the data, which sets the units of code distances.
 */
static OmenQuantState *
rabitq_train(int code_dims, const float *minv, const float *maxv,
			 const float *mean, int bits)
{
	RaBitQState *s = rabitq_alloc(code_dims, bits, RABITQ_SEED);
	double		ss = 0;

	for (int i = 0; i < code_dims; i++)
	{
		double		span = (double) maxv[i] - minv[i];

		RaBitQCentroid(s)[i] = mean[i];
		if (isfinite(span))
			ss += span * span / 4;
	}
	s->radius = (float) Min(sqrt(ss), FLT_MAX);
	rabitq_finish(s);
	return &s->base;
}

/*
 * An index built empty centres the codes on its first vector (the unit
 * vector for cosine; for inner product, with the transform's dimension at
 * half of M).  Codes are exact whatever the centre; a poor one only makes
 * errors larger in proportion to |x - c|.
 */
static OmenQuantState *
rabitq_train_first(OmenMetric metric, const float *x, int dim,
				   float ip_max_norm, int bits)
{
	int			cdim = rabitq_code_dims(metric, dim);
	RaBitQState *s = rabitq_alloc(cdim, bits, RABITQ_SEED);
	double		ss = 0;

	for (int i = 0; i < dim; i++)
	{
		RaBitQCentroid(s)[i] = x[i];
		ss += (double) x[i] * x[i];
	}
	if (metric == OMENDB_METRIC_IP)
		RaBitQCentroid(s)[dim] = ip_max_norm / 2;
	s->radius = (float) Min(Max(sqrt(ss), 1e-30), FLT_MAX);
	rabitq_finish(s);
	return &s->base;
}

/* ----------------------------------------------------------------
 *		Encoding
 * ----------------------------------------------------------------
 */

static inline void
set_code_bit(uint8 *planes, int pdims, int b, int i)
{
	planes[b * (pdims / 8) + (i >> 3)] |= 1 << (i & 7);
}

static inline int
code_value(const uint8 *planes, int pdims, int bits, int i)
{
	int			u = 0;

	for (int b = 0; b < bits; b++)
		if (planes[b * (pdims / 8) + (i >> 3)] & (1 << (i & 7)))
			u |= 1 << b;
	return u;
}

/* The grid point of y_i at scale t: u_i in 0 .. 2^B - 1. */
static inline int
grid_code(double yi, double t, int levels)
{
	double		u = rint(yi / t + (levels - 1) / 2.0);

	return u <= 0 ? 0 : u >= levels - 1 ? levels - 1 : (int) u;
}

/*
 * The scale of the grid: for one bit any scale gives the signs; for more,
 * the one among a few candidates whose codes point nearest to y's
 * direction (largest <y, v>^2 / |v|^2), as Extended RaBitQ searches.
 */
static double
choose_grid_scale(const double *y, int pdims, int bits)
{
	int			levels = 1 << bits;
	double		ymax = 0;
	double		best = -1;
	double		best_t = 1;

	for (int i = 0; i < pdims; i++)
		ymax = Max(ymax, fabs(y[i]));
	if (bits == 1 || ymax == 0)
		return ymax > 0 ? ymax : 1;
	for (int k = 1; k <= 24; k++)
	{
		/* the largest |y_i| at 1/4 .. all of the outermost level */
		double		t = ymax / ((levels - 1) / 2.0) * (0.25 + 0.75 * k / 24);
		double		yv = 0;
		double		vv = 0;

		for (int i = 0; i < pdims; i++)
		{
			double		v = grid_code(y[i], t, levels) - (levels - 1) / 2.0;

			yv += y[i] * v;
			vv += v * v;
		}
		if (vv > 0 && yv * yv / vv > best)
		{
			best = yv * yv / vv;
			best_t = t;
		}
	}
	return best_t;
}

/* Round a non-negative double up to a float bound; infinite past range. */
static float
float_bound(double e)
{
	if (!(e < FLT_MAX))
		return INFINITY;
	return nextafterf((float) e, FLT_MAX);
}

/*
 * Encode y = P (x - c) (pdims doubles) into code; returns |y - delta v|
 * in double.  The code depends on y alone, so a vector encodes the same
 * bit for bit each time (omendb_check compares).
 */
static double
encode_rotated(const RaBitQState *s, const double *y, uint8 *code)
{
	RaBitQFactors f;
	int			pdims = s->pdims;
	int			levels = 1 << s->bits;
	double		h = (levels - 1) / 2.0;
	double		t = choose_grid_scale(y, pdims, s->bits);
	uint8	   *planes = RaBitQPlanes(code);
	double		yy = 0;
	double		yv = 0;
	double		vv = 0;
	double		err = 0;
	uint32		usum = 0;
	double		delta;

	memset(code, 0, sizeof(RaBitQFactors) + s->bits * pdims / 8);
	for (int i = 0; i < pdims; i++)
	{
		int			u = (s->bits == 1) ? (y[i] > 0) : grid_code(y[i], t, levels);
		double		v = u - h;

		for (int b = 0; b < s->bits; b++)
			if (u & (1 << b))
				set_code_bit(planes, pdims, b, i);
		usum += u;
		yy += y[i] * y[i];
		yv += y[i] * v;
		vv += v * v;
	}
	delta = vv > 0 ? yv / vv : 0;
	f.delta = (float) delta;
	f.ip_scale = (yv > 0 && isfinite(yy / yv)) ? (float) (yy / yv) : 0;
	f.ynorm = (float) sqrt(yy);
	f.usum = usum;
	f.pad = 0;
	for (int i = 0; i < pdims; i++)
	{
		double		d = y[i] - (double) f.delta * (code_value(planes, pdims, s->bits, i) - h);

		err += d * d;
	}
	f.yhat = (float) (fabs((double) f.delta) * sqrt(vv));
	memcpy(code, &f, sizeof(f));
	return sqrt(err);
}

/*
 * |x - decode(code)| <= |y - delta v| plus what computing y in double
 * can miss: far below 1e-13 of |x| + |c| (x - c in double, then four
 * rounds of sign flips and Hadamard sums).
 */
static double
rotation_slack(const RaBitQState *s, double xnorm)
{
	return 1e-13 * (xnorm + s->cnorm);
}

static float
rabitq_encode(const OmenQuantState *qs, const float *x, uint8 *code)
{
	const RaBitQState *s = AsRaBitQ(qs);
	double	   *xd = palloc(sizeof(double) * s->base.dims);
	double	   *y = palloc(sizeof(double) * s->pdims);
	double		xx = 0;
	double		err;

	for (int i = 0; i < s->base.dims; i++)
	{
		xd[i] = x[i];
		xx += xd[i] * xd[i];
	}
	rotate_offset(s, xd, y);
	err = encode_rotated(s, y, code);
	pfree(xd);
	pfree(y);
	return float_bound((err + rotation_slack(s, sqrt(xx))) * (1 + 1e-9));
}

/* delta v of a code, pdims doubles. */
static void
decode_rotated(const RaBitQState *s, const uint8 *code, double *yhat)
{
	RaBitQFactors f;
	double		h = ((1 << s->bits) - 1) / 2.0;

	memcpy(&f, code, sizeof(f));
	for (int i = 0; i < s->pdims; i++)
		yhat[i] = (double) f.delta *
			(code_value(RaBitQPlanes(code), s->pdims, s->bits, i) - h);
}

static double
rabitq_decode_error(const OmenQuantState *qs, const float *x,
					const uint8 *code)
{
	const RaBitQState *s = AsRaBitQ(qs);
	double	   *xd = palloc(sizeof(double) * s->base.dims);
	double	   *y = palloc(sizeof(double) * s->pdims);
	double	   *yhat = palloc(sizeof(double) * s->pdims);
	double		err = 0;

	for (int i = 0; i < s->base.dims; i++)
		xd[i] = x[i];
	rotate_offset(s, xd, y);
	decode_rotated(s, code, yhat);
	for (int i = 0; i < s->pdims; i++)
		err += (y[i] - yhat[i]) * (y[i] - yhat[i]);
	pfree(xd);
	pfree(y);
	pfree(yhat);
	return sqrt(err);
}

/*
 * The error of a typical vector, |x - c| about radius: each rotated
 * dimension is then about radius / sqrt(D), and one bit keeps sqrt(2 / pi)
 * of y's length (the rest, sqrt(1 - 2 / pi), is error); each further bit
 * halves that.
 */
static double
rabitq_cell_radius(const OmenQuantState *qs)
{
	const RaBitQState *s = AsRaBitQ(qs);

	return Max(s->radius, FLT_MIN) * sqrt(1 - 2 / M_PI) / (1 << (s->bits - 1));
}

/* Codes are never clamped: every error bound is an unclamped one. */
static double
rabitq_unclamped_error_limit(const OmenQuantState *qs)
{
	return INFINITY;
}

/*
 * Re-encode under to the decoded point of code under from, as SQ8 does:
 * |x - decode_to| <= error + |decode_from - decode_to|.
 */
static float
rabitq_transcode(const OmenQuantState *from, const uint8 *code, float error,
				 const OmenQuantState *to, uint8 *newcode)
{
	const RaBitQState *fs = AsRaBitQ(from);
	const RaBitQState *ts = AsRaBitQ(to);
	double	   *x = palloc(sizeof(double) * Max(fs->pdims, ts->pdims));
	double	   *y = palloc(sizeof(double) * ts->pdims);
	double		xx = 0;
	double		err;

	decode_rotated(fs, code, x);
	unrotate(fs, x);
	for (int i = 0; i < fs->base.dims; i++)
	{
		x[i] += RaBitQCentroid(fs)[i];
		xx += x[i] * x[i];
	}
	rotate_offset(ts, x, y);
	err = encode_rotated(ts, y, newcode);
	pfree(x);
	pfree(y);
	return float_bound(((double) error + err +
						rotation_slack(fs, sqrt(xx)) + rotation_slack(ts, sqrt(xx))) *
					   (1 + 1e-9));
}

/* Nothing about the codes asks for new parameters but the centroid. */
static double
rabitq_span_radius(const OmenQuantState *qs, const uint8 *lo, const uint8 *hi)
{
	return rabitq_cell_radius(qs);
}

/* ----------------------------------------------------------------
 *		Quantizer pages
 *
 * One item per page: a RaBitQPageHeader and up to RABITQ_DIMS_PER_PAGE of
 * the centroid's floats.
 * ----------------------------------------------------------------
 */

static int
page_dims(int dims, BlockNumber p, int *start)
{
	*start = p * RABITQ_DIMS_PER_PAGE;
	return Min(RABITQ_DIMS_PER_PAGE, dims - *start);
}

static void
rabitq_write_pages(Relation index, const OmenQuantState *qs,
				   BlockNumber first, ForkNumber fork, bool use_wal)
{
	const RaBitQState *s = AsRaBitQ(qs);
	int			npages = (qs->dims + RABITQ_DIMS_PER_PAGE - 1) / RABITQ_DIMS_PER_PAGE;
	char	   *item = palloc(sizeof(RaBitQPageHeader) +
							  sizeof(float) * RABITQ_DIMS_PER_PAGE);

	for (int p = 0; p < npages; p++)
	{
		int			start;
		int			n = page_dims(qs->dims, p, &start);
		RaBitQPageHeader hdr;

		memset(&hdr, 0, sizeof(hdr));
		hdr.seed = s->seed;
		hdr.bits = s->bits;
		hdr.start = start;
		hdr.n = n;
		hdr.radius = s->radius;
		memcpy(item, &hdr, sizeof(hdr));
		memcpy(item + sizeof(hdr), RaBitQCentroid(s) + start, sizeof(float) * n);
		omendb_write_quant_item(index, first + p, fork, use_wal, item,
								sizeof(hdr) + sizeof(float) * n);
	}
	pfree(item);
}

/*
 * What is wrong with quantizer page p (from 0), or NULL: one item holding
 * the header and the centroid's values for its dimensions, all finite, with
 * the bits the code size implies and the same seed and radius on every page.
 */
static char *
rabitq_page_problem(Page page, const OmenMetaPageData *meta, BlockNumber p,
					const RaBitQPageHeader *first)
{
	char	   *problem = omendb_page_problem(page, OMENDB_PAGE_QUANT);
	int			start;
	int			n = page_dims(meta->code_dims, p, &start);
	int			bits = (meta->code_size - (int) sizeof(RaBitQFactors)) * 8 /
		pad_dims(meta->code_dims);
	ItemId		iid;
	RaBitQPageHeader hdr;
	const float *c;

	if (problem != NULL)
		return problem;
	iid = PageGetItemId(page, FirstOffsetNumber);
	if (PageGetMaxOffsetNumber(page) != 1 || !ItemIdIsNormal(iid) ||
		ItemIdGetLength(iid) != sizeof(RaBitQPageHeader) + sizeof(float) * n)
		return psprintf("quantizer page for dimensions %d to %d has %u items, the first of %u bytes",
						start + 1, start + n, (unsigned) PageGetMaxOffsetNumber(page),
						ItemIdGetLength(iid));
	memcpy(&hdr, PageGetItem(page, iid), sizeof(hdr));
	if (first != NULL && hdr.seed != first->seed)
		return psprintf("quantizer page for dimensions %d to %d has rotation seed " UINT64_FORMAT ", the set's first page " UINT64_FORMAT,
						start + 1, start + n, hdr.seed, first->seed);
	if (hdr.start != start || hdr.n != n || hdr.bits != bits ||
		!(hdr.radius > 0) || !isfinite(hdr.radius) ||
		(first != NULL && hdr.radius != first->radius))
		return psprintf("quantizer page for dimensions %d to %d says dimensions %u to %u, %u bits, radius %g",
						start + 1, start + n, hdr.start + 1, hdr.start + hdr.n,
						(unsigned) hdr.bits, hdr.radius);
	c = (const float *) ((char *) PageGetItem(page, iid) + sizeof(hdr));
	for (int i = 0; i < n; i++)
		if (!isfinite(c[i]))
			return psprintf("centroid dimension %d is %g", start + i + 1, c[i]);
	return NULL;
}

static OmenQuantState *
rabitq_read_pages(Relation index, const OmenMetaPageData *meta,
				  BlockNumber first)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber npages = meta->nquant_blocks / meta->quant_sets;
	RaBitQState *s = NULL;
	RaBitQPageHeader hdr0;

	if (nblocks < meta->first_node_block)
		omendb_corrupted(index, "The index has %u blocks, but its meta page places %u quantizer pages from block %u.",
						 nblocks, meta->nquant_blocks, OMENDB_FIRST_QUANT_BLKNO);
	for (BlockNumber p = 0; p < npages; p++)
	{
		int			start;
		int			n = page_dims(meta->code_dims, p, &start);
		Buffer		buf = ReadBuffer(index, first + p);
		Page		page;
		char	   *problem;
		char	   *item;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		problem = rabitq_page_problem(page, meta, p, s ? &hdr0 : NULL);
		if (problem != NULL)
			omendb_corrupted(index, "Block %u: %s.", first + p, problem);
		item = PageGetItem(page, PageGetItemId(page, FirstOffsetNumber));
		if (s == NULL)
		{
			memcpy(&hdr0, item, sizeof(hdr0));
			s = rabitq_alloc(meta->code_dims, hdr0.bits, hdr0.seed);
			s->radius = hdr0.radius;
		}
		memcpy(RaBitQCentroid(s) + start, item + sizeof(RaBitQPageHeader),
			   sizeof(float) * n);
		UnlockReleaseBuffer(buf);
	}
	if (s == NULL)
		omendb_corrupted(index, "Block %u: meta page places no quantizer pages.",
						 OMENDB_METAPAGE_BLKNO);
	rabitq_finish(s);
	return &s->base;
}

/* ----------------------------------------------------------------
 *		Inner products with codes
 * ----------------------------------------------------------------
 */

/*
 * <u, z> for a query's table: lut[16 g + m] is the sum of z over the
 * dimensions 4g .. 4g + 3 whose bits m sets, so each plane costs one
 * lookup per four dimensions.  In double: with B bits the planes' sums are
 * weighed by up to 2^(B-1), and the bound needs their rounding small.
 */
static double
lut_dot(const double *lut, const uint8 *planes, int pdims, int bits)
{
	double		total = 0;

	for (int b = 0; b < bits; b++)
	{
		const uint8 *plane = planes + b * (pdims / 8);
		const double *l = lut;
		double		sum0 = 0;
		double		sum1 = 0;

		for (int k = 0; k < pdims / 8; k++, l += 32)
		{
			sum0 += l[plane[k] & 15];
			sum1 += l[16 + (plane[k] >> 4)];
		}
		total += ldexp(sum0 + sum1, b);
	}
	return total;
}

static void
build_lut(const double *z, int pdims, double *lut)
{
	for (int g = 0; g < pdims / 4; g++)
	{
		const double *zg = z + 4 * g;
		double	   *l = lut + 16 * g;

		l[0] = 0;
		for (int m = 1; m < 16; m++)
		{
			int			low = m & -m;
			int			j = __builtin_ctz(m);

			l[m] = l[m ^ low] + zg[j];
		}
	}
}

/* <u1, u2> of two codes' bit planes, by popcounts. */
static uint64
code_dot(const uint8 *a, const uint8 *b, int pdims, int bits)
{
	uint64		total = 0;

	for (int pa = 0; pa < bits; pa++)
		for (int pb = 0; pb < bits; pb++)
			total += omendb_kern.rabitq_and_count(a + pa * (pdims / 8),
												  b + pb * (pdims / 8),
												  pdims / 64) << (pa + pb);
	return total;
}

/* ----------------------------------------------------------------
 *		Queries
 * ----------------------------------------------------------------
 */

static void
query_start(OmenQuery *query, const OmenQuantState *qs, OmenMetric metric,
			int dim)
{
	memset(query, 0, sizeof(OmenQuery));
	query->routine = qs->routine;
	query->quant = qs;
	query->metric = metric;
	query->dim = dim;
}

/*
 * A vector query: z = P (x - c) (for inner product, P x), its table, and
 * the sums the estimator and the bound need, all in double.
 */
static void
rabitq_query_init(OmenQuery *query, const OmenQuantState *qs,
				  OmenMetric metric, const float *x, int dim, OmenQueryUse use)
{
	const RaBitQState *s = AsRaBitQ(qs);
	OmenRaBitQQuery *rq = &query->impl.rabitq;
	double	   *xd = palloc(sizeof(double) * s->base.dims);
	double	   *z = palloc(sizeof(double) * s->pdims);
	double		levels = (1 << s->bits) - 1;
	double		xx = 0;
	double		zz = 0;
	double		zsum = 0;
	double		zabs = 0;
	double		qc = 0;

	query_start(query, qs, metric, dim);
	query->q = x;
	for (int i = 0; i < dim; i++)
	{
		xd[i] = x[i];
		xx += xd[i] * xd[i];
		qc += xd[i] * RaBitQCentroid(s)[i];
	}
	query->qnorm = (float) sqrt(xx);
	if (metric == OMENDB_METRIC_IP)
	{
		memcpy(z, xd, sizeof(double) * dim);
		for (int i = dim; i < s->pdims; i++)
			z[i] = 0;
		rotate(s, z);
	}
	else
		rotate_offset(s, xd, z);
	for (int i = 0; i < s->pdims; i++)
	{
		zz += z[i] * z[i];
		zsum += z[i];
		zabs += fabs(z[i]);
	}
	rq->lut = palloc(sizeof(double) * 4 * s->pdims);
	build_lut(z, s->pdims, rq->lut);
	rq->znorm = sqrt(zz);
	rq->zsum = zsum;
	rq->qc = qc;

	/*
	 * <v, z> = <u, z> - h sum(z) is a double sum of at most pdims / 4 + 8
	 * terms a plane, each a sum of |z_i|; over the planes the terms weigh
	 * 2^B - 1 sum |z_i| in all, and h sum(z) half that.
	 */
	rq->vz_slack = 2 * (s->pdims / 4 + 8) * DBL_EPSILON * levels * zabs;
	rq->abs_slack = sqrt((double) dim * FLT_TRUE_MIN / 2);
	if (use == OMENDB_QUERY_SCAN_PROBABLE)
		rq->probable_scale = RABITQ_EPSILON0 * rq->znorm / sqrt(s->pdims - 1);
	pfree(xd);
	pfree(z);
}

static void
rabitq_query_from_code(OmenQuery *query, const uint8 *code)
{
	query->impl.rabitq.qcode = code;
}

static void
rabitq_query_init_code(OmenQuery *query, const OmenQuantState *qs,
					   const uint8 *code)
{
	query_start(query, qs, OMENDB_METRIC_L2, qs->dims);
	if (code)
		rabitq_query_from_code(query, code);
}

/*
 * The estimate of |y - z|^2 for a vector query z, or of |y1 - y2|^2 for a
 * code query: |y|^2 + |z|^2 - 2 <y, z>, with <y, z> by the estimator, in
 * units of unscale^2.
 */
static float
rabitq_code_distance(const OmenQuery *query, const uint8 *code)
{
	const RaBitQState *s = AsRaBitQ(query->quant);
	const OmenRaBitQQuery *rq = &query->impl.rabitq;
	double		h = ((1 << s->bits) - 1) / 2.0;
	RaBitQFactors f;
	double		u2 = 1 / (s->unscale * s->unscale);
	double		d2;

	memcpy(&f, code, sizeof(f));
	if (rq->qcode)
	{
		RaBitQFactors g;
		double		vv;

		memcpy(&g, rq->qcode, sizeof(g));
		vv = (double) code_dot(RaBitQPlanes(code), RaBitQPlanes(rq->qcode),
							   s->pdims, s->bits) -
			h * ((double) f.usum + g.usum) + s->pdims * h * h;
		d2 = (double) f.ynorm * f.ynorm + (double) g.ynorm * g.ynorm -
			2 * (double) f.ip_scale * g.ip_scale * vv;
	}
	else
	{
		double		vz = lut_dot(rq->lut, RaBitQPlanes(code), s->pdims, s->bits) -
			h * rq->zsum;

		d2 = (double) f.ynorm * f.ynorm + rq->znorm * rq->znorm -
			2 * (double) f.ip_scale * vz;
	}
	return (float) (Max(d2, 0) * u2);
}

/*
 * The likely error of the estimate ip of <y, z>, RABITQ_EPSILON0 standard
 * deviations of it.  Writing y = |y| (c n + s p), n the unit vector along
 * v and p a unit vector orthogonal to it (c = |y^| / |y|, the cosine
 * between y and v), the estimate |y| <n, z> / c is off by (|y| s / c)
 * <w, z>, w = s n - c p a unit vector orthogonal to y.  Over the random
 * rotation w is uniform among those, so <w, z> = <w, z'>, z' the part of
 * z orthogonal to y, has standard deviation |z'| / sqrt(D - 1).  The RaBitQ
 * paper bounds |z'| by |z|; but near neighbours are the rows whose order
 * matters, and z' is short for them.  While the error is within its
 * bound E, |<y, z>| >= |ip| - E, so |z'|^2 <= |z|^2 - (|ip| - E)^2 / |y|^2,
 * which bounds the error again, more tightly; two rounds of this get most
 * of what a fixed point would.
 */
#define PROBABLE_ERROR_ROUNDS	2

static inline double
probable_error(const OmenRaBitQQuery *rq, const RaBitQFactors *f, double ip)
{
	double		c;
	double		per_z;
	double		err;

	if (!(f->ynorm > 0))
		return 0;
	c = Min((double) f->yhat / f->ynorm, 1);
	if (!(c > 0))
		return INFINITY;
	/* the error with z' as long as z */
	per_z = rq->probable_scale * f->ynorm * sqrt(1 - c * c) / c;
	err = per_z;
	for (int round = 0; round < PROBABLE_ERROR_ROUNDS; round++)
	{
		double		cos_yz = (fabs(ip) - err) / ((double) f->ynorm * rq->znorm);

		if (!(cos_yz > 0))
			break;
		err = per_z * sqrt(1 - Min(cos_yz, 1) * Min(cos_yz, 1));
	}
	return err;
}

/*
 * Score a node: the estimate for navigation and a rigorous bound (or,
 * with probable bounds, a probable one).  With
 * y^ = delta v the decoded offset, |z - y^|^2 = |z|^2 + |y^|^2 - 2 delta
 * <v, z>, and |q - x| >= |z - y^| - e.  The table's sums of <v, z> are off
 * by at most vz_slack; the bound takes twice delta times that off the
 * square before the root (a lower bound on the square gives one on the
 * distance however near 0).
 * The rest of the margin, as SQ8's, covers the rotation's and the
 * executor's rounding, proportional to the magnitudes involved.
 */
static double
rabitq_score_node(const OmenQuery *query, const OmenNodeHeader node,
				  const uint8 *code, float *approx)
{
	const RaBitQState *s = AsRaBitQ(query->quant);
	const OmenRaBitQQuery *rq = &query->impl.rabitq;
	double		h = ((1 << s->bits) - 1) / 2.0;
	double		rel = 4.0 * (s->pdims + 16) * FLT_EPSILON;
	double		err = node->error;
	double		mags = (double) query->qnorm + node->norm + 2 * s->cnorm + err;
	RaBitQFactors f;
	double		vz;
	double		ip;
	double		est;
	double		lo2;
	double		lb;

	memcpy(&f, code, sizeof(f));
	vz = lut_dot(rq->lut, RaBitQPlanes(code), s->pdims, s->bits) - h * rq->zsum;
	/* the estimate of <y, z> */
	ip = (double) f.ip_scale * vz;
	switch (query->metric)
	{
		case OMENDB_METRIC_L2:
		case OMENDB_METRIC_COSINE:
			est = (double) f.ynorm * f.ynorm + rq->znorm * rq->znorm - 2 * ip;
			lo2 = (rq->znorm * rq->znorm + (double) f.yhat * f.yhat) * (1 - rel) -
				2 * (double) f.delta * vz - 2 * fabs((double) f.delta) * rq->vz_slack;
			lb = sqrt(Max(lo2, 0)) - err * (1 + rel) - rel * mags - rq->abs_slack;
			if (!isfinite(lb) || lb < 0)
				lb = 0;
			if (rq->probable_scale > 0)
				lb = Max(lb, sqrt(Max(est - 2 * probable_error(rq, &f, ip), 0)));
			est = sqrt(Max(est, 0));
			if (query->metric == OMENDB_METRIC_L2)
			{
				*approx = (float) est;
				return lb;
			}
			/* unit vectors: cosine distance = |q - x|^2 / 2 */
			*approx = (float) (est * est / 2);
			return lb * lb / 2.0 - rel;
		case OMENDB_METRIC_IP:

			/*
			 * q . x = q . c + <z, y> for z = P q: estimated through the
			 * estimator, bounded by <z, y^> + |q| e.
			 */
			*approx = (float) -(rq->qc + ip);
			lb = -(rq->qc + (double) f.delta * vz) - (double) query->qnorm * err -
				fabs((double) f.delta) * rq->vz_slack -
				rel * (double) query->qnorm * mags - rq->abs_slack * (mags + 1);
			if (isnan(lb) || lb == INFINITY)
				lb = -INFINITY;
			if (rq->probable_scale > 0)
				lb = Max(lb, (double) *approx - probable_error(rq, &f, ip));
			return lb;
		default:
			break;
	}
	*approx = 0;
	return -INFINITY;
}

const OmenQuantRoutine omendb_rabitq_routine = {
	.kind = OMENDB_QUANT_RABITQ,
	.name = "rabitq",
	.max_bits = 8,
	.default_bits = 1,
	.supports = rabitq_supports,
	.code_dims = rabitq_code_dims,
	.code_bytes = rabitq_code_bytes,
	.page_count = rabitq_page_count,
	.train = rabitq_train,
	.train_first = rabitq_train_first,
	.encode = rabitq_encode,
	.decode_error = rabitq_decode_error,
	.cell_radius = rabitq_cell_radius,
	.unclamped_error_limit = rabitq_unclamped_error_limit,
	.transcode = rabitq_transcode,
	.span_radius = rabitq_span_radius,
	.write_pages = rabitq_write_pages,
	.read_pages = rabitq_read_pages,
	.query_init = rabitq_query_init,
	.query_init_code = rabitq_query_init_code,
	.query_from_code = rabitq_query_from_code,
	.code_distance = rabitq_code_distance,
	.score_node = rabitq_score_node,
	.certain_by_default = false,
};
