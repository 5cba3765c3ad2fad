/*-------------------------------------------------------------------------
 *
 * omendb.h
 *	  The omendb index access method: on-disk contract and shared
 *	  declarations.
 *
 * Everything that is written to an index page is defined in this file, and
 * nowhere else.  The design (page layout, locking protocol, WAL, algorithms)
 * is explained in src/README.omendb; keep the two in step.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_H
#define OMENDB_H

#include "postgres.h"

#include "access/amapi.h"
#include "access/genam.h"
#include "access/generic_xlog.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/relcache.h"

#include "compat.h"
#include "vector.h"

/* ----------------------------------------------------------------
 *		On-disk format
 * ----------------------------------------------------------------
 */

#define OMENDB_MAGIC			0x0DB1A7E5	/* in the meta page */
#define OMENDB_VERSION			1	/* bump on any incompatible change */

/* Fixed block numbers. */
#define OMENDB_METAPAGE_BLKNO	0
#define OMENDB_FIRST_QUANT_BLKNO	1

/* Page kinds, stored in every page's special space. */
#define OMENDB_PAGE_META		1
#define OMENDB_PAGE_QUANT		2
#define OMENDB_PAGE_NODE		3

/*
 * Special space of every omendb page.  Pages use the standard layout (line
 * pointers growing up, items down), as generic xlog requires: it zeroes the
 * hole between pd_lower and pd_upper.
 */
typedef struct OmenPageOpaqueData
{
	uint16		kind;			/* OMENDB_PAGE_* */
	uint16		unused;			/* always zero */
	uint32		magic;			/* OMENDB_MAGIC, to catch foreign pages */
} OmenPageOpaqueData;

typedef OmenPageOpaqueData *OmenPageOpaque;

#define OmenPageGetOpaque(page) ((OmenPageOpaque) PageGetSpecialPointer(page))

/* Distance the index was built for; from the operator class. */
typedef enum OmenMetric
{
	OMENDB_METRIC_L2 = 1,		/* <->, Euclidean */
	OMENDB_METRIC_IP = 2,		/* <#>, negative inner product */
	OMENDB_METRIC_COSINE = 3	/* <=>, 1 - cosine similarity */
} OmenMetric;

/* Quantizer that produces the node codes. */
typedef enum OmenQuantizer
{
	OMENDB_QUANT_SQ8 = 1		/* one byte a dimension, per-dim ranges */
	/* RaBitQ will be 2; its parameters go on the quantizer pages too. */
} OmenQuantizer;

/*
 * Meta page (block 0).  Stored as the page's contents right after the page
 * header, with pd_lower set past it, like nbtree's metapage.  All fields but
 * the last group are fixed at build time.
 */
typedef struct OmenMetaPageData
{
	uint32		magic;			/* OMENDB_MAGIC */
	uint32		version;		/* OMENDB_VERSION */
	uint16		dimensions;		/* vector dimension; 0 until the first
								 * vector arrives in an empty build */
	uint16		metric;			/* OmenMetric */
	uint16		quantizer;		/* OmenQuantizer */
	uint16		graph_degree;	/* R: out-degree kept after pruning */
	uint16		max_degree;		/* neighbour slots per node (R plus room
								 * for reverse edges before a re-prune) */
	uint16		build_list_size;	/* L used to place a new node */
	float4		alpha;			/* RobustPrune alpha, on squared distances */
	float4		ip_max_norm;	/* inner product only: M of the MIPS-to-L2
								 * transform, x indexed as
								 * [x, sqrt(M^2 - |x|^2)] */
	uint32		code_size;		/* bytes of quantized code per node (one a
								 * dimension, plus one for inner product) */
	uint32		label_size;		/* bytes of filter labels per node; 0 in
								 * version 1, reserved for in-graph filters */
	uint32		node_size;		/* MAXALIGNed bytes of one node item */
	uint16		nodes_per_page; /* node items that fit one node page */
	uint16		quant_trained;	/* true once quantizer ranges are set */
	BlockNumber nquant_blocks;	/* quantizer pages, from block 1 on */
	BlockNumber first_node_block;	/* node id n lives on block
									 * first_node_block + n / nodes_per_page */

	/* Fields below change after build, under the meta page's lock. */
	uint32		entry_node;		/* search entry point, near the medoid;
								 * never a zero node (below), so invalid
								 * while a cosine index holds only those */
	BlockNumber insert_block;	/* last node page: where new nodes go */
	uint32		nnodes;			/* reserved, 0 in version 1: the node slots
								 * follow from the relation's size */
	float4		max_error;		/* reserved, 0 in version 1: the scan tracks
								 * the largest error among nodes it met */
} OmenMetaPageData;

typedef OmenMetaPageData *OmenMetaPage;

#define OmenPageGetMeta(page) ((OmenMetaPage) PageGetContents(page))

#define OMENDB_INVALID_NODE		PG_UINT32_MAX

/*
 * A node: one fixed-size item on a node page.  Node ids are dense: slot
 * (offset) k of node page b is node (b - first_node_block) * nodes_per_page
 * + k - 1, so a neighbour list costs four bytes an edge.  Layout:
 *
 *		OmenNodeHeaderData
 *		uint32	neighbors[max_degree]	(first nneighbors are valid)
 *		uint8	code[code_size]
 *		uint8	labels[label_size]		(absent in version 1)
 */
typedef struct OmenNodeHeaderData
{
	ItemPointerData heaptid;	/* heap row this node indexes */
	uint8		flags;			/* OMENDB_NODE_* */
	uint8		unused;			/* always zero */
	uint16		nneighbors;		/* valid entries in neighbors[] */
	float4		error;			/* |x - decode(code)|: bound on the
								 * quantization error, in the metric's space */
	float4		norm;			/* |x| (of the vector as indexed), used to
								 * bound float rounding in inner products;
								 * for cosine 1, or 0 for a zero node */
} OmenNodeHeaderData;

typedef OmenNodeHeaderData *OmenNodeHeader;

/*
 * Dimensions of the vectors the graph works on: an inner-product index
 * appends one (the MIPS-to-L2 transform), so that its graph, like the
 * others, is built and searched by Euclidean distance.
 */
#define OmenCodeDims(metric, dim) ((dim) + ((metric) == OMENDB_METRIC_IP ? 1 : 0))

/* Node flags. */
#define OMENDB_NODE_LIVE		0x01	/* indexes a heap row */
#define OMENDB_NODE_DELETED		0x02	/* heap row gone; still traversed */

/*
 * A zero vector has no direction: its cosine distance to anything is NaN.
 * A cosine index holds each one as a zero node: norm 0, error 0, an
 * all-zero code, no out-edges; no edge ever points at it and it is never
 * the entry point, so no graph search meets it and the graph is built as
 * if it were not there.  Scans meet zero nodes only by sweeping the node
 * pages and give them the bound +infinity, a lower bound on NaN in
 * float8's order (where NaN sorts after every number), so that they come
 * out last, as a sequential scan sorts them.  Live, deleted and vacuumed
 * like any other node.  Every other cosine node has norm 1.
 */
#define OmenNodeIsZero(metric, node) \
	((metric) == OMENDB_METRIC_COSINE && (node)->norm == 0.0f)

#define OmenNodeNeighbors(node) \
	((uint32 *) ((char *) (node) + sizeof(OmenNodeHeaderData)))
#define OmenNodeCode(node, maxdeg) \
	((uint8 *) (OmenNodeNeighbors(node) + (maxdeg)))

/*
 * SQ8 parameters, on the quantizer pages as one item per page: for each
 * dimension i, x[i] is encoded as round((x[i] - lower[i]) / step[i]),
 * clamped to 0..255.  A page holds OMENDB_SQ8_DIMS_PER_PAGE dimensions.
 */
typedef struct OmenSQ8Dim
{
	float4		lower;			/* value of code 0 */
	float4		step;			/* value of one code step; > 0 */
} OmenSQ8Dim;

#define OMENDB_SQ8_DIMS_PER_PAGE	1000

/* ----------------------------------------------------------------
 *		Options and settings
 * ----------------------------------------------------------------
 */

#define OMENDB_DEFAULT_GRAPH_DEGREE 32
#define OMENDB_MIN_GRAPH_DEGREE		4
#define OMENDB_MAX_GRAPH_DEGREE		128
#define OMENDB_DEFAULT_BUILD_LIST	64
#define OMENDB_MIN_BUILD_LIST		8
#define OMENDB_MAX_BUILD_LIST		1000
#define OMENDB_DEFAULT_ALPHA		1.2

/*
 * The build places nodes with a short list, then refines every node with
 * a longer one and alpha 1 (omendb_build.c, README.omendb "Build").
 */
#define OMENDB_REFINE_ALPHA			1.0

#define OMENDB_DEFAULT_SEARCH_LIST	0	/* automatic, per metric: */
#define OMENDB_AUTO_SEARCH_LIST		40
#define OMENDB_AUTO_SEARCH_LIST_IP	160

/* RobustPrune keeps at least this fraction of R edges (see omendb_graph.c) */
#define OMENDB_MIN_DEGREE_FRACTION	0.5

/* Reverse edges may overflow R by this factor before a re-prune. */
#define OMENDB_SLACK_NUM			5
#define OMENDB_SLACK_DEN			4

/* Parsed WITH (...) options. */
typedef struct OmenOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int			graph_degree;
	int			build_list_size;
	double		alpha;
	int			quantizer_offset;	/* offset of the quantizer name */
} OmenOptions;

extern int	omendb_search_list_size;
extern int	omendb_scan_mem_limit;
extern int	omendb_effective_list_size(OmenMetric metric);

/* Build phases for pg_stat_progress_create_index. */
#define OMENDB_PHASE_SCAN		2
#define OMENDB_PHASE_LOAD		3
#define OMENDB_PHASE_WRITE		4
#define OMENDB_PHASE_REFINE		5

/* ----------------------------------------------------------------
 *		In-memory structures
 * ----------------------------------------------------------------
 */

/*
 * What a backend needs to compute distances against an index's codes.  Kept
 * in rd_amcache once the quantizer is trained, since it never changes after.
 */
typedef struct OmenQuantState
{
	int			dim;
	OmenQuantizer kind;
	int			code_size;
	float	   *lower;			/* per-dimension lower bound */
	float	   *step;			/* per-dimension step */
	float	   *weight;			/* step^2 / dist_unscale^2, for distances in
								 * code space */
	double		dist_unscale;	/* a power of two near the largest step:
								 * code distances are in its units */
	int16	   *iweight;		/* weight quantized to 0..127, for the
								 * integer code-to-code kernel */
	float		iweight_scale;	/* weight ~= iweight * iweight_scale */
	bool		iweight_ok;		/* iweight is faithful enough to use */
	int16	   *sweight;		/* weight rounded down to 0..4095, for the
								 * scan's integer kernel */
	double		sweight_scale;	/* sweight * sweight_scale <= weight */
	int64		sweight_sum;	/* sum of sweight */
} OmenQuantState;

/*
 * The fixed parameters of an index, as read from its meta page: one palloc
 * chunk, quantizer arrays included, so that it can live in rd_amcache
 * (which the relcache pfrees on invalidation) and be copied whole by scans
 * that outlive a call.
 */
typedef struct OmenIndexInfo
{
	Size		size;			/* of the whole chunk */
	OmenMetaPageData meta;		/* copy of the meta page at open time */
	OmenQuantState *quant;		/* NULL while untrained, else quantdata */
	OmenQuantState quantdata;
	uint32		node_limit;		/* node ids below this lie on pages known
								 * to exist (kept up to date in rd_amcache,
								 * see omendb_page.c; in a scan's copy, a
								 * lower bound on the node slots) */
	/* quantizer arrays follow */
} OmenIndexInfo;

/*
 * A query prepared for code distances.  The graph is searched by squared
 * Euclidean distance in code space: the query mapped to (q - lower) / step
 * gives sum(weight * (q' - code)^2).  For inner product the query is
 * [q, 0] in the transformed space, and the bound on q . x comes from
 * q . lower + sum(q * step * code) over the first ipdim dimensions.
 */
typedef struct OmenQuery
{
	OmenMetric	metric;
	int			dim;			/* code dimensions */
	float	   *q;				/* the query as indexed (normalized for
								 * cosine, zero-extended for IP) */
	float	   *qcode;			/* the query in code space (L2 and cosine,
								 * float kernel) */
	float		qnorm;			/* |q| */
	int			ipdim;			/* inner product: the original dimension */
	float	   *qip;			/* inner product: q * step, scaled */
	double		ipconst;		/* inner product: q . lower, scaled */
	double		ip_unscale;		/* inner product: undoes the scaling */
	const uint8 *qbytes;		/* if set, the query is this code (L2
								 * only): graph building compares codes
								 * with integer arithmetic */
	const OmenQuantState *quant;
	double		abs_slack;		/* what float arithmetic below the normal
								 * range can cost a bound (scans; see
								 * omendb_score_node) */

	/*
	 * Scans (L2 and cosine) score codes with integer arithmetic where the
	 * CPU has a fast integer kernel (omendb_query_init); qround is NULL
	 * otherwise, and for graph building.
	 */
	uint8	   *qround;			/* the query's nearest code */
	int16	   *qcross;			/* its offset from that code, weighted and
								 * scaled to 12 bits */
	double		cross_scale;	/* qcross = weight * offset * cross_scale */
	double		cross_const;	/* the terms that depend on the query only */
	double		cross_slack;	/* what rounding qcross can cost */
} OmenQuery;

/* ----------------------------------------------------------------
 *		Functions
 * ----------------------------------------------------------------
 */

/* omendb_handler.c */
extern void _PG_init(void);
extern Datum omendb_handler(PG_FUNCTION_ARGS);
extern bytea *omendb_options(Datum reloptions, bool validate);
extern OmenMetric omendb_index_metric(Relation index);
extern void omendb_option_values(Relation index, int *degree, int *list,
								 double *alpha, OmenQuantizer *quantizer);

/* omendb_page.c */
extern void omendb_init_page(Page page, uint16 kind);
extern void omendb_corrupted(Relation index, const char *fmt,...)
			pg_attribute_printf(2, 3) pg_attribute_noreturn();
extern char *omendb_page_problem(Page page, uint16 kind);
extern char *omendb_meta_problem(const OmenMetaPageData *meta);
extern char *omendb_meta_page_problem(Page page);
extern char *omendb_quant_page_problem(Page page,
									   const OmenMetaPageData *meta,
									   BlockNumber p);
extern char *omendb_node_page_problem(Page page,
									  const OmenMetaPageData *meta);
extern char *omendb_node_item_problem(Page page,
									  const OmenMetaPageData *meta,
									  OffsetNumber off);
extern void omendb_check_page(Relation index, Buffer buf, Page page,
							  uint16 kind);
extern void omendb_check_node_page(Relation index, Buffer buf, Page page,
								   const OmenMetaPageData *meta);
extern void omendb_check_neighbors(Relation index,
								   const OmenMetaPageData *meta,
								   BlockNumber blkno, OffsetNumber off,
								   OmenNodeHeader node);
extern void omendb_fill_meta(OmenMetaPage meta, int dim, OmenMetric metric,
							 int degree, int list, double alpha,
							 OmenQuantizer quantizer, float ip_max_norm);
extern void omendb_write_meta_page(Page page, const OmenMetaPageData *meta);
extern void omendb_read_meta(Relation index, OmenMetaPageData *meta);
extern OmenIndexInfo *omendb_get_info(Relation index);
extern OmenIndexInfo *omendb_copy_info(const OmenIndexInfo *info);
extern void omendb_invalidate_info(Relation index);
extern void omendb_write_quant_pages(Relation index, const OmenQuantState *qs,
									 BlockNumber first, ForkNumber fork,
									 bool use_wal);
extern OmenQuantState *omendb_read_quant(Relation index,
										 const OmenMetaPageData *meta);
extern BlockNumber omendb_node_block(const OmenMetaPageData *meta,
									 uint32 node);
extern OffsetNumber omendb_node_offset(const OmenMetaPageData *meta,
									   uint32 node);
extern uint32 omendb_node_id(const OmenMetaPageData *meta, BlockNumber blkno,
							 OffsetNumber off);
extern uint32 omendb_node_slots(Relation index, const OmenMetaPageData *meta);
extern int	omendb_page_node_count(Relation index, const OmenMetaPageData *meta,
								   BlockNumber blkno);
extern OmenNodeHeader omendb_page_node(Relation index, Page page,
									   const OmenMetaPageData *meta,
									   OffsetNumber off);
extern void omendb_fill_zero_node(char *image, const OmenMetaPageData *meta,
								  ItemPointer tid);

typedef void (*OmenNodeVisitor) (OmenNodeHeader node, int idx, void *arg);
extern void omendb_visit_nodes(Relation index, const OmenMetaPageData *meta,
							   const uint32 *nodes, int n,
							   OmenNodeVisitor visitor, void *arg);

/* An atomic change of a few pages, WAL-logged through generic xlog. */
typedef struct OmenPageEdit
{
	GenericXLogState *state;	/* NULL when not WAL-logging (build) */
	int			nbufs;
	Buffer		bufs[MAX_GENERIC_XLOG_PAGES];
} OmenPageEdit;

extern void omendb_edit_begin(OmenPageEdit *edit, Relation index,
							  bool use_wal);
extern Page omendb_edit_page(OmenPageEdit *edit, Buffer buf, bool new_page);
extern void omendb_edit_finish(OmenPageEdit *edit);

/* omendb_quant.c */
extern void omendb_quant_kernels_init(void);
extern Datum omendb_kernels(PG_FUNCTION_ARGS);
extern OmenQuantState *omendb_sq8_alloc(int dim);
extern void omendb_sq8_set_ranges(OmenQuantState *qs, const float *minv,
								  const float *maxv);
extern void omendb_sq8_finish(OmenQuantState *qs);
extern float omendb_sq8_encode(const OmenQuantState *qs, const float *x,
							   uint8 *code);
extern void omendb_query_init(OmenQuery *query, const OmenQuantState *qs,
							  OmenMetric metric, const float *x, int dim,
							  bool scan);
extern void omendb_query_init_code(OmenQuery *query, const OmenQuantState *qs,
								   const uint8 *code);
extern void omendb_query_from_code(OmenQuery *query, const uint8 *code);
extern float omendb_code_distance(const OmenQuery *query, const uint8 *code);
extern double omendb_score_node(const OmenQuery *query,
								const OmenNodeHeader node, const uint8 *code,
								float *approx);
extern bool omendb_prepare_vector(OmenMetric metric, const float *in,
								  int dim, float ip_max_norm, float *out,
								  float *norm);
extern void omendb_check_ip_norm(Relation index, OmenMetric metric,
								 float norm);
extern void omendb_prepare_query(OmenMetric metric, const float *in, int dim,
								 float *out);

/* omendb_build.c */
extern IndexBuildResult *omendb_build(Relation heap, Relation index,
									  IndexInfo *indexInfo);
extern void omendb_buildempty(Relation index);
extern char *omendb_build_phase_name(int64 phasenum);

/* omendb_insert.c */
extern void omendb_insert_vector(Relation index, const float *x, int dim,
								 ItemPointer tid, bool use_wal);
extern bool omendb_insert(Relation index, Datum *values, bool *isnull,
						  ItemPointer heap_tid, Relation heap,
						  IndexUniqueCheck checkUnique
						  OMENDB_AMINSERT_INDEX_UNCHANGED,
						  IndexInfo *indexInfo);

/* omendb_scan.c */
extern IndexScanDesc omendb_beginscan(Relation index, int nkeys, int norderbys);
extern void omendb_rescan(IndexScanDesc scan, ScanKey keys, int nkeys,
						  ScanKey orderbys, int norderbys);
extern bool omendb_gettuple(IndexScanDesc scan, ScanDirection dir);
extern void omendb_endscan(IndexScanDesc scan);

/* omendb_vacuum.c */
extern IndexBulkDeleteResult *omendb_bulkdelete(IndexVacuumInfo *info,
												IndexBulkDeleteResult *stats,
												IndexBulkDeleteCallback callback,
												void *callback_state);
extern IndexBulkDeleteResult *omendb_vacuumcleanup(IndexVacuumInfo *info,
												   IndexBulkDeleteResult *stats);

/* omendb_cost.c */
extern void omendb_costestimate(PlannerInfo *root, IndexPath *path,
								double loop_count, Cost *indexStartupCost,
								Cost *indexTotalCost,
								Selectivity *indexSelectivity,
								double *indexCorrelation, double *indexPages);

#endif							/* OMENDB_H */
