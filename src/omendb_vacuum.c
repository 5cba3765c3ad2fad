/*-------------------------------------------------------------------------
 *
 * omendb_vacuum.c
 *	  VACUUM: flag the nodes of dead heap rows deleted, then take deleted
 *	  nodes out of the graph and free their slots for inserts to reuse.
 *
 * ambulkdelete only flags.  A deleted node stays in the graph, traversed
 * but never returned (FreshDiskANN's tombstones), and every live node's
 * heap TID goes to the callback, which is also how CREATE INDEX
 * CONCURRENTLY learns what the index holds.
 *
 * amvacuumcleanup consolidates, as FreshDiskANN does: every node with an
 * edge to a deleted node gets edges to that node's neighbours instead;
 * then the deleted nodes' slots, but the entry point's, become free.  A
 * slot is freed only once every backend that may still hold its node as
 * live has ended, so that no edge to it can appear afterwards.  Each step is a WAL record that leaves a
 * valid graph, so a crash anywhere leaves work that the next VACUUM
 * finishes.  See README.omendb, "Deletion and slot reuse".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "postmaster/autovacuum.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "omendb.h"
#include "omendb_graph.h"
#include "omendb_labels.h"
#include "omendb_page.h"
#include "omendb_quant.h"

/*
 * How many of a deleted node's in-neighbours get an edge to each of its
 * out-neighbours, in its place.
 */
#define REPAIR_IN_EDGES			2

/*
 * A node the repair would leave with fewer of its own out-edges than this
 * lost much of its neighbourhood, and with it the in-edges from there: it
 * is re-linked (see repaired_neighbors and link_thin_nodes).
 */
#define THIN_DEGREE(meta)		((meta)->graph_degree / 2)

/* A deleted node to be freed, with its neighbours as cleanup read them. */
typedef struct DoomedNode
{
	uint32		node;
	ItemPointerData tid;
	uint32		moved_to;		/* the live copy of a moved node (its first
								 * neighbour, with its row), or
								 * OMENDB_INVALID_NODE */
	bool		kept;			/* the entry point: not freed */
	int			nneighbors;
	uint32	   *neighbors;
} DoomedNode;

/* An edge, as cleanup plans them. */
typedef struct EdgePair
{
	uint32		from;
	uint32		to;
} EdgePair;

/*
 * A live out-neighbour x of a doomed node, and that node's in-edges: the
 * range [start, end) of the in-edges sorted by their target.
 */
typedef struct RepairTarget
{
	uint32		x;
	int			start;
	int			end;
} RepairTarget;

typedef struct Consolidation
{
	IndexVacuumInfo *info;
	Relation	index;
	OmenIndexInfo *ii;			/* a copy: meta and quantizer */
	const OmenMetaPageData *meta;

	/* the deleted nodes read, ascending, and a bitmap of them by id */
	DoomedNode *doomed;
	int			ndoomed;
	int			capdoomed;
	int			maxdoomed;		/* within the memory VACUUM may use */
	uint64	   *doomed_bits;
	uint32		nslots;			/* node ids below this have a bit */
	uint32		nread;			/* node ids below this were read */

	bool	   *live_graph;		/* by node id: a live node in the graph */
	int			wait_ms;		/* for older snapshots, before freeing */
	OmenFitSurvey *survey;		/* if not NULL, what the pass learns of the
								 * quantizer's fit, for the refit */

	/* figures */
	double		live;
	uint32		deleted;
	uint32		entry_deleted;	/* 1 if the entry point was the one deleted
								 * node read, which stays (keep_entry_point):
								 * then there is nothing to free */
	uint32		free;
	uint32		freed;			/* deleted nodes freed */
	uint32		repaired;		/* nodes given new neighbours */
	uint32		dropped;		/* nodes that just lost their edges */
	EdgePair   *planned;		/* replacement edges, sorted by source */
	int			nplanned;
	int			linked;			/* unreachable nodes given an in-edge */
	int			unlinked;		/* and those that could not be */
	uint32	   *thin;			/* nodes re-linked as thin, at most
								 * ndoomed of them */
	size_t		nthin;
	size_t		capthin;

	/*
	 * Where the quantizer places nodes by vector: the table's rows, and a
	 * query for the one node being repaired (repair_pivot).
	 */
	OmenHeapVectors *hv;
	float	   *pivot_vec;
	OmenQuery	pivot_query;
	MemoryContext pivotcxt;
} Consolidation;

/* ----------------------------------------------------------------
 *		ambulkdelete: flagging
 * ----------------------------------------------------------------
 */

/*
 * Flag the live nodes on a page whose heap rows the callback says are dead;
 * one WAL record, which counts them on the meta page.  Returns how many.
 */
static int
flag_dead_nodes(Relation index, const OmenMetaPageData *meta, Buffer buf,
				IndexBulkDeleteCallback callback, void *callback_state,
				double *live)
{
	Page		page = BufferGetPage(buf);
	BlockNumber blkno = BufferGetBlockNumber(buf);
	OffsetNumber dead[MaxOffsetNumber];
	int			ndead = 0;
	OmenPageEdit edit;
	Buffer		metabuf;

	for (OffsetNumber off = FirstOffsetNumber;
		 off <= PageGetMaxOffsetNumber(page); off++)
	{
		OmenNodeHeader node = omendb_page_node(index, page, meta, off);

		omendb_check_neighbors(index, meta, blkno, off, node);
		if (!(node->flags & OMENDB_NODE_LIVE))
			continue;
		if (callback(&node->heaptid, callback_state))
			dead[ndead++] = off;
		else
			(*live)++;
	}
	if (ndead == 0)
		return 0;

	omendb_edit_begin(&edit, index, true);
	page = omendb_edit_page(&edit, buf, false);
	for (int i = 0; i < ndead; i++)
		omendb_page_node(index, page, meta, dead[i])->flags = OMENDB_NODE_DELETED;
	metabuf = omendb_count_nodes(index, &edit, blkno, ndead, 0);
	omendb_edit_finish(&edit);
	if (BufferIsValid(metabuf))
		UnlockReleaseBuffer(metabuf);
	return ndead;
}

IndexBulkDeleteResult *
omendb_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				  IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	OmenIndexInfo *ii = omendb_copy_info(omendb_get_info(index));
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	stats->num_pages = nblocks;
	stats->num_index_tuples = 0;
	if (!ii->meta.quant_trained)
		return stats;

	for (BlockNumber blkno = ii->meta.first_node_block; blkno < nblocks; blkno++)
	{
		Buffer		buf;

		OMENDB_VACUUM_DELAY_POINT();
		buf = omendb_lock_node_page(index, &ii->meta, blkno, info->strategy,
									BUFFER_LOCK_EXCLUSIVE);
		if (!BufferIsValid(buf))
			continue;
		stats->tuples_removed += flag_dead_nodes(index, &ii->meta, buf,
												 callback, callback_state,
												 &stats->num_index_tuples);
		UnlockReleaseBuffer(buf);
	}
	pfree(ii);
	return stats;
}

/* ----------------------------------------------------------------
 *		amvacuumcleanup: reading the deleted nodes
 * ----------------------------------------------------------------
 */

static inline bool
is_doomed(const Consolidation *c, uint32 node)
{
	return node < c->nslots &&
		(c->doomed_bits[node / 64] & (UINT64CONST(1) << (node % 64))) != 0;
}

static DoomedNode *
find_doomed(const Consolidation *c, uint32 node)
{
	int			lo = 0;
	int			hi = c->ndoomed - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (c->doomed[mid].node == node)
			return &c->doomed[mid];
		if (c->doomed[mid].node < node)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* The memory a VACUUM may use, as for its dead TIDs. */
static double
vacuum_mem_bytes(void)
{
	int			mem_kb = OMENDB_IS_AUTOVACUUM_WORKER() && autovacuum_work_mem != -1 ?
		autovacuum_work_mem : maintenance_work_mem;

	return (double) mem_kb * 1024;
}

/*
 * The memory a deleted node takes in a cleanup: itself, its list, and the
 * repair's targets from that list (repair_targets).
 */
static double
doomed_node_bytes(const OmenMetaPageData *meta)
{
	return sizeof(DoomedNode) +
		(sizeof(uint32) + sizeof(RepairTarget)) * meta->max_degree;
}

/*
 * How many deleted nodes one cleanup takes on: as many as fit the memory
 * a VACUUM may use (the rest wait for the next one).
 */
static int
max_doomed_nodes(const OmenMetaPageData *meta, uint32 nslots)
{
	double		bytes = vacuum_mem_bytes() - (double) nslots / 8;
	double		per_node = doomed_node_bytes(meta);

	return (int) Max(Min(bytes / per_node, (double) (MaxAllocSize / per_node)), 1);
}

/*
 * How many edges the repair may plan: half the memory left after the
 * deleted nodes, for the edges into them and the edges that replace those.
 */
static int
max_planned_edges(const Consolidation *c)
{
	double		bytes = vacuum_mem_bytes() - (double) c->nslots * 2 -
		(double) c->ndoomed * doomed_node_bytes(c->meta);

	return (int) Max(Min(bytes / sizeof(EdgePair), (double) (MaxAllocSize / sizeof(EdgePair))),
					 1024);
}

static void
keep_doomed(Consolidation *c, uint32 node, OmenNodeHeader hdr)
{
	DoomedNode *d;

	if (c->ndoomed == c->maxdoomed)
		return;
	if (c->ndoomed == c->capdoomed)
	{
		c->capdoomed = Min(c->maxdoomed, Max(1024, 2 * c->capdoomed));
		c->doomed = c->doomed == NULL ?
			MemoryContextAllocHuge(CurrentMemoryContext,
								   sizeof(DoomedNode) * c->capdoomed) :
			repalloc_huge(c->doomed, sizeof(DoomedNode) * c->capdoomed);
	}
	d = &c->doomed[c->ndoomed++];
	d->node = node;
	d->tid = hdr->heaptid;
	d->moved_to = OMENDB_INVALID_NODE;
	d->kept = false;
	d->nneighbors = hdr->nneighbors;
	d->neighbors = palloc(sizeof(uint32) * Max(hdr->nneighbors, 1));
	memcpy(d->neighbors, OmenNodeNeighbors(hdr), sizeof(uint32) * hdr->nneighbors);
	c->doomed_bits[node / 64] |= UINT64CONST(1) << (node % 64);
}

/*
 * Call visit for every node of the node pages before nblocks, each page
 * share-locked in turn and its nodes' neighbour ids checked.  With
 * record_free, pages with free slots go into the free space map.
 */
void
omendb_visit_node_pages(IndexVacuumInfo *info, const OmenMetaPageData *meta,
						BlockNumber nblocks, bool record_free,
						OmenSlotVisitor visit, void *arg)
{
	for (BlockNumber blkno = meta->first_node_block; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;

		OMENDB_VACUUM_DELAY_POINT();
		buf = omendb_lock_node_page(info->index, meta, blkno, info->strategy,
									BUFFER_LOCK_SHARE);
		if (!BufferIsValid(buf))
			continue;
		page = BufferGetPage(buf);
		for (OffsetNumber off = FirstOffsetNumber;
			 off <= PageGetMaxOffsetNumber(page); off++)
		{
			OmenNodeHeader hdr = omendb_page_node(info->index, page, meta, off);

			omendb_check_neighbors(info->index, meta, blkno, off, hdr);
			visit(omendb_node_id(meta, blkno, off), hdr, arg);
		}
		if (record_free && OmenPageGetOpaque(page)->nfree > 0)
			RecordFreeIndexPage(info->index, blkno);
		UnlockReleaseBuffer(buf);
	}
}

/* Count a node by state; keep it if deleted; note the live graph nodes. */
static void
read_node(uint32 node, OmenNodeHeader hdr, void *arg)
{
	Consolidation *c = arg;

	c->nread = Max(c->nread, node + 1);
	if (c->survey != NULL)
		omendb_fit_survey_add(c->survey, c->meta, hdr);
	if (hdr->flags & OMENDB_NODE_LIVE)
	{
		c->live++;
		if (!OmenNodeIsZero(c->meta->metric, hdr))
			c->live_graph[node] = true;
	}
	else if (hdr->flags & OMENDB_NODE_DELETED)
	{
		c->deleted++;
		keep_doomed(c, node, hdr);
	}
	else
		c->free++;
}

/* The first neighbour of a deleted node, as find_moved_nodes reads it. */
typedef struct MovedArg
{
	DoomedNode *d;
} MovedArg;

static void
moved_visitor(OmenNodeHeader node, int idx, void *arg)
{
	DoomedNode *d = ((MovedArg *) arg)->d;

	if (node->flags == OMENDB_NODE_LIVE &&
		ItemPointerEquals(&node->heaptid, &d->tid))
		d->moved_to = d->neighbors[0];
}

/*
 * Note the deleted nodes that VACUUM moved (omendb_compact.c): those
 * whose first neighbour is a live node of the same heap row.  Every edge
 * to one is taken over to its copy.
 */
static void
find_moved_nodes(Consolidation *c)
{
	for (int i = 0; i < c->ndoomed; i++)
	{
		DoomedNode *d = &c->doomed[i];
		MovedArg	arg = {d};

		if (d->nneighbors == 0 || d->neighbors[0] >= c->nread ||
			is_doomed(c, d->neighbors[0]))
			continue;
		omendb_visit_nodes(c->index, c->meta, &d->neighbors[0], 1,
						   moved_visitor, &arg);
	}
}

/*
 * Wait until every backend of this database that held a snapshot when the
 * deleted nodes were read has ended its transaction, or give up after
 * wait_ms.  Whoever read a node while it was still live (an
 * insert that may yet link to it, a scan that returned it and may yet
 * flag it) had a snapshot then, as CREATE INDEX CONCURRENTLY's waits
 * assume too.  Backends that took theirs later found the nodes deleted:
 * they never link to them.  (A refit waits the same way, see
 * omendb_refit.c.)
 */
bool
omendb_wait_for_older_snapshots(int wait_ms)
{
	VirtualTransactionId *vxids;
	int			nvxids;
	TimestampTz start = GetCurrentTimestamp();

	vxids = GetCurrentVirtualXIDs(InvalidTransactionId, true, false,
								  PROC_IN_VACUUM, &nvxids);
	for (int i = 0; i < nvxids; i++)
	{
		while (!VirtualXactLock(vxids[i], false))
		{
			if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(),
										   wait_ms))
			{
				pfree(vxids);
				return false;
			}
			CHECK_FOR_INTERRUPTS();
			pg_usleep(10 * 1000L);
		}
	}
	pfree(vxids);
	return true;
}

/* ----------------------------------------------------------------
 *		Repairing the graph
 * ----------------------------------------------------------------
 */

static bool
has_doomed_edge(const Consolidation *c, const uint32 *nbrs, int n)
{
	for (int i = 0; i < n; i++)
		if (is_doomed(c, nbrs[i]))
			return true;
	return false;
}

static int
edge_cmp_to(const void *a, const void *b)
{
	const EdgePair *ea = a;
	const EdgePair *eb = b;

	if (ea->to != eb->to)
		return ea->to < eb->to ? -1 : 1;
	if (ea->from != eb->from)
		return ea->from < eb->from ? -1 : 1;
	return 0;
}

static int
edge_cmp_from(const void *a, const void *b)
{
	const EdgePair *ea = a;
	const EdgePair *eb = b;

	if (ea->from != eb->from)
		return ea->from < eb->from ? -1 : 1;
	if (ea->to != eb->to)
		return ea->to < eb->to ? -1 : 1;
	return 0;
}

/* Append an edge to a growing array, unless it is full at max. */
static void
add_edge(EdgePair **edges, int *n, int *cap, int max, uint32 from, uint32 to)
{
	if (*n == max)
		return;
	if (*n == *cap)
	{
		*cap = Min(max, Max(1024, 2 * *cap));
		*edges = *edges == NULL ?
			MemoryContextAllocHuge(CurrentMemoryContext, sizeof(EdgePair) * *cap) :
			repalloc_huge(*edges, sizeof(EdgePair) * *cap);
	}
	(*edges)[*n].from = from;
	(*edges)[*n].to = to;
	(*n)++;
}

/* The edges being collected, within a memory bound. */
typedef struct EdgeArray
{
	Consolidation *c;
	EdgePair   *edges;
	int			n;
	int			cap;
	int			max;
} EdgeArray;

/* Collect the edges from a node that stays into doomed nodes. */
static void
read_edges_to_doomed(uint32 node, OmenNodeHeader hdr, void *arg)
{
	EdgeArray  *ea = arg;
	Consolidation *c = ea->c;
	const uint32 *nbrs = OmenNodeNeighbors(hdr);

	if (is_doomed(c, node))
		return;
	for (int i = 0; i < hdr->nneighbors; i++)
		if (is_doomed(c, nbrs[i]))
			add_edge(&ea->edges, &ea->n, &ea->cap, ea->max, node, nbrs[i]);
}

/*
 * What a repair measures node p's candidates from: its row's vector, where
 * the quantizer places nodes by vector (codes compared with codes say too
 * little there: README.omendb, "Placing one-bit nodes"), else NULL, its
 * code.  Reads p's page, then its heap row: no buffer lock may be held.
 */
static const OmenQuery *
repair_pivot(Consolidation *c, uint32 p)
{
	Buffer		buf;
	ItemPointerData tid;
	MemoryContext old;
	bool		found;

	if (c->hv == NULL)
		return NULL;
	buf = omendb_lock_node_page(c->index, c->meta,
								omendb_node_block(c->meta, p),
								c->info->strategy, BUFFER_LOCK_SHARE);
	if (!BufferIsValid(buf))
		return NULL;
	tid = omendb_page_node(c->index, BufferGetPage(buf), c->meta,
						   omendb_node_offset(c->meta, p))->heaptid;
	UnlockReleaseBuffer(buf);
	MemoryContextReset(c->pivotcxt);
	old = MemoryContextSwitchTo(c->pivotcxt);
	found = omendb_heap_vector(c->hv, c->index, c->meta, &tid, c->pivot_vec);
	if (found)
		omendb_query_init_placement(&c->pivot_query, c->ii->quant,
									c->pivot_vec, NULL);
	MemoryContextSwitchTo(old);
	return found ? &c->pivot_query : NULL;
}

static int
repair_target_cmp(const void *a, const void *b)
{
	const RepairTarget *ra = a;
	const RepairTarget *rb = b;

	if (ra->x != rb->x)
		return ra->x < rb->x ? -1 : 1;
	return (ra->start > rb->start) - (ra->start < rb->start);
}

/*
 * The out-neighbours of the doomed nodes that stay, each with the in-edges
 * of the doomed node it follows, sorted by out-neighbour: so each is
 * measured from once (from its vector, a heap fetch, where the quantizer
 * places by vector), however many doomed nodes led to it.
 */
static RepairTarget *
repair_targets(Consolidation *c, const EdgePair *in, int nin, int *ntargets)
{
	RepairTarget *t = NULL;
	int			n = 0;
	size_t		cap = 0;

	for (int start = 0, end; start < nin; start = end)
	{
		DoomedNode *d = find_doomed(c, in[start].to);

		for (end = start; end < nin && in[end].to == in[start].to; end++)
			;
		if (d->moved_to != OMENDB_INVALID_NODE)
			continue;			/* its in-edges are taken over */
		for (int j = 0; j < d->nneighbors; j++)
		{
			if (is_doomed(c, d->neighbors[j]))
				continue;
			if (n == cap)
				t = omendb_grow_array(t, &cap, sizeof(RepairTarget));
			t[n].x = d->neighbors[j];
			t[n].start = start;
			t[n].end = end;
			n++;
		}
	}
	if (n > 0)
		qsort(t, n, sizeof(RepairTarget), repair_target_cmp);
	*ntargets = n;
	return t;
}

/*
 * Plan the edges that replace those into doomed nodes (IP-DiskANN's
 * deletion, Xu et al. 2025): for each doomed node d and each of its
 * out-neighbours x that stays, the REPAIR_IN_EDGES in-neighbours of d
 * nearest to x get the edge to x.  So every node that d led to is still
 * led to from where d was entered; choosing instead, for each
 * in-neighbour, the out-neighbours nearest to it (FreshDiskANN's
 * consolidation prunes that way) leaves some out-neighbours with no
 * replacement in-edge, and searches that used to reach them through d
 * miss them.  Returns the planned edges sorted by their source.
 */
static EdgePair *
plan_replacement_edges(Consolidation *c, OmenPageStore *ps, OmenQuery *pivot,
					   BlockNumber nblocks, int max, int *nplanned)
{
	OmenGraphStore *store = &ps->store;
	EdgeArray	ea = {c, NULL, 0, 0, max / 2};
	int			nin;
	EdgePair   *in;
	RepairTarget *targets;
	int			ntargets;
	EdgePair   *planned = NULL;
	int			cap = 0;
	uint32	   *from = NULL;
	float	   *dists = NULL;
	bool	   *usable = NULL;
	int			capfrom = 0;
	const OmenQuery *xq = NULL;

	*nplanned = 0;
	omendb_visit_node_pages(c->info, c->meta, nblocks, false,
							read_edges_to_doomed, &ea);
	in = ea.edges;
	nin = ea.n;
	if (nin == 0)
		return NULL;
	qsort(in, nin, sizeof(EdgePair), edge_cmp_to);
	targets = repair_targets(c, in, nin, &ntargets);
	for (int t = 0; t < ntargets; t++)
	{
		uint32		x = targets[t].x;
		int			k = targets[t].end - targets[t].start;

		if (t == 0 || targets[t - 1].x != x)
		{
			omendb_pagestore_forget_codes(ps);
			CHECK_FOR_INTERRUPTS();
			xq = repair_pivot(c, x);
			if (xq == NULL)
			{
				omendb_query_from_code(pivot, store->code(store, x));
				xq = pivot;
			}
		}
		if (k > capfrom)
		{
			capfrom = Max(k, 2 * capfrom);
			from = from ? repalloc(from, sizeof(uint32) * capfrom) :
				palloc(sizeof(uint32) * capfrom);
			dists = dists ? repalloc(dists, sizeof(float) * capfrom) :
				palloc(sizeof(float) * capfrom);
			usable = usable ? repalloc(usable, sizeof(bool) * capfrom) :
				palloc(sizeof(bool) * capfrom);
		}
		for (int i = 0; i < k; i++)
			from[i] = in[targets[t].start + i].from;
		for (int done = 0; done < k; done += OMENDB_MAX_NEIGHBORS)
			store->score(store, xq, from + done,
						 Min(k - done, OMENDB_MAX_NEIGHBORS),
						 dists + done, usable + done);
		for (int r = 0; r < REPAIR_IN_EDGES; r++)
		{
			int			best = -1;

			for (int i = 0; i < k; i++)
				if (from[i] != x && dists[i] >= 0 &&
					(best < 0 || dists[i] < dists[best]))
					best = i;
			if (best < 0)
				break;
			dists[best] = -1;
			add_edge(&planned, nplanned, &cap, max / 2, from[best], x);
		}
	}
	omendb_pagestore_forget_codes(ps);
	pfree(in);
	if (targets)
		pfree(targets);
	if (from)
	{
		pfree(from);
		pfree(dists);
		pfree(usable);
	}
	if (*nplanned > 0)
		qsort(planned, *nplanned, sizeof(EdgePair), edge_cmp_from);
	return planned;
}

/*
 * Remember a node the repair would leave thin, to be re-linked and given
 * its reverse edges after the other repairs (link_thin_nodes), as long as
 * there are fewer than the nodes being freed: so a cleanup writes no more
 * reverse edges than inserting the rows it removes would.  Returns whether
 * it did; if not, the node is re-linked in place, without them.
 */
static bool
note_thin(Consolidation *c, uint32 node)
{
	if (c->nthin >= (size_t) c->ndoomed)
		return false;
	if (c->nthin == c->capthin)
		c->thin = omendb_grow_array(c->thin, &c->capthin, sizeof(uint32));
	c->thin[c->nthin++] = node;
	return true;
}

/*
 * The neighbours of a node that the repair would leave thin: RobustPrune
 * over what it keeps, what is planned for it and the out-neighbours of
 * the doomed nodes it loses (FreshDiskANN's consolidation, for this node
 * alone).  ids[0..n-1] are the first two, marked visited.  Returns how
 * many were written to out[].
 */
static int
relinked_neighbors(Consolidation *c, OmenPageStore *ps, OmenQuery *pivot,
				   uint32 p, const uint32 *old, int nold, uint32 *ids, int n,
				   uint32 *out)
{
	OmenGraphStore *store = &ps->store;
	uint32	   *all = palloc(sizeof(uint32) * (n + nold * c->meta->max_degree));

	memcpy(all, ids, sizeof(uint32) * n);
	for (int i = 0; i < nold; i++)
	{
		DoomedNode *d;

		if (!is_doomed(c, old[i]))
			continue;
		d = find_doomed(c, old[i]);
		for (int j = 0; j < d->nneighbors; j++)
			if (!is_doomed(c, d->neighbors[j]))
				n += store->visit(store, &d->neighbors[j], 1, all + n);
	}
	if (n > 0)
		n = omendb_prune_candidates(store, pivot, repair_pivot(c, p), p, all,
									n, c->meta->alpha,
									c->meta->graph_degree, out);
	pfree(all);
	return n;
}

/*
 * How long a list of nold neighbours may become in a repair without a
 * prune: no longer than it was.  A doomed node's edges, about as many in
 * as out, give way to two planned edges for each out-edge, so lists
 * appended to up to their slots grew with every cleanup, and a search met
 * more nodes for each it expanded (README.omendb, "Why the repair keeps
 * lists short").  Except where the quantizer places nodes by vector: a
 * prune compares the candidates with one another by their codes, which
 * say too little there ("Placing one-bit nodes").
 */
static int
max_repaired_degree(const Consolidation *c, int nold)
{
	if (c->ii->quant->places_by_vector)
		return c->meta->max_degree;
	return nold;
}

/*
 * The neighbours node p gets in place of its edges to doomed nodes: its
 * other neighbours, plus the replacement edges planned for it; only if
 * that is longer than max_repaired_degree is the whole pruned down to R,
 * as a reverse edge's would be, and the neighbours of its own that the
 * prune drops are handed on as a reverse edge's prune hands them (a row
 * far from the others can lose its last near in-edge to such a prune, and
 * be missed where the cleanup stops halfway).  If p keeps few edges of its
 * own, it is thin: re-linked instead, and *thin says so; with defer_thin
 * it is left for link_thin_nodes (note_thin), as long as there is room,
 * and the result is -1.  Otherwise returns how many were written to
 * out[].
 *
 * Thinness is counted before the planned edges.  After a cleanup cut short
 * in its repair, the next one plans each deleted node's out-neighbours
 * from the in-neighbours that node has left, many edges to each of them:
 * counted with those, a node thin the first time would not look so and
 * would get no reverse edges, and rows near it would be missed
 * (README.omendb, "Deletion and slot reuse").
 */
static int
repaired_neighbors(Consolidation *c, OmenPageStore *ps, OmenQuery *pivot,
				   uint32 p, const uint32 *old, int nold, bool defer_thin,
				   uint32 *out, bool *thin)
{
	OmenGraphStore *store = &ps->store;
	int			lo = 0;
	int			hi = c->nplanned;
	int			cap = nold + 1;
	uint32	   *ids;
	uint32		self;
	int			n = 0;
	int			nown;

	/* the planned edges from p: a range of the array sorted by source */
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (c->planned[mid].from < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (hi = lo; hi < c->nplanned && c->planned[hi].from == p; hi++)
		cap++;

	ids = palloc(sizeof(uint32) * cap);

	store->forget_visited(store);
	(void) store->visit(store, &p, 1, &self);
	for (int i = 0; i < nold; i++)
	{
		uint32		to = old[i];

		if (is_doomed(c, to))
			to = find_doomed(c, to)->moved_to;
		if (to != OMENDB_INVALID_NODE)
			n += store->visit(store, &to, 1, ids + n);
	}
	nown = n;
	*thin = n < THIN_DEGREE(c->meta);
	if (*thin && defer_thin && note_thin(c, p))
	{
		pfree(ids);
		return -1;
	}
	for (int i = lo; i < hi; i++)
		if (!is_doomed(c, c->planned[i].to))
			n += store->visit(store, &c->planned[i].to, 1, ids + n);

	if (*thin)
		n = relinked_neighbors(c, ps, pivot, p, old, nold, ids, n, out);
	else if (n <= max_repaired_degree(c, nold))
		memcpy(out, ids, sizeof(uint32) * n);
	else
		n = omendb_prune_keeping_linked(store, pivot, repair_pivot(c, p), p,
										ids, n, nown,
										c->meta->alpha, c->meta->graph_degree,
										out);
	pfree(ids);
	return n;
}

/*
 * Take node's edges to doomed nodes out of its list, under its page lock,
 * with no replacements: what a repair falls back to when inserts keep
 * changing the list under it.
 */
static void
drop_doomed_edges(Consolidation *c, uint32 node)
{
	Buffer		buf = omendb_lock_node_page(c->index, c->meta,
											omendb_node_block(c->meta, node),
											c->info->strategy, BUFFER_LOCK_EXCLUSIVE);
	OffsetNumber off = omendb_node_offset(c->meta, node);
	OmenNodeHeader hdr;

	if (!BufferIsValid(buf))
		omendb_corrupted(c->index, "Node %u lies on a new page.", node);
	hdr = omendb_page_node(c->index, BufferGetPage(buf), c->meta, off);
	if (has_doomed_edge(c, OmenNodeNeighbors(hdr), hdr->nneighbors))
	{
		OmenPageEdit edit;
		uint32	   *nbrs;
		int			n = 0;

		omendb_edit_begin(&edit, c->index, true);
		hdr = omendb_page_node(c->index, omendb_edit_page(&edit, buf, false),
							   c->meta, off);
		nbrs = OmenNodeNeighbors(hdr);
		for (int i = 0; i < hdr->nneighbors; i++)
			if (!is_doomed(c, nbrs[i]))
				nbrs[n++] = nbrs[i];
		memset(nbrs + n, 0, sizeof(uint32) * (hdr->nneighbors - n));
		hdr->nneighbors = n;
		omendb_edit_finish(&edit);
		c->dropped++;
	}
	UnlockReleaseBuffer(buf);
}

/*
 * Repair one node: read its list, compute the new one and write it if the
 * list is still as read (optimistically, as reverse edges are written),
 * and if inserts keep winning, drop the edges.  With defer_thin, a node the
 * repair would leave thin may be left for link_thin_nodes instead
 * (repaired_neighbors), or else is re-linked in place.  Without it, a thin
 * node is re-linked and given the reverse edges of its new list first,
 * then the list: nothing on disk says that a list was re-linked, so a
 * crash between the two must leave the list as it was, with its edges to
 * deleted nodes, thin, for the next VACUUM to re-link again.  (Written
 * first, the list would no longer look thin, and the node would keep none
 * of the reverse edges for good.)  The reverse edges of a list that an
 * insert then changed under us stay: in-edges to a live node, none wrong.
 */
static void
repair_node(Consolidation *c, OmenPageStore *ps, OmenQuery *pivot,
			uint32 node, bool defer_thin)
{
	uint32		old[OMENDB_MAX_NEIGHBORS];
	uint32		nbrs[OMENDB_MAX_NEIGHBORS];

	for (int attempt = 0; attempt < 3; attempt++)
	{
		int			nold = ps->store.neighbors(&ps->store, node, old);
		int			n;
		bool		thin;

		if (!has_doomed_edge(c, old, nold))
			return;
		n = repaired_neighbors(c, ps, pivot, node, old, nold, defer_thin,
							   nbrs, &thin);
		if (n < 0)
			return;
		if (thin && !defer_thin)
			(void) omendb_add_reverse_edges(&ps->store, pivot, node, nbrs, n,
											c->meta->alpha,
											c->meta->graph_degree, true);
		if (ps->store.replace_neighbors(&ps->store, node, old, nold, nbrs, n))
		{
			c->repaired++;
			return;
		}
	}
	drop_doomed_edges(c, node);
}

/* The nodes of one page that need a repair, as read. */
typedef struct PageRepair
{
	int			n;
	OffsetNumber off[MaxOffsetNumber];
	int			nold[MaxOffsetNumber];
	int			nnew[MaxOffsetNumber];	/* -1: left for link_thin_nodes */
	uint32		retry[MaxOffsetNumber];
	uint32	   *old;			/* max_degree per node */
	uint32	   *new;
} PageRepair;

/*
 * Repair the nodes of one page with edges to doomed nodes: read them under
 * a share lock, compute their new lists with no lock held (a repair reads
 * other pages), then write every list still as read in one record; lists
 * that changed meanwhile are repaired one by one.
 */
static void
repair_page(Consolidation *c, OmenPageStore *ps, OmenQuery *pivot,
			BlockNumber blkno, PageRepair *pr)
{
	const OmenMetaPageData *meta = c->meta;
	int			maxdeg = meta->max_degree;
	Buffer		buf;
	Page		page;
	Page		work = NULL;
	OmenPageEdit edit;
	int			nretry = 0;

	buf = omendb_lock_node_page(c->index, meta, blkno, c->info->strategy,
								BUFFER_LOCK_SHARE);
	if (!BufferIsValid(buf))
		return;
	page = BufferGetPage(buf);
	pr->n = 0;
	for (OffsetNumber off = FirstOffsetNumber;
		 off <= PageGetMaxOffsetNumber(page); off++)
	{
		OmenNodeHeader hdr = omendb_page_node(c->index, page, meta, off);

		if ((hdr->flags & OMENDB_NODE_FREE) ||
			is_doomed(c, omendb_node_id(meta, blkno, off)) ||
			!has_doomed_edge(c, OmenNodeNeighbors(hdr), hdr->nneighbors))
			continue;
		pr->off[pr->n] = off;
		pr->nold[pr->n] = hdr->nneighbors;
		memcpy(pr->old + pr->n * maxdeg, OmenNodeNeighbors(hdr),
			   sizeof(uint32) * hdr->nneighbors);
		pr->n++;
	}
	UnlockReleaseBuffer(buf);
	if (pr->n == 0)
		return;

	for (int i = 0; i < pr->n; i++)
	{
		bool		thin;

		pr->nnew[i] = repaired_neighbors(c, ps, pivot,
										 omendb_node_id(meta, blkno, pr->off[i]),
										 pr->old + i * maxdeg, pr->nold[i], true,
										 pr->new + i * maxdeg, &thin);
	}

	buf = omendb_lock_node_page(c->index, meta, blkno, c->info->strategy,
								BUFFER_LOCK_EXCLUSIVE);
	if (!BufferIsValid(buf))
		omendb_corrupted(c->index, "Block %u: a node page became new.", blkno);
	for (int i = 0; i < pr->n; i++)
	{
		OmenNodeHeader hdr = omendb_page_node(c->index, BufferGetPage(buf),
											  meta, pr->off[i]);

		if (pr->nnew[i] < 0)
			continue;			/* left for link_thin_nodes */
		if (hdr->nneighbors != pr->nold[i] ||
			memcmp(OmenNodeNeighbors(hdr), pr->old + i * maxdeg,
				   sizeof(uint32) * pr->nold[i]) != 0)
		{
			pr->retry[nretry++] = omendb_node_id(meta, blkno, pr->off[i]);
			continue;
		}
		if (work == NULL)
		{
			omendb_edit_begin(&edit, c->index, true);
			work = omendb_edit_page(&edit, buf, false);
		}
		hdr = omendb_page_node(c->index, work, meta, pr->off[i]);
		memcpy(OmenNodeNeighbors(hdr), pr->new + i * maxdeg,
			   sizeof(uint32) * pr->nnew[i]);
		hdr->nneighbors = pr->nnew[i];
		c->repaired++;
	}
	if (work != NULL)
		omendb_edit_finish(&edit);
	UnlockReleaseBuffer(buf);

	for (int i = 0; i < nretry; i++)
		repair_node(c, ps, pivot, pr->retry[i], true);
}

/*
 * The entry point is never freed: if its row is deleted it stays, as a
 * deleted node, the place every search starts from (FreshDiskANN keeps a
 * frozen start point for the same reason).  The build chose it near the
 * medoid, with the edges a start needs; moving the start to a neighbour
 * was measured to lose rows that searches from the old one found.  It is
 * repaired like a live node.
 */
static void
keep_entry_point(Consolidation *c)
{
	OmenMetaPageData cur;
	DoomedNode *d;

	omendb_read_meta(c->index, &cur);
	if (cur.entry_node == OMENDB_INVALID_NODE || !is_doomed(c, cur.entry_node))
		return;
	d = find_doomed(c, cur.entry_node);
	c->doomed_bits[d->node / 64] &= ~(UINT64CONST(1) << (d->node % 64));
	d->kept = true;
}

/*
 * Free the doomed nodes, a page at a time, in one record each (which counts
 * them on the meta page), and offer the pages to inserts through the free
 * space map.
 */
static void
free_doomed_nodes(Consolidation *c)
{
	const OmenMetaPageData *meta = c->meta;
	int			i = 0;

	while (i < c->ndoomed)
	{
		BlockNumber blkno = omendb_node_block(meta, c->doomed[i].node);
		Buffer		buf;
		Buffer		metabuf;
		Page		work;
		OmenPageEdit edit;
		int			nfreed = 0;

		OMENDB_VACUUM_DELAY_POINT();
		buf = omendb_lock_node_page(c->index, meta, blkno, c->info->strategy,
									BUFFER_LOCK_EXCLUSIVE);
		if (!BufferIsValid(buf))
			omendb_corrupted(c->index, "Block %u: a node page became new.", blkno);
		omendb_edit_begin(&edit, c->index, true);
		work = omendb_edit_page(&edit, buf, false);
		for (; i < c->ndoomed &&
			 omendb_node_block(meta, c->doomed[i].node) == blkno; i++)
		{
			OmenNodeHeader hdr;

			if (c->doomed[i].kept)
				continue;
			hdr = omendb_page_node(c->index, work, meta,
								   omendb_node_offset(meta, c->doomed[i].node));

			/* only VACUUM changes a deleted node */
			if (hdr->flags != OMENDB_NODE_DELETED)
				omendb_corrupted(c->index, "Block %u: node %u changed from deleted to flags %u during VACUUM.",
								 blkno, c->doomed[i].node, hdr->flags);
			memset(hdr, 0, meta->node_size);
			hdr->flags = OMENDB_NODE_FREE;
			OmenPageGetOpaque(work)->nfree++;
			nfreed++;
		}
		metabuf = omendb_count_nodes(c->index, &edit, blkno, -nfreed, nfreed);
		omendb_edit_finish(&edit);
		if (BufferIsValid(metabuf))
			UnlockReleaseBuffer(metabuf);
		UnlockReleaseBuffer(buf);
		c->freed += nfreed;
		RecordFreeIndexPage(c->index, blkno);
	}
}

/*
 * Re-link each node the repair would leave thin, and give it the reverse
 * edges of its new list, as an insert gives a new node (appended while a
 * list has room, else pruned in).  A node that lost most of its
 * out-neighbours to deletes lost most of its near in-neighbours with them,
 * since near neighbours link each other, and the repair hands it in-edges
 * only from its deleted in-neighbours' in-neighbours, which lie farther
 * out: without these, a search that closes in on the node finds no edge to
 * it (README.omendb, "Deletion and slot reuse").
 *
 * After the other repairs, so that the reverse edges go into repaired
 * lists, and before the freeing, so that the deleted in-neighbours keep
 * their edges to the node until its new in-edges are written.
 */
static void
link_thin_nodes(Consolidation *c, OmenPageStore *ps, OmenQuery *pivot)
{
	for (size_t i = 0; i < c->nthin; i++)
	{
		OMENDB_VACUUM_DELAY_POINT();
		repair_node(c, ps, pivot, c->thin[i], false);
		omendb_pagestore_forget_codes(ps);
	}
}

/*
 * The page store, bounded to the nodes cleanup read: a walk over the graph
 * keeps per-node arrays of that size, while inserts may add nodes (and
 * edges to them) beyond it.
 */
typedef struct BoundedStore
{
	OmenPageStore ps;
	int			(*page_neighbors) (OmenGraphStore *store, uint32 node,
								   uint32 *out);
	uint32		nslots;
} BoundedStore;

static int
bounded_neighbors(OmenGraphStore *store, uint32 node, uint32 *out)
{
	BoundedStore *bs = (BoundedStore *) store;
	int			n;
	int			kept = 0;

	/* (the walk asks for every id, a label page's too) */
	if (omendb_is_label_block(bs->ps.meta, omendb_node_block(bs->ps.meta, node)))
		return 0;
	n = bs->page_neighbors(store, node, out);

	for (int i = 0; i < n; i++)
		if (out[i] < bs->nslots)
			out[kept++] = out[i];
	return kept;
}

/*
 * Give every live node that the repair left out of reach of the entry
 * point an in-edge, as the build does: a repair replaces edges to deleted
 * nodes by edges among their neighbours, which need not reach every node
 * that the deleted ones reached.
 */
static void
link_unreachable(Consolidation *c)
{
	BoundedStore bs;
	OmenMetaPageData cur;
	int			nlinked;
	int			nfailed;

	omendb_read_meta(c->index, &cur);
	if (cur.entry_node == OMENDB_INVALID_NODE || cur.entry_node >= c->nread)
		return;
	omendb_pagestore_init(&bs.ps, c->index, c->meta, c->ii->quant, true);
	bs.page_neighbors = bs.ps.store.neighbors;
	bs.ps.store.neighbors = bounded_neighbors;
	bs.nslots = c->nread;
	omendb_connect_unreachable(&bs.ps.store, cur.entry_node, c->nread,
							   c->live_graph, c->meta->build_list_size,
							   &nlinked, &nfailed);
	c->linked = nlinked;
	c->unlinked = nfailed;
}

/*
 * Keep the entry point, repair every node that links to a doomed node,
 * then free the doomed nodes.
 */
static void
consolidate(Consolidation *c, BlockNumber nblocks)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "omendb repair",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	OmenPageStore ps;
	OmenQuery	pivot;
	PageRepair *pr = palloc(sizeof(PageRepair));
	Size		lists = sizeof(uint32) * c->meta->max_degree * c->meta->nodes_per_page;

	pr->old = palloc(lists);
	pr->new = palloc(lists);
	keep_entry_point(c);
	if (c->ii->quant->places_by_vector)
	{
		c->hv = omendb_heap_vectors_begin(c->index);
		c->pivot_vec = palloc(sizeof(float) * c->meta->code_dims);
		c->pivotcxt = AllocSetContextCreate(CurrentMemoryContext,
											"omendb repair pivot",
											ALLOCSET_DEFAULT_SIZES);
	}
	omendb_pagestore_init(&ps, c->index, c->meta, c->ii->quant, true);
	omendb_query_init_code(&pivot, c->ii->quant, NULL);
	c->planned = plan_replacement_edges(c, &ps, &pivot, nblocks,
										max_planned_edges(c), &c->nplanned);
	for (BlockNumber blkno = c->meta->first_node_block; blkno < nblocks; blkno++)
	{
		OMENDB_VACUUM_DELAY_POINT();
		repair_page(c, &ps, &pivot, blkno, pr);
		omendb_pagestore_forget_codes(&ps);
	}
	link_thin_nodes(c, &ps, &pivot);
	if (c->hv != NULL)
	{
		omendb_heap_vectors_end(c->hv);
		c->hv = NULL;
	}
	free_doomed_nodes(c);
	link_unreachable(c);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/* ----------------------------------------------------------------
 *		Node counters
 * ----------------------------------------------------------------
 */

/* Lock the meta page exclusively and read it into *meta. */
static Buffer
lock_meta_page(Relation index, OmenMetaPageData *meta)
{
	Buffer		metabuf = ReadBuffer(index, OMENDB_METAPAGE_BLKNO);

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	omendb_meta_from_page(index, BufferGetPage(metabuf), meta);
	return metabuf;
}

/*
 * Count the nodes of an index whose meta page does not count them all: a
 * meta page that predates the counters, or whose counts were given up, or
 * whose counting a crash cut short.  The counters cover the node pages
 * before counted_until, and every record that changes a node's state
 * counts it if its page is among them (omendb_count_nodes).  So the pages
 * are counted one at a time, in order, each under its share lock, which
 * keeps every node on it as it is, and added to the counts, counted_until
 * moving past it, in one record of the meta page taken while the page is
 * still locked (node page first, meta page last, as always).  Each record
 * leaves the counts exact for the pages they cover, so a crash leaves the
 * rest to the next cleanup; the insert page is the last with nodes, and
 * once it is counted they cover all.  One record a node page, once in an
 * index's life.
 */
static void
count_all_nodes(Relation index, BufferAccessStrategy strategy)
{
	for (;;)
	{
		OmenMetaPageData meta;
		BlockNumber blkno;
		Buffer		buf = InvalidBuffer;
		Buffer		metabuf;
		uint32		ndeleted = 0;
		uint32		nfree = 0;
		OmenPageEdit edit;
		Page		page;
		OmenMetaPage m;

		omendb_read_meta(index, &meta);
		if (omendb_meta_counts_all(&meta))
			return;
		blkno = meta.counted_until;
		if (blkno != 0)
		{
			OMENDB_VACUUM_DELAY_POINT();
			buf = omendb_lock_node_page(index, &meta, blkno, strategy,
										BUFFER_LOCK_SHARE);
		}
		if (BufferIsValid(buf))
		{
			page = BufferGetPage(buf);
			for (OffsetNumber off = FirstOffsetNumber;
				 off <= PageGetMaxOffsetNumber(page); off++)
			{
				uint8		flags = omendb_page_node(index, page, &meta, off)->flags;

				ndeleted += (flags & OMENDB_NODE_DELETED) != 0;
				nfree += (flags & OMENDB_NODE_FREE) != 0;
			}
		}

		metabuf = lock_meta_page(index, &meta);
		if (meta.counted_until == blkno)
		{
			omendb_edit_begin(&edit, index, true);
			page = omendb_edit_page(&edit, metabuf, false);
			omendb_meta_page_add_counters(page, &meta);
			m = OmenPageGetMeta(page);
			if (blkno == 0)
			{
				/* start: nothing counted, and no node page if none exists */
				m->deleted_nodes = 0;
				m->free_nodes = 0;
				m->counted_until = meta.insert_block == InvalidBlockNumber ?
					InvalidBlockNumber : meta.first_node_block;
			}
			else
			{
				m->deleted_nodes += ndeleted;
				m->free_nodes += nfree;
				m->counted_until = blkno >= meta.insert_block ?
					InvalidBlockNumber : blkno + 1;
			}
			omendb_edit_finish(&edit);
		}
		/* else the counts were given up meanwhile: start again */
		UnlockReleaseBuffer(metabuf);
		if (BufferIsValid(buf))
			UnlockReleaseBuffer(buf);
	}
}

/*
 * Record what this cleanup did on the meta page, for omendb_index_stats,
 * in a record of its own.
 */
static void
record_cleanup(Relation index, const Consolidation *c)
{
	OmenMetaPageData meta;
	Buffer		metabuf = lock_meta_page(index, &meta);
	OmenPageEdit edit;
	Page		page;
	OmenMetaPage m;

	if (omendb_meta_page_has_counters(BufferGetPage(metabuf)))
	{
		omendb_edit_begin(&edit, index, true);
		page = omendb_edit_page(&edit, metabuf, false);
		m = OmenPageGetMeta(page);
		if (m->vacuum_cleanups < PG_UINT32_MAX)
			m->vacuum_cleanups++;
		m->vacuum_deleted = c->deleted;
		m->vacuum_freed = c->freed;
		m->vacuum_repaired = c->repaired + c->dropped;
		m->vacuum_linked = c->linked;
		omendb_edit_finish(&edit);
	}
	UnlockReleaseBuffer(metabuf);
}

/*
 * Start a cleanup: a copy of the index parameters, its node counters
 * complete (count_all_nodes).
 */
static void
begin_cleanup(IndexVacuumInfo *info, Consolidation *c)
{
	memset(c, 0, sizeof(Consolidation));
	c->info = info;
	c->index = info->index;
	c->ii = omendb_copy_info(omendb_get_info(c->index));
	c->meta = &c->ii->meta;
	c->wait_ms = OMENDB_SNAPSHOT_WAIT_MS;
	count_all_nodes(c->index, info->strategy);
}

/*
 * Whether the deleted nodes read are the entry point alone, which is
 * never freed and has no edge to a deleted node to repair: its edges to
 * nodes freed earlier were repaired then.
 */
static bool
only_entry_point_doomed(const Consolidation *c)
{
	OmenMetaPageData cur;

	if (c->ndoomed != 1 || c->deleted != 1)
		return false;
	omendb_read_meta(c->index, &cur);
	return c->doomed[0].node == cur.entry_node &&
		c->doomed[0].moved_to == OMENDB_INVALID_NODE;
}

/*
 * Read every node, then, once the backends that may still hold the
 * deleted ones as live have ended, take those out of the graph and free
 * their slots.  Returns whether it freed them.
 */
static bool
free_deleted_nodes(Consolidation *c)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(c->index);

	c->nslots = omendb_node_slots(c->index, c->meta);
	c->doomed_bits = MemoryContextAllocHuge(CurrentMemoryContext,
											sizeof(uint64) * (c->nslots / 64 + 1));
	memset(c->doomed_bits, 0, sizeof(uint64) * (c->nslots / 64 + 1));
	c->live_graph = MemoryContextAllocHuge(CurrentMemoryContext,
										   Max(c->nslots, 1));
	memset(c->live_graph, 0, Max(c->nslots, 1));
	c->maxdoomed = max_doomed_nodes(c->meta, c->nslots);
	omendb_visit_node_pages(c->info, c->meta, nblocks, true, read_node, c);
	find_moved_nodes(c);
	if (only_entry_point_doomed(c))
	{
		c->entry_deleted = 1;
		c->ndoomed = 0;
	}

	if (c->ndoomed > 0 && omendb_wait_for_older_snapshots(c->wait_ms))
	{
		/*
		 * The backends waited for may have put new nodes that link to the
		 * doomed ones on pages they added after we read: repair those too.
		 */
		consolidate(c, RelationGetNumberOfBlocks(c->index));
		return true;
	}
	return false;
}

/* Say what a cleanup did with the deleted nodes, at VACUUM's level. */
static void
report_cleanup(const Consolidation *c, bool freed)
{
	if (c->ndoomed == 0)
		return;
	ereport(c->info->message_level,
			(errmsg("index \"%s\": %s %d of %u deleted nodes",
					RelationGetRelationName(c->index),
					freed ? "freed" : "could not free yet", c->ndoomed,
					c->deleted),
			 freed ?
			 errdetail("%u nodes got new neighbours, %u only lost edges, %zu left with few were re-linked, %d unreachable nodes were linked (%d could not be); %u slots were free before.",
					   c->repaired, c->dropped, c->nthin, c->linked, c->unlinked, c->free) :
			 errdetail("Backends with older snapshots were still running.")));
}

/*
 * Move the nodes of the last node pages into free slots before them,
 * clean up again to free their old slots (omendb_compact.c), and give the
 * pages left empty back.  Not in a parallel VACUUM: the truncation's lock
 * needs a transaction id, which a parallel operation cannot assign, and
 * without it the moves would gain nothing.  Returns whether there was
 * nothing to move or cut.
 */
static bool
compact(IndexVacuumInfo *info)
{
	Consolidation c;
	uint32		moved;
	bool		freed = false;
	BlockNumber cut;
	bool		moves_held;
	bool		cut_held;

	if (IsInParallelMode())
		return false;
	moved = omendb_move_tail_nodes(info, &moves_held);
	if (moved > 0)
	{
		begin_cleanup(info, &c);
		freed = free_deleted_nodes(&c);
		report_cleanup(&c, freed);
	}
	cut = omendb_truncate_empty_tail(info, &cut_held);
	if (moved > 0 || cut > 0)
		ereport(info->message_level,
				(errmsg("index \"%s\": moved %u nodes off its last pages; %u pages truncated",
						RelationGetRelationName(info->index), moved, cut)));
	return moved == 0 && cut == 0 && !moves_held && !cut_held;
}

/*
 * How long renumbering's first cleanup waits for older snapshots: until
 * it frees them, the old slots are deleted nodes on every search's way.
 */
#define RENUMBER_WAIT_MS		60000

/*
 * Lay the live graph nodes out again breadth-first when their layout has
 * drifted far from that order (omendb_renumber.c): move them to appended
 * pages, clean up to free their old slots, move them back into those slots
 * in the same order, clean up again and truncate.  Only if one cleanup can
 * free every old slot, and no older snapshot is held for long right now:
 * the first cleanup then waits longer than others do, since until it frees
 * the old slots, every edge goes through a deleted node.  Not in a
 * parallel VACUUM, for the truncation, as compact.  Returns whether it
 * found nothing to do.
 */
static bool
renumber(IndexVacuumInfo *info)
{
	OmenRenumberPlan plan;
	Consolidation c;
	uint32		out;
	uint32		back = 0;
	bool		freed;
	bool		held = false;
	BlockNumber cut;

	if (IsInParallelMode())
		return true;
	if (!omendb_plan_renumbering(info, vacuum_mem_bytes(), &plan))
	{
		if (plan.nexpanded > 0)
			ereport(info->message_level,
					(errmsg("index \"%s\": a search pins %.2f pages a node it expands, %.2f in breadth-first order: not renumbered",
							RelationGetRelationName(info->index),
							plan.pages_now / plan.nexpanded,
							plan.pages_planned / plan.nexpanded)));
		return true;
	}
	/* (more memory would not change the layout: nothing to retry) */
	if (plan.n >= (uint32) max_doomed_nodes(&plan.meta, plan.nslots + plan.n))
	{
		ereport(info->message_level,
				(errmsg("index \"%s\": not renumbered: one cleanup could not free the old slots of its %u nodes in maintenance_work_mem",
						RelationGetRelationName(info->index), plan.n)));
		pfree(plan.order);
		return true;
	}
	if (!omendb_wait_for_older_snapshots(OMENDB_SNAPSHOT_WAIT_MS))
	{
		ereport(info->message_level,
				(errmsg("index \"%s\": not renumbered: backends with older snapshots were still running",
						RelationGetRelationName(info->index))));
		pfree(plan.order);
		return false;
	}
	out = omendb_move_nodes_to_end(info, &plan);

	begin_cleanup(info, &c);
	c.wait_ms = RENUMBER_WAIT_MS;
	freed = free_deleted_nodes(&c);
	report_cleanup(&c, freed);
	if (freed)
	{
		back = omendb_move_nodes_to_front(info, &plan, &held);
		if (back > 0)
		{
			begin_cleanup(info, &c);
			report_cleanup(&c, free_deleted_nodes(&c));
		}
	}
	cut = omendb_truncate_empty_tail(info, &held);
	ereport(info->message_level,
			(errmsg("index \"%s\": renumbered %u of %u nodes breadth-first; %u pages truncated",
					RelationGetRelationName(info->index), back, out, cut),
			 errdetail("A search pinned %.2f pages a node it expanded, %.2f in the new order.",
					   plan.pages_now / plan.nexpanded,
					   plan.pages_planned / plan.nexpanded)));
	pfree(plan.order);
	return false;
}

/* ----------------------------------------------------------------
 *		Quiet cleanups
 * ----------------------------------------------------------------
 */

/*
 * Whether nothing has changed since a cleanup that found nothing to do:
 * it recorded the node slots then, every record that has since counted a
 * node changing state has cleared that (omendb_meta_count_nodes), and a
 * node put in a new slot would have made more slots.  A cleanup would then
 * read every node to find again what that one found.
 */
static bool
unchanged_since_quiet_cleanup(const OmenMetaPageData *meta, int64 slots)
{
	return meta->quiet_slots != 0 &&
		(int64) meta->quiet_slots == slots + 1 &&
		omendb_meta_counts_all(meta) &&
		!meta->quant_refitting &&
		meta->relink_from == OMENDB_INVALID_NODE;
}

/*
 * Skip the cleanup of an index unchanged since a quiet one, as nbtree
 * skips its cleanup pass when it has no pages to recycle.  The counters
 * give the statistics the pass would have counted.
 */
static IndexBulkDeleteResult *
skip_cleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			 const OmenMetaPageData *meta, int64 slots)
{
	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	stats->num_index_tuples = slots - meta->free_nodes - meta->deleted_nodes;
	stats->estimated_count = false;
	ereport(info->message_level,
			(errmsg("index \"%s\": nothing changed since its last cleanup, which found nothing to do; not read again",
					RelationGetRelationName(info->index))));
	return stats;
}

/*
 * Record on the meta page whether this cleanup was quiet: it found nothing
 * to do (quiet; no deleted node but a deleted entry point, which stays),
 * and the slots, free slots and deleted nodes are still as they were when
 * it began (start, with slots).  Whatever others did while it ran shows
 * there: between cleanups, slots only grow, free slots only shrink and
 * deleted nodes only grow.  Both pages are locked while we look, as
 * writers lock them, so that no change comes between.
 */
static void
record_quiet(Relation index, bool quiet, const OmenMetaPageData *start,
			 int64 slots)
{
	OmenMetaPageData meta;
	Buffer		buf;
	Buffer		metabuf;
	int64		now = omendb_lock_meta_and_slots(index, BUFFER_LOCK_EXCLUSIVE,
												 &meta, &buf, &metabuf);
	uint32		quiet_slots = 0;
	OmenPageEdit edit;

	if (quiet && now == slots && slots < PG_UINT32_MAX &&
		meta.free_nodes == start->free_nodes &&
		meta.deleted_nodes == start->deleted_nodes && meta.deleted_nodes <= 1 &&
		omendb_meta_counts_all(&meta) && omendb_meta_counts_all(start))
		quiet_slots = (uint32) slots + 1;
	/* (a page too old to grow to the field is read with it 0) */
	if (meta.quiet_slots != quiet_slots &&
		omendb_meta_page_can_grow(BufferGetPage(metabuf)))
	{
		omendb_edit_begin(&edit, index, true);
		omendb_meta_set_quiet_slots(omendb_edit_page(&edit, metabuf, false),
									quiet_slots);
		omendb_edit_finish(&edit);
	}
	UnlockReleaseBuffer(metabuf);
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
}

IndexBulkDeleteResult *
omendb_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	Consolidation c;
	OmenFitSurvey survey;
	bool		freed = false;
	OmenMetaPageData start;
	int64		slots;
	bool		quiet;

	if (info->analyze_only)
		return stats;
	slots = omendb_read_meta_and_slots(info->index, &start);
	if (unchanged_since_quiet_cleanup(&start, slots))
		return skip_cleanup(info, stats, &start, slots);
	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));

	begin_cleanup(info, &c);
	stats->num_index_tuples = 0;
	if (!c.meta->quant_trained)
	{
		stats->num_pages = RelationGetNumberOfBlocks(c.index);
		record_cleanup(c.index, &c);
		return stats;
	}

	/* the refit's survey of the codes, in the pass that reads them anyway */
	if (c.meta->quant_sets >= 2 && !c.meta->quant_refitting)
	{
		omendb_fit_survey_init(&survey, c.ii->quant, c.meta);
		c.survey = &survey;
	}
	freed = free_deleted_nodes(&c);
	stats->num_index_tuples = c.live;
	report_cleanup(&c, freed);
	quiet = c.deleted == c.entry_deleted;
	/* (older snapshots that held the freeing up would hold the moves up) */
	if (freed || c.ndoomed == 0)
		quiet &= compact(info);
	else
		quiet = false;
	IndexFreeSpaceMapVacuum(c.index);
	record_cleanup(c.index, &c);
	stats->num_pages = RelationGetNumberOfBlocks(c.index);

	quiet &= omendb_refit(info, c.survey);
	quiet &= renumber(info);
	omendb_record_walk_rate(c.index, true);
	record_quiet(c.index, quiet, &start, slots);
	return stats;
}
