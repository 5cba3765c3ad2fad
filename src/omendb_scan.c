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
 * a crash between an insert's WAL records), and returns those and the
 * held-back ones, in order of bound among themselves.  So the order is
 * exact for every row the graph search finds in order (for LIMIT queries,
 * in practice all), a late row costs no more than a recall miss, and a
 * query that exhausts the graph still gets every row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/relscan.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "omendb.h"

/* A node the scan has met. */
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
 * A binary min-heap of indexes into the ScanNode array, each with its key
 * beside it: every met node is pushed, so sifting should not chase the
 * index into the node array at each step.
 */
typedef struct ScanHeapItem
{
	double		key;
	uint32		node;			/* index into the ScanNode array */
} ScanHeapItem;

typedef struct ScanHeap
{
	int			n;
	int			cap;
	ScanHeapItem *items;
	bool		by_bound;		/* key: bound, else approx */
} ScanHeap;

/* visited set: node id -> position in the nodes array */
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

	ScanNode   *nodes;
	int			nnodes;
	int			capnodes;
	visited_hash *visited;
	ScanHeap	frontier;		/* met, not expanded; by approx */
	ScanHeap	results;		/* met, live, not returned; by bound */
	ScanHeap	late;			/* held back until the sweep; by bound */
	double		max_gap;		/* largest approx - bound met so far */
	bool		swept;			/* unmet nodes have been swept in */

	/*
	 * The initial search fills the heaps lazily (see "Deferred heaps" in
	 * README.omendb): a node met outside the beam is parked instead of
	 * pushed onto the frontier, and no node is pushed onto the results; the
	 * first batch is selected from the nodes array, and everything else is
	 * pushed only if the scan goes on past the batch.
	 */
	bool		deferring;		/* in the initial search */
	float		beam_limit;		/* park nodes met farther than this */
	uint32	   *parked;			/* met in the initial search, unexpanded,
								 * outside the beam, not on the frontier */
	int			nparked;
	int			capparked;
	int			ndeferred;		/* nodes[0 .. ndeferred) are not on the
								 * results heap until restore_heaps */
	uint32	   *batch;			/* the first batch, by bound */
	int			nbatch;
	int			batch_next;		/* next one to return */
	uint32	   *nbrbuf;
	uint32	   *fresh;

	/* sequential scan for a NULL query */
	uint32		seq_next;
	BlockNumber seq_block;		/* page of seq_next whose size we know */
	int			seq_block_nodes;	/* and how many nodes it holds */
	int			nreturned;
	int			nlate;			/* held back: met below an earlier bound */
	int			nswept;			/* found by the sweep, not the graph */
	double		last_bound;		/* bound of the last row returned */
} OmenScanOpaqueData;

typedef OmenScanOpaqueData *OmenScanOpaque;

/* ----------------------------------------------------------------
 *		Heaps
 * ----------------------------------------------------------------
 */

static void
heap_init(ScanHeap *h, bool by_bound)
{
	h->n = 0;
	h->cap = 256;
	h->items = palloc(sizeof(ScanHeapItem) * h->cap);
	h->by_bound = by_bound;
}

/* The node at the top (smallest key); the heap must not be empty. */
static inline uint32
heap_top(const ScanHeap *h)
{
	return h->items[0].node;
}

static void
heap_push(OmenScanOpaque so, ScanHeap *h, uint32 node)
{
	ScanHeapItem item;
	int			i;

	item.key = h->by_bound ? so->nodes[node].bound : so->nodes[node].approx;
	item.node = node;
	if (h->n == h->cap)
	{
		h->cap *= 2;
		h->items = repalloc_huge(h->items, sizeof(ScanHeapItem) * h->cap);
	}
	i = h->n++;
	while (i > 0)
	{
		int			parent = (i - 1) / 2;

		if (h->items[parent].key <= item.key)
			break;
		h->items[i] = h->items[parent];
		i = parent;
	}
	h->items[i] = item;
}

static uint32
heap_pop(ScanHeap *h)
{
	uint32		top = h->items[0].node;
	ScanHeapItem last = h->items[--h->n];
	int			i = 0;

	for (;;)
	{
		int			child = 2 * i + 1;

		if (child >= h->n)
			break;
		if (child + 1 < h->n && h->items[child + 1].key < h->items[child].key)
			child++;
		if (last.key <= h->items[child].key)
			break;
		h->items[i] = h->items[child];
		i = child;
	}
	if (h->n > 0)
		h->items[i] = last;
	return top;
}

/* ----------------------------------------------------------------
 *		Search
 * ----------------------------------------------------------------
 */

typedef struct ScoreArg
{
	OmenScanOpaque so;
	int			first;			/* position of the batch in so->nodes */
} ScoreArg;

/* Fill in a met node from its page: distance, bound, heap TID. */
static void
score_visitor(OmenNodeHeader node, int idx, void *arg)
{
	ScoreArg   *sa = arg;
	OmenScanOpaque so = sa->so;
	ScanNode   *sn = &so->nodes[sa->first + idx];

	sn->bound = omendb_score_node(&so->query, node,
								  OmenNodeCode(node, so->info->meta.max_degree),
								  &sn->approx);
	if (isfinite(sn->approx - sn->bound))
		so->max_gap = Max(so->max_gap, sn->approx - sn->bound);
	sn->tid = node->heaptid;
	sn->live = (node->flags & OMENDB_NODE_LIVE) != 0;
}

/* Keep a node met outside the beam off the frontier until restore_heaps. */
static void
park_node(OmenScanOpaque so, uint32 k)
{
	if (so->nparked == so->capparked)
	{
		so->capparked *= 2;
		so->parked = repalloc_huge(so->parked, sizeof(uint32) * so->capparked);
	}
	so->parked[so->nparked++] = k;
}

/*
 * Record newly met nodes: score them (one lock per page) and queue them, if
 * live, for return and, if expand, for expansion.  In the initial search
 * the queueing is deferred (see OmenScanOpaqueData.deferring).
 */
static void
meet_nodes(OmenScanOpaque so, const uint32 *nodes, int n, bool expand)
{
	ScoreArg	sa;

	if (so->nnodes + n > so->capnodes)
	{
		so->capnodes = Max(so->capnodes * 2, so->nnodes + n);
		so->nodes = repalloc_huge(so->nodes, sizeof(ScanNode) * so->capnodes);
	}
	for (int i = 0; i < n; i++)
		so->nodes[so->nnodes + i].node = nodes[i];
	sa.so = so;
	sa.first = so->nnodes;
	omendb_visit_nodes(so->index, &so->info->meta, nodes, n, score_visitor, &sa);
	for (int i = 0; i < n; i++)
	{
		uint32		k = so->nnodes + i;

		so->nodes[k].batched = false;
		if (expand)
		{
			/* (a NaN distance goes on the frontier, as it always did) */
			if (so->deferring && so->nodes[k].approx > so->beam_limit)
				park_node(so, k);
			else
				heap_push(so, &so->frontier, k);
		}
		if (so->nodes[k].live && !so->deferring)
			heap_push(so, &so->results, k);
	}
	so->nnodes += n;
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
expand_node(OmenScanOpaque so, uint32 k)
{
	NeighborsArg na;
	int			nfresh = 0;
	uint32		node = so->nodes[k].node;

	na.out = so->nbrbuf;
	na.n = 0;
	omendb_visit_nodes(so->index, &so->info->meta, &node, 1, neighbors_visitor, &na);
	for (int i = 0; i < na.n; i++)
	{
		bool		found;

		visited_insert(so->visited, na.out[i], &found);
		if (!found)
			so->fresh[nfresh++] = na.out[i];
	}
	if (nfresh > 0)
		meet_nodes(so, so->fresh, nfresh, true);
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
	int			scanned = 0;
	bool		found;

	visited_insert(so->visited, entry, &found);
	meet_nodes(so, &entry, 1, true);

	while (so->frontier.n > 0)
	{
		uint32		k = heap_top(&so->frontier);
		float		d = so->nodes[k].approx;
		int			from = scanned;

		if (nbest == L && d > best[0])
			break;
		heap_pop(&so->frontier);

		/*
		 * The L-th best only falls, so a node met farther than it now can
		 * never be expanded in this search: park it.
		 */
		so->beam_limit = (nbest == L) ? best[0] : INFINITY;
		expand_node(so, k);

		/* fold the distances just met into the L best */
		for (int i = from; i < so->nnodes; i++)
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
	so->deferring = false;
	so->ndeferred = so->nnodes;
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
	for (int k = 0; k < so->ndeferred; k++)
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
 * batch for return.
 */
static void
restore_heaps(OmenScanOpaque so)
{
	for (int i = 0; i < so->nparked; i++)
		heap_push(so, &so->frontier, so->parked[i]);
	so->nparked = 0;
	for (int k = 0; k < so->ndeferred; k++)
		if (so->nodes[k].live && !so->nodes[k].batched)
			heap_push(so, &so->results, k);
	so->ndeferred = 0;
}

/*
 * Meet every node the graph search never reached, one node page at a time.
 * Run once, when the frontier is empty: the nodes swept in go straight to
 * the results, in order of bound.  Every committed row visible to our
 * snapshot was indexed before the scan began, so reading the relation's
 * length now covers them all.
 */
static void
sweep_unmet_nodes(OmenScanOpaque so)
{
	const OmenMetaPageData *meta = &so->info->meta;
	BlockNumber nblocks = RelationGetNumberOfBlocks(so->index);
	uint32	   *batch = palloc(sizeof(uint32) * meta->nodes_per_page);

	so->swept = true;
	for (BlockNumber blkno = meta->first_node_block; blkno < nblocks; blkno++)
	{
		int			nitems = omendb_page_node_count(so->index, meta, blkno);
		int			n = 0;

		for (int i = 0; i < nitems; i++)
		{
			uint32		node = omendb_node_id(meta, blkno, FirstOffsetNumber + i);
			bool		found;

			visited_insert(so->visited, node, &found);
			if (!found)
				batch[n++] = node;
		}
		if (n > 0)
		{
			meet_nodes(so, batch, n, false);
			so->nswept += n;
		}
		CHECK_FOR_INTERRUPTS();
	}
	pfree(batch);
}

/*
 * The next row to return, or -1 when every node has been met and returned.
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
 * unexpanded node is expanded (best-first); when none is left, unmet nodes
 * are swept in and the held-back ones released.
 */
static int
next_result(OmenScanOpaque so)
{
	if (so->batch_next < so->nbatch)
	{
		uint32		k = so->batch[so->batch_next++];

		so->last_bound = so->nodes[k].bound;
		return k;
	}
	if (so->ndeferred > 0)
		restore_heaps(so);

	for (;;)
	{
		if (so->results.n > 0)
		{
			uint32		k = heap_top(&so->results);

			if (!so->swept && so->nodes[k].bound < so->last_bound)
			{
				/* met too late to come out in order: hold back */
				heap_pop(&so->results);
				heap_push(so, &so->late, k);
				so->nlate++;
				continue;
			}
			if (so->swept ||
				(so->frontier.n > 0 &&
				 so->nodes[heap_top(&so->frontier)].approx - so->max_gap >=
				 so->nodes[k].bound))
			{
				heap_pop(&so->results);
				so->last_bound = so->nodes[k].bound;
				return k;
			}
		}
		if (so->frontier.n > 0)
			expand_node(so, heap_pop(&so->frontier));
		else if (!so->swept)
		{
			sweep_unmet_nodes(so);
			while (so->late.n > 0)
				heap_push(so, &so->results, heap_pop(&so->late));
		}
		else
			return -1;
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

	MemoryContextReset(so->cxt);
	so->started = false;
	so->null_query = false;
	so->empty = false;
	so->seq_next = 0;
	so->seq_block = InvalidBlockNumber;
	so->nbatch = 0;
	so->batch_next = 0;
	so->ndeferred = 0;
	so->nreturned = 0;
	so->nlate = 0;
	so->nswept = 0;

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
	if (cur.entry_node == OMENDB_INVALID_NODE)
	{
		so->empty = true;
		return;
	}

	so->qv = palloc(sizeof(float) * meta->code_size);
	omendb_prepare_query(meta->metric, so->qvec->x, meta->dimensions, so->qv);
	omendb_query_init(&so->query, so->info->quant, meta->metric, so->qv,
					  meta->code_size, true);

	so->list_size = omendb_effective_list_size(meta->metric);
	so->capnodes = 1024;
	so->nodes = palloc(sizeof(ScanNode) * so->capnodes);
	so->nnodes = 0;
	so->visited = visited_create(so->cxt, 1024, NULL);
	heap_init(&so->frontier, false);
	heap_init(&so->results, true);
	heap_init(&so->late, true);
	so->last_bound = -INFINITY;
	so->max_gap = 0;
	so->swept = false;
	so->nbrbuf = palloc(sizeof(uint32) * meta->max_degree);
	so->fresh = palloc(sizeof(uint32) * meta->max_degree);
	so->deferring = true;
	so->beam_limit = INFINITY;
	so->capparked = 256;
	so->nparked = 0;
	so->parked = palloc(sizeof(uint32) * so->capparked);

	initial_search(so, cur.entry_node);
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
		int			k = next_result(so);

		if (k >= 0)
		{
			found = true;
			so->nreturned++;
			scan->xs_heaptid = so->nodes[k].tid;
			scan->xs_orderbyvals[0] = Float8GetDatum(so->nodes[k].bound);
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

	elog(DEBUG1, "omendb scan of \"%s\": %d nodes met, %d rows returned, %d held back as late, %d swept in",
		 RelationGetRelationName(scan->indexRelation), so->nnodes, so->nreturned,
		 so->nlate, so->nswept);
	MemoryContextDelete(so->cxt);
	pfree(so);
	scan->opaque = NULL;
}
