/*-------------------------------------------------------------------------
 *
 * omendb-bench.c
 *	  Recall and throughput benchmark for the omendb index access method.
 *
 * The program loads a data set into a table "items", computes the exact
 * k nearest neighbours of every query client-side, measures the cost of
 * the client path alone (a primary-key lookup that ships the same vector
 * parameter), builds the index with user-given SQL and then, for each
 * search setting in a sweep, times one client running all queries as a
 * prepared statement.  Results go to a CSV file and a recall-vs-QPS plot.
 *
 * Data sets: Fashion-MNIST from Debian's dataset-fashion-mnist package
 * (60,000 x 784 training images as rows, test images as queries) or
 * deterministic synthetic Gaussian clusters.
 *
 * Two other runs follow the index as the table changes under it instead
 * of sweeping one build: --churn (rounds of deleting a share of the rows,
 * re-inserting the same vectors as new rows and VACUUM) and --build-empty
 * (the index created on the empty table, the rows loaded after), each
 * measured against a fresh build on the same final rows.
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <zlib.h>

/* Type OID of int4; fixed in every PostgreSQL release. */
#define INT4OID				23
#define FLOAT8OID			701

#define DEFAULT_DATA_DIR	"/usr/share/datasets/fashion-mnist"
#define DEFAULT_QUERIES		1000
#define DEFAULT_K			10
#define DEFAULT_THREADS		2
#define DEFAULT_FLOOR_LOOKUPS 5000
#define FLOOR_MIN_PASSES	5
#define DEFAULT_SEED		42

/* --churn and --build-empty */
#define DEFAULT_CHURN_ROUNDS	10
#define DEFAULT_DELETE_PERCENT	20.0
#define DEFAULT_STATE_QUERIES	300
#define DEFAULT_STATE_REPEAT	3
#define DEFAULT_STATE_SWEEP \
	"|SET omendb.search_list_size=80|SET omendb.search_list_size=160"
#define STATE_PAIR_ROUNDS		5	/* last state against fresh, in turn */

/*
 * --filters: the filter columns of items (see make_filter_columns) and the
 * size of its runs.
 */
#define FILTER_TENANTS		1000
#define FILTER_TAGS			500
#define FILTER_MAX_TAGS		5
#define FILTER_BUCKET		10	/* tenants per tenant-size bucket */
#define FILTER_MIN_ROWS		10	/* rows of a bucket's smallest tenant, at least */
#define DEFAULT_FILTER_QUERIES	200
#define DEFAULT_FILTER_REPEAT	7

/* Synthetic data: this many cluster centres, points spread around them. */
#define SYNTH_CLUSTERS		100
#define SYNTH_SIGMA			0.5

/*
 * A returned row whose exact distance is within this relative tolerance of
 * the k-th true distance counts as a hit: the server computes distances in
 * float, so it may order near-ties differently from our double arithmetic.
 */
#define TIE_TOLERANCE		1e-5

/* Bytes of COPY data to buffer before handing them to libpq. */
#define COPY_CHUNK			(1 << 20)

typedef enum Metric
{
	METRIC_L2,
	METRIC_IP,
	METRIC_COSINE,
	METRIC_L1
} Metric;

static const char *const metric_names[] = {"l2", "ip", "cosine", "l1"};
static const char *const metric_operators[] = {"<->", "<#>", "<=>", "<+>"};

typedef struct BenchOptions
{
	const char *conninfo;
	const char *data_dir;
	const char *index_sql;		/* NULL: default for the metric */
	const char *sweep;			/* '|'-separated SQL snippets */
	const char *session_sql;	/* run before every snippet */
	const char *name;			/* base name of output files */
	const char *out_dir;
	const char *extension;		/* provides the vector type */
	int			synthetic_n;	/* 0: use Fashion-MNIST */
	int			synthetic_dim;
	int			synthetic_latent;	/* 0: clusters in the full dimension */
	int			rows;			/* 0: all */
	int			queries;
	int			k;
	Metric		metric;
	bool		no_index;
	bool		category;
	bool		reuse_table;
	const char *storage;		/* storage of the embedding column, or NULL */
	bool		no_plot;
	const char *query_table;	/* also load the queries here, or NULL */
	bool		load_only;
	int			threads;
	int			repeat;
	int			floor_lookups;
	uint64_t	seed;
	bool		queries_given;
	bool		repeat_given;
	double		scale_first_row;	/* 0: rows as loaded */
	bool		churn;
	int			churn_rounds;
	double		delete_percent;
	bool		vacuum_first;	/* VACUUM between DELETE and re-insert */
	bool		build_empty;
	int			radius_rows;	/* --radius: rows per query (0: off) */
	bool		filters;		/* --filters: filtered workloads */
	bool		filter_btree;	/* and btree (GIN) indexes on their columns */
	int			filter_k;		/* LIMIT of the filtered queries */
} BenchOptions;

/*
 * The filter columns of each row (--filters): c10, c100 and c1000 uniform
 * over 10, 100 and 1,000 values, tenant 1..FILTER_TENANTS of Zipf sizes
 * (tenant 1 the largest), and tags, 1 to FILTER_MAX_TAGS distinct values
 * of 1..FILTER_TAGS.
 */
typedef struct FilterColumns
{
	int32_t    *c10;
	int32_t    *c100;
	int32_t    *c1000;
	int32_t    *tenant;
	int			tenant_rows[FILTER_TENANTS + 1];	/* rows of each tenant */
	uint8_t    *ntags;
	int32_t    *tags;			/* FILTER_MAX_TAGS per row, ntags[r] used */
} FilterColumns;

typedef struct Dataset
{
	char		key[128];		/* identifies the data for the truth cache */
	int			dim;
	int			nrows;
	float	   *rows;			/* nrows x dim, row i has id i + 1 */
	int		   *category;		/* nrows labels, or NULL */
	FilterColumns *filters;		/* --filters, or NULL */
	int			nqueries;
	float	   *queries;		/* nqueries x dim */

	/*
	 * Row r has id r + 1 until --churn deletes it and inserts its vector
	 * again under a new id: then row_id[r] is its id, and id_row[id] the
	 * row of an id in the table (-1 for one deleted).  NULL: r + 1.
	 */
	int32_t    *row_id;
	int		   *id_row;
	int32_t		id_cap;			/* entries of id_row */
	int32_t		next_id;
} Dataset;

/* Exact neighbours: ids (1-based) and distances, k per query, nearest first. */
typedef struct Truth
{
	int			nqueries;
	int			k;
	int32_t    *ids;
	double	   *dist;
} Truth;

/* The vector parameter of each query, pre-encoded in binary wire format. */
typedef struct QueryParams
{
	int			nqueries;
	int			len;
	char	   *buf;			/* nqueries x len */
} QueryParams;

/* Outcome of one timed pass. */
typedef struct PassResult
{
	double		qps;
	double		p50;
	double		p95;
	double		p99;
	double		recall;
} PassResult;

/*
 * One line of the results: a search setting, its median pass, and the
 * index time per query, the median over repeats of the search pass's time
 * per query less that of a floor pass run just before it.
 */
typedef struct SettingResult
{
	char	   *setting;
	PassResult	pass;
	double		index_ms;
	double		index_cpu_ms;	/* the same of the backend's CPU time, or NAN */
	double		floor_qps;		/* median of the floor passes beside it */
	double		nodes_met;		/* per query, from omendb_scan_stats(), or NAN */
	double		page_visits;	/* the same of its pages_pinned */
} SettingResult;

/* ---------------------------------------------------------------- */
/* Small utilities													 */
/* ---------------------------------------------------------------- */

static void die(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt,...)
{
	va_list		ap;

	fflush(stdout);
	fprintf(stderr, "omendb-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void progress(const char *fmt,...) __attribute__((format(printf, 1, 2)));

/* Progress goes to stderr so stdout holds only the results table. */
static void
progress(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void *
xmalloc(size_t size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
		die("out of memory allocating %zu bytes", size);
	return p;
}

static char *
xstrdup(const char *s)
{
	char	   *p = strdup(s);

	if (p == NULL)
		die("out of memory");
	return p;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
parse_positive_int(const char *s, const char *what)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > INT32_MAX)
		die("invalid %s: \"%s\"", what, s);
	return (int) v;
}

static double
parse_positive_double(const char *s, const char *what)
{
	char	   *end;
	double		v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v > 0) || isinf(v))
		die("invalid %s: \"%s\"", what, s);
	return v;
}

static int
compare_doubles(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double
percentile(const double *sorted, int n, double p)
{
	int			rank = (int) ceil(p * n);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

static void
ensure_dir(const char *path)
{
	if (mkdir(path, 0777) != 0 && errno != EEXIST)
		die("could not create directory \"%s\": %s", path, strerror(errno));
}

/* The id row r of the data has in the table. */
static int32_t
row_to_id(const Dataset *ds, int r)
{
	return ds->row_id ? ds->row_id[r] : r + 1;
}

/* The row of the data an id of the table holds, or -1 if none. */
static int
id_to_row(const Dataset *ds, int32_t id)
{
	if (ds->row_id == NULL)
		return id >= 1 && id <= ds->nrows ? id - 1 : -1;
	return id >= 1 && id < ds->id_cap ? ds->id_row[id] : -1;
}

/* Row r is deleted and inserted again: give it the next id. */
static int32_t
renumber_row(Dataset *ds, int r)
{
	int32_t		id;

	if (ds->row_id == NULL)
	{
		ds->id_cap = ds->nrows + 1;
		ds->row_id = xmalloc((size_t) ds->nrows * sizeof(int32_t));
		ds->id_row = xmalloc((size_t) ds->id_cap * sizeof(int));
		ds->id_row[0] = -1;
		for (int i = 0; i < ds->nrows; i++)
		{
			ds->row_id[i] = i + 1;
			ds->id_row[i + 1] = i;
		}
		ds->next_id = ds->nrows + 1;
	}
	if (ds->next_id == INT32_MAX)
		die("out of ids");
	id = ds->next_id++;
	if (id >= ds->id_cap)
	{
		int32_t		cap = ds->id_cap < INT32_MAX / 2 ? ds->id_cap * 2 : INT32_MAX;
		int		   *grown = realloc(ds->id_row, (size_t) cap * sizeof(int));

		if (grown == NULL)
			die("out of memory");
		for (int32_t i = ds->id_cap; i < cap; i++)
			grown[i] = -1;
		ds->id_row = grown;
		ds->id_cap = cap;
	}
	ds->id_row[ds->row_id[r]] = -1;
	ds->id_row[id] = r;
	ds->row_id[r] = id;
	return id;
}

/* ---------------------------------------------------------------- */
/* Fashion-MNIST (IDX files, gzip)									 */
/* ---------------------------------------------------------------- */

static gzFile
open_gz(const char *dir, const char *file, char *path, size_t pathlen)
{
	gzFile		f;

	snprintf(path, pathlen, "%s/%s", dir, file);
	f = gzopen(path, "rb");
	if (f == NULL)
		die("could not open \"%s\" (apt-get install dataset-fashion-mnist?)",
			path);
	return f;
}

static void
read_gz_exact(gzFile f, const char *path, void *buf, size_t len)
{
	char	   *p = buf;

	/* gzread takes an unsigned int length, so read in pieces. */
	while (len > 0)
	{
		unsigned	chunk = len > (1u << 30) ? (1u << 30) : (unsigned) len;
		int			got = gzread(f, p, chunk);

		if (got <= 0)
			die("could not read \"%s\": truncated or corrupt", path);
		p += got;
		len -= got;
	}
}

static uint32_t
read_gz_be32(gzFile f, const char *path)
{
	uint32_t	v;

	read_gz_exact(f, path, &v, sizeof(v));
	return ntohl(v);
}

/*
 * Read up to limit images (0: all) of an IDX3 file as float rows of raw
 * pixel values 0..255, as ann-benchmarks' fashion-mnist-784 does.
 */
static float *
load_idx_images(const char *dir, const char *file, int limit,
				int *n_out, int *dim_out)
{
	char		path[1024];
	gzFile		f = open_gz(dir, file, path, sizeof(path));
	uint32_t	n,
				dim;
	size_t		total;
	unsigned char *bytes;
	float	   *rows;

	if (read_gz_be32(f, path) != 0x00000803)
		die("\"%s\" is not an IDX3 ubyte file", path);
	n = read_gz_be32(f, path);
	dim = read_gz_be32(f, path);
	dim *= read_gz_be32(f, path);
	if (limit > 0 && (uint32_t) limit < n)
		n = limit;

	total = (size_t) n * dim;
	bytes = xmalloc(total);
	read_gz_exact(f, path, bytes, total);
	gzclose(f);

	rows = xmalloc(total * sizeof(float));
	for (size_t i = 0; i < total; i++)
		rows[i] = bytes[i];
	free(bytes);

	*n_out = (int) n;
	*dim_out = (int) dim;
	return rows;
}

static int *
load_idx_labels(const char *dir, const char *file, int n)
{
	char		path[1024];
	gzFile		f = open_gz(dir, file, path, sizeof(path));
	unsigned char *bytes;
	int		   *labels;

	if (read_gz_be32(f, path) != 0x00000801)
		die("\"%s\" is not an IDX1 ubyte file", path);
	if (read_gz_be32(f, path) < (uint32_t) n)
		die("\"%s\" has fewer than %d labels", path, n);

	bytes = xmalloc(n);
	read_gz_exact(f, path, bytes, n);
	gzclose(f);

	labels = xmalloc(n * sizeof(int));
	for (int i = 0; i < n; i++)
		labels[i] = bytes[i];
	free(bytes);
	return labels;
}

static void
load_fashion_mnist(const BenchOptions *opt, Dataset *ds)
{
	int			qdim;

	snprintf(ds->key, sizeof(ds->key), "fashion-mnist");
	ds->rows = load_idx_images(opt->data_dir, "train-images-idx3-ubyte.gz",
							   opt->rows, &ds->nrows, &ds->dim);
	ds->category = load_idx_labels(opt->data_dir, "train-labels-idx1-ubyte.gz",
								   ds->nrows);
	ds->queries = load_idx_images(opt->data_dir, "t10k-images-idx3-ubyte.gz",
								  opt->queries, &ds->nqueries, &qdim);
	if (qdim != ds->dim)
		die("test images have %d dimensions, training images %d",
			qdim, ds->dim);
	if (ds->nqueries < opt->queries)
		die("only %d test images available", ds->nqueries);
}

/* ---------------------------------------------------------------- */
/* Synthetic data													 */
/* ---------------------------------------------------------------- */

/* splitmix64: tiny, fast and the same on every platform. */
static uint64_t
rng_next(uint64_t *state)
{
	uint64_t	z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1]: never zero, so log() below is safe. */
static double
rng_uniform(uint64_t *state)
{
	return ((rng_next(state) >> 11) + 1) * 0x1.0p-53;
}

/* Standard normal by Box-Muller (one value per call keeps it stateless). */
static double
rng_gauss(uint64_t *state)
{
	double		u = rng_uniform(state);
	double		v = rng_uniform(state);

	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* Draw n points from the mixture: a random centre plus Gaussian noise. */
static void
generate_points(const float *centres, int dim, int n, uint64_t seed,
				float *out, int *cluster_out)
{
	uint64_t	state = seed;

	for (int i = 0; i < n; i++)
	{
		int			c = (int) (rng_next(&state) % SYNTH_CLUSTERS);
		const float *centre = centres + (size_t) c * dim;
		float	   *x = out + (size_t) i * dim;

		for (int j = 0; j < dim; j++)
			x[j] = (float) (centre[j] + SYNTH_SIGMA * rng_gauss(&state));
		if (cluster_out)
			cluster_out[i] = c;
	}
}

/*
 * Map points drawn in a latent space of k dimensions into dim dimensions
 * with a fixed random Gaussian matrix (scaled by 1/sqrt(k)), plus a little
 * isotropic noise: data of low intrinsic dimension, like real embeddings,
 * where Gaussian clusters in the full dimension make every point about
 * equally far from every other.
 */
static float *
embed_latent(const float *z, int n, int k, int dim, uint64_t seed)
{
	uint64_t	state = seed;
	float	   *a = xmalloc((size_t) dim * k * sizeof(float));
	float	   *x = xmalloc((size_t) n * dim * sizeof(float));

	for (size_t i = 0; i < (size_t) dim * k; i++)
		a[i] = (float) (rng_gauss(&state) / sqrt((double) k));
	for (int i = 0; i < n; i++)
		for (int j = 0; j < dim; j++)
		{
			double		v = 0.05 * rng_gauss(&state);

			for (int l = 0; l < k; l++)
				v += (double) a[(size_t) j * k + l] * z[(size_t) i * k + l];
			x[(size_t) i * dim + j] = (float) v;
		}
	free(a);
	return x;
}

/*
 * Gaussian clusters around SYNTH_CLUSTERS random centres, so that true
 * neighbours are structured (as in real embeddings) and ANN is meaningful.
 * Rows, queries and centres use separate seed streams, so taking a row
 * subset or changing the query count leaves the other parts unchanged.
 */
static void
generate_synthetic(const BenchOptions *opt, Dataset *ds)
{
	int			n = opt->synthetic_n;
	int			dim = opt->synthetic_latent > 0 ? opt->synthetic_latent : opt->synthetic_dim;
	uint64_t	state = opt->seed;
	float	   *centres;
	int		   *cluster;

	if (opt->rows > 0 && opt->rows < n)
		n = opt->rows;
	snprintf(ds->key, sizeof(ds->key), "synthetic-%dx%d-l%d-s%llu",
			 opt->synthetic_n, opt->synthetic_dim, opt->synthetic_latent,
			 (unsigned long long) opt->seed);
	ds->dim = dim;
	ds->nrows = n;
	ds->nqueries = opt->queries;

	centres = xmalloc((size_t) SYNTH_CLUSTERS * dim * sizeof(float));
	for (size_t i = 0; i < (size_t) SYNTH_CLUSTERS * dim; i++)
		centres[i] = (float) rng_gauss(&state);

	ds->rows = xmalloc((size_t) n * dim * sizeof(float));
	ds->category = xmalloc((size_t) n * sizeof(int));
	cluster = ds->category;
	generate_points(centres, dim, n, rng_next(&state), ds->rows, cluster);
	for (int i = 0; i < n; i++)
		ds->category[i] = cluster[i] % 10;

	ds->queries = xmalloc((size_t) ds->nqueries * dim * sizeof(float));
	generate_points(centres, dim, ds->nqueries, rng_next(&state),
					ds->queries, NULL);
	free(centres);

	if (opt->synthetic_latent > 0)
	{
		uint64_t	embed_seed = rng_next(&state);
		float	   *rows = embed_latent(ds->rows, n, dim, opt->synthetic_dim, embed_seed);
		float	   *queries;

		/* the same matrix for queries: restart its stream */
		queries = embed_latent(ds->queries, ds->nqueries, dim, opt->synthetic_dim, embed_seed);
		free(ds->rows);
		free(ds->queries);
		ds->rows = rows;
		ds->queries = queries;
		ds->dim = opt->synthetic_dim;
	}
}

/*
 * --scale-first-row: row 1 (the first a load inserts, whose vector trains
 * the quantizer of an index built empty) multiplied by a factor.  The data
 * key changes with it, so the exact neighbours are cached apart.
 */
static void
scale_first_row(const BenchOptions *opt, Dataset *ds)
{
	size_t		len = strlen(ds->key);

	if (opt->scale_first_row == 0)
		return;
	for (int j = 0; j < ds->dim; j++)
		ds->rows[j] = (float) (ds->rows[j] * opt->scale_first_row);
	snprintf(ds->key + len, sizeof(ds->key) - len, "-first%g",
			 opt->scale_first_row);
}

/* ---------------------------------------------------------------- */
/* Filter columns (--filters)										 */
/* ---------------------------------------------------------------- */

/*
 * The filter columns are drawn from the seed, independently of the
 * vectors: a filter selects rows scattered over the whole graph, and the
 * exact filtered answers can be computed here.  Each column has a random
 * stream of its own, read in row order, so that --rows N keeps the first
 * N rows' uniform values and tags.
 */
static int32_t *
uniform_column(int n, int values, uint64_t seed)
{
	uint64_t	state = seed;
	int32_t    *column = xmalloc((size_t) n * sizeof(int32_t));

	for (int r = 0; r < n; r++)
		column[r] = (int32_t) (rng_next(&state) % (uint64_t) values);
	return column;
}

/*
 * Tenant t holds n / (t H) rows (Zipf, s = 1; H the harmonic number of
 * FILTER_TENANTS), rounded by largest remainder so that the sizes add up
 * to n and stay in tenant order; the rows are then dealt to the tenants in
 * a random order.
 */
static void
deal_zipf_tenants(FilterColumns *fc, int n, uint64_t seed)
{
	double		harmonic = 0;
	double		remainder[FILTER_TENANTS + 1];
	int			dealt = 0;
	int		   *perm = xmalloc((size_t) n * sizeof(int));
	uint64_t	state = seed;
	int			r = 0;

	for (int t = 1; t <= FILTER_TENANTS; t++)
		harmonic += 1.0 / t;
	fc->tenant_rows[0] = 0;
	for (int t = 1; t <= FILTER_TENANTS; t++)
	{
		double		share = n / (t * harmonic);

		fc->tenant_rows[t] = (int) share;
		remainder[t] = share - fc->tenant_rows[t];
		dealt += fc->tenant_rows[t];
	}
	/* fewer rows left over than tenants: one more each, largest first */
	while (dealt < n)
	{
		int			best = 1;

		for (int t = 2; t <= FILTER_TENANTS; t++)
			if (remainder[t] > remainder[best])
				best = t;
		fc->tenant_rows[best]++;
		remainder[best] = -1;
		dealt++;
	}

	for (int i = 0; i < n; i++)
		perm[i] = i;
	for (int i = n - 1; i > 0; i--)
	{
		int			j = (int) (rng_next(&state) % (uint64_t) (i + 1));
		int			tmp = perm[i];

		perm[i] = perm[j];
		perm[j] = tmp;
	}
	fc->tenant = xmalloc((size_t) n * sizeof(int32_t));
	for (int t = 1; t <= FILTER_TENANTS; t++)
		for (int i = 0; i < fc->tenant_rows[t]; i++)
			fc->tenant[perm[r++]] = t;
	free(perm);
}

/* 1 to FILTER_MAX_TAGS distinct tags per row, uniform, in ascending order. */
static void
draw_tags(FilterColumns *fc, int n, uint64_t seed)
{
	uint64_t	state = seed;

	fc->ntags = xmalloc((size_t) n);
	fc->tags = xmalloc((size_t) n * FILTER_MAX_TAGS * sizeof(int32_t));
	for (int r = 0; r < n; r++)
	{
		int32_t    *tags = fc->tags + (size_t) r * FILTER_MAX_TAGS;
		int			want = 1 + (int) (rng_next(&state) % FILTER_MAX_TAGS);
		int			have = 0;

		while (have < want)
		{
			int32_t		tag = 1 + (int32_t) (rng_next(&state) % FILTER_TAGS);
			int			i = have;

			for (int j = 0; j < have; j++)
				if (tags[j] == tag)
					i = -1;
			if (i < 0)
				continue;
			while (i > 0 && tags[i - 1] > tag)
			{
				tags[i] = tags[i - 1];
				i--;
			}
			tags[i] = tag;
			have++;
		}
		fc->ntags[r] = (uint8_t) have;
	}
}

static FilterColumns *
make_filter_columns(int n, uint64_t seed)
{
	FilterColumns *fc = xmalloc(sizeof(FilterColumns));
	uint64_t	state = seed ^ 0x66696c74657273ULL;	/* "filters" */

	fc->c10 = uniform_column(n, 10, rng_next(&state));
	fc->c100 = uniform_column(n, 100, rng_next(&state));
	fc->c1000 = uniform_column(n, 1000, rng_next(&state));
	deal_zipf_tenants(fc, n, rng_next(&state));
	draw_tags(fc, n, rng_next(&state));
	return fc;
}

/* ---------------------------------------------------------------- */
/* Exact neighbours													 */
/* ---------------------------------------------------------------- */

/*
 * Kernels accumulate in double with four independent sums: exact for the
 * integer-valued Fashion-MNIST data, and the split keeps the FPU busy.
 */
static double
l2_squared_double(const float *a, const float *b, int n)
{
	double		s0 = 0,
				s1 = 0,
				s2 = 0,
				s3 = 0;
	int			i;

	for (i = 0; i + 4 <= n; i += 4)
	{
		double		d0 = (double) a[i] - b[i];
		double		d1 = (double) a[i + 1] - b[i + 1];
		double		d2 = (double) a[i + 2] - b[i + 2];
		double		d3 = (double) a[i + 3] - b[i + 3];

		s0 += d0 * d0;
		s1 += d1 * d1;
		s2 += d2 * d2;
		s3 += d3 * d3;
	}
	for (; i < n; i++)
	{
		double		d = (double) a[i] - b[i];

		s0 += d * d;
	}
	return (s0 + s1) + (s2 + s3);
}

static double
dot_double(const float *a, const float *b, int n)
{
	double		s0 = 0,
				s1 = 0,
				s2 = 0,
				s3 = 0;
	int			i;

	for (i = 0; i + 4 <= n; i += 4)
	{
		s0 += (double) a[i] * b[i];
		s1 += (double) a[i + 1] * b[i + 1];
		s2 += (double) a[i + 2] * b[i + 2];
		s3 += (double) a[i + 3] * b[i + 3];
	}
	for (; i < n; i++)
		s0 += (double) a[i] * b[i];
	return (s0 + s1) + (s2 + s3);
}

static double
l1_double(const float *a, const float *b, int n)
{
	double		s0 = 0,
				s1 = 0;
	int			i;

	for (i = 0; i + 2 <= n; i += 2)
	{
		s0 += fabs((double) a[i] - b[i]);
		s1 += fabs((double) a[i + 1] - b[i + 1]);
	}
	for (; i < n; i++)
		s0 += fabs((double) a[i] - b[i]);
	return s0 + s1;
}

/*
 * Distance under the metric, ordered as the SQL operator orders: squared
 * L2 (same order as <->), negative inner product (<#>), cosine distance
 * (<=>), L1 (<+>).  norms are the vectors' L2 norms, needed for cosine only.
 */
static double
metric_distance(Metric metric, const float *a, double norm_a,
				const float *b, double norm_b, int dim)
{
	switch (metric)
	{
		case METRIC_L2:
			return l2_squared_double(a, b, dim);
		case METRIC_IP:
			return -dot_double(a, b, dim);
		case METRIC_COSINE:
			/* A zero vector has no direction: rank it last. */
			if (norm_a == 0 || norm_b == 0)
				return DBL_MAX;
			return 1.0 - dot_double(a, b, dim) / (norm_a * norm_b);
		case METRIC_L1:
			return l1_double(a, b, dim);
	}
	return 0;
}

static double
vector_norm(const float *a, int dim)
{
	return sqrt(dot_double(a, a, dim));
}

/* Insert (id, dist) into a sorted top-k list of *count entries. */
static void
topk_insert(int32_t *ids, double *dist, int k, int *count,
			int32_t id, double d)
{
	int			i;

	/* Ties keep the earlier (lower) id, so the result is deterministic. */
	if (*count == k && !(d < dist[k - 1]))
		return;
	i = (*count < k) ? (*count)++ : k - 1;
	while (i > 0 && dist[i - 1] > d)
	{
		dist[i] = dist[i - 1];
		ids[i] = ids[i - 1];
		i--;
	}
	dist[i] = d;
	ids[i] = id;
}

typedef struct TruthWorker
{
	pthread_t	thread;
	const Dataset *ds;
	const double *row_norms;
	Metric		metric;
	Truth	   *truth;
	int			first;			/* this worker does queries first, first+step.. */
	int			step;
} TruthWorker;

static void *
truth_worker_main(void *arg)
{
	TruthWorker *w = arg;
	const Dataset *ds = w->ds;
	int			k = w->truth->k;

	for (int q = w->first; q < ds->nqueries; q += w->step)
	{
		const float *query = ds->queries + (size_t) q * ds->dim;
		double		qnorm = vector_norm(query, ds->dim);
		int32_t    *ids = w->truth->ids + (size_t) q * k;
		double	   *dist = w->truth->dist + (size_t) q * k;
		int			count = 0;

		for (int r = 0; r < ds->nrows; r++)
		{
			double		d = metric_distance(w->metric, query, qnorm,
											ds->rows + (size_t) r * ds->dim,
											w->row_norms[r], ds->dim);

			topk_insert(ids, dist, k, &count, r + 1, d);
		}
	}
	return NULL;
}

/* Brute force over all rows, queries interleaved across the threads. */
static void
compute_truth(const Dataset *ds, Metric metric, int nthreads, Truth *truth)
{
	TruthWorker *workers = xmalloc(nthreads * sizeof(TruthWorker));
	double	   *row_norms = xmalloc((size_t) ds->nrows * sizeof(double));

	for (int r = 0; r < ds->nrows; r++)
		row_norms[r] = vector_norm(ds->rows + (size_t) r * ds->dim, ds->dim);

	for (int t = 0; t < nthreads; t++)
	{
		workers[t].ds = ds;
		workers[t].row_norms = row_norms;
		workers[t].metric = metric;
		workers[t].truth = truth;
		workers[t].first = t;
		workers[t].step = nthreads;
		if (pthread_create(&workers[t].thread, NULL, truth_worker_main,
						   &workers[t]) != 0)
			die("could not start thread");
	}
	for (int t = 0; t < nthreads; t++)
		pthread_join(workers[t].thread, NULL);
	free(workers);
	free(row_norms);
}

/* The truth cache file starts with this header. */
typedef struct TruthFileHeader
{
	char		magic[8];
	int32_t		nqueries;
	int32_t		k;
	int32_t		nrows;
	int32_t		dim;
} TruthFileHeader;

static const char truth_magic[8] = "OMBTRU1";

static bool
read_truth_cache(const char *path, const Dataset *ds, Truth *truth)
{
	FILE	   *f = fopen(path, "rb");
	TruthFileHeader h;
	size_t		n = (size_t) truth->nqueries * truth->k;
	bool		ok;

	if (f == NULL)
		return false;
	ok = fread(&h, sizeof(h), 1, f) == 1 &&
		memcmp(h.magic, truth_magic, sizeof(truth_magic)) == 0 &&
		h.nqueries == truth->nqueries && h.k == truth->k &&
		h.nrows == ds->nrows && h.dim == ds->dim &&
		fread(truth->ids, sizeof(int32_t), n, f) == n &&
		fread(truth->dist, sizeof(double), n, f) == n;
	fclose(f);
	return ok;
}

static void
write_truth_cache(const char *path, const Dataset *ds, const Truth *truth)
{
	char		tmp[1100];
	FILE	   *f;
	TruthFileHeader h;
	size_t		n = (size_t) truth->nqueries * truth->k;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, truth_magic, sizeof(truth_magic));
	h.nqueries = truth->nqueries;
	h.k = truth->k;
	h.nrows = ds->nrows;
	h.dim = ds->dim;

	/* Write and rename, so an interrupted run never leaves a bad cache. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "wb");
	if (f == NULL)
		die("could not create \"%s\": %s", tmp, strerror(errno));
	if (fwrite(&h, sizeof(h), 1, f) != 1 ||
		fwrite(truth->ids, sizeof(int32_t), n, f) != n ||
		fwrite(truth->dist, sizeof(double), n, f) != n ||
		fclose(f) != 0)
		die("could not write \"%s\"", tmp);
	if (rename(tmp, path) != 0)
		die("could not rename \"%s\": %s", tmp, strerror(errno));
}

/* Exact neighbours from the cache under out_dir, computing them if absent. */
static void
get_truth(const BenchOptions *opt, const Dataset *ds, Truth *truth)
{
	char		path[1024];
	double		start;

	truth->nqueries = ds->nqueries;
	truth->k = opt->k;
	truth->ids = xmalloc((size_t) ds->nqueries * opt->k * sizeof(int32_t));
	truth->dist = xmalloc((size_t) ds->nqueries * opt->k * sizeof(double));

	snprintf(path, sizeof(path), "%s/truth-%s-r%d-q%d-%s-k%d.bin",
			 opt->out_dir, ds->key, ds->nrows, ds->nqueries,
			 metric_names[opt->metric], opt->k);
	if (read_truth_cache(path, ds, truth))
	{
		progress("exact neighbours: cached in %s", path);
		return;
	}

	progress("exact neighbours: brute force, %d queries x %d rows, %d threads...",
			 ds->nqueries, ds->nrows, opt->threads);
	start = now_seconds();
	compute_truth(ds, opt->metric, opt->threads, truth);
	progress("exact neighbours: %.1f s, cached in %s",
			 now_seconds() - start, path);
	write_truth_cache(path, ds, truth);
}

/* ---------------------------------------------------------------- */
/* Database helpers													 */
/* ---------------------------------------------------------------- */

static PGconn *
connect_db(const char *conninfo)
{
	PGconn	   *conn = PQconnectdb(conninfo ? conninfo : "");

	if (PQstatus(conn) != CONNECTION_OK)
		die("could not connect: %s", PQerrorMessage(conn));
	return conn;
}

/* Run SQL (possibly several statements); die on error. */
static void
exec_sql(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		die("%s\nfailed: %s", sql, PQerrorMessage(conn));
	PQclear(res);
}

/* Run a query returning one value; the result must be freed. */
static char *
query_value(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	char	   *v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("%s\nfailed: %s", sql, PQerrorMessage(conn));
	if (PQntuples(res) != 1 || PQnfields(res) != 1)
		die("%s\nreturned %d rows, expected 1", sql, PQntuples(res));
	v = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static long long
query_int(PGconn *conn, const char *sql)
{
	char	   *v = query_value(conn, sql);
	long long	n = atoll(v);

	free(v);
	return n;
}

static void
put_be16(char *p, int16_t v)
{
	uint16_t	u = htons((uint16_t) v);

	memcpy(p, &u, 2);
}

static void
put_be32(char *p, int32_t v)
{
	uint32_t	u = htonl((uint32_t) v);

	memcpy(p, &u, 4);
}

static int32_t
get_be32(const char *p)
{
	uint32_t	u;

	memcpy(&u, p, 4);
	return (int32_t) ntohl(u);
}

/* Binary wire format of vector: int16 dim, int16 0, big-endian float4s. */
static void
encode_vector(char *out, const float *x, int dim)
{
	put_be16(out, (int16_t) dim);
	put_be16(out + 2, 0);
	for (int i = 0; i < dim; i++)
	{
		uint32_t	u;

		memcpy(&u, &x[i], 4);
		put_be32(out + 4 + 4 * i, (int32_t) u);
	}
}

static int
vector_wire_size(int dim)
{
	return 4 + 4 * dim;
}

static QueryParams
encode_queries(const Dataset *ds)
{
	QueryParams qp;

	qp.nqueries = ds->nqueries;
	qp.len = vector_wire_size(ds->dim);
	qp.buf = xmalloc((size_t) qp.nqueries * qp.len);
	for (int q = 0; q < qp.nqueries; q++)
		encode_vector(qp.buf + (size_t) q * qp.len,
					  ds->queries + (size_t) q * ds->dim, ds->dim);
	return qp;
}

static void
create_extension(PGconn *conn, const char *name)
{
	char	   *quoted = PQescapeIdentifier(conn, name, strlen(name));
	char		sql[256];

	snprintf(sql, sizeof(sql), "CREATE EXTENSION IF NOT EXISTS %s", quoted);
	PQfreemem(quoted);
	exec_sql(conn, sql);
}

/* ---------------------------------------------------------------- */
/* Loading the table												 */
/* ---------------------------------------------------------------- */

static void
copy_send(PGconn *conn, const char *buf, size_t len)
{
	if (PQputCopyData(conn, buf, (int) len) != 1)
		die("COPY failed: %s", PQerrorMessage(conn));
}

/* Bytes of the filter columns of a row in COPY binary, at most. */
#define FILTER_COPY_MAX		(4 * 8 + 4 + 20 + FILTER_MAX_TAGS * 8)

/*
 * Row r's filter columns in COPY binary: c10, c100, c1000 and tenant as
 * int4 fields, then tags as a one-dimensional int4[] (ndim, no nulls,
 * element type, length and lower bound, then each element's length and
 * value).  Returns the bytes written.
 */
static int
put_filter_fields(char *p, const FilterColumns *fc, int r)
{
	const int32_t scalars[4] = {fc->c10[r], fc->c100[r], fc->c1000[r],
	fc->tenant[r]};
	int			ntags = fc->ntags[r];
	char	   *start = p;

	for (int i = 0; i < 4; i++)
	{
		put_be32(p, 4);
		put_be32(p + 4, scalars[i]);
		p += 8;
	}
	put_be32(p, 20 + 8 * ntags);
	put_be32(p + 4, 1);
	put_be32(p + 8, 0);
	put_be32(p + 12, INT4OID);
	put_be32(p + 16, ntags);
	put_be32(p + 20, 1);
	p += 24;
	for (int i = 0; i < ntags; i++)
	{
		put_be32(p, 4);
		put_be32(p + 4, fc->tags[(size_t) r * FILTER_MAX_TAGS + i]);
		p += 8;
	}
	return (int) (p - start);
}

/*
 * Stream n vectors into table (id, embedding[, category][, c10, c100,
 * c1000, tenant, tags]) as COPY binary: header, tuples, trailer.  Vector r
 * gets id r + 1; category, if not NULL, holds the third column, and
 * filters, if not NULL, the filter columns.  With which, the i-th tuple is
 * vector which[i] instead, and with ids, its id is ids[i].
 */
static void
copy_vectors(PGconn *conn, const char *table, const float *vectors, int n,
			 int dim, const int *category, const FilterColumns *filters,
			 const int *which, const int32_t *ids)
{
	static const char header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
	int			vlen = vector_wire_size(dim);
	int			tuple_len = 2 + 4 + 4 + 4 + vlen + (category ? 8 : 0);
	int			tuple_max = tuple_len + (filters ? FILTER_COPY_MAX : 0);
	size_t		cap = COPY_CHUNK + tuple_max;
	char	   *buf = xmalloc(cap);
	size_t		used = 0;
	char		sql[256];
	PGresult   *res;

	snprintf(sql, sizeof(sql), "COPY %s FROM STDIN (FORMAT binary)", table);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		die("COPY failed: %s", PQerrorMessage(conn));
	PQclear(res);
	copy_send(conn, header, sizeof(header));

	for (int i = 0; i < n; i++)
	{
		char	   *p = buf + used;
		int			r = which ? which[i] : i;

		put_be16(p, 2 + (category ? 1 : 0) + (filters ? 5 : 0));
		put_be32(p + 2, 4);
		put_be32(p + 6, ids ? ids[i] : r + 1);
		put_be32(p + 10, vlen);
		encode_vector(p + 14, vectors + (size_t) r * dim, dim);
		if (category)
		{
			put_be32(p + 14 + vlen, 4);
			put_be32(p + 18 + vlen, category[r]);
		}
		used += tuple_len;
		if (filters)
			used += put_filter_fields(buf + used, filters, r);
		if (used >= COPY_CHUNK)
		{
			copy_send(conn, buf, used);
			used = 0;
		}
	}
	put_be16(buf + used, -1);
	copy_send(conn, buf, used + 2);
	free(buf);

	if (PQputCopyEnd(conn, NULL) != 1)
		die("COPY failed: %s", PQerrorMessage(conn));
	res = PQgetResult(conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		die("COPY failed: %s", PQerrorMessage(conn));
	PQclear(res);
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
}

/* pg_attribute.attstorage of a storage name, or 0 if it names none */
static char
storage_code(const char *storage)
{
	if (strcmp(storage, "plain") == 0)
		return 'p';
	if (strcmp(storage, "main") == 0)
		return 'm';
	if (strcmp(storage, "extended") == 0)
		return 'x';
	if (strcmp(storage, "external") == 0)
		return 'e';
	return 0;
}

/*
 * Whether items' filter columns hold these: three checksums that weigh
 * each row's values by its id, modulo a prime so that the sums stay far
 * from overflow on either side.
 */
static bool
filter_columns_match(PGconn *conn, const FilterColumns *fc, int n)
{
	long long	sums[3] = {0, 0, 0};
	char		expect[128];
	char	   *got;
	bool		ok;

	if (query_int(conn, "SELECT count(*) FROM pg_attribute WHERE "
				  "attrelid = 'items'::regclass AND NOT attisdropped AND "
				  "attname IN ('c10', 'c100', 'c1000', 'tenant', 'tags')") != 5)
		return false;
	for (int r = 0; r < n; r++)
	{
		long long	id = r + 1;

		sums[0] += id * (fc->c10[r] + 10 * fc->c100[r] + 1000 * fc->c1000[r]) % 1000003;
		sums[1] += id * fc->tenant[r] % 1000003;
		for (int i = 0; i < fc->ntags[r]; i++)
			sums[2] += id * fc->tags[(size_t) r * FILTER_MAX_TAGS + i] % 1000003;
	}
	snprintf(expect, sizeof(expect), "%lld %lld %lld", sums[0], sums[1], sums[2]);
	got = query_value(conn,
					  "SELECT concat_ws(' ', "
					  "sum(id::bigint * (c10 + 10 * c100 + 1000 * c1000) % 1000003), "
					  "sum(id::bigint * tenant % 1000003), "
					  "sum((SELECT sum(id::bigint * t % 1000003) FROM unnest(tags) t))) "
					  "FROM items");
	ok = strcmp(got, expect) == 0;
	free(got);
	return ok;
}

/*
 * With --reuse-table, check that items looks like this data set: row
 * count, dimension and the first and last vectors, and the filter columns
 * if any.
 */
static bool
table_matches(PGconn *conn, const Dataset *ds, bool with_category,
			  const char *storage)
{
	char		sql[256];
	PGresult   *res;
	int			vlen = vector_wire_size(ds->dim);
	char	   *expect = xmalloc(vlen);
	bool		ok;

	if (query_int(conn, "SELECT count(*) FROM pg_class "
				  "WHERE oid = to_regclass('items')") == 0)
		return false;
	if (with_category &&
		query_int(conn, "SELECT count(*) FROM pg_attribute WHERE "
				  "attrelid = 'items'::regclass AND attname = 'category' "
				  "AND NOT attisdropped") == 0)
		return false;
	if (query_int(conn, "SELECT count(*) FROM items") != ds->nrows)
		return false;
	if (storage)
	{
		snprintf(sql, sizeof(sql),
				 "SELECT count(*) FROM pg_attribute WHERE attrelid = 'items'::regclass "
				 "AND attname = 'embedding' AND attstorage = '%c'", storage_code(storage));
		if (query_int(conn, sql) == 0)
			return false;
	}

	snprintf(sql, sizeof(sql),
			 "SELECT embedding FROM items WHERE id IN (1, %d) ORDER BY id",
			 ds->nrows);
	res = PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 1);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 2;
	for (int i = 0; ok && i < 2; i++)
	{
		int			r = i == 0 ? 0 : ds->nrows - 1;

		encode_vector(expect, ds->rows + (size_t) r * ds->dim, ds->dim);
		ok = PQgetlength(res, i, 0) == vlen &&
			memcmp(PQgetvalue(res, i, 0), expect, vlen) == 0;
	}
	PQclear(res);
	free(expect);
	return ok && (ds->filters == NULL ||
				  filter_columns_match(conn, ds->filters, ds->nrows));
}

/* A new, empty table items, with its primary key or without. */
static void
create_items(PGconn *conn, const BenchOptions *opt, const Dataset *ds,
			 bool primary_key)
{
	char		sql[256];

	exec_sql(conn, "DROP TABLE IF EXISTS items");
	snprintf(sql, sizeof(sql),
			 "CREATE TABLE items (id int%s, embedding vector(%d)%s%s)",
			 primary_key ? " PRIMARY KEY" : "", ds->dim,
			 opt->category ? ", category int" : "",
			 ds->filters ? ", c10 int, c100 int, c1000 int, tenant int, "
			 "tags int[]" : "");
	exec_sql(conn, sql);
	if (opt->storage)
	{
		snprintf(sql, sizeof(sql),
				 "ALTER TABLE items ALTER COLUMN embedding SET STORAGE %s", opt->storage);
		exec_sql(conn, sql);
	}
}

static void
load_table(PGconn *conn, const BenchOptions *opt, const Dataset *ds)
{
	double		start;

	if (opt->reuse_table && table_matches(conn, ds, opt->category, opt->storage))
	{
		progress("load: reusing table items (%d rows)", ds->nrows);
		return;
	}

	progress("load: %d rows x %d dims via COPY binary...", ds->nrows, ds->dim);
	start = now_seconds();
	create_items(conn, opt, ds, false);
	copy_vectors(conn, "items", ds->rows, ds->nrows, ds->dim,
				 opt->category ? ds->category : NULL, ds->filters, NULL, NULL);
	/* The key is built after loading: faster than maintaining it per row. */
	exec_sql(conn, "ALTER TABLE items ADD PRIMARY KEY (id)");
	exec_sql(conn, "VACUUM (ANALYZE) items");
	progress("load: %.1f s", now_seconds() - start);
}

/*
 * --query-table: the queries as a table of their own, (id, embedding) with
 * ids 1..Q in query order and the storage of items, so that they can be
 * run inside the server.  Always rebuilt: it is small.
 */
static void
load_query_table(PGconn *conn, const BenchOptions *opt, const Dataset *ds)
{
	char	   *table = PQescapeIdentifier(conn, opt->query_table,
										   strlen(opt->query_table));
	char		sql[512];

	progress("load: %d queries into table %s", ds->nqueries, table);
	snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", table);
	exec_sql(conn, sql);
	snprintf(sql, sizeof(sql), "CREATE TABLE %s (id int, embedding vector(%d))",
			 table, ds->dim);
	exec_sql(conn, sql);
	if (opt->storage)
	{
		snprintf(sql, sizeof(sql),
				 "ALTER TABLE %s ALTER COLUMN embedding SET STORAGE %s",
				 table, opt->storage);
		exec_sql(conn, sql);
	}
	copy_vectors(conn, table, ds->queries, ds->nqueries, ds->dim, NULL, NULL,
				 NULL, NULL);
	snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD PRIMARY KEY (id)", table);
	exec_sql(conn, sql);
	snprintf(sql, sizeof(sql), "VACUUM (ANALYZE) %s", table);
	exec_sql(conn, sql);
	PQfreemem(table);
}

/* ---------------------------------------------------------------- */
/* Index build														 */
/* ---------------------------------------------------------------- */

static const char secondary_indexes_sql[] =
"FROM pg_index WHERE indrelid = 'items'::regclass AND NOT indisprimary";

/* Drop every index on items but the primary key, so builds start clean. */
static void
drop_secondary_indexes(PGconn *conn)
{
	char		sql[256];
	PGresult   *res;

	snprintf(sql, sizeof(sql), "SELECT indexrelid::regclass::text %s",
			 secondary_indexes_sql);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("%s\nfailed: %s", sql, PQerrorMessage(conn));
	for (int i = 0; i < PQntuples(res); i++)
	{
		char		drop[512];

		snprintf(drop, sizeof(drop), "DROP INDEX %s", PQgetvalue(res, i, 0));
		exec_sql(conn, drop);
	}
	PQclear(res);
}

/*
 * Wait until fd has data or timeout seconds pass.  Used between progress
 * reports so that the end of a build is seen at once (a plain sleep would
 * round every build time up to the next second).
 */
static void
wait_readable(int fd, double timeout)
{
	fd_set		fds;
	struct timeval tv;

	FD_ZERO(&fds);
	FD_SET(fd, &fds);
	tv.tv_sec = (time_t) timeout;
	tv.tv_usec = (suseconds_t) ((timeout - tv.tv_sec) * 1e6);
	if (select(fd + 1, &fds, NULL, NULL, &tv) < 0 && errno != EINTR)
		die("select: %s", strerror(errno));
}

/*
 * Run the index DDL, printing pg_stat_progress_create_index from a second
 * connection, so that a build shows where it is: each new phase as soon as
 * it is seen (polled ten times a second, so that the phases of a short
 * build show too), tuple counts within a phase once a second.
 */
static void
run_index_ddl_with_progress(PGconn *conn, const char *conninfo,
							const char *index_sql)
{
	PGconn	   *watch = connect_db(conninfo);
	char		sql[256];
	PGresult   *res;
	int			pid = PQbackendPID(conn);
	char		last_phase[128] = "";
	char		last[256] = "";
	double		last_time = 0;

	if (!PQsendQuery(conn, index_sql))
		die("%s\nfailed: %s", index_sql, PQerrorMessage(conn));
	snprintf(sql, sizeof(sql),
			 "SELECT phase, tuples_done, tuples_total FROM pg_stat_progress_create_index "
			 "WHERE pid = %d", pid);
	for (;;)
	{
		if (!PQconsumeInput(conn))
			die("%s\nfailed: %s", index_sql, PQerrorMessage(conn));
		if (!PQisBusy(conn))
			break;
		res = PQexec(watch, sql);
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		{
			char		line[256];

			const char *phase = PQgetvalue(res, 0, 0);
			bool		new_phase = strcmp(phase, last_phase) != 0;

			snprintf(line, sizeof(line), "%s: %s of %s rows", phase,
					 PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
			if (strcmp(line, last) != 0 &&
				(new_phase || now_seconds() - last_time >= 1.0))
			{
				progress("index: %s", line);
				strcpy(last, line);
				snprintf(last_phase, sizeof(last_phase), "%s", phase);
				last_time = now_seconds();
			}
		}
		PQclear(res);
		wait_readable(PQsocket(conn), 0.1);
	}
	while ((res = PQgetResult(conn)) != NULL)
	{
		ExecStatusType st = PQresultStatus(res);

		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
			die("%s\nfailed: %s", index_sql, PQerrorMessage(conn));
		PQclear(res);
	}
	PQfinish(watch);
}

/* Run the index SQL; return wall-clock seconds, and the index size. */
static double
build_index(PGconn *conn, const char *conninfo, const char *index_sql,
			long long *bytes)
{
	char		sql[256];
	double		start,
				elapsed;

	start = now_seconds();
	if (index_sql)
	{
		drop_secondary_indexes(conn);
		progress("index: %s", index_sql);
		run_index_ddl_with_progress(conn, conninfo, index_sql);
	}
	else
		progress("index: reusing the existing index (--index-sql reuse)");
	elapsed = now_seconds() - start;

	snprintf(sql, sizeof(sql),
			 "SELECT coalesce(sum(pg_relation_size(indexrelid)), 0) %s",
			 secondary_indexes_sql);
	*bytes = query_int(conn, sql);
	progress("index: %.1f s, %lld bytes", elapsed, *bytes);
	return elapsed;
}

/* ---------------------------------------------------------------- */
/* Timed passes														 */
/* ---------------------------------------------------------------- */

static void
prepare_statement(PGconn *conn, const char *name, const char *sql,
				  int nparams, const Oid *types)
{
	PGresult   *res;
	char		dealloc[128];

	/* Re-preparing lets each setting be planned under its own GUCs. */
	snprintf(dealloc, sizeof(dealloc),
			 "SELECT pg_catalog.count(*) FROM pg_prepared_statements "
			 "WHERE name = '%s'", name);
	if (query_int(conn, dealloc) > 0)
	{
		snprintf(dealloc, sizeof(dealloc), "DEALLOCATE %s", name);
		exec_sql(conn, dealloc);
	}
	res = PQprepare(conn, name, sql, nparams, types);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		die("preparing %s\nfailed: %s", sql, PQerrorMessage(conn));
	PQclear(res);
}

/* Fill latency percentiles and QPS from per-query latencies in ms. */
static void
summarize_latencies(double *lat_ms, int n, double elapsed, PassResult *pr)
{
	qsort(lat_ms, n, sizeof(double), compare_doubles);
	pr->qps = n / elapsed;
	pr->p50 = percentile(lat_ms, n, 0.50);
	pr->p95 = percentile(lat_ms, n, 0.95);
	pr->p99 = percentile(lat_ms, n, 0.99);
}

/*
 * The client-path floor: a primary-key lookup that ships the same vector
 * parameter, so per-query costs outside the index (protocol, parsing the
 * parameter, executor start-up) can be subtracted from search latency.
 */
static void
run_floor_pass(PGconn *conn, const Dataset *ds, const QueryParams *qp,
			   const Truth *truth, int lookups, PassResult *pr)
{
	double	   *lat = xmalloc(lookups * sizeof(double));
	int			formats[2] = {1, 1};
	int			lengths[2] = {qp->len, 4};
	double		start = now_seconds();

	for (int i = 0; i < lookups; i++)
	{
		int			q = i % qp->nqueries;
		char		idbuf[4];
		const char *values[2];
		double		t0 = now_seconds();
		PGresult   *res;

		/* Look up the query's true nearest row: an id known to exist. */
		put_be32(idbuf, row_to_id(ds, truth->ids[(size_t) q * truth->k] - 1));
		values[0] = qp->buf + (size_t) q * qp->len;
		values[1] = idbuf;
		res = PQexecPrepared(conn, "floor", 2, values, lengths, formats, 1);
		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
			die("floor lookup failed: %s", PQerrorMessage(conn));
		PQclear(res);
		lat[i] = (now_seconds() - t0) * 1000.0;
	}
	summarize_latencies(lat, lookups, now_seconds() - start, pr);
	pr->recall = 1.0;
	free(lat);
}

/* Run every query once; store result ids (k per query) and counts. */
static double
run_search_pass(PGconn *conn, const QueryParams *qp, int k,
				int32_t *result_ids, int *result_counts, double *lat)
{
	int			format = 1;
	double		start = now_seconds();

	for (int q = 0; q < qp->nqueries; q++)
	{
		const char *value = qp->buf + (size_t) q * qp->len;
		double		t0 = now_seconds();
		PGresult   *res;
		int			n;

		res = PQexecPrepared(conn, "search", 1, &value, &qp->len, &format, 1);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			die("search query failed: %s", PQerrorMessage(conn));
		lat[q] = (now_seconds() - t0) * 1000.0;

		n = PQntuples(res);
		if (n > k)
			n = k;
		for (int i = 0; i < n; i++)
			result_ids[(size_t) q * k + i] = get_be32(PQgetvalue(res, i, 0));
		result_counts[q] = n;
		PQclear(res);
	}
	return now_seconds() - start;
}

/*
 * Mean over queries of |result & truth| / k.  A returned row that is not
 * in the truth list but ties the k-th true distance counts as a hit.
 * Truth holds row numbers (row + 1); results, ids of the table.
 */
static double
compute_recall(const Dataset *ds, Metric metric, const Truth *truth,
			   const int32_t *result_ids, const int *result_counts)
{
	int			k = truth->k;
	double		sum = 0;

	for (int q = 0; q < ds->nqueries; q++)
	{
		const int32_t *tids = truth->ids + (size_t) q * k;
		double		kth = truth->dist[(size_t) q * k + k - 1];
		const float *query = ds->queries + (size_t) q * ds->dim;
		int			hits = 0;

		for (int i = 0; i < result_counts[q]; i++)
		{
			int			r = id_to_row(ds, result_ids[(size_t) q * k + i]);
			bool		hit = false;

			for (int j = 0; j < k && !hit && r >= 0; j++)
				hit = tids[j] == r + 1;
			if (!hit && r >= 0)
			{
				const float *row = ds->rows + (size_t) r * ds->dim;
				double		d = metric_distance(metric, query,
												vector_norm(query, ds->dim),
												row,
												vector_norm(row, ds->dim),
												ds->dim);

				hit = d <= kth + fabs(kth) * TIE_TOLERANCE;
			}
			hits += hit;
		}
		sum += (double) hits / k;
	}
	return sum / ds->nqueries;
}

/* EXPLAIN the search for the first query: "Limit -> Index Scan ...". */
static void
report_plan(PGconn *conn, const char *search_sql, const QueryParams *qp,
			Oid vector_oid)
{
	char		sql[512];
	int			format = 1;
	const char *value = qp->buf;
	PGresult   *res;
	char		line[1024] = "";

	snprintf(sql, sizeof(sql), "EXPLAIN (COSTS off) %s", search_sql);
	res = PQexecParams(conn, sql, 1, &vector_oid, &value, &qp->len,
					   &format, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("%s\nfailed: %s", sql, PQerrorMessage(conn));
	for (int i = 0; i < PQntuples(res); i++)
	{
		const char *node = PQgetvalue(res, i, 0);

		/* Plan nodes, not their detail lines ("Order By: ..."). */
		while (*node == ' ' || *node == '-' || *node == '>')
			node++;
		if (strchr(node, ':') != NULL && strncmp(node, "Index", 5) != 0)
			continue;
		if (line[0])
			strncat(line, " -> ", sizeof(line) - strlen(line) - 1);
		strncat(line, node, sizeof(line) - strlen(line) - 1);
	}
	PQclear(res);
	progress("  plan: %s", line);
}

static int
compare_pass_qps(const void *a, const void *b)
{
	return compare_doubles(&((const PassResult *) a)->qps,
						   &((const PassResult *) b)->qps);
}

/* Of several repeated passes, the one with median QPS. */
static PassResult
median_pass(PassResult *passes, int n)
{
	qsort(passes, n, sizeof(PassResult), compare_pass_qps);
	return passes[n / 2];
}

static PassResult
measure_floor(PGconn *conn, const BenchOptions *opt, const Dataset *ds,
			  const QueryParams *qp, const Truth *truth, Oid vector_oid)
{
	Oid			types[2] = {vector_oid, INT4OID};
	/* Passes are cheap, and the floor is subtracted from every setting. */
	int			npasses = opt->repeat > FLOOR_MIN_PASSES ? opt->repeat : FLOOR_MIN_PASSES;
	PassResult *passes = xmalloc(npasses * sizeof(PassResult));
	PassResult	warmup,
				result;

	prepare_statement(conn, "floor",
					  "SELECT id FROM items WHERE id = $2 AND $1::vector IS NOT NULL",
					  2, types);
	run_floor_pass(conn, ds, qp, truth, opt->floor_lookups, &warmup);
	for (int i = 0; i < npasses; i++)
		run_floor_pass(conn, ds, qp, truth, opt->floor_lookups, &passes[i]);
	result = median_pass(passes, npasses);
	free(passes);
	progress("floor: %.0f QPS, p50 %.3f ms (primary-key lookup, same parameter)",
			 result.qps, result.p50);
	return result;
}

/*
 * Milliseconds the backend has run on a CPU (the first field of Linux's
 * /proc/self/schedstat, read with pg_read_file: superuser or
 * pg_read_server_files), or -1 if it cannot be read.  On a machine shared
 * with other work, the wall clock also counts the waits for a core.
 */
static double
backend_cpu_ms(PGconn *conn)
{
	static bool unavailable = false;
	PGresult   *res;
	double		ms = -1;

	if (unavailable)
		return -1;
	res = PQexec(conn, "SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		ms = strtod(PQgetvalue(res, 0, 0), NULL) / 1e6;
	else
	{
		progress("backend CPU time not measured: %s", PQerrorMessage(conn));
		unavailable = true;
	}
	PQclear(res);
	return ms;
}

/*
 * Zero this backend's omendb scan counters; false where the database has
 * no omendb_scan_stats() (pgvector's side of --compare).
 */
static bool
reset_scan_counters(PGconn *conn)
{
	char	   *v = query_value(conn,
								"SELECT to_regprocedure('omendb_scan_stats_reset()') IS NOT NULL");
	bool		have = strcmp(v, "t") == 0;

	free(v);
	if (have)
		exec_sql(conn, "SELECT omendb_scan_stats_reset()");
	return have;
}

/*
 * Nodes met and pages pinned per scan since reset_scan_counters: counts
 * of the server's work that, unlike the times, do not move with the
 * machine's load.
 */
static void
read_scan_counters(PGconn *conn, double *nodes_met, double *page_visits)
{
	PGresult   *res = PQexec(conn,
							 "SELECT nodes_met::float8 / scans, pages_pinned::float8 / scans "
							 "FROM omendb_scan_stats() WHERE scope = 'backend' AND scans > 0");

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("omendb_scan_stats() failed: %s", PQerrorMessage(conn));
	*nodes_met = *page_visits = NAN;
	if (PQntuples(res) == 1)
	{
		*nodes_met = atof(PQgetvalue(res, 0, 0));
		*page_visits = atof(PQgetvalue(res, 0, 1));
	}
	PQclear(res);
}

/* Two CSV fields, nodes met and page visits, empty if unknown; no line end. */
static void
write_csv_counts(FILE *f, double nodes_met, double page_visits)
{
	if (!isnan(nodes_met))
		fprintf(f, "%.1f,%.1f", nodes_met, page_visits);
	else
		fputc(',', f);
}

/*
 * Apply one sweep setting on a clean session, then time the queries.  Each
 * timed search pass follows a floor pass, and the index time is the median
 * of the pairs' differences: on a shared machine the floor drifts by 20%
 * over a run, and a floor measured once at the start would carry that
 * drift into every setting's index time.
 */
static void
measure_setting(PGconn *conn, const BenchOptions *opt, const Dataset *ds,
				const Truth *truth, const QueryParams *qp, Oid vector_oid,
				const char *setting, SettingResult *out)
{
	char		search_sql[256];
	int			k = opt->k;
	int32_t    *ids = xmalloc((size_t) ds->nqueries * k * sizeof(int32_t));
	int		   *counts = xmalloc(ds->nqueries * sizeof(int));
	double	   *lat = xmalloc(ds->nqueries * sizeof(double));
	PassResult *passes = xmalloc(opt->repeat * sizeof(PassResult));
	PassResult *floors = xmalloc(opt->repeat * sizeof(PassResult));
	double	   *index_ms = xmalloc(opt->repeat * sizeof(double));
	double	   *cpu_ms = xmalloc(opt->repeat * sizeof(double));
	bool		cpu = true;
	bool		counters;

	/* Settings do not accumulate: each starts from the session defaults. */
	exec_sql(conn, "RESET ALL");
	if (opt->session_sql)
		exec_sql(conn, opt->session_sql);
	if (setting[0])
		exec_sql(conn, setting);

	snprintf(search_sql, sizeof(search_sql),
			 "SELECT id FROM items ORDER BY embedding %s $1 LIMIT %d",
			 metric_operators[opt->metric], k);
	prepare_statement(conn, "search", search_sql, 1, &vector_oid);
	report_plan(conn, search_sql, qp, vector_oid);

	/* Warm-up pass: fills caches, not timed; counts the scans' work. */
	counters = reset_scan_counters(conn);
	run_search_pass(conn, qp, k, ids, counts, lat);
	out->nodes_met = out->page_visits = NAN;
	if (counters)
		read_scan_counters(conn, &out->nodes_met, &out->page_visits);
	for (int i = 0; i < opt->repeat; i++)
	{
		double		elapsed,
					c0,
					c1,
					c2;

		c0 = backend_cpu_ms(conn);
		run_floor_pass(conn, ds, qp, truth, opt->floor_lookups, &floors[i]);
		c1 = backend_cpu_ms(conn);
		elapsed = run_search_pass(conn, qp, k, ids, counts, lat);
		c2 = backend_cpu_ms(conn);
		passes[i].recall = compute_recall(ds, opt->metric, truth, ids, counts);
		summarize_latencies(lat, ds->nqueries, elapsed, &passes[i]);
		index_ms[i] = 1000.0 / passes[i].qps - 1000.0 / floors[i].qps;
		cpu = cpu && c0 >= 0 && c2 >= 0;
		cpu_ms[i] = (c2 - c1) / ds->nqueries - (c1 - c0) / opt->floor_lookups;
	}
	qsort(index_ms, opt->repeat, sizeof(double), compare_doubles);
	out->index_ms = index_ms[opt->repeat / 2];
	qsort(cpu_ms, opt->repeat, sizeof(double), compare_doubles);
	out->index_cpu_ms = cpu ? cpu_ms[opt->repeat / 2] : NAN;
	out->floor_qps = median_pass(floors, opt->repeat).qps;
	out->pass = median_pass(passes, opt->repeat);
	free(ids);
	free(counts);
	free(lat);
	free(passes);
	free(floors);
	free(index_ms);
	free(cpu_ms);
}

/* ---------------------------------------------------------------- */
/* Radius queries (--radius N)										 */
/* ---------------------------------------------------------------- */

static void
put_be64_double(char *p, double v)
{
	uint64_t	bits;

	memcpy(&bits, &v, sizeof(bits));
	for (int i = 0; i < 8; i++)
		p[i] = (char) (bits >> (56 - 8 * i));
}

/*
 * The radius of each query: halfway between the exact distances of its
 * N-th and (N+1)-th nearest rows (the truth holds N + 1), in the
 * operator's units, so that exactly its N nearest rows lie within it,
 * whatever the rounding of the server's float sums.
 */
static double *
radius_per_query(const BenchOptions *opt, const Truth *truth)
{
	int			n = opt->radius_rows;
	double	   *radius = xmalloc(truth->nqueries * sizeof(double));

	for (int q = 0; q < truth->nqueries; q++)
	{
		double		a = truth->dist[(size_t) q * truth->k + n - 1];
		double		b = truth->dist[(size_t) q * truth->k + n];

		if (opt->metric == METRIC_L2)
		{
			a = sqrt(a);
			b = sqrt(b);
		}
		radius[q] = (a + b) / 2;
	}
	return radius;
}

typedef struct RadiusResult
{
	char	   *setting;
	double		rows;			/* mean rows returned per query */
	double		recall;			/* of the N rows within the radius */
	double		p50;
	double		p99;
	double		mean_ms;
	double		limit_recall;	/* LIMIT N, same setting */
	double		limit_p50;
	double		limit_mean_ms;
} RadiusResult;

/* Whether id is among the query's true nearest n rows. */
static bool
radius_hit(const Dataset *ds, const Truth *truth, int q, int n, int32_t id)
{
	int			r = id_to_row(ds, id);

	for (int j = 0; j < n && r >= 0; j++)
		if (truth->ids[(size_t) q * truth->k + j] == r + 1)
			return true;
	return false;
}

/*
 * One pass of a prepared statement over every query: mean rows, recall of
 * the N true rows, latencies.  with_radius passes the query's radius as
 * $2.
 */
static void
run_radius_pass(PGconn *conn, const char *stmt, const Dataset *ds,
				const Truth *truth, const QueryParams *qp, const double *radius,
				int n, bool with_radius, double *rows, double *recall,
				double *lat)
{
	int			formats[2] = {1, 1};
	int			lengths[2] = {qp->len, 8};
	double		nrows = 0;
	double		hits = 0;

	for (int q = 0; q < qp->nqueries; q++)
	{
		char		rbuf[8];
		const char *values[2];
		double		t0;
		PGresult   *res;

		values[0] = qp->buf + (size_t) q * qp->len;
		put_be64_double(rbuf, radius[q]);
		values[1] = rbuf;
		t0 = now_seconds();
		res = PQexecPrepared(conn, stmt, with_radius ? 2 : 1, values, lengths,
							 formats, 1);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			die("%s failed: %s", stmt, PQerrorMessage(conn));
		lat[q] = (now_seconds() - t0) * 1000.0;
		nrows += PQntuples(res);
		for (int i = 0; i < PQntuples(res); i++)
			hits += radius_hit(ds, truth, q, n, get_be32(PQgetvalue(res, i, 0)));
		PQclear(res);
	}
	*rows = nrows / qp->nqueries;
	*recall = hits / ((double) n * qp->nqueries);
}

static double
mean_of(const double *x, int n)
{
	double		s = 0;

	for (int i = 0; i < n; i++)
		s += x[i];
	return s / n;
}

/*
 * Radius queries beside LIMIT queries returning as many rows, under each
 * setting: "WHERE embedding OP $1 < $2" with each query's radius, and
 * "ORDER BY embedding OP $1 LIMIT N".  A warm-up pass each, then the
 * median of --repeat passes by mean latency.
 */
static void
run_radius(PGconn *conn, const BenchOptions *opt, const Dataset *ds,
		   const Truth *truth, const QueryParams *qp, Oid vector_oid,
		   char **settings, int nsettings)
{
	int			n = opt->radius_rows;
	double	   *radius = radius_per_query(opt, truth);
	double	   *lat = xmalloc(qp->nqueries * sizeof(double));
	RadiusResult *results = xmalloc(nsettings * sizeof(RadiusResult));
	Oid			types[2] = {vector_oid, FLOAT8OID};
	char		sql[256];
	char		plan_sql[256];
	double		limit_rows;

	for (int i = 0; i < nsettings; i++)
	{
		RadiusResult *r = &results[i];
		double	   *means = xmalloc(opt->repeat * sizeof(double));
		double	   *p50s = xmalloc(opt->repeat * sizeof(double));
		double	   *p99s = xmalloc(opt->repeat * sizeof(double));

		r->setting = settings[i];
		exec_sql(conn, "RESET ALL");
		if (opt->session_sql)
			exec_sql(conn, opt->session_sql);
		if (settings[i][0])
			exec_sql(conn, settings[i]);
		progress("radius: %s", settings[i][0] ? settings[i] : "(default settings)");

		snprintf(sql, sizeof(sql), "SELECT id FROM items WHERE embedding %s $1 < $2",
				 metric_operators[opt->metric]);
		prepare_statement(conn, "radius", sql, 2, types);
		snprintf(plan_sql, sizeof(plan_sql), "SELECT id FROM items WHERE embedding %s $1 < %.17g",
				 metric_operators[opt->metric], radius[0]);
		report_plan(conn, plan_sql, qp, vector_oid);
		run_radius_pass(conn, "radius", ds, truth, qp, radius, n, true,
						&r->rows, &r->recall, lat);
		for (int j = 0; j < opt->repeat; j++)
		{
			run_radius_pass(conn, "radius", ds, truth, qp, radius, n, true,
							&r->rows, &r->recall, lat);
			means[j] = mean_of(lat, qp->nqueries);
			qsort(lat, qp->nqueries, sizeof(double), compare_doubles);
			p50s[j] = percentile(lat, qp->nqueries, 0.50);
			p99s[j] = percentile(lat, qp->nqueries, 0.99);
		}
		qsort(means, opt->repeat, sizeof(double), compare_doubles);
		qsort(p50s, opt->repeat, sizeof(double), compare_doubles);
		qsort(p99s, opt->repeat, sizeof(double), compare_doubles);
		r->mean_ms = means[opt->repeat / 2];
		r->p50 = p50s[opt->repeat / 2];
		r->p99 = p99s[opt->repeat / 2];

		snprintf(sql, sizeof(sql), "SELECT id FROM items ORDER BY embedding %s $1 LIMIT %d",
				 metric_operators[opt->metric], n);
		prepare_statement(conn, "radius_limit", sql, 1, types);
		run_radius_pass(conn, "radius_limit", ds, truth, qp, radius, n, false,
						&limit_rows, &r->limit_recall, lat);
		for (int j = 0; j < opt->repeat; j++)
		{
			run_radius_pass(conn, "radius_limit", ds, truth, qp, radius, n, false,
							&limit_rows, &r->limit_recall, lat);
			means[j] = mean_of(lat, qp->nqueries);
			qsort(lat, qp->nqueries, sizeof(double), compare_doubles);
			p50s[j] = percentile(lat, qp->nqueries, 0.50);
		}
		qsort(means, opt->repeat, sizeof(double), compare_doubles);
		qsort(p50s, opt->repeat, sizeof(double), compare_doubles);
		r->limit_mean_ms = means[opt->repeat / 2];
		r->limit_p50 = p50s[opt->repeat / 2];

		progress("  radius: %.1f rows, recall %.4f, mean %.3f ms, p50 %.3f ms, p99 %.3f ms; "
				 "LIMIT %d: recall %.4f, mean %.3f ms, p50 %.3f ms",
				 r->rows, r->recall, r->mean_ms, r->p50, r->p99, n,
				 r->limit_recall, r->limit_mean_ms, r->limit_p50);
		free(means);
		free(p50s);
		free(p99s);
	}

	printf("\nRadius queries: %s, %d rows x %d dims, metric %s, %d queries, "
		   "radius per query halfway between its %d-th and %d-th nearest rows\n\n",
		   ds->key, ds->nrows, ds->dim, metric_names[opt->metric], qp->nqueries,
		   n, n + 1);
	printf("| setting | rows/query | recall | mean ms | p50 ms | p99 ms | LIMIT %d recall | LIMIT mean ms | LIMIT p50 ms |\n", n);
	printf("|---|---|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < nsettings; i++)
		printf("| %s | %.1f | %.4f | %.3f | %.3f | %.3f | %.4f | %.3f | %.3f |\n",
			   results[i].setting[0] ? results[i].setting : "(default)",
			   results[i].rows, results[i].recall, results[i].mean_ms,
			   results[i].p50, results[i].p99, results[i].limit_recall,
			   results[i].limit_mean_ms, results[i].limit_p50);
	free(radius);
	free(lat);
	free(results);
}

/* ---------------------------------------------------------------- */
/* Output															 */
/* ---------------------------------------------------------------- */

/* A short label for plots: "SET omendb.x=40;SET y=1" -> "x=40;y=1". */
static char *
short_label(const char *setting)
{
	char	   *out = xmalloc(strlen(setting) + 8);
	char	   *o = out;
	const char *s = setting;

	if (!*s)
		return xstrdup("default");
	while (*s)
	{
		if (strncasecmp(s, "SET ", 4) == 0)
			s += 4;
		else if (strncmp(s, "omendb.", 7) == 0)
			s += 7;
		else if (*s == '"' || *s == ' ')
			s++;
		else
			*o++ = *s++;
	}
	*o = '\0';
	return out;
}

static void
csv_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++)
	{
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void
write_csv(const char *path, const BenchOptions *opt, const Dataset *ds,
		  const SettingResult *results, int nresults, double build_s,
		  long long index_bytes)
{
	FILE	   *f = fopen(path, "w");

	if (f == NULL)
		die("could not create \"%s\": %s", path, strerror(errno));
	fprintf(f, "dataset,rows,dim,setting,recall,qps,p50,p99,index_ms,build_s,"
			"index_bytes,bytes_per_row,p95,floor_qps,metric,queries,k\n");
	for (int i = 0; i < nresults; i++)
	{
		const PassResult *p = &results[i].pass;

		fprintf(f, "%s,%d,%d,", ds->key, ds->nrows, ds->dim);
		csv_quoted(f, results[i].setting);
		fprintf(f, ",%.4f,%.1f,%.3f,%.3f,%.3f,%.2f,%lld,%.1f,%.3f,%.1f,%s,%d,%d\n",
				p->recall, p->qps, p->p50, p->p99, results[i].index_ms,
				build_s, index_bytes, (double) index_bytes / ds->nrows,
				p->p95, results[i].floor_qps, metric_names[opt->metric],
				ds->nqueries, opt->k);
	}
	if (fclose(f) != 0)
		die("could not write \"%s\"", path);
}

static bool
gnuplot_available(void)
{
	return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

/*
 * Log-scale tics at 1, 2 and 5 times powers of ten: gnuplot's default of
 * one tic per decade leaves a narrow QPS range unlabelled.
 */
static void
write_log_tics(FILE *f, double lo, double hi)
{
	static const int steps[] = {1, 2, 5};
	const char *sep = "";

	fprintf(f, "set ytics (");
	for (double decade = pow(10, floor(log10(lo))); decade <= hi; decade *= 10)
		for (int i = 0; i < 3; i++)
		{
			double		t = decade * steps[i];

			if (t >= lo && t <= hi)
			{
				fprintf(f, "%s%.15g", sep, t);
				sep = ", ";
			}
		}
	fprintf(f, ")\n");
}

/*
 * Recall (x) against QPS (y, log scale), one labelled point per setting,
 * and the client-path floor as a dashed line: no index can beat it.
 */
static void
write_plot(const char *base, const BenchOptions *opt, const Dataset *ds,
		   const SettingResult *results, int nresults, double floor_qps)
{
	char		dat[1100],
				gp[1100],
				png[1100],
				cmd[1200];
	FILE	   *f;
	double		ymin = floor_qps,
				ymax = floor_qps,
				xmin = 1.0;

	if (!gnuplot_available())
	{
		progress("plot: gnuplot not found, skipped (apt-get install gnuplot-nox)");
		return;
	}
	snprintf(dat, sizeof(dat), "%s.dat", base);
	snprintf(gp, sizeof(gp), "%s.gp", base);
	snprintf(png, sizeof(png), "%s.png", base);

	f = fopen(dat, "w");
	if (f == NULL)
		die("could not create \"%s\": %s", dat, strerror(errno));
	for (int i = 0; i < nresults; i++)
	{
		const PassResult *p = &results[i].pass;
		char	   *label = short_label(results[i].setting);

		fprintf(f, "%.4f %.1f \"", p->recall, p->qps);
		for (char *c = label; *c; c++)
			if (*c != '"' && *c != '\\')
				fputc(*c, f);
		fprintf(f, "\"\n");
		free(label);
		ymin = fmin(ymin, p->qps);
		ymax = fmax(ymax, p->qps);
		xmin = fmin(xmin, p->recall);
	}
	fclose(f);

	f = fopen(gp, "w");
	if (f == NULL)
		die("could not create \"%s\": %s", gp, strerror(errno));
	ymin /= 1.5;
	ymax *= 1.5;
	xmin = fmax(0.0, xmin - 0.05);
	fprintf(f,
			"set terminal pngcairo size 1000,650 noenhanced font ',11'\n"
			"set output '%s'\n"
			"set title '%s: %s, %d rows x %d dims, %s, %d queries, 1 client'\n"
			"set xlabel 'recall@%d'\n"
			"set ylabel 'queries per second (log scale)'\n"
			"set logscale y\n"
			"set format y '%%.0f'\n"
			"set grid xtics ytics\n"
			"set key bottom left box opaque\n"
			"set xrange [%.4f:%.4f]\n"
			"set yrange [%.1f:%.1f]\n",
			png, opt->name, ds->key, ds->nrows, ds->dim,
			metric_names[opt->metric], ds->nqueries, opt->k,
			xmin, 1.0 + (1.0 - xmin) * 0.03, ymin, ymax);
	write_log_tics(f, ymin, ymax);
	fprintf(f,
			"floor = %.1f\n"
			"plot '%s' using 1:2 with linespoints lw 2 pt 7 ps 1.2 title '%s', \\\n"
			"     '' using 1:2:3 with labels right offset char -1,0.7 notitle, \\\n"
			"     floor with lines dt 2 lw 2 lc rgb 'gray40' "
			"title sprintf('client-path floor %%.0f QPS', floor)\n",
			floor_qps, dat,
			opt->no_index ? "no index (sequential scan)" : "index");
	fclose(f);

	snprintf(cmd, sizeof(cmd), "gnuplot '%s'", gp);
	if (system(cmd) != 0)
		progress("plot: gnuplot failed on %s", gp);
	else
		progress("plot: %s", png);
}

static void
print_results(const BenchOptions *opt, const Dataset *ds,
			  const SettingResult *results, int nresults, double build_s,
			  long long index_bytes, const PassResult *floor_pass)
{
	int			width = 9;

	printf("\n%s: %s, %d rows x %d dims, metric %s, %d queries, k=%d%s%s\n",
		   opt->name, ds->key, ds->nrows, ds->dim, metric_names[opt->metric],
		   ds->nqueries, opt->k, opt->storage ? ", storage " : "",
		   opt->storage ? opt->storage : "");
	if (opt->no_index)
		printf("index: none (sequential scan)\n");
	else
		printf("index: build %.1f s, %lld bytes, %.1f bytes/row\n",
			   build_s, index_bytes, (double) index_bytes / ds->nrows);
	printf("client-path floor: %.0f QPS, p50 %.3f ms (at the start; index ms\n"
		   "subtracts a floor pass run before each search pass)\n\n",
		   floor_pass->qps, floor_pass->p50);
	for (int i = 0; i < nresults; i++)
		width = (int) fmax(width, strlen(results[i].setting));
	printf("%-*s %7s %9s %8s %8s %8s %9s %9s\n", width,
		   "setting", "recall", "QPS", "p50 ms", "p95 ms", "p99 ms", "index ms",
		   "floor QPS");
	for (int i = 0; i < nresults; i++)
	{
		const PassResult *p = &results[i].pass;

		printf("%-*s %7.4f %9.1f %8.3f %8.3f %8.3f %9.3f %9.0f\n", width,
			   results[i].setting[0] ? results[i].setting : "(default)",
			   p->recall, p->qps, p->p50, p->p95, p->p99, results[i].index_ms,
			   results[i].floor_qps);
	}
}

/* ---------------------------------------------------------------- */
/* Churn and built-empty runs										 */
/* ---------------------------------------------------------------- */

/*
 * One state of the index in a --churn or --build-empty run: its size over
 * the live rows, every search setting measured on it, and the times of
 * what made it (NAN where nothing did).
 */
typedef struct IndexState
{
	char		label[64];
	long long	live_rows;
	long long	index_bytes;
	double		mean_degree;	/* omendb_index_stats()'s; NAN if none */
	double		build_s;
	double		delete_s;
	double		insert_s;
	double		vacuum_s;
	SettingResult *results;		/* one per setting */
} IndexState;

/* A whole run: what it measured, and what the report says of it. */
typedef struct StateRun
{
	const BenchOptions *opt;
	Dataset    *ds;
	const Truth *truth;
	const QueryParams *qp;
	Oid			vector_oid;
	char	  **settings;
	int			nsettings;
	IndexState *states;
	int			nstates;
	PassResult	floor_pass;
	const char *command;
	char	   *server;
	char		load_before[64];
	char		load_after[64];
	/* per setting: the last state's time over the fresh one's (pair_states) */
	double	   *pair_index_ratio;
	double	   *pair_cpu_ratio;
} StateRun;

static IndexState *
new_state(StateRun *run, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static IndexState *
new_state(StateRun *run, const char *fmt,...)
{
	IndexState *st = &run->states[run->nstates++];
	va_list		ap;

	memset(st, 0, sizeof(*st));
	va_start(ap, fmt);
	vsnprintf(st->label, sizeof(st->label), fmt, ap);
	va_end(ap);
	st->build_s = st->delete_s = st->insert_s = st->vacuum_s = NAN;
	st->mean_degree = NAN;
	return st;
}

/*
 * The sampled mean out-degree of the omendb index on items, which the nodes
 * a search meets for each it expands follow; NAN where there is none (the
 * pgvector side of --compare).
 */
static double
omendb_mean_degree(PGconn *conn)
{
	char	   *v;
	double		degree = NAN;

	if (!query_int(conn, "SELECT (to_regproc('omendb_index_stats') IS NOT NULL)::int"))
		return NAN;
	v = query_value(conn,
					"SELECT coalesce((SELECT s.mean_degree::text "
					"FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
					"JOIN pg_am a ON a.oid = c.relam, "
					"LATERAL omendb_index_stats(i.indexrelid) s "
					"WHERE i.indrelid = 'items'::regclass AND a.amname = 'omendb' "
					"LIMIT 1), '')");
	if (v[0] != '\0')
		degree = atof(v);
	free(v);
	return degree;
}

/* The index's size over the live rows, and every setting of the sweep. */
static void
measure_state(PGconn *conn, StateRun *run, IndexState *st)
{
	char		sql[256];
	char		counts[80];

	st->live_rows = query_int(conn, "SELECT count(*) FROM items");
	snprintf(sql, sizeof(sql),
			 "SELECT coalesce(sum(pg_relation_size(indexrelid)), 0) %s",
			 secondary_indexes_sql);
	st->index_bytes = query_int(conn, sql);
	st->mean_degree = omendb_mean_degree(conn);
	progress("%s: %lld live rows, index %lld bytes (%.1f per live row)",
			 st->label, st->live_rows, st->index_bytes,
			 st->live_rows ? (double) st->index_bytes / st->live_rows : 0);
	st->results = xmalloc(run->nsettings * sizeof(SettingResult));
	for (int i = 0; i < run->nsettings; i++)
	{
		SettingResult *r = &st->results[i];

		r->setting = run->settings[i];
		measure_setting(conn, run->opt, run->ds, run->truth, run->qp,
						run->vector_oid, r->setting, r);
		counts[0] = '\0';
		if (!isnan(r->nodes_met))
			snprintf(counts, sizeof(counts),
					 "; %.0f nodes met on %.0f page visits a query",
					 r->nodes_met, r->page_visits);
		progress("  %s: recall %.4f, index %.3f ms, CPU %.3f ms (%.1f QPS, floor %.0f QPS)%s",
				 r->setting[0] ? r->setting : "(default settings)",
				 r->pass.recall, r->index_ms, r->index_cpu_ms, r->pass.qps,
				 r->floor_qps, counts);
	}
}

/*
 * Rename items, and its indexes with the same prefix, to table, so that a
 * fresh items can be loaded and indexed beside it.
 */
static void
set_items_aside(PGconn *conn, const char *table)
{
	char		sql[1024];

	snprintf(sql, sizeof(sql),
			 "DO $$DECLARE i record; BEGIN "
			 "FOR i IN SELECT c.relname FROM pg_index x "
			 "JOIN pg_class c ON c.oid = x.indexrelid "
			 "WHERE x.indrelid = 'items'::regclass LOOP "
			 "EXECUTE format('ALTER INDEX %%I RENAME TO %%I', i.relname, "
			 "'%s_' || i.relname); END LOOP; END$$", table);
	exec_sql(conn, sql);
	snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", table);
	exec_sql(conn, sql);
	snprintf(sql, sizeof(sql), "ALTER TABLE items RENAME TO %s", table);
	exec_sql(conn, sql);
}

/* Swap the names of items and the table set aside, in one transaction. */
static void
swap_items(PGconn *conn, const char *aside)
{
	char		sql[512];

	snprintf(sql, sizeof(sql),
			 "BEGIN; ALTER TABLE items RENAME TO omendb_bench_swap; "
			 "ALTER TABLE %s RENAME TO items; "
			 "ALTER TABLE omendb_bench_swap RENAME TO %s; COMMIT",
			 aside, aside);
	exec_sql(conn, sql);
}

static double
median_of(double *x, int n)
{
	qsort(x, n, sizeof(double), compare_doubles);
	return x[n / 2];
}

/*
 * The last state (the table set aside) against the fresh one (items), in
 * turn: each round measures every setting on both, back to back, the one
 * first that went second in the round before; each time's ratio is taken
 * within the round and its median over the rounds kept.  Two states
 * measured minutes apart on shared cores differ by more than the gap
 * between them, and a round's two measurements lie seconds apart.  The
 * table set aside is dropped at the end.
 */
static void
pair_states(PGconn *conn, StateRun *run, const char *aside)
{
	int			n = run->nsettings;
	int			rounds = STATE_PAIR_ROUNDS;
	double	   *index_ratio = xmalloc((size_t) rounds * sizeof(double));
	double	   *cpu_ratio = xmalloc((size_t) rounds * sizeof(double));
	SettingResult last,
				fresh;
	char		sql[256];

	run->pair_index_ratio = xmalloc(n * sizeof(double));
	run->pair_cpu_ratio = xmalloc(n * sizeof(double));
	for (int i = 0; i < n; i++)
	{
		const char *setting = run->settings[i];

		for (int r = 0; r < rounds; r++)
		{
			for (int turn = 0; turn < 2; turn++)
			{
				if ((turn == 0) == (r % 2 == 0))
				{
					swap_items(conn, aside);
					measure_setting(conn, run->opt, run->ds, run->truth,
									run->qp, run->vector_oid, setting, &last);
					swap_items(conn, aside);
				}
				else
					measure_setting(conn, run->opt, run->ds, run->truth,
									run->qp, run->vector_oid, setting, &fresh);
			}
			index_ratio[r] = last.index_ms / fresh.index_ms;
			cpu_ratio[r] = last.index_cpu_ms / fresh.index_cpu_ms;
			progress("  %s, round %d of %d in turn: index %.2fx, CPU %.2fx",
					 setting[0] ? setting : "(default settings)", r + 1,
					 rounds, index_ratio[r], cpu_ratio[r]);
		}
		run->pair_index_ratio[i] = median_of(index_ratio, rounds);
		run->pair_cpu_ratio[i] = median_of(cpu_ratio, rounds);
	}
	snprintf(sql, sizeof(sql), "DROP TABLE %s", aside);
	exec_sql(conn, sql);
	free(index_ratio);
	free(cpu_ratio);
}

/* Only the run's own VACUUMs: no autovacuum worker between them. */
static void
no_autovacuum(PGconn *conn)
{
	exec_sql(conn, "ALTER TABLE items SET (autovacuum_enabled = off, "
			 "toast.autovacuum_enabled = off)");
}

static double
timed_sql(PGconn *conn, const char *sql)
{
	double		start = now_seconds();

	exec_sql(conn, sql);
	return now_seconds() - start;
}

/*
 * One round: delete m rows drawn at random, insert their vectors again as
 * new rows (new ids, one COPY), VACUUM; with --vacuum-first, VACUUM before
 * the insert.  perm holds the row numbers; its first m entries after a
 * partial Fisher-Yates shuffle are the rows drawn.
 */
static void
churn_round(PGconn *conn, StateRun *run, int m, int *perm, uint64_t *rng,
			IndexState *st)
{
	Dataset    *ds = run->ds;
	int			n = ds->nrows;
	int32_t    *ids = xmalloc((size_t) m * sizeof(int32_t));
	char	   *list = xmalloc((size_t) m * 12 + 3);
	char	   *p = list;
	const char *values[1];
	PGresult   *res;
	double		start;

	for (int i = 0; i < m; i++)
	{
		int			j = i + (int) (rng_next(rng) % (uint64_t) (n - i));
		int			t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}

	*p++ = '{';
	for (int i = 0; i < m; i++)
		p += sprintf(p, "%s%d", i ? "," : "", row_to_id(ds, perm[i]));
	strcpy(p, "}");
	values[0] = list;
	start = now_seconds();
	res = PQexecParams(conn, "DELETE FROM items WHERE id = ANY ($1::int[])",
					   1, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		die("DELETE failed: %s", PQerrorMessage(conn));
	if (atoi(PQcmdTuples(res)) != m)
		die("DELETE deleted %s rows, not %d", PQcmdTuples(res), m);
	PQclear(res);
	st->delete_s = now_seconds() - start;

	if (run->opt->vacuum_first)
		st->vacuum_s = timed_sql(conn, "VACUUM items");
	for (int i = 0; i < m; i++)
		ids[i] = renumber_row(ds, perm[i]);
	start = now_seconds();
	copy_vectors(conn, "items", ds->rows, m, ds->dim,
				 run->opt->category ? ds->category : NULL, NULL, perm, ids);
	st->insert_s = now_seconds() - start;
	if (!run->opt->vacuum_first)
		st->vacuum_s = timed_sql(conn, "VACUUM items");
	progress("%s: deleted %d rows in %.2f s, re-inserted them in %.1f s, "
			 "VACUUM %.1f s", st->label, m, st->delete_s, st->insert_s,
			 st->vacuum_s);
	free(ids);
	free(list);
}

/*
 * --churn: build, then rounds of delete / re-insert / VACUUM, each measured;
 * at the end a fresh build on a copy of the rows the rounds left, and the
 * last round and the fresh build measured in turn.
 */
static void
run_churn(PGconn *conn, StateRun *run)
{
	const BenchOptions *opt = run->opt;
	Dataset    *ds = run->ds;
	int			n = ds->nrows;
	int			m = (int) llround(n * opt->delete_percent / 100.0);
	int		   *perm = xmalloc((size_t) n * sizeof(int));
	uint64_t	rng = opt->seed ^ 0x636875726eULL;	/* "churn" */
	long long	bytes;
	IndexState *st;

	if (m < 1 || m > n)
		die("--delete-percent %g of %d rows deletes %d", opt->delete_percent,
			n, m);
	for (int i = 0; i < n; i++)
		perm[i] = i;

	load_table(conn, opt, ds);
	no_autovacuum(conn);
	run->floor_pass = measure_floor(conn, opt, ds, run->qp, run->truth,
									run->vector_oid);

	st = new_state(run, "build");
	st->build_s = build_index(conn, opt->conninfo, opt->index_sql, &bytes);
	measure_state(conn, run, st);
	for (int round = 1; round <= opt->churn_rounds; round++)
	{
		st = new_state(run, "round %d", round);
		churn_round(conn, run, m, perm, &rng, st);
		measure_state(conn, run, st);
	}
	set_items_aside(conn, "churned_items");
	progress("load: the rows left into a new table beside the churned one...");
	create_items(conn, opt, ds, false);
	exec_sql(conn, "INSERT INTO items SELECT * FROM churned_items");
	exec_sql(conn, "ALTER TABLE items ADD PRIMARY KEY (id)");
	exec_sql(conn, "VACUUM (ANALYZE) items");
	no_autovacuum(conn);
	st = new_state(run, "fresh build");
	st->build_s = build_index(conn, opt->conninfo, opt->index_sql, &bytes);
	measure_state(conn, run, st);
	pair_states(conn, run, "churned_items");
	free(perm);
}

/*
 * --build-empty: the index created on the empty table, then every row
 * loaded with COPY; against a second table loaded the same way without the
 * index and the index built after, the two measured in turn.
 */
static void
run_build_empty(PGconn *conn, StateRun *run)
{
	const BenchOptions *opt = run->opt;
	Dataset    *ds = run->ds;
	long long	bytes;
	IndexState *st;
	double		start;

	st = new_state(run, "built empty");
	create_items(conn, opt, ds, true);
	no_autovacuum(conn);
	st->build_s = build_index(conn, opt->conninfo, opt->index_sql, &bytes);
	progress("load: %d rows x %d dims via COPY binary into the indexed table...",
			 ds->nrows, ds->dim);
	start = now_seconds();
	copy_vectors(conn, "items", ds->rows, ds->nrows, ds->dim,
				 opt->category ? ds->category : NULL, NULL, NULL, NULL);
	st->insert_s = now_seconds() - start;
	st->vacuum_s = timed_sql(conn, "VACUUM (ANALYZE) items");
	progress("load: COPY %.1f s, VACUUM (ANALYZE) %.1f s", st->insert_s,
			 st->vacuum_s);
	run->floor_pass = measure_floor(conn, opt, ds, run->qp, run->truth,
									run->vector_oid);
	measure_state(conn, run, st);
	set_items_aside(conn, "built_empty_items");

	st = new_state(run, "built after COPY");
	create_items(conn, opt, ds, true);
	no_autovacuum(conn);
	progress("load: the same rows again into a table without the index...");
	start = now_seconds();
	copy_vectors(conn, "items", ds->rows, ds->nrows, ds->dim,
				 opt->category ? ds->category : NULL, NULL, NULL, NULL);
	st->insert_s = now_seconds() - start;
	st->vacuum_s = timed_sql(conn, "VACUUM (ANALYZE) items");
	progress("load: COPY %.1f s, VACUUM (ANALYZE) %.1f s", st->insert_s,
			 st->vacuum_s);
	st->build_s = build_index(conn, opt->conninfo, opt->index_sql, &bytes);
	measure_state(conn, run, st);
	pair_states(conn, run, "built_empty_items");
}

/* "2 cores (model), 24 GB" */
static void
describe_machine(char *buf, size_t len)
{
	char		line[512],
				model[256] = "unknown CPU";
	long long	mem_kb = 0;
	FILE	   *f;

	if ((f = fopen("/proc/cpuinfo", "r")) != NULL)
	{
		while (fgets(line, sizeof(line), f))
		{
			char	   *colon = strchr(line, ':');

			if (strncmp(line, "model name", 10) == 0 && colon)
			{
				snprintf(model, sizeof(model), "%s", colon + 2);
				model[strcspn(model, "\n")] = '\0';
				break;
			}
		}
		fclose(f);
	}
	if ((f = fopen("/proc/meminfo", "r")) != NULL)
	{
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "MemTotal: %lld kB", &mem_kb) == 1)
				break;
		fclose(f);
	}
	snprintf(buf, len, "%ld cores (%s), %.0f GB", sysconf(_SC_NPROCESSORS_ONLN),
			 model, mem_kb / 1048576.0);
}

/* The three load averages of /proc/loadavg. */
static void
read_loadavg(char *buf, size_t len)
{
	FILE	   *f = fopen("/proc/loadavg", "r");
	double		a = 0,
				b = 0,
				c = 0;

	if (f == NULL || fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3)
		snprintf(buf, len, "unknown");
	else
		snprintf(buf, len, "%.2f %.2f %.2f", a, b, c);
	if (f)
		fclose(f);
}

/* The value of "SET name=value": the column label of a setting. */
static char *
setting_label(const char *setting)
{
	const char *eq = strrchr(setting, '=');

	if (!setting[0])
		return xstrdup("default");
	if (strncasecmp(setting, "SET ", 4) == 0 && eq && strchr(setting, ';') == NULL)
	{
		while (eq[1] == ' ')
			eq++;
		return xstrdup(eq + 1);
	}
	return short_label(setting);
}

typedef enum Figure
{
	FIG_RECALL,
	FIG_INDEX_MS,
	FIG_CPU_MS,
	FIG_NODES_MET,
	FIG_PAGE_VISITS
} Figure;

static double
figure_value(const SettingResult *r, Figure fig)
{
	switch (fig)
	{
		case FIG_RECALL:
			return r->pass.recall;
		case FIG_INDEX_MS:
			return r->index_ms;
		case FIG_CPU_MS:
			return r->index_cpu_ms;
		case FIG_NODES_MET:
			return r->nodes_met;
		case FIG_PAGE_VISITS:
			return r->page_visits;
	}
	return NAN;
}

/*
 * Print " / "-joined cells of a figure of every setting; with ref, recall
 * as the difference and times and counts as the ratio to ref's.
 */
static void
print_setting_cells(FILE *f, const StateRun *run, const IndexState *st,
					const IndexState *ref, Figure fig)
{
	fputs(" |", f);
	for (int i = 0; i < run->nsettings; i++)
	{
		const SettingResult *b = ref ? &ref->results[i] : NULL;
		double		v = figure_value(&st->results[i], fig);
		double		bv = b ? figure_value(b, fig) : 0;

		fputs(i ? " / " : " ", f);
		if (isnan(v) || (b && isnan(bv)))
			fputs("-", f);
		else if (fig == FIG_RECALL)
			fprintf(f, b ? "%+.4f" : "%.4f", b ? v - bv : v);
		else if (b)
			fprintf(f, "%.2fx", v / bv);
		else if (fig == FIG_NODES_MET || fig == FIG_PAGE_VISITS)
			fprintf(f, "%.0f", v);
		else
			fprintf(f, "%.3f", v);
	}
}

/* " / "-joined cells of a ratio for each setting. */
static void
print_ratio_cells(FILE *f, const StateRun *run, const double *ratio)
{
	fputs(" |", f);
	for (int i = 0; i < run->nsettings; i++)
		fprintf(f, "%s%.2fx", i ? " / " : " ", ratio[i]);
}

/* A table cell of a number, empty where it is NAN (not measured). */
static void
print_number_cell(FILE *f, double x, const char *format)
{
	fputs(" | ", f);
	if (!isnan(x))
		fprintf(f, format, x);
}

/* The markdown report: what was run, one line per state, the ratios. */
static void
write_state_report(FILE *f, const StateRun *run)
{
	const BenchOptions *opt = run->opt;
	const Dataset *ds = run->ds;
	const IndexState *last = &run->states[run->nstates - 2];
	const IndexState *fresh = &run->states[run->nstates - 1];
	char		machine[512];
	char	   *labels = xmalloc(64 * (run->nsettings + 1));

	labels[0] = '\0';
	for (int i = 0; i < run->nsettings; i++)
	{
		char	   *l = setting_label(run->settings[i]);

		snprintf(labels + strlen(labels), 64, "%s%s", i ? " / " : "", l);
		free(l);
	}
	describe_machine(machine, sizeof(machine));

	fprintf(f, "Command: %s\n", run->command);
	fprintf(f, "Data: %s, %d rows x %d dims, metric %s, %d queries, k=%d%s%s\n",
			ds->key, ds->nrows, ds->dim, metric_names[opt->metric],
			ds->nqueries, opt->k, opt->storage ? ", storage " : "",
			opt->storage ? opt->storage : "");
	if (opt->churn)
		fprintf(f, "Run: %d rounds, each deleting %g%% of the rows drawn at "
				"random (seed %llu), %s; at the end the rows left copied "
				"into a new table and the index built on it\n",
				opt->churn_rounds, opt->delete_percent,
				(unsigned long long) opt->seed,
				opt->vacuum_first ?
				"then VACUUM items, then inserting the same vectors again as "
				"new rows (one COPY)" :
				"inserting the same vectors again as new rows (one COPY), "
				"then VACUUM items");
	else
		fprintf(f, "Run: the index created on the empty table (with its "
				"primary key), every row loaded with one COPY, then VACUUM "
				"(ANALYZE); against a second table loaded the same way "
				"without the index, and the index built after\n");
	fprintf(f, "Index: %s\n", opt->index_sql);
	fprintf(f, "Machine: %s; load average %s before the run, %s after\n",
			machine, run->load_before, run->load_after);
	fprintf(f, "Server: %s, one client; before each setting: RESET ALL%s%s\n",
			run->server, opt->session_sql ? "; " : "",
			opt->session_sql ? opt->session_sql : "");
	fprintf(f, "Settings (recall and index ms columns): ");
	for (int i = 0; i < run->nsettings; i++)
	{
		char	   *l = setting_label(run->settings[i]);

		fprintf(f, "%s%s = %s", i ? "; " : "", l,
				run->settings[i][0] ? run->settings[i] : "no SET");
		free(l);
	}
	fprintf(f, "\n\n");

	fprintf(f, "| state | live rows | index MB | B/live row | mean degree "
			"| recall@%d (%s) "
			"| index ms (%s) | CPU ms (%s) | build s | %s s | VACUUM s "
			"| nodes met (%s) | page visits (%s) |\n",
			opt->k, labels, labels, labels, opt->churn ? "re-insert" : "COPY",
			labels, labels);
	fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (int s = 0; s < run->nstates; s++)
	{
		const IndexState *st = &run->states[s];

		fprintf(f, "| %s | %lld | %.1f | %.1f", st->label, st->live_rows,
				st->index_bytes / 1e6,
				st->live_rows ? (double) st->index_bytes / st->live_rows : 0);
		print_number_cell(f, st->mean_degree, "%.1f");
		print_setting_cells(f, run, st, NULL, FIG_RECALL);
		print_setting_cells(f, run, st, NULL, FIG_INDEX_MS);
		print_setting_cells(f, run, st, NULL, FIG_CPU_MS);
		print_number_cell(f, st->build_s, "%.1f");
		print_number_cell(f, st->insert_s, "%.1f");
		print_number_cell(f, st->vacuum_s, "%.1f");
		print_setting_cells(f, run, st, NULL, FIG_NODES_MET);
		print_setting_cells(f, run, st, NULL, FIG_PAGE_VISITS);
		fprintf(f, " |\n");
	}
	fprintf(f, "| %s / %s | | %.2fx | %.2fx", last->label, fresh->label,
			(double) last->index_bytes / fresh->index_bytes,
			((double) last->index_bytes / last->live_rows) /
			((double) fresh->index_bytes / fresh->live_rows));
	print_number_cell(f, last->mean_degree / fresh->mean_degree, "%.2fx");
	print_setting_cells(f, run, last, fresh, FIG_RECALL);
	print_ratio_cells(f, run, run->pair_index_ratio);
	print_ratio_cells(f, run, run->pair_cpu_ratio);
	if (opt->churn)
		fprintf(f, " | | |");
	else
		fprintf(f, " | | %.2fx of COPY + build |",
				last->insert_s / (fresh->insert_s + fresh->build_s));
	print_setting_cells(f, run, last, fresh, FIG_NODES_MET);
	print_setting_cells(f, run, last, fresh, FIG_PAGE_VISITS);
	fprintf(f, " |\n");

	fprintf(f, "\nindex ms: the time per query beyond the client path, the "
			"median over %d timed passes of %d queries of 1/QPS less 1/QPS "
			"of a primary-key lookup pass run just before each.  CPU ms: "
			"the same of the backend's CPU time (Linux schedstat), which "
			"leaves out waits for a core on a loaded machine.  nodes met "
			"and page visits: per query, the index's own counts "
			"(omendb_scan_stats()) over the untimed pass before the timed "
			"ones, which the machine's load does not move.  mean degree: "
			"the mean out-degree of omendb_index_stats()'s sample of "
			"nodes.  The last line: sizes and counts as ratios, recall as "
			"the difference; index ms and CPU ms as the median over %d "
			"rounds of their ratio within a round, where each round "
			"measures both indexes back to back, in alternating order "
			"(the fresh build on a table of its own beside the other, "
			"which is renamed to items for its turn).\n",
			opt->repeat, ds->nqueries, STATE_PAIR_ROUNDS);
	free(labels);
}

static void
write_state_csv(const char *path, const StateRun *run)
{
	const BenchOptions *opt = run->opt;
	const Dataset *ds = run->ds;
	FILE	   *f = fopen(path, "w");

	if (f == NULL)
		die("could not create \"%s\": %s", path, strerror(errno));
	fprintf(f, "dataset,rows,dim,metric,queries,k,state,live_rows,index_bytes,"
			"bytes_per_live_row,setting,recall,qps,p50,p99,index_ms,index_cpu_ms,"
			"floor_qps,build_s,delete_s,insert_s,vacuum_s,nodes_met,"
			"page_visits,mean_degree,index_ms_ratio,index_cpu_ms_ratio\n");
	for (int s = 0; s < run->nstates; s++)
	{
		const IndexState *st = &run->states[s];
		const double secs[4] = {st->build_s, st->delete_s, st->insert_s, st->vacuum_s};

		for (int i = 0; i < run->nsettings; i++)
		{
			const SettingResult *r = &st->results[i];

			fprintf(f, "%s,%d,%d,%s,%d,%d,", ds->key, ds->nrows, ds->dim,
					metric_names[opt->metric], ds->nqueries, opt->k);
			csv_quoted(f, st->label);
			fprintf(f, ",%lld,%lld,%.1f,", st->live_rows, st->index_bytes,
					st->live_rows ? (double) st->index_bytes / st->live_rows : 0);
			csv_quoted(f, r->setting);
			fprintf(f, ",%.4f,%.1f,%.3f,%.3f,%.3f,", r->pass.recall,
					r->pass.qps, r->pass.p50, r->pass.p99, r->index_ms);
			if (!isnan(r->index_cpu_ms))
				fprintf(f, "%.3f", r->index_cpu_ms);
			fprintf(f, ",%.1f", r->floor_qps);
			for (int j = 0; j < 4; j++)
			{
				fputc(',', f);
				if (!isnan(secs[j]))
					fprintf(f, "%.3f", secs[j]);
			}
			fputc(',', f);
			write_csv_counts(f, r->nodes_met, r->page_visits);
			fputc(',', f);
			if (!isnan(st->mean_degree))
				fprintf(f, "%.2f", st->mean_degree);
			/* The paired ratios belong to the state set against the fresh one. */
			if (s == run->nstates - 2)
				fprintf(f, ",%.3f,%.3f\n", run->pair_index_ratio[i],
						run->pair_cpu_ratio[i]);
			else
				fputs(",,\n", f);
		}
	}
	if (fclose(f) != 0)
		die("could not write \"%s\"", path);
}

/* "PostgreSQL 15.x (shared_buffers 2GB), extension omendb 0.x" */
static char *
describe_server(PGconn *conn, const char *extension)
{
	char	   *quoted = PQescapeLiteral(conn, extension, strlen(extension));
	char		sql[256];
	char	   *version = query_value(conn, "SHOW server_version");
	char	   *buffers = query_value(conn, "SHOW shared_buffers");
	char	   *ext;
	char	   *out;
	size_t		len;

	snprintf(sql, sizeof(sql),
			 "SELECT extversion FROM pg_extension WHERE extname = %s", quoted);
	PQfreemem(quoted);
	ext = query_value(conn, sql);
	len = strlen(version) + strlen(buffers) + strlen(ext) + strlen(extension) + 64;
	out = xmalloc(len);
	snprintf(out, len, "PostgreSQL %s (shared_buffers %s), extension %s %s",
			 version, buffers, extension, ext);
	free(version);
	free(buffers);
	free(ext);
	return out;
}

/* --churn or --build-empty, from the connection on: run, write, print. */
static void
run_states(PGconn *conn, StateRun *run)
{
	const BenchOptions *opt = run->opt;
	char		path[1100];
	FILE	   *f;

	run->states = xmalloc((opt->churn ? opt->churn_rounds + 2 : 2) *
						  sizeof(IndexState));
	read_loadavg(run->load_before, sizeof(run->load_before));
	if (opt->churn)
		run_churn(conn, run);
	else
		run_build_empty(conn, run);
	read_loadavg(run->load_after, sizeof(run->load_after));

	run->server = describe_server(conn, opt->extension);

	snprintf(path, sizeof(path), "%s/%s.csv", opt->out_dir, opt->name);
	write_state_csv(path, run);
	progress("csv: %s", path);
	snprintf(path, sizeof(path), "%s/%s.md", opt->out_dir, opt->name);
	f = fopen(path, "w");
	if (f == NULL)
		die("could not create \"%s\": %s", path, strerror(errno));
	write_state_report(f, run);
	if (fclose(f) != 0)
		die("could not write \"%s\"", path);
	progress("table: %s", path);
	printf("\n");
	write_state_report(stdout, run);
}

/* ---------------------------------------------------------------- */
/* Filtered search (--filters)										 */
/* ---------------------------------------------------------------- */

typedef enum FilterKind
{
	FILTER_NONE,
	FILTER_C10,
	FILTER_C100,
	FILTER_C1000,
	FILTER_TENANT,
	FILTER_TAG
} FilterKind;

/* The WHERE clause of each kind; $1 is the query vector, $2 the value. */
static const char *const filter_clauses[] = {
	"", "c10 = $2", "c100 = $2", "c1000 = $2", "tenant = $2",
	"tags && ARRAY[$2]"
};

/* What one workload measured at one setting. */
typedef struct FilterResult
{
	double		selectivity;	/* mean share of the rows matching */
	double		rows_mean;		/* rows returned per query */
	int			rows_min;
	int			short_queries;	/* returned fewer than min(k, matching) */
	long		wrong_rows;		/* returned rows failing the filter, or twice */
	double		recall;
	double		p50;			/* medians over the timed passes */
	double		p95;
	double		mean_ms;
	double		p50_ratio;		/* to the unfiltered p50, median over rounds */
	char		plan[128];		/* "graph", "btree", "seq 40%, graph 60%"... */
	char		plan_detail[512];
	double		nodes_met;		/* per omendb scan, warm-up pass; or NAN */
	double		page_visits;
} FilterResult;

/*
 * One filtered workload: its kind, the value each query filters on, the
 * exact filtered answers, and what each setting measured.
 */
typedef struct FilterWorkload
{
	char		name[64];
	FilterKind	kind;
	int32_t    *value;			/* per query */
	int		   *matching;		/* rows matching, per query */
	int32_t    *truth_ids;		/* k per query: row + 1, nearest first */
	double	   *truth_dist;
	FilterResult *results;		/* per setting */
} FilterWorkload;

/* A whole --filters run. */
typedef struct FilterRun
{
	const BenchOptions *opt;
	const Dataset *ds;
	const QueryParams *qp;
	Oid			vector_oid;
	int			k;
	char	  **settings;
	int			nsettings;
	FilterWorkload *workloads;
	int			nworkloads;
	double		build_s;
	long long	index_bytes;
	long long	btree_bytes;
	const char *command;
	char	   *server;
	char		load_before[64];
	char		load_after[64];
} FilterRun;

static bool
filter_matches(const FilterColumns *fc, FilterKind kind, int r, int32_t v)
{
	switch (kind)
	{
		case FILTER_NONE:
			return true;
		case FILTER_C10:
			return fc->c10[r] == v;
		case FILTER_C100:
			return fc->c100[r] == v;
		case FILTER_C1000:
			return fc->c1000[r] == v;
		case FILTER_TENANT:
			return fc->tenant[r] == v;
		case FILTER_TAG:
			for (int i = 0; i < fc->ntags[r]; i++)
				if (fc->tags[(size_t) r * FILTER_MAX_TAGS + i] == v)
					return true;
			return false;
	}
	return false;
}

/*
 * A workload whose queries each filter on a value drawn from lo..hi, from
 * a random stream of its own.
 */
static void
add_workload(FilterRun *run, const char *name, FilterKind kind, int32_t lo,
			 int32_t hi, uint64_t seed)
{
	FilterWorkload *wl = &run->workloads[run->nworkloads++];
	int			nq = run->ds->nqueries;
	uint64_t	state = seed;

	memset(wl, 0, sizeof(*wl));
	snprintf(wl->name, sizeof(wl->name), "%s", name);
	wl->kind = kind;
	wl->value = xmalloc((size_t) nq * sizeof(int32_t));
	for (int q = 0; q < nq; q++)
		wl->value[q] = lo + (int32_t) (rng_next(&state) % (uint64_t) (hi - lo + 1));
	wl->matching = xmalloc((size_t) nq * sizeof(int));
	wl->truth_ids = xmalloc((size_t) nq * run->k * sizeof(int32_t));
	wl->truth_dist = xmalloc((size_t) nq * run->k * sizeof(double));
	wl->results = xmalloc(run->nsettings * sizeof(FilterResult));
}

/*
 * The workloads: unfiltered (what the others are set against), uniform
 * categories of 10%, 1% and 0.1%, tenants by size bucket, and a tag.  The
 * tenants are in size order (tenant 1 the largest); of the m that hold at
 * least FILTER_MIN_ROWS rows, the buckets are the FILTER_BUCKET largest,
 * ranks 2 to 5 among them (2.7% to 6.7% of the rows each, whatever the
 * rows: the shares where a filtered walk and the label directory's pass
 * cost the most against an unfiltered query), FILTER_BUCKET around rank
 * sqrt(m), the middle of the sizes on a log scale, and the FILTER_BUCKET
 * smallest.
 */
static void
make_workloads(FilterRun *run)
{
	const FilterColumns *fc = run->ds->filters;
	uint64_t	state = run->opt->seed ^ 0x776f726b6c6f6164ULL;	/* "workload" */
	int			m = 0;
	int			b,
				mid;
	char		name[64];

	while (m < FILTER_TENANTS && fc->tenant_rows[m + 1] >= FILTER_MIN_ROWS)
		m++;
	if (m == 0)
		die("--filters: no tenant holds %d rows (too few rows)", FILTER_MIN_ROWS);
	b = m < FILTER_BUCKET ? m : FILTER_BUCKET;
	mid = (int) lround(sqrt((double) m)) - b / 2;
	if (mid < 1)
		mid = 1;
	if (mid + b - 1 > m)
		mid = m - b + 1;

	run->workloads = xmalloc(9 * sizeof(FilterWorkload));
	add_workload(run, "unfiltered", FILTER_NONE, 0, 0, rng_next(&state));
	add_workload(run, "category 10%", FILTER_C10, 0, 9, rng_next(&state));
	add_workload(run, "category 1%", FILTER_C100, 0, 99, rng_next(&state));
	add_workload(run, "category 0.1%", FILTER_C1000, 0, 999, rng_next(&state));
	snprintf(name, sizeof(name), "tenant: largest %d", b);
	add_workload(run, name, FILTER_TENANT, 1, b, rng_next(&state));
	/* (its own seed, so that the other workloads' queries stay as they were) */
	if (m >= 5)
		add_workload(run, "tenant: ranks 2-5", FILTER_TENANT, 2, 5,
					 run->opt->seed ^ 0x72616e6b732d3235ULL);	/* "ranks-25" */
	snprintf(name, sizeof(name), "tenant: ranks %d-%d", mid, mid + b - 1);
	add_workload(run, name, FILTER_TENANT, mid, mid + b - 1, rng_next(&state));
	snprintf(name, sizeof(name), "tenant: smallest %d", b);
	add_workload(run, name, FILTER_TENANT, m - b + 1, m, rng_next(&state));
	add_workload(run, "tag", FILTER_TAG, 1, FILTER_TAGS, rng_next(&state));
	progress("filters: %d tenants hold >= %d rows; buckets: ranks 1-%d (%d-%d rows), "
			 "%s%d-%d (%d-%d rows), %d-%d (%d-%d rows)",
			 m, FILTER_MIN_ROWS, b, fc->tenant_rows[b], fc->tenant_rows[1],
			 m >= 5 ? "2-5, " : "",
			 mid, mid + b - 1, fc->tenant_rows[mid + b - 1], fc->tenant_rows[mid],
			 m - b + 1, m, fc->tenant_rows[m], fc->tenant_rows[m - b + 1]);
}

typedef struct FilterTruthWorker
{
	pthread_t	thread;
	FilterRun  *run;
	const double *row_norms;
	int			first;			/* this worker does queries first, first+step.. */
	int			step;
} FilterTruthWorker;

/*
 * Each query's distances to every row once, then for each workload the k
 * nearest of the rows its filter matches.
 */
static void *
filter_truth_worker_main(void *arg)
{
	FilterTruthWorker *w = arg;
	FilterRun  *run = w->run;
	const Dataset *ds = run->ds;
	Metric		metric = run->opt->metric;
	int			k = run->k;
	double	   *dist = xmalloc((size_t) ds->nrows * sizeof(double));

	for (int q = w->first; q < ds->nqueries; q += w->step)
	{
		const float *query = ds->queries + (size_t) q * ds->dim;
		double		qnorm = vector_norm(query, ds->dim);

		for (int r = 0; r < ds->nrows; r++)
			dist[r] = metric_distance(metric, query, qnorm,
									  ds->rows + (size_t) r * ds->dim,
									  w->row_norms[r], ds->dim);
		for (int i = 0; i < run->nworkloads; i++)
		{
			FilterWorkload *wl = &run->workloads[i];
			int32_t    *ids = wl->truth_ids + (size_t) q * k;
			double	   *d = wl->truth_dist + (size_t) q * k;
			int			count = 0;
			int			matching = 0;

			for (int r = 0; r < ds->nrows; r++)
				if (filter_matches(ds->filters, wl->kind, r, wl->value[q]))
				{
					matching++;
					topk_insert(ids, d, k, &count, r + 1, dist[r]);
				}
			wl->matching[q] = matching;
		}
	}
	free(dist);
	return NULL;
}

/* Exact filtered answers: brute force, queries interleaved across threads. */
static void
compute_filter_truth(FilterRun *run)
{
	const Dataset *ds = run->ds;
	int			nthreads = run->opt->threads;
	FilterTruthWorker *workers = xmalloc(nthreads * sizeof(FilterTruthWorker));
	double	   *row_norms = xmalloc((size_t) ds->nrows * sizeof(double));
	double		start = now_seconds();

	progress("filters: exact answers, brute force, %d queries x %d rows x %d "
			 "workloads, %d threads...", ds->nqueries, ds->nrows,
			 run->nworkloads, nthreads);
	for (int r = 0; r < ds->nrows; r++)
		row_norms[r] = vector_norm(ds->rows + (size_t) r * ds->dim, ds->dim);
	for (int t = 0; t < nthreads; t++)
	{
		workers[t].run = run;
		workers[t].row_norms = row_norms;
		workers[t].first = t;
		workers[t].step = nthreads;
		if (pthread_create(&workers[t].thread, NULL, filter_truth_worker_main,
						   &workers[t]) != 0)
			die("could not start thread");
	}
	for (int t = 0; t < nthreads; t++)
		pthread_join(workers[t].thread, NULL);
	progress("filters: exact answers in %.1f s", now_seconds() - start);
	free(workers);
	free(row_norms);
}

/* Btree indexes on the scalar filter columns, GIN on tags (--filter-btree). */
static long long
create_filter_btrees(PGconn *conn)
{
	static const char *const ddl[] = {
		"CREATE INDEX IF NOT EXISTS items_c10_idx ON items (c10)",
		"CREATE INDEX IF NOT EXISTS items_c100_idx ON items (c100)",
		"CREATE INDEX IF NOT EXISTS items_c1000_idx ON items (c1000)",
		"CREATE INDEX IF NOT EXISTS items_tenant_idx ON items (tenant)",
		"CREATE INDEX IF NOT EXISTS items_tags_idx ON items USING gin (tags)"
	};
	double		start = now_seconds();
	long long	bytes;

	for (int i = 0; i < (int) (sizeof(ddl) / sizeof(ddl[0])); i++)
	{
		progress("index: %s", ddl[i]);
		exec_sql(conn, ddl[i]);
	}
	bytes = query_int(conn,
					  "SELECT sum(pg_relation_size(c.oid)) FROM pg_class c "
					  "WHERE c.relname IN ('items_c10_idx', 'items_c100_idx', "
					  "'items_c1000_idx', 'items_tenant_idx', 'items_tags_idx')");
	progress("index: filter columns' btree and GIN indexes, %.1f s, %lld bytes",
			 now_seconds() - start, bytes);
	return bytes;
}

static void
append_text(char *buf, size_t len, const char *sep, const char *text)
{
	if (buf[0])
		strncat(buf, sep, len - strlen(buf) - 1);
	strncat(buf, text, len - strlen(buf) - 1);
}

/*
 * What kind of scan a plan line reads items with: the access method of
 * the index it names ("graph" for omendb's and pgvector's HNSW), "seq",
 * or NULL if the line is no scan of items.
 */
static const char *
scan_kind(PGconn *conn, const char *node, char *buf, size_t len)
{
	const char *name = NULL;
	const char *p;
	char		index[256];
	const char *values[1];
	PGresult   *res;

	if (strstr(node, "Seq Scan on ") != NULL)
		return "seq";
	if ((p = strstr(node, "Index Scan on ")) != NULL)	/* Bitmap Index Scan */
		name = p + strlen("Index Scan on ");
	else if (strstr(node, "Scan") != NULL && (p = strstr(node, " using ")) != NULL)
		name = p + strlen(" using ");
	if (name == NULL)
		return NULL;
	snprintf(index, sizeof(index), "%.*s", (int) strcspn(name, " "), name);
	values[0] = index;
	res = PQexecParams(conn,
					   "SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam "
					   "WHERE c.oid = to_regclass($1)", 1, NULL, values, NULL,
					   NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		snprintf(buf, len, "index %s", index);
	else if (strcmp(PQgetvalue(res, 0, 0), "omendb") == 0 ||
			 strcmp(PQgetvalue(res, 0, 0), "hnsw") == 0)
		snprintf(buf, len, "graph");
	else
		snprintf(buf, len, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return buf;
}

/*
 * EXPLAIN EXECUTE of a prepared statement with query q's parameters:
 * the plan that query runs, generic or custom as the plan cache has
 * settled.  EXECUTE takes no protocol parameters, so the vector goes as a
 * literal (%.9g gives a float back exactly).  Sets kind, the kinds of the
 * plan's scans of items "+"-joined, and detail, its nodes.
 */
static void
explain_query(PGconn *conn, const FilterRun *run, const char *stmt,
			  const FilterWorkload *wl, int q, char *kind, size_t kind_len,
			  char *detail, size_t detail_len)
{
	const Dataset *ds = run->ds;
	const float *query = ds->queries + (size_t) q * ds->dim;
	char	   *sql = xmalloc((size_t) ds->dim * 20 + 128);
	char	   *p = sql;
	PGresult   *res;

	p += sprintf(p, "EXPLAIN (COSTS off) EXECUTE %s('[", stmt);
	for (int j = 0; j < ds->dim; j++)
		p += sprintf(p, "%s%.9g", j ? "," : "", query[j]);
	p += sprintf(p, "]'");
	if (wl->kind != FILTER_NONE)
		p += sprintf(p, ", %d", wl->value[q]);
	strcpy(p, ")");
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("%s\nfailed: %s", sql, PQerrorMessage(conn));
	free(sql);
	kind[0] = '\0';
	detail[0] = '\0';
	for (int i = 0; i < PQntuples(res); i++)
	{
		const char *node = PQgetvalue(res, i, 0);
		char		buf[300];
		const char *scan;

		while (*node == ' ' || *node == '-' || *node == '>')
			node++;
		/* plan nodes and index conditions, not other detail lines */
		if (strchr(node, ':') != NULL && strncmp(node, "Index", 5) != 0)
			continue;
		append_text(detail, detail_len, " -> ", node);
		scan = scan_kind(conn, node, buf, sizeof(buf));
		if (scan != NULL && strstr(kind, scan) == NULL)
			append_text(kind, kind_len, "+", scan);
	}
	PQclear(res);
	if (!kind[0])
		snprintf(kind, kind_len, "other");
}

#define PLAN_KINDS			4

/*
 * The plans a workload's queries run, after its warm-up pass: with custom
 * plans the planner may choose per filter value (the btree for a small
 * tenant, the graph for a large one), so every query is explained.  Sets
 * fr->plan, each kind with its share of the queries when there are
 * several ("graph 62%, btree 38%"), and fr->plan_detail, the nodes of
 * each kind's first plan.
 */
static void
explain_workload(PGconn *conn, const FilterRun *run, const char *stmt,
				 const FilterWorkload *wl, FilterResult *fr)
{
	char		kinds[PLAN_KINDS][32];
	int			counts[PLAN_KINDS] = {0};
	int			nkinds = 0;
	int			nq = run->ds->nqueries;

	fr->plan[0] = '\0';
	fr->plan_detail[0] = '\0';
	for (int q = 0; q < nq; q++)
	{
		char		kind[32];
		char		detail[512];
		int			i = 0;

		explain_query(conn, run, stmt, wl, q, kind, sizeof(kind), detail,
					  sizeof(detail));
		while (i < nkinds && strcmp(kinds[i], kind) != 0)
			i++;
		if (i == nkinds)
		{
			if (nkinds == PLAN_KINDS)
				snprintf(kind, sizeof(kind), "more");
			else
			{
				snprintf(kinds[nkinds++], sizeof(kinds[0]), "%s", kind);
				append_text(fr->plan_detail, sizeof(fr->plan_detail), "; ", detail);
			}
		}
		if (i < PLAN_KINDS)
			counts[i]++;
	}
	for (int i = 0; i < nkinds; i++)
	{
		char		part[160];

		if (nkinds == 1)
			snprintf(part, sizeof(part), "%s", kinds[i]);
		else
			snprintf(part, sizeof(part), "%s %.0f%%", kinds[i], 100.0 * counts[i] / nq);
		append_text(fr->plan, sizeof(fr->plan), ", ", part);
	}
}

/*
 * Whether row r (returned for query q) is a hit: among the exact filtered
 * answer, or matching the filter and tying its last distance.
 */
static bool
filter_hit(const FilterRun *run, const FilterWorkload *wl, int q, int want,
		   int r)
{
	const Dataset *ds = run->ds;
	const int32_t *tids = wl->truth_ids + (size_t) q * run->k;
	double		kth = wl->truth_dist[(size_t) q * run->k + want - 1];
	const float *query = ds->queries + (size_t) q * ds->dim;
	const float *row = ds->rows + (size_t) r * ds->dim;
	double		d;

	for (int j = 0; j < want; j++)
		if (tids[j] == r + 1)
			return true;
	d = metric_distance(run->opt->metric, query, vector_norm(query, ds->dim),
						row, vector_norm(row, ds->dim), ds->dim);
	return d <= kth + fabs(kth) * TIE_TOLERANCE;
}

/*
 * Tally one query's rows: hits against the exact answer, and rows that
 * fail the filter or come twice (wrong rows, which never count as hits).
 */
static void
tally_filter_rows(const FilterRun *run, const FilterWorkload *wl, int q,
				  PGresult *res, double *hits, long *wrong)
{
	int			n = PQntuples(res);
	int			want = wl->matching[q] < run->k ? wl->matching[q] : run->k;

	for (int i = 0; i < n; i++)
	{
		int32_t		id = get_be32(PQgetvalue(res, i, 0));
		int			r = id_to_row(run->ds, id);
		bool		twice = false;

		for (int j = 0; j < i && !twice; j++)
			twice = get_be32(PQgetvalue(res, j, 0)) == id;
		if (r < 0 || twice ||
			!filter_matches(run->ds->filters, wl->kind, r, wl->value[q]))
		{
			(*wrong)++;
			continue;
		}
		if (want > 0 && filter_hit(run, wl, q, want, r))
			*hits += 1.0 / want;
	}
}

/*
 * One pass of a workload's prepared statement over every query: latencies
 * into lat, and rows, recall and wrong rows into fr.
 */
static void
run_filter_pass(PGconn *conn, const FilterRun *run, const char *stmt,
				const FilterWorkload *wl, double *lat, FilterResult *fr)
{
	const QueryParams *qp = run->qp;
	int			formats[2] = {1, 1};
	int			lengths[2] = {qp->len, 4};
	int			nparams = wl->kind == FILTER_NONE ? 1 : 2;
	double		rows = 0,
				hits = 0;
	int			with_answer = 0;

	fr->rows_min = INT32_MAX;
	fr->short_queries = 0;
	fr->wrong_rows = 0;
	for (int q = 0; q < qp->nqueries; q++)
	{
		char		vbuf[4];
		const char *values[2] = {qp->buf + (size_t) q * qp->len, vbuf};
		int			want = wl->matching[q] < run->k ? wl->matching[q] : run->k;
		double		t0;
		PGresult   *res;
		int			n;

		put_be32(vbuf, wl->value[q]);
		t0 = now_seconds();
		res = PQexecPrepared(conn, stmt, nparams, values, lengths, formats, 1);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			die("%s (%s) failed: %s", stmt, wl->name, PQerrorMessage(conn));
		lat[q] = (now_seconds() - t0) * 1000.0;
		n = PQntuples(res);
		rows += n;
		if (n < fr->rows_min)
			fr->rows_min = n;
		if (n < want)
			fr->short_queries++;
		tally_filter_rows(run, wl, q, res, &hits, &fr->wrong_rows);
		with_answer += want > 0;
		PQclear(res);
	}
	fr->rows_mean = rows / qp->nqueries;
	fr->recall = with_answer ? hits / with_answer : NAN;
}

/*
 * The median over the rounds of workload w's p50 over the unfiltered one
 * (workload 0) in the same round: the machine's speed drifts over seconds,
 * and a round's passes follow one another within one.  p50s holds repeat
 * rounds per workload, in the order they ran.
 */
static double
median_round_ratio(const double *p50s, int w, int repeat)
{
	double	   *ratios = xmalloc(repeat * sizeof(double));
	double		median;

	for (int i = 0; i < repeat; i++)
		ratios[i] = p50s[(size_t) w * repeat + i] / p50s[i];
	qsort(ratios, repeat, sizeof(double), compare_doubles);
	median = ratios[repeat / 2];
	free(ratios);
	return median;
}

/*
 * Every workload at one setting, on a clean session: each prepared, a
 * warm-up pass each and its plan, then --repeat rounds of one timed pass
 * of each workload in turn, so that a drift of the machine's speed falls
 * on all of them alike; latencies are the medians over the rounds, ratios
 * to the unfiltered query the medians of each round's ratios.
 */
static void
measure_filter_setting(PGconn *conn, FilterRun *run, int s)
{
	const BenchOptions *opt = run->opt;
	const char *setting = run->settings[s];
	int			nq = run->ds->nqueries;
	int			nw = run->nworkloads;
	double	   *lat = xmalloc(nq * sizeof(double));
	double	   *p50s = xmalloc((size_t) nw * opt->repeat * sizeof(double));
	double	   *p95s = xmalloc((size_t) nw * opt->repeat * sizeof(double));
	double	   *means = xmalloc((size_t) nw * opt->repeat * sizeof(double));
	double	   *recalls = xmalloc(nw * sizeof(double));
	Oid			types[2] = {run->vector_oid, INT4OID};
	char		stmt[32];
	char		sql[512];
	bool		counters;

	exec_sql(conn, "RESET ALL");
	if (opt->session_sql)
		exec_sql(conn, opt->session_sql);
	if (setting[0])
		exec_sql(conn, setting);
	progress("filters: %s", setting[0] ? setting : "(default settings)");

	for (int w = 0; w < nw; w++)
	{
		FilterWorkload *wl = &run->workloads[w];
		FilterResult *fr = &wl->results[s];

		snprintf(stmt, sizeof(stmt), "filter%d", w);
		snprintf(sql, sizeof(sql), "SELECT id FROM items %s%s ORDER BY embedding %s $1 LIMIT %d",
				 wl->kind == FILTER_NONE ? "" : "WHERE ", filter_clauses[wl->kind],
				 metric_operators[opt->metric], run->k);
		prepare_statement(conn, stmt, sql, wl->kind == FILTER_NONE ? 1 : 2, types);
		counters = reset_scan_counters(conn);
		run_filter_pass(conn, run, stmt, wl, lat, fr);
		fr->nodes_met = fr->page_visits = NAN;
		if (counters)
			read_scan_counters(conn, &fr->nodes_met, &fr->page_visits);
		explain_workload(conn, run, stmt, wl, fr);
		progress("  %s: plan %s: %s", wl->name, fr->plan, fr->plan_detail);
		recalls[w] = 0;
	}
	for (int i = 0; i < opt->repeat; i++)
		for (int w = 0; w < nw; w++)
		{
			FilterWorkload *wl = &run->workloads[w];
			FilterResult *fr = &wl->results[s];
			size_t		at = (size_t) w * opt->repeat + i;

			snprintf(stmt, sizeof(stmt), "filter%d", w);
			run_filter_pass(conn, run, stmt, wl, lat, fr);
			recalls[w] += fr->recall / opt->repeat;
			means[at] = mean_of(lat, nq);
			qsort(lat, nq, sizeof(double), compare_doubles);
			p50s[at] = percentile(lat, nq, 0.50);
			p95s[at] = percentile(lat, nq, 0.95);
		}
	for (int w = 0; w < nw; w++)
	{
		FilterWorkload *wl = &run->workloads[w];
		FilterResult *fr = &wl->results[s];
		double		matching = 0;

		for (int q = 0; q < nq; q++)
			matching += wl->matching[q];
		fr->selectivity = matching / nq / run->ds->nrows;
		fr->recall = recalls[w];
		fr->p50_ratio = median_round_ratio(p50s, w, opt->repeat);
	}
	for (int w = 0; w < nw; w++)
	{
		FilterWorkload *wl = &run->workloads[w];
		FilterResult *fr = &wl->results[s];
		size_t		at = (size_t) w * opt->repeat;

		qsort(p50s + at, opt->repeat, sizeof(double), compare_doubles);
		qsort(p95s + at, opt->repeat, sizeof(double), compare_doubles);
		qsort(means + at, opt->repeat, sizeof(double), compare_doubles);
		fr->p50 = p50s[at + opt->repeat / 2];
		fr->p95 = p95s[at + opt->repeat / 2];
		fr->mean_ms = means[at + opt->repeat / 2];
		progress("  %s: selectivity %.4f%%, rows %.2f (min %d, %d short, %ld wrong), "
				 "recall %.4f, p50 %.3f ms (%.2fx unfiltered), p95 %.3f ms",
				 wl->name, 100 * fr->selectivity, fr->rows_mean, fr->rows_min,
				 fr->short_queries, fr->wrong_rows, fr->recall, fr->p50,
				 fr->p50_ratio, fr->p95);
	}
	free(lat);
	free(p50s);
	free(p95s);
	free(means);
	free(recalls);
}

/* A share as a percentage of three significant digits: "10%", "0.0167%". */
static void
format_percent(char *buf, size_t len, double share)
{
	snprintf(buf, len, "%.3g%%", 100 * share);
}

/* The markdown report: what was run, then one line per setting and workload. */
static void
write_filter_report(FILE *f, const FilterRun *run)
{
	const BenchOptions *opt = run->opt;
	const Dataset *ds = run->ds;
	const FilterColumns *fc = ds->filters;
	char		machine[512];
	long		short_queries = 0,
				wrong_rows = 0;

	describe_machine(machine, sizeof(machine));
	fprintf(f, "Command: %s\n", run->command);
	fprintf(f, "Data: %s, %d rows x %d dims, metric %s, %d queries, LIMIT %d%s%s\n",
			ds->key, ds->nrows, ds->dim, metric_names[opt->metric],
			ds->nqueries, run->k, opt->storage ? ", storage " : "",
			opt->storage ? opt->storage : "");
	fprintf(f, "Filter columns (seed %llu, independent of the vectors): c10, "
			"c100, c1000 uniform over 10, 100, 1000 values; tenant: %d "
			"tenants of Zipf sizes (s = 1), %d to %d rows; tags int[]: 1-%d "
			"distinct tags of %d per row\n",
			(unsigned long long) opt->seed, FILTER_TENANTS,
			fc->tenant_rows[FILTER_TENANTS], fc->tenant_rows[1],
			FILTER_MAX_TAGS, FILTER_TAGS);
	if (opt->no_index)
		fprintf(f, "Index: none");
	else
		fprintf(f, "Index: %s (%.1f s, %.1f MB)",
				opt->index_sql ? opt->index_sql : "the one items had",
				run->build_s, run->index_bytes / 1e6);
	if (opt->filter_btree)
		fprintf(f, "; btree on c10, c100, c1000, tenant and GIN on tags (%.1f MB)",
				run->btree_bytes / 1e6);
	fprintf(f, "\nMachine: %s; load average %s before the run, %s after\n",
			machine, run->load_before, run->load_after);
	fprintf(f, "Server: %s, one client; before each setting: RESET ALL%s%s\n\n",
			run->server, opt->session_sql ? "; " : "",
			opt->session_sql ? opt->session_sql : "");

	fprintf(f, "| setting | workload | WHERE | selectivity | rows/query | min rows "
			"| recall@%d | p50 ms | p95 ms | p50 / unfiltered | plan "
			"| nodes met | page visits |\n", run->k);
	fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (int s = 0; s < run->nsettings; s++)
	{
		for (int w = 0; w < run->nworkloads; w++)
		{
			const FilterWorkload *wl = &run->workloads[w];
			const FilterResult *fr = &wl->results[s];
			char		sel[32];

			format_percent(sel, sizeof(sel), fr->selectivity);
			fprintf(f, "| %s | %s | %s | %s | %.2f | %d | %.4f | %.3f | %.3f | %.2fx | %s |",
					run->settings[s][0] ? run->settings[s] : "default",
					wl->name, wl->kind == FILTER_NONE ? "" : filter_clauses[wl->kind],
					sel, fr->rows_mean, fr->rows_min, fr->recall, fr->p50,
					fr->p95, fr->p50_ratio, fr->plan);
			if (isnan(fr->nodes_met))
				fprintf(f, " - | - |\n");
			else
				fprintf(f, " %.0f | %.0f |\n", fr->nodes_met, fr->page_visits);
			short_queries += fr->short_queries;
			wrong_rows += fr->wrong_rows;
		}
	}
	fprintf(f, "\nselectivity: rows matching the query's filter value over all "
			"rows, mean over the queries.  rows/query and min rows: rows "
			"returned; recall@%d against the exact filtered answer (brute "
			"force over the loaded vectors), over min(%d, rows matching) per "
			"query.  p50 and p95: per-query latency on the client, median over "
			"%d timed rounds of one pass of each workload in turn; p50 / "
			"unfiltered: the median over the rounds of the pass's p50 over the "
			"unfiltered pass's in the same round.  plan: the scans of "
			"items in EXPLAIN EXECUTE of the prepared statement with each "
			"query's parameters after the warm-up pass, and each plan's share "
			"of the queries if they differ (graph: an omendb or hnsw index "
			"scan; btree, gin: those indexes; seq: a sequential scan).  "
			"nodes met and page visits: per omendb index scan, the index's "
			"own counts (omendb_scan_stats()) over the warm-up pass; - where "
			"no omendb scan ran.\n", run->k, run->k, opt->repeat);
	if (short_queries || wrong_rows)
		fprintf(f, "\n**%ld queries returned fewer than min(%d, rows matching) "
				"rows; %ld rows returned failed the filter or came twice** "
				"(over the last timed pass of each workload).\n",
				short_queries, run->k, wrong_rows);
	else
		fprintf(f, "\nEvery query returned min(%d, rows matching) rows, each "
				"matching its filter once.\n", run->k);
}

static void
write_filter_csv(const char *path, const FilterRun *run)
{
	const BenchOptions *opt = run->opt;
	const Dataset *ds = run->ds;
	FILE	   *f = fopen(path, "w");

	if (f == NULL)
		die("could not create \"%s\": %s", path, strerror(errno));
	fprintf(f, "dataset,rows,dim,metric,queries,k,setting,workload,filter,"
			"selectivity,rows_mean,rows_min,short_queries,wrong_rows,recall,"
			"p50,p95,mean_ms,p50_ratio,plan,plan_detail,build_s,index_bytes,"
			"nodes_met,page_visits\n");
	for (int s = 0; s < run->nsettings; s++)
	{
		for (int w = 0; w < run->nworkloads; w++)
		{
			const FilterWorkload *wl = &run->workloads[w];
			const FilterResult *fr = &wl->results[s];

			fprintf(f, "%s,%d,%d,%s,%d,%d,", ds->key, ds->nrows, ds->dim,
					metric_names[opt->metric], ds->nqueries, run->k);
			csv_quoted(f, run->settings[s]);
			fputc(',', f);
			csv_quoted(f, wl->name);
			fputc(',', f);
			csv_quoted(f, filter_clauses[wl->kind]);
			fprintf(f, ",%.6f,%.3f,%d,%d,%ld,%.4f,%.3f,%.3f,%.3f,%.3f,",
					fr->selectivity, fr->rows_mean, fr->rows_min,
					fr->short_queries, fr->wrong_rows, fr->recall, fr->p50,
					fr->p95, fr->mean_ms, fr->p50_ratio);
			csv_quoted(f, fr->plan);	/* "graph 84%, seq 16%" */
			fputc(',', f);
			csv_quoted(f, fr->plan_detail);
			fprintf(f, ",%.2f,%lld,", run->build_s, run->index_bytes);
			write_csv_counts(f, fr->nodes_met, fr->page_visits);
			fputc('\n', f);
		}
	}
	if (fclose(f) != 0)
		die("could not write \"%s\"", path);
}

/*
 * --filters, once the table is loaded and the index built: every workload
 * at every setting; the table printed and written to NAME.md, every
 * figure to NAME.csv.
 */
static void
run_filters(PGconn *conn, FilterRun *run)
{
	const BenchOptions *opt = run->opt;
	char		path[1100];
	FILE	   *f;

	make_workloads(run);
	compute_filter_truth(run);
	read_loadavg(run->load_before, sizeof(run->load_before));
	for (int s = 0; s < run->nsettings; s++)
		measure_filter_setting(conn, run, s);
	read_loadavg(run->load_after, sizeof(run->load_after));
	run->server = describe_server(conn, opt->extension);

	snprintf(path, sizeof(path), "%s/%s.csv", opt->out_dir, opt->name);
	write_filter_csv(path, run);
	progress("csv: %s", path);
	snprintf(path, sizeof(path), "%s/%s.md", opt->out_dir, opt->name);
	f = fopen(path, "w");
	if (f == NULL)
		die("could not create \"%s\": %s", path, strerror(errno));
	write_filter_report(f, run);
	if (fclose(f) != 0)
		die("could not write \"%s\"", path);
	progress("table: %s", path);
	printf("\n");
	write_filter_report(stdout, run);
}

/* ---------------------------------------------------------------- */
/* Command line														 */
/* ---------------------------------------------------------------- */

static void
usage(void)
{
	printf(
		   "omendb-bench: recall and throughput of the omendb index.\n\n"
		   "Usage: omendb-bench [OPTION]...\n\n"
		   "Data:\n"
		   "  --data-dir DIR        Fashion-MNIST IDX files (default %s)\n"
		   "  --synthetic N,DIM[,K] N generated rows of DIM dims (Gaussian clusters;\n"
		   "                        with K, clusters in K latent dims mapped to DIM)\n"
		   "  --seed S              synthetic data and --churn seed (default %d)\n"
		   "  --rows N              load only the first N rows\n"
		   "  --scale-first-row F   multiply row 1 (the first loaded) by F, e.g. 1e-3\n"
		   "  --queries Q           number of queries (default %d; %d with --churn or\n"
		   "                        --build-empty)\n"
		   "  --category            add a category column (label / cluster mod 10)\n"
		   "  --storage S           storage of the embedding column: external (the\n"
		   "                        type's default), main, plain or extended; omendb\n"
		   "                        re-checks distances on the heap row, so inline\n"
		   "                        storage (plain, main) saves a TOAST fetch per row\n"
		   "  --reuse-table         keep items if it already holds this data\n"
		   "  --query-table NAME    also load the queries into table NAME (id 1..Q,\n"
		   "                        embedding), e.g. to run them inside the server\n"
		   "  --load-only           load the data (and --query-table), then exit:\n"
		   "                        no exact neighbours, index or timing\n\n"
		   "Search:\n"
		   "  --metric l2|ip|cosine|l1 distance (default l2)\n"
		   "  -k K                  neighbours per query (default %d)\n"
		   "  --index-sql SQL       index DDL (default: USING omendb, opclass per metric)\n"
		   "                        (\"reuse\": keep the index items already has)\n"
		   "  --no-index            no index: sequential-scan baseline\n"
		   "  --sweep 'SQL|SQL|..'  search settings, one pass each, e.g.\n"
		   "                        'SET omendb.search_list_size=40|SET omendb.search_list_size=80'\n"
		   "                        (an empty snippet: a pass with default settings)\n"
		   "                        (default: search_list_size 10, 20, 40, 80; with --churn\n"
		   "                        or --build-empty: the default, 80, 160)\n"
		   "  --session-sql SQL     run before every setting (after RESET ALL; with\n"
		   "                        --churn or --build-empty after SET enable_seqscan = off)\n"
		   "  --repeat R            timed passes per setting; report median QPS (default 1;\n"
		   "                        %d with --churn or --build-empty)\n"
		   "  --floor-lookups N     lookups per floor pass, median of >= 5 (default %d)\n"
		   "  --threads T           brute-force threads (default %d)\n\n"
		   "The index as the table changes (each against a fresh build on the same\n"
		   "final rows; NAME.csv, and a table printed and written to NAME.md):\n"
		   "  --churn               build, then rounds of: delete a share of the rows at\n"
		   "                        random, insert their vectors again as new rows (COPY),\n"
		   "                        VACUUM; size per live row, recall, index ms, and\n"
		   "                        omendb's nodes met and page visits a query of each\n"
		   "                        round, re-insert and VACUUM times (and the\n"
		   "                        DELETE's in NAME.csv)\n"
		   "  --rounds K            --churn rounds (default %d)\n"
		   "  --delete-percent X    percentage of the rows each round deletes (default %g)\n"
		   "  --vacuum-first        VACUUM between the DELETE and the re-insert (default:\n"
		   "                        after the re-insert)\n"
		   "  --build-empty         CREATE INDEX on the empty table, then COPY every row,\n"
		   "                        against COPY, then CREATE INDEX\n\n"
		   "Radius queries:\n"
		   "  --radius N            instead of the recall curve, for each setting\n"
		   "                        (--sweep; default: the defaults, and\n"
		   "                        omendb.radius_exact off) time \"WHERE embedding\n"
		   "                        OP $1 < $2\", each query's radius halfway between\n"
		   "                        its N-th and N+1-th nearest rows, and report rows\n"
		   "                        returned and recall of those N, beside \"ORDER BY\n"
		   "                        embedding OP $1 LIMIT N\"\n\n"
		   "Filtered search (with --radius, both run on the same table and index):\n"
		   "  --filters             add filter columns to items (c10, c100, c1000: uniform\n"
		   "                        over 10, 100, 1000 values; tenant: 1000 tenants of\n"
		   "                        Zipf sizes; tags int[]: 1-5 of 500 tags per row) and\n"
		   "                        for each setting (--sweep; default: the defaults)\n"
		   "                        time \"WHERE FILTER ORDER BY embedding OP $1 LIMIT k\"\n"
		   "                        unfiltered, on c10, c100, c1000 = $2, on tenant = $2\n"
		   "                        for the largest, middle and smallest tenants of >= 10\n"
		   "                        rows, and on tags && ARRAY[$2]: selectivity, rows\n"
		   "                        returned, recall@k against the exact filtered answer,\n"
		   "                        p50 and p95 ms, the ratio to unfiltered, the plan.\n"
		   "                        Default index: USING omendb (embedding OPCLASS, c10,\n"
		   "                        c100, c1000, tenant, tags); %d queries, --repeat %d\n"
		   "  --filter-btree        also btree indexes on c10, c100, c1000, tenant and GIN\n"
		   "                        on tags, so the planner can choose them\n\n"
		   "Output:\n"
		   "  --name NAME           output base name (default from data and metric)\n"
		   "  --out-dir DIR         output directory (default: out/ beside the program)\n"
		   "  --no-plot             skip the gnuplot PNG\n"
		   "  --conninfo STR        libpq connection string (default: PG* env vars)\n"
		   "  --extension NAME      extension providing vector (default omendb)\n",
		   DEFAULT_DATA_DIR, DEFAULT_SEED, DEFAULT_QUERIES, DEFAULT_STATE_QUERIES,
		   DEFAULT_K, DEFAULT_STATE_REPEAT, DEFAULT_FLOOR_LOOKUPS, DEFAULT_THREADS,
		   DEFAULT_CHURN_ROUNDS, DEFAULT_DELETE_PERCENT, DEFAULT_FILTER_QUERIES,
		   DEFAULT_FILTER_REPEAT);
}

static void
parse_synthetic(const char *arg, BenchOptions *opt)
{
	char	   *copy = xstrdup(arg);
	char	   *comma = strchr(copy, ',');
	char	   *comma2;

	if (comma == NULL)
		die("--synthetic wants N,DIM[,LATENT], not \"%s\"", arg);
	*comma = '\0';
	opt->synthetic_n = parse_positive_int(copy, "--synthetic rows");
	if ((comma2 = strchr(comma + 1, ',')) != NULL)
	{
		*comma2 = '\0';
		opt->synthetic_latent = parse_positive_int(comma2 + 1, "--synthetic latent dimension");
	}
	opt->synthetic_dim = parse_positive_int(comma + 1, "--synthetic dimension");
	free(copy);
}

static Metric
parse_metric(const char *arg)
{
	for (int m = 0; m < (int) (sizeof(metric_names) / sizeof(metric_names[0])); m++)
		if (strcmp(arg, metric_names[m]) == 0)
			return (Metric) m;
	die("unknown metric \"%s\" (l2, ip, cosine or l1)", arg);
}

/*
 * getopt_long takes a unique prefix for a long option (--out for
 * --out-dir); bench/run reads options by their full names, so a prefix
 * would reach one and not the other.  Say so instead.
 */
static void
reject_abbreviations(int argc, char **argv, const struct option *options)
{
	for (int i = 1; i < argc; i++)
	{
		const char *arg = argv[i];
		size_t		len;
		const struct option *full = NULL;
		bool		exact = false;

		if (strcmp(arg, "--") == 0)
			return;
		if (strncmp(arg, "--", 2) != 0)
			continue;
		arg += 2;
		len = strcspn(arg, "=");
		for (const struct option *o = options; o->name != NULL; o++)
		{
			if (strlen(o->name) == len && strncmp(o->name, arg, len) == 0)
			{
				exact = true;
				full = o;
				break;
			}
			if (strncmp(o->name, arg, len) == 0 && full == NULL)
				full = o;
		}
		if (!exact && full != NULL)
			die("option --%.*s: write it out as --%s", (int) len, arg, full->name);
		/* a value given as the next argument is not an option */
		if (exact && full->has_arg == required_argument && arg[len] != '=')
			i++;
	}
}

/* Default output directory: out/ beside the executable. */
static const char *
default_out_dir(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');
	char	   *dir;

	if (slash == NULL)
		return "out";
	dir = xmalloc(slash - argv0 + 5);
	memcpy(dir, argv0, slash - argv0);
	strcpy(dir + (slash - argv0), "/out");
	return dir;
}

static void
parse_options(int argc, char **argv, BenchOptions *opt)
{
	enum
	{
		OPT_DATA_DIR = 256, OPT_SYNTHETIC, OPT_SEED, OPT_ROWS, OPT_QUERIES,
		OPT_CATEGORY, OPT_REUSE, OPT_STORAGE, OPT_METRIC, OPT_INDEX_SQL, OPT_NO_INDEX,
		OPT_SWEEP, OPT_SESSION_SQL, OPT_REPEAT, OPT_FLOOR, OPT_THREADS,
		OPT_NAME, OPT_OUT_DIR, OPT_NO_PLOT, OPT_CONNINFO, OPT_EXTENSION,
		OPT_QUERY_TABLE, OPT_LOAD_ONLY, OPT_SCALE_FIRST_ROW, OPT_CHURN,
		OPT_ROUNDS, OPT_DELETE_PERCENT, OPT_VACUUM_FIRST, OPT_BUILD_EMPTY,
		OPT_RADIUS, OPT_FILTERS, OPT_FILTER_BTREE
	};
	static const struct option long_options[] = {
		{"data-dir", required_argument, NULL, OPT_DATA_DIR},
		{"synthetic", required_argument, NULL, OPT_SYNTHETIC},
		{"seed", required_argument, NULL, OPT_SEED},
		{"rows", required_argument, NULL, OPT_ROWS},
		{"queries", required_argument, NULL, OPT_QUERIES},
		{"category", no_argument, NULL, OPT_CATEGORY},
		{"reuse-table", no_argument, NULL, OPT_REUSE},
		{"storage", required_argument, NULL, OPT_STORAGE},
		{"metric", required_argument, NULL, OPT_METRIC},
		{"index-sql", required_argument, NULL, OPT_INDEX_SQL},
		{"no-index", no_argument, NULL, OPT_NO_INDEX},
		{"sweep", required_argument, NULL, OPT_SWEEP},
		{"session-sql", required_argument, NULL, OPT_SESSION_SQL},
		{"repeat", required_argument, NULL, OPT_REPEAT},
		{"floor-lookups", required_argument, NULL, OPT_FLOOR},
		{"threads", required_argument, NULL, OPT_THREADS},
		{"name", required_argument, NULL, OPT_NAME},
		{"out-dir", required_argument, NULL, OPT_OUT_DIR},
		{"no-plot", no_argument, NULL, OPT_NO_PLOT},
		{"conninfo", required_argument, NULL, OPT_CONNINFO},
		{"extension", required_argument, NULL, OPT_EXTENSION},
		{"query-table", required_argument, NULL, OPT_QUERY_TABLE},
		{"load-only", no_argument, NULL, OPT_LOAD_ONLY},
		{"scale-first-row", required_argument, NULL, OPT_SCALE_FIRST_ROW},
		{"churn", no_argument, NULL, OPT_CHURN},
		{"rounds", required_argument, NULL, OPT_ROUNDS},
		{"delete-percent", required_argument, NULL, OPT_DELETE_PERCENT},
		{"vacuum-first", no_argument, NULL, OPT_VACUUM_FIRST},
		{"build-empty", no_argument, NULL, OPT_BUILD_EMPTY},
		{"radius", required_argument, NULL, OPT_RADIUS},
		{"filters", no_argument, NULL, OPT_FILTERS},
		{"filter-btree", no_argument, NULL, OPT_FILTER_BTREE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	memset(opt, 0, sizeof(*opt));
	opt->data_dir = DEFAULT_DATA_DIR;
	/* a recall/speed curve unless told otherwise; no-index runs need one pass */
	opt->sweep = NULL;
	opt->queries = DEFAULT_QUERIES;
	opt->k = DEFAULT_K;
	opt->threads = DEFAULT_THREADS;
	opt->repeat = 1;
	opt->floor_lookups = DEFAULT_FLOOR_LOOKUPS;
	opt->seed = DEFAULT_SEED;
	opt->out_dir = default_out_dir(argv[0]);
	opt->extension = "omendb";
	opt->churn_rounds = DEFAULT_CHURN_ROUNDS;
	opt->delete_percent = DEFAULT_DELETE_PERCENT;

	reject_abbreviations(argc, argv, long_options);
	while ((c = getopt_long(argc, argv, "hk:", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case OPT_DATA_DIR:
				opt->data_dir = optarg;
				break;
			case OPT_SYNTHETIC:
				parse_synthetic(optarg, opt);
				break;
			case OPT_SEED:
				opt->seed = strtoull(optarg, NULL, 10);
				break;
			case OPT_ROWS:
				opt->rows = parse_positive_int(optarg, "--rows");
				break;
			case OPT_QUERIES:
				opt->queries = parse_positive_int(optarg, "--queries");
				opt->queries_given = true;
				break;
			case OPT_CATEGORY:
				opt->category = true;
				break;
			case OPT_STORAGE:
				if (storage_code(optarg) == 0)
					die("--storage: expected external, main, plain or extended, not \"%s\"", optarg);
				opt->storage = optarg;
				break;
			case OPT_REUSE:
				opt->reuse_table = true;
				break;
			case OPT_METRIC:
				opt->metric = parse_metric(optarg);
				break;
			case 'k':
				opt->k = parse_positive_int(optarg, "-k");
				break;
			case OPT_INDEX_SQL:
				opt->index_sql = optarg;
				break;
			case OPT_NO_INDEX:
				opt->no_index = true;
				break;
			case OPT_SWEEP:
				opt->sweep = optarg;
				break;
			case OPT_SESSION_SQL:
				opt->session_sql = optarg;
				break;
			case OPT_REPEAT:
				opt->repeat = parse_positive_int(optarg, "--repeat");
				opt->repeat_given = true;
				break;
			case OPT_FLOOR:
				opt->floor_lookups = parse_positive_int(optarg, "--floor-lookups");
				break;
			case OPT_THREADS:
				opt->threads = parse_positive_int(optarg, "--threads");
				break;
			case OPT_NAME:
				opt->name = optarg;
				break;
			case OPT_OUT_DIR:
				opt->out_dir = optarg;
				break;
			case OPT_NO_PLOT:
				opt->no_plot = true;
				break;
			case OPT_CONNINFO:
				opt->conninfo = optarg;
				break;
			case OPT_EXTENSION:
				opt->extension = optarg;
				break;
			case OPT_QUERY_TABLE:
				if (strcmp(optarg, "items") == 0)
					die("--query-table: items is the data table");
				opt->query_table = optarg;
				break;
			case OPT_LOAD_ONLY:
				opt->load_only = true;
				break;
			case OPT_SCALE_FIRST_ROW:
				opt->scale_first_row = parse_positive_double(optarg, "--scale-first-row");
				break;
			case OPT_CHURN:
				opt->churn = true;
				break;
			case OPT_ROUNDS:
				opt->churn_rounds = parse_positive_int(optarg, "--rounds");
				break;
			case OPT_DELETE_PERCENT:
				opt->delete_percent = parse_positive_double(optarg, "--delete-percent");
				if (opt->delete_percent > 100)
					die("--delete-percent: at most 100, not \"%s\"", optarg);
				break;
			case OPT_VACUUM_FIRST:
				opt->vacuum_first = true;
				break;
			case OPT_BUILD_EMPTY:
				opt->build_empty = true;
				break;
			case OPT_RADIUS:
				opt->radius_rows = parse_positive_int(optarg, "--radius");
				break;
			case OPT_FILTERS:
				opt->filters = true;
				break;
			case OPT_FILTER_BTREE:
				opt->filter_btree = true;
				break;
			case 'h':
				usage();
				exit(0);
			default:
				fprintf(stderr, "Try \"omendb-bench --help\".\n");
				exit(2);
		}
	}
	if (optind < argc)
		die("unexpected argument \"%s\"", argv[optind]);
	if (opt->vacuum_first && !opt->churn)
		die("--vacuum-first is for --churn");
	if (opt->filter_btree && !opt->filters)
		die("--filter-btree is for --filters");
	opt->filter_k = opt->k;
	if (opt->filters)
	{
		if (opt->churn || opt->build_empty)
			die("--filters measures an index on loaded data: not with --churn "
				"or --build-empty");
		if (!opt->queries_given)
			opt->queries = DEFAULT_FILTER_QUERIES;
		if (!opt->repeat_given)
			opt->repeat = DEFAULT_FILTER_REPEAT;
	}
	if (opt->radius_rows > 0)
	{
		if (opt->churn || opt->build_empty || opt->no_index)
			die("--radius measures an index on loaded data: not with --churn, "
				"--build-empty or --no-index");
		/* the truth: the N nearest rows and the next one */
		opt->k = opt->radius_rows + 1;
	}
	if (opt->churn || opt->build_empty)
	{
		const char *mode = opt->churn ? "--churn" : "--build-empty";

		if (opt->churn && opt->build_empty)
			die("--churn and --build-empty are two runs: give one");
		if (opt->no_index || opt->reuse_table || opt->load_only || opt->query_table ||
			(opt->index_sql && strcmp(opt->index_sql, "reuse") == 0))
			die("%s builds its own table and index: --no-index, --reuse-table, "
				"--load-only, --query-table and --index-sql reuse do not apply", mode);
		if (!opt->queries_given)
			opt->queries = DEFAULT_STATE_QUERIES;
		if (!opt->repeat_given)
			opt->repeat = DEFAULT_STATE_REPEAT;
		if (opt->sweep == NULL)
			opt->sweep = DEFAULT_STATE_SWEEP;

		/*
		 * Every pass measures the index: the planner may cost a large
		 * search list above a sequential scan of a small table.
		 */
		if (opt->session_sql == NULL)
			opt->session_sql = "SET enable_seqscan = off";
		else if (strstr(opt->session_sql, "enable_seqscan") == NULL)
		{
			char	   *sql = xmalloc(strlen(opt->session_sql) + 32);

			sprintf(sql, "SET enable_seqscan = off; %s", opt->session_sql);
			opt->session_sql = sql;
		}
	}
}

/* Split the sweep on '|' into trimmed snippets; "" means no settings. */
static char **
split_sweep(const char *sweep, int *n)
{
	char	   *copy = xstrdup(sweep);
	char	  **items = xmalloc((strlen(sweep) + 2) * sizeof(char *));
	char	   *p = copy;

	*n = 0;
	for (;;)
	{
		char	   *bar = strchr(p, '|');
		char	   *end;

		if (bar)
			*bar = '\0';
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		end = p + strlen(p);
		while (end > p && (end[-1] == ' ' || end[-1] == '\t' ||
						   end[-1] == '\n' || end[-1] == ';'))
			*--end = '\0';
		/* An empty snippet is a pass with the default settings. */
		items[(*n)++] = xstrdup(p);
		if (!bar)
			break;
		p = bar + 1;
	}
	free(copy);
	return items;
}

/* argv as one line, an argument with a space or quote in single quotes */
static char *
command_line(int argc, char **argv)
{
	size_t		len = 1;
	char	   *out;

	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) * 4 + 3;
	out = xmalloc(len);
	out[0] = '\0';
	for (int i = 0; i < argc; i++)
	{
		const char *a = i == 0 && strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[i];
		bool		quote = a[0] == '\0' || strpbrk(a, " \t'\"|;$<>*?&()") != NULL;

		if (i)
			strcat(out, " ");
		if (!quote)
		{
			strcat(out, a);
			continue;
		}
		strcat(out, "'");
		for (; *a; a++)
		{
			if (*a == '\'')
				strcat(out, "'\\''");
			else
				strncat(out, a, 1);
		}
		strcat(out, "'");
	}
	return out;
}

static char *
default_name(const BenchOptions *opt, const Dataset *ds)
{
	char		buf[256];

	snprintf(buf, sizeof(buf), "%s-r%d-%s%s", ds->key, ds->nrows,
			 metric_names[opt->metric],
			 opt->no_index ? "-seqscan" :
			 opt->churn && opt->vacuum_first ? "-churn-vacuum-first" :
			 opt->churn ? "-churn" :
			 opt->build_empty ? "-build-empty" :
			 opt->filters ? "-filters" : "");
	return xstrdup(buf);
}

int
main(int argc, char **argv)
{
	BenchOptions opt;
	Dataset		ds;
	Truth		truth;
	QueryParams qp;
	PGconn	   *conn;
	Oid			vector_oid;
	PassResult	floor_pass = {0};
	char	  **settings;
	int			nsettings;
	SettingResult *results;
	double		build_s = 0;
	long long	index_bytes = 0;
	char		index_sql_buf[256];
	char		base[1024],
				csv[1100];
	char	   *oid_text;

	parse_options(argc, argv, &opt);
	memset(&ds, 0, sizeof(ds));
	ensure_dir(opt.out_dir);

	/* Data and exact neighbours first: they need no server. */
	if (opt.synthetic_n > 0)
		generate_synthetic(&opt, &ds);
	else
		load_fashion_mnist(&opt, &ds);
	if (ds.nrows < opt.k)
		die("need at least k=%d rows", opt.k);
	scale_first_row(&opt, &ds);
	if (opt.filters)
		ds.filters = make_filter_columns(ds.nrows, opt.seed);
	if (opt.name == NULL)
		opt.name = default_name(&opt, &ds);
	progress("data: %s, %d rows x %d dims, %d queries",
			 ds.key, ds.nrows, ds.dim, ds.nqueries);
	/* --filters computes its own exact answers, after the load */
	if (!opt.load_only && (!opt.filters || opt.radius_rows > 0))
		get_truth(&opt, &ds, &truth);
	qp = encode_queries(&ds);

	conn = connect_db(opt.conninfo);
	exec_sql(conn, "SET client_min_messages = warning");
	create_extension(conn, opt.extension);
	oid_text = query_value(conn, "SELECT 'vector'::regtype::oid");
	vector_oid = (Oid) strtoul(oid_text, NULL, 10);
	free(oid_text);

	if (opt.index_sql == NULL && !opt.no_index)
	{
		/* --filters: the filter columns stored in the graph, filtered in it */
		snprintf(index_sql_buf, sizeof(index_sql_buf),
				 "CREATE INDEX items_embedding_idx ON items "
				 "USING omendb (embedding vector_%s_ops%s)",
				 metric_names[opt.metric],
				 opt.filters ? ", c10, c100, c1000, tenant, tags" : "");
		opt.index_sql = index_sql_buf;
	}
	if (opt.churn || opt.build_empty)
	{
		StateRun	run;

		memset(&run, 0, sizeof(run));
		run.opt = &opt;
		run.ds = &ds;
		run.truth = &truth;
		run.qp = &qp;
		run.vector_oid = vector_oid;
		run.settings = split_sweep(opt.sweep, &run.nsettings);
		run.command = getenv("OMENDB_BENCH_COMMAND");
		if (run.command == NULL || run.command[0] == '\0')
			run.command = command_line(argc, argv);
		run_states(conn, &run);
		PQfinish(conn);
		return 0;
	}

	load_table(conn, &opt, &ds);
	if (opt.query_table)
		load_query_table(conn, &opt, &ds);
	if (opt.load_only)
	{
		PQfinish(conn);
		return 0;
	}
	if (!opt.filters || opt.radius_rows > 0)
		floor_pass = measure_floor(conn, &opt, &ds, &qp, &truth, vector_oid);

	if (opt.no_index)
		drop_secondary_indexes(conn);
	else
	{
		if (strcmp(opt.index_sql, "reuse") == 0)
			opt.index_sql = NULL;	/* keep the index already there */
		build_s = build_index(conn, opt.conninfo, opt.index_sql, &index_bytes);
	}

	if (opt.filters)
	{
		FilterRun	run;

		memset(&run, 0, sizeof(run));
		if (opt.filter_btree)
			run.btree_bytes = create_filter_btrees(conn);
		run.opt = &opt;
		run.ds = &ds;
		run.qp = &qp;
		run.vector_oid = vector_oid;
		run.k = opt.filter_k;
		/* default: the index's default search setting alone */
		run.settings = split_sweep(opt.sweep ? opt.sweep : "", &run.nsettings);
		run.build_s = build_s;
		run.index_bytes = index_bytes;
		run.command = getenv("OMENDB_BENCH_COMMAND");
		if (run.command == NULL || run.command[0] == '\0')
			run.command = command_line(argc, argv);
		run_filters(conn, &run);
	}
	if (opt.radius_rows > 0)
	{
		if (opt.sweep == NULL)
			opt.sweep = "|SET omendb.radius_exact=off";
		settings = split_sweep(opt.sweep, &nsettings);
		run_radius(conn, &opt, &ds, &truth, &qp, vector_oid, settings, nsettings);
	}
	if (opt.filters || opt.radius_rows > 0)
	{
		PQfinish(conn);
		return 0;
	}
	if (opt.sweep == NULL)
		opt.sweep = opt.no_index ? "" :
			"SET omendb.search_list_size=10|SET omendb.search_list_size=20|"
			"SET omendb.search_list_size=40|SET omendb.search_list_size=80";
	settings = split_sweep(opt.sweep, &nsettings);
	results = xmalloc(nsettings * sizeof(SettingResult));
	for (int i = 0; i < nsettings; i++)
	{
		PassResult *p = &results[i].pass;

		progress("search: %s", settings[i][0] ? settings[i] : "(default settings)");
		results[i].setting = settings[i];
		measure_setting(conn, &opt, &ds, &truth, &qp, vector_oid,
						settings[i], &results[i]);
		progress("  recall %.4f, %.1f QPS, p50 %.3f ms, p99 %.3f ms, "
				 "index %.3f ms (floor %.0f QPS)",
				 p->recall, p->qps, p->p50, p->p99, results[i].index_ms,
				 results[i].floor_qps);
	}
	PQfinish(conn);

	snprintf(base, sizeof(base), "%s/%s", opt.out_dir, opt.name);
	snprintf(csv, sizeof(csv), "%s.csv", base);
	write_csv(csv, &opt, &ds, results, nsettings, build_s, index_bytes);
	progress("csv: %s", csv);
	if (!opt.no_plot)
		write_plot(base, &opt, &ds, results, nsettings, floor_pass.qps);

	print_results(&opt, &ds, results, nsettings, build_s, index_bytes,
				  &floor_pass);
	return 0;
}
