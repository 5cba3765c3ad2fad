/*-------------------------------------------------------------------------
 *
 * omendb_scan.c
 *	  Ordered index scans: a streaming best-first search over the graph.
 *
 * The scan first runs the ordinary beam search with a candidate list of
 * omendb.search_list_size and returns a first batch of rows from the
 * nodes it met, then keeps going best-first for as long as the executor
 * asks for rows, until the whole reachable graph is exhausted.
 * So a query whose WHERE clause rejects most rows still gets its LIMIT,
 * and there is no cap on how many rows a scan returns.
 *
 * Every row is returned with a lower bound on its exact distance (from the
 * node's quantization error) and xs_recheckorderby set; the executor
 * computes the exact distance from the heap row and re-sorts, emitting a
 * row once the bound of the latest row we returned reaches its exact
 * distance.  Past the first batch, a candidate is returned once every node
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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/relscan.h"
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

#include "omendb.h"
#include "omendb_metric.h"
#include "omendb_page.h"
#include "omendb_quant.h"

/* A node the scan has met, as scored from its page. */
typedef struct ScanNode
{
	uint32		node;
	float		approx;			/* approximate distance (metric space) */
	double		bound;			/* lower bound on the exact distance */
	ItemPointerData tid;
	bool		live;
	bool		batched;		/* in the first batch */
} ScanNode;

/*
 * The frontier: met nodes not yet expanded, a binary min-heap by
 * approximate distance.  Items are eight bytes, node id beside its key, so
 * that sifting touches nothing else.
 */
typedef struct FrontierItem
{
	float		approx;
	uint32		node;
} FrontierItem;

typedef struct Frontier
{
	size_t		n;
	size_t		cap;
	FrontierItem *items;
} Frontier;

/* A row to return: a binary min-heap of these by bound. */
typedef struct ResultItem
{
	double		bound;
	ItemPointerData tid;
} ResultItem;

typedef struct ResultHeap
{
	size_t		n;
	size_t		cap;
	ResultItem *items;
} ResultHeap;

#define HEAP_INITIAL_CAP	256

/* visited set while small: node ids in a hash */
#define SH_PREFIX		visited
#define SH_ELEMENT_TYPE	VisitedEntry
#define SH_KEY_TYPE		uint32
#define SH_SCOPE		static inline
#define SH_DECLARE
typedef struct VisitedEntry
{
	uint32		node;
	char		status;
} VisitedEntry;
#include "lib/simplehash.h"

#define SH_PREFIX		visited
#define SH_ELEMENT_TYPE	VisitedEntry
#define SH_KEY_TYPE		uint32
#define SH_KEY			node
#define SH_HASH_KEY(tb, key)	murmurhash32(key)
#define SH_EQUAL(tb, a, b)	((a) == (b))
#define SH_SCOPE		static inline
#define SH_DEFINE
#include "lib/simplehash.h"

/* Hash members at which a bitmap is first weighed against the hash. */
#define VISITED_HASH_CHECK	1024

typedef struct OmenScanOpaqueData
{
	Relation	index;
	MemoryContext cxt;			/* everything per-query lives here */
	OmenIndexInfo *info;
	bool		started;
	bool		null_query;		/* ORDER BY col <op> NULL */
	bool		empty;			/* nothing to scan */
	Vector	   *qvec;			/* the detoasted query */
	float	   *qv;				/* the query as indexed */
	OmenQuery	query;
	int			list_size;

	/*
	 * Visited set: a hash of node ids while it is small, a bitmap over the
	 * node slots once the bitmap would take less memory.
	 */
	visited_hash *visited;
	uint64	   *visited_bits;
	uint64		visited_nbits;	/* node ids below this have a bit */
	uint64		visited_check_at;	/* hash members at which to weigh it */

	Frontier	frontier;		/* met, not expanded; by approx */
	ResultHeap	results;		/* met, live, not returned; by bound */
	ResultHeap	late;			/* held back until the sweep; by bound */
	double		max_gap;		/* largest approx - bound met so far */
	ScanNode   *scratch;		/* nodes being met after the initial search */

	/*
	 * Memory.  Past the first batch, the frontier, results, late rows and
	 * visited set stay within mem_limit bytes: what does not fit is shed
	 * (see relieve_memory), and the cuts say how far the graph search can
	 * still go exactly as if nothing had been shed.
	 */
	Size		mem_limit;
	int			mem_limit_kb;
	Size		mem_peak;		/* largest search state measured */
	bool		limit_noticed;	/* the NOTICE was raised: once per scan
								 * node, not on every rescan of it */
	bool		must_sweep;		/* the state cannot fit: stop searching */
	float		frontier_cut;	/* frontier items at or past this were shed */
	double		results_cut;	/* rows at or past this bound were sorted */

	/*
	 * The sweep: rows the graph search did not return go through one sort,
	 * spilling to temporary files past mem_limit_kb like any sort: rows
	 * shed, late rows, what is queued when the search stops, and the live
	 * nodes it never met.
	 */
	Tuplesortstate *sort;
	TupleTableSlot *sortslot;
	int64		nsorted;
	bool		swept;			/* the sort is complete: rows come from it */

	/*
	 * The initial search fills the heaps lazily (see "Deferred heaps" in
	 * README.omendb): a node met outside the beam is parked instead of
	 * pushed onto the frontier, and no node is pushed onto the results; the
	 * first batch is selected from the nodes array, and everything else is
	 * pushed only if the scan goes on past the batch.
	 */
	bool		deferring;		/* in the initial search */
	float		beam_limit;		/* park nodes met farther than this */
	ScanNode   *nodes;			/* met in the initial search */
	size_t		nnodes;
	size_t		capnodes;
	uint32	   *parked;			/* indexes into nodes: met in the initial
								 * search, unexpanded, outside the beam, not
								 * on the frontier */
	size_t		nparked;
	size_t		capparked;
	uint32	   *batch;			/* the first batch, by bound */
	int			nbatch;
	int			batch_next;		/* next one to return */
	uint32	   *nbrbuf;
	uint32	   *fresh;

	/* sequential scan for a NULL query */
	uint32		seq_next;
	BlockNumber seq_block;		/* page of seq_next whose size we know */
	int			seq_block_nodes;	/* and how many nodes it holds */
	int64		nmet;
	int64		nreturned;
	int64		nlate;			/* held back: met below an earlier bound */
	int64		nswept;			/* found by the sweep, not the graph */
	double		last_bound;		/* bound of the last row returned */
} OmenScanOpaqueData;

typedef OmenScanOpaqueData *OmenScanOpaque;

static void relieve_memory(OmenScanOpaque so);

/* ----------------------------------------------------------------
 *		Heaps
 *
 * Growth past the first batch is weighed against the memory limit: a heap
 * that would take the search state over it sheds instead (relieve_memory
 * frees room in every heap).
 * ----------------------------------------------------------------
 */

/* Bytes of a bitmap of nbits bits, in whole 64-bit words. */
static inline Size
bitmap_bytes(uint64 nbits)
{
	return (Size) ((nbits + 63) / 64) * sizeof(uint64);
}

/* The bytes of search state that the memory limit covers. */
static Size
search_state_bytes(OmenScanOpaque so)
{
	Size		bytes;

	bytes = so->frontier.cap * sizeof(FrontierItem) +
		(so->results.cap + so->late.cap) * sizeof(ResultItem);
	if (so->visited_bits)
		bytes += bitmap_bytes(so->visited_nbits);
	else if (so->visited)
		bytes += so->visited->size * sizeof(VisitedEntry);
	return bytes;
}

/*
 * Before a full heap of cap items of itemsize bytes doubles: shed instead
 * if that would exceed the limit.  The caller grows the heap only if it is
 * still full.
 */
static void
before_heap_growth(OmenScanOpaque so, size_t cap, Size itemsize)
{
	if (!so->deferring &&
		search_state_bytes(so) + Max(cap, HEAP_INITIAL_CAP) * itemsize > so->mem_limit)
		relieve_memory(so);
}

static void *
grow_heap_array(void *items, size_t *cap, Size itemsize)
{
	size_t		newcap = *cap ? *cap * 2 : HEAP_INITIAL_CAP;

	items = items ? repalloc_huge(items, newcap * itemsize)
		: MemoryContextAllocHuge(CurrentMemoryContext, newcap * itemsize);
	*cap = newcap;
	return items;
}

/* Give back what a heap no longer uses, after shedding. */
static void *
shrink_heap_array(void *items, size_t n, size_t *cap, Size itemsize)
{
	size_t		newcap = Max(n, HEAP_INITIAL_CAP);

	if (newcap < *cap)
	{
		items = repalloc_huge(items, newcap * itemsize);
		*cap = newcap;
	}
	return items;
}

static void
frontier_push(OmenScanOpaque so, float approx, uint32 node)
{
	Frontier   *h = &so->frontier;
	size_t		i;

	if (h->n == h->cap)
	{
		before_heap_growth(so, h->cap, sizeof(FrontierItem));
		if (h->n == h->cap)
			h->items = grow_heap_array(h->items, &h->cap, sizeof(FrontierItem));
	}
	i = h->n++;
	while (i > 0)
	{
		size_t		parent = (i - 1) / 2;

		if (h->items[parent].approx <= approx)
			break;
		h->items[i] = h->items[parent];
		i = parent;
	}
	h->items[i].approx = approx;
	h->items[i].node = node;
}

static FrontierItem
frontier_pop(Frontier *h)
{
	FrontierItem top = h->items[0];
	FrontierItem last = h->items[--h->n];
	size_t		i = 0;

	for (;;)
	{
		size_t		child = 2 * i + 1;

		if (child >= h->n)
			break;
		if (child + 1 < h->n && h->items[child + 1].approx < h->items[child].approx)
			child++;
		if (last.approx <= h->items[child].approx)
			break;
		h->items[i] = h->items[child];
		i = child;
	}
	if (h->n > 0)
		h->items[i] = last;
	return top;
}

static void
result_push(OmenScanOpaque so, ResultHeap *h, ResultItem item)
{
	size_t		i;

	if (h->n == h->cap)
	{
		before_heap_growth(so, h->cap, sizeof(ResultItem));
		if (h->n == h->cap)
			h->items = grow_heap_array(h->items, &h->cap, sizeof(ResultItem));
	}
	i = h->n++;
	while (i > 0)
	{
		size_t		parent = (i - 1) / 2;

		if (h->items[parent].bound <= item.bound)
			break;
		h->items[i] = h->items[parent];
		i = parent;
	}
	h->items[i] = item;
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
		if (child + 1 < h->n && h->items[child + 1].bound < h->items[child].bound)
			child++;
		if (last.bound <= h->items[child].bound)
			break;
		h->items[i] = h->items[child];
		i = child;
	}
	if (h->n > 0)
		h->items[i] = last;
	return top;
}

/* ----------------------------------------------------------------
 *		Visited set
 *
 * Node ids are dense: every id is below the number of node slots on the
 * index's pages.  So the visited set can be a bitmap of one bit per slot;
 * but zeroing that for a LIMIT query that meets a few hundred nodes of a
 * large index would cost more than the query, so it starts as a hash and
 * becomes a bitmap once the bitmap is the smaller of the two.
 * ----------------------------------------------------------------
 */

/* Node slots on the index's pages now (ids of valid nodes lie below). */
static uint64
node_slots(OmenScanOpaque so)
{
	return omendb_node_slots(so->index, &so->info->meta);
}

/* Switch the visited hash to a bitmap if that takes less memory. */
static void
consider_visited_bitmap(OmenScanOpaque so)
{
	uint64		slots = node_slots(so);
	Size		hash_bytes = so->visited->size * sizeof(VisitedEntry);
	uint64	   *bits;
	visited_iterator it;
	VisitedEntry *e;

	if (bitmap_bytes(slots) > hash_bytes)
	{
		so->visited_check_at = so->visited->members * 2;
		return;
	}
	bits = MemoryContextAllocHuge(so->cxt, bitmap_bytes(slots));
	memset(bits, 0, bitmap_bytes(slots));
	/* (both exist for a moment) */
	so->mem_peak = Max(so->mem_peak, search_state_bytes(so) + bitmap_bytes(slots));
	visited_start_iterate(so->visited, &it);
	while ((e = visited_iterate(so->visited, &it)) != NULL)
	{
		/* an id past the slots is damage, reported when it is visited */
		if (e->node < slots)
			bits[e->node / 64] |= UINT64CONST(1) << (e->node % 64);
	}
	visited_destroy(so->visited);
	so->visited = NULL;
	so->visited_bits = bits;
	so->visited_nbits = slots;
}

/*
 * Make room in the bitmap for node, which concurrent inserts may have
 * added since it was sized.  False if node lies past every node page:
 * the caller goes on to visit it, which reports the damage.
 */
static bool
grow_visited_bitmap(OmenScanOpaque so, uint32 node)
{
	uint64		slots = node_slots(so);
	uint64		nbits;

	if (node >= slots)
		return false;
	nbits = Max(slots, so->visited_nbits + so->visited_nbits / 8);
	nbits = Min(nbits, (uint64) OMENDB_INVALID_NODE);
	so->visited_bits = repalloc_huge(so->visited_bits, bitmap_bytes(nbits));
	memset((char *) so->visited_bits + bitmap_bytes(so->visited_nbits), 0,
		   bitmap_bytes(nbits) - bitmap_bytes(so->visited_nbits));
	so->visited_nbits = nbits;
	return true;
}

/* Mark node visited; returns whether it was already. */
static inline bool
mark_visited(OmenScanOpaque so, uint32 node)
{
	bool		found;

	if (so->visited_bits)
	{
		uint64		mask = UINT64CONST(1) << (node % 64);
		uint64	   *word;

		if (unlikely(node >= so->visited_nbits) && !grow_visited_bitmap(so, node))
			return false;
		word = &so->visited_bits[node / 64];
		found = (*word & mask) != 0;
		*word |= mask;
		return found;
	}
	visited_insert(so->visited, node, &found);
	if (!found && unlikely(so->visited->members >= so->visited_check_at))
		consider_visited_bitmap(so);
	return found;
}

static bool
is_visited(OmenScanOpaque so, uint32 node)
{
	if (so->visited_bits)
		return node < so->visited_nbits &&
			(so->visited_bits[node / 64] & (UINT64CONST(1) << (node % 64))) != 0;
	return visited_lookup(so->visited, node) != NULL;
}

/* ----------------------------------------------------------------
 *		The sort of rows left for the sweep
 * ----------------------------------------------------------------
 */

static void
begin_sort(OmenScanOpaque so)
{
	TupleDesc	desc = CreateTemplateTupleDesc(2);
	AttrNumber	attno = 1;
	Oid			op = Float8LessOperator;
	Oid			coll = InvalidOid;
	bool		nulls_first = false;

	TupleDescInitEntry(desc, 1, "bound", FLOAT8OID, -1, 0);
	TupleDescInitEntry(desc, 2, "tid", TIDOID, -1, 0);
	so->sortslot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	/* (the last argument: no random access) */
	so->sort = tuplesort_begin_heap(desc, 1, &attno, &op, &coll, &nulls_first,
									so->mem_limit_kb, NULL, 0);
}

/* Queue a row for the sweep.  No buffer lock may be held. */
static void
sort_row(OmenScanOpaque so, const ResultItem *item)
{
	TupleTableSlot *slot;

	if (so->sort == NULL)
		begin_sort(so);
	slot = so->sortslot;
	ExecClearTuple(slot);
	slot->tts_values[0] = Float8GetDatum(item->bound);
	slot->tts_isnull[0] = false;
	slot->tts_values[1] = PointerGetDatum(&item->tid);
	slot->tts_isnull[1] = false;
	ExecStoreVirtualTuple(slot);
	tuplesort_puttupleslot(so->sort, slot);
	so->nsorted++;
}

/* The next row of the completed sort, if any. */
static bool
next_sorted_row(OmenScanOpaque so, ResultItem *out)
{
	TupleTableSlot *slot = so->sortslot;

	if (so->sort == NULL ||
		!tuplesort_gettupleslot(so->sort, true, false, slot, NULL))
		return false;
	slot_getallattrs(slot);
	out->bound = DatumGetFloat8(slot->tts_values[0]);
	out->tid = *(ItemPointer) DatumGetPointer(slot->tts_values[1]);
	return true;
}

static void
end_sort(OmenScanOpaque so)
{
	if (so->sort)
		tuplesort_end(so->sort);
	so->sort = NULL;
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

/* By approximate distance, NaN first (the heap keeps NaN on top, too). */
static int
cmp_frontier_approx(const void *a, const void *b)
{
	float		x = ((const FrontierItem *) a)->approx;
	float		y = ((const FrontierItem *) b)->approx;

	if (isnan(x) || isnan(y))
		return !isnan(x) - !isnan(y);
	return (x > y) - (x < y);
}

/*
 * Send the rows of the larger half of the bounds to the sort.  A sorted
 * array is a valid heap, so the half kept needs no rebuilding.
 */
static void
shed_results(OmenScanOpaque so)
{
	ResultHeap *h = &so->results;
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
	h->items = shrink_heap_array(h->items, h->n, &h->cap, sizeof(ResultItem));
	so->results_cut = Min(so->results_cut, pivot);
}

/* Drop the frontier nodes of the larger half of the distances. */
static void
shed_frontier(OmenScanOpaque so)
{
	Frontier   *h = &so->frontier;
	size_t		first = 0;		/* first item that is not NaN */
	size_t		keep;
	float		pivot;

	if (h->n == 0)
		return;
	qsort(h->items, h->n, sizeof(FrontierItem), cmp_frontier_approx);
	while (first < h->n && isnan(h->items[first].approx))
		first++;
	if (first == h->n)
		return;
	keep = first + (h->n - first) / 2;
	pivot = h->items[keep].approx;
	while (keep > first && h->items[keep - 1].approx >= pivot)
		keep--;
	h->n = keep;
	h->items = shrink_heap_array(h->items, h->n, &h->cap, sizeof(FrontierItem));
	so->frontier_cut = Min(so->frontier_cut, pivot);
}

static void
relieve_memory(OmenScanOpaque so)
{
	if (!so->limit_noticed)
	{
		so->limit_noticed = true;
		ereport(NOTICE,
				(errmsg("omendb scan of index \"%s\" reached omendb.scan_mem_limit (%d kB)",
						RelationGetRelationName(so->index), so->mem_limit_kb),
				 errdetail("The scan keeps its nearest candidates; rows past them come from one sorted pass over the whole index."),
				 errhint("Raise omendb.scan_mem_limit (or work_mem, if it is -1) for deep scans of this index.")));
	}
	for (size_t i = 0; i < so->late.n; i++)
		sort_row(so, &so->late.items[i]);
	so->late.n = 0;
	if (so->late.items)
		so->late.items = shrink_heap_array(so->late.items, 0, &so->late.cap,
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

	so->mem_peak = Max(so->mem_peak, used);
	if (used <= so->mem_limit)
		return;
	relieve_memory(so);
	if (search_state_bytes(so) > so->mem_limit)
		so->must_sweep = true;
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
 * Fill in a node met through an edge from its page: distance, bound, heap
 * TID.
 */
static void
score_visitor(OmenNodeHeader node, int idx, void *arg)
{
	ScoreArg   *sa = arg;
	OmenScanOpaque so = sa->so;
	ScanNode   *sn = &sa->out[idx];

	sn->bound = omendb_score_node(&so->query, node,
								  OmenNodeCode(node, so->info->meta.max_degree),
								  &sn->approx);
	if (isfinite(sn->approx - sn->bound))
		so->max_gap = Max(so->max_gap, sn->approx - sn->bound);
	sn->tid = node->heaptid;
	sn->live = (node->flags & OMENDB_NODE_LIVE) != 0;
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

	if (!OmenNodeIsZero(sa->so->info->meta.metric, node))
	{
		score_visitor(node, idx, arg);
		return;
	}
	sn->bound = INFINITY;
	sn->approx = INFINITY;
	sn->tid = node->heaptid;
	sn->live = (node->flags & OMENDB_NODE_LIVE) != 0;
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
	omendb_visit_nodes(so->index, &so->info->meta, nodes, n,
					   swept ? swept_score_visitor : score_visitor, &sa);
	so->nmet += n;
}

/* Keep a node met outside the beam off the frontier until restore_heaps. */
static void
park_node(OmenScanOpaque so, size_t k)
{
	if (so->nparked == so->capparked)
	{
		so->capparked *= 2;
		so->parked = repalloc_huge(so->parked, sizeof(uint32) * so->capparked);
	}
	so->parked[so->nparked++] = k;
}

/* Queue a live row for return, or for the sweep if past results_cut. */
static void
queue_row(OmenScanOpaque so, double bound, ItemPointer tid)
{
	ResultItem	item;

	item.bound = bound;
	item.tid = *tid;
	if (bound >= so->results_cut)
		sort_row(so, &item);
	else
		result_push(so, &so->results, item);
}

/*
 * Record newly met nodes: score them and queue them, if live, for return
 * and, if met through an edge (not swept), for expansion.  In the initial
 * search they are kept in the nodes array and the queueing is deferred (see
 * OmenScanOpaqueData.deferring).
 */
static void
meet_nodes(OmenScanOpaque so, const uint32 *nodes, int n, bool swept)
{
	if (so->deferring)
	{
		if (so->nnodes + n > so->capnodes)
		{
			so->capnodes = Max(so->capnodes * 2, so->nnodes + n);
			so->nodes = repalloc_huge(so->nodes, sizeof(ScanNode) * so->capnodes);
		}
		score_nodes(so, nodes, n, &so->nodes[so->nnodes], swept);
		for (int i = 0; i < n; i++)
		{
			size_t		k = so->nnodes + i;

			so->nodes[k].batched = false;
			/* (a NaN distance goes on the frontier, as it always did) */
			if (swept)
				continue;
			if (so->nodes[k].approx > so->beam_limit)
				park_node(so, k);
			else
				frontier_push(so, so->nodes[k].approx, so->nodes[k].node);
		}
		so->nnodes += n;
		return;
	}

	score_nodes(so, nodes, n, so->scratch, swept);
	for (int i = 0; i < n; i++)
	{
		ScanNode   *sn = &so->scratch[i];

		if (!swept)
			frontier_push(so, sn->approx, sn->node);
		if (sn->live)
			queue_row(so, sn->bound, &sn->tid);
	}
}

typedef struct NeighborsArg
{
	uint32	   *out;
	int			n;
} NeighborsArg;

static void
neighbors_visitor(OmenNodeHeader node, int idx, void *arg)
{
	NeighborsArg *na = arg;

	na->n = node->nneighbors;
	memcpy(na->out, OmenNodeNeighbors(node), sizeof(uint32) * node->nneighbors);
}

/* Expand a node: meet its neighbours not met before. */
static void
expand_node(OmenScanOpaque so, uint32 node)
{
	NeighborsArg na;
	int			nfresh = 0;

	na.out = so->nbrbuf;
	na.n = 0;
	omendb_visit_nodes(so->index, &so->info->meta, &node, 1, neighbors_visitor, &na);
	for (int i = 0; i < na.n; i++)
	{
		if (!mark_visited(so, na.out[i]))
			so->fresh[nfresh++] = na.out[i];
	}
	if (nfresh > 0)
		meet_nodes(so, so->fresh, nfresh, false);
}

/*
 * Beam search (GreedySearch with list size L): expand the nearest
 * unexpanded node while it is among the L nearest met so far.  A max-heap
 * of the L best distances stands in for the sorted list.
 */
static void
initial_search(OmenScanOpaque so, uint32 entry)
{
	int			L = so->list_size;
	float	   *best = palloc(sizeof(float) * (L + 1));	/* max-heap */
	int			nbest = 0;
	size_t		scanned = 0;

	mark_visited(so, entry);
	meet_nodes(so, &entry, 1, false);

	while (so->frontier.n > 0)
	{
		float		d = so->frontier.items[0].approx;
		size_t		from = scanned;

		if (nbest == L && d > best[0])
			break;

		/*
		 * The L-th best only falls, so a node met farther than it now can
		 * never be expanded in this search: park it.
		 */
		so->beam_limit = (nbest == L) ? best[0] : INFINITY;
		expand_node(so, frontier_pop(&so->frontier).node);

		/* fold the distances just met into the L best */
		for (size_t i = from; i < so->nnodes; i++)
		{
			float		di = so->nodes[i].approx;
			int			j;

			if (nbest < L)
			{
				j = nbest++;
				while (j > 0 && best[(j - 1) / 2] < di)
				{
					best[j] = best[(j - 1) / 2];
					j = (j - 1) / 2;
				}
				best[j] = di;
			}
			else if (di < best[0])
			{
				/* replace the max and sift down */
				j = 0;
				for (;;)
				{
					int			c = 2 * j + 1;

					if (c >= nbest)
						break;
					if (c + 1 < nbest && best[c + 1] > best[c])
						c++;
					if (best[c] <= di)
						break;
					best[j] = best[c];
					j = c;
				}
				best[j] = di;
			}
		}
		scanned = so->nnodes;
		CHECK_FOR_INTERRUPTS();
	}
	pfree(best);
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
 * Select the first batch: the live nodes of smallest bound among those the
 * initial search met, in order of bound, by insertion into a short sorted
 * array (most nodes fail the first comparison).
 */
static void
select_first_batch(OmenScanOpaque so)
{
	int			want = so->list_size + FIRST_BATCH_PAST_LIST;
	int			n = 0;

	so->batch = palloc(sizeof(uint32) * want);
	for (size_t k = 0; k < so->nnodes; k++)
	{
		double		b = so->nodes[k].bound;
		int			j;

		if (!so->nodes[k].live ||
			(n == want && b >= so->nodes[so->batch[n - 1]].bound))
			continue;
		j = (n < want) ? n++ : n - 1;
		while (j > 0 && so->nodes[so->batch[j - 1]].bound > b)
		{
			so->batch[j] = so->batch[j - 1];
			j--;
		}
		so->batch[j] = k;
	}
	for (int i = 0; i < n; i++)
		so->nodes[so->batch[i]].batched = true;
	so->nbatch = n;
	so->batch_next = 0;
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

	so->deferring = false;
	so->scratch = palloc(sizeof(ScanNode) * Max(meta->max_degree, meta->nodes_per_page));
	for (size_t i = 0; i < so->nparked; i++)
	{
		ScanNode   *sn = &so->nodes[so->parked[i]];

		frontier_push(so, sn->approx, sn->node);
	}
	for (size_t k = 0; k < so->nnodes; k++)
		if (so->nodes[k].live && !so->nodes[k].batched)
			queue_row(so, so->nodes[k].bound, &so->nodes[k].tid);
	pfree(so->parked);
	so->parked = NULL;
	so->nparked = so->capparked = 0;
	pfree(so->nodes);
	so->nodes = NULL;
	so->nnodes = so->capnodes = 0;
	check_memory(so);
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

		if (!is_visited(so, node))
			batch[n++] = node;
	}
	return n;
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
	uint32	   *batch = palloc(sizeof(uint32) * meta->nodes_per_page);

	for (BlockNumber blkno = meta->first_node_block; blkno < nblocks; blkno++)
	{
		int			n = unmet_nodes_on_page(so, blkno, batch);

		for (int i = 0; i < n; i++)
			mark_visited(so, batch[i]);
		if (n > 0)
		{
			meet_nodes(so, batch, n, true);
			so->nswept += n;
		}
		CHECK_FOR_INTERRUPTS();
	}
	pfree(batch);
}

/*
 * Meet every node the graph search never reached, one node page at a time,
 * and sort the live ones with the rest.  Every committed row visible to
 * our snapshot was indexed before the scan began, so reading the
 * relation's length now covers them all.
 */
static void
sweep_unmet_nodes(OmenScanOpaque so)
{
	const OmenMetaPageData *meta = &so->info->meta;
	BlockNumber nblocks = RelationGetNumberOfBlocks(so->index);
	uint32	   *batch = palloc(sizeof(uint32) * meta->nodes_per_page);

	for (BlockNumber blkno = meta->first_node_block; blkno < nblocks; blkno++)
	{
		int			n = unmet_nodes_on_page(so, blkno, batch);

		if (n > 0)
		{
			score_nodes(so, batch, n, so->scratch, true);
			for (int i = 0; i < n; i++)
			{
				ResultItem	item;

				if (!so->scratch[i].live)
					continue;
				item.bound = so->scratch[i].bound;
				item.tid = so->scratch[i].tid;
				sort_row(so, &item);
			}
			so->nswept += n;
		}
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
	for (size_t i = 0; i < so->results.n; i++)
		sort_row(so, &so->results.items[i]);
	for (size_t i = 0; i < so->late.n; i++)
		sort_row(so, &so->late.items[i]);
	if (so->results.items)
		pfree(so->results.items);
	if (so->late.items)
		pfree(so->late.items);
	if (so->frontier.items)
		pfree(so->frontier.items);
	memset(&so->results, 0, sizeof(ResultHeap));
	memset(&so->late, 0, sizeof(ResultHeap));
	memset(&so->frontier, 0, sizeof(Frontier));

	sweep_unmet_nodes(so);
	if (so->sort)
		tuplesort_performsort(so->sort);
	so->swept = true;
}

/* Hold back a row met below the bound of one already returned. */
static void
hold_back(OmenScanOpaque so, ResultItem item)
{
	so->nlate++;
	if (so->sort)
		sort_row(so, &item);
	else
		result_push(so, &so->late, item);
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
	if (so->batch_next < so->nbatch)
	{
		ScanNode   *sn = &so->nodes[so->batch[so->batch_next++]];

		out->bound = sn->bound;
		out->tid = sn->tid;
		so->last_bound = out->bound;
		return true;
	}
	if (so->deferring)
		restore_heaps(so);

	for (;;)
	{
		bool		can_expand;

		if (so->swept)
		{
			if (!next_sorted_row(so, out))
				return false;
			so->last_bound = out->bound;
			return true;
		}
		if (so->must_sweep)
		{
			begin_sweep(so);
			continue;
		}

		/* (a NaN distance is expanded, as the heap puts it on top) */
		can_expand = so->frontier.n > 0 &&
			!(so->frontier.items[0].approx >= so->frontier_cut);
		if (so->results.n > 0)
		{
			double		bound = so->results.items[0].bound;

			if (bound < so->last_bound)
			{
				/* met too late to come out in order: hold back */
				hold_back(so, result_pop(&so->results));
				continue;
			}
			if (bound >= so->results_cut)
			{
				begin_sweep(so);
				continue;
			}
			if (can_expand &&
				so->frontier.items[0].approx - so->max_gap >= bound)
			{
				*out = result_pop(&so->results);
				so->last_bound = out->bound;
				return true;
			}
		}
		if (can_expand)
		{
			expand_node(so, frontier_pop(&so->frontier).node);
			check_memory(so);
		}
		else
			begin_sweep(so);
		CHECK_FOR_INTERRUPTS();
	}
}

/* ----------------------------------------------------------------
 *		Scan with a NULL query: every live node, in physical order
 * ----------------------------------------------------------------
 */

typedef struct SeqArg
{
	ItemPointerData tid;
	bool		live;
} SeqArg;

static void
seq_visitor(OmenNodeHeader node, int idx, void *arg)
{
	SeqArg	   *sa = arg;

	sa->tid = node->heaptid;
	sa->live = (node->flags & OMENDB_NODE_LIVE) != 0;
}

static bool
next_in_physical_order(OmenScanOpaque so, ItemPointer tid)
{
	const OmenMetaPageData *meta = &so->info->meta;
	BlockNumber nblocks = RelationGetNumberOfBlocks(so->index);

	for (;;)
	{
		uint32		node = so->seq_next;
		BlockNumber blkno = omendb_node_block(meta, node);
		SeqArg		sa;

		if (blkno >= nblocks)
			return false;
		if (blkno != so->seq_block)
		{
			so->seq_block = blkno;
			so->seq_block_nodes = omendb_page_node_count(so->index, meta, blkno);
		}
		if (omendb_node_offset(meta, node) - FirstOffsetNumber >= so->seq_block_nodes)
		{
			/* past the last node of this page: on to the next page */
			so->seq_next = omendb_node_id(meta, blkno + 1, FirstOffsetNumber);
			continue;
		}
		so->seq_next++;
		omendb_visit_nodes(so->index, meta, &node, 1, seq_visitor, &sa);
		if (sa.live)
		{
			*tid = sa.tid;
			return true;
		}
	}
}

/* ----------------------------------------------------------------
 *		Index AM callbacks
 * ----------------------------------------------------------------
 */

IndexScanDesc
omendb_beginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	OmenScanOpaque so = palloc0(sizeof(OmenScanOpaqueData));

	/* the AM provides the arrays for the ORDER BY values */
	scan->xs_orderbyvals = palloc0(sizeof(Datum) * Max(norderbys, 1));
	scan->xs_orderbynulls = palloc(sizeof(bool) * Max(norderbys, 1));
	so->index = index;
	so->cxt = AllocSetContextCreate(CurrentMemoryContext, "omendb scan",
									ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	return scan;
}

/*
 * Take the query from the ORDER BY key.  Detoasting happens here, before
 * any buffer lock.
 */
void
omendb_rescan(IndexScanDesc scan, ScanKey keys, int nkeys,
			  ScanKey orderbys, int norderbys)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;
	MemoryContext oldcxt;

	end_sort(so);
	MemoryContextReset(so->cxt);
	so->started = false;
	so->null_query = false;
	so->empty = false;
	so->seq_next = 0;
	so->seq_block = InvalidBlockNumber;
	so->nbatch = 0;
	so->batch_next = 0;
	so->deferring = false;
	so->nmet = 0;
	so->nreturned = 0;
	so->nlate = 0;
	so->nswept = 0;
	so->nsorted = 0;
	so->mem_peak = 0;

	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));

	if (scan->numberOfOrderBys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("omendb index scans need an ORDER BY on a distance operator")));

	oldcxt = MemoryContextSwitchTo(so->cxt);
	if (scan->orderByData[0].sk_flags & SK_ISNULL)
		so->null_query = true;
	else
		so->qvec = DatumGetVector(scan->orderByData[0].sk_argument);
	MemoryContextSwitchTo(oldcxt);
}

/* Set up the search on the first call, once per rescan. */
static void
start_scan(IndexScanDesc scan)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;
	OmenMetaPageData cur;
	const OmenMetaPageData *meta;

	so->started = true;
	/* a copy: the relcache may drop its cache between our calls */
	so->info = omendb_copy_info(omendb_get_info(scan->indexRelation));
	meta = &so->info->meta;
	if (!meta->quant_trained)
	{
		/* built empty and never inserted into */
		if (!so->null_query && meta->dimensions != 0 &&
			so->qvec->dim != meta->dimensions)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("different vector dimensions %d and %d",
							meta->dimensions, so->qvec->dim)));
		so->empty = true;
		return;
	}
	if (so->null_query)
		return;
	if (so->qvec->dim != meta->dimensions)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different vector dimensions %d and %d",
						meta->dimensions, so->qvec->dim)));

	omendb_read_meta(scan->indexRelation, &cur);
	if (cur.insert_block == InvalidBlockNumber)
	{
		/* no node at all */
		so->empty = true;
		return;
	}

	so->qv = palloc(sizeof(float) * meta->code_dims);
	omendb_prepare_query(meta->metric, so->qvec->x, meta->dimensions, so->qv);
	omendb_query_init(&so->query, so->info->quant, meta->metric, so->qv,
					  meta->code_dims, true);

	so->list_size = omendb_effective_list_size(meta->metric);
	so->capnodes = 1024;
	so->nodes = palloc(sizeof(ScanNode) * so->capnodes);
	so->nnodes = 0;
	so->visited = visited_create(so->cxt, 1024, NULL);
	so->visited_bits = NULL;
	so->visited_nbits = 0;
	so->visited_check_at = VISITED_HASH_CHECK;
	memset(&so->frontier, 0, sizeof(Frontier));
	memset(&so->results, 0, sizeof(ResultHeap));
	memset(&so->late, 0, sizeof(ResultHeap));
	so->scratch = NULL;
	so->last_bound = -INFINITY;
	so->max_gap = 0;
	so->mem_limit_kb = omendb_scan_mem_limit >= 0 ? omendb_scan_mem_limit : work_mem;
	so->mem_limit = (Size) so->mem_limit_kb * 1024;
	so->must_sweep = false;
	so->frontier_cut = INFINITY;
	so->results_cut = INFINITY;
	so->sort = NULL;
	so->sortslot = NULL;
	so->swept = false;
	so->nbrbuf = palloc(sizeof(uint32) * meta->max_degree);
	so->fresh = palloc(sizeof(uint32) * meta->max_degree);
	so->deferring = true;
	so->beam_limit = INFINITY;
	so->capparked = 256;
	so->nparked = 0;
	so->parked = palloc(sizeof(uint32) * so->capparked);

	/* (a cosine index of zero nodes alone has no entry point: sweep) */
	if (cur.entry_node != OMENDB_INVALID_NODE)
		initial_search(so, cur.entry_node);
	/*
	 * Slots only grow, so a list shorter than those known to exist at open
	 * time is not exhaustive: only a long list pays for the system call.
	 */
	if ((uint32) so->list_size >= so->info->node_limit &&
		(uint64) so->list_size >= node_slots(so))
		meet_unreachable_nodes(so);
	select_first_batch(so);
}

bool
omendb_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;
	MemoryContext oldcxt = MemoryContextSwitchTo(so->cxt);
	bool		found = false;

	if (!so->started)
	{
		start_scan(scan);
		pgstat_count_index_scan(scan->indexRelation);
	}

	if (so->empty)
		found = false;
	else if (so->null_query)
	{
		found = next_in_physical_order(so, &scan->xs_heaptid);
		scan->xs_orderbyvals[0] = (Datum) 0;
		scan->xs_orderbynulls[0] = true;
	}
	else
	{
		ResultItem	row;

		if (next_result(so, &row))
		{
			found = true;
			so->nreturned++;
			scan->xs_heaptid = row.tid;
			scan->xs_orderbyvals[0] = Float8GetDatum(row.bound);
			scan->xs_orderbynulls[0] = false;
		}
	}
	scan->xs_recheck = false;
	scan->xs_recheckorderby = true;
	MemoryContextSwitchTo(oldcxt);
	return found;
}

void
omendb_endscan(IndexScanDesc scan)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;

	elog(DEBUG1, "omendb scan of \"%s\": " INT64_FORMAT " nodes met, " INT64_FORMAT " rows returned, "
		 INT64_FORMAT " held back as late, " INT64_FORMAT " swept in, " INT64_FORMAT " sorted; "
		 "search state peaked at %zu bytes (limit %zu)",
		 RelationGetRelationName(scan->indexRelation), so->nmet, so->nreturned,
		 so->nlate, so->nswept, so->nsorted, so->mem_peak, so->mem_limit);
	end_sort(so);
	MemoryContextDelete(so->cxt);
	pfree(so);
	scan->opaque = NULL;
}
