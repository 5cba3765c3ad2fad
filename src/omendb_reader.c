/*-------------------------------------------------------------------------
 *
 * omendb_reader.c
 *	  Reading a batch of nodes, page by page, with prefetching: what every
 *	  graph search's hop costs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"

#include "omendb_page.h"
#include "omendb_scan_stats.h"

typedef struct NodeRef
{
	BlockNumber blkno;
	OffsetNumber off;
	int			idx;
	Buffer		buf;			/* once pinned */
} NodeRef;

/* How many nodes ahead of the one being visited to fetch items. */
#define VISIT_PREFETCH_AHEAD 3

/*
 * Start fetching a node item into the cache; its place on the (pinned)
 * page follows from the fixed node size.  With labels_only, just its
 * header and labels: what a visitor that tests the filter reads of the
 * many nodes that fail it.
 */
static inline void
prefetch_node_item(const OmenMetaPageData *meta, const NodeRef *ref,
				   bool labels_only)
{
	char	   *page = BufferGetPage(ref->buf);
	char	   *item = page + BLCKSZ - MAXALIGN(sizeof(OmenPageOpaqueData)) -
		(Size) ref->off * meta->node_size;
	uint32		from = 0;
	uint32		to = meta->node_size;

	if (item <= page)
		return;
	if (labels_only)
	{
		__builtin_prefetch(item);
		from = OmenNodeLabelOffset(meta->max_degree, meta->code_size);
		to = from + meta->label_size;
		__builtin_prefetch(item + to - 1);
	}
	for (uint32 b = from; b < to; b += 64)
		__builtin_prefetch(item + b);
}

static int
noderef_cmp(const void *a, const void *b)
{
	const NodeRef *ra = a;
	const NodeRef *rb = b;

	if (ra->blkno != rb->blkno)
		return ra->blkno < rb->blkno ? -1 : 1;
	return (int) ra->off - (int) rb->off;
}

/*
 * Where each node page was last found in shared buffers, per backend.  A
 * search pins hundreds of random pages, and the buffer mapping lookup is
 * then the largest single cost; ReadRecentBuffer skips it when the page
 * is still where it was.  A hint is only a hint: ReadRecentBuffer checks
 * the buffer's tag, so a stale or colliding slot just falls back.
 */
#define RECENT_BUFFER_SLOTS (1 << 16)

static Buffer *recent_buffers = NULL;

/* Pin a page of the index, looking first where it was last found. */
Buffer
omendb_read_recent_buffer(Relation index, BlockNumber blkno)
{
	uint32		slot;
	Buffer		buf;

	if (recent_buffers == NULL)
		recent_buffers = MemoryContextAllocZero(TopMemoryContext,
												sizeof(Buffer) * RECENT_BUFFER_SLOTS);
	slot = hash_combine(RelationGetRelid(index), blkno) & (RECENT_BUFFER_SLOTS - 1);
	buf = recent_buffers[slot];
	if (buf != InvalidBuffer &&
		OMENDB_READ_RECENT_BUFFER(index, MAIN_FORKNUM, blkno, buf))
		return buf;
	buf = ReadBuffer(index, blkno);
	recent_buffers[slot] = buf;
	return buf;
}

/* omendb_read_recent_buffer for a node page, counted for the scan stats. */
Buffer
omendb_read_node_buffer(Relation index, BlockNumber blkno)
{
	omendb_node_page_pins++;
	return omendb_read_recent_buffer(index, blkno);
}

/* Sort a few refs by block and offset (insertion sort: n is small). */
static void
sort_refs(NodeRef *refs, int n)
{
	if (n > 64)
	{
		qsort(refs, n, sizeof(NodeRef), noderef_cmp);
		return;
	}
	for (int i = 1; i < n; i++)
	{
		NodeRef		r = refs[i];
		int			j = i;

		while (j > 0 && noderef_cmp(&refs[j - 1], &r) > 0)
		{
			refs[j] = refs[j - 1];
			j--;
		}
		refs[j] = r;
	}
}

/* How many pages ahead of the one being visited to pin. */
#define VISIT_PIN_AHEAD 4

/*
 * Pin page p of a batch (refs[first[p]..first[p+1]-1] lie on it) and start
 * fetching its header and special space.
 */
static inline void
pin_batch_page(Relation index, NodeRef *refs, const int *first, int p)
{
	Buffer		buf = omendb_read_node_buffer(index, refs[first[p]].blkno);
	char	   *page = BufferGetPage(buf);

	__builtin_prefetch(page);
	__builtin_prefetch(page + BLCKSZ - MAXALIGN(sizeof(OmenPageOpaqueData)));
	for (int i = first[p]; i < first[p + 1]; i++)
		refs[i].buf = buf;
}

/*
 * Call visitor for each of nodes[0..n-1] with its page share-locked, taking
 * each page's lock once for all the nodes it holds.  The visitor must not
 * take other locks or do catalog access; it copies what it needs.
 *
 * A graph hop touches pages at random, so the time goes in cache misses,
 * not arithmetic.  We therefore pin pages a few ahead of the one we visit,
 * fetching their headers as we go, and fetch node items a few nodes ahead,
 * so that the misses overlap.  Few pins are held at once: past eight, the
 * buffer manager tracks a backend's pins in a hash table, and every pin,
 * unpin and lookup pays a hash probe.
 */
static void
visit_nodes(Relation index, const OmenMetaPageData *meta,
			const uint32 *nodes, int n, OmenNodeVisitor visitor, void *arg,
			bool labels_only)
{
	NodeRef		stackrefs[64];
	int			stackfirst[65];
	NodeRef    *refs = n <= lengthof(stackrefs) ? stackrefs : palloc(sizeof(NodeRef) * n);
	int		   *first = n < lengthof(stackfirst) ? stackfirst : palloc(sizeof(int) * (n + 1));
	int			npages = 0;
	int			i;
	uint32		limit = omendb_cached_node_limit(index);

	for (int k = 0; k < n; k++)
	{
		omendb_check_node_id(index, meta, nodes[k], &limit, true,
							 InvalidBlockNumber, InvalidOffsetNumber);
		refs[k].blkno = omendb_node_block(meta, nodes[k]);
		refs[k].off = omendb_node_offset(meta, nodes[k]);
		refs[k].idx = k;
	}
	sort_refs(refs, n);
	for (i = 0; i < n; i++)
		if (i == 0 || refs[i].blkno != refs[i - 1].blkno)
			first[npages++] = i;
	first[npages] = n;

	/*
	 * Node i + VISIT_PREFETCH_AHEAD lies at most that many pages after node
	 * i's, so its page is pinned by the time we prefetch its item.
	 */
	StaticAssertStmt(VISIT_PIN_AHEAD > VISIT_PREFETCH_AHEAD,
					 "items are prefetched only on pinned pages");
	for (int p = 0; p < Min(npages, VISIT_PIN_AHEAD); p++)
		pin_batch_page(index, refs, first, p);
	for (i = 0; i < Min(n, VISIT_PREFETCH_AHEAD); i++)
		prefetch_node_item(meta, &refs[i], labels_only);
	i = 0;
	for (int p = 0; p < npages; p++)
	{
		Buffer		buf = refs[i].buf;
		BlockNumber blkno = refs[i].blkno;
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		omendb_check_node_page(index, buf, page, meta);
		for (; i < first[p + 1]; i++)
		{
			if (i + VISIT_PREFETCH_AHEAD < n)
				prefetch_node_item(meta, &refs[i + VISIT_PREFETCH_AHEAD],
								   labels_only);
			visitor(omendb_page_node_at(index, page, meta, blkno, refs[i].off),
					refs[i].idx, arg);
		}
		UnlockReleaseBuffer(buf);
		if (p + VISIT_PIN_AHEAD < npages)
			pin_batch_page(index, refs, first, p + VISIT_PIN_AHEAD);
	}
	if (refs != stackrefs)
		pfree(refs);
	if (first != stackfirst)
		pfree(first);
}

void
omendb_visit_nodes(Relation index, const OmenMetaPageData *meta,
				   const uint32 *nodes, int n, OmenNodeVisitor visitor,
				   void *arg)
{
	visit_nodes(index, meta, nodes, n, visitor, arg, false);
}

/*
 * omendb_visit_nodes for a visitor that reads little of most nodes but
 * their header and labels (a filter most nodes fail): the rest of a node
 * is left for the visitor to fetch.  Sweeping every node page, fetching
 * whole nodes moved 1 kB a node where 100 bytes were read.
 */
void
omendb_visit_node_labels(Relation index, const OmenMetaPageData *meta,
						 const uint32 *nodes, int n, OmenNodeVisitor visitor,
						 void *arg)
{
	visit_nodes(index, meta, nodes, n, visitor, arg, meta->label_size > 0);
}
