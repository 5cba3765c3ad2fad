/*-------------------------------------------------------------------------
 *
 * omendb_scan.c
 *	  Ordered index scans: a streaming best-first search over the graph.
 *
 * The walk is the graph engine's stream search over the page store
 * (omendb_graph.c); this file scores what it meets and decides what goes
 * out when.  The scan first runs the stream's beam phase with a candidate
 * list of omendb.search_list_size and returns a first batch of rows from
 * the nodes it met, then keeps going best-first for as long as the
 * executor asks for rows, until the whole reachable graph is exhausted.
 * So a query whose WHERE clause rejects most rows still gets its LIMIT,
 * and there is no cap on how many rows a scan returns.
 *
 * Every row is returned with a lower bound on its exact distance (from the
 * node's quantization error) and xs_recheckorderby set; the executor
 * computes the exact distance from the heap row and re-sorts, emitting a
 * row once the bound of the latest row we returned reaches its exact
 * distance.  An index whose nodes carry their rows' vectors does that
 * itself, and returns exact distances (see "Stored values" below).  Past the first batch, a candidate is returned once every node
 * whose approximate distance is smaller has been expanded, in order of
 * bound.
 *
 * Every live node is returned exactly once; none is ever dropped.  A node
 * the graph leads to late, with a bound below one already returned, could
 * come out of the executor after rows farther than it, so it is held back
 * until the reachable graph is exhausted.  Then the scan sweeps the node
 * pages for nodes it never met (cut off from the entry point by pruning or
 * a crash between an insert's WAL records), and returns those, the
 * held-back ones and any still queued through one sort, in order of bound.
 * So the order is exact for every row the graph search finds in order (for
 * LIMIT queries, in practice all), a late row costs no more than a recall
 * miss, and a query that exhausts the graph still gets every row.
 *
 * The zero nodes of a cosine index (zero vectors, omendb.h) lie outside the
 * graph: only the sweep (or an exhaustive search's meeting of unreachable
 * nodes) meets them, and they come out last, with bound +infinity.
 *
 * Past the first batch, the search state stays within omendb.scan_mem_limit
 * (see "Memory" below): a deep scan that reaches it sheds what it would
 * reach last and, if it must go that far, sweeps early.
 *
 * When the executor finds a returned row dead to every snapshot, the scan
 * flags its node deleted (see "Kills" below), so that later scans need not
 * return it and have its heap row fetched until VACUUM runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/relscan.h"
#include "access/tableam.h"
#include "access/xlog.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_operator_d.h"
#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplesort.h"

#include "omendb_filter.h"
#include "omendb_graph.h"
#include "omendb_labels.h"
#include "omendb_metric.h"
#include "omendb_page.h"
#include "omendb_pgvector.h"
#include "omendb_quant.h"
#include "omendb_radius.h"
#include "omendb_scan_stats.h"

/* A node the scan has met, as scored from its page. */
typedef struct ScanNode
{
	uint32		node;
	float		approx;			/* approximate distance (metric space) */
	double		bound;			/* lower bound on the exact distance */
	ItemPointerData tid;
	bool		live;			/* a row to return: live, and passing the
								 * filter keys */
	bool		unfiltered;		/* live, passing or not: what the first
								 * batch's cut counts */
	bool		batched;		/* in the first batch */
	bool		free_slot;		/* a free slot, met through a stale edge */
} ScanNode;

/*
 * A row to return: a binary min-heap of these by bound.  The node goes
 * with its row, so that the row can be killed (see ScanKills).
 */
typedef struct ResultItem
{
	double		bound;
	ItemPointerData tid;
	uint32		node;
} ResultItem;

typedef struct ResultHeap
{
	size_t		n;
	size_t		cap;
	ResultItem *items;
} ResultHeap;

/* The query, as the search needs it. */
typedef struct ScanQuery
{
	bool		null_query;		/* ORDER BY col <op> NULL */
	bool		empty;			/* nothing to scan */
	bool		ordered;		/* an ORDER BY: rows must come out in order */
	bool		has_radius;		/* a ball key around the query: stop past
								 * its radius */
	double		radius;			/* the smallest such radius */
	Vector	   *qvec;			/* the detoasted query */
	float	   *qv;				/* the query as indexed */
	OmenQuery	query;
	OmenQueryUse query_use;		/* OMENDB_QUERY_SCAN, or _PROBABLE where
								 * the scan computes exact distances */
	int			list_size;
	double		bound_cap;		/* no bound may exceed this, and */
	double		norm_cap;		/* a node longer than this has bound
								 * -infinity: the operator class's float
								 * sums can lose everything for this query
								 * (omendb_float_sums_limits) */
	bool		has_balls;		/* ball keys, which the executor rechecks */
	OmenFilter	filter;			/* the keys on filter columns: only nodes
								 * that match are returned */
	bool		label_directory;	/* omendb.label_directory at rescan */
} ScanQuery;

/*
 * The graph search: the engine's stream over the node pages (frontier,
 * visited set, expansion), which calls back to score what it meets.
 */
typedef struct ScanGraph
{
	OmenPageStore store;
	OmenSearch	search;
} ScanGraph;

/*
 * The first batch.  The initial search (the stream's beam phase) fills the
 * heaps lazily (see "Deferred heaps" in README.omendb): a node met outside
 * the beam is parked instead of pushed onto the frontier, and no node is
 * pushed onto the results; the first batch is selected from the nodes
 * array, and everything else is pushed only if the scan goes on past the
 * batch.
 */
typedef struct ScanFirstBatch
{
	bool		deferring;		/* before the scan goes past the batch */
	ScanNode   *nodes;			/* met in the initial search */
	size_t		nnodes;
	size_t		capnodes;
	uint32	   *batch;			/* the first batch (indexes into nodes), by
								 * bound */
	int			want;			/* rows it may hold, if set (a pass with
								 * sketches); else the list size's */
	int			nbatch;
	int			next;			/* next one to return */
} ScanFirstBatch;

/* Rows met past the first batch, and the order they go out in. */
typedef struct ScanRows
{
	ResultHeap	results;		/* met, live, not returned; by bound */
	ResultHeap	late;			/* held back until the sweep; by bound */
	double		max_gap;		/* largest approx - bound met so far */
	double		last_bound;		/* bound of the last row returned */
	ScanNode   *scratch;		/* nodes being met */
	int			nscratch;		/* room there */

	/*
	 * Under filter keys, how far the walk had gone: the nearest unexpanded
	 * node's approximate distance as each expansion past the first batch
	 * began, by its number from walk_start (walked_past).
	 */
	double		past_share;		/* 0 without filter keys */
	int64		walk_start;
	float	   *passed;
	size_t		cappassed;
} ScanRows;

/*
 * Memory.  Past the first batch, the frontier, results, late rows and
 * visited set stay within limit bytes: what does not fit is shed (see
 * relieve_memory), and the cuts say how far the graph search can still go
 * exactly as if nothing had been shed.
 */
typedef struct ScanMemory
{
	Size		limit;
	int			limit_kb;
	Size		peak;			/* largest search state measured */
	bool		noticed;		/* the NOTICE was raised: once per scan
								 * node, not on every rescan of it */
	bool		must_sweep;		/* the state cannot fit: stop searching */
	float		frontier_cut;	/* frontier items at or past this were shed */
	double		results_cut;	/* rows at or past this bound were sorted */
} ScanMemory;

/*
 * The sweep: rows the graph search did not return go through one sort,
 * spilling to temporary files past limit_kb like any sort: rows shed, late
 * rows, what is queued when the search stops, and the live nodes it never
 * met.
 */
typedef struct ScanSweep
{
	Tuplesortstate *sort;
	TupleTableSlot *slot;
	bool		done;			/* the sort is complete: rows come from it */
	int64		walk_budget;	/* nodes met, in all, past which the sweep
								 * costs less than walking on */
	bool		met_all;		/* the initial search met every node: the
								 * graph has nothing more to give */
	/* under filter keys, passes through the label directory */
	bool	   *match;			/* a group's entries that pass */
	uint32	   *group;			/* a group's nodes that pass */
	BlockNumber full_before;	/* node pages before it hold all their
								 * slots (the insert page at the start) */
	BlockNumber priced_blocks;	/* the index's blocks when the scan first
								 * weighed a pass, for estimates only, or
								 * InvalidBlockNumber */
	/* copies of moved nodes met in such a pass, to meet in their turn */
	uint32	   *moved;
	int			nmoved;
	int			capmoved;
} ScanSweep;

/*
 * A pass through the label directory with distance sketches (README.omendb,
 * "Distance sketches"): the rows that may pass are bounded by their
 * entries' sketches and wait, in order of that bound, until rows that far
 * are next; only then are their nodes met.  A row met so comes out with
 * the larger of its code's bound and its sketch's, both lower bounds on
 * its distance.
 */
typedef struct SketchedNode
{
	double		bound;			/* its sketch's bound */
	uint32		node;
} SketchedNode;

typedef struct ScanSketch
{
	bool		on;				/* passes through the directory use them */
	OmenSketchQuery query;
	double	   *bounds;			/* a label page's entries' sketch bounds */
	SketchedNode *waiting;		/* not met yet: a min-heap by bound (most
								 * are never met, so never sorted) */
	size_t		nwaiting;
	size_t		capwaiting;
	double		floor;			/* bound of the last batch taken from
								 * waiting: the copies of moved rows met
								 * through it are bounded by it too */
} ScanSketch;

/*
 * A scan with a NULL query: every live node in physical order, from the
 * last node page down (see "Moving nodes" in README.omendb for why down).
 */
typedef struct ScanSeq
{
	BlockNumber block;			/* page being read, InvalidBlockNumber
								 * before the first */
	int			block_nodes;	/* how many nodes it holds */
	int			next;			/* index on it of the node to read next */
} ScanSeq;

/*
 * The heap rows returned, by TID: VACUUM may move a live node to another
 * slot while the scan runs, and the scan may meet it in both.
 */
typedef struct ReturnedRow
{
	uint64		tid;
	char		status;
} ReturnedRow;

#define SH_PREFIX		returned
#define SH_ELEMENT_TYPE	ReturnedRow
#define SH_KEY_TYPE		uint64
#define SH_KEY			tid
#define SH_HASH_KEY(tb, key)	murmurhash32((uint32) (key) ^ (uint32) ((key) >> 32) * 0x9e3779b9)
#define SH_EQUAL(tb, a, b)	((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/*
 * Kills.  When the executor finds the heap row of the TID we returned last
 * dead to every snapshot (kill_prior_tuple), its node is remembered here,
 * and flagged deleted with the others of a batch: when the batch is full,
 * at rescan and at the end of the scan (apply_kills).
 */
#define SCAN_KILL_BATCH		256

typedef struct ScanKill
{
	uint32		node;
	ItemPointerData tid;
} ScanKill;

typedef struct ScanKills
{
	bool		have_last;		/* a row was returned by the last call */
	ScanKill	last;			/* that row */
	int			n;
	ScanKill	items[SCAN_KILL_BATCH];
} ScanKills;

/* Exact distances from stored values (see "Stored values" below). */
typedef struct ScanExact
{
	bool		on;				/* rows go out in exact order, not
								 * rechecked: the index stores values, or
								 * (from_heap) bounds are probable */
	bool		balls;			/* and the ball keys are decided on them,
								 * not rechecked */
	FmgrInfo   *fn;				/* the ORDER BY operator's function */
	Oid			collation;
	Datum		query;			/* its right argument, detoasted */
	char	   *value;			/* scratch: a value copied off its page */
	bool		value_found;
	ItemPointerData value_tid;	/* the row whose value is wanted */
	uint32		value_node;		/* and its node */
	bool		from_heap;		/* values come from the heap rows */
	AttrNumber	heap_attnum;	/* the indexed column in the heap */
	struct IndexFetchTableData *fetch;	/* from_heap: the heap, */
	TupleTableSlot *slot;		/* a row of it, */
	MemoryContext rowcxt;		/* and what one row's distance allocates */
	ResultHeap	rows;			/* rows whose exact distance is known, by
								 * that distance (in the bound field),
								 * waiting for their turn */
	bool		have_next;		/* next is the next row of next_result */
	bool		exhausted;		/* next_result has no more */
	ResultItem	next;
	double		last_out;		/* exact distance of the last row returned */
} ScanExact;

/*
 * What this run of the scan did: the counters omendb_scan_stats() sums
 * (plain increments where the work is done), and the rows sent to the
 * sort, which DEBUG1 reports too as the run ends (end_run).
 */
typedef struct ScanStats
{
	OmenScanCounters run;
	int64		nsorted;
} ScanStats;

typedef struct OmenScanOpaqueData
{
	Relation	index;
	OmenFilterColumns *filter_columns;	/* the index's, for the whole scan */
	MemoryContext cxt;			/* everything per-query lives here */
	OmenIndexInfo *info;
	bool		started;
	ScanQuery	q;
	ScanGraph	graph;
	ScanFirstBatch first;
	ScanRows	rows;
	ScanMemory	mem;
	ScanSweep	sweep;
	ScanSketch	sketch;
	ScanSeq		seq;
	returned_hash *returned;	/* rows returned (NULL before the first) */
	ScanKills	kills;
	ScanExact	exact;
	ScanStats	stats;
} OmenScanOpaqueData;

typedef OmenScanOpaqueData *OmenScanOpaque;

static void relieve_memory(OmenScanOpaque so);
static void forget_sketch(OmenScanOpaque so);
static inline bool beyond_radius(OmenScanOpaque so, double bound);

/* ----------------------------------------------------------------
 *		Heaps
 *
 * Growth past the first batch is weighed against the memory limit: a heap
 * that would take the search state over it sheds instead (relieve_memory
 * frees room in every heap).
 * ----------------------------------------------------------------
 */

/* The bytes of search state that the memory limit covers. */
static Size
search_state_bytes(OmenScanOpaque so)
{
	return omendb_stream_bytes(&so->graph.search) +
		(so->rows.results.cap + so->rows.late.cap) * sizeof(ResultItem) +
		so->rows.cappassed * sizeof(float) +
		omendb_pagestore_visited_bytes(&so->graph.store);
}

/*
 * Before a full heap of cap items of itemsize bytes doubles: shed instead
 * if that would exceed the limit.  The caller grows the heap only if it is
 * still full.
 */
static void
before_heap_growth(OmenScanOpaque so, size_t cap, Size itemsize)
{
	if (!so->first.deferring &&
		search_state_bytes(so) + Max(cap, OMENDB_HEAP_INITIAL_CAP) * itemsize > so->mem.limit)
		relieve_memory(so);
}

/* The engine's frontier is about to double. */
static void
before_frontier_growth(OmenSearch *search, void *arg)
{
	before_heap_growth((OmenScanOpaque) arg, search->stream.capfrontier,
					   sizeof(OmenFrontierItem));
}

/* The visited set turns into a bitmap: both exist for a moment. */
static void
on_visited_bitmap(Size bitmap_bytes, void *arg)
{
	OmenScanOpaque so = arg;

	so->mem.peak = Max(so->mem.peak, search_state_bytes(so) + bitmap_bytes);
}

/*
 * The heaps of rows order them by bound (or, in ScanExact's, by exact
 * distance, which may be NaN) in float8's order, NaN last.
 */
static void
heap_insert(ResultHeap *h, ResultItem item)
{
	size_t		i;

	if (h->n == h->cap)
		h->items = omendb_grow_array(h->items, &h->cap, sizeof(ResultItem));
	i = h->n++;
	while (i > 0)
	{
		size_t		parent = (i - 1) / 2;

		if (float8_le(h->items[parent].bound, item.bound))
			break;
		h->items[i] = h->items[parent];
		i = parent;
	}
	h->items[i] = item;
}

/* Push a row onto a heap of the search state, within its memory limit. */
static void
result_push(OmenScanOpaque so, ResultHeap *h, ResultItem item)
{
	if (h->n == h->cap)
		before_heap_growth(so, h->cap, sizeof(ResultItem));
	heap_insert(h, item);
}

static ResultItem
result_pop(ResultHeap *h)
{
	ResultItem	top = h->items[0];
	ResultItem	last = h->items[--h->n];
	size_t		i = 0;

	for (;;)
	{
		size_t		child = 2 * i + 1;

		if (child >= h->n)
			break;
		if (child + 1 < h->n &&
			float8_lt(h->items[child + 1].bound, h->items[child].bound))
			child++;
		if (float8_le(last.bound, h->items[child].bound))
			break;
		h->items[i] = h->items[child];
		i = child;
	}
	if (h->n > 0)
		h->items[i] = last;
	return top;
}

/* ----------------------------------------------------------------
 *		The sort of rows left for the sweep
 * ----------------------------------------------------------------
 */

static void
begin_sort(OmenScanOpaque so)
{
	TupleDesc	desc = CreateTemplateTupleDesc(3);
	AttrNumber	attno = 1;
	Oid			op = Float8LessOperator;
	Oid			coll = InvalidOid;
	bool		nulls_first = false;

	TupleDescInitEntry(desc, 1, "bound", FLOAT8OID, -1, 0);
	TupleDescInitEntry(desc, 2, "tid", TIDOID, -1, 0);
	/* (the node id, a uint32 in an int4 column: it is not sorted on) */
	TupleDescInitEntry(desc, 3, "node", INT4OID, -1, 0);
	so->sweep.slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	/* (the last argument: no random access) */
	so->sweep.sort = tuplesort_begin_heap(desc, 1, &attno, &op, &coll, &nulls_first,
									so->mem.limit_kb, NULL, 0);
}

/* Queue a row for the sweep.  No buffer lock may be held. */
static void
sort_row(OmenScanOpaque so, const ResultItem *item)
{
	TupleTableSlot *slot;

	if (so->sweep.sort == NULL)
		begin_sort(so);
	slot = so->sweep.slot;
	ExecClearTuple(slot);
	slot->tts_values[0] = Float8GetDatum(item->bound);
	slot->tts_isnull[0] = false;
	slot->tts_values[1] = PointerGetDatum(&item->tid);
	slot->tts_isnull[1] = false;
	slot->tts_values[2] = UInt32GetDatum(item->node);
	slot->tts_isnull[2] = false;
	ExecStoreVirtualTuple(slot);
	tuplesort_puttupleslot(so->sweep.sort, slot);
	so->stats.nsorted++;
}

/* The next row of the completed sort, if any. */
static bool
next_sorted_row(OmenScanOpaque so, ResultItem *out)
{
	TupleTableSlot *slot = so->sweep.slot;

	if (so->sweep.sort == NULL ||
		!tuplesort_gettupleslot(so->sweep.sort, true, false, slot, NULL))
		return false;
	slot_getallattrs(slot);
	out->bound = DatumGetFloat8(slot->tts_values[0]);
	out->tid = *(ItemPointer) DatumGetPointer(slot->tts_values[1]);
	out->node = DatumGetUInt32(slot->tts_values[2]);
	return true;
}

static void
end_sort(OmenScanOpaque so)
{
	if (so->sweep.sort)
		tuplesort_end(so->sweep.sort);
	so->sweep.sort = NULL;
}

/* ----------------------------------------------------------------
 *		Memory
 *
 * Past the first batch the search state stays within the limit by
 * shedding what the search would reach last, and remembering where it
 * begins:
 *
 *	 - late rows come out only in the sweep anyway: they go to the sort;
 *	 - the results of largest bound go to the sort, and results_cut is the
 *	   smallest bound sent there;
 *	 - the frontier nodes farthest away are dropped (they stay visited;
 *	   their unmet neighbours are left to the sweep), and frontier_cut is
 *	   the smallest distance dropped.
 *
 * While the nearest unexpanded node is nearer than frontier_cut and the
 * next row's bound below results_cut, the search expands and returns
 * exactly what it would have without shedding.  When it would need to go
 * past either, it stops and the sweep returns every row left, in order of
 * bound.  No row is lost or returned twice: each live node is returned,
 * queued in one heap, in the sort, or unmet (and then swept).
 * ----------------------------------------------------------------
 */

static int
cmp_result_bound(const void *a, const void *b)
{
	double		x = ((const ResultItem *) a)->bound;
	double		y = ((const ResultItem *) b)->bound;

	return (x > y) - (x < y);
}

/*
 * Send the rows of the larger half of the bounds to the sort.  A sorted
 * array is a valid heap, so the half kept needs no rebuilding.
 */
static void
shed_results(OmenScanOpaque so)
{
	ResultHeap *h = &so->rows.results;
	size_t		keep;
	double		pivot;

	if (h->n == 0)
		return;
	qsort(h->items, h->n, sizeof(ResultItem), cmp_result_bound);
	pivot = h->items[h->n / 2].bound;
	for (keep = h->n / 2; keep > 0 && h->items[keep - 1].bound >= pivot; keep--)
		;
	for (size_t i = keep; i < h->n; i++)
		sort_row(so, &h->items[i]);
	h->n = keep;
	h->items = omendb_shrink_array(h->items, h->n, &h->cap, sizeof(ResultItem));
	so->mem.results_cut = Min(so->mem.results_cut, pivot);
}

/* Drop the frontier nodes of the larger half of the distances. */
static void
shed_frontier(OmenScanOpaque so)
{
	float		cut;

	if (omendb_stream_shed(&so->graph.search, &cut))
		so->mem.frontier_cut = Min(so->mem.frontier_cut, cut);
}

static void
relieve_memory(OmenScanOpaque so)
{
	if (!so->mem.noticed)
	{
		so->mem.noticed = true;
		ereport(NOTICE,
				(errmsg("omendb scan of index \"%s\" reached omendb.scan_mem_limit (%d kB)",
						RelationGetRelationName(so->index), so->mem.limit_kb),
				 errdetail("The scan keeps its nearest candidates; rows past them come from one sorted pass over the whole index."),
				 errhint("Raise omendb.scan_mem_limit (or work_mem, if it is -1) for deep scans of this index.")));
	}
	for (size_t i = 0; i < so->rows.late.n; i++)
		sort_row(so, &so->rows.late.items[i]);
	so->rows.late.n = 0;
	if (so->rows.late.items)
		so->rows.late.items = omendb_shrink_array(so->rows.late.items, 0, &so->rows.late.cap,
										   sizeof(ResultItem));
	shed_results(so);
	shed_frontier(so);
}

/*
 * After each step of the search: record the peak, and shed if the visited
 * set grew the state past the limit.  If shedding cannot bring it back
 * (the visited set alone is too large), the graph search has to stop.
 */
static void
check_memory(OmenScanOpaque so)
{
	Size		used = search_state_bytes(so);

	so->mem.peak = Max(so->mem.peak, used);
	if (used <= so->mem.limit)
		return;
	relieve_memory(so);
	if (search_state_bytes(so) > so->mem.limit)
		so->mem.must_sweep = true;
}

/* ----------------------------------------------------------------
 *		Search
 * ----------------------------------------------------------------
 */

typedef struct ScoreArg
{
	OmenScanOpaque so;
	ScanNode   *out;			/* where the nodes being met are */
} ScoreArg;

/*
 * A node of a quantizer parameter set the query was not prepared for: a
 * refit switched sets after the scan began (README.omendb, "Refitting the
 * quantizer").  Read that set, whose pages do not change while nodes of it
 * exist and this scan runs, and prepare the query for it too.  Called with
 * a node page share-locked; quantizer pages are only ever locked alone.
 */
static void
prepare_other_set(OmenScanOpaque so, int set)
{
	const OmenMetaPageData *meta = &so->info->meta;
	MemoryContext oldcxt = MemoryContextSwitchTo(so->cxt);
	OmenQuery  *other = palloc(sizeof(OmenQuery));

	omendb_query_init(other, omendb_read_quant(so->index, meta, set),
					  meta->metric, so->q.qv, meta->code_dims, so->q.query_use);
	other->qset = set;
	so->q.query.other = other;
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Whether a node is a row to return: live, and matching the filter keys.
 * A node that does not match is still walked through.
 */
static inline bool
node_returnable(OmenScanOpaque so, OmenNodeHeader node)
{
	if (!(node->flags & OMENDB_NODE_LIVE))
		return false;
	return so->q.filter.nkeys == 0 ||
		omendb_filter_match(&so->q.filter, OmenNodeLabels(node, &so->info->meta));
}

/* Set whether a scored node is live, and whether it is a row to return. */
static inline void
set_liveness(OmenScanOpaque so, OmenNodeHeader node, ScanNode *sn)
{
	sn->free_slot = (node->flags & OMENDB_NODE_FREE) != 0;
	sn->unfiltered = (node->flags & OMENDB_NODE_LIVE) != 0;
	sn->live = sn->unfiltered && node_returnable(so, node);
}

/*
 * A deleted node with one neighbour may be a node VACUUM moved, leading to
 * its copy; the scan may have met the copy's slot before the move, while
 * it held another node (README.omendb, "Moving nodes").  So the copy's
 * slot is forgotten as visited: walked through, or swept, it is met again.
 */
static inline void
forget_moved_copy(OmenScanOpaque so, OmenNodeHeader node)
{
	if (unlikely(node->flags == OMENDB_NODE_DELETED && node->nneighbors == 1))
	{
		omendb_pagestore_unvisit(&so->graph.store, OmenNodeNeighbors(node)[0]);
		/* (room was made before the pages were locked) */
		if (so->sweep.nmoved < so->sweep.capmoved)
			so->sweep.moved[so->sweep.nmoved++] = OmenNodeNeighbors(node)[0];
	}
}

/*
 * Fill in a node met through an edge from its page: distance, bound, heap
 * TID.
 */
static void
score_visitor(OmenNodeHeader node, int idx, void *arg)
{
	ScoreArg   *sa = arg;
	OmenScanOpaque so = sa->so;
	ScanNode   *sn = &sa->out[idx];

	forget_moved_copy(so, node);
	if (unlikely(node->qset != so->q.query.qset) && so->q.query.other == NULL)
		prepare_other_set(so, node->qset);
	sn->bound = omendb_score_node(&so->q.query, node,
								  OmenNodeCode(node, so->info->meta.max_degree),
								  &sn->approx);
	sn->bound = Min(sn->bound, so->q.bound_cap);
	if (node->norm > so->q.norm_cap)
		sn->bound = -INFINITY;
	if (isfinite(sn->approx - sn->bound))
		so->rows.max_gap = Max(so->rows.max_gap, sn->approx - sn->bound);
	sn->tid = node->heaptid;
	set_liveness(so, node, sn);
}

/*
 * In a radius scan under L2, |q - x| >= ||q| - |x||: a node whose norm
 * differs from the query's by more than the radius lies outside it, and
 * the sweep need not score its code.  The difference, less a margin for
 * the rounding of both norms and of the executor's distance (each within
 * dim * FLT_EPSILON of |q| + |x|, and the subnormal term of "Magnitudes"
 * in README.omendb), is a lower bound on the exact distance; -infinity if
 * it says nothing.  Under L1, |q - x|_1 >= |q - x|_2 bounds it too, less
 * the executor's L1 rounding (a relative 4 (dim + 16) FLT_EPSILON, see
 * sq8_score_l1).
 */
static double
norm_gap_bound(OmenScanOpaque so, OmenNodeHeader node)
{
	int			dim = so->info->meta.dimensions;
	double		q = so->q.query.qnorm;
	double		x = node->norm;
	double		lb;

	if (!so->q.has_radius || (so->info->meta.metric != OMENDB_METRIC_L2 &&
							  so->info->meta.metric != OMENDB_METRIC_L1))
		return -INFINITY;
	lb = fabs(q - x) - 8.0 * (dim + 16) * FLT_EPSILON * (q + x) -
		sqrt(dim * (double) FLT_TRUE_MIN / 2);
	if (so->info->meta.metric == OMENDB_METRIC_L1 && lb > 0)
		lb *= 1 - 4.0 * (dim + 16) * FLT_EPSILON;
	return isfinite(lb) ? lb : -INFINITY;
}

/*
 * score_visitor for a node met by reading its page in turn, which may be a
 * zero node: its exact distance is NaN, which sorts after every number, so
 * +infinity is a lower bound, and after every finite one.  (Graph searches
 * never meet zero nodes, and skip this test.)
 */
static void
swept_score_visitor(OmenNodeHeader node, int idx, void *arg)
{
	ScoreArg   *sa = arg;
	ScanNode   *sn = &sa->out[idx];

	forget_moved_copy(sa->so, node);
	if (sa->so->q.filter.nkeys > 0 && !node_returnable(sa->so, node))
	{
		/* never returned, and a swept node is not walked through */
		sn->bound = INFINITY;
		sn->approx = INFINITY;
		sn->tid = node->heaptid;
		sn->free_slot = (node->flags & OMENDB_NODE_FREE) != 0;
		sn->unfiltered = (node->flags & OMENDB_NODE_LIVE) != 0;
		sn->live = false;
		return;
	}
	if (!OmenNodeIsZero(sa->so->info->meta.metric, node))
	{
		double		gap = norm_gap_bound(sa->so, node);

		if (beyond_radius(sa->so, gap))
		{
			/* outside the radius by the norms alone */
			sn->bound = gap;
			sn->approx = INFINITY;
			sn->tid = node->heaptid;
			set_liveness(sa->so, node, sn);
			return;
		}
		score_visitor(node, idx, arg);
		return;
	}
	sn->bound = INFINITY;
	sn->approx = INFINITY;
	sn->tid = node->heaptid;
	set_liveness(sa->so, node, sn);
}

/* Whether passes over the node pages may read the label directory. */
static inline bool
sweep_reads_labels(OmenScanOpaque so)
{
	return so->q.filter.nkeys > 0 && so->info->meta.label_stride > 0 &&
		so->q.label_directory;
}

/*
 * Score nodes from their pages (one lock per page) into out[0 .. n): met
 * through edges, or, if swept, by reading the node pages in turn.
 */
static void
score_nodes(OmenScanOpaque so, const uint32 *nodes, int n, ScanNode *out,
			bool swept)
{
	ScoreArg	sa;

	for (int i = 0; i < n; i++)
		out[i].node = nodes[i];
	sa.so = so;
	sa.out = out;
	if (!swept)
		omendb_visit_nodes(so->index, &so->info->meta, nodes, n,
						   score_visitor, &sa);
	else if (so->q.filter.nkeys > 0 && !sweep_reads_labels(so))
		/* a swept node that fails the filter is read no further */
		omendb_visit_node_labels(so->index, &so->info->meta, nodes, n,
								 swept_score_visitor, &sa);
	else
		/* unfiltered, or the directory passed them: read them whole */
		omendb_visit_nodes(so->index, &so->info->meta, nodes, n,
						   swept_score_visitor, &sa);
	so->stats.run.nodes_met += n;
}

/* Queue a live row for return, or for the sweep if past results_cut. */
static void
queue_row(OmenScanOpaque so, const ScanNode *sn)
{
	ResultItem	item;

	item.bound = sn->bound;
	item.tid = sn->tid;
	item.node = sn->node;
	if (item.bound >= so->mem.results_cut)
		sort_row(so, &item);
	else
		result_push(so, &so->rows.results, item);
}

/*
 * Keep the nodes met in the initial search (through edges, or if swept by
 * reading the node pages in turn) in the nodes array; returns where they
 * start.
 */
static ScanNode *
keep_met_nodes(OmenScanOpaque so, const uint32 *nodes, int n, bool swept)
{
	ScanFirstBatch *first = &so->first;
	ScanNode   *met;

	if (first->nnodes + n > first->capnodes)
	{
		first->capnodes = Max(first->capnodes * 2, first->nnodes + n);
		first->nodes = repalloc_huge(first->nodes, sizeof(ScanNode) * first->capnodes);
	}
	met = &first->nodes[first->nnodes];
	score_nodes(so, nodes, n, met, swept);
	for (int i = 0; i < n; i++)
		met[i].batched = false;
	first->nnodes += n;
	return met;
}

/*
 * The stream's callback for nodes met through an edge: score them, offer
 * them for expansion and, if live (and accepted), queue them for return.
 * In the initial search the queueing is deferred (see ScanFirstBatch).
 */
static void
meet_nodes(OmenSearch *search, const uint32 *nodes, int n,
		   const bool *accept, void *arg)
{
	OmenScanOpaque so = arg;
	ScanNode   *met;

	if (so->first.deferring)
		met = keep_met_nodes(so, nodes, n, false);
	else
	{
		met = so->rows.scratch;
		score_nodes(so, nodes, n, met, false);
	}
	for (int i = 0; i < n; i++)
	{
		ScanNode   *sn = &met[i];
		bool		counts = sn->unfiltered;	/* not deleted */

		if (unlikely(sn->free_slot))
		{
			/* nothing to walk through; a node moved here later is met */
			omendb_pagestore_unvisit(&so->graph.store, sn->node);
			continue;
		}
		if (accept && !accept[i])
			sn->live = sn->unfiltered = false;
		omendb_search_offer(search, sn->node, sn->approx, counts);
		if (!so->first.deferring && sn->live)
			queue_row(so, sn);
	}
}

/*
 * Rows of the first batch beyond the list size.  A LIMIT k query reads k
 * rows and one or two more to confirm the order (more where the bounds are
 * loose), so a list of L serves LIMIT L + 4 without expanding past the
 * beam.  More would hold back, in deep scans (a selective WHERE), rows met
 * after the batch that it passed: measured, 2L costs 10%-selectivity
 * queries 1.5 points of recall at L = 40, L + 6 nothing.
 */
#define FIRST_BATCH_PAST_LIST	6

/*
 * Whether met node a comes after met node b in the first batch: by bound,
 * then in the order the search met them.
 */
static inline bool
batch_after(const ScanNode *nodes, uint32 a, uint32 b)
{
	return nodes[a].bound > nodes[b].bound ||
		(nodes[a].bound == nodes[b].bound && a > b);
}

/* Restore the max-heap order of batch[0..n-1] below its root. */
static void
batch_sift_down(const ScanNode *nodes, uint32 *batch, int n)
{
	uint32		top = batch[0];
	int			i = 0;

	for (;;)
	{
		int			c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && batch_after(nodes, batch[c + 1], batch[c]))
			c++;
		if (!batch_after(nodes, batch[c], top))
			break;
		batch[i] = batch[c];
		i = c;
	}
	batch[i] = top;
}

/* Add met node k to the max-heap batch[0..n-1], which has room. */
static void
batch_sift_up(const ScanNode *nodes, uint32 *batch, int n, uint32 k)
{
	int			i = n;

	while (i > 0 && batch_after(nodes, k, batch[(i - 1) / 2]))
	{
		batch[i] = batch[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	batch[i] = k;
}

/*
 * Select the first batch: the live nodes of smallest bound among those the
 * initial search met, in order of bound; then, under filter keys, only
 * those that pass.  The cut counts every live node, as if there were no
 * filter: the beam vouches for the order of the nodes near the query, not
 * for the nearest few of those that pass, which may lie anywhere past it.
 * (Cut among the passing ones, a 1%-selective filter's first batch came
 * from all over the beam's neighbourhood, and the nearer rows the walk
 * found next were late: recall@10 0.47 on Fashion-MNIST.)  So a filtered
 * scan returns the rows an unfiltered one would, less those that fail, in
 * the same order.
 *
 * The batch is kept as a max-heap while the met nodes go by, and sorted
 * at the end: the search meets nodes nearer and nearer, so most of them
 * enter it, and each entry into a sorted array moved about half of it
 * (README.omendb, "Deferred heaps").
 */
static void
select_first_batch(OmenScanOpaque so)
{
	const ScanNode *nodes = so->first.nodes;
	int			want = so->first.want > 0 ? so->first.want :
		so->q.list_size + FIRST_BATCH_PAST_LIST;
	uint32	   *batch = palloc(sizeof(uint32) * want);
	int			n = 0;
	int			kept = 0;

	for (size_t k = 0; k < so->first.nnodes; k++)
	{
		if (!nodes[k].unfiltered)
			continue;
		if (n < want)
			batch_sift_up(nodes, batch, n++, (uint32) k);
		else if (batch_after(nodes, batch[0], (uint32) k))
		{
			batch[0] = (uint32) k;
			batch_sift_down(nodes, batch, n);
		}
	}
	/* heapsort: the root, the last in order, goes to the end */
	for (int m = n - 1; m > 0; m--)
	{
		uint32		last = batch[m];

		batch[m] = batch[0];
		batch[0] = last;
		batch_sift_down(nodes, batch, m);
	}
	for (int i = 0; i < n; i++)
		if (nodes[batch[i]].live)
			batch[kept++] = batch[i];
	for (int i = 0; i < kept; i++)
		so->first.nodes[batch[i]].batched = true;
	so->first.batch = batch;
	so->first.nbatch = kept;
	so->first.next = 0;
}

/*
 * The index's blocks, for the scan's estimates: read once a scan, since
 * each read is a system call and an estimate needs no exact count.
 */
static BlockNumber
priced_blocks(OmenScanOpaque so)
{
	if (so->sweep.priced_blocks == InvalidBlockNumber)
		so->sweep.priced_blocks = RelationGetNumberOfBlocks(so->index);
	return so->sweep.priced_blocks;
}

/* The node slots, for the scan's estimates (priced_blocks). */
static uint32
priced_slots(OmenScanOpaque so)
{
	return omendb_node_slots_below(&so->info->meta, priced_blocks(so));
}

/*
 * A pass through the label directory: sketched, one that starts the scan
 * (meet_unreachable_nodes), where the sketches hold rows back; else the
 * sweep a walk hands the rest to, which scores every passing row.
 */
static double
directory_sweep_cost(OmenScanOpaque so, double passing, bool sketched)
{
	return omendb_directory_pass_nodes(priced_slots(so), passing,
									   sketched && so->sketch.on);
}

/*
 * Whether a pass through the label directory costs less than a walk to
 * OMENDB_ROWS_OWED rows, when a share passing of the rows pass the filter
 * keys; before the initial search (searched false) the walk's price
 * includes it (omendb_walk_nodes).
 */
static bool
directory_beats_walk(OmenScanOpaque so, double passing, bool searched)
{
	const OmenMetaPageData *meta = &so->info->meta;
	double		rate = meta->walk_rate > 0 ? meta->walk_rate :
		omendb_new_per_expansion(meta->graph_degree, meta->code_dims);
	double		initial = 0;

	if (!searched)
		initial = omendb_initial_search_nodes(so->q.list_size, meta->graph_degree,
											  meta->code_dims);
	return directory_sweep_cost(so, passing, true) <
		omendb_walk_nodes(passing, rate, initial);
}

/*
 * The share of the live nodes the initial search met that pass the filter
 * keys (half a node counted as passing, so that it is never zero).
 */
static double
first_search_passing(OmenScanOpaque so, int *live, int *passed)
{
	*live = 0;
	*passed = 0;
	for (size_t k = 0; k < so->first.nnodes; k++)
	{
		*passed += so->first.nodes[k].live;
		*live += so->first.nodes[k].unfiltered;
	}
	return (*passed + 0.5) / (*live + 1.0);
}

/*
 * Meeting a node through an edge costs a filtered walk four to six times
 * what meeting it in a sweep of the node pages does (Fashion-MNIST:
 * 0.37-0.48 us a node met walking under a filter, 0.083-0.087 us
 * sweeping every node under a filter nothing passes).  So a walk that has
 * gone on past its first batch to meet a sixth of the index's nodes more
 * and still owes rows has spent about what the sweep would, and the sweep
 * returns the rest (begin_sweep): however rare the rows that pass, the
 * scan costs at most about twice the sweep, where a walk to the last of
 * them could meet every node at the higher rate (a tenant of 10 rows in
 * 60,000: 45 ms).
 * Only filtered scans: an unfiltered one returns a row every node or two.
 * Radius scans stop at their radius instead.
 */
static int64
walk_budget(OmenScanOpaque so)
{
	if (so->q.filter.nkeys == 0 || so->q.has_radius)
		return PG_INT64_MAX;
	if (sweep_reads_labels(so))
	{
		int			live;
		int			passed;

		return so->stats.run.nodes_met +
			(int64) directory_sweep_cost(so, first_search_passing(so, &live, &passed),
										 false);
	}
	return so->stats.run.nodes_met +
		priced_slots(so) / OMENDB_WALK_SWEEP_COST_RATIO;
}

/*
 * The scan goes on past the first batch: queue what the initial search
 * deferred, the parked nodes for expansion and the live nodes outside the
 * batch for return.  From here on the memory limit holds, and the nodes
 * array is no longer needed.
 */
static void
restore_heaps(OmenScanOpaque so)
{
	const OmenMetaPageData *meta = &so->info->meta;
	ScanFirstBatch *first = &so->first;

	first->deferring = false;
	so->sweep.walk_budget = walk_budget(so);
	so->rows.walk_start = so->graph.search.stream.nexpanded;
	so->rows.nscratch = Max(meta->max_degree, meta->nodes_per_page);
	so->rows.scratch = palloc(sizeof(ScanNode) * so->rows.nscratch);
	omendb_stream_unpark(&so->graph.search);
	/* every node met: expanding would only reread neighbour lists */
	if (so->sweep.met_all)
		omendb_stream_drop_frontier(&so->graph.search);
	for (size_t k = 0; k < first->nnodes; k++)
		if (first->nodes[k].live && !first->nodes[k].batched)
			queue_row(so, &first->nodes[k]);
	pfree(first->nodes);
	first->nodes = NULL;
	first->nnodes = first->capnodes = 0;
	check_memory(so);
}

/*
 * Read which entries of a label page pass the filter keys into match.  An
 * all-zero label page, which a crash after extending the index left
 * before all-zero node pages, has no entries.
 */
static void
match_label_page(OmenScanOpaque so, BlockNumber label_block, bool *match,
				 double *bounds)
{
	const OmenMetaPageData *meta = &so->info->meta;
	Buffer		buf = omendb_lock_label_page(so->index, meta, label_block,
											 NULL, BUFFER_LOCK_SHARE);

	if (BufferIsValid(buf))
	{
		omendb_match_label_page(BufferGetPage(buf), meta, &so->q.filter,
								match);
		if (bounds != NULL)
			omendb_sketch_label_page(BufferGetPage(buf), meta,
									 &so->sketch.query, match, bounds);
		UnlockReleaseBuffer(buf);
	}
	else
		memset(match, false, sizeof(bool) * OmenLabelEntries(meta));
}

/* The nodes of a node page that the search has not met, into batch. */
static int
unmet_nodes_on_page(OmenScanOpaque so, BlockNumber blkno, uint32 *batch)
{
	const OmenMetaPageData *meta = &so->info->meta;
	int			nitems = omendb_page_node_count(so->index, meta, blkno);
	int			n = 0;

	for (int i = 0; i < nitems; i++)
	{
		uint32		node = omendb_node_id(meta, blkno, FirstOffsetNumber + i);

		if (!omendb_pagestore_is_visited(&so->graph.store, node))
			batch[n++] = node;
	}
	return n;
}

/* Room for a label page's matches, kept for the scan. */
static bool *
label_match_array(OmenScanOpaque so)
{
	if (so->sweep.match == NULL)
		so->sweep.match = MemoryContextAlloc(so->cxt,
											 sizeof(bool) * OmenLabelEntries(&so->info->meta));
	return so->sweep.match;
}

/*
 * The nodes of a group of the label directory that the search has not met
 * and whose entries pass the filter keys, into batch (room for the group's
 * entries): of its node pages, only those with such entries are read.
 * With bounds, the passing entries' sketch bounds go there too (by entry).
 */
static int
unmet_passing_nodes(OmenScanOpaque so, BlockNumber label_block,
					BlockNumber nblocks, uint32 *batch, double *bounds)
{
	const OmenMetaPageData *meta = &so->info->meta;
	int			n = 0;

	match_label_page(so, label_block, label_match_array(so), bounds);
	for (uint32 j = 0; j + 1 < meta->label_stride; j++)
	{
		BlockNumber blkno = label_block + 1 + j;
		const bool *match = so->sweep.match + j * meta->nodes_per_page;
		int			nitems;

		if (blkno >= nblocks)
			break;
		if (memchr(match, true, meta->nodes_per_page) == NULL)
			continue;
		/* (node pages fill in order: those before the insert page are full) */
		nitems = blkno < so->sweep.full_before ? meta->nodes_per_page :
			omendb_page_node_count(so->index, meta, blkno);
		for (int i = 0; i < nitems; i++)
		{
			uint32		node = omendb_node_id(meta, blkno, FirstOffsetNumber + i);

			if (match[i] && !omendb_pagestore_is_visited(&so->graph.store, node))
				batch[n++] = node;
		}
	}
	return n;
}

/*
 * Make room to remember the copies of moved nodes among n nodes about to
 * be met in a pass in physical order.
 */
static void
make_room_for_moved(OmenScanOpaque so, int n)
{
	MemoryContext oldcxt;

	if (so->sweep.nmoved + n <= so->sweep.capmoved)
		return;
	oldcxt = MemoryContextSwitchTo(so->cxt);
	so->sweep.capmoved = Max(so->sweep.capmoved * 2, so->sweep.nmoved + n);
	if (so->sweep.moved == NULL)
		so->sweep.moved = palloc(sizeof(uint32) * so->sweep.capmoved);
	else
		so->sweep.moved = repalloc(so->sweep.moved,
								   sizeof(uint32) * so->sweep.capmoved);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * The copies of moved nodes that a pass in physical order met, up to cap
 * of them into batch, to be met in their turn.  VACUUM's renumbering moves
 * rows to later pages, which a pass down from the last page may have read
 * before the move; the pass then meets the old slot after it, as a deleted
 * node whose one neighbour is the copy (README.omendb, "Renumbering").  A
 * pass through the label directory meets the same way a row moved, after
 * it read a group's label page, from a page of the group it reads later
 * into a slot whose entry it read before the move, and skipped: the old
 * slot's entry still names it (README.omendb, "The label directory").  A
 * row moved before the pass read its old slot was met in its copy, if the
 * pass reads it after the move, or else through the old slot.  Inserts
 * after the pass began are rows the scan does not see.  A copy met twice
 * comes out once (first_return).
 */
static int
take_moved_copies(OmenScanOpaque so, uint32 *batch, int cap)
{
	int			n = Min(so->sweep.nmoved, cap);

	so->sweep.nmoved -= n;
	memcpy(batch, so->sweep.moved + so->sweep.nmoved, sizeof(uint32) * n);
	return n;
}

/*
 * Node pages whose unmet nodes are met in one visit, so that the reader
 * pins pages ahead of the one it reads, as it does for a graph hop's
 * nodes: page by page, each page's first read waited for memory.
 */
#define MEET_PAGES_AT_ONCE	8

/*
 * Nodes a pass through the label directory gathers, a group at a time,
 * before it meets them in one visit, so that the reader fetches ahead
 * (under a rare filter a group has a row or two).
 */
#define MEET_PASSING_AT_ONCE	64

/*
 * Gather the unmet passing nodes of the groups below *blkno, a group at a
 * time down, until there are MEET_PASSING_AT_ONCE or no group is left,
 * into batch (room for pass_batch_room); *blkno becomes the label page of
 * the last group read.  Returns how many.  Each group goes before those
 * gathered already, so that the batch is in order of node id, as the
 * reader visits them: sorting the batch then costs it one comparison a
 * node, where groups in the order read cost a tenth of a pass's time.
 */
static int
gather_passing_nodes(OmenScanOpaque so, BlockNumber *blkno,
					 BlockNumber nblocks, uint32 *batch)
{
	const OmenMetaPageData *meta = &so->info->meta;
	int			n = 0;

	if (so->sweep.group == NULL)
		so->sweep.group = MemoryContextAlloc(so->cxt,
											 sizeof(uint32) * OmenLabelEntries(meta));
	while (*blkno > meta->first_node_block && n < MEET_PASSING_AT_ONCE)
	{
		int			k;

		*blkno = omendb_label_block(meta, *blkno - 1);
		k = unmet_passing_nodes(so, *blkno, nblocks, so->sweep.group, NULL);
		memmove(batch + k, batch, sizeof(uint32) * n);
		memcpy(batch, so->sweep.group, sizeof(uint32) * k);
		n += k;
	}
	return n;
}

/*
 * Room for a batch of nodes a pass meets: pages' worth as read without the
 * label directory, or what gather_passing_nodes may gather.
 */
static int
pass_batch_room(OmenScanOpaque so, int pages)
{
	const OmenMetaPageData *meta = &so->info->meta;
	int			room = pages * meta->nodes_per_page;

	if (sweep_reads_labels(so))
		room = Max(room, (int) OmenLabelEntries(meta) + MEET_PASSING_AT_ONCE);
	return room;
}

/*
 * Meet nodes found by reading node pages in turn in the initial search,
 * taking them for visited.  Each row's bound is at least least[i] (its
 * sketch's, if least is not NULL) and floor.
 */
static void
meet_swept_nodes(OmenScanOpaque so, uint32 *batch, int n, uint32 *fresh,
				 const double *least, double floor)
{
	OmenGraphStore *store = &so->graph.store.store;
	ScanNode   *met;

	if (n == 0)
		return;
	(void) store->visit(store, batch, n, fresh);
	make_room_for_moved(so, n);
	met = keep_met_nodes(so, batch, n, true);
	/* (rows past a radius are never returned) */
	for (int i = 0; i < n; i++)
	{
		met[i].bound = Max(met[i].bound, floor);
		if (least != NULL)
			met[i].bound = Max(met[i].bound, least[i]);
		if (beyond_radius(so, met[i].bound))
			met[i].live = false;
		so->stats.run.swept_rows += met[i].live;
	}
}

/* ----------------------------------------------------------------
 *		Passes with distance sketches (see ScanSketch)
 * ----------------------------------------------------------------
 */

/*
 * A pass with sketches meets waiting nodes this many at a time (fewer than
 * a pass without, which meets every node that passes: the reader's fetch
 * ahead matters less than meeting no more than the rows asked for need),
 * and its first batch holds the rows a LIMIT 10 asks for and the one more
 * that confirms the order: past them, the scan returns rows one at a time
 * as the waiting nodes allow (next_result).
 */
#define SKETCHED_AT_ONCE		16
#define SKETCHED_FIRST_BATCH	(OMENDB_ROWS_OWED + 1)

/* Whether waiting node a comes before b: by bound, then node id. */
static inline bool
sketched_before(const SketchedNode *a, const SketchedNode *b)
{
	return a->bound < b->bound || (a->bound == b->bound && a->node < b->node);
}

static void
waiting_sift_down(SketchedNode *h, size_t n, size_t i)
{
	SketchedNode item = h[i];

	for (;;)
	{
		size_t		child = 2 * i + 1;

		if (child >= n)
			break;
		if (child + 1 < n && sketched_before(&h[child + 1], &h[child]))
			child++;
		if (!sketched_before(&h[child], &item))
			break;
		h[i] = h[child];
		i = child;
	}
	h[i] = item;
}

/* Take the waiting node of smallest bound off the heap. */
static SketchedNode
waiting_pop(ScanSketch *sk)
{
	SketchedNode top = sk->waiting[0];

	sk->waiting[0] = sk->waiting[--sk->nwaiting];
	if (sk->nwaiting > 1)
		waiting_sift_down(sk->waiting, sk->nwaiting, 0);
	return top;
}

/* A node's entry on its group's label page (entries in node-id order). */
static inline uint32
group_entry(const OmenMetaPageData *meta, BlockNumber label_block, uint32 node)
{
	return (omendb_node_block(meta, node) - label_block - 1) * meta->nodes_per_page +
		node % meta->nodes_per_page;
}

/*
 * Read the whole label directory, from the last group down, and put every
 * unmet node whose entry passes on the waiting heap with its sketch bound.
 */
static void
wait_passing_nodes(OmenScanOpaque so, BlockNumber nblocks)
{
	const OmenMetaPageData *meta = &so->info->meta;
	ScanSketch *sk = &so->sketch;
	BlockNumber blkno = nblocks;
	uint32	   *group = MemoryContextAlloc(so->cxt,
										   sizeof(uint32) * OmenLabelEntries(meta));

	while (blkno > meta->first_node_block)
	{
		int			k;

		blkno = omendb_label_block(meta, blkno - 1);
		k = unmet_passing_nodes(so, blkno, nblocks, group, sk->bounds);
		if (sk->nwaiting + k > sk->capwaiting)
		{
			sk->capwaiting = Max(sk->capwaiting * 2, sk->nwaiting + k);
			sk->waiting = sk->waiting == NULL ?
				MemoryContextAllocHuge(so->cxt, sizeof(SketchedNode) * sk->capwaiting) :
				repalloc_huge(sk->waiting, sizeof(SketchedNode) * sk->capwaiting);
		}
		for (int i = 0; i < k; i++)
		{
			sk->waiting[sk->nwaiting].node = group[i];
			sk->waiting[sk->nwaiting].bound =
				sk->bounds[group_entry(meta, blkno, group[i])];
			sk->nwaiting++;
		}
		CHECK_FOR_INTERRUPTS();
	}
	pfree(group);
	for (size_t i = sk->nwaiting / 2; i-- > 0;)
		waiting_sift_down(sk->waiting, sk->nwaiting, i);
}

/* Whether nodes wait for their turn, and the bound of the next, if so. */
static bool
sketch_waiting(OmenScanOpaque so, double *bound)
{
	ScanSketch *sk = &so->sketch;

	if (sk->nwaiting > 0 && beyond_radius(so, sk->waiting[0].bound))
		sk->nwaiting = 0;		/* none of them lies within the radius */
	if (sk->nwaiting == 0)
		return false;
	*bound = sk->waiting[0].bound;
	return true;
}

/*
 * Take up to cap waiting nodes, in order, into batch and their bounds into
 * least; the floor for copies of moved rows met through them rises to the
 * first's.
 */
static int
take_waiting(OmenScanOpaque so, uint32 *batch, double *least, int cap)
{
	ScanSketch *sk = &so->sketch;
	int			n = 0;

	if (sk->nwaiting > 0)
		sk->floor = sk->waiting[0].bound;
	while (n < cap && sk->nwaiting > 0)
	{
		SketchedNode top = waiting_pop(sk);

		batch[n] = top.node;
		least[n] = top.bound;
		n++;
	}
	return n;
}

/*
 * The live nodes met in the initial search whose bounds are at most
 * bound, up to want of them.
 */
static int
met_rows_within(OmenScanOpaque so, double bound, int want)
{
	int			n = 0;

	for (size_t k = 0; k < so->first.nnodes && n < want; k++)
		n += so->first.nodes[k].unfiltered && so->first.nodes[k].bound <= bound;
	return n;
}

/*
 * Meet waiting nodes, in order of sketch bound, until the first batch is
 * settled: it is the met rows of smallest bound (select_first_batch), so
 * once that many have bounds no larger than the next waiting node's, no
 * node still waiting can come before them.
 */
static void
meet_first_waiting(OmenScanOpaque so, uint32 *batch, uint32 *fresh, int cap)
{
	int			want = so->first.want = SKETCHED_FIRST_BATCH;
	double	   *least = palloc(sizeof(double) * cap);
	double		next;

	while (sketch_waiting(so, &next) && met_rows_within(so, next, want) < want)
	{
		meet_swept_nodes(so, batch,
						 take_waiting(so, batch, least, Min(cap, SKETCHED_AT_ONCE)),
						 fresh, least, -INFINITY);
		while (so->sweep.nmoved > 0)
			meet_swept_nodes(so, batch, take_moved_copies(so, batch, cap), fresh,
							 NULL, so->sketch.floor);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(least);
}

/*
 * Past the first batch: meet the next waiting nodes, and queue their live
 * rows for return (to_sort false) or send them to the sweep's sort.
 */
static void
meet_waiting(OmenScanOpaque so, bool to_sort)
{
	int			cap = Min(so->rows.nscratch, SKETCHED_AT_ONCE);
	uint32		batch[SKETCHED_AT_ONCE];
	double		least[SKETCHED_AT_ONCE];
	int			n = take_waiting(so, batch, least, cap);

	for (bool copies = false;; copies = true)
	{
		make_room_for_moved(so, n);
		score_nodes(so, batch, n, so->rows.scratch, true);
		for (int i = 0; i < n; i++)
		{
			ScanNode   *sn = &so->rows.scratch[i];

			sn->bound = Max(sn->bound, copies ? so->sketch.floor : least[i]);
			if (!sn->live || beyond_radius(so, sn->bound))
				continue;
			so->stats.run.swept_rows++;
			if (to_sort)
			{
				ResultItem	item;

				item.bound = sn->bound;
				item.tid = sn->tid;
				item.node = sn->node;
				sort_row(so, &item);
			}
			else
				queue_row(so, sn);
		}
		if (so->sweep.nmoved == 0)
			break;
		n = take_moved_copies(so, batch, cap);
	}
}

/*
 * A search list at least as long as the index has node slots asks for an
 * exhaustive search: the initial search then expands every node the entry
 * point reaches, and this meets the rest (cut off by pruning, or by a
 * crash between an insert's records, and the zero nodes) before the first
 * batch is chosen.
 * So the batch, and every row after it, comes out in order of bound: the
 * order is exact for every row, whatever the graph's shape.
 */
static void
meet_unreachable_nodes(OmenScanOpaque so)
{
	const OmenMetaPageData *meta = &so->info->meta;
	BlockNumber nblocks = RelationGetNumberOfBlocks(so->index);
	int			cap = pass_batch_room(so, MEET_PAGES_AT_ONCE);
	uint32	   *batch = palloc(sizeof(uint32) * cap);
	uint32	   *fresh = palloc(sizeof(uint32) * cap);
	BlockNumber blkno = nblocks;

	if (sweep_reads_labels(so) && so->sketch.on)
	{
		wait_passing_nodes(so, nblocks);
		meet_first_waiting(so, batch, fresh, cap);
		blkno = meta->first_node_block;
	}
	/* (down from the last page, as every pass in physical order goes) */
	while (blkno > meta->first_node_block)
	{
		int			n = 0;

		if (sweep_reads_labels(so))
			n = gather_passing_nodes(so, &blkno, nblocks, batch);
		else
			for (int p = 0; p < MEET_PAGES_AT_ONCE && blkno > meta->first_node_block; p++)
				n += unmet_nodes_on_page(so, --blkno, batch + n);
		meet_swept_nodes(so, batch, n, fresh, NULL, -INFINITY);
		while (so->sweep.nmoved > 0)
			meet_swept_nodes(so, batch, take_moved_copies(so, batch, cap),
							 fresh, NULL, -INFINITY);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(batch);
	pfree(fresh);
}

/* Score swept nodes and sort the live ones with the rest. */
static void
sort_swept_nodes(OmenScanOpaque so, const uint32 *batch, int n)
{
	for (int done = 0; done < n;)
	{
		int			chunk = Min(n - done, so->rows.nscratch);

		make_room_for_moved(so, chunk);
		score_nodes(so, batch + done, chunk, so->rows.scratch, true);
		for (int i = 0; i < chunk; i++)
		{
			ResultItem	item;

			if (!so->rows.scratch[i].live ||
				beyond_radius(so, so->rows.scratch[i].bound))
				continue;
			so->stats.run.swept_rows++;
			item.bound = so->rows.scratch[i].bound;
			item.tid = so->rows.scratch[i].tid;
			item.node = so->rows.scratch[i].node;
			sort_row(so, &item);
		}
		done += chunk;
	}
}

/*
 * Meet every node the graph search never reached, one node page at a time,
 * and sort the live ones with the rest.  Every committed row visible to
 * our snapshot was indexed before the scan began, so reading the
 * relation's length now covers them all.  Under filter keys the label
 * directory, where there is one, says which node pages and slots to read.
 */
static void
sweep_unmet_nodes(OmenScanOpaque so)
{
	const OmenMetaPageData *meta = &so->info->meta;
	BlockNumber nblocks = RelationGetNumberOfBlocks(so->index);
	int			cap = pass_batch_room(so, 1);
	uint32	   *batch = palloc(sizeof(uint32) * cap);
	BlockNumber blkno = nblocks;

	/* (down from the last page: see "Moving nodes" in README.omendb) */
	while (blkno > meta->first_node_block)
	{
		if (sweep_reads_labels(so))
			sort_swept_nodes(so, batch,
							 gather_passing_nodes(so, &blkno, nblocks, batch));
		else
		{
			blkno--;
			sort_swept_nodes(so, batch, unmet_nodes_on_page(so, blkno, batch));
		}
		while (so->sweep.nmoved > 0)
			sort_swept_nodes(so, batch, take_moved_copies(so, batch, cap));
		CHECK_FOR_INTERRUPTS();
	}
	pfree(batch);
}

/*
 * Stop the graph search: every row not yet returned goes into the sort
 * (those queued, those held back, the nodes never met), which then returns
 * them in order of bound.
 */
static void
begin_sweep(OmenScanOpaque so)
{
	for (size_t i = 0; i < so->rows.results.n; i++)
		sort_row(so, &so->rows.results.items[i]);
	for (size_t i = 0; i < so->rows.late.n; i++)
		sort_row(so, &so->rows.late.items[i]);
	if (so->rows.results.items)
		pfree(so->rows.results.items);
	if (so->rows.late.items)
		pfree(so->rows.late.items);
	omendb_stream_drop_frontier(&so->graph.search);
	memset(&so->rows.results, 0, sizeof(ResultHeap));
	memset(&so->rows.late, 0, sizeof(ResultHeap));

	if (!so->sweep.met_all)
		sweep_unmet_nodes(so);
	while (so->sketch.nwaiting > 0)
		meet_waiting(so, true);
	if (so->sweep.sort)
		tuplesort_performsort(so->sweep.sort);
	so->sweep.done = true;
}

/* Hold back a row met below the bound of one already returned. */
static void
hold_back(OmenScanOpaque so, ResultItem item)
{
	so->stats.run.late_rows++;
	if (so->sweep.sort)
		sort_row(so, &item);
	else
		result_push(so, &so->rows.late, item);
}

/* ----------------------------------------------------------------
 *		Radius scans
 *
 * With a ball key around the query, rows whose bound exceeds the radius
 * cannot lie within it (bounds are lower bounds on the exact distance),
 * and the scan ends once the search would go past the radius: no row
 * within it is left queued, and by the stream's own rule none met later
 * is expected to have a bound within it (see "Radius scans" in
 * README.omendb).
 * ----------------------------------------------------------------
 */

/* Whether a bound lies past the radius, in float8's order. */
static inline bool
beyond_radius(OmenScanOpaque so, double bound)
{
	return so->q.has_radius && float8_gt(bound, so->q.radius);
}

/*
 * A row of the first batch lies past the radius, and so do the rest of it.
 * Rows within the radius may still be met, so the search goes on, and the
 * rest of the batch goes back to be queued with everything else.
 */
static void
unbatch_rest(OmenScanOpaque so)
{
	for (int i = so->first.next; i < so->first.nbatch; i++)
		so->first.nodes[so->first.batch[i]].batched = false;
	so->first.nbatch = so->first.next;
}

/*
 * Whether the search is past the radius: no queued row lies within it, no
 * row was shed to the sort that might, and the nearest unexpanded node
 * (or the nearest shed one) is so far that, with the largest gap between
 * approximate distance and bound met so far, nothing met later should
 * have a bound within it.  When the graph is exhausted the sweep decides
 * instead, exactly.
 */
static bool
radius_reached(OmenScanOpaque so)
{
	float		nearest;
	double		reach;

	if (so->rows.results.n > 0 &&
		!beyond_radius(so, so->rows.results.items[0].bound))
		return false;
	if (!beyond_radius(so, so->mem.results_cut))
		return false;
	if (!omendb_stream_peek(&so->graph.search, &nearest) || isnan(nearest))
		return false;
	reach = Min((double) nearest, (double) so->mem.frontier_cut);
	return beyond_radius(so, reach - so->rows.max_gap);
}

/*
 * End the graph search of a radius scan.  Rows held back as late, and any
 * in the sort, may still lie within the radius: they come out of the sort,
 * up to the radius.  The graph may hold rows within the radius that the
 * search did not reach (cut off from it by rows outside); unless told to
 * stop at once (omendb.radius_exact off), the scan reads the node pages
 * for the nodes it did not meet and sorts those within the radius too.
 */
static void
finish_radius(OmenScanOpaque so)
{
	for (size_t i = 0; i < so->rows.late.n; i++)
		if (!beyond_radius(so, so->rows.late.items[i].bound))
			sort_row(so, &so->rows.late.items[i]);
	so->rows.late.n = 0;
	omendb_stream_drop_frontier(&so->graph.search);
	if (omendb_radius_exact && !so->sweep.met_all)
		sweep_unmet_nodes(so);
	if (so->sweep.sort)
		tuplesort_performsort(so->sweep.sort);
	so->sweep.done = true;
}

/*
 * Under filter keys a walk goes on through nodes that fail, and the rows
 * that pass can lie beyond farther ones in the graph: a node whose
 * in-edges all come from nodes farther from the query than itself is met
 * only once the walk has passed it, and comes out late, after rows
 * farther than it (a recall miss under a LIMIT).  Deep walks meet more of
 * them: on 1,536-d embeddings of 64 latent dimensions, under a 1% filter
 * (about 1,300 expansions for LIMIT 10), 4.9% of the ten nearest rows
 * that pass came out late.  So a row goes out only once the walk had
 * passed it a share of its expansions ago: a quarter at the metric's
 * default search list, in proportion to the list (omendb.search_list_size
 * buys recall here as it does for the first batch), at most
 * MAX_PAST_SHARE.  A quarter took the late rows there to 1.8%, for 63%
 * more nodes met.  On Fashion-MNIST a 10% filter meets 3% more (948
 * nodes a query against 920, recall@10 0.9963 against 0.9957): its
 * initial search's list holds most of its rows (filtered_list_size).
 */
#define PAST_SHARE_AT_DEFAULT_LIST	0.25
#define MAX_PAST_SHARE				0.75

static double
past_share(OmenScanOpaque so)
{
	if (so->q.filter.nkeys == 0 || !so->q.ordered)
		return 0;
	return Min(PAST_SHARE_AT_DEFAULT_LIST * so->q.list_size /
			   omendb_default_list_size(so->info->meta.metric),
			   MAX_PAST_SHARE);
}

/* Before an expansion past the first batch: note how far the walk is. */
static void
note_walk(OmenScanOpaque so, float nearest)
{
	int64		n = so->graph.search.stream.nexpanded - so->rows.walk_start;

	if (so->rows.past_share == 0)
		return;
	if ((size_t) n >= so->rows.cappassed)
		so->rows.passed = omendb_grow_array(so->rows.passed,
											&so->rows.cappassed, sizeof(float));
	so->rows.passed[n] = nearest;
}

/*
 * Whether the walk had passed a row of this bound the share of its
 * expansions ago (always, without filter keys).
 */
static bool
walked_past(OmenScanOpaque so, double bound)
{
	int64		n = so->graph.search.stream.nexpanded - so->rows.walk_start;
	int64		back = (int64) (n * so->rows.past_share);

	return back == 0 ||
		so->rows.passed[n - back] - so->rows.max_gap >= bound;
}

/*
 * The next row to return, false when every node has been met and returned.
 *
 * The first batch (list size + FIRST_BATCH_PAST_LIST rows) is the met
 * nodes of smallest bound, returned without expanding past the beam, as a
 * beam search returns its list: expanding every node nearer than the
 * batch's last rows cost a LIMIT 10 query 20% more nodes met at list size
 * 6, for 0.9 points of recall that a larger list buys more cheaply.
 *
 * After the batch, the candidate with the smallest bound is returned once
 * no node met later is likely to have a smaller one: nodes met later are
 * expected no nearer than the nearest unexpanded node, and their bounds at
 * most max_gap below their approximate distances.  Until then the nearest
 * unexpanded node is expanded (best-first).  When none is left, or the
 * search would need what was shed, the sweep returns the rest.
 */
static bool
next_result(OmenScanOpaque so, ResultItem *out)
{
	if (so->first.next < so->first.nbatch)
	{
		ScanNode   *sn = &so->first.nodes[so->first.batch[so->first.next]];

		if (beyond_radius(so, sn->bound))
			unbatch_rest(so);
		else
		{
			so->first.next++;
			out->bound = sn->bound;
			out->tid = sn->tid;
			out->node = sn->node;
			so->rows.last_bound = out->bound;
			return true;
		}
	}
	if (so->first.deferring)
		restore_heaps(so);

	for (;;)
	{
		bool		can_expand;
		float		nearest;
		double		waiting;

		if (so->sweep.done)
		{
			/* (the sort returns rows in order of bound) */
			if (!next_sorted_row(so, out) || beyond_radius(so, out->bound))
				return false;
			so->rows.last_bound = out->bound;
			return true;
		}
		if (so->mem.must_sweep ||
			so->stats.run.nodes_met > so->sweep.walk_budget)
		{
			begin_sweep(so);
			continue;
		}
		if (sketch_waiting(so, &waiting))
		{
			/* a pass with sketches: a row goes out once none waiting is nearer */
			if (so->rows.results.n == 0 ||
				so->rows.results.items[0].bound > waiting)
			{
				meet_waiting(so, false);
				check_memory(so);
				continue;
			}
			if (so->rows.results.items[0].bound < so->rows.last_bound &&
				so->q.ordered)
			{
				hold_back(so, result_pop(&so->rows.results));
				continue;
			}
			if (so->rows.results.items[0].bound >= so->mem.results_cut)
			{
				begin_sweep(so);
				continue;
			}
			*out = result_pop(&so->rows.results);
			so->rows.last_bound = out->bound;
			return true;
		}

		/* (a NaN distance is expanded, as the heap puts it on top) */
		can_expand = omendb_stream_peek(&so->graph.search, &nearest) &&
			!(nearest >= so->mem.frontier_cut);
		if (so->q.has_radius && radius_reached(so))
		{
			finish_radius(so);
			continue;
		}
		if (so->rows.results.n > 0)
		{
			double		bound = so->rows.results.items[0].bound;

			if (bound < so->rows.last_bound && so->q.ordered)
			{
				/* met too late to come out in order: hold back */
				hold_back(so, result_pop(&so->rows.results));
				continue;
			}
			if (bound >= so->mem.results_cut)
			{
				begin_sweep(so);
				continue;
			}
			if (can_expand &&
				nearest - so->rows.max_gap >= bound &&
				walked_past(so, bound))
			{
				*out = result_pop(&so->rows.results);
				so->rows.last_bound = out->bound;
				return true;
			}
		}
		if (can_expand)
		{
			note_walk(so, nearest);
			omendb_stream_expand_next(&so->graph.search);
			check_memory(so);
		}
		else
			begin_sweep(so);
		CHECK_FOR_INTERRUPTS();
	}
}

/* ----------------------------------------------------------------
 *		Stored values
 *
 * When nodes carry their rows' values (option store_vectors), the scan
 * computes each row's exact distance itself, calling the ORDER BY
 * operator's own function on the stored value and the query, as the
 * executor would on the heap row: the same function on the same bytes, so
 * the same result.  It then does what the executor's reorder queue would:
 * rows come from next_result in order of bound, and the row of smallest
 * exact distance goes out once that distance is no greater than the next
 * row's bound (a lower bound on every distance still to come).  Rows go
 * out with xs_recheckorderby off, so the executor reads the heap row only
 * to check its visibility and to project it, and never detoasts its
 * vector for the ORDER BY.
 *
 * A value is read when its row is next in order of bound, after the
 * search met the node: the node cannot have been freed and reused since
 * on a primary (it was live when met, and VACUUM frees a slot only after
 * every snapshot older than its deletion has gone; README.omendb,
 * "Deletion and slot reuse").  On a standby it can, if its row was
 * deleted and its heap space cleaned up, which cancels any query whose
 * snapshot still sees the row: so a slot that no longer holds the row is
 * a row this scan's snapshot cannot see, and is skipped.
 *
 * Without stored values, a scan whose bounds are only probable
 * (omendb_bounds_certain) reads the values from the heap rows instead,
 * as the executor's recheck would: a probable bound above a row's exact
 * distance would make the executor stop the query with an error ("index
 * returned tuples in wrong order"), where here it can only hold a row
 * back (next_exact).  The row is fetched under the scan's MVCC snapshot,
 * and one it cannot see is skipped, as the executor would skip it.
 * ----------------------------------------------------------------
 */

/* Copy the stored value of the wanted row off its page. */
static void
value_visitor(OmenNodeHeader node, int idx, void *arg)
{
	OmenScanOpaque so = arg;
	ScanExact  *ex = &so->exact;

	ex->value_found = !(node->flags & OMENDB_NODE_FREE) &&
		ItemPointerEquals(&node->heaptid, &ex->value_tid);
	if (ex->value_found)
	{
		char	   *problem = omendb_node_value_problem(&so->info->meta, node);

		if (unlikely(problem != NULL))
			omendb_corrupted(so->index, "Node %u: %s.", so->exact.value_node,
							 problem);
		memcpy(ex->value, OmenNodeValue(node, &so->info->meta),
			   so->info->meta.value_size);
	}
}

/*
 * Copy a row's stored value into ex->value; false if the slot no longer
 * holds the row.
 */
static bool
read_value(OmenScanOpaque so, const ResultItem *row)
{
	ScanExact  *ex = &so->exact;

	ex->value_tid = row->tid;
	ex->value_node = row->node;
	omendb_visit_nodes(so->index, &so->info->meta, &row->node, 1,
					   value_visitor, so);
	return ex->value_found;
}

static void remember_kill(IndexScanDesc scan, const ScanKill *kill);

/*
 * The exact distance of a row from its heap row's value; false if the
 * scan's snapshot cannot see the row.  The operator's function detoasts
 * the value (a vector's through the TOAST cache, where the executor's
 * projection of the ORDER BY column finds it again).
 */
static bool
heap_exact_distance(IndexScanDesc scan, OmenScanOpaque so,
					const ResultItem *row, double *dist)
{
	ScanExact  *ex = &so->exact;
	ItemPointerData tid = row->tid;
	bool		call_again = false;
	bool		all_dead = false;
	bool		isnull;
	Datum		value;
	MemoryContext oldcxt;

	so->stats.run.rows_rechecked++;
	if (!table_index_fetch_tuple(ex->fetch, &tid, scan->xs_snapshot, ex->slot,
								 &call_again, &all_dead))
	{
		/* dead to every snapshot: flag it, as the executor would have */
		if (all_dead && !scan->xactStartedInRecovery)
		{
			ScanKill	kill = {row->node, row->tid};

			remember_kill(scan, &kill);
		}
		return false;
	}
	value = slot_getattr(ex->slot, ex->heap_attnum, &isnull);
	if (isnull)
		elog(ERROR, "omendb: heap row (%u,%u) of index \"%s\" has no value",
			 ItemPointerGetBlockNumber(&tid), ItemPointerGetOffsetNumber(&tid),
			 RelationGetRelationName(so->index));
	oldcxt = MemoryContextSwitchTo(ex->rowcxt);
	*dist = DatumGetFloat8(FunctionCall2Coll(ex->fn, ex->collation, value,
											 ex->query));
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(ex->rowcxt);
	ExecClearTuple(ex->slot);
	return true;
}

/*
 * The exact distance of a row, from its node's stored value or its heap
 * row; false if the slot no longer holds the row, or the scan cannot see
 * it.  The operator's function runs with no buffer lock held.
 */
static bool
exact_distance(IndexScanDesc scan, OmenScanOpaque so, const ResultItem *row,
			   double *dist)
{
	ScanExact  *ex = &so->exact;

	if (ex->from_heap)
		return heap_exact_distance(scan, so, row, dist);
	if (!read_value(so, row))
		return false;
	*dist = DatumGetFloat8(FunctionCall2Coll(ex->fn, ex->collation,
											 PointerGetDatum(ex->value),
											 ex->query));
	return true;
}

/*
 * Whether the value read last (read_value) lies in every ball of the scan
 * keys, by the ball operator's own function, as the executor's recheck
 * would decide it.
 */
static bool
value_in_balls(IndexScanDesc scan, OmenScanOpaque so)
{
	for (int i = 0; i < scan->numberOfKeys; i++)
	{
		ScanKey		key = &scan->keyData[i];

		if (key->sk_attno == 1 &&
			!DatumGetBool(FunctionCall2Coll(&key->sk_func, key->sk_collation,
											PointerGetDatum(so->exact.value),
											key->sk_argument)))
			return false;
	}
	return true;
}

/*
 * The heap column of an index on a plain column, or 0 for an expression
 * index, whose values the scan cannot read from the heap row.
 */
static AttrNumber
indexed_heap_column(Relation index)
{
	return index->rd_index->indkey.values[0];
}

/*
 * Whether the scan may bound rows by probable bounds: where omendb.exact_order
 * does not ask for certain ones (omendb_bounds_certain) and it can compute
 * each row's exact distance itself, from stored values or, under an MVCC
 * snapshot, from the heap rows of a plain column.
 * A radius scan keeps rigorous bounds: it stops at the first bound past
 * the radius, and must not stop before a row within it.
 */
static OmenQueryUse
scan_query_use(IndexScanDesc scan, OmenScanOpaque so)
{
	if (omendb_bounds_certain(so->info->quant) || !so->q.ordered ||
		so->q.has_radius)
		return OMENDB_QUERY_SCAN;
	if (so->info->meta.value_size > 0)
		return OMENDB_QUERY_SCAN_PROBABLE;
	if (scan->heapRelation != NULL && scan->xs_snapshot != NULL &&
		IsMVCCSnapshot(scan->xs_snapshot) &&
		indexed_heap_column(so->index) != 0)
		return OMENDB_QUERY_SCAN_PROBABLE;
	return OMENDB_QUERY_SCAN;
}

/*
 * Set up what the scan decides on exact values: with stored values, exact
 * distances for a scan in order of distance, and the ball keys; without,
 * exact distances from the heap rows where its bounds are probable.
 */
static void
begin_exact(IndexScanDesc scan, OmenScanOpaque so)
{
	ScanExact  *ex = &so->exact;
	bool		stored = so->info->meta.value_size > 0;

	memset(ex, 0, sizeof(ScanExact));
	ex->last_out = -INFINITY;
	if (so->q.null_query)
		return;
	if (so->q.ordered &&
		(stored || so->q.query_use == OMENDB_QUERY_SCAN_PROBABLE))
	{
		ScanKey		key = &scan->orderByData[0];

		ex->on = true;
		ex->fn = &key->sk_func;
		ex->collation = key->sk_collation;
		ex->query = PointerGetDatum(PG_DETOAST_DATUM(key->sk_argument));
	}
	if (ex->on && !stored)
	{
		ex->from_heap = true;
		ex->heap_attnum = indexed_heap_column(so->index);
		ex->fetch = table_index_fetch_begin(scan->heapRelation);
		ex->slot = table_slot_create(scan->heapRelation, NULL);
		ex->rowcxt = AllocSetContextCreate(CurrentMemoryContext,
										   "omendb exact distance",
										   ALLOCSET_DEFAULT_SIZES);
		return;
	}
	ex->balls = stored && so->q.has_balls;
	if (ex->on || ex->balls)
		ex->value = palloc(MAXALIGN(so->info->meta.value_size));
}

/* Let go of the heap, if exact distances came from it. */
static void
end_exact(OmenScanOpaque so)
{
	ScanExact  *ex = &so->exact;

	if (ex->slot != NULL)
		ExecDropSingleTupleTableSlot(ex->slot);
	if (ex->fetch != NULL)
		table_index_fetch_end(ex->fetch);
	ex->slot = NULL;
	ex->fetch = NULL;
}

/*
 * The next row in order of exact distance, which its bound field holds;
 * false when none is left.  A row outside a ball key's ball is dropped as
 * its value is read.
 *
 * With probable bounds a row's error can exceed its bound's margin, and
 * the row then turns up after a farther one went out.  Like a row the
 * graph leads to late, it is held back until the graph is exhausted
 * (hold_back): out of order it would break the query's ORDER BY, held
 * back it costs at most a recall miss.  (With certain bounds no row gets
 * here late: next_result holds those back itself.)
 */
static bool
next_exact(IndexScanDesc scan, OmenScanOpaque so, ResultItem *out)
{
	ScanExact  *ex = &so->exact;

	for (;;)
	{
		ResultItem	item;

		if (!ex->have_next && !ex->exhausted)
		{
			ex->have_next = next_result(so, &ex->next);
			ex->exhausted = !ex->have_next;
		}
		if (ex->rows.n > 0 &&
			(ex->exhausted || float8_le(ex->rows.items[0].bound, ex->next.bound)))
		{
			*out = result_pop(&ex->rows);
			if (out->bound < ex->last_out && so->q.ordered &&
				!so->sweep.done)
			{
				hold_back(so, *out);
				continue;
			}
			ex->last_out = Max(ex->last_out, out->bound);
			return true;
		}
		if (ex->exhausted)
			return false;
		ex->have_next = false;
		item = ex->next;
		if (exact_distance(scan, so, &ex->next, &item.bound) &&
			(!ex->balls || value_in_balls(scan, so)))
			heap_insert(&ex->rows, item);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The next row to return: in order of bound, or of exact distance where
 * the index stores values, and then only if its value lies in the balls.
 */
static bool
next_row(IndexScanDesc scan, OmenScanOpaque so, ResultItem *out)
{
	if (so->exact.on)
		return next_exact(scan, so, out);
	for (;;)
	{
		if (!next_result(so, out))
			return false;
		if (!so->exact.balls ||
			(read_value(so, out) && value_in_balls(scan, so)))
			return true;
		CHECK_FOR_INTERRUPTS();
	}
}

/* ----------------------------------------------------------------
 *		Scan with a NULL query: every live node, in physical order
 * ----------------------------------------------------------------
 */

typedef struct SeqArg
{
	OmenScanOpaque so;
	ItemPointerData tid;
	bool		live;
	uint32		copy;			/* a moved node's copy, or invalid */
} SeqArg;

static void
seq_visitor(OmenNodeHeader node, int idx, void *arg)
{
	SeqArg	   *sa = arg;

	sa->tid = node->heaptid;
	sa->live = node_returnable(sa->so, node);
	sa->copy = OMENDB_INVALID_NODE;
	if (node->flags == OMENDB_NODE_DELETED && node->nneighbors == 1)
		sa->copy = OmenNodeNeighbors(node)[0];
}

/*
 * Visit node in a pass in physical order, and if it is a moved node's old
 * slot, its copy, which the pass may have read before the move (see
 * take_moved_copies): a copy renumbering moved on again leads on once more.
 * Returns the node visited last.
 */
static uint32
visit_in_physical_order(OmenScanOpaque so, uint32 node, SeqArg *sa)
{
	const OmenMetaPageData *meta = &so->info->meta;
	ItemPointerData row;

	sa->so = so;
	for (int hops = 0;; hops++)
	{
		omendb_visit_nodes(so->index, meta, &node, 1, seq_visitor, sa);
		so->stats.run.nodes_met++;
		/* (a copy holds the same row; a deleted node's one edge may not) */
		if (hops > 0 && !ItemPointerEquals(&sa->tid, &row))
		{
			sa->live = false;
			return node;
		}
		if (sa->live || sa->copy == OMENDB_INVALID_NODE || hops == 2)
			return node;
		row = sa->tid;
		node = sa->copy;
	}
}

static bool
next_in_physical_order(OmenScanOpaque so, ItemPointer tid, uint32 *found)
{
	const OmenMetaPageData *meta = &so->info->meta;

	for (;;)
	{
		uint32		node;
		SeqArg		sa;

		if (so->seq.block == InvalidBlockNumber ||
			so->seq.next >= so->seq.block_nodes)
		{
			/* on to the page before, the last one first */
			BlockNumber blkno = so->seq.block == InvalidBlockNumber ?
				RelationGetNumberOfBlocks(so->index) : so->seq.block;

			if (blkno <= meta->first_node_block)
				return false;
			so->seq.block = --blkno;
			so->seq.block_nodes = omendb_page_node_count(so->index, meta, blkno);
			so->seq.next = 0;
			continue;
		}
		node = omendb_node_id(meta, so->seq.block,
							  FirstOffsetNumber + so->seq.next++);
		node = visit_in_physical_order(so, node, &sa);
		if (sa.live)
		{
			*tid = sa.tid;
			*found = node;
			return true;
		}
	}
}

/* ----------------------------------------------------------------
 *		Kills
 *
 * A row the executor found dead to every snapshot will never be returned
 * by any scan, so its node may be flagged deleted now instead of at the
 * next VACUUM: later scans stop returning it and fetching its heap row.
 * README.omendb says why no scan can miss a row by it ("Locking
 * protocol") and why a standby cannot either ("Kills" under Scan).
 * ----------------------------------------------------------------
 */

static int
cmp_kill_node(const void *a, const void *b)
{
	uint32		x = ((const ScanKill *) a)->node;
	uint32		y = ((const ScanKill *) b)->node;

	return (x > y) - (x < y);
}

/*
 * Whether the heap has pruned the row at tid, leaving a dead line pointer.
 * The pruning's WAL record carries the newest xid it removed, and a
 * standby replaying it cancels the queries whose snapshots may still see
 * such a row; a kill logged after it cannot hide the row from one.
 */
static bool
heap_row_pruned(Relation heap, ItemPointer tid)
{
	Buffer		buf = ReadBuffer(heap, ItemPointerGetBlockNumber(tid));
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);
	Page		page;
	bool		pruned;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	pruned = off >= FirstOffsetNumber && off <= PageGetMaxOffsetNumber(page) &&
		ItemIdIsDead(PageGetItemId(page, off));
	UnlockReleaseBuffer(buf);
	return pruned;
}

/*
 * Flag the nodes of the killed rows deleted: one node page at a time,
 * exclusively locked with no other lock held but the meta page's, and one
 * WAL record for each page that changes, which counts the nodes on the
 * meta page.  A node changes only if it is still live with the
 * same heap row, since VACUUM may have flagged it first.  (No one can
 * have freed or reused the slot: see README.omendb.)
 */
static void
apply_kills(IndexScanDesc scan)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;
	ScanKills  *kills = &so->kills;
	Relation	index = scan->indexRelation;
	Relation	heap = scan->heapRelation;
	const OmenMetaPageData *meta;
	int			n = 0;

	if (kills->n == 0)
		return;
	/* (the executor kills nothing in recovery; nor could we write) */
	if (RecoveryInProgress())
	{
		kills->n = 0;
		return;
	}
	meta = &so->info->meta;

	/*
	 * A standby may replay what we log, and its snapshots are not in the
	 * primary's horizon: kill only rows whose pruning has resolved the
	 * conflicts with them (heap tables only; others keep their nodes
	 * until VACUUM).
	 */
	if (!XLogStandbyInfoActive() || !RelationNeedsWAL(index))
		n = kills->n;
	else if (heap != NULL && heap->rd_rel->relam == HEAP_TABLE_AM_OID)
	{
		for (int i = 0; i < kills->n; i++)
			if (heap_row_pruned(heap, &kills->items[i].tid))
				kills->items[n++] = kills->items[i];
	}

	qsort(kills->items, n, sizeof(ScanKill), cmp_kill_node);
	for (int i = 0; i < n;)
	{
		BlockNumber blkno = omendb_node_block(meta, kills->items[i].node);
		OffsetNumber dead[SCAN_KILL_BATCH];
		int			ndead = 0;
		Buffer		buf;
		Page		page;

		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		omendb_check_node_page(index, buf, page, meta);
		for (; i < n && omendb_node_block(meta, kills->items[i].node) == blkno; i++)
		{
			OffsetNumber off = omendb_node_offset(meta, kills->items[i].node);
			OmenNodeHeader node = omendb_page_node_at(index, page, meta,
													  blkno, off);

			if (node->flags == OMENDB_NODE_LIVE &&
				ItemPointerEquals(&node->heaptid, &kills->items[i].tid))
				dead[ndead++] = off;
		}
		if (ndead > 0)
		{
			OmenPageEdit edit;
			Buffer		metabuf;

			omendb_edit_begin(&edit, index, true);
			page = omendb_edit_page(&edit, buf, false);
			for (int k = 0; k < ndead; k++)
			{
				OmenNodeHeader node = omendb_page_node_at(index, page, meta,
														  blkno, dead[k]);

				node->flags = OMENDB_NODE_DELETED;
			}
			metabuf = omendb_count_nodes(index, &edit, blkno, ndead, 0);
			omendb_edit_finish(&edit);
			if (BufferIsValid(metabuf))
				UnlockReleaseBuffer(metabuf);
		}
		UnlockReleaseBuffer(buf);
	}
	kills->n = 0;
}

/*
 * Before each call of gettuple: if the executor says the row returned by
 * the call before is dead to every snapshot, remember its node.
 */
static void
note_kill(IndexScanDesc scan)
{
	ScanKills  *kills = &((OmenScanOpaque) scan->opaque)->kills;

	if (scan->kill_prior_tuple && kills->have_last)
		remember_kill(scan, &kills->last);
	kills->have_last = false;
}

/* Remember a row dead to every snapshot, for apply_kills. */
static void
remember_kill(IndexScanDesc scan, const ScanKill *kill)
{
	ScanKills  *kills = &((OmenScanOpaque) scan->opaque)->kills;

	kills->items[kills->n++] = *kill;
	if (kills->n == SCAN_KILL_BATCH)
		apply_kills(scan);
}

/* The row gettuple returns, to be killed if the executor finds it dead. */
static void
note_returned(OmenScanOpaque so, uint32 node, ItemPointer tid)
{
	so->kills.last.node = node;
	so->kills.last.tid = *tid;
	so->kills.have_last = true;
}

/* ----------------------------------------------------------------
 *		Index AM callbacks
 * ----------------------------------------------------------------
 */

/*
 * The bits an array element sets in the index's signatures, from its meta
 * page: the scan's keys on array columns must be made as its labels were.
 */
static int
filter_signature_bits(Relation index)
{
	if (IndexRelationGetNumberOfKeyAttributes(index) < 2)
		return OMENDB_SIGNATURE_BITS;	/* no labels */
	return omendb_get_info(index)->meta.signature_bits;
}

IndexScanDesc
omendb_beginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	OmenScanOpaque so = palloc0(sizeof(OmenScanOpaqueData));

	/* the AM provides the arrays for the ORDER BY values */
	scan->xs_orderbyvals = palloc0(sizeof(Datum) * Max(norderbys, 1));
	scan->xs_orderbynulls = palloc(sizeof(bool) * Max(norderbys, 1));
	so->index = index;
	so->filter_columns = omendb_filter_columns(index,
											   filter_signature_bits(index));
	so->cxt = AllocSetContextCreate(CurrentMemoryContext, "omendb scan",
									ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	return scan;
}

/* Whether two queries are the same vector. */
static bool
same_vector(const Vector *a, const Vector *b)
{
	return a->dim == b->dim && memcmp(a->x, b->x, sizeof(float) * a->dim) == 0;
}

/*
 * A run of the scan ends, at a rescan or at the end of the scan: report it
 * at DEBUG1 and hand its counters to omendb_scan_stats, so that each run
 * counts as one scan, as it counts as one idx_scan.  A run that never
 * began (the executor rescans before asking for a row) counts nothing.
 */
static void
end_run(IndexScanDesc scan)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;
	const OmenScanCounters *run = &so->stats.run;

	if (so->started)
	{
		elog(DEBUG1, "omendb scan of \"%s\": " INT64_FORMAT " nodes met, " INT64_FORMAT " expanded, "
			 INT64_FORMAT " pages pinned, " INT64_FORMAT " rows returned, "
			 INT64_FORMAT " held back as late, " INT64_FORMAT " swept in, " INT64_FORMAT " sorted; "
			 "search state peaked at %zu bytes (limit %zu)",
			 RelationGetRelationName(scan->indexRelation), run->nodes_met,
			 run->nodes_expanded, run->pages_pinned, run->rows_returned,
			 run->late_rows, run->swept_rows, so->stats.nsorted, so->mem.peak,
			 so->mem.limit);
		omendb_scan_stats_record(run);
	}
	memset(&so->stats, 0, sizeof(ScanStats));
}

/*
 * Take the radius from the ball keys ("col <<-> ball", strategy 2).  A
 * NULL ball, center or radius makes the condition NULL for every row: the
 * scan returns nothing.  Without an ORDER BY the first ball's center is
 * the query.  The smallest radius of the balls around the query is where
 * the scan may stop; balls around other vectors (and every ball of a scan
 * with a NULL ORDER BY query) are left to the executor, which rechecks
 * every key of every row.
 */
static void
take_ball_keys(IndexScanDesc scan, OmenScanOpaque so)
{
	so->q.has_radius = false;
	so->q.has_balls = false;
	for (int i = 0; i < scan->numberOfKeys; i++)
	{
		ScanKey		key = &scan->keyData[i];
		Datum		center;
		double		radius;
		Vector	   *cvec;

		if (key->sk_attno != 1)
			continue;			/* a filter column's */
		so->q.has_balls = true;
		if ((key->sk_flags & SK_ISNULL) ||
			!omendb_ball_fields(key->sk_argument, &center, &radius))
		{
			so->q.empty = true;
			return;
		}
		if (so->q.null_query)
			continue;
		cvec = DatumGetVector(center);
		if (so->q.qvec == NULL)
			so->q.qvec = cvec;
		else if (!same_vector(so->q.qvec, cvec))
			continue;
		if (!so->q.has_radius || float8_lt(radius, so->q.radius))
			so->q.radius = radius;
		so->q.has_radius = true;
	}
}

/*
 * Take the query from the ORDER BY key, or from a ball key, and the radius
 * from the ball keys.  Detoasting happens here, before any buffer lock.
 */
void
omendb_rescan(IndexScanDesc scan, ScanKey keys, int nkeys,
			  ScanKey orderbys, int norderbys)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;
	MemoryContext oldcxt;

	end_run(scan);
	/* (the kills need the index parameters, which the reset frees) */
	apply_kills(scan);
	so->kills.have_last = false;
	end_sort(so);
	end_exact(so);
	MemoryContextReset(so->cxt);
	so->started = false;
	so->q.null_query = false;
	so->q.empty = false;
	so->seq.next = 0;
	so->seq.block = InvalidBlockNumber;
	so->returned = NULL;
	so->first.nbatch = 0;
	so->first.next = 0;
	so->first.deferring = false;
	so->mem.peak = 0;
	memset(&so->exact, 0, sizeof(ScanExact));
	forget_sketch(so);

	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));

	oldcxt = MemoryContextSwitchTo(so->cxt);
	omendb_filter_prepare(so->filter_columns, scan->keyData,
						  scan->numberOfKeys, &so->q.filter);
	so->q.label_directory = omendb_label_directory;

	so->q.qvec = NULL;
	so->q.ordered = scan->numberOfOrderBys > 0;
	if (so->q.ordered)
	{
		if (scan->orderByData[0].sk_flags & SK_ISNULL)
			so->q.null_query = true;
		else
			so->q.qvec = omendb_datum_vector(scan->indexRelation,
											 scan->orderByData[0].sk_argument);
	}
	take_ball_keys(scan, so);
	if (!so->q.ordered && !so->q.has_balls)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("omendb index scans need an ORDER BY on a distance operator or a ball condition")));
	if (so->q.filter.impossible)
		so->q.empty = true;
	MemoryContextSwitchTo(oldcxt);
}

/*
 * The empty search state of a query: the stream over the node pages, in
 * its initial search, and nothing queued.
 */
static void
begin_search(OmenScanOpaque so)
{
	const OmenMetaPageData *meta = &so->info->meta;

	so->first.deferring = true;
	so->first.want = 0;
	so->first.capnodes = 1024;
	so->first.nodes = palloc(sizeof(ScanNode) * so->first.capnodes);
	so->first.nnodes = 0;
	memset(&so->rows, 0, sizeof(ScanRows));
	so->rows.last_bound = -INFINITY;
	so->mem.limit_kb = omendb_scan_mem_limit >= 0 ? omendb_scan_mem_limit : work_mem;
	so->mem.limit = (Size) so->mem.limit_kb * 1024;
	so->mem.must_sweep = false;
	so->mem.frontier_cut = INFINITY;
	so->mem.results_cut = INFINITY;
	so->sweep.sort = NULL;
	so->sweep.slot = NULL;
	so->sweep.done = false;
	so->sweep.walk_budget = PG_INT64_MAX;
	so->sweep.met_all = false;
	so->sweep.match = NULL;
	so->sweep.group = NULL;
	so->sweep.moved = NULL;
	so->sweep.nmoved = so->sweep.capmoved = 0;

	omendb_pagestore_init(&so->graph.store, so->index, meta, so->info->quant,
						  false);
	omendb_pagestore_on_bitmap(&so->graph.store, on_visited_bitmap, so);
	omendb_search_init(&so->graph.search, &so->graph.store.store);
	omendb_stream_begin(&so->graph.search, meet_nodes, before_frontier_growth,
						so);
}

/* No pass with sketches yet (the query's table is left as it is). */
static void
forget_sketch(OmenScanOpaque so)
{
	ScanSketch *sk = &so->sketch;

	sk->on = false;
	sk->bounds = NULL;
	sk->waiting = NULL;
	sk->nwaiting = sk->capwaiting = 0;
	sk->floor = -INFINITY;
}

/*
 * Whether passes through the label directory bound rows by their sketches
 * (an ordered scan under filter keys, of an index whose entries carry
 * them), and the query projected for them.
 */
static void
begin_sketch(OmenScanOpaque so)
{
	ScanSketch *sk = &so->sketch;

	forget_sketch(so);
	sk->on = so->info->sketch != NULL && sweep_reads_labels(so) &&
		omendb_directory_sketch && so->q.ordered && so->q.qvec != NULL;
	if (!sk->on)
		return;
	omendb_sketch_query(so->info->sketch, so->q.qvec->x, &sk->query);
	sk->bounds = palloc(sizeof(double) * OmenLabelEntries(&so->info->meta));
}

/* The query must have the index's dimensions. */
static void
check_query_dimensions(OmenScanOpaque so)
{
	if (so->q.qvec->dim != so->info->meta.dimensions)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different vector dimensions %d and %d",
						so->info->meta.dimensions, so->q.qvec->dim)));
}

/*
 * Nodes the initial search must have met, none of them passing the
 * filter, for filter_is_rare to give up the walk.
 */
#define RARE_FILTER_SAMPLE	256

/*
 * Whether the filter keys pass so few rows that reading every node page
 * beats walking to them: the initial search met many live nodes and none
 * passed.  A walk in order of distance would go on through nodes that
 * fail, a score each, until it reached the passing ones wherever they lie
 * (nearly the whole graph for a filter that 6 rows in 60,000 pass: 82 ms
 * a query on Fashion-MNIST); meeting every node in page order tests each
 * one's labels and scores only those that pass (swept_score_visitor): 23
 * ms.  At 0.1% (60 rows) the two cost the same, 17 to 19 ms.
 *
 * With a label directory the pass tests packed entries and reads only the
 * pages of rows that may pass, so it wins far sooner: when its cost is
 * below a walk's to OMENDB_ROWS_OWED rows at the share of live nodes met
 * that passed (walks meet about walk_rate nodes a row, each row a share
 * of them).  Either way every node is met before the first row, and the
 * order is exact, as in an exhaustive search.
 */
static bool
filter_is_rare(OmenScanOpaque so)
{
	int			live;
	int			passed;
	double		passing;

	if (so->q.filter.nkeys == 0)
		return false;
	passing = first_search_passing(so, &live, &passed);
	if (!sweep_reads_labels(so))
		return passed == 0 && live >= RARE_FILTER_SAMPLE;
	return directory_beats_walk(so, passing, true);
}

/* Label pages spread over the index that sampled_filter_share reads. */
#define LABEL_SAMPLE_PAGES	8

/*
 * The share of node slots whose directory entries pass the filter keys,
 * from a sample of label pages spread over the index; -1 where there is
 * no directory to read.  Reading a few label pages costs a few nodes met.
 * A sample that misses rows clustered between its pages makes the filter
 * look rarer than it is, never a result wrong.
 */
static double
sampled_filter_share(OmenScanOpaque so)
{
	const OmenMetaPageData *meta = &so->info->meta;
	BlockNumber ngroups;
	uint32		nentries;
	int			npages;
	int64		passed = 0;
	bool	   *match;

	if (!sweep_reads_labels(so))
		return -1;
	ngroups = omendb_label_blocks_before(meta, priced_blocks(so));
	if (ngroups == 0)
		return -1;
	nentries = OmenLabelEntries(meta);
	npages = Min(ngroups, LABEL_SAMPLE_PAGES);
	match = label_match_array(so);
	for (int i = 0; i < npages; i++)
	{
		BlockNumber group = (BlockNumber) ((uint64) ngroups * (2 * i + 1) / (2 * npages));

		match_label_page(so, meta->first_node_block + group * meta->label_stride,
						 match, NULL);
		for (uint32 e = 0; e < nentries; e++)
			passed += match[e];
	}
	return (passed + 0.5) / ((double) npages * nentries + 1.0);
}

/*
 * The initial search's list for a filtered walk.  The walk owes
 * OMENDB_ROWS_OWED rows that pass, which lie among about OMENDB_ROWS_OWED
 * / passing of the rows nearest the query.  The initial search vouches
 * for the order of the rows within its list, and the first batch returns
 * those that pass as they are; past the list the walk finds them, and a
 * row it reaches only after farther ones comes out late.  So the list
 * grows to that depth, up to FILTERED_LIST_MAX times the list asked for.
 * On Fashion-MNIST a 10%-selective filter's recall@10 went from 0.986 to
 * 0.995 at the default list, with 5% fewer nodes met (the search's list
 * keeps the nearest, where a walk goes on through all it met); a 4%
 * filter met 8% fewer at the same recall.  (The late-row rule stays: it
 * guards the rows past the list, which a deeper LIMIT or a rarer filter
 * asks for.)
 */
#define FILTERED_LIST_MAX	4

static int
filtered_list_size(OmenScanOpaque so, double passing)
{
	double		depth = OMENDB_ROWS_OWED / passing;

	return (int) Max(so->q.list_size,
					 Min(depth, (double) so->q.list_size * FILTERED_LIST_MAX));
}

/* Set up the search on the first call, once per rescan. */
static void
start_scan(IndexScanDesc scan)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;
	OmenMetaPageData cur;
	const OmenMetaPageData *meta;
	bool		rare;
	double		passing;

	so->started = true;
	if (so->q.empty)
		return;					/* a NULL ball: no row satisfies it */
	/* a copy: the relcache may drop its cache between our calls */
	so->info = omendb_copy_info(omendb_get_info(scan->indexRelation));
	meta = &so->info->meta;
	if (!meta->quant_trained)
	{
		/* built empty and never inserted into */
		if (!so->q.null_query && meta->dimensions != 0)
			check_query_dimensions(so);
		so->q.empty = true;
		return;
	}
	if (so->q.null_query)
		return;
	check_query_dimensions(so);

	omendb_read_meta(scan->indexRelation, &cur);
	if (cur.insert_block == InvalidBlockNumber)
	{
		/* no node at all */
		so->q.empty = true;
		return;
	}
	/* (VACUUM truncates only under a lock that excludes scans) */
	so->sweep.full_before = cur.insert_block;
	so->sweep.priced_blocks = InvalidBlockNumber;

	so->q.qv = palloc(sizeof(float) * meta->code_dims);
	omendb_prepare_query(meta->metric, so->q.qvec->x, meta->dimensions, so->q.qv);
	so->q.query_use = scan_query_use(scan, so);
	omendb_query_init(&so->q.query, so->info->quant, meta->metric, so->q.qv,
					  meta->code_dims, so->q.query_use);
	omendb_float_sums_limits(omendb_index_float_sums(scan->indexRelation),
							 meta->metric, so->q.qvec->x, meta->dimensions,
							 &so->q.bound_cap, &so->q.norm_cap);
	so->q.query.qset = meta->quant_current;
	if (so->info->quant_other != NULL)
	{
		/* a refit is unfinished: nodes of the other set score by it */
		OmenQuery  *other = palloc(sizeof(OmenQuery));

		omendb_query_init(other, so->info->quant_other, meta->metric,
						  so->q.qv, meta->code_dims, so->q.query_use);
		other->qset = 1 - meta->quant_current;
		so->q.query.other = other;
	}

	so->q.list_size = omendb_effective_list_size(meta->metric);
	begin_exact(scan, so);
	begin_search(so);
	begin_sketch(so);
	so->rows.past_share = past_share(so);

	/*
	 * (a cosine index of zero nodes alone has no entry point: sweep; nor
	 * need a scan search whose filter a sample of the label directory says
	 * is rare, so that a sweep costs less than a walk, as filter_is_rare
	 * weighs them: a walk would find out only after its initial search,
	 * which costs a rare filter's scan about as much as the sweep)
	 */
	passing = sampled_filter_share(so);
	rare = passing >= 0 && directory_beats_walk(so, passing, false);
	if (passing >= 0 && !rare && so->q.ordered)
		so->q.list_size = filtered_list_size(so, passing);
	if (cur.entry_node != OMENDB_INVALID_NODE && !rare)
		omendb_stream_beam(&so->graph.search, cur.entry_node, so->q.list_size);

	/*
	 * Slots only grow while a scan runs (VACUUM cuts pages off only under
	 * a lock that excludes scans), so a list shorter than those known to
	 * exist at open time is not exhaustive: only a long list pays for the
	 * system call.
	 * An exact radius scan in order of distance meets every node before
	 * its first row, as an exhaustive one does: a row within the radius
	 * that only the sweep finds would otherwise come out after farther
	 * ones.  So does a scan whose filter passes almost nothing.
	 */
	if ((so->q.has_radius && so->q.ordered && omendb_radius_exact) ||
		((uint32) so->q.list_size >= so->info->node_limit &&
		 (uint64) so->q.list_size >= omendb_node_slots(so->index, meta)) ||
		rare || filter_is_rare(so))
	{
		meet_unreachable_nodes(so);
		so->sweep.met_all = true;
	}
	select_first_batch(so);
}

/*
 * Find the next row to return into the scan descriptor; *node is its node.
 */
static bool
next_tuple(IndexScanDesc scan, OmenScanOpaque so, uint32 *node)
{
	ResultItem	row;

	if (so->q.empty)
		return false;
	if (so->q.null_query)
	{
		scan->xs_orderbyvals[0] = (Datum) 0;
		scan->xs_orderbynulls[0] = true;
		return next_in_physical_order(so, &scan->xs_heaptid, node);
	}
	if (!next_row(scan, so, &row))
	{
		so->stats.run.nodes_expanded = so->graph.search.stream.nexpanded;
		return false;
	}
	*node = row.node;
	/* (unless exact, the executor recomputes what the bound bounds) */
	if (!so->exact.on)
		so->stats.run.rows_rechecked++;
	scan->xs_heaptid = row.tid;
	scan->xs_orderbyvals[0] = Float8GetDatum(row.bound);
	scan->xs_orderbynulls[0] = false;
	so->stats.run.nodes_expanded = so->graph.search.stream.nexpanded;
	return true;
}

/*
 * Whether the scan has not returned this heap row before, noting that it
 * now has.  A row is met twice only if VACUUM moved its node to a free
 * slot while the scan ran (README.omendb, "Moving nodes").
 */
static bool
first_return(OmenScanOpaque so, ItemPointer tid)
{
	uint64		key = ((uint64) ItemPointerGetBlockNumberNoCheck(tid) << 16) |
		ItemPointerGetOffsetNumberNoCheck(tid);
	bool		found;

	if (so->returned == NULL)
		so->returned = returned_create(so->cxt, 64, NULL);
	(void) returned_insert(so->returned, key, &found);
	return !found;
}

bool
omendb_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;
	MemoryContext oldcxt = MemoryContextSwitchTo(so->cxt);
	bool		found = false;
	uint32		node = OMENDB_INVALID_NODE;
	int64		pins = omendb_node_page_pins;

	note_kill(scan);
	if (!so->started)
	{
		start_scan(scan);
		pgstat_count_index_scan(scan->indexRelation);
		OMENDB_COUNT_INDEX_SEARCH(scan);
		so->stats.run.scans = 1;
	}

	do
	{
		found = next_tuple(scan, so, &node);
	} while (found && !first_return(so, &scan->xs_heaptid));
	if (found)
	{
		note_returned(so, node, &scan->xs_heaptid);
		so->stats.run.rows_returned++;
	}
	/*
	 * A ball key's bound is not its distance, unless a stored value
	 * decided it, and a lossy filter label may match a row its qual
	 * rejects: the executor checks them.
	 */
	scan->xs_recheck = (so->q.has_balls && !so->exact.balls) ||
		so->q.filter.lossy;
	scan->xs_recheckorderby = !so->exact.on;
	/* (the reads of this call are the scan's: no other scan runs in it) */
	so->stats.run.pages_pinned += omendb_node_page_pins - pins;
	MemoryContextSwitchTo(oldcxt);
	return found;
}

void
omendb_endscan(IndexScanDesc scan)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;

	end_run(scan);
	apply_kills(scan);
	end_sort(so);
	end_exact(so);
	MemoryContextDelete(so->cxt);
	pfree(so);
	scan->opaque = NULL;
}
