/*-------------------------------------------------------------------------
 *
 * omendb_quant.h
 *	  The quantizer interface: what the graph, the scan and the page code
 *	  need of the codes nodes carry.
 *
 * A quantizer is a table of routines (OmenQuantRoutine), found by the kind
 * the meta page names (OmenQuantizer) or by the value of the quantizer
 * reloption.  It says how large a code is, learns its parameters, encodes
 * vectors with a bound on the error, keeps its parameters on the quantizer
 * pages, and measures distances from prepared queries to codes: the
 * approximate ones the graph is built and searched by, and rigorous lower
 * bounds on exact distances for scans.  SQ8 (omendb_sq8.c) and RaBitQ
 * (omendb_rabitq.c) implement it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_QUANT_H
#define OMENDB_QUANT_H

#include <math.h>

#include "omendb.h"

typedef struct OmenQuantRoutine OmenQuantRoutine;

/*
 * A trained quantizer, as a backend holds it.  One palloc chunk of size
 * bytes, the quantizer's own fields following these, with no pointer into
 * itself: so it can be copied whole (omendb_get_info keeps it in
 * rd_amcache, scans take a copy).
 */
struct OmenQuantState
{
	const OmenQuantRoutine *routine;
	Size		size;			/* of the whole chunk */
	int			dims;			/* code dimensions */

	/*
	 * Whether the graph is built from the vectors rather than the codes: a
	 * new node's neighbours are searched for from its vector, and a build
	 * does not refine its graph by searches from the codes.  For codes whose
	 * distances to one another are much coarser than their distances to a
	 * vector, so that a search from a code finds worse neighbours than the
	 * one from the vector did (one-bit RaBitQ; README.omendb, "RaBitQ").
	 */
	bool		places_by_vector;
};

/*
 * SQ8's part of a query (omendb_sq8.c), here only so that OmenQuery has a
 * size.  The graph is searched by squared Euclidean distance in code space:
 * the query mapped to (q - lower) / step gives sum(weight * (q' - code)^2),
 * and L1 scans by sum(step * |q' - code|).
 * For inner product the query is [q, 0] in the transformed space, and the
 * bound on q . x comes from q . lower + sum(q * step * code) over the first
 * ipdim dimensions.
 */
typedef struct OmenSQ8Query
{
	const float *weight;		/* the quantizer's weights */
	const int16 *iweight;		/* and their 7-bit form */
	float		iweight_scale;
	double		dist_unscale;	/* code distances are in these units */
	float	   *qcode;			/* the query in code space (L2 and cosine,
								 * float kernel; L1) */
	float	   *lweight;		/* L1: each step in units of dist_unscale,
								 * rounded down */
	int			ipdim;			/* inner product: the original dimension */
	float	   *qip;			/* inner product: q * step, scaled */
	double		ipconst;		/* inner product: q . lower, scaled */
	double		ip_unscale;		/* inner product: undoes the scaling */
	const uint8 *qbytes;		/* if set, the query is this code (L2
								 * only): graph building compares codes
								 * with integer arithmetic */
	double		abs_slack;		/* what float arithmetic below the normal
								 * range can cost a bound (scans; see
								 * sq8_score_node) */

	/*
	 * Scans (L2 and cosine) score codes with integer arithmetic where the
	 * CPU has a fast integer kernel; qround is NULL otherwise, and for
	 * graph building.
	 */
	uint8	   *qround;			/* the query's nearest code */
	int16	   *qcross;			/* its offset from that code, weighted and
								 * scaled to 12 bits */
	double		cross_scale;	/* qcross = weight * offset * cross_scale */
	double		cross_const;	/* the terms that depend on the query only */
	double		cross_slack;	/* what rounding qcross can cost */

	/*
	 * With probable bounds (OMENDB_QUERY_SCAN_PROBABLE, L2 and cosine), a
	 * scan takes <q - x, x - x^> to be at most probable_cross |q - x^| e, for
	 * a node whose error e is at most probable_error_limit (no code
	 * clamped); probable_cross is 0 for rigorous bounds.
	 */
	double		probable_cross;
	double		probable_error_limit;
} OmenSQ8Query;

/*
 * RaBitQ's part of a query (omendb_rabitq.c): the rotated query z, as a
 * table of its sums over every subset of four dimensions, or a code.
 */
typedef struct OmenRaBitQQuery
{
	double	   *lut;			/* 16 sums per four rotated dimensions */
	double		znorm;			/* |z| */
	double		zsum;			/* sum of z_i */
	double		qc;				/* inner product: q . c */
	double		vz_slack;		/* what the table's sums can be off by */
	double		abs_slack;		/* what floats below the normal range can
								 * cost a bound */
	double		probable_scale; /* if not 0, scans bound distances with
								 * high probability (OMENDB_QUERY_SCAN_PROBABLE):
								 * epsilon0 |z| / sqrt(D - 1) */
	const uint8 *qcode;			/* if set, the query is this code */
} OmenRaBitQQuery;

/*
 * What a vector query is prepared for (omendb_query_init).  Probable bounds
 * fall short of the exact distance with a small probability, so a scan
 * asks for them only where it computes exact distances itself instead of
 * leaving them to the executor's recheck (README.omendb, "RaBitQ").
 */
typedef enum OmenQueryUse
{
	OMENDB_QUERY_GRAPH,			/* code distances: builds and refits */
	OMENDB_QUERY_SCAN,			/* and rigorous bounds, for a scan */
	OMENDB_QUERY_SCAN_PROBABLE	/* or probable ones, where the quantizer
								 * has them */
} OmenQueryUse;

/* A query prepared for code distances (omendb_query_init*). */
struct OmenQuery
{
	const OmenQuantRoutine *routine;	/* of quant */
	const OmenQuantState *quant;
	OmenMetric	metric;
	int			dim;			/* code dimensions */
	const float *q;				/* the query as indexed (normalized for
								 * cosine, zero-extended for IP) */
	float		qnorm;			/* |q| */
	uint8		qset;			/* the parameter set of quant */
	const OmenQuery *other;		/* scans during an unfinished refit: the
								 * query prepared for the other set, which
								 * scores the nodes it encoded; else NULL */
	union
	{
		OmenSQ8Query sq8;
		OmenRaBitQQuery rabitq;
	}			impl;			/* the quantizer's own part */
};

struct OmenQuantRoutine
{
	OmenQuantizer kind;			/* in the meta page */
	const char *name;			/* the quantizer reloption's value */

	/*
	 * The bits option: the largest value it takes (0: the quantizer takes
	 * none, and its meta pages keep 0 there) and the value it defaults to.
	 */
	int			max_bits;
	int			default_bits;

	/* Whether it can index under a metric; NULL: under all. */
	bool		(*supports) (OmenMetric metric);

	/*
	 * Layout, for vectors of dim dimensions under a metric: the dimensions
	 * a code encodes (those of the vector as indexed, OmenCodeDims), its
	 * bytes at a number of bits, and the quantizer pages that hold the
	 * parameters.
	 */
	int			(*code_dims) (OmenMetric metric, int dim);
	int			(*code_bytes) (OmenMetric metric, int dim, int bits);
	BlockNumber (*page_count) (OmenMetric metric, int dim);

	/*
	 * Training: from each dimension's minimum, maximum and mean over the
	 * vectors as indexed, or, for an index built empty, from its first
	 * vector as indexed (v: code_dims floats of a vector of dim
	 * dimensions); bits as the meta page holds them.
	 */
	OmenQuantState *(*train) (int code_dims, const float *minv,
							  const float *maxv, const float *mean,
							  int bits);
	OmenQuantState *(*train_first) (OmenMetric metric, const float *v,
									int dim, float ip_max_norm, int bits);

	/*
	 * Encode x into code and return a bound on |x - decode(code)|, rounded
	 * up so that it holds despite float rounding (infinite if it overflows
	 * a float).  decode_error is |x - decode(code)| as exactly as double
	 * arithmetic goes.  cell_radius is the largest |x - decode(code)| of
	 * a vector x inside the trained ranges, and unclamped_error_limit the
	 * largest bound encode gives one, rounding included (both for
	 * omendb_check).
	 */
	float		(*encode) (const OmenQuantState *qs, const float *x,
						   uint8 *code);
	double		(*decode_error) (const OmenQuantState *qs, const float *x,
								 const uint8 *code);
	double		(*cell_radius) (const OmenQuantState *qs);
	double		(*unclamped_error_limit) (const OmenQuantState *qs);

	/*
	 * Refits.  transcode re-encodes a code of quantizer from into one of
	 * to, without the vector it encoded: it returns a bound on the vector's
	 * error under to, from its bound error under from (the triangle
	 * inequality, rounded up).  span_radius estimates the cell radius of
	 * the quantizer that training on the vectors a quantizer encoded would
	 * give, from the least and greatest code each dimension took (for
	 * SQ8, one byte a dimension each).
	 */
	float		(*transcode) (const OmenQuantState *from, const uint8 *code,
							  float error, const OmenQuantState *to,
							  uint8 *newcode);
	double		(*span_radius) (const OmenQuantState *qs, const uint8 *lo,
								const uint8 *hi);

	/*
	 * The quantizer pages of one parameter set, blocks first on: written
	 * when trained or refitted (blocks that already exist are overwritten);
	 * read, and checked, into a new state.
	 */
	void		(*write_pages) (Relation index, const OmenQuantState *qs,
								BlockNumber first, ForkNumber fork,
								bool use_wal);
	OmenQuantState *(*read_pages) (Relation index,
								   const OmenMetaPageData *meta,
								   BlockNumber first);

	/* Queries: see the wrappers below. */
	void		(*query_init) (OmenQuery *query, const OmenQuantState *qs,
							   OmenMetric metric, const float *x, int dim,
							   OmenQueryUse use);
	void		(*query_init_code) (OmenQuery *query,
									const OmenQuantState *qs,
									const uint8 *code);
	void		(*query_from_code) (OmenQuery *query, const uint8 *code);
	float		(*code_distance) (const OmenQuery *query, const uint8 *code);
	double		(*score_node) (const OmenQuery *query,
							   const OmenNodeHeader node, const uint8 *code,
							   float *approx);

	/*
	 * Whether scans bound rows with certainty under omendb.exact_order =
	 * auto: where its certain bounds are tight enough that a scan meets few
	 * more nodes for them (README.omendb, "Exact order by default").
	 */
	bool		certain_by_default;
};

/* omendb.exact_order */
typedef enum OmenExactOrder
{
	OMENDB_EXACT_ORDER_OFF,
	OMENDB_EXACT_ORDER_ON,
	OMENDB_EXACT_ORDER_AUTO		/* the quantizer's certain_by_default */
} OmenExactOrder;

/* omendb_handler.c */
extern int	omendb_exact_order;

/* omendb_quant.c */
extern bool omendb_bounds_certain(const OmenQuantState *qs);
extern const OmenQuantRoutine *omendb_quant_routine(uint16 quantizer);
extern const OmenQuantRoutine *omendb_quant_routine_by_name(const char *name);
extern char *omendb_quant_names(void);
extern bool omendb_quant_bits_valid(const OmenQuantRoutine *routine, int bits);
extern const OmenQuantRoutine *omendb_index_quant(Relation index,
												  const OmenMetaPageData *meta);
extern OmenQuantState *omendb_quant_train(uint16 quantizer, int code_dims,
										  const float *minv,
										  const float *maxv,
										  const float *mean);
extern OmenQuantState *omendb_quant_train_first(uint16 quantizer,
												OmenMetric metric,
												const float *v, int dim,
												float ip_max_norm);
extern BlockNumber omendb_quant_set_block(const OmenMetaPageData *meta,
										  int set);
extern void omendb_write_item_page(Relation index, BlockNumber blkno,
								   ForkNumber fork, bool use_wal, uint16 kind,
								   const void *item, Size size);
extern char *omendb_item_page_problem(Page page, uint16 kind, Size size);
extern void omendb_write_quant_item(Relation index, BlockNumber blkno,
									ForkNumber fork, bool use_wal,
									const void *item, Size size);
extern void omendb_write_quant_pages(Relation index, const OmenQuantState *qs,
									 BlockNumber first, ForkNumber fork,
									 bool use_wal);
extern void omendb_write_quant_sets(Relation index, const OmenQuantState *qs,
									const OmenMetaPageData *meta,
									ForkNumber fork, bool use_wal);
extern OmenQuantState *omendb_read_quant(Relation index,
										 const OmenMetaPageData *meta,
										 int set);

/* omendb_sq8.c */
extern const OmenQuantRoutine omendb_sq8_routine;

/* omendb_rabitq.c */
extern const OmenQuantRoutine omendb_rabitq_routine;

/* Encode x into code; returns the bound on the error (see encode above). */
static inline float
omendb_quant_encode(const OmenQuantState *qs, const float *x, uint8 *code)
{
	return qs->routine->encode(qs, x, code);
}

/* |x - decode(code)|, in double. */
static inline double
omendb_quant_decode_error(const OmenQuantState *qs, const float *x,
						  const uint8 *code)
{
	return qs->routine->decode_error(qs, x, code);
}

/* The largest error of a vector inside the trained ranges. */
static inline double
omendb_quant_cell_radius(const OmenQuantState *qs)
{
	return qs->routine->cell_radius(qs);
}

/* The largest error bound of a vector whose code was not clamped. */
static inline double
omendb_quant_unclamped_error_limit(const OmenQuantState *qs)
{
	return qs->routine->unclamped_error_limit(qs);
}

/*
 * How well the quantizer's ranges fit the data, from the error bounds of
 * live nodes (README.omendb, "The quantizer's fitness"): the codes that
 * were clamped, and the mean bound as a fraction of the cell radius, over
 * the graph nodes (a zero node has no code), each measured against the
 * parameter set that encoded it.  omendb_check adds up every live node,
 * omendb_index_stats a sample.
 */
typedef struct OmenFitness
{
	double		clamp_limit[2]; /* error bounds above this were clamped */
	double		cell_radius[2]; /* largest error inside the ranges */
	uint64		clamped;		/* live nodes with such bounds */
	uint64		ratio_nodes;	/* live graph nodes added */
	double		ratio_sum;		/* sum of their error / cell_radius */
} OmenFitness;

/*
 * Start counting, for the current parameter set qs (set current) and, if
 * not NULL, the other one.
 */
static inline void
omendb_fitness_init(OmenFitness *fit, const OmenQuantState *qs, int current,
					const OmenQuantState *other)
{
	fit->clamp_limit[current] = omendb_quant_unclamped_error_limit(qs);
	fit->cell_radius[current] = omendb_quant_cell_radius(qs);
	if (other == NULL)
		other = qs;
	fit->clamp_limit[1 - current] = omendb_quant_unclamped_error_limit(other);
	fit->cell_radius[1 - current] = omendb_quant_cell_radius(other);
	fit->clamped = 0;
	fit->ratio_nodes = 0;
	fit->ratio_sum = 0;
}

/* Add a live node's error bound; zero: it is a zero node (omendb.h). */
static inline void
omendb_fitness_add(OmenFitness *fit, const OmenNodeHeader node, bool zero)
{
	int			set = node->qset & 1;

	if (node->error > fit->clamp_limit[set])
		fit->clamped++;
	if (!zero)
	{
		fit->ratio_nodes++;
		fit->ratio_sum += node->error / fit->cell_radius[set];
	}
}

/*
 * What a pass over the live graph nodes learns of the current parameters'
 * fit, for a refit's verdict: their error bounds, and the least and
 * greatest byte of the codes they encoded (SQ8's span of each dimension).
 * VACUUM's cleanup gathers it in the pass over the nodes it makes anyway,
 * so that deciding whether to refit takes no second pass.
 */
typedef struct OmenFitSurvey
{
	OmenFitness fit;
	uint32		quant_epoch;	/* of the parameters it measured */
	int			code_size;
	uint8	   *lo;
	uint8	   *hi;
} OmenFitSurvey;

/* omendb_refit.c */
extern int	omendb_refit_max_pages;
extern void omendb_fit_survey_init(OmenFitSurvey *survey,
								   const OmenQuantState *qs,
								   const OmenMetaPageData *meta);
extern void omendb_fit_survey_add(OmenFitSurvey *survey,
								  const OmenMetaPageData *meta,
								  const OmenNodeHeader hdr);
extern bool omendb_refit(IndexVacuumInfo *info, const OmenFitSurvey *survey);

/* omendb_heapvec.c */
typedef struct OmenHeapVectors OmenHeapVectors;
extern OmenHeapVectors *omendb_heap_vectors_begin(Relation index);
extern void omendb_heap_vectors_end(OmenHeapVectors *hv);
extern bool omendb_heap_vector(OmenHeapVectors *hv, Relation index,
							   const OmenMetaPageData *meta, ItemPointer tid,
							   float *v);

/*
 * Prepare a query for code distances.  x is the vector as indexed (see
 * omendb_prepare_vector), of dim code dimensions; the caller keeps it
 * alive.  A scan query is prepared for omendb_score_node.
 */
static inline void
omendb_query_init(OmenQuery *query, const OmenQuantState *qs,
				  OmenMetric metric, const float *x, int dim, OmenQueryUse use)
{
	qs->routine->query_init(query, qs, metric, x, dim, use);
}

/*
 * A query that is a stored code (L2 in code space), or none yet if code is
 * NULL: what graph building uses, both for placing a node and for pruning.
 */
static inline void
omendb_query_init_code(OmenQuery *query, const OmenQuantState *qs,
					   const uint8 *code)
{
	qs->routine->query_init_code(query, qs, code);
}

/*
 * The query a new node's neighbours are searched for from: its vector as
 * indexed (v, code dimensions), where the quantizer places by vector, else
 * its code.  A vector query allocates in the current memory context.
 */
static inline void
omendb_query_init_placement(OmenQuery *query, const OmenQuantState *qs,
							const float *v, const uint8 *code)
{
	if (qs->places_by_vector)
		qs->routine->query_init(query, qs, OMENDB_METRIC_L2, v, qs->dims,
								OMENDB_QUERY_GRAPH);
	else
		qs->routine->query_init_code(query, qs, code);
}

/* Re-point a code query at another code (RobustPrune's pivot). */
static inline void
omendb_query_from_code(OmenQuery *query, const uint8 *code)
{
	query->routine->query_from_code(query, code);
}

/*
 * Approximate squared Euclidean distance from the query to a code, in the
 * space the graph lives in (transformed for inner product).
 */
static inline float
omendb_code_distance(const OmenQuery *query, const uint8 *code)
{
	return query->routine->code_distance(query, code);
}

/*
 * Score a node for a scan: *approx, the approximate distance in the units
 * of the ordering operator (what the search navigates by), and the
 * returned value, a rigorous lower bound on the exact distance the
 * executor will compute.
 */
static inline double
omendb_score_node(const OmenQuery *query, const OmenNodeHeader node,
				  const uint8 *code, float *approx)
{
	if (unlikely(node->qset != query->qset))
	{
		/* a node of a set the query was not prepared for: no bound */
		if (query->other == NULL)
		{
			*approx = INFINITY;
			return -INFINITY;
		}
		query = query->other;
	}
	return query->routine->score_node(query, node, code, approx);
}

#endif							/* OMENDB_QUANT_H */
