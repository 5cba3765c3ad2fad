/*-------------------------------------------------------------------------
 *
 * omendb_sq8.c
 *	  SQ8, the scalar quantizer: one byte a dimension.
 *
 * SQ8 maps each dimension linearly onto 0..255 with a per-dimension range
 * learned at build time.  All graph distances for L2 and cosine are taken
 * in "code space", where a vector x becomes x' = (x - lower) / step: there
 * the squared distance to a code c is sum(step^2 * (x' - c)^2), so a hop
 * needs no decoding.  Inner products use sum(q * step * c) + q . lower.
 *
 * Every node stores |x - decode(code)|, which turns an approximate distance
 * into a rigorous lower bound on the exact one (sq8_score_node); the
 * executor then re-sorts on exact distances (xs_recheckorderby).
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

/*
 * A trained SQ8 quantizer: the ranges and the weights derived from them.
 * The arrays, of base.dims entries each, follow in data[]: lower, step and
 * weight as floats, then iweight and sweight as int16s.
 */
typedef struct SQ8State
{
	OmenQuantState base;
	double		dist_unscale;	/* a power of two near the largest step:
								 * code distances are in its units */
	float		iweight_scale;	/* weight ~= iweight * iweight_scale */
	bool		iweight_ok;		/* iweight is faithful enough to use */
	double		sweight_scale;	/* sweight * sweight_scale <= weight */
	int64		sweight_sum;	/* sum of sweight */
	double		error_spread;	/* the largest step over the root of the
								 * sum of squared steps, one dimension at
								 * the largest step counted
								 * (query_init_probable) */
	double		unclamped_limit;	/* sq8_unclamped_error_limit */
	float		data[FLEXIBLE_ARRAY_MEMBER];
} SQ8State;

/* per-dimension lower bound, step, and step^2 / dist_unscale^2 */
#define SQ8Lower(s)		((s)->data)
#define SQ8Step(s)		((s)->data + (s)->base.dims)
#define SQ8Weight(s)	((s)->data + 2 * (s)->base.dims)
/* weight quantized to 0..127, for the integer code-to-code kernel */
#define SQ8IWeight(s)	((int16 *) ((s)->data + 3 * (s)->base.dims))
/* weight rounded down to 0..4095, for the scan's integer kernel */
#define SQ8SWeight(s)	(SQ8IWeight(s) + (s)->base.dims)

#define AsSQ8(qs)		((const SQ8State *) (qs))

/*
 * With omendb.exact_order off, scans take the cross term of a node's
 * error to be at most this many standard deviations (query_init_probable).
 */
#define SQ8_PROBABLE_SIGMAS 2.0

/* ----------------------------------------------------------------
 *		Layout
 * ----------------------------------------------------------------
 */

static int
sq8_code_dims(OmenMetric metric, int dim)
{
	return OmenCodeDims(metric, dim);
}

/* one byte a code dimension */
static int
sq8_code_bytes(OmenMetric metric, int dim, int bits)
{
	Assert(bits == 0);
	return sq8_code_dims(metric, dim);
}

static BlockNumber
sq8_page_count(OmenMetric metric, int dim)
{
	return (sq8_code_dims(metric, dim) + OMENDB_SQ8_DIMS_PER_PAGE - 1) /
		OMENDB_SQ8_DIMS_PER_PAGE;
}

/* ----------------------------------------------------------------
 *		Training and encoding
 * ----------------------------------------------------------------
 */

static SQ8State *
sq8_alloc(int dims)
{
	Size		size = MAXALIGN(offsetof(SQ8State, data) +
								sizeof(float) * 3 * dims +
								sizeof(int16) * 2 * dims);
	SQ8State   *s = palloc0(size);

	s->base.routine = &omendb_sq8_routine;
	s->base.size = size;
	s->base.dims = dims;
	return s;
}

/*
 * The weight of a step s (in units of the largest step, see
 * sq8_finish): s^2 as a float no greater than it, so that code
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
 * integer weights keep 7 bits of each weight relative to the largest:
 * enough to rank neighbours while building, where exactness is not needed
 * (scans use the float weights).  But if a few dimensions have much larger
 * ranges than the rest (the extra dimension of an inner-product index,
 * say), the rest would round to little or nothing; when more than 2% of
 * the total weight sits in dimensions rounded by more than 10%, graph
 * building uses the float kernel instead.
 */
static double sq8_unclamped_error_limit(const OmenQuantState *qs);

/*
 * The largest step over the root of the sum of squared steps, for probable
 * bounds (query_init_probable).  A dimension constant over the data has no
 * error but takes the largest step (sq8_train); counting one dimension at
 * the largest step leaves such dimensions out, and makes the figure
 * larger, not smaller.
 */
static double
error_spread(const float *step, int dims)
{
	double		top = 0;
	double		ss = 0;

	for (int i = 0; i < dims; i++)
		top = Max(top, (double) step[i]);
	for (int i = 0; i < dims; i++)
		if (step[i] < top)
			ss += (double) step[i] * step[i];
	ss += top * top;
	return (top > 0 && isfinite(ss)) ? top / sqrt(ss) : 0;
}

static void
sq8_finish(SQ8State *s)
{
	int			dims = s->base.dims;
	const float *step = SQ8Step(s);
	float	   *weight = SQ8Weight(s);
	int16	   *iweight = SQ8IWeight(s);
	int16	   *sweight = SQ8SWeight(s);
	double		maxstep = 0;
	double		maxw = 0;
	double		total = 0;
	double		coarse = 0;
	int			e = 0;

	for (int i = 0; i < dims; i++)
		if (isfinite(step[i]))
			maxstep = Max(maxstep, step[i]);
	if (maxstep > 0)
		(void) frexp(maxstep, &e);
	s->dist_unscale = ldexp(1.0, e);

	for (int i = 0; i < dims; i++)
	{
		weight[i] = weight_of_step(ldexp(step[i], -e));
		maxw = Max(maxw, weight[i]);
		total += weight[i];
	}
	if (!(maxw > 0) || !isfinite(maxw))
		maxw = 1;
	s->iweight_scale = maxw / 127.0;
	for (int i = 0; i < dims; i++)
	{
		double		w = weight[i] / s->iweight_scale;

		iweight[i] = (int16) Min(rint(w), 127);
		if (fabs(iweight[i] - w) > 0.1 * w)
			coarse += weight[i];
	}
	s->iweight_ok = !(coarse > 0.02 * total);

	/*
	 * The scan's integer weights are rounded down, so that the distance
	 * they give never exceeds the true one and bounds built on it hold.
	 */
	s->sweight_scale = maxw / 4095.0;
	s->sweight_sum = 0;
	for (int i = 0; i < dims; i++)
	{
		double		w = floor(weight[i] / s->sweight_scale);

		w = Max(0, Min(w, 4095));
		while (w > 0 && w * s->sweight_scale > weight[i])
			w--;
		sweight[i] = (int16) w;
		s->sweight_sum += sweight[i];
	}
	s->error_spread = error_spread(step, dims);
	s->unclamped_limit = sq8_unclamped_error_limit(&s->base);
}

/*
 * Train from per-dimension minima and maxima.  A constant dimension (all
 * rows alike there: a border pixel that is always 0, say) encodes exactly
 * as code 0 whatever its step, and carries no distance between rows; it
 * gets the largest step of the others, so that it never sets the scale of
 * the weights.  A step of its own, 1 say, would outweigh dimensions whose
 * ranges are much smaller (unit vectors: steps near 0.004 at 32
 * dimensions) so far that their integer weights round to 0 and the build
 * compares codes blind.  Only if every dimension is constant do they all
 * get step 1.
 */
static OmenQuantState *
sq8_train(int code_dims, const float *minv, const float *maxv,
		  const float *mean, int bits)
{
	SQ8State   *s = sq8_alloc(code_dims);
	float	   *lower = SQ8Lower(s);
	float	   *step = SQ8Step(s);
	float		maxstep = 0;

	for (int i = 0; i < code_dims; i++)
	{
		/* in double: a range near FLT_MAX on each side overflows a float */
		float		st = (float) (((double) maxv[i] - minv[i]) / 255.0);

		lower[i] = minv[i];
		step[i] = (st > 0 && isfinite(st)) ? st : 0;
		maxstep = Max(maxstep, step[i]);
	}
	for (int i = 0; i < code_dims; i++)
	{
		if (step[i] == 0)
			step[i] = maxstep > 0 ? maxstep : 1.0f;
	}
	sq8_finish(s);
	return &s->base;
}

/*
 * The ranges an index built empty learns from its first vector, as indexed
 * (the unit vector for cosine): each dimension spans [-2m, 2m], m = max
 * |x[i]|, so that later vectors of a similar scale encode without
 * clamping.  Cosine ranges never need to reach past [-1, 1], where every
 * unit vector lies.  For inner product the extra dimension spans [0, M],
 * M = ip_max_norm.  The error bound keeps results exact whatever the fit; a
 * poor fit only costs speed and recall, and REINDEX retrains from the data.
 */
static OmenQuantState *
sq8_train_first(OmenMetric metric, const float *x, int dim, float ip_max_norm,
				int bits)
{
	int			cdim = sq8_code_dims(metric, dim);
	float	   *minv = palloc(sizeof(float) * cdim);
	float	   *maxv = palloc(sizeof(float) * cdim);
	float		m = 0;
	OmenQuantState *qs;

	for (int i = 0; i < dim; i++)
		m = Max(m, fabsf(x[i]));
	if (m == 0)
		m = 1;
	for (int i = 0; i < dim; i++)
	{
		/* twice the first vector's range, short of overflowing a float */
		minv[i] = m > FLT_MAX / 4 ? -FLT_MAX / 2 : -2 * m;
		if (metric == OMENDB_METRIC_COSINE)
			minv[i] = Max(minv[i], -1.0f);
		maxv[i] = -minv[i];
	}
	if (metric == OMENDB_METRIC_IP)
	{
		minv[dim] = 0;
		maxv[dim] = ip_max_norm;
	}
	qs = sq8_train(cdim, minv, maxv, NULL, 0);
	pfree(minv);
	pfree(maxv);
	return qs;
}

/*
 * Encode x into code; returns |x - decode(code)|, rounded up so that it is
 * a true bound despite float rounding.
 */
static float
sq8_encode(const OmenQuantState *qs, const float *x, uint8 *code)
{
	const float *lower = SQ8Lower(AsSQ8(qs));
	const float *step = SQ8Step(AsSQ8(qs));
	double		err = 0;

	for (int i = 0; i < qs->dims; i++)
	{
		float		v = rintf((x[i] - lower[i]) / step[i]);
		uint8		c;
		double		d;

		/*
		 * Over a range wider than FLT_MAX, x - lower overflows a float:
		 * redo it in double.  Only then, so that codes stay bit for bit
		 * what every index was built with (omendb_check compares them).
		 */
		if (!isfinite(v))
			v = (float) rint(((double) x[i] - lower[i]) / step[i]);
		c = (v <= 0) ? 0 : (v >= 255) ? 255 : (uint8) v;
		d = (double) x[i] - ((double) lower[i] + (double) step[i] * c);
		code[i] = c;
		err += d * d;
	}
	/* round up; an error beyond float range is no bound at all: infinite */
	if (!(sqrt(err) < FLT_MAX))
		return INFINITY;
	return nextafterf((float) sqrt(err), FLT_MAX);
}

/* |x - decode(code)|, exactly as far as double arithmetic goes. */
static double
sq8_decode_error(const OmenQuantState *qs, const float *x, const uint8 *code)
{
	const float *lower = SQ8Lower(AsSQ8(qs));
	const float *step = SQ8Step(AsSQ8(qs));
	double		err = 0;

	for (int i = 0; i < qs->dims; i++)
	{
		double		d = (double) x[i] - ((double) lower[i] + (double) step[i] * code[i]);

		err += d * d;
	}
	return sqrt(err);
}

/*
 * The largest error of a vector inside the quantizer's ranges.  Each
 * dimension then rounds to its nearest code, at most half a step away, so
 * the error is at most half the diagonal of a cell, 0.5 sqrt(sum step^2).
 */
static double
sq8_cell_radius(const OmenQuantState *qs)
{
	const float *step = SQ8Step(AsSQ8(qs));
	double		ss = 0;

	for (int i = 0; i < qs->dims; i++)
		ss += (double) step[i] * step[i];
	return 0.5 * sqrt(ss);
}

/*
 * The largest error bound the encoder gives a vector inside the quantizer's
 * ranges: the cell radius, plus what float rounding adds.  The encoder's
 * rounding adds less than 1e-4 of it, and rounding the bound up one unit
 * in the last place adds at most one subnormal unit to a subnormal bound;
 * the margins cover both.  A larger bound means that some dimension's code
 * was clamped to 0 or 255, far enough outside the ranges to cost the bound
 * its precision.
 */
static double
sq8_unclamped_error_limit(const OmenQuantState *qs)
{
	return sq8_cell_radius(qs) * 1.001 + 2 * ldexp(1.0, FLT_MIN_EXP - FLT_MANT_DIG);
}

/*
 * Re-encode a code of from under to, without the vector x it encoded: the
 * decoded point y = decode_from(code) is re-encoded, and since
 * |x - y| <= error, |x - decode_to(newcode)| <= error + |y - decode_to|.
 * Both terms are computed in double and the sum is rounded up with a
 * margin far beyond double rounding.
 */
static float
sq8_transcode(const OmenQuantState *from, const uint8 *code, float error,
			  const OmenQuantState *to, uint8 *newcode)
{
	const float *flower = SQ8Lower(AsSQ8(from));
	const float *fstep = SQ8Step(AsSQ8(from));
	const float *tlower = SQ8Lower(AsSQ8(to));
	const float *tstep = SQ8Step(AsSQ8(to));
	double		ss = 0;
	double		bound;

	for (int i = 0; i < to->dims; i++)
	{
		double		y = (double) flower[i] + (double) fstep[i] * code[i];
		double		v = rint((y - tlower[i]) / tstep[i]);
		uint8		c = (v <= 0) ? 0 : (v >= 255) ? 255 : (uint8) v;
		double		d = y - ((double) tlower[i] + (double) tstep[i] * c);

		newcode[i] = c;
		ss += d * d;
	}
	bound = ((double) error + sqrt(ss)) * (1 + 1e-9);
	if (!(bound < FLT_MAX))
		return INFINITY;
	return nextafterf((float) bound, FLT_MAX);
}

/*
 * Training on the vectors whose codes span lo[i]..hi[i] would give
 * dimension i a step of about step[i] * (hi[i] - lo[i]) / 255 (at least a
 * code's width: values inside one code are not told apart), so a cell
 * radius of half the diagonal of those steps.
 */
static double
sq8_span_radius(const OmenQuantState *qs, const uint8 *lo, const uint8 *hi)
{
	const float *step = SQ8Step(AsSQ8(qs));
	double		ss = 0;

	for (int i = 0; i < qs->dims; i++)
	{
		double		span = hi[i] > lo[i] ? hi[i] - lo[i] + 1 : 1;
		double		st = (double) step[i] * Min(span, 255) / 255.0;

		ss += st * st;
	}
	return 0.5 * sqrt(ss);
}

/* ----------------------------------------------------------------
 *		Quantizer pages
 *
 * One item per page, right under the special space: the (lower, step)
 * pairs (OmenSQ8Dim) of OMENDB_SQ8_DIMS_PER_PAGE dimensions, fewer on the
 * last page.
 * ----------------------------------------------------------------
 */

/* The code dimensions quantizer page p (from 0) holds: start, and n. */
static int
page_dims(int dims, BlockNumber p, int *start)
{
	*start = p * OMENDB_SQ8_DIMS_PER_PAGE;
	return Min(OMENDB_SQ8_DIMS_PER_PAGE, dims - *start);
}

static void
sq8_write_pages(Relation index, const OmenQuantState *qs, BlockNumber first,
				ForkNumber fork, bool use_wal)
{
	const float *lower = SQ8Lower(AsSQ8(qs));
	const float *step = SQ8Step(AsSQ8(qs));
	int			npages = (qs->dims + OMENDB_SQ8_DIMS_PER_PAGE - 1) / OMENDB_SQ8_DIMS_PER_PAGE;
	OmenSQ8Dim *dims = palloc(sizeof(OmenSQ8Dim) * OMENDB_SQ8_DIMS_PER_PAGE);

	for (int p = 0; p < npages; p++)
	{
		int			start;
		int			n = page_dims(qs->dims, p, &start);

		for (int i = 0; i < n; i++)
		{
			dims[i].lower = lower[start + i];
			dims[i].step = step[start + i];
		}
		omendb_write_quant_item(index, first + p, fork, use_wal, dims,
								sizeof(OmenSQ8Dim) * n);
	}
	pfree(dims);
}

/*
 * What is wrong with quantizer page p (from 0) of an index, or NULL: one
 * item, right under the special space, holding the (lower, step) pairs of
 * its dimensions, each finite with a positive step.
 */
static char *
sq8_page_problem(Page page, const OmenMetaPageData *meta, BlockNumber p)
{
	PageHeader	ph = (PageHeader) page;
	char	   *problem = omendb_page_problem(page, OMENDB_PAGE_QUANT);
	int			start;
	int			n = page_dims(meta->code_dims, p, &start);
	ItemId		iid;
	OmenSQ8Dim *dims;

	if (problem != NULL)
		return problem;
	iid = PageGetItemId(page, FirstOffsetNumber);
	if (PageGetMaxOffsetNumber(page) != 1 || !ItemIdIsNormal(iid) ||
		ItemIdGetLength(iid) != sizeof(OmenSQ8Dim) * n ||
		ItemIdGetOffset(iid) != ph->pd_upper ||
		ph->pd_upper != ph->pd_special - MAXALIGN(sizeof(OmenSQ8Dim) * n))
		return psprintf("quantizer page for dimensions %d to %d has %u items, the first of %u bytes at %u (pd_upper %u)",
						start + 1, start + n, (unsigned) PageGetMaxOffsetNumber(page),
						ItemIdGetLength(iid), ItemIdGetOffset(iid), ph->pd_upper);
	dims = (OmenSQ8Dim *) PageGetItem(page, iid);
	for (int i = 0; i < n; i++)
		if (!isfinite(dims[i].lower) || !isfinite(dims[i].step) ||
			!(dims[i].step > 0))
			return psprintf("quantizer range of dimension %d is lower %g, step %g",
							start + i + 1, dims[i].lower, dims[i].step);
	return NULL;
}

/*
 * Read one parameter set's quantizer pages, blocks first on, into a new
 * state, checking each.
 */
static OmenQuantState *
sq8_read_pages(Relation index, const OmenMetaPageData *meta,
			   BlockNumber first)
{
	SQ8State   *s = sq8_alloc(meta->code_dims);
	float	   *lower = SQ8Lower(s);
	float	   *step = SQ8Step(s);
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber npages = meta->nquant_blocks / meta->quant_sets;

	if (nblocks < meta->first_node_block)
		omendb_corrupted(index, "The index has %u blocks, but its meta page places %u quantizer pages from block %u.",
						 nblocks, meta->nquant_blocks, OMENDB_FIRST_QUANT_BLKNO);
	for (BlockNumber p = 0; p < npages; p++)
	{
		int			start;
		int			n = page_dims(s->base.dims, p, &start);
		Buffer		buf = ReadBuffer(index, first + p);
		Page		page;
		char	   *problem;
		OmenSQ8Dim *dims;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		problem = sq8_page_problem(page, meta, p);
		if (problem != NULL)
			omendb_corrupted(index, "Block %u: %s.", first + p,
							 problem);
		dims = (OmenSQ8Dim *) PageGetItem(page, PageGetItemId(page, FirstOffsetNumber));
		for (int i = 0; i < n; i++)
		{
			lower[start + i] = dims[i].lower;
			step[start + i] = dims[i].step;
		}
		UnlockReleaseBuffer(buf);
	}
	sq8_finish(s);
	return &s->base;
}

/* ----------------------------------------------------------------
 *		Queries
 * ----------------------------------------------------------------
 */

/* The fields every query starts with. */
static void
query_start(OmenQuery *query, const OmenQuantState *qs, OmenMetric metric,
			int dim)
{
	const SQ8State *s = AsSQ8(qs);
	OmenSQ8Query *sq = &query->impl.sq8;

	memset(query, 0, sizeof(OmenQuery));
	query->routine = qs->routine;
	query->quant = qs;
	query->metric = metric;
	query->dim = dim;
	sq->weight = SQ8Weight(s);
	sq->iweight = SQ8IWeight(s);
	sq->iweight_scale = s->iweight_scale;
	sq->dist_unscale = s->dist_unscale;
}

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
query_init_rounded(OmenQuery *query, const SQ8State *s, const float *x)
{
	OmenSQ8Query *sq = &query->impl.sq8;
	int			dim = query->dim;
	double	   *g = palloc(sizeof(double) * dim);
	SQ8RoundSums sums;
	double		slack;
	double		unscale2;

	sq->qround = palloc(dim);
	sq->qcross = palloc(sizeof(int16) * dim);
	omendb_kern.sq8_round_query(x, SQ8Lower(s), SQ8Step(s), dim, sq->qround,
								g, &sums);

	/*
	 * The kernel weighs by step^2; the integer term by the weights, in
	 * units of dist_unscale^2.  Bring the cross terms to those units (a
	 * power of two, so exactly), or the sum mixes the two and is no bound.
	 */
	unscale2 = 1 / (s->dist_unscale * s->dist_unscale);
	for (int i = 0; i < dim; i++)
		g[i] *= unscale2;
	sums.fa *= unscale2;
	sums.ff *= unscale2;
	sums.gmax *= unscale2;
	sq->cross_scale = (sums.gmax > 0 && isfinite(sums.gmax)) ? 2047.0 / sums.gmax : 0;
	slack = omendb_kern.sq8_round_cross(g, sq->cross_scale, dim, sq->qcross);
	sq->cross_const = 2 * sums.fa + sums.ff;
	sq->cross_slack = 2 * 255 * slack;
	pfree(g);
}

/*
 * Where products fall below the normal float range, float rounding is
 * absolute, not relative: each product is off by up to half the smallest
 * float, FLT_TRUE_MIN / 2, which no margin proportional to the operands
 * covers when the operands are tiny themselves.  For L2 the executor's sum
 * of squares and our code distance are each off by up to dim such terms,
 * so each distance by up to sqrt(dim * FLT_TRUE_MIN / 2) in its units
 * (ours are dist_unscale), and the bound takes both off.  For inner
 * product our kernel sums qip * code, each qip off by up to
 * FLT_TRUE_MIN / 2 in its scaled units and each code up to 255: the caller
 * converts that back (query_init_ip) and adds the executor's
 * dim * FLT_TRUE_MIN / 2.  (Cosine works on unit vectors, and the
 * executor's cosine redoes vectors this short in double.)  For vectors of
 * ordinary magnitudes these slacks vanish in the bound's last bit.
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
query_init_ip(OmenQuery *query, const SQ8State *s, const float *x)
{
	OmenSQ8Query *sq = &query->impl.sq8;
	const float *lower = SQ8Lower(s);
	const float *step = SQ8Step(s);
	double		maxp = 0;
	double		ipc = 0;
	double		ipspread = 0;
	double		scale = 1;
	int			e;

	sq->ipdim = query->dim - 1;
	sq->qip = palloc(sizeof(float) * sq->ipdim);
	for (int i = 0; i < sq->ipdim; i++)
	{
		maxp = Max(maxp, fabs((double) x[i] * step[i]));
		ipspread += fabs((double) x[i] * step[i]);
	}
	if (maxp > 0 && isfinite(maxp))
	{
		(void) frexp(maxp, &e);
		scale = ldexp(1.0, -e);
	}
	for (int i = 0; i < sq->ipdim; i++)
	{
		sq->qip[i] = (float) ((double) x[i] * step[i] * scale);
		ipc += (double) x[i] * lower[i];
	}
	sq->ipconst = ipc * scale;
	sq->ip_unscale = 1 / scale;
	sq->abs_slack = subnormal_slack(OMENDB_METRIC_IP, query->dim) * sq->ip_unscale +
		sq->ipdim * (double) FLT_TRUE_MIN;

	/*
	 * The kernel's float sum of qip * code, and each qip's rounding, are
	 * off by a fraction of the sum of the terms' magnitudes, at most 255
	 * sum(|q * step|): the products of the query with the decoded vector's
	 * offsets from lower, not with the vector itself, which
	 * sq8_score_node's margin is proportional to.  Where the vectors are
	 * tiny against the ranges this is what decides the bound.
	 */
	sq->abs_slack += 4.0 * (query->dim + 16) * FLT_EPSILON * 255 * ipspread;
}

/*
 * Half the width of the cell of values an unclamped code c stands for, in
 * code units: encode rounds fl(fl(x - lower) / step) to c, so the exact
 * (x - lower) / step lies within 1/2 of c plus two float roundings of a
 * value below 256 (at most 256 * 2^-23 = 2^-15).  2^-14 covers that, and
 * the rounding of |q' - c| in the L1 kernel (2^-24 of it) as well.
 */
#define SQ8_CELL_HALF	(0.5f + 0x1p-14f)

/*
 * The L1 form of a query: the query in code space, computed in double and
 * rounded once, and the steps in units of dist_unscale, rounded down so
 * that the distances they give never exceed the true ones.  abs_slack is
 * what the rounding of the query to floats can cost a bound: each
 * dimension's q' is off by at most 2^-23 |q'| (or half the smallest float),
 * which the step turns into 2^-23 |q - lower| (or step * FLT_TRUE_MIN / 2).
 */
static void
query_init_l1(OmenQuery *query, const SQ8State *s, const float *x)
{
	OmenSQ8Query *sq = &query->impl.sq8;
	const float *lower = SQ8Lower(s);
	const float *step = SQ8Step(s);
	double		spread = 0;
	double		steps = 0;

	sq->qcode = palloc(sizeof(float) * query->dim);
	sq->lweight = palloc(sizeof(float) * query->dim);
	for (int i = 0; i < query->dim; i++)
	{
		double		w = step[i] / s->dist_unscale;
		float		fw = (float) w;

		if (fw > w)
			fw = nextafterf(fw, 0);
		sq->lweight[i] = fw;
		sq->qcode[i] = (float) (((double) x[i] - lower[i]) / step[i]);
		spread += fabs((double) x[i] - lower[i]);
		steps += step[i];
	}
	sq->abs_slack = 2 * FLT_EPSILON * spread + steps * FLT_TRUE_MIN;
}

/*
 * Probable bounds (omendb.exact_order off), for L2 and cosine.  Given a
 * node's code and its error e = |r|, r = x - x^,
 *
 *		|q - x|^2 = |q - x^|^2 - e^2 - 2 <q - x, r>
 *
 * and the rigorous bound is what the largest cross term leaves (the
 * triangle inequality).  Over the code's cell r's coordinates are
 * independent, each within its dimension's step, so for a q - x that does
 * not depend on where x lies in the cell the cross term has standard
 * deviation at most |q - x| e max(step) / sqrt(sum of step^2), about
 * |q - x| e / sqrt(D) (the quantizer's error_spread); the scan takes
 * |q - x^| for |q - x|.  (Taking q - x^ as the independent one gives + e^2
 * instead, and puts a row queried by its own vector e sqrt(2) from
 * itself.)  A node with a clamped code has its error in the clamped
 * dimensions, and keeps its rigorous bound.
 */
static void
query_init_probable(OmenQuery *query, const SQ8State *s)
{
	OmenSQ8Query *sq = &query->impl.sq8;

	sq->probable_cross = SQ8_PROBABLE_SIGMAS * s->error_spread;
	sq->probable_error_limit = s->unclamped_limit;
}

/*
 * A scan query (for sq8_score_node) gets the integer form where the metric
 * and CPU allow (L2 and cosine with a fast integer kernel), else the float
 * kernel's; L1 has a kernel of its own.
 */
static void
sq8_query_init(OmenQuery *query, const OmenQuantState *qs, OmenMetric metric,
			   const float *x, int dim, OmenQueryUse use)
{
	const SQ8State *s = AsSQ8(qs);
	OmenSQ8Query *sq = &query->impl.sq8;
	double		ss[4] = {0};

	query_start(query, qs, metric, dim);
	query->q = x;
	for (int i = 0; i < dim; i++)
		ss[i & 3] += (double) x[i] * x[i];
	query->qnorm = (float) sqrt((ss[0] + ss[1]) + (ss[2] + ss[3]));
	sq->abs_slack = subnormal_slack(metric, dim) * (1 + s->dist_unscale);

	if (metric == OMENDB_METRIC_IP)
		query_init_ip(query, s, x);
	else if (metric == OMENDB_METRIC_L1)
		query_init_l1(query, s, x);
	else if (use != OMENDB_QUERY_GRAPH && omendb_kern.sq8_scan != NULL)
		query_init_rounded(query, s, x);
	else
	{
		const float *lower = SQ8Lower(s);
		const float *step = SQ8Step(s);
		double		spread = 0;
		double		steps = 0;

		sq->qcode = palloc(sizeof(float) * dim);
		for (int i = 0; i < dim; i++)
		{
			double		off = (double) x[i] - lower[i];

			sq->qcode[i] = (x[i] - lower[i]) / step[i];
			spread += off * off;
			steps += step[i];
		}

		/*
		 * Each q'[i] is two float roundings away from the exact (x[i] -
		 * lower[i]) / step[i]: off by up to 2^-23 of it, which the step
		 * turns into 2^-23 |x[i] - lower[i]| (or step[i] * FLT_TRUE_MIN / 2
		 * below the normal range).  That is not proportional to |q| and |x|
		 * as sq8_score_node's margin is: for vectors tiny against the
		 * ranges (near zero, ranges trained on rows a thousand times
		 * larger) it can exceed that margin.  Cosine's unit vectors keep
		 * |x - lower| within what its margin covers.
		 */
		if (metric == OMENDB_METRIC_L2)
			sq->abs_slack += 2 * FLT_EPSILON * sqrt(spread) + steps * FLT_TRUE_MIN;
	}
	if (use == OMENDB_QUERY_SCAN_PROBABLE &&
		(metric == OMENDB_METRIC_L2 || metric == OMENDB_METRIC_COSINE))
		query_init_probable(query, s);
}

static void sq8_query_from_code(OmenQuery *query, const uint8 *code);

static void
sq8_query_init_code(OmenQuery *query, const OmenQuantState *qs,
					const uint8 *code)
{
	query_start(query, qs, OMENDB_METRIC_L2, qs->dims);
	if (!AsSQ8(qs)->iweight_ok)
		query->impl.sq8.qcode = palloc(sizeof(float) * qs->dims);
	if (code)
		sq8_query_from_code(query, code);
}

static void
sq8_query_from_code(OmenQuery *query, const uint8 *code)
{
	OmenSQ8Query *sq = &query->impl.sq8;

	if (AsSQ8(query->quant)->iweight_ok)
	{
		sq->qbytes = code;
		return;
	}
	/* float kernel: the code is its own position in code space */
	for (int i = 0; i < query->dim; i++)
		sq->qcode[i] = (float) code[i];
}

static float
sq8_code_distance(const OmenQuery *query, const uint8 *code)
{
	const OmenSQ8Query *sq = &query->impl.sq8;

	if (sq->qbytes)
		return (float) omendb_kern.sq8_pair(sq->qbytes, code, sq->iweight,
											query->dim) * sq->iweight_scale;
	return omendb_kern.sq8_l2(sq->qcode, sq->weight, code, query->dim);
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
	const SQ8State *s = AsSQ8(query->quant);
	const OmenSQ8Query *sq = &query->impl.sq8;
	int64		cross;
	int64		sum = omendb_kern.sq8_scan(sq->qround, code, SQ8SWeight(s),
										   sq->qcross, query->dim, &cross) +
		32768 * s->sweight_sum;
	double		d2 = (double) sum * s->sweight_scale + sq->cross_const;

	if (sq->cross_scale > 0)
		d2 -= 2.0 * (double) cross / sq->cross_scale;
	*lower = sqrt(Max(d2 - sq->cross_slack, 0));
	return sqrt(Max(d2, 0));
}

/*
 * The L1 bound (README.omendb, "L1 (Manhattan) distance").  The kernel
 * gives, in units of dist_unscale, A: the distance from the query to the
 * decoded vector x^, and B: the sum over dimensions of the distance from
 * q[i] to the cell of values that encode as the node's code, which holds
 * x[i].  Both are lower bounds on |q - x|_1, B directly and A through the
 * error: |q - x|_1 >= |q - x^|_1 - |x - x^|_1 >= A - sqrt(dim) e.  Each
 * is a float sum of non-negative terms, at most rel of it above the exact
 * sum (a product below the normal range may gain FLT_TRUE_MIN / 2
 * instead); the query's rounding costs at most abs_slack; e as encode
 * computed it in double may be short of the exact error by 2^-53 of
 * |x^| <= |x| + e.  The executor's float sum of |q[i] - x[i]| is at least
 * 1 - rel of the exact one (its terms are non-negative too, and a
 * difference below the normal range is exact).  The better of the two
 * bounds is returned.
 */
static double
sq8_score_l1(const OmenQuery *query, const OmenNodeHeader node,
			 const uint8 *code, float *approx)
{
	const OmenSQ8Query *sq = &query->impl.sq8;
	double		rel = 4.0 * (query->dim + 16) * FLT_EPSILON;
	double		tiny = query->dim * (double) FLT_TRUE_MIN;
	float		cell;
	double		a = omendb_kern.sq8_l1(sq->qcode, sq->lweight, code,
									   SQ8_CELL_HALF, query->dim, &cell);
	double		err = ((double) node->error +
					   0x1p-50 * ((double) node->norm + node->error)) * (1 + rel);
	double		alo = (a * (1 - rel) - tiny) * sq->dist_unscale - sq->abs_slack;
	double		blo = ((double) cell * (1 - rel) - tiny) * sq->dist_unscale - sq->abs_slack;
	double		lb = 0;

	*approx = (float) (a * sq->dist_unscale);
	if (isfinite(blo))
		lb = Max(lb, blo);
	if (isfinite(alo - sqrt((double) query->dim) * err))
		lb = Max(lb, alo - sqrt((double) query->dim) * err);
	return lb * (1 - rel);
}

/* Whether a scan bounds this node probably (query_init_probable). */
static inline bool
probable(const OmenSQ8Query *sq, double err)
{
	return sq->probable_cross > 0 && err <= sq->probable_error_limit;
}

/*
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
 *
 * With probable bounds the cross term is taken at its likely largest
 * instead (query_init_probable), never below the rigorous bound.
 */
static double
sq8_score_node(const OmenQuery *query, const OmenNodeHeader node,
			   const uint8 *code, float *approx)
{
	const OmenSQ8Query *sq = &query->impl.sq8;
	double		rel = 4.0 * (query->dim + 16) * FLT_EPSILON;
	double		err = node->error;
	double		d;
	double		dlo;
	double		dist_lo;
	double		lb;

	switch (query->metric)
	{
		case OMENDB_METRIC_L1:
			return sq8_score_l1(query, node, code, approx);
		case OMENDB_METRIC_L2:
		case OMENDB_METRIC_COSINE:
			if (sq->qround)
				d = rounded_code_distance(query, code, &dlo);
			else
				dlo = d = sqrt(Max(omendb_kern.sq8_l2(sq->qcode, sq->weight, code, query->dim), 0));
			d *= sq->dist_unscale;
			dlo *= sq->dist_unscale;
			dist_lo = dlo - err;
			if (probable(sq, err))
				dist_lo = Max(dist_lo, sqrt(Max(dlo * dlo - err * err -
												2 * sq->probable_cross * d * err, 0)));
			if (query->metric == OMENDB_METRIC_L2)
			{
				*approx = (float) d;
				lb = dist_lo - rel * ((double) query->qnorm + node->norm + err)
					- sq->abs_slack;
				if (!isfinite(lb) || lb < 0)
					lb = 0;
				return lb;
			}
			/* unit vectors: cosine distance = |q - x|^2 / 2 */
			*approx = (float) (d * d / 2);
			lb = dist_lo - rel * (2.0 + err);
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
			d = -(sq->ipconst + omendb_kern.sq8_dot(sq->qip, code, sq->ipdim)) *
				sq->ip_unscale;
			*approx = (float) d;
			lb = d - (double) query->qnorm * err
				- rel * (double) query->qnorm * ((double) node->norm + err)
				- sq->abs_slack;
			if (isnan(lb) || lb == INFINITY)
				lb = -INFINITY;
			return lb;
	}
	*approx = 0;
	return -INFINITY;
}

const OmenQuantRoutine omendb_sq8_routine = {
	.kind = OMENDB_QUANT_SQ8,
	.name = "sq8",
	.max_bits = 0,
	.default_bits = 0,
	.code_dims = sq8_code_dims,
	.code_bytes = sq8_code_bytes,
	.page_count = sq8_page_count,
	.train = sq8_train,
	.train_first = sq8_train_first,
	.encode = sq8_encode,
	.decode_error = sq8_decode_error,
	.cell_radius = sq8_cell_radius,
	.unclamped_error_limit = sq8_unclamped_error_limit,
	.transcode = sq8_transcode,
	.span_radius = sq8_span_radius,
	.write_pages = sq8_write_pages,
	.read_pages = sq8_read_pages,
	.query_init = sq8_query_init,
	.query_init_code = sq8_query_init_code,
	.query_from_code = sq8_query_from_code,
	.code_distance = sq8_code_distance,
	.score_node = sq8_score_node,
	.certain_by_default = true,
};
