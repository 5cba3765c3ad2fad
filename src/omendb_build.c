/*-------------------------------------------------------------------------
 *
 * omendb_build.c
 *	  CREATE INDEX: learn the quantizer, build the Vamana graph in memory,
 *	  write the pages, WAL-log them wholesale.
 *
 * Two passes over the table.  The first learns each dimension's range (and
 * the centroid, to pick an entry point near the medoid); the second encodes
 * every vector and inserts it into an in-memory graph of codes (the
 * incremental Vamana of FreshDiskANN: greedy search from the entry point,
 * RobustPrune, reverse edges with overflow-then-prune).  The graph holds
 * codes, not floats, so it needs about (code size + 4 * max_degree) bytes
 * a row.  If that exceeds maintenance_work_mem, the nodes that fit are
 * built in memory and written, and the rest are inserted through the
 * buffer cache with the ordinary insert path (a NOTICE says so).
 *
 * Zero vectors under cosine have no direction and stay out of the graph
 * (omendb.h, zero nodes): they take no part in the ranges, the medoid or
 * the graph, and are written as zero nodes after the graph's nodes.
 *
 * Pages are written through shared buffers without WAL and logged at the
 * end with log_newpage_range, like other index builds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>
#include <sys/mman.h>

#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "optimizer/plancat.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "omendb.h"
#include "omendb_metric.h"
#include "omendb_page.h"
#include "omendb_quant.h"

/* The graph under construction. */
typedef struct BuildGraph
{
	OmenGraphSource src;
	int			n;				/* nodes so far */
	int			cap;			/* allocated nodes */
	int			code_size;
	int			max_degree;
	uint8	   *codes;			/* cap * code_size */
	uint32	   *nbrs;			/* cap * max_degree */
	uint16	   *nnbrs;
	ItemPointerData *tids;
	float	   *errors;
	float	   *norms;
	uint32	   *visited;		/* visit epoch per node */
	uint32		epoch;
	const OmenQuantState *quant;
} BuildGraph;

typedef struct BuildState
{
	Relation	index;
	OmenMetric	metric;
	int			dim;			/* 0 until known */
	int			cdim;			/* code dimensions (OmenCodeDims) */
	float		max_norm;		/* largest |x| seen in pass 1 */
	int			degree;
	int			list;			/* build_list_size: what inserts use */
	int			place_list;		/* the list that places a node at build */
	int			refine_list;	/* the list of the refining pass */
	double		alpha;
	OmenQuantizer quantizer;
	MemoryContext tmpcxt;
	float	   *v;				/* scratch: the vector as indexed */

	/* pass 1 */
	double		scanned;		/* heap rows seen, NULLs included */
	double		count;			/* vectors to index in the graph */
	double		nzero;			/* zero vectors under cosine: zero nodes */
	float	   *minv;
	float	   *maxv;
	double	   *sum;

	/* pass 2 */
	OmenMetaPageData meta;
	OmenQuantState *quant;
	BuildGraph	g;
	OmenQuery	query;
	OmenQuery	pivot;
	OmenQuery	centroid;		/* L2 query at the centroid */
	float	   *centroidv;
	uint32		entry;
	float		entry_dist;
	int			memory_limit;	/* nodes that fit maintenance_work_mem */
	Size		node_bytes;		/* what a node costs the build at its peak */
	ItemPointerData *zero_tids; /* zero vectors met, to write as zero nodes
								 * after the graph */
	int			nzero_tids;
	int			capzero_tids;
	bool		on_disk;		/* past the limit: inserting through buffers */
	double		done;
	double		indexed;		/* nodes written, in memory or on disk */
} BuildState;

/* ----------------------------------------------------------------
 *		The in-memory graph as an OmenGraphSource
 * ----------------------------------------------------------------
 */

static int
mem_neighbors(OmenGraphSource *src, uint32 node, uint32 *out)
{
	BuildGraph *g = (BuildGraph *) src;

	memcpy(out, g->nbrs + (Size) node * g->max_degree, sizeof(uint32) * g->nnbrs[node]);
	return g->nnbrs[node];
}

/* How many codes ahead of the one being scored to start fetching. */
#define BUILD_PREFETCH_AHEAD 4

static inline void
prefetch_code(const BuildGraph *g, uint32 node)
{
	const char *code = (const char *) g->codes + (Size) node * g->code_size;

	for (uint32 b = 0; b < g->code_size; b += 64)
		__builtin_prefetch(code + b);
}

static void
mem_score(OmenGraphSource *src, const OmenQuery *query, const uint32 *nodes,
		  int n, float *dists, bool *usable)
{
	BuildGraph *g = (BuildGraph *) src;

	/* codes are read at random: keep a few fetches in flight */
	for (int i = 0; i < Min(n, BUILD_PREFETCH_AHEAD); i++)
		prefetch_code(g, nodes[i]);
	for (int i = 0; i < n; i++)
	{
		if (i + BUILD_PREFETCH_AHEAD < n)
			prefetch_code(g, nodes[i + BUILD_PREFETCH_AHEAD]);
		dists[i] = omendb_code_distance(query, g->codes + (Size) nodes[i] * g->code_size);
		usable[i] = true;
	}
}

static const uint8 *
mem_code(OmenGraphSource *src, uint32 node)
{
	BuildGraph *g = (BuildGraph *) src;

	return g->codes + (Size) node * g->code_size;
}

static bool
mem_visit(OmenGraphSource *src, uint32 node)
{
	BuildGraph *g = (BuildGraph *) src;

	if (g->visited[node] == g->epoch)
		return false;
	g->visited[node] = g->epoch;
	return true;
}

/* Bytes a node takes in the graph arrays (BuildGraph). */
static Size
graph_bytes_per_node(int code_size, int max_degree)
{
	return code_size + sizeof(uint32) * max_degree + sizeof(uint16) +
		sizeof(ItemPointerData) + 3 * sizeof(float) + sizeof(uint32);
}

/*
 * Bytes a node costs a build at its peak, which is while the graph is
 * written: besides the graph arrays, write_nodes holds a new id per node
 * while connect_unreachable holds an in-degree, a queue slot and a mark
 * (breadth_first_order, after it, needs two ids).
 */
static Size
build_bytes_per_node(int code_size, int max_degree)
{
	return graph_bytes_per_node(code_size, max_degree) +
		3 * sizeof(uint32) + sizeof(bool);
}

/*
 * How many nodes the in-memory graph may hold: what maintenance_work_mem
 * pays for, at least one, and few enough that node counts stay ints with
 * room to double.
 */
static int
graph_node_limit(Size per_node)
{
	double		nodes = (double) maintenance_work_mem * 1024.0 / per_node;

	return (int) Max(Min(nodes, (double) (INT_MAX / 2)), 1);
}

/*
 * Ask the kernel to back a large build array with huge pages.  The graph
 * search reads codes and neighbour lists at random all over these arrays;
 * with 4 kB pages nearly every read also misses the TLB.  Only a hint,
 * and it must come before the memory is first touched.
 */
static void
advise_huge_pages(void *p, Size size)
{
#if defined(MADV_HUGEPAGE)
	const uintptr_t huge = 2 * 1024 * 1024;
	uintptr_t	start = TYPEALIGN(huge, (uintptr_t) p);
	uintptr_t	end = TYPEALIGN_DOWN(huge, (uintptr_t) p + size);

	if (end > start)
		(void) madvise((void *) start, end - start, MADV_HUGEPAGE);
#endif
}

/* A build array: from the build's memory context, huge pages if we can. */
static void *
alloc_graph_array(Size size)
{
	void	   *p = MemoryContextAllocHuge(CurrentMemoryContext, size);

	advise_huge_pages(p, size);
	return p;
}

/*
 * repalloc_huge for a build array.  The copied part was touched already, so
 * for it the advice only lets khugepaged collapse it later; the new part
 * gets huge pages as it is first written.
 */
static void *
grow_graph_array(void *p, Size size)
{
	p = repalloc_huge(p, size);
	advise_huge_pages(p, size);
	return p;
}

static void
graph_init(BuildGraph *g, const OmenMetaPageData *meta,
		   const OmenQuantState *quant, int cap)
{
	g->src.neighbors = mem_neighbors;
	g->src.score = mem_score;
	g->src.code = mem_code;
	g->src.visit = mem_visit;
	g->src.max_degree = meta->max_degree;
	g->n = 0;
	g->cap = Max(cap, 16);
	g->code_size = meta->code_size;
	g->max_degree = meta->max_degree;
	g->quant = quant;
	g->codes = alloc_graph_array((Size) g->cap * g->code_size);
	g->nbrs = alloc_graph_array((Size) g->cap * g->max_degree * sizeof(uint32));
	g->nnbrs = alloc_graph_array((Size) g->cap * sizeof(uint16));
	g->tids = alloc_graph_array((Size) g->cap * sizeof(ItemPointerData));
	g->errors = alloc_graph_array((Size) g->cap * sizeof(float));
	g->norms = alloc_graph_array((Size) g->cap * sizeof(float));
	g->visited = alloc_graph_array((Size) g->cap * sizeof(uint32));
	memset(g->visited, 0, (Size) g->cap * sizeof(uint32));
	g->epoch = 0;
}

/*
 * Grow the arrays (the table may have gained rows since pass 1), up to
 * limit nodes.
 */
static void
graph_grow(BuildGraph *g, int limit)
{
	int			cap = g->cap <= limit / 2 ? g->cap * 2 : limit;

	g->codes = grow_graph_array(g->codes, (Size) cap * g->code_size);
	g->nbrs = grow_graph_array(g->nbrs, (Size) cap * g->max_degree * sizeof(uint32));
	g->nnbrs = grow_graph_array(g->nnbrs, (Size) cap * sizeof(uint16));
	g->tids = grow_graph_array(g->tids, (Size) cap * sizeof(ItemPointerData));
	g->errors = grow_graph_array(g->errors, (Size) cap * sizeof(float));
	g->norms = grow_graph_array(g->norms, (Size) cap * sizeof(float));
	g->visited = grow_graph_array(g->visited, (Size) cap * sizeof(uint32));
	memset(g->visited + g->cap, 0, (Size) (cap - g->cap) * sizeof(uint32));
	g->cap = cap;
}

/* Free the arrays: once written, the graph lives on the pages. */
static void
graph_free(BuildGraph *g)
{
	pfree(g->codes);
	pfree(g->nbrs);
	pfree(g->nnbrs);
	pfree(g->tids);
	pfree(g->errors);
	pfree(g->norms);
	pfree(g->visited);
	g->codes = NULL;
	g->nbrs = NULL;
	g->nnbrs = NULL;
	g->tids = NULL;
	g->errors = NULL;
	g->norms = NULL;
	g->visited = NULL;
	g->cap = 0;
}

/*
 * Add the reverse edge j -> p in memory: append while j has spare slots,
 * else re-prune j's neighbours plus p down to R.
 */
static void
graph_add_reverse_edge(BuildState *bs, uint32 j, uint32 p)
{
	BuildGraph *g = &bs->g;
	uint32	   *nj = g->nbrs + (Size) j * g->max_degree;
	int			n = g->nnbrs[j];
	OmenCandidate cands[OMENDB_MAX_GRAPH_DEGREE * 2];
	uint32		pruned[OMENDB_MAX_GRAPH_DEGREE];

	for (int i = 0; i < n; i++)
		if (nj[i] == p)
			return;
	if (n < g->max_degree)
	{
		nj[n] = p;
		g->nnbrs[j] = n + 1;
		return;
	}

	omendb_query_from_code(&bs->pivot, g->codes + (Size) j * g->code_size);
	for (int i = 0; i < n; i++)
	{
		cands[i].node = nj[i];
		cands[i].dist = omendb_code_distance(&bs->pivot, g->codes + (Size) nj[i] * g->code_size);
		cands[i].usable = true;
		cands[i].expanded = false;
	}
	cands[n].node = p;
	cands[n].dist = omendb_code_distance(&bs->pivot, g->codes + (Size) p * g->code_size);
	cands[n].usable = true;
	cands[n].expanded = false;
	n = omendb_robust_prune(&g->src, &bs->pivot, cands, n + 1, j, bs->alpha,
							bs->degree, pruned);
	memcpy(nj, pruned, sizeof(uint32) * n);
	g->nnbrs[j] = n;
}

/* Insert node p (already encoded) into the in-memory graph. */
static void
graph_insert(BuildState *bs, uint32 p, const float *v)
{
	BuildGraph *g = &bs->g;
	OmenCandidate *cands;
	int			ncands;
	uint32	   *np = g->nbrs + (Size) p * g->max_degree;
	int			n;
	float		d;

	g->nnbrs[p] = 0;
	if (p == 0)
	{
		bs->entry = 0;
		bs->entry_dist = omendb_code_distance(&bs->centroid, g->codes);
		return;
	}

	omendb_query_init_code(&bs->query, bs->quant, g->codes + (Size) p * g->code_size);
	g->epoch++;
	g->visited[p] = g->epoch;	/* never a candidate for itself */
	ncands = omendb_greedy_search(&g->src, &bs->query, bs->entry, bs->place_list,
								  &cands);
	n = omendb_robust_prune(&g->src, &bs->pivot, cands, ncands, p, bs->alpha,
							bs->degree, np);
	g->nnbrs[p] = n;
	pfree(cands);

	for (int i = 0; i < n; i++)
		graph_add_reverse_edge(bs, np[i], p);

	/* keep the entry point at the node nearest the centroid */
	d = omendb_code_distance(&bs->centroid, g->codes + (Size) p * g->code_size);
	if (d < bs->entry_dist)
	{
		bs->entry = p;
		bs->entry_dist = d;
	}
}

/*
 * Refine node p against the finished graph: search for it, and re-prune
 * its out-edges with alpha 1 from what the search expanded plus the edges
 * it has; then add the reverse edges, as placing it did.
 */
static void
refine_node(BuildState *bs, uint32 p)
{
	BuildGraph *g = &bs->g;
	uint32	   *np = g->nbrs + (Size) p * g->max_degree;
	int			n = g->nnbrs[p];
	OmenCandidate *expanded;
	OmenCandidate *cands;
	int			nexp;
	int			ncands;

	omendb_query_init_code(&bs->query, bs->quant, g->codes + (Size) p * g->code_size);
	g->epoch++;
	g->visited[p] = g->epoch;
	nexp = omendb_greedy_search(&g->src, &bs->query, bs->entry, bs->refine_list,
								&expanded);

	/* candidates: the expanded set, then current neighbours not in it */
	cands = palloc(sizeof(OmenCandidate) * (nexp + n));
	memcpy(cands, expanded, sizeof(OmenCandidate) * nexp);
	ncands = nexp;
	g->epoch++;
	for (int i = 0; i < nexp; i++)
		g->visited[expanded[i].node] = g->epoch;
	for (int i = 0; i < n; i++)
	{
		if (g->visited[np[i]] == g->epoch)
			continue;
		cands[ncands].node = np[i];
		cands[ncands].dist = omendb_code_distance(&bs->query,
												  g->codes + (Size) np[i] * g->code_size);
		cands[ncands].usable = true;
		cands[ncands].expanded = false;
		ncands++;
	}

	n = omendb_robust_prune(&g->src, &bs->pivot, cands, ncands, p,
							OMENDB_REFINE_ALPHA, bs->degree, np);
	g->nnbrs[p] = n;
	for (int i = 0; i < n; i++)
		graph_add_reverse_edge(bs, np[i], p);
}

/*
 * The refining pass over the in-memory graph (Vamana's second pass,
 * Algorithm 3 of the paper).  Placing a node saw the graph as it was then;
 * this pass sees all of it.  On clustered data it buys much recall at the
 * same search list; on Fashion-MNIST it is level (README.omendb, "Build").
 */
static void
graph_refine(BuildState *bs)
{
	BuildGraph *g = &bs->g;
	MemoryContext nodecxt;

	/* what refining a node allocates is freed after each node */
	nodecxt = AllocSetContextCreate(CurrentMemoryContext, "omendb refine node",
									ALLOCSET_DEFAULT_SIZES);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_REFINE);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, (int64) g->n);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, 0);
	for (uint32 p = 0; p < g->n; p++)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(nodecxt);

		refine_node(bs, p);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(nodecxt);
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) p + 1);
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextDelete(nodecxt);
}

static void spill_to_disk(BuildState *bs);

/* ----------------------------------------------------------------
 *		Table scans
 * ----------------------------------------------------------------
 */

/* Check the dimension of a heap vector; learn it from the first one. */
static void
check_build_dim(BuildState *bs, Vector *vec)
{
	if (bs->dim == 0)
	{
		bs->dim = vec->dim;
		bs->cdim = OmenCodeDims(bs->metric, bs->dim);
		return;
	}
	if (vec->dim != bs->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", bs->dim, vec->dim)));
}

static void
alloc_ranges(BuildState *bs)
{
	bs->minv = palloc(sizeof(float) * bs->cdim);
	bs->maxv = palloc(sizeof(float) * bs->cdim);
	bs->sum = palloc0(sizeof(double) * bs->cdim);
	bs->v = palloc(sizeof(float) * bs->cdim);
	for (int i = 0; i < bs->cdim; i++)
	{
		bs->minv[i] = FLT_MAX;
		bs->maxv[i] = -FLT_MAX;
	}
}

/* Pass 1: ranges, centroid and count. */
static void
range_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	BuildState *bs = state;
	MemoryContext oldcxt;
	Vector	   *vec;
	float		norm;

	bs->scanned++;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->scanned);
	if (isnull[0])
		return;
	oldcxt = MemoryContextSwitchTo(bs->tmpcxt);
	vec = DatumGetVector(values[0]);
	check_build_dim(bs, vec);
	MemoryContextSwitchTo(oldcxt);
	if (bs->minv == NULL)
		alloc_ranges(bs);

	/* (the transform's extra dimension is filled in by train()) */
	if (omendb_prepare_vector(bs->metric, vec->x, bs->dim, 0, bs->v, &norm))
	{
		omendb_check_ip_norm(bs->index, bs->metric, norm);
		bs->max_norm = Max(bs->max_norm, norm);
		for (int i = 0; i < bs->cdim; i++)
		{
			bs->minv[i] = Min(bs->minv[i], bs->v[i]);
			bs->maxv[i] = Max(bs->maxv[i], bs->v[i]);
			bs->sum[i] += bs->v[i];
		}
		bs->count++;
	}
	else
		bs->nzero++;
	MemoryContextReset(bs->tmpcxt);
}

/* Encode the vector in bs->v as a new node of the in-memory graph. */
static void
graph_add(BuildState *bs, ItemPointer tid, float norm)
{
	BuildGraph *g = &bs->g;
	uint32		p;

	if (g->n == g->cap)
		graph_grow(g, bs->memory_limit);
	p = g->n++;
	g->tids[p] = *tid;
	g->norms[p] = norm;
	g->errors[p] = omendb_quant_encode(bs->quant, bs->v, g->codes + (Size) p * g->code_size);
	graph_insert(bs, p, bs->v);
}

/* Keep a zero vector's heap TID, to be written as a zero node. */
static void
add_zero_node(BuildState *bs, ItemPointer tid)
{
	if (bs->nzero_tids == bs->capzero_tids)
	{
		bs->capzero_tids = Max(bs->capzero_tids * 2, 64);
		if (bs->zero_tids == NULL)
			bs->zero_tids = MemoryContextAllocHuge(CurrentMemoryContext,
												   (Size) bs->capzero_tids * sizeof(ItemPointerData));
		else
			bs->zero_tids = repalloc_huge(bs->zero_tids,
										  (Size) bs->capzero_tids * sizeof(ItemPointerData));
	}
	bs->zero_tids[bs->nzero_tids++] = *tid;
}

/*
 * What the build holds in memory, in nodes: the graph, and the heap TIDs of
 * the zero nodes waiting to be written (one node's worth of memory holds
 * many of them).
 */
static bool
memory_full(BuildState *bs)
{
	double		zero_bytes = (double) bs->capzero_tids * sizeof(ItemPointerData);

	return bs->g.n + zero_bytes / bs->node_bytes >= bs->memory_limit;
}

/* Pass 2: encode and insert. */
static void
graph_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	BuildState *bs = state;
	MemoryContext oldcxt;
	Vector	   *vec;
	float		norm;

	if (isnull[0])
		return;
	if (!bs->on_disk && memory_full(bs))
		spill_to_disk(bs);

	oldcxt = MemoryContextSwitchTo(bs->tmpcxt);
	vec = DatumGetVector(values[0]);
	check_build_dim(bs, vec);
	if (omendb_prepare_vector(bs->metric, vec->x, bs->dim,
							  bs->meta.ip_max_norm, bs->v, &norm))
	{
		/* (a row that came after pass 1 may be new) */
		omendb_check_ip_norm(bs->index, bs->metric, norm);
		if (bs->on_disk)
			omendb_insert_vector(index, vec->x, vec->dim, tid, false);
		else
			graph_add(bs, tid, norm);
	}
	else if (bs->on_disk)
		omendb_insert_vector(index, vec->x, vec->dim, tid, false);
	else
	{
		/* (the array outlives the row's context) */
		MemoryContextSwitchTo(oldcxt);
		add_zero_node(bs, tid);
	}
	bs->indexed++;
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(bs->tmpcxt);

	bs->done++;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->done);
}

/* ----------------------------------------------------------------
 *		Writing pages
 * ----------------------------------------------------------------
 */

static Buffer
new_buffer(Relation index, ForkNumber fork)
{
	Buffer		buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	return buf;
}

/* Write (or rewrite) the meta page image into block 0 of a fork. */
static void
write_meta(Relation index, ForkNumber fork, const OmenMetaPageData *meta,
		   bool use_wal)
{
	Buffer		buf;
	OmenPageEdit edit;
	bool		isnew = RelationGetNumberOfBlocksInFork(index, fork) == 0;

	if (isnew)
		buf = new_buffer(index, fork);
	else
	{
		buf = ReadBufferExtended(index, fork, OMENDB_METAPAGE_BLKNO, RBM_NORMAL, NULL);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	}
	omendb_edit_begin(&edit, index, use_wal);
	omendb_write_meta_page(omendb_edit_page(&edit, buf, true), meta);
	omendb_edit_finish(&edit);
	UnlockReleaseBuffer(buf);
}

/*
 * Number the nodes in breadth-first order from the entry point, so that a
 * node and its neighbours tend to share pages: a search then pins fewer
 * pages and misses the CPU cache less.  Nodes the traversal does not reach
 * (there should be none) keep their relative order at the end.  Returns
 * order[new id] = build id, and fills newid[build id] = new id.
 */
static uint32 *
breadth_first_order(BuildGraph *g, uint32 entry, uint32 *newid)
{
	uint32	   *order = MemoryContextAllocHuge(CurrentMemoryContext, (Size) g->n * sizeof(uint32));
	int			head = 0;
	int			tail = 0;

	for (int p = 0; p < g->n; p++)
		newid[p] = OMENDB_INVALID_NODE;
	for (int start = -1; start < g->n; start++)
	{
		uint32		root = start < 0 ? entry : (uint32) start;

		if (newid[root] != OMENDB_INVALID_NODE)
			continue;
		newid[root] = tail;
		order[tail++] = root;
		while (head < tail)
		{
			uint32		u = order[head++];
			uint32	   *nu = g->nbrs + (Size) u * g->max_degree;

			for (int i = 0; i < g->nnbrs[u]; i++)
			{
				if (newid[nu[i]] != OMENDB_INVALID_NODE)
					continue;
				newid[nu[i]] = tail;
				order[tail++] = nu[i];
			}
		}
	}
	Assert(tail == g->n);
	return order;
}

/* Mark everything reachable from root that is not marked yet. */
static void
mark_reachable(BuildGraph *g, uint32 root, bool *reached, uint32 *queue)
{
	int			head = 0;
	int			tail = 0;

	if (reached[root])
		return;
	reached[root] = true;
	queue[tail++] = root;
	while (head < tail)
	{
		uint32		u = queue[head++];
		uint32	   *nu = g->nbrs + (Size) u * g->max_degree;

		for (int i = 0; i < g->nnbrs[u]; i++)
		{
			if (reached[nu[i]])
				continue;
			reached[nu[i]] = true;
			queue[tail++] = nu[i];
		}
	}
}

/*
 * Give node p an in-edge from the nearest node a search from the entry
 * point finds (so from a reachable node): appended if it has a spare slot
 * (max_degree exceeds R for this), else in place of an edge to a node with
 * other in-edges.  Returns false if no such edge could be found.
 */
static bool
link_from_nearest(BuildState *bs, uint32 p, uint32 *indeg)
{
	BuildGraph *g = &bs->g;
	OmenCandidate *cands;
	int			ncands;
	bool		linked = false;

	omendb_query_init_code(&bs->query, bs->quant, g->codes + (Size) p * g->code_size);
	g->epoch++;
	g->visited[p] = g->epoch;
	ncands = omendb_greedy_search(&g->src, &bs->query, bs->entry, bs->list, &cands);

	for (int i = 0; i < ncands && !linked; i++)
	{
		uint32		j = cands[i].node;

		if (g->nnbrs[j] < g->max_degree)
		{
			g->nbrs[(Size) j * g->max_degree + g->nnbrs[j]++] = p;
			linked = true;
		}
	}
	for (int i = 0; i < ncands && !linked; i++)
	{
		uint32	   *nj = g->nbrs + (Size) cands[i].node * g->max_degree;

		for (int k = g->nnbrs[cands[i].node] - 1; k >= 0 && !linked; k--)
		{
			if (indeg[nj[k]] > 1)
			{
				indeg[nj[k]]--;
				nj[k] = p;
				linked = true;
			}
		}
	}
	if (linked)
		indeg[p]++;
	pfree(cands);
	return linked;
}

/*
 * Pruning can leave nodes, or whole groups of them, that no path from the
 * entry point reaches, so that no search finds them.  Walk the graph from
 * the entry point; link each node not reached from its nearest reached
 * node, and count everything it reaches as reached.  Nodes are visited in
 * build order, so a group cut off together is joined by its first member.
 */
static void
connect_unreachable(BuildState *bs)
{
	BuildGraph *g = &bs->g;
	Size		n = g->n;
	uint32	   *indeg = MemoryContextAllocHuge(CurrentMemoryContext, n * sizeof(uint32));
	uint32	   *queue = MemoryContextAllocHuge(CurrentMemoryContext, n * sizeof(uint32));
	bool	   *reached = MemoryContextAllocHuge(CurrentMemoryContext, n * sizeof(bool));
	int			nlinked = 0;
	int			nfailed = 0;

	memset(indeg, 0, n * sizeof(uint32));
	memset(reached, 0, n * sizeof(bool));
	for (Size p = 0; p < n; p++)
		for (int i = 0; i < g->nnbrs[p]; i++)
			indeg[g->nbrs[p * g->max_degree + i]]++;

	mark_reachable(g, bs->entry, reached, queue);
	for (Size p = 0; p < n; p++)
	{
		if (reached[p])
			continue;
		if (link_from_nearest(bs, (uint32) p, indeg))
		{
			nlinked++;
			mark_reachable(g, (uint32) p, reached, queue);
		}
		else
			nfailed++;
		CHECK_FOR_INTERRUPTS();
	}
	elog(DEBUG1, "omendb build of \"%s\": %d unreachable nodes linked, %d left unlinked",
		 RelationGetRelationName(bs->index), nlinked, nfailed);
	pfree(indeg);
	pfree(queue);
	pfree(reached);
}

/* Fill image with graph node p, its neighbours renumbered by newid. */
static void
graph_node_image(BuildState *bs, uint32 p, const uint32 *newid, char *image)
{
	BuildGraph *g = &bs->g;
	OmenMetaPageData *meta = &bs->meta;
	OmenNodeHeader hdr = (OmenNodeHeader) image;
	uint32	   *src = g->nbrs + (Size) p * g->max_degree;
	uint32	   *dst = OmenNodeNeighbors(hdr);

	memset(image, 0, meta->node_size);
	hdr->heaptid = g->tids[p];
	hdr->flags = OMENDB_NODE_LIVE;
	hdr->nneighbors = g->nnbrs[p];
	hdr->error = g->errors[p];
	hdr->norm = g->norms[p];
	for (int i = 0; i < g->nnbrs[p]; i++)
		dst[i] = newid[src[i]];
	memcpy(OmenNodeCode(hdr, meta->max_degree), g->codes + (Size) p * g->code_size,
		   g->code_size);
}

/*
 * Write all in-memory nodes to node pages: the graph's in breadth-first
 * order, then the zero nodes.
 */
static void
write_nodes(BuildState *bs)
{
	BuildGraph *g = &bs->g;
	OmenMetaPageData *meta = &bs->meta;
	char	   *image = palloc0(meta->node_size);
	Buffer		buf = InvalidBuffer;
	Page		page = NULL;
	uint32	   *newid = MemoryContextAllocHuge(CurrentMemoryContext, (Size) Max(g->n, 1) * sizeof(uint32));
	uint32	   *order;
	int			total = g->n + bs->nzero_tids;

	if (g->n > 0)
		connect_unreachable(bs);
	order = g->n > 0 ? breadth_first_order(g, bs->entry, newid) : NULL;

	for (int k = 0; k < total; k++)
	{
		OffsetNumber off;

		if (k % meta->nodes_per_page == 0)
		{
			if (BufferIsValid(buf))
			{
				MarkBufferDirty(buf);
				UnlockReleaseBuffer(buf);
			}
			buf = new_buffer(bs->index, MAIN_FORKNUM);
			Assert(BufferGetBlockNumber(buf) == omendb_node_block(meta, k));
			page = BufferGetPage(buf);
			omendb_init_page(page, OMENDB_PAGE_NODE);
		}
		if (k < g->n)
			graph_node_image(bs, order[k], newid, image);
		else
			omendb_fill_zero_node(image, meta, &bs->zero_tids[k - g->n]);
		off = PageAddItem(page, (Item) image, meta->node_size, InvalidOffsetNumber,
						  false, false);
		if (off != omendb_node_offset(meta, k))
			elog(ERROR, "omendb: failed to add node %d to index \"%s\"",
				 k, RelationGetRelationName(bs->index));
		CHECK_FOR_INTERRUPTS();
	}
	if (BufferIsValid(buf))
	{
		meta->insert_block = BufferGetBlockNumber(buf);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
	meta->entry_node = g->n > 0 ? newid[bs->entry] : OMENDB_INVALID_NODE;
	pfree(image);
	pfree(newid);
	if (order)
		pfree(order);
	if (bs->zero_tids)
		pfree(bs->zero_tids);
	bs->zero_tids = NULL;
	bs->nzero_tids = bs->capzero_tids = 0;
}

/* ----------------------------------------------------------------
 *		ambuild
 * ----------------------------------------------------------------
 */

/*
 * The dimension of the indexed column, from its typmod.  A column without
 * one is refused, as pgvector refuses it: the index would have to take its
 * dimension from the first vector it indexes, and keep it even if that
 * vector's transaction rolled back.
 */
static int
column_dimensions(Relation index)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(index), 0);

	if (att->atttypmod <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("column \"%s\" of index \"%s\" has no dimensions",
						NameStr(att->attname), RelationGetRelationName(index)),
				 errdetail("omendb indexes vectors of a fixed dimension."),
				 errhint("Declare the column as vector(n), or index an expression that casts it, as in (embedding::vector(n)).")));
	return att->atttypmod;
}

static void
init_build_state(BuildState *bs, Relation index)
{
	memset(bs, 0, sizeof(BuildState));
	bs->index = index;
	bs->metric = omendb_index_metric(index);
	bs->dim = column_dimensions(index);
	bs->cdim = OmenCodeDims(bs->metric, bs->dim);
	omendb_option_values(index, &bs->degree, &bs->list, &bs->alpha, &bs->quantizer);
	bs->place_list = Max(bs->list * 3 / 8, OMENDB_MIN_BUILD_LIST);
	bs->refine_list = Max(bs->list / 2, OMENDB_MIN_BUILD_LIST);
	bs->tmpcxt = AllocSetContextCreate(CurrentMemoryContext, "omendb build tuple",
									   ALLOCSET_DEFAULT_SIZES);
}

/*
 * Raise the error the first insert would, now: a node of the column's
 * dimension must fit a page.
 */
static void
check_node_fits(BuildState *bs)
{
	OmenMetaPageData layout;

	omendb_fill_meta(&layout, bs->dim, bs->metric, bs->degree, bs->list,
					 bs->alpha, bs->quantizer, 0);
}

/*
 * Learn the quantizer and entry-point target from pass 1.  A cosine table
 * of zero vectors alone gives no ranges: it gets [-1, 1], where every unit
 * vector lies, as an index built empty does from a zero first vector.
 */
static void
train(BuildState *bs)
{
	if (bs->metric == OMENDB_METRIC_IP)
	{
		/* the transform's dimension spans [0, M] */
		bs->minv[bs->dim] = 0;
		bs->maxv[bs->dim] = bs->max_norm;
	}
	if (bs->count == 0)
	{
		Assert(bs->metric == OMENDB_METRIC_COSINE);
		for (int i = 0; i < bs->cdim; i++)
		{
			bs->minv[i] = -1;
			bs->maxv[i] = 1;
		}
	}
	bs->quant = omendb_quant_train(bs->quantizer, bs->cdim, bs->minv, bs->maxv);
	bs->centroidv = palloc(sizeof(float) * bs->cdim);
	for (int i = 0; i < bs->cdim; i++)
		bs->centroidv[i] = bs->count > 0 ? (float) (bs->sum[i] / bs->count) : 0;
	omendb_query_init(&bs->centroid, bs->quant, OMENDB_METRIC_L2, bs->centroidv, bs->cdim,
					  false);
	omendb_query_init_code(&bs->pivot, bs->quant, NULL);
}

/* Refine the in-memory graph and write it, with the meta page. */
static void
refine_and_write(BuildState *bs)
{
	graph_refine(bs);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_WRITE);
	write_nodes(bs);
	write_meta(bs->index, MAIN_FORKNUM, &bs->meta, false);
	graph_free(&bs->g);
}

/*
 * Stop building in memory: write what we have, then let the rest of the
 * scan insert through the buffer cache.
 */
static void
spill_to_disk(BuildState *bs)
{
	ereport(NOTICE,
			(errmsg("omendb graph no longer fits in maintenance_work_mem after %d nodes",
					bs->g.n + bs->nzero_tids),
			 errdetail("The remaining rows are inserted through the buffer cache, which is slower."),
			 errhint("Increase maintenance_work_mem to build faster (about %zu kB per 1000 rows).",
					 (build_bytes_per_node(bs->meta.code_size, bs->meta.max_degree) * 1000 + 1023) / 1024)));
	refine_and_write(bs);
	omendb_invalidate_info(bs->index);
	bs->on_disk = true;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_LOAD);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, (int64) (bs->count + bs->nzero));
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->done);
}

/* The planner's estimate of the table's rows: pass 1's progress total. */
static double
estimate_heap_rows(Relation heap)
{
	BlockNumber pages;
	double		tuples;
	double		allvisfrac;

	estimate_rel_size(heap, NULL, &pages, &tuples, &allvisfrac);
	return tuples;
}

IndexBuildResult *
omendb_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	BuildState	bs;
	BlockNumber nblocks;
	double		heap_rows;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data",
			 RelationGetRelationName(index));

	init_build_state(&bs, index);

	/* pass 1: ranges */
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_SCAN);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) estimate_heap_rows(heap));
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, 0);
	heap_rows = table_index_build_scan(heap, index, indexInfo, true, true,
									   range_callback, &bs, NULL);

	if (bs.count + bs.nzero == 0)
	{
		/* empty: the first insert will learn the quantizer */
		if (bs.dim > 0)
			check_node_fits(&bs);
		omendb_fill_meta(&bs.meta, 0, bs.metric, bs.degree, bs.list, bs.alpha,
						 bs.quantizer, 0);
		bs.meta.dimensions = bs.dim;
		write_meta(index, MAIN_FORKNUM, &bs.meta, false);
	}
	else
	{
		omendb_fill_meta(&bs.meta, bs.dim, bs.metric, bs.degree, bs.list,
						 bs.alpha, bs.quantizer, bs.max_norm);
		bs.meta.quant_trained = true;
		train(&bs);

		/* meta page and quantizer pages come first */
		write_meta(index, MAIN_FORKNUM, &bs.meta, false);
		omendb_write_quant_pages(index, bs.quant, OMENDB_FIRST_QUANT_BLKNO,
								 MAIN_FORKNUM, false);

		bs.node_bytes = build_bytes_per_node(bs.meta.code_size, bs.meta.max_degree);
		bs.memory_limit = graph_node_limit(bs.node_bytes);
		graph_init(&bs.g, &bs.meta, bs.quant,
				   Min(bs.memory_limit, (int) Min(bs.count * 1.05 + 16, INT_MAX / 2)));

		/* pass 2: the graph */
		pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_LOAD);
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, (int64) (bs.count + bs.nzero));
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, 0);
		heap_rows = table_index_build_scan(heap, index, indexInfo, true, true,
										   graph_callback, &bs, NULL);

		if (!bs.on_disk)
			refine_and_write(&bs);
	}

	nblocks = RelationGetNumberOfBlocks(index);
	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0, nblocks, true);
	omendb_invalidate_info(index);

	/* the table's rows (NULLs too), as the last scan counted them */
	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = heap_rows;
	result->index_tuples = bs.indexed;
	MemoryContextDelete(bs.tmpcxt);
	return result;
}

/*
 * ambuildempty: the init fork of an unlogged index, an empty meta page,
 * written and WAL-logged so that it survives to replace the main fork
 * after a crash.
 */
void
omendb_buildempty(Relation index)
{
	OmenMetaPageData meta;
	int			typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;
	int			degree;
	int			list;
	double		alpha;
	OmenQuantizer quantizer;

	omendb_option_values(index, &degree, &list, &alpha, &quantizer);
	omendb_fill_meta(&meta, 0, omendb_index_metric(index), degree, list, alpha,
					 quantizer, 0);
	meta.dimensions = typmod > 0 ? typmod : 0;
	/* generic xlog skips unlogged relations: log the init fork by hand */
	write_meta(index, INIT_FORKNUM, &meta, false);
	log_newpage_range(index, INIT_FORKNUM, 0, 1, true);
}

char *
omendb_build_phase_name(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case OMENDB_PHASE_SCAN:
			return "learning quantizer ranges";
		case OMENDB_PHASE_LOAD:
			return "building graph";
		case OMENDB_PHASE_REFINE:
			return "refining graph";
		case OMENDB_PHASE_WRITE:
			return "writing index pages";
	}
	return NULL;
}
