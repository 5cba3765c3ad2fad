/*-------------------------------------------------------------------------
 *
 * omendb_pagestore.c
 *	  The graph store of an index's buffer pages, for insert, scans,
 *	  VACUUM and verification.
 *
 * Reads go through omendb_visit_nodes, a batch of nodes at a time, one
 * share lock per page; each write locks one node page and is one generic
 * xlog record that leaves a valid graph (omendb_edit_*).  The codes that
 * scoring reads are kept, for RobustPrune's pivots.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"

#include "omendb_graph.h"
#include "omendb_page.h"
#include "omendb_quant.h"

/* ----------------------------------------------------------------
 *		The visited set
 *
 * Node ids are dense: every id is below the number of node slots on the
 * index's pages.  So the visited set can be a bitmap of one bit per slot;
 * but zeroing that for a LIMIT query that meets a few hundred nodes of a
 * large index would cost more than the query, so it starts as a hash and
 * becomes a bitmap once the bitmap is the smaller of the two.  An index
 * whose bitmap is no larger than the hash's first table starts with the
 * bitmap: a bit test instead of a hash probe for every edge a search
 * follows (on Fashion-MNIST the probes took 9% of a filtered walk).
 * ----------------------------------------------------------------
 */

typedef struct VisitedEntry
{
	uint32		node;
	char		status;
} VisitedEntry;

#define SH_PREFIX		visited
#define SH_ELEMENT_TYPE	VisitedEntry
#define SH_KEY_TYPE		uint32
#define SH_KEY			node
#define SH_HASH_KEY(tb, key)	murmurhash32(key)
#define SH_EQUAL(tb, a, b)	((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* Hash members at which a bitmap is first weighed against the hash. */
#define VISITED_HASH_CHECK	1024

/*
 * The largest bitmap a search starts with, about the size of the hash's
 * first table (1024 members): 131,072 node slots.
 */
#define VISITED_FIRST_BITMAP_BYTES	(16 * 1024)

struct OmenVisitedSet
{
	visited_hash *hash;			/* while small */
	uint64	   *bits;			/* once a bitmap is smaller */
	uint64		nbits;			/* node ids below this have a bit */
	uint64		check_at;		/* hash members at which to weigh it */
	OmenVisitedGrowth on_bitmap;
	void	   *on_bitmap_arg;
};

/* Bytes of a bitmap of nbits bits, in whole 64-bit words. */
static inline Size
bitmap_bytes(uint64 nbits)
{
	return (Size) ((nbits + 63) / 64) * sizeof(uint64);
}

/*
 * Start the visited set empty: as a bitmap if the index is small enough
 * (as far as the cached bound on node ids knows; a bitmap grows when a
 * node lies past it), else as a hash.
 */
static void
reset_visited(OmenPageStore *ps)
{
	OmenVisitedSet *vs = ps->visited;
	uint64		slots = omendb_cached_node_limit(ps->index);

	if (slots == 0)
		slots = omendb_node_slots(ps->index, ps->meta);
	if (bitmap_bytes(slots) <= VISITED_FIRST_BITMAP_BYTES)
	{
		if (vs->hash)
		{
			visited_destroy(vs->hash);
			vs->hash = NULL;
		}
		if (vs->bits && vs->nbits >= slots)
			memset(vs->bits, 0, bitmap_bytes(vs->nbits));
		else
		{
			if (vs->bits)
				pfree(vs->bits);
			vs->bits = MemoryContextAllocZero(ps->cxt, bitmap_bytes(slots));
			vs->nbits = slots;
		}
		return;
	}
	if (vs->hash && vs->hash->members == 0)
		return;
	if (vs->hash)
		visited_destroy(vs->hash);
	if (vs->bits)
		pfree(vs->bits);
	vs->hash = visited_create(ps->cxt, 1024, NULL);
	vs->bits = NULL;
	vs->nbits = 0;
	vs->check_at = VISITED_HASH_CHECK;
}

/* Switch the visited hash to a bitmap if that takes less memory. */
static void
consider_visited_bitmap(OmenPageStore *ps)
{
	OmenVisitedSet *vs = ps->visited;
	uint64		slots = omendb_node_slots(ps->index, ps->meta);
	Size		hash_bytes = vs->hash->size * sizeof(VisitedEntry);
	uint64	   *bits;
	visited_iterator it;
	VisitedEntry *e;

	if (bitmap_bytes(slots) > hash_bytes)
	{
		vs->check_at = vs->hash->members * 2;
		return;
	}
	bits = MemoryContextAllocHuge(ps->cxt, bitmap_bytes(slots));
	memset(bits, 0, bitmap_bytes(slots));
	/* (both exist for a moment) */
	if (vs->on_bitmap)
		vs->on_bitmap(bitmap_bytes(slots), vs->on_bitmap_arg);
	visited_start_iterate(vs->hash, &it);
	while ((e = visited_iterate(vs->hash, &it)) != NULL)
	{
		/* an id past the slots is damage, reported when it is visited */
		if (e->node < slots)
			bits[e->node / 64] |= UINT64CONST(1) << (e->node % 64);
	}
	visited_destroy(vs->hash);
	vs->hash = NULL;
	vs->bits = bits;
	vs->nbits = slots;
}

/*
 * Make room in the bitmap for node, which concurrent inserts may have
 * added since it was sized.  False if node lies past every node page:
 * the caller goes on to visit it, which reports the damage.
 */
static bool
grow_visited_bitmap(OmenPageStore *ps, uint32 node)
{
	OmenVisitedSet *vs = ps->visited;
	uint64		slots = omendb_node_slots(ps->index, ps->meta);
	uint64		nbits;

	if (node >= slots)
		return false;
	nbits = Max(slots, vs->nbits + vs->nbits / 8);
	nbits = Min(nbits, (uint64) OMENDB_INVALID_NODE);
	vs->bits = repalloc_huge(vs->bits, bitmap_bytes(nbits));
	memset((char *) vs->bits + bitmap_bytes(vs->nbits), 0,
		   bitmap_bytes(nbits) - bitmap_bytes(vs->nbits));
	vs->nbits = nbits;
	return true;
}

/* Mark node visited; returns whether it was already. */
static inline bool
mark_visited(OmenPageStore *ps, uint32 node)
{
	OmenVisitedSet *vs = ps->visited;
	bool		found;

	if (vs->bits)
	{
		uint64		mask = UINT64CONST(1) << (node % 64);
		uint64	   *word;

		if (unlikely(node >= vs->nbits) && !grow_visited_bitmap(ps, node))
			return false;
		word = &vs->bits[node / 64];
		found = (*word & mask) != 0;
		*word |= mask;
		return found;
	}
	visited_insert(vs->hash, node, &found);
	if (!found && unlikely(vs->hash->members >= vs->check_at))
		consider_visited_bitmap(ps);
	return found;
}

static void
page_forget_visited(OmenGraphStore *store)
{
	reset_visited((OmenPageStore *) store);
}

static int
page_visit(OmenGraphStore *store, const uint32 *nodes, int n, uint32 *fresh)
{
	OmenPageStore *ps = (OmenPageStore *) store;
	int			nfresh = 0;

	for (int i = 0; i < n; i++)
		if (!mark_visited(ps, nodes[i]))
			fresh[nfresh++] = nodes[i];
	return nfresh;
}

/*
 * Forget that a node was visited, so that the next edge to it meets it
 * again: a scan that met a free slot (through an edge of a deleted node
 * freed a record later) may meet it later holding a node that VACUUM
 * moved there (README.omendb, "Moving nodes").
 */
void
omendb_pagestore_unvisit(OmenPageStore *ps, uint32 node)
{
	OmenVisitedSet *vs = ps->visited;

	if (vs->bits)
	{
		if (node < vs->nbits)
			vs->bits[node / 64] &= ~(UINT64CONST(1) << (node % 64));
	}
	else
		(void) visited_delete(vs->hash, node);
}

/* Whether a node was visited (the scan's sweep skips those). */
bool
omendb_pagestore_is_visited(OmenPageStore *ps, uint32 node)
{
	OmenVisitedSet *vs = ps->visited;

	if (vs->bits)
		return node < vs->nbits &&
			(vs->bits[node / 64] & (UINT64CONST(1) << (node % 64))) != 0;
	return visited_lookup(vs->hash, node) != NULL;
}

/* The bytes the visited set takes. */
Size
omendb_pagestore_visited_bytes(OmenPageStore *ps)
{
	OmenVisitedSet *vs = ps->visited;

	if (vs->bits)
		return bitmap_bytes(vs->nbits);
	return vs->hash->size * sizeof(VisitedEntry);
}

/*
 * Call hook as the visited set turns into a bitmap, with the bitmap's size,
 * while both exist (the peak of a scan's memory).
 */
void
omendb_pagestore_on_bitmap(OmenPageStore *ps, OmenVisitedGrowth hook,
						   void *arg)
{
	ps->visited->on_bitmap = hook;
	ps->visited->on_bitmap_arg = arg;
}

/* ----------------------------------------------------------------
 *		Reading nodes
 * ----------------------------------------------------------------
 */

typedef struct CodeEntry
{
	uint32		node;			/* hash key */
	char		status;			/* simplehash's */
	uint8	   *code;			/* copy of the node's code */
} CodeEntry;

#define SH_PREFIX		pagecodes
#define SH_ELEMENT_TYPE	CodeEntry
#define SH_KEY_TYPE		uint32
#define SH_KEY			node
#define SH_HASH_KEY(tb, key)	murmurhash32(key)
#define SH_EQUAL(tb, a, b)	((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* What the visitors below fill in. */
typedef struct ReadArg
{
	OmenPageStore *ps;
	const OmenQuery *query;
	const uint32 *nodes;
	float	   *dists;
	bool	   *usable;
	uint32	   *nbrs;
	int			nnbrs;
} ReadArg;

static void
neighbors_visitor(OmenNodeHeader node, int idx, void *arg)
{
	ReadArg    *ra = arg;

	ra->nnbrs = node->nneighbors;
	memcpy(ra->nbrs, OmenNodeNeighbors(node), sizeof(uint32) * node->nneighbors);
}

static int
page_neighbors(OmenGraphStore *store, uint32 node, uint32 *out)
{
	OmenPageStore *ps = (OmenPageStore *) store;
	ReadArg		ra;

	ra.nbrs = out;
	ra.nnbrs = 0;
	omendb_visit_nodes(ps->index, ps->meta, &node, 1, neighbors_visitor, &ra);
	return ra.nnbrs;
}

/* Keep a copy of a node's code, if not kept yet. */
static const uint8 *
keep_code(OmenPageStore *ps, uint32 node, const uint8 *code)
{
	CodeEntry  *e;
	bool		found;

	if (ps->codes == NULL)
		ps->codes = pagecodes_create(ps->codecxt, 256, NULL);
	e = pagecodes_insert(ps->codes, node, &found);
	if (!found)
	{
		e->code = MemoryContextAlloc(ps->codecxt, ps->meta->code_size);
		memcpy(e->code, code, ps->meta->code_size);
	}
	return e->code;
}

static void
score_visitor(OmenNodeHeader node, int idx, void *arg)
{
	ReadArg    *ra = arg;
	const uint8 *code = OmenNodeCode(node, ra->ps->meta->max_degree);

	ra->dists[idx] = omendb_code_distance(ra->query, code);
	ra->usable[idx] = (node->flags & OMENDB_NODE_LIVE) != 0;
	(void) keep_code(ra->ps, ra->nodes[idx], code);
}

static void
page_score(OmenGraphStore *store, const OmenQuery *query, const uint32 *nodes,
		   int n, float *dists, bool *usable)
{
	ReadArg		ra;

	ra.ps = (OmenPageStore *) store;
	ra.query = query;
	ra.nodes = nodes;
	ra.dists = dists;
	ra.usable = usable;
	omendb_visit_nodes(ra.ps->index, ra.ps->meta, nodes, n, score_visitor, &ra);
}

static void
code_visitor(OmenNodeHeader node, int idx, void *arg)
{
	ReadArg    *ra = arg;

	(void) keep_code(ra->ps, ra->nodes[idx],
					 OmenNodeCode(node, ra->ps->meta->max_degree));
}

/* A node's code: kept from scoring, else read from its page. */
static const uint8 *
page_code(OmenGraphStore *store, uint32 node)
{
	OmenPageStore *ps = (OmenPageStore *) store;
	CodeEntry  *e = ps->codes ? pagecodes_lookup(ps->codes, node) : NULL;
	ReadArg		ra;

	if (e != NULL)
		return e->code;
	ra.ps = ps;
	ra.nodes = &node;
	omendb_visit_nodes(ps->index, ps->meta, &node, 1, code_visitor, &ra);
	return pagecodes_lookup(ps->codes, node)->code;
}

/*
 * Drop the codes kept so far, for a long-lived store (VACUUM's) that would
 * otherwise end up with a copy of every code.
 */
void
omendb_pagestore_forget_codes(OmenPageStore *ps)
{
	ps->codes = NULL;
	MemoryContextReset(ps->codecxt);
}

/* ----------------------------------------------------------------
 *		Writing neighbour lists
 * ----------------------------------------------------------------
 */

/* Lock node's page exclusively and find the node on it. */
static Buffer
lock_node(OmenPageStore *ps, uint32 node, OmenNodeHeader *hdr)
{
	Buffer		buf = ReadBuffer(ps->index, omendb_node_block(ps->meta, node));
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	omendb_check_node_page(ps->index, buf, page, ps->meta);
	*hdr = omendb_page_node(ps->index, page, ps->meta,
							omendb_node_offset(ps->meta, node));
	return buf;
}

/* Begin the record that changes node, on its locked page buf. */
static OmenNodeHeader
edit_node(OmenPageStore *ps, OmenPageEdit *edit, Buffer buf, uint32 node)
{
	Page		page;

	omendb_edit_begin(edit, ps->index, ps->use_wal);
	page = omendb_edit_page(edit, buf, false);
	return omendb_page_node(ps->index, page, ps->meta,
							omendb_node_offset(ps->meta, node));
}

static bool
page_append_neighbor(OmenGraphStore *store, uint32 node, uint32 nbr)
{
	OmenPageStore *ps = (OmenPageStore *) store;
	OmenNodeHeader hdr;
	Buffer		buf = lock_node(ps, node, &hdr);
	uint32	   *nbrs = OmenNodeNeighbors(hdr);
	bool		done = false;

	for (int i = 0; i < hdr->nneighbors; i++)
		done |= (nbrs[i] == nbr);
	/* a free slot gets no edges (its node was read before VACUUM freed it) */
	if (!done && hdr->nneighbors < ps->meta->max_degree &&
		!(hdr->flags & OMENDB_NODE_FREE))
	{
		OmenPageEdit edit;

		hdr = edit_node(ps, &edit, buf, node);
		OmenNodeNeighbors(hdr)[hdr->nneighbors++] = nbr;
		omendb_edit_finish(&edit);
		done = true;
	}
	UnlockReleaseBuffer(buf);
	return done;
}

static bool
page_replace_neighbors(OmenGraphStore *store, uint32 node, const uint32 *old,
					   int nold, const uint32 *new, int nnew)
{
	OmenPageStore *ps = (OmenPageStore *) store;
	OmenNodeHeader hdr;
	Buffer		buf = lock_node(ps, node, &hdr);
	bool		done = false;

	if (hdr->nneighbors == nold && !(hdr->flags & OMENDB_NODE_FREE) &&
		memcmp(OmenNodeNeighbors(hdr), old, sizeof(uint32) * nold) == 0)
	{
		OmenPageEdit edit;

		hdr = edit_node(ps, &edit, buf, node);
		memcpy(OmenNodeNeighbors(hdr), new, sizeof(uint32) * nnew);
		hdr->nneighbors = nnew;
		omendb_edit_finish(&edit);
		done = true;
	}
	UnlockReleaseBuffer(buf);
	return done;
}

static const OmenGraphStore page_store = {
	.neighbors = page_neighbors,
	.score = page_score,
	.code = page_code,
	.forget_visited = page_forget_visited,
	.visit = page_visit,
	.append_neighbor = page_append_neighbor,
	.replace_neighbors = page_replace_neighbors,
};

/*
 * The graph of an index as a store, its sets and codes in the current
 * memory context.  use_wal says whether writes are WAL-logged.
 */
void
omendb_pagestore_init(OmenPageStore *ps, Relation index,
					  const OmenMetaPageData *meta,
					  const OmenQuantState *quant, bool use_wal)
{
	memset(ps, 0, sizeof(OmenPageStore));
	ps->store = page_store;
	ps->store.quant = quant;
	ps->store.max_degree = meta->max_degree;
	ps->index = index;
	ps->meta = meta;
	ps->use_wal = use_wal;
	ps->cxt = CurrentMemoryContext;
	ps->codecxt = AllocSetContextCreate(CurrentMemoryContext,
										"omendb node codes",
										ALLOCSET_DEFAULT_SIZES);
	ps->visited = palloc0(sizeof(OmenVisitedSet));
	reset_visited(ps);
}
