/*
 * code-sim: how well would a 1-bit traversal code rank a query's
 * neighbourhood?  An offline experiment for the next node format (see
 * src/README.omendb, "Where a query's time goes"), not part of the index.
 *
 * Fashion-MNIST (Debian's dataset-fashion-mnist): for each of the first
 * 200 test images, take the S nearest training images by exact L2 (a
 * stand-in for the nodes a search meets), rank them by the estimate of a
 * RaBitQ-style code -- the sign bits of x - c after a randomized Hadamard
 * rotation, plus |x - c| and <xbar, o> -- and report which fraction of the
 * true 10 nearest are among the first K by estimate, that is, recall@10
 * if a scan read the SQ8 code (for the exact order) of only K nodes.
 *
 * Usage: bench/code-sim [S [mid]] (S default 320; with "mid", c is the
 * midpoint of each dimension's range instead of the mean, which an index
 * could take from its SQ8 ranges without storing a centroid)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define DIM 784
#define PDIM 1024				/* DIM padded to a power of two */
#define NQUERIES 200
#define DATA "/usr/share/datasets/fashion-mnist/"

typedef struct
{
	double		key;
	int			id;
} Ranked;

static float signs[PDIM];

static float *
load_images(const char *path, int *n)
{
	gzFile		f = gzopen(path, "rb");
	unsigned char h[16];
	unsigned char *b;
	float	   *x;

	if (f == NULL || gzread(f, h, 16) != 16)
	{
		fprintf(stderr, "code-sim: cannot read %s\n", path);
		exit(1);
	}
	*n = (h[4] << 24) | (h[5] << 16) | (h[6] << 8) | h[7];
	b = malloc((size_t) *n * DIM);
	x = malloc(sizeof(float) * (size_t) *n * DIM);
	if (gzread(f, b, (unsigned) ((size_t) *n * DIM)) != (int) ((size_t) *n * DIM))
	{
		fprintf(stderr, "code-sim: short read in %s\n", path);
		exit(1);
	}
	gzclose(f);
	for (size_t i = 0; i < (size_t) *n * DIM; i++)
		x[i] = b[i];
	free(b);
	return x;
}

/* y = H diag(signs) pad(x - c) / sqrt(PDIM): an orthogonal rotation */
static void
rotate(const float *x, const float *c, float *y)
{
	for (int i = 0; i < PDIM; i++)
		y[i] = i < DIM ? (x[i] - c[i]) * signs[i] : 0;
	for (int h = 1; h < PDIM; h *= 2)
		for (int i = 0; i < PDIM; i += 2 * h)
			for (int j = i; j < i + h; j++)
			{
				float		a = y[j];
				float		b = y[j + h];

				y[j] = a + b;
				y[j + h] = a - b;
			}
	for (int i = 0; i < PDIM; i++)
		y[i] /= sqrtf(PDIM);
}

static int
ranked_cmp(const void *a, const void *b)
{
	double		x = ((const Ranked *) a)->key;
	double		y = ((const Ranked *) b)->key;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	static const int ks[] = {10, 15, 20, 30, 50, 80};
	int			nk = sizeof(ks) / sizeof(ks[0]);
	int			s = argc > 1 ? atoi(argv[1]) : 320;
	int			n;
	int			nq;
	float	   *x = load_images(DATA "train-images-idx3-ubyte.gz", &n);
	float	   *q = load_images(DATA "t10k-images-idx3-ubyte.gz", &nq);
	float		c[DIM] = {0};
	float		y[PDIM];
	uint8_t    *bits = calloc((size_t) n, PDIM / 8);
	double	   *norm = malloc(sizeof(double) * n);
	double	   *factor = malloc(sizeof(double) * n);
	Ranked	   *all = malloc(sizeof(Ranked) * n);
	Ranked	   *near;
	double		recall[6] = {0};

	if (s < 10 || s > n)
		s = 320;
	near = malloc(sizeof(Ranked) * s);
	srand(42);
	for (int i = 0; i < PDIM; i++)
		signs[i] = (rand() & 1) ? 1 : -1;
	if (argc > 2 && strcmp(argv[2], "mid") == 0)
	{
		for (int d = 0; d < DIM; d++)
		{
			float		lo = x[d];
			float		hi = x[d];

			for (int i = 1; i < n; i++)
			{
				lo = fminf(lo, x[(size_t) i * DIM + d]);
				hi = fmaxf(hi, x[(size_t) i * DIM + d]);
			}
			c[d] = (lo + hi) / 2;
		}
	}
	else
		for (int i = 0; i < n; i++)
			for (int d = 0; d < DIM; d++)
				c[d] += x[(size_t) i * DIM + d] / n;

	/* encode: sign bits, |x - c|, and <xbar, o> = sum|y| / (sqrt(P) |y|) */
	for (int i = 0; i < n; i++)
	{
		double		ss = 0;
		double		sa = 0;

		rotate(x + (size_t) i * DIM, c, y);
		for (int k = 0; k < PDIM; k++)
		{
			ss += (double) y[k] * y[k];
			sa += fabs(y[k]);
			if (y[k] > 0)
				bits[(size_t) i * PDIM / 8 + k / 8] |= 1 << (k % 8);
		}
		norm[i] = sqrt(ss);
		factor[i] = ss > 0 ? sa / (sqrt(PDIM) * sqrt(ss)) : 1;
	}

	for (int t = 0; t < NQUERIES && t < nq; t++)
	{
		const float *qv = q + (size_t) t * DIM;
		double		qq = 0;

		rotate(qv, c, y);
		for (int k = 0; k < PDIM; k++)
			qq += (double) y[k] * y[k];
		for (int i = 0; i < n; i++)
		{
			double		d2 = 0;

			for (int d = 0; d < DIM; d++)
			{
				double		e = qv[d] - x[(size_t) i * DIM + d];

				d2 += e * e;
			}
			all[i].key = d2;
			all[i].id = i;
		}
		qsort(all, n, sizeof(Ranked), ranked_cmp);

		/* estimated |q - x|^2 of the s nearest; ids below 10 are the truth */
		for (int j = 0; j < s; j++)
		{
			int			i = all[j].id;
			double		dot = 0;
			double		ip;

			for (int k = 0; k < PDIM; k++)
				dot += ((bits[(size_t) i * PDIM / 8 + k / 8] >> (k % 8)) & 1) ? y[k] : -y[k];
			ip = norm[i] * dot / sqrt(PDIM) / factor[i];
			near[j].key = norm[i] * norm[i] + qq - 2 * ip;
			near[j].id = j;
		}
		qsort(near, s, sizeof(Ranked), ranked_cmp);
		for (int a = 0; a < nk; a++)
		{
			int			hits = 0;

			for (int j = 0; j < ks[a] && j < s; j++)
				hits += near[j].id < 10;
			recall[a] += hits / 10.0;
		}
	}
	printf("S=%d nearest, %d queries, centroid %s: recall@10 after reading the codes of the first K by estimate\n",
		   s, NQUERIES, argc > 2 && strcmp(argv[2], "mid") == 0 ? "range midpoint" : "mean");
	for (int a = 0; a < nk; a++)
		printf("  K=%-3d %.4f\n", ks[a], recall[a] / NQUERIES);
	return 0;
}
