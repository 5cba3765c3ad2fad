/*-------------------------------------------------------------------------
 *
 * omendb_memstore.c
 *	  The graph store of a build: the graph of codes in memory arrays.
 *
 * Node p's code, neighbours and heap TID sit at index p of flat arrays;
 * the visited set is an epoch per node, so that starting a search costs
 * one increment.  While one backend builds, the locking hooks are unset,
 * and writes always succeed.
 *
 * A parallel build lays the same arrays out in its dynamic shared memory
 * (omendb_memstore_attach), each participant with a view of them and a
 * visited set of its own.  Neighbour lists are then read and written
 * under striped LWLocks; codes, TIDs and the rest of a node are written
 * once, by the participant that placed it, before any edge leads to it,
 * and only read after.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>

#include "storage/lwlock.h"
#include "utils/memutils.h"

#include "omendb_graph.h"
#include "omendb_quant.h"

/* How many codes ahead of the one being scored to start fetching. */
#define PREFETCH_AHEAD 4

static inline void
lock_node(OmenGraphStore *store, uint32 node, bool exclusive)
{
	if (store->lock_node)
		store->lock_node(store, node, exclusive);
}

static inline void
unlock_node(OmenGraphStore *store, uint32 node)
{
	if (store->unlock_node)
		store->unlock_node(store, node);
}

/* The locking hooks of a shared store: one LWLock per stripe of nodes. */
static void
mem_lock_node(OmenGraphStore *store, uint32 node, bool exclusive)
{
	OmenMemStore *g = (OmenMemStore *) store;

	LWLockAcquire(&g->locks[node & g->lock_mask],
				  exclusive ? LW_EXCLUSIVE : LW_SHARED);
}

static void
mem_unlock_node(OmenGraphStore *store, uint32 node)
{
	OmenMemStore *g = (OmenMemStore *) store;

	LWLockRelease(&g->locks[node & g->lock_mask]);
}

static int
mem_neighbors(OmenGraphStore *store, uint32 node, uint32 *out)
{
	OmenMemStore *g = (OmenMemStore *) store;
	int			n;

	lock_node(store, node, false);
	n = g->nnbrs[node];
	memcpy(out, OmenMemStoreNeighbors(g, node), sizeof(uint32) * n);
	unlock_node(store, node);
	return n;
}

static inline void
prefetch_code(const OmenMemStore *g, uint32 node)
{
	const char *code = (const char *) OmenMemStoreCode(g, node);

	for (uint32 b = 0; b < g->code_size; b += 64)
		__builtin_prefetch(code + b);
}

static void
mem_score(OmenGraphStore *store, const OmenQuery *query, const uint32 *nodes,
		  int n, float *dists, bool *usable)
{
	OmenMemStore *g = (OmenMemStore *) store;

	/* codes are read at random: keep a few fetches in flight */
	for (int i = 0; i < Min(n, PREFETCH_AHEAD); i++)
		prefetch_code(g, nodes[i]);
	for (int i = 0; i < n; i++)
	{
		if (i + PREFETCH_AHEAD < n)
			prefetch_code(g, nodes[i + PREFETCH_AHEAD]);
		dists[i] = omendb_code_distance(query, OmenMemStoreCode(g, nodes[i]));
		usable[i] = true;
	}
}

static const uint8 *
mem_code(OmenGraphStore *store, uint32 node)
{
	return OmenMemStoreCode((OmenMemStore *) store, node);
}

static void
mem_forget_visited(OmenGraphStore *store)
{
	((OmenMemStore *) store)->epoch++;
}

static int
mem_visit(OmenGraphStore *store, const uint32 *nodes, int n, uint32 *fresh)
{
	OmenMemStore *g = (OmenMemStore *) store;
	int			nfresh = 0;

	for (int i = 0; i < n; i++)
	{
		if (g->visited[nodes[i]] == g->epoch)
			continue;
		g->visited[nodes[i]] = g->epoch;
		fresh[nfresh++] = nodes[i];
	}
	return nfresh;
}

static bool
mem_append_neighbor(OmenGraphStore *store, uint32 node, uint32 nbr)
{
	OmenMemStore *g = (OmenMemStore *) store;
	uint32	   *nbrs = OmenMemStoreNeighbors(g, node);
	bool		done = false;
	int			n;

	lock_node(store, node, true);
	n = g->nnbrs[node];
	for (int i = 0; i < n; i++)
		done |= (nbrs[i] == nbr);
	if (!done && n < g->max_degree)
	{
		nbrs[n] = nbr;
		g->nnbrs[node] = n + 1;
		done = true;
	}
	unlock_node(store, node);
	return done;
}

static bool
mem_replace_neighbors(OmenGraphStore *store, uint32 node, const uint32 *old,
					  int nold, const uint32 *new, int nnew)
{
	OmenMemStore *g = (OmenMemStore *) store;
	uint32	   *nbrs = OmenMemStoreNeighbors(g, node);
	bool		done = false;

	lock_node(store, node, true);
	if (g->nnbrs[node] == nold &&
		memcmp(nbrs, old, sizeof(uint32) * nold) == 0)
	{
		memcpy(nbrs, new, sizeof(uint32) * nnew);
		g->nnbrs[node] = nnew;
		done = true;
	}
	unlock_node(store, node);
	return done;
}

static const OmenGraphStore mem_store = {
	.neighbors = mem_neighbors,
	.score = mem_score,
	.code = mem_code,
	.forget_visited = mem_forget_visited,
	.visit = mem_visit,
	.append_neighbor = mem_append_neighbor,
	.replace_neighbors = mem_replace_neighbors,
};

/* Bytes a node of the index's layout takes in the store's arrays. */
Size
omendb_memstore_bytes_per_node(const OmenMetaPageData *meta)
{
	return meta->code_size + sizeof(uint32) * meta->max_degree + sizeof(uint16) +
		sizeof(ItemPointerData) + 3 * sizeof(float) + sizeof(uint32) +
		OmenEntrySize(meta) + meta->value_size;
}

/*
 * Ask the kernel to back a large array with huge pages.  The graph search
 * reads codes and neighbour lists at random all over these arrays; with
 * 4 kB pages nearly every read also misses the TLB.  Only a hint, and it
 * must come before the memory is first touched.
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

/* An array: from the current memory context, huge pages if we can. */
static void *
alloc_array(Size size)
{
	void	   *p = MemoryContextAllocHuge(CurrentMemoryContext, size);

	advise_huge_pages(p, size);
	return p;
}

/*
 * repalloc_huge for an array.  The copied part was touched already, so for
 * it the advice only lets khugepaged collapse it later; the new part gets
 * huge pages as it is first written.
 */
static void *
grow_array(void *p, Size size)
{
	p = repalloc_huge(p, size);
	advise_huge_pages(p, size);
	return p;
}

/* An empty graph with room for cap nodes of the index's layout. */
void
omendb_memstore_init(OmenMemStore *g, const OmenMetaPageData *meta,
					 const OmenQuantState *quant, int cap)
{
	g->store = mem_store;
	g->store.quant = quant;
	g->store.max_degree = meta->max_degree;
	g->n = 0;
	g->cap = Max(cap, 16);
	g->code_size = meta->code_size;
	g->max_degree = meta->max_degree;
	g->codes = alloc_array((Size) g->cap * g->code_size);
	g->nbrs = alloc_array((Size) g->cap * g->max_degree * sizeof(uint32));
	g->nnbrs = alloc_array((Size) g->cap * sizeof(uint16));
	g->tids = alloc_array((Size) g->cap * sizeof(ItemPointerData));
	g->errors = alloc_array((Size) g->cap * sizeof(float));
	g->norms = alloc_array((Size) g->cap * sizeof(float));
	g->visited = alloc_array((Size) g->cap * sizeof(uint32));
	memset(g->visited, 0, (Size) g->cap * sizeof(uint32));
	g->epoch = 0;
	g->shared = false;
	g->locks = NULL;
	g->lock_mask = 0;
	g->label_words = OmenEntrySize(meta) / sizeof(uint64);
	g->labels = NULL;
	if (g->label_words > 0)
		g->labels = alloc_array((Size) g->cap * g->label_words * sizeof(uint64));
	g->value_size = meta->value_size;
	g->values = NULL;
	if (g->value_size > 0)
		g->values = alloc_array((Size) g->cap * g->value_size);
}

/*
 * Grow the arrays (the table may have gained rows since pass 1), up to
 * limit nodes.
 */
void
omendb_memstore_grow(OmenMemStore *g, int limit)
{
	int			cap = g->cap <= limit / 2 ? g->cap * 2 : limit;

	g->codes = grow_array(g->codes, (Size) cap * g->code_size);
	g->nbrs = grow_array(g->nbrs, (Size) cap * g->max_degree * sizeof(uint32));
	g->nnbrs = grow_array(g->nnbrs, (Size) cap * sizeof(uint16));
	g->tids = grow_array(g->tids, (Size) cap * sizeof(ItemPointerData));
	g->errors = grow_array(g->errors, (Size) cap * sizeof(float));
	g->norms = grow_array(g->norms, (Size) cap * sizeof(float));
	g->visited = grow_array(g->visited, (Size) cap * sizeof(uint32));
	memset(g->visited + g->cap, 0, (Size) (cap - g->cap) * sizeof(uint32));
	if (g->label_words > 0)
		g->labels = grow_array(g->labels, (Size) cap * g->label_words * sizeof(uint64));
	if (g->value_size > 0)
		g->values = grow_array(g->values, (Size) cap * g->value_size);
	g->cap = cap;
}

/* Free the arrays: once written, the graph lives on the pages. */
void
omendb_memstore_free(OmenMemStore *g)
{
	if (g->shared)
	{
		/* the rest belongs to the parallel build's shared memory */
		if (g->visited)
			pfree(g->visited);
		g->visited = NULL;
		return;
	}
	pfree(g->codes);
	pfree(g->nbrs);
	pfree(g->nnbrs);
	pfree(g->tids);
	pfree(g->errors);
	pfree(g->norms);
	pfree(g->visited);
	if (g->labels)
		pfree(g->labels);
	if (g->values)
		pfree(g->values);
	g->labels = NULL;
	g->values = NULL;
	g->codes = NULL;
	g->nbrs = NULL;
	g->nnbrs = NULL;
	g->tids = NULL;
	g->errors = NULL;
	g->norms = NULL;
	g->visited = NULL;
	g->cap = 0;
}

/* ----------------------------------------------------------------
 *		A parallel build's shared store
 * ----------------------------------------------------------------
 */

/* Room for one array of a shared store, cache-line aligned. */
static Size
shared_array_size(Size bytes)
{
	return TYPEALIGN(PG_CACHE_LINE_SIZE, bytes);
}

/*
 * Bytes the arrays of a shared store of cap nodes take in shared memory
 * (all but the visited sets, which are each participant's own).
 */
Size
omendb_memstore_shared_size(const OmenMetaPageData *meta, int cap)
{
	Size		n = cap;

	return shared_array_size(n * meta->code_size) +
		shared_array_size(n * meta->max_degree * sizeof(uint32)) +
		shared_array_size(n * sizeof(uint16)) +
		shared_array_size(n * sizeof(ItemPointerData)) +
		shared_array_size(n * sizeof(float)) +
		shared_array_size(n * sizeof(float)) +
		shared_array_size(n * OmenEntrySize(meta)) +
		shared_array_size(n * meta->value_size);
}

/* Carve the next array of bytes out of *space. */
static void *
carve(char **space, Size bytes)
{
	void	   *p = *space;

	*space += shared_array_size(bytes);
	return p;
}

/*
 * A view of the shared store of cap nodes laid out in space (of
 * omendb_memstore_shared_size bytes, cache-line aligned), for one
 * participant of a parallel build: its own visited set, and the locking
 * hooks on the nlocks locks (a power of two).  n starts at 0; the caller
 * sets it when it needs it.
 */
void
omendb_memstore_attach(OmenMemStore *g, const OmenMetaPageData *meta,
					   const OmenQuantState *quant, int cap, char *space,
					   LWLock *locks, int nlocks)
{
	Size		n = cap;

	Assert(nlocks > 0 && (nlocks & (nlocks - 1)) == 0);
	Assert(space == (char *) TYPEALIGN(PG_CACHE_LINE_SIZE, space));
	advise_huge_pages(space, omendb_memstore_shared_size(meta, cap));
	g->store = mem_store;
	g->store.quant = quant;
	g->store.max_degree = meta->max_degree;
	g->store.lock_node = mem_lock_node;
	g->store.unlock_node = mem_unlock_node;
	g->n = 0;
	g->cap = cap;
	g->code_size = meta->code_size;
	g->max_degree = meta->max_degree;
	g->codes = carve(&space, n * g->code_size);
	g->nbrs = carve(&space, n * g->max_degree * sizeof(uint32));
	g->nnbrs = carve(&space, n * sizeof(uint16));
	g->tids = carve(&space, n * sizeof(ItemPointerData));
	g->errors = carve(&space, n * sizeof(float));
	g->norms = carve(&space, n * sizeof(float));
	g->label_words = OmenEntrySize(meta) / sizeof(uint64);
	g->labels = carve(&space, n * OmenEntrySize(meta));
	if (g->label_words == 0)
		g->labels = NULL;
	g->value_size = meta->value_size;
	g->values = carve(&space, n * meta->value_size);
	if (g->value_size == 0)
		g->values = NULL;
	g->visited = alloc_array(n * sizeof(uint32));
	memset(g->visited, 0, n * sizeof(uint32));
	g->epoch = 0;
	g->shared = true;
	g->locks = locks;
	g->lock_mask = nlocks - 1;
}

/* Empty every node's neighbour list: once, before anyone places a node. */
void
omendb_memstore_clear_shared(OmenMemStore *g)
{
	Assert(g->shared);
	memset(g->nnbrs, 0, (Size) g->cap * sizeof(uint16));
}
