/*-------------------------------------------------------------------------
 *
 * omendb_sketch.c
 *	  Distance sketches (README.omendb, "Distance sketches").
 *
 * A sketch projects a vector, less the mean of a sample of the rows, on a
 * few orthonormal directions, the sample's principal ones, and keeps the
 * cell of each projection and of the length of the remainder, a byte
 * each.  For a query q and a row x, with P the projection on the
 * directions,
 *
 *		|q - x|^2 = |P(q - x)|^2 + |(I - P)(q - x)|^2
 *				 >= sum_i gap(p_i(q), cell_i)^2 + gap(|(I - P) q|, cell_rest)^2
 *
 * (the remainder's part by the triangle inequality in the complement), a
 * lower bound on the row's distance that its entry in the label directory
 * alone gives.  The directions are stored as floats and re-orthonormalized
 * in double by every reader alike, so that the identity holds for the
 * directions the codes were computed with.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "storage/bufmgr.h"

#include "omendb_page.h"
#include "omendb_quant.h"
#include "omendb_sketch.h"

/*
 * The sketch as stored: this header, the mean's and then each direction's
 * floats, one item a page over as many pages as it takes.
 */
typedef struct SketchImageHeader
{
	uint32		words;
	uint32		dims;
	float4		lower[OMENDB_SKETCH_MAX_DIRECTIONS];
	float4		step[OMENDB_SKETCH_MAX_DIRECTIONS];
	float4		rest_step;
	float4		unused;			/* zero */
} SketchImageHeader;

/* Bytes of the image one sketch page holds: one item, MAXALIGNed. */
#define SKETCH_PAGE_BYTES \
	((Size) TYPEALIGN_DOWN(MAXIMUM_ALIGNOF, BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - \
						   sizeof(ItemIdData) - MAXALIGN(sizeof(OmenPageOpaqueData))))

/* Rounds of subspace iteration that find the principal directions. */
#define SKETCH_ITERATIONS			6

/* A stored direction's length may differ from 1 by float rounding alone. */
#define SKETCH_UNIT_SLACK			1e-3

/*
 * The slack for double rounding in projections and cell edges, relative to
 * the lengths involved: far above what double gives up, far below a cell.
 */
#define SKETCH_DOUBLE_SLACK			1e-7

#define SketchMean(sk)			((sk)->data)
#define SketchDirection(sk, i)	((sk)->data + (Size) ((i) + 1) * (sk)->dims)

/* An index can carry sketches: Euclidean distance, and a label directory. */
bool
omendb_sketch_possible(OmenMetric metric, int label_size)
{
	return metric == OMENDB_METRIC_L2 && label_size > 0;
}

static Size
sketch_image_size(int words, int dims)
{
	return sizeof(SketchImageHeader) +
		sizeof(float4) * (Size) dims * (OmenSketchDirections(words) + 1);
}

/* Pages a sketch of so many words for vectors of dims dimensions takes. */
BlockNumber
omendb_sketch_blocks(int words, int dims)
{
	if (words == 0)
		return 0;
	return (BlockNumber) ((sketch_image_size(words, dims) + SKETCH_PAGE_BYTES - 1) /
						  SKETCH_PAGE_BYTES);
}

/* The first sketch page: right after the quantizer pages. */
BlockNumber
omendb_sketch_first_block(const OmenMetaPageData *meta)
{
	return OMENDB_FIRST_QUANT_BLKNO + meta->nquant_blocks;
}

/* A deterministic generator: xorshift64*, for the starting directions. */
static double
next_uniform(uint64 *state)
{
	uint64		x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return (double) ((x * UINT64CONST(0x2545F4914F6CDD1D)) >> 11) /
		(double) (UINT64CONST(1) << 53) - 0.5;
}

static double
dot(const double *a, const double *b, int n)
{
	double		s = 0;

	for (int i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/*
 * Make row i of v (k rows of n) orthogonal to rows 0 .. i-1 and of unit
 * length, by modified Gram-Schmidt, twice for accuracy.  Returns its length
 * after the first pass, relative to before.
 */
static double
orthonormalize_row(double *v, int i, int n)
{
	double	   *row = v + (Size) i * n;
	double		before = sqrt(dot(row, row, n));
	double		kept = 0;

	if (!(before > 0))
		return 0;
	for (int pass = 0; pass < 2; pass++)
	{
		double		len;

		for (int j = 0; j < i; j++)
		{
			const double *other = v + (Size) j * n;
			double		c = dot(row, other, n);

			for (int t = 0; t < n; t++)
				row[t] -= c * other[t];
		}
		len = sqrt(dot(row, row, n));
		if (!(len > 0))
			return 0;
		for (int t = 0; t < n; t++)
			row[t] /= len;
		if (pass == 0)
			kept = len / before;
	}
	return kept;
}

/*
 * Orthonormalize k rows of n; a row that has vanished (the sample spans
 * fewer directions) is replaced by a fresh random one.
 */
static void
orthonormalize_rows(double *v, int k, int n, uint64 *state)
{
	if (k >= n)
		elog(ERROR, "omendb sketch of %d directions for %d dimensions", k, n);
	for (int i = 0; i < k; i++)
	{
		while (orthonormalize_row(v, i, n) < 1e-6)
		{
			for (int t = 0; t < n; t++)
				v[(Size) i * n + t] = next_uniform(state);
		}
	}
}

/*
 * The k principal directions of the sample (n rows of dims, less mean) by
 * subspace iteration on its covariance, into v (k rows of dims).  Any
 * orthonormal directions give valid bounds; these give tight ones.
 */
static void
principal_directions(const float *sample, int n, int dims, const float *mean,
					 int k, double *v)
{
	uint64		state = UINT64CONST(0x9E3779B97F4A7C15);
	double	   *w = palloc(sizeof(double) * (Size) n * k);
	double	   *y = palloc(sizeof(double) * dims);

	for (Size t = 0; t < (Size) k * dims; t++)
		v[t] = next_uniform(&state);
	orthonormalize_rows(v, k, dims, &state);
	for (int iter = 0; iter < SKETCH_ITERATIONS; iter++)
	{
		/* w = (S - mean) v^T, then v = w^T (S - mean) */
		for (int r = 0; r < n; r++)
		{
			for (int j = 0; j < dims; j++)
				y[j] = (double) sample[(Size) r * dims + j] - mean[j];
			for (int i = 0; i < k; i++)
				w[(Size) r * k + i] = dot(y, v + (Size) i * dims, dims);
		}
		memset(v, 0, sizeof(double) * (Size) k * dims);
		for (int r = 0; r < n; r++)
		{
			for (int j = 0; j < dims; j++)
				y[j] = (double) sample[(Size) r * dims + j] - mean[j];
			for (int i = 0; i < k; i++)
			{
				double		c = w[(Size) r * k + i];
				double	   *row = v + (Size) i * dims;

				for (int j = 0; j < dims; j++)
					row[j] += c * y[j];
			}
		}
		orthonormalize_rows(v, k, dims, &state);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(w);
	pfree(y);
}

/* Project y (less the mean already) on the directions; returns |y|^2. */
static double
project(const OmenSketch *sk, const double *y, double *proj)
{
	for (int i = 0; i < sk->directions; i++)
		proj[i] = dot(y, SketchDirection(sk, i), sk->dims);
	return dot(y, y, sk->dims);
}

/* The length of what the directions leave of y, from |y|^2 and its projections. */
static double
rest_length(const OmenSketch *sk, double norm2, const double *proj)
{
	double		rest2 = norm2;

	for (int i = 0; i < sk->directions; i++)
		rest2 -= proj[i] * proj[i];
	return rest2 > 0 ? sqrt(rest2) : 0;
}

/* x less the sketch's mean, in double. */
static void
centered(const OmenSketch *sk, const float *x, double *y)
{
	for (int j = 0; j < sk->dims; j++)
		y[j] = (double) x[j] - SketchMean(sk)[j];
}

/*
 * The sketch an image describes, checked: sizes, finite values, positive
 * cells, and directions that are unit vectors and orthogonal but for float
 * rounding.  NULL, with *problem set, if it is not one.
 */
OmenSketch *
omendb_sketch_from_image(const char *image, Size size, int words, int dims,
						 char **problem)
{
	SketchImageHeader hdr;
	const float4 *floats;
	int			k = OmenSketchDirections(words);
	OmenSketch *sk;

	*problem = NULL;
	if (size != sketch_image_size(words, dims))
	{
		*problem = psprintf("sketch of %zu bytes, expected %zu", size,
							sketch_image_size(words, dims));
		return NULL;
	}
	memcpy(&hdr, image, sizeof(hdr));
	if (hdr.words != words || hdr.dims != dims)
	{
		*problem = psprintf("sketch of %u words for %u dimensions, expected %d and %d",
							hdr.words, hdr.dims, words, dims);
		return NULL;
	}
	for (int i = 0; i < k; i++)
		if (!isfinite(hdr.lower[i]) || !isfinite(hdr.step[i]) ||
			!(hdr.step[i] > 0))
		{
			*problem = psprintf("sketch direction %d has cells from %g, %g wide",
								i + 1, hdr.lower[i], hdr.step[i]);
			return NULL;
		}
	if (!isfinite(hdr.rest_step) || !(hdr.rest_step > 0))
	{
		*problem = psprintf("sketch remainder has cells %g wide", hdr.rest_step);
		return NULL;
	}

	sk = palloc0(offsetof(OmenSketch, data) + sizeof(double) * (Size) dims * (k + 1));
	sk->size = offsetof(OmenSketch, data) + sizeof(double) * (Size) dims * (k + 1);
	sk->words = words;
	sk->directions = k;
	sk->dims = dims;
	for (int i = 0; i < k; i++)
	{
		sk->lower[i] = hdr.lower[i];
		sk->step[i] = hdr.step[i];
	}
	sk->rest_step = hdr.rest_step;
	floats = (const float4 *) (image + sizeof(SketchImageHeader));
	for (Size t = 0; t < (Size) dims * (k + 1); t++)
	{
		if (!isfinite(floats[t]))
		{
			*problem = psprintf("sketch value %zu is %g", t, floats[t]);
			pfree(sk);
			return NULL;
		}
		sk->data[t] = floats[t];
	}
	for (int i = 0; i < k; i++)
	{
		double	   *row = SketchDirection(sk, i);
		double		len = sqrt(dot(row, row, dims));

		if (fabs(len - 1) > SKETCH_UNIT_SLACK ||
			orthonormalize_row(SketchDirection(sk, 0), i, dims) < 1 - SKETCH_UNIT_SLACK)
		{
			*problem = psprintf("sketch direction %d is not a unit vector orthogonal to those before it",
								i + 1);
			pfree(sk);
			return NULL;
		}
	}
	return sk;
}

/* How far v lies outside [lo, hi]. */
static inline double
gap(double v, double lo, double hi)
{
	return v < lo ? lo - v : v > hi ? v - hi : 0;
}

/* The cell of a projection. */
static int
projection_cell(const OmenSketch *sk, int i, double p)
{
	double		c = floor((p - sk->lower[i]) / sk->step[i]) + 1;

	return c <= 0 ? 0 : c >= OMENDB_SKETCH_CELLS - 1 ? OMENDB_SKETCH_CELLS - 1 : (int) c;
}

/* The cell of a remainder's length. */
static int
rest_cell(const OmenSketch *sk, double r)
{
	double		c = floor(r / sk->rest_step);

	return c <= 0 ? 0 : c >= OMENDB_SKETCH_CELLS - 1 ? OMENDB_SKETCH_CELLS - 1 : (int) c;
}

static inline int
sketch_byte(const uint64 *words, int b)
{
	return (int) ((words[b / 8] >> (8 * (b % 8))) & 0xFF);
}

/*
 * Learn a sketch of words words from a sample of n vectors of dims
 * dimensions and their mean: its image, as the pages hold it.  Cells span
 * the sample's projections, the outermost two open-ended, so that a row
 * outside them still gets a (wider) cell.
 */
char *
omendb_sketch_train(const float *sample, int n, int dims, const float *mean,
					int words, Size *size)
{
	int			k = OmenSketchDirections(words);
	double	   *v = palloc(sizeof(double) * (Size) k * dims);
	double	   *y = palloc(sizeof(double) * dims);
	double		lo[OMENDB_SKETCH_MAX_DIRECTIONS];
	double		hi[OMENDB_SKETCH_MAX_DIRECTIONS];
	double		proj[OMENDB_SKETCH_MAX_DIRECTIONS];
	double		rest_max = 0;
	SketchImageHeader hdr;
	float4	   *floats;
	char	   *image;
	char	   *problem;
	OmenSketch *sk;

	principal_directions(sample, n, dims, mean, k, v);
	*size = sketch_image_size(words, dims);
	image = palloc0(*size);
	memset(&hdr, 0, sizeof(hdr));
	hdr.words = words;
	hdr.dims = dims;
	for (int i = 0; i < k; i++)
		hdr.step[i] = 1;
	hdr.rest_step = 1;
	memcpy(image, &hdr, sizeof(hdr));
	floats = (float4 *) (image + sizeof(SketchImageHeader));
	memcpy(floats, mean, sizeof(float4) * dims);
	for (Size t = 0; t < (Size) k * dims; t++)
		floats[dims + t] = (float4) v[t];

	/* the cells, from the directions as every reader will have them */
	sk = omendb_sketch_from_image(image, *size, words, dims, &problem);
	if (sk == NULL)
		elog(ERROR, "omendb could not learn a sketch: %s", problem);
	for (int i = 0; i < k; i++)
	{
		lo[i] = DBL_MAX;
		hi[i] = -DBL_MAX;
	}
	for (int r = 0; r < n; r++)
	{
		double		norm2;

		centered(sk, sample + (Size) r * dims, y);
		norm2 = project(sk, y, proj);
		for (int i = 0; i < k; i++)
		{
			lo[i] = Min(lo[i], proj[i]);
			hi[i] = Max(hi[i], proj[i]);
		}
		rest_max = Max(rest_max, rest_length(sk, norm2, proj));
	}
	for (int i = 0; i < k; i++)
	{
		double		step = (hi[i] - lo[i]) / OMENDB_SKETCH_CELLS;

		hdr.step[i] = (float4) Max(step, 1e-20);
		hdr.lower[i] = (float4) (lo[i] + hdr.step[i]);
		if (!isfinite(hdr.lower[i]) || !isfinite(hdr.step[i]))
		{
			hdr.lower[i] = 0;
			hdr.step[i] = 1;
		}
	}
	hdr.rest_step = rest_max > 0 && isfinite(rest_max / (OMENDB_SKETCH_CELLS - 1)) ?
		(float4) Max(rest_max / (OMENDB_SKETCH_CELLS - 1), 1e-20) : 1;
	memcpy(image, &hdr, sizeof(hdr));
	pfree(sk);
	pfree(v);
	pfree(y);
	return image;
}

/* A vector's sketch words. */
void
omendb_sketch_encode(const OmenSketch *sk, const float *x, uint64 *words)
{
	double	   *y = palloc(sizeof(double) * sk->dims);
	double		proj[OMENDB_SKETCH_MAX_DIRECTIONS];
	double		norm2;

	centered(sk, x, y);
	norm2 = project(sk, y, proj);
	memset(words, 0, sizeof(uint64) * sk->words);
	for (int i = 0; i < sk->directions; i++)
		words[i / 8] |= (uint64) projection_cell(sk, i, proj[i]) << (8 * (i % 8));
	words[sk->directions / 8] |=
		(uint64) rest_cell(sk, rest_length(sk, norm2, proj)) << (8 * (sk->directions % 8));
	pfree(y);
}

/*
 * Project a query for omendb_sketch_bound.  The executor computes the
 * distance in float: within a relative 8 (dims + 16) FLT_EPSILON of the
 * exact one, and an absolute sqrt(dims FLT_TRUE_MIN / 2) for terms that
 * underflow, as the scan's other L2 bounds allow (README.omendb,
 * "Magnitudes").
 */
void
omendb_sketch_query(const OmenSketch *sk, const float *q, OmenSketchQuery *sq)
{
	double	   *y = palloc(sizeof(double) * sk->dims);
	double		proj[OMENDB_SKETCH_MAX_DIRECTIONS];
	double		norm2;
	double		rest;

	centered(sk, q, y);
	norm2 = project(sk, y, proj);
	rest = rest_length(sk, norm2, proj);
	sq->bytes = sk->directions + 1;
	for (int i = 0; i < sk->directions; i++)
		for (int c = 0; c < OMENDB_SKETCH_CELLS; c++)
		{
			double		g = gap(proj[i],
								c == 0 ? -DBL_MAX : sk->lower[i] + (c - 1) * sk->step[i],
								c == OMENDB_SKETCH_CELLS - 1 ? DBL_MAX :
								sk->lower[i] + c * sk->step[i]);

			sq->gap2[i][c] = g * g;
		}
	for (int c = 0; c < OMENDB_SKETCH_CELLS; c++)
	{
		double		g = gap(rest, c * sk->rest_step,
							c == OMENDB_SKETCH_CELLS - 1 ? DBL_MAX : (c + 1) * sk->rest_step);

		sq->gap2[sk->directions][c] = g * g;
	}
	sq->scale = sqrt(norm2);
	sq->shrink = 1 - 8.0 * (sk->dims + 16) * FLT_EPSILON;
	sq->tiny = sqrt(sk->dims * (double) FLT_TRUE_MIN / 2);
	pfree(y);
}

/*
 * A lower bound on the distance the executor computes between the query
 * and the row whose sketch words these are.
 */
double
omendb_sketch_bound(const OmenSketchQuery *sq, const uint64 *words)
{
	double		sum = 0;
	double		lb;

	for (int b = 0; b < sq->bytes; b++)
		sum += sq->gap2[b][sketch_byte(words, b)];
	lb = sqrt(sum);
	lb = lb * sq->shrink - SKETCH_DOUBLE_SLACK * (sq->scale + lb) - sq->tiny;
	return lb > 0 ? lb : 0;
}

/* Write the sketch's pages, blocks first on (a build's, or a new relation's). */
void
omendb_write_sketch_pages(Relation index, const char *image, Size size,
						  BlockNumber first, ForkNumber fork, bool use_wal)
{
	for (Size off = 0; off < size; off += SKETCH_PAGE_BYTES)
		omendb_write_item_page(index, first + off / SKETCH_PAGE_BYTES, fork,
							   use_wal, OMENDB_PAGE_SKETCH, image + off,
							   Min(size - off, SKETCH_PAGE_BYTES));
}

/* Read (and check) the sketch pages of an index whose entries carry sketches. */
OmenSketch *
omendb_read_sketch(Relation index, const OmenMetaPageData *meta)
{
	Size		size = sketch_image_size(meta->sketch_words, meta->dimensions);
	char	   *image = palloc(size);
	BlockNumber first = omendb_sketch_first_block(meta);
	BlockNumber npages = omendb_sketch_blocks(meta->sketch_words, meta->dimensions);
	OmenSketch *sk;
	char	   *problem;

	if (RelationGetNumberOfBlocks(index) < first + npages)
		omendb_corrupted(index, "The index has %u blocks, but its meta page places %u sketch pages from block %u.",
						 RelationGetNumberOfBlocks(index), npages, first);
	for (BlockNumber p = 0; p < npages; p++)
	{
		Size		off = (Size) p * SKETCH_PAGE_BYTES;
		Size		len = Min(size - off, SKETCH_PAGE_BYTES);
		Buffer		buf = ReadBuffer(index, first + p);
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		problem = omendb_item_page_problem(page, OMENDB_PAGE_SKETCH, len);
		if (problem != NULL)
			omendb_corrupted(index, "Block %u: %s.", first + p, problem);
		memcpy(image + off, PageGetItem(page, PageGetItemId(page, FirstOffsetNumber)),
			   len);
		UnlockReleaseBuffer(buf);
	}
	sk = omendb_sketch_from_image(image, size, meta->sketch_words,
								  meta->dimensions, &problem);
	if (sk == NULL)
		omendb_corrupted(index, "Block %u: %s.", first, problem);
	pfree(image);
	return sk;
}
