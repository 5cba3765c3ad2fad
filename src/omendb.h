/*-------------------------------------------------------------------------
 *
 * omendb.h
 *	  The omendb index access method: on-disk contract, options, and the
 *	  access method's callbacks.
 *
 * Everything that is written to an index page is defined in this file, and
 * nowhere else.  The design (page layout, locking protocol, WAL, algorithms)
 * is explained in src/README.omendb; keep the two in step.  The layers have
 * headers of their own: the quantizer (omendb_quant.h), the page layer
 * (omendb_page.h), the metric transforms (omendb_metric.h), the kernels
 * (kernels.h).
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
#define OMENDB_PAGE_LABELS		4	/* the label directory (below) */
#define OMENDB_PAGE_SKETCH		5	/* the sketch's projections (below) */

/*
 * Special space of every omendb page.  Pages use the standard layout (line
 * pointers growing up, items down), as generic xlog requires: it zeroes the
 * hole between pd_lower and pd_upper.
 */
typedef struct OmenPageOpaqueData
{
	uint16		kind;			/* OMENDB_PAGE_* */
	uint16		nfree;			/* node pages: how many of the page's node
								 * slots are free (OMENDB_NODE_FREE); zero
								 * on other pages */
	uint32		magic;			/* OMENDB_MAGIC, to catch foreign pages */
} OmenPageOpaqueData;

typedef OmenPageOpaqueData *OmenPageOpaque;

#define OmenPageGetOpaque(page) ((OmenPageOpaque) PageGetSpecialPointer(page))

/* Distance the index was built for; from the operator class. */
typedef enum OmenMetric
{
	OMENDB_METRIC_L2 = 1,		/* <->, Euclidean */
	OMENDB_METRIC_IP = 2,		/* <#>, negative inner product */
	OMENDB_METRIC_COSINE = 3,	/* <=>, 1 - cosine similarity */
	OMENDB_METRIC_L1 = 4		/* <+>, Manhattan (taxicab); indexed like
								 * L2, bounded per dimension */
} OmenMetric;

#define OMENDB_METRIC_LAST		OMENDB_METRIC_L1

/* Quantizer that produces the node codes. */
typedef enum OmenQuantizer
{
	OMENDB_QUANT_SQ8 = 1,		/* one byte a dimension, per-dim ranges */
	OMENDB_QUANT_RABITQ = 2		/* 1 to 8 bits a dimension after a random
								 * rotation, centred on the centroid */
} OmenQuantizer;

/*
 * The meta page's quantizer field holds the OmenQuantizer in its low byte
 * and the bits a dimension of a quantizer that has the option in its high
 * byte (0 for SQ8, as every SQ8 index was written).
 */
#define OmenQuantKind(q)		((OmenQuantizer) ((q) & 0xFF))
#define OmenQuantBits(q)		((int) ((q) >> 8))
#define OmenQuantSpec(kind, bits)	((uint16) ((kind) | ((bits) << 8)))

/*
 * Meta page (block 0).  Stored as the page's contents right after the page
 * header, with pd_lower set past it, like nbtree's metapage.  All fields but
 * the group that changes after build are fixed at build time.
 */
typedef struct OmenMetaPageData
{
	uint32		magic;			/* OMENDB_MAGIC */
	uint32		version;		/* OMENDB_VERSION */
	uint16		dimensions;		/* vector dimension; 0 until the first
								 * vector arrives in an empty build */
	uint16		metric;			/* OmenMetric */
	uint16		quantizer;		/* OmenQuantizer, and its bits in the high
								 * byte (OmenQuantBits) */
	uint16		graph_degree;	/* R: out-degree kept after pruning */
	uint16		max_degree;		/* neighbour slots per node (R plus room
								 * for reverse edges before a re-prune) */
	uint16		build_list_size;	/* L used to place a new node */
	float4		alpha;			/* RobustPrune alpha, on squared distances */
	float4		ip_max_norm;	/* inner product only: M of the MIPS-to-L2
								 * transform, x indexed as
								 * [x, sqrt(M^2 - |x|^2)] */
	uint32		code_size;		/* bytes of quantized code per node, as the
								 * quantizer lays it out for code_dims */
	uint32		label_size;		/* bytes of filter labels per node: 0 in
								 * an index of one column, else 8 for
								 * each column (omendb_filter.h) */
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
	float4		walk_rate;		/* nodes a long walk through the graph
								 * meets per node it expands, which the
								 * planner's cost of filtered scans uses;
								 * measured after a build, or by VACUUM
								 * (omendb_measure_walk_rate); 0 while
								 * unmeasured, and in indexes written
								 * while the field was reserved */

	/* Fixed at build, like the first group. */
	uint32		code_dims;		/* dimensions a code encodes, those of the
								 * vector as indexed (OmenCodeDims); a meta
								 * page whose pd_lower ends before this
								 * field predates it, and is read with the
								 * value the quantizer gives */

	/*
	 * Node counts, kept exact: each changes under the meta page's lock, in
	 * the generic xlog record that changes the nodes it counts.  They count
	 * the node pages before counted_until only; a meta page whose pd_lower
	 * ends before deleted_nodes predates them all and is read with zeros,
	 * and VACUUM's cleanup counts such an index page by page
	 * (README.omendb, "Node counters").
	 */
	uint32		deleted_nodes;	/* nodes flagged OMENDB_NODE_DELETED */
	uint32		free_nodes;		/* slots flagged OMENDB_NODE_FREE */
	BlockNumber counted_until;	/* node pages before this block are
								 * counted above; InvalidBlockNumber: all
								 * are; 0: none, the counts are unknown */

	/* What the last VACUUM cleanup did, for omendb_index_stats. */
	uint32		vacuum_cleanups;	/* cleanups since build; the figures
									 * below are zero while there is none */
	uint32		vacuum_deleted; /* deleted nodes it met */
	uint32		vacuum_freed;	/* deleted nodes it freed */
	uint32		vacuum_repaired;	/* nodes whose edges to freed nodes it
									 * replaced or dropped */
	uint32		vacuum_linked;	/* unreachable live nodes it linked */

	/*
	 * Quantizer parameter sets and refits (README.omendb, "Refitting the
	 * quantizer").  The quantizer pages hold quant_sets sets of parameters,
	 * set s on the nquant_blocks / quant_sets pages from block
	 * OMENDB_FIRST_QUANT_BLKNO + s * (nquant_blocks / quant_sets); each
	 * node names the set that encoded it (OmenNodeHeaderData.qset).  A meta
	 * page whose pd_lower ends before quant_sets predates them: it is read
	 * with as many sets as nquant_blocks holds (one, as such indexes were
	 * written; its quantizer then cannot be refitted, and REINDEX gives it
	 * two) and the rest zero.
	 */
	uint16		quant_sets;		/* 2, or 1 in an index that predates
								 * refits */
	uint16		quant_current;	/* the set new codes are encoded with */
	uint32		quant_epoch;	/* changes whenever quant_current does, so
								 * that copies of the parameters a backend
								 * keeps can be checked against it */
	uint32		quant_refitting;	/* true while a refit is unfinished:
									 * nodes may carry either set; false:
									 * every node carries quant_current and
									 * the other set is unused */
	uint32		quant_refits;	/* refits finished since build */

	/*
	 * The relink after a refit (README.omendb, "Refitting the quantizer"):
	 * each graph node refined against the graph with the new codes.  A meta
	 * page whose pd_lower ends before relink_from predates it and is read
	 * as having none to do.
	 */
	uint32		relink_from;	/* the node the relink goes on from;
								 * OMENDB_INVALID_NODE when there is none
								 * to do */

	/*
	 * Fixed at build, like the first group; set with the node layout.  A
	 * meta page whose pd_lower ends before value_size predates it and is
	 * read as 0.
	 */
	uint32		value_size;		/* bytes of the indexed value each node
								 * carries (option store_vectors): its
								 * varlena size, the same for every row;
								 * 0 when nodes carry none */

	/*
	 * Fixed at build, like the first group; set with the node layout.  A
	 * meta page whose pd_lower ends before label_stride predates it and is
	 * read as 0.
	 */
	uint32		label_stride;	/* blocks in each group of the label
								 * directory (below): a label page, then
								 * label_stride - 1 node pages; 0 when the
								 * index has no directory */

	/*
	 * Fixed at build.  A meta page whose pd_lower ends before
	 * signature_bits predates it and is read as 1: its labels were written
	 * with one bit an element.
	 */
	uint32		signature_bits; /* bits each array element sets in an array
								 * column's signature label (omendb_filter.h):
								 * OMENDB_SIGNATURE_BITS, or 1 */

	/*
	 * Changes after build, under the meta page's lock.  A meta page whose
	 * pd_lower ends before quiet_slots predates it and is read as 0.
	 */
	uint32		quiet_slots;	/* node slots plus one when the last VACUUM
								 * cleanup ended, if it found nothing to do
								 * and nothing changed while it ran; 0 once
								 * a record counts a node changing state,
								 * or after any other cleanup.  A cleanup
								 * that finds it equal to the slots plus
								 * one skips reading the index
								 * (README.omendb, "Quiet cleanups") */

	/*
	 * Fixed at build; set with the node layout.  A meta page whose pd_lower
	 * ends before sketch_words predates it and is read as 0.
	 */
	uint32		sketch_words;	/* words of distance sketch in each entry
								 * of the label directory (below), after
								 * the labels; 0 when entries carry none.
								 * Its projections lie on the
								 * omendb_sketch_blocks() pages after the
								 * quantizer pages */
} OmenMetaPageData;

typedef OmenMetaPageData *OmenMetaPage;

/*
 * The label directory: the filter labels of the node slots, packed, so
 * that a scan whose filter passes few rows finds them without reading
 * every node page (README.omendb, "The label directory").  In an index
 * with filter columns and label_stride > 0, the node pages from
 * first_node_block on come in groups of label_stride blocks; the first
 * block of each group is a label page, the others node pages.  Node ids
 * keep their arithmetic: the ids of a label page's slots are never used.
 *
 * A label page holds, after its page header and with pd_lower past them,
 * OmenEntrySize(meta) / 8 arrays of uint64 of OmenLabelEntries(meta)
 * entries each, one entry a node slot of the group's node pages in node-id
 * order: array w holds word w of each slot's entry.  An entry is the
 * labels of the live or deleted node in its slot (word 0 the NULL bits),
 * then sketch_words words of its distance sketch (README.omendb, "Distance
 * sketches"): the cells of the row's vector's projections on the sketch's
 * directions, one byte each, and of the remainder's length in the last
 * byte.  It is written in the record that writes the node there; a free
 * slot's entry is left as it was (a scan reads the slot before it uses an
 * entry).
 *
 * The sketch's directions and cells lie on omendb_sketch_blocks() pages right
 * after the quantizer pages, before first_node_block (omendb_sketch.h).
 */
#define OmenEntrySize(meta) \
	((meta)->label_size + sizeof(uint64) * (meta)->sketch_words)
#define OmenLabelEntries(meta) \
	((uint32) ((meta)->label_stride - 1) * (meta)->nodes_per_page)

#define OmenPageGetMeta(page) ((OmenMetaPage) PageGetContents(page))

#define OMENDB_INVALID_NODE		PG_UINT32_MAX

/*
 * A node: one fixed-size item on a node page.  Node ids are dense: slot
 * (offset) k of node page b is node (b - first_node_block) * nodes_per_page
 * + k - 1, so a neighbour list costs four bytes an edge.  Layout:
 *
 *		OmenNodeHeaderData
 *		uint32	neighbors[max_degree]	(first nneighbors are valid)
 *		uint8	code[code_size]			(the quantizer's layout)
 *		uint64	labels[label_size / 8]	(filter columns; MAXALIGNed, absent
 *										 when label_size is 0)
 *		char	value[value_size]		(the indexed value, as the heap row
 *										 holds it detoasted; MAXALIGNed,
 *										 absent when value_size is 0)
 *
 * With a value, a scan computes each row's exact distance itself, with the
 * ORDER BY operator's own function, instead of leaving it to the executor's
 * recheck (README.omendb, "Stored values").  A zero node's value is the
 * zero vector of the index's dimensions, whatever zero the row held.
 */
typedef struct OmenNodeHeaderData
{
	ItemPointerData heaptid;	/* heap row this node indexes; invalid
								 * (all zero) in a free slot */
	uint8		flags;			/* OMENDB_NODE_* */
	uint8		qset;			/* the quantizer parameter set that encoded
								 * code (meta page's quant_sets); always 0
								 * in a free slot and in an index with one
								 * set, where this byte was unused */
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

/*
 * Node flags: exactly one is set.  A node is born LIVE (in a new slot or a
 * free one), becomes DELETED when VACUUM or a scan learns that its heap row
 * is dead to everyone, and FREE when VACUUM has taken every edge to it out
 * of the graph; an insert may then reuse the slot.  A free slot is all zero
 * but for its flags: no heap TID, no neighbours, no code, error and norm 0.
 * No live node has an edge to a free slot, and the meta page's
 * entry point is never one (README.omendb, "Deletion and slot reuse").
 */
#define OMENDB_NODE_LIVE		0x01	/* indexes a heap row */
#define OMENDB_NODE_DELETED		0x02	/* heap row gone, or the node moved
										 * to its one neighbour; still
										 * traversed */
#define OMENDB_NODE_FREE		0x04	/* slot unused, may be reused */

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
	((metric) == OMENDB_METRIC_COSINE && (node)->norm == 0.0f && \
	 !((node)->flags & OMENDB_NODE_FREE))

#define OmenNodeNeighbors(node) \
	((uint32 *) ((char *) (node) + sizeof(OmenNodeHeaderData)))
#define OmenNodeCode(node, maxdeg) \
	((uint8 *) (OmenNodeNeighbors(node) + (maxdeg)))
/* where a node's labels start, and a node without labels ends */
#define OmenNodeLabelOffset(maxdeg, code_size) \
	MAXALIGN(sizeof(OmenNodeHeaderData) + sizeof(uint32) * (maxdeg) + (code_size))
/* where a node's stored value starts (label_size is a multiple of 8) */
#define OmenNodeValueOffset(maxdeg, code_size, label_size) \
	(OmenNodeLabelOffset(maxdeg, code_size) + (label_size))
#define OmenNodeValue(node, meta) \
	((char *) (node) + OmenNodeValueOffset((meta)->max_degree, \
										   (meta)->code_size, (meta)->label_size))

/*
 * SQ8 parameters, on the quantizer pages (each set on pages of its own) as
 * one item per page: for each
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
#define OMENDB_DEFAULT_QUANTIZER	"sq8"

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

/*
 * Bits each element of an array filter column sets in the row's 64-bit
 * signature label, from two parts of its hash (a Bloom filter with two
 * hash functions): for arrays of a few elements a one-element overlap
 * then passes about 1% of unrelated rows instead of 5% with one bit
 * (README.omendb, "Filter columns").
 */
#define OMENDB_SIGNATURE_BITS		2

/* Parsed WITH (...) options. */
typedef struct OmenOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int			graph_degree;
	int			build_list_size;
	double		alpha;
	int			quantizer_offset;	/* offset of the quantizer name */
	int			bits;			/* the quantizer's bits a dimension; 0: its
								 * default */
	bool		store_vectors;	/* nodes carry the indexed value */
} OmenOptions;

extern int	omendb_search_list_size;
extern bool omendb_label_directory;
extern bool omendb_directory_sketch;
extern int	omendb_scan_mem_limit;
extern int	omendb_effective_list_size(OmenMetric metric);
extern int	omendb_default_list_size(OmenMetric metric);

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
 * A trained quantizer and a query prepared for its codes: the quantizer
 * interface (omendb_quant.h) defines them.
 */
typedef struct OmenQuantState OmenQuantState;
typedef struct OmenQuery OmenQuery;

/* ----------------------------------------------------------------
 *		Functions
 * ----------------------------------------------------------------
 */

/* omendb_handler.c */
extern void _PG_init(void);
extern Datum omendb_handler(PG_FUNCTION_ARGS);
extern bytea *omendb_options(Datum reloptions, bool validate);
extern OmenMetric omendb_index_metric(Relation index);
extern OmenMetric omendb_planned_index_metric(IndexOptInfo *index);
extern void omendb_option_values(Relation index, int *degree, int *list,
								 double *alpha, uint16 *quantizer);
extern bool omendb_stores_vectors(Relation index);
extern bool omendb_quantizer_named(Relation index);

/* omendb_cost.c */
extern float omendb_measure_walk_rate(Relation index);
extern void omendb_record_walk_rate(Relation index, bool use_wal);
extern double omendb_new_per_expansion(int degree, int dims);
extern double omendb_initial_search_nodes(int list_size, int degree, int dims);
extern double omendb_walk_nodes(double passing, double walk_rate,
								double initial_nodes);
extern double omendb_directory_pass_nodes(double slots, double passing,
										  bool sketched);
extern void omendb_costestimate(PlannerInfo *root, IndexPath *path,
								double loop_count, Cost *indexStartupCost,
								Cost *indexTotalCost,
								Selectivity *indexSelectivity,
								double *indexCorrelation, double *indexPages);

/* omendb_build.c */
extern IndexBuildResult *omendb_build(Relation heap, Relation index,
									  IndexInfo *indexInfo);
extern void omendb_buildempty(Relation index);
extern char *omendb_build_phase_name(int64 phasenum);

/* omendb_check.c */
extern Relation omendb_open_index(Oid indrelid, bool need_select,
								  Relation *heap);

/* omendb_insert.c */
extern void omendb_insert_vector(Relation index, const float *x, int dim,
								 const void *value, ItemPointer tid,
								 const uint64 *labels, bool use_wal);
extern bool omendb_insert(Relation index, Datum *values, bool *isnull,
						  ItemPointer heap_tid, Relation heap,
						  IndexUniqueCheck checkUnique
						  OMENDB_AMINSERT_INDEX_UNCHANGED,
						  IndexInfo *indexInfo);

extern uint32 omendb_move_node_to_end(Relation index,
									  const OmenMetaPageData *meta,
									  BufferAccessStrategy strategy,
									  uint32 node);

/* omendb_scan.c */

/*
 * Meeting a node walking costs a filtered scan about this many times what
 * meeting it sweeping the node pages does; so a walk that meets this share
 * of the nodes hands the rest to a sweep (omendb_scan.c, walk_budget), and
 * the planner prices it so (omendb_cost.c).
 */
#define OMENDB_WALK_SWEEP_COST_RATIO	6

/*
 * A sweep through the label directory: testing a slot's entry costs 1 /
 * OMENDB_LABEL_SLOTS_PER_NODE_MET of a node a filtered walk meets, and
 * scoring a row that may pass, from its page, OMENDB_SWEPT_ROW_COST of
 * one (README.omendb, "The label directory").
 */
#define OMENDB_LABEL_SLOTS_PER_NODE_MET	200.0
#define OMENDB_SWEPT_ROW_COST			0.9

/*
 * With distance sketches, a pass bounds each row that may pass by its
 * entry, at OMENDB_SKETCH_ROW_COST of a node met, and reads the pages of
 * about OMENDB_SKETCHED_ROWS_READ rows and OMENDB_SKETCHED_SHARE_READ of
 * the rest (README.omendb, "Distance sketches").
 */
#define OMENDB_SKETCH_ROW_COST			0.27
#define OMENDB_SKETCHED_ROWS_READ		25.0
#define OMENDB_SKETCHED_SHARE_READ		0.09

/*
 * Rows a filtered walk is taken to owe, for comparing its cost with the
 * label directory's pass (the LIMIT a scan serves is not known to it).
 */
#define OMENDB_ROWS_OWED				10.0

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
/*
 * How long VACUUM waits for older snapshots before it frees nodes or moves
 * them (omendb_wait_for_older_snapshots): its own work waits for the next
 * VACUUM if they last longer.
 */
#define OMENDB_SNAPSHOT_WAIT_MS		2000

extern bool omendb_wait_for_older_snapshots(int wait_ms);

typedef void (*OmenSlotVisitor) (uint32 node, OmenNodeHeader hdr, void *arg);
extern void omendb_visit_node_pages(IndexVacuumInfo *info,
									const OmenMetaPageData *meta,
									BlockNumber nblocks, bool record_free,
									OmenSlotVisitor visit, void *arg);

/* omendb_compact.c */
typedef enum OmenMoveResult
{
	OMENDB_MOVE_DONE,
	OMENDB_MOVE_NOT_LIVE,		/* the node is no longer live */
	OMENDB_MOVE_NO_SLOT			/* the page has no free slot left */
} OmenMoveResult;

extern OmenMoveResult omendb_move_node(Relation index,
									   const OmenMetaPageData *meta,
									   BufferAccessStrategy strategy,
									   BlockNumber fblk, BlockNumber tblk,
									   OffsetNumber toff);
extern uint32 omendb_move_tail_nodes(IndexVacuumInfo *info, bool *held);
extern BlockNumber omendb_truncate_empty_tail(IndexVacuumInfo *info,
											  bool *held);

/* omendb_renumber.c */
typedef struct OmenRenumberPlan
{
	OmenMetaPageData meta;		/* as the plan read it */
	uint32		nslots;			/* node slots then */
	uint32		n;				/* live graph nodes to move */
	uint32	   *order;			/* their ids, breadth-first */
	uint32		nexpanded;		/* nodes the walk from the entry expands */
	double		pages_now;		/* pages a search pins to expand them,
								 * summed (omendb_renumber.c) */
	double		pages_planned;	/* the same once laid out in order */
} OmenRenumberPlan;

#define OMENDB_DEFAULT_RENUMBER_MIN_GAIN 1.15
extern double omendb_renumber_min_gain;

extern bool omendb_plan_renumbering(IndexVacuumInfo *info, double mem_bytes,
									OmenRenumberPlan *plan);
extern uint32 omendb_move_nodes_to_end(IndexVacuumInfo *info,
									   OmenRenumberPlan *plan);
extern uint32 omendb_move_nodes_to_front(IndexVacuumInfo *info,
										 OmenRenumberPlan *plan, bool *held);

#endif							/* OMENDB_H */
