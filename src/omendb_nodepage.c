/*-------------------------------------------------------------------------
 *
 * omendb_nodepage.c
 *	  Page initialization and checks, damage reports, and the node pages:
 *	  node addressing, node items, node ids.
 *
 * Every reader checks each page it locks (omendb_check_page and the node
 * page checks here) and each node item and node id before it follows
 * them, so that a damaged page stops a query with a clear error instead of
 * leading it astray.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "storage/bufmgr.h"

#include "omendb_graph.h"
#include "omendb_labels.h"
#include "omendb_page.h"
#include "omendb_scan_stats.h"

/* Initialize an empty omendb page of the given kind. */
void
omendb_init_page(Page page, uint16 kind)
{
	OmenPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(OmenPageOpaqueData));
	opaque = OmenPageGetOpaque(page);
	opaque->kind = kind;
	opaque->nfree = 0;
	opaque->magic = OMENDB_MAGIC;
}

/*
 * Report damage found in an index.  Every reader raises the same message
 * (and SQLSTATE) for whatever it finds, with the particulars in the detail,
 * so that callers and monitoring need to know one error only.
 */
void
omendb_corrupted(Relation index, const char *fmt,...)
{
	StringInfoData detail;

	initStringInfo(&detail);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&detail, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&detail, needed);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" is corrupted", RelationGetRelationName(index)),
			 errdetail_internal("%s", detail.data),
			 errhint("REINDEX it.")));
	pg_unreachable();
}

static const char *
page_kind_name(uint16 kind)
{
	switch (kind)
	{
		case OMENDB_PAGE_META:
			return "meta";
		case OMENDB_PAGE_QUANT:
			return "quantizer";
		case OMENDB_PAGE_NODE:
			return "node";
		case OMENDB_PAGE_LABELS:
			return "label";
		case OMENDB_PAGE_SKETCH:
			return "sketch";
	}
	return "unknown";
}

/*
 * What is wrong with a page that should be an omendb page of the given
 * kind, or NULL if nothing is.  The buffer manager has already checked the
 * header when it read the page from disk (PageIsVerifiedExtended), but not
 * that pd_lower covers a page header, and a page can also be damaged in
 * memory; these few comparisons keep every later access to the line
 * pointer array and the special space inside the page.  Cheap: called
 * whenever a page is locked for reading.
 */
char *
omendb_page_problem(Page page, uint16 kind)
{
	PageHeader	ph = (PageHeader) page;
	OmenPageOpaque opaque;

	if (PageIsNew(page))
		return psprintf("unexpected all-zero page where an omendb %s page should be",
						page_kind_name(kind));
	if (ph->pd_lower < SizeOfPageHeaderData || ph->pd_lower > ph->pd_upper ||
		ph->pd_upper > ph->pd_special || ph->pd_special > BLCKSZ ||
		(ph->pd_flags & ~PD_VALID_FLAG_BITS) != 0)
		return psprintf("impossible page header: pd_lower %u, pd_upper %u, pd_special %u, pd_flags 0x%04X",
						ph->pd_lower, ph->pd_upper, ph->pd_special, ph->pd_flags);
	if (ph->pd_special != BLCKSZ - MAXALIGN(sizeof(OmenPageOpaqueData)))
		return psprintf("not an omendb page: special space of %u bytes, expected %u",
						(unsigned) (BLCKSZ - ph->pd_special),
						(unsigned) MAXALIGN(sizeof(OmenPageOpaqueData)));
	opaque = OmenPageGetOpaque(page);
	if (opaque->magic != OMENDB_MAGIC)
		return psprintf("not an omendb page: magic 0x%08X in the special space, expected 0x%08X",
						opaque->magic, OMENDB_MAGIC);
	if (opaque->kind != kind)
		return psprintf("page kind %u, expected kind %u (omendb %s page)",
						opaque->kind, kind, page_kind_name(kind));
	if (kind == OMENDB_PAGE_NODE ?
		opaque->nfree > PageGetMaxOffsetNumber(page) : opaque->nfree != 0)
		return psprintf("%u free slots on a page of %u items",
						opaque->nfree, (unsigned) PageGetMaxOffsetNumber(page));
	return NULL;
}

/*
 * Raise an error unless the page is an omendb page of the expected kind.
 * Called on every page we read, so that a damaged page stops a query with
 * a clear message instead of leading it astray.
 */
void
omendb_check_page(Relation index, Buffer buf, Page page, uint16 kind)
{
	char	   *problem = omendb_page_problem(page, kind);

	if (unlikely(problem != NULL))
		omendb_corrupted(index, "Block %u: %s.", BufferGetBlockNumber(buf),
						 problem);
}

/*
 * What is wrong with a node page's layout, or NULL.  Nodes are added with
 * PageAddItem and never removed, so node k (from 1) of a page sits exactly
 * k node sizes below the special space and pd_upper right under the last
 * one; the scan's prefetching relies on that.
 */
char *
omendb_node_page_problem(Page page, const OmenMetaPageData *meta)
{
	PageHeader	ph = (PageHeader) page;
	char	   *problem = omendb_page_problem(page, OMENDB_PAGE_NODE);
	OffsetNumber maxoff;

	if (problem != NULL)
		return problem;
	maxoff = PageGetMaxOffsetNumber(page);
	if (maxoff > meta->nodes_per_page)
		return psprintf("%u line pointers (pd_lower %u), but a node page holds at most %u nodes",
						(unsigned) maxoff, ph->pd_lower, meta->nodes_per_page);
	if (ph->pd_upper != ph->pd_special - maxoff * meta->node_size)
		return psprintf("pd_upper is %u, but %u nodes of %u bytes under the special space begin at %u",
						ph->pd_upper, maxoff, meta->node_size,
						(unsigned) (ph->pd_special - maxoff * meta->node_size));
	return NULL;
}

/* omendb_check_page for a node page, with its layout. */
void
omendb_check_node_page(Relation index, Buffer buf, Page page,
					   const OmenMetaPageData *meta)
{
	char	   *problem = omendb_node_page_problem(page, meta);

	if (unlikely(problem != NULL))
		omendb_corrupted(index, "Block %u: %s.", BufferGetBlockNumber(buf),
						 problem);
}

/*
 * What is wrong with the header of a live or deleted node's stored value,
 * or NULL.  A scan hands the value to the operator's function, which reads
 * as far as the header says: it must give the index's value size and
 * dimensions.
 */
char *
omendb_node_value_problem(const OmenMetaPageData *meta, OmenNodeHeader node)
{
	Vector	   *value = (Vector *) OmenNodeValue(node, meta);

	if (!VARATT_IS_4B_U(value) || VARSIZE(value) != meta->value_size ||
		value->dim != meta->dimensions)
		return psprintf("stored value with header 0x%08X and %d dimensions, expected a value of %u bytes and %u dimensions",
						*(uint32 *) value, value->dim, meta->value_size,
						meta->dimensions);
	return NULL;
}

/* ----------------------------------------------------------------
 *		Node addressing
 * ----------------------------------------------------------------
 */

BlockNumber
omendb_node_block(const OmenMetaPageData *meta, uint32 node)
{
	return meta->first_node_block + node / meta->nodes_per_page;
}

OffsetNumber
omendb_node_offset(const OmenMetaPageData *meta, uint32 node)
{
	return (OffsetNumber) (node % meta->nodes_per_page) + FirstOffsetNumber;
}

uint32
omendb_node_id(const OmenMetaPageData *meta, BlockNumber blkno,
			   OffsetNumber off)
{
	return (blkno - meta->first_node_block) * meta->nodes_per_page +
		(off - FirstOffsetNumber);
}

/*
 * The distinct pages of nodes nbrs[0..n-1] (a neighbour list, nearest
 * first), those holding more of them first, the nearest one's first among
 * equals: where a node placed near its neighbours should go, so that the
 * nodes a search meets together share pages.  pages[] has room for n.
 * Returns how many.
 */
int
omendb_neighbor_pages(const OmenMetaPageData *meta, const uint32 *nbrs,
					  int n, BlockNumber *pages)
{
	int			votes[OMENDB_MAX_NEIGHBORS];
	int			npages = 0;

	Assert(n <= OMENDB_MAX_NEIGHBORS);
	for (int i = 0; i < n; i++)
	{
		BlockNumber b = omendb_node_block(meta, nbrs[i]);
		bool		seen = false;
		int			v = 0;
		int			at;

		for (int k = 0; k < npages && !seen; k++)
			seen = pages[k] == b;
		if (seen)
			continue;
		for (int j = i; j < n; j++)
			v += omendb_node_block(meta, nbrs[j]) == b;
		/* after the nearer pages of as many votes */
		for (at = npages; at > 0 && votes[at - 1] < v; at--)
		{
			pages[at] = pages[at - 1];
			votes[at] = votes[at - 1];
		}
		pages[at] = b;
		votes[at] = v;
		npages++;
	}
	return npages;
}

/*
 * Read a node page under a lock of the given mode, checked; the caller
 * releases it.  InvalidBuffer for an all-zero page, which an insert that
 * crashed after extending the index left behind and which holds no node,
 * and for a label page among the node pages, which holds none either.
 */
Buffer
omendb_lock_node_page(Relation index, const OmenMetaPageData *meta,
					  BlockNumber blkno, BufferAccessStrategy strategy,
					  int mode)
{
	Buffer		buf;

	if (omendb_is_label_block(meta, blkno))
		return InvalidBuffer;
	buf = omendb_lock_index_page(index, blkno, strategy, mode);
	if (BufferIsValid(buf))
		omendb_check_node_page(index, buf, BufferGetPage(buf), meta);
	return buf;
}

/*
 * Read a page past the meta page under a lock of the given mode, or
 * InvalidBuffer if it is all zero (a crash after extending the index
 * leaves such pages).  Without a strategy, the page is looked for where
 * it was last found (omendb_read_recent_buffer): scans read label and
 * node pages over and over.
 */
Buffer
omendb_lock_index_page(Relation index, BlockNumber blkno,
					   BufferAccessStrategy strategy, int mode)
{
	Buffer		buf;

	if (strategy == NULL)
		buf = omendb_read_recent_buffer(index, blkno);
	else
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 strategy);
	LockBuffer(buf, mode);
	if (PageIsNew(BufferGetPage(buf)))
	{
		UnlockReleaseBuffer(buf);
		return InvalidBuffer;
	}
	return buf;
}

/*
 * How many node slots a node page holds: none on an all-zero page, or on a
 * label page.  Scans ask this of every page they sweep, just before
 * visiting its nodes, so it reads the page as omendb_visit_nodes does,
 * where the buffer was last found, without a buffer mapping lookup.
 */
int
omendb_page_node_count(Relation index, const OmenMetaPageData *meta,
					   BlockNumber blkno)
{
	Buffer		buf;
	Page		page;
	int			n = 0;

	if (omendb_is_label_block(meta, blkno))
		return 0;
	buf = omendb_read_node_buffer(index, blkno);
	page = BufferGetPage(buf);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	if (!PageIsNew(page))
	{
		omendb_check_node_page(index, buf, page, meta);
		n = Min(PageGetMaxOffsetNumber(page), meta->nodes_per_page);
	}
	UnlockReleaseBuffer(buf);
	return n;
}

/*
 * What is wrong with the node item at an offset of a node page, or NULL:
 * the slot exists, holds a node of the right size where the page layout
 * puts it (see omendb_node_page_problem), and the node has no more
 * neighbours than slots for them.  Everything a reader needs to stay
 * inside the page.
 */
char *
omendb_node_item_problem(Page page, const OmenMetaPageData *meta,
						 OffsetNumber off)
{
	ItemId		iid;
	OmenNodeHeader node;
	Size		expected;

	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		return psprintf("no node there, the page holds %u",
						(unsigned) PageGetMaxOffsetNumber(page));
	iid = PageGetItemId(page, off);
	expected = ((PageHeader) page)->pd_special - (Size) off * meta->node_size;
	if (!ItemIdIsNormal(iid) || ItemIdGetLength(iid) != meta->node_size ||
		ItemIdGetOffset(iid) != expected)
		return psprintf("line pointer (flags %u, offset %u, length %u) is not a node of %u bytes at %zu",
						ItemIdGetFlags(iid), ItemIdGetOffset(iid),
						ItemIdGetLength(iid), meta->node_size, expected);
	node = (OmenNodeHeader) PageGetItem(page, iid);
	if (node->nneighbors > meta->max_degree)
		return psprintf("%u neighbours, more than the %u slots of a node",
						node->nneighbors, meta->max_degree);
	if (node->qset >= meta->quant_sets)
		return psprintf("quantizer parameter set %u, of %u",
						node->qset, meta->quant_sets);
	return NULL;
}

/*
 * The node at an offset of a (locked, checked) node page, or an error if
 * the slot does not hold a well-formed node.  A neighbour id pointing past
 * the page's last slot means the graph is damaged.
 */
OmenNodeHeader
omendb_page_node(Relation index, Page page, const OmenMetaPageData *meta,
				 OffsetNumber off)
{
	return omendb_page_node_at(index, page, meta, InvalidBlockNumber, off);
}

/*
 * The image of a zero node (omendb.h) for a zero vector under cosine:
 * live, norm and error 0, all-zero code, no neighbours, and a stored value
 * (if the index stores them) of +0 in every dimension.  image holds
 * node_size bytes.
 */
void
omendb_fill_zero_node(char *image, const OmenMetaPageData *meta,
					  ItemPointer tid)
{
	OmenNodeHeader hdr = (OmenNodeHeader) image;

	Assert(meta->metric == OMENDB_METRIC_COSINE);
	memset(image, 0, meta->node_size);
	hdr->heaptid = *tid;
	hdr->flags = OMENDB_NODE_LIVE;
	if (meta->value_size > 0)
	{
		/* (halfvec's header is vector's) */
		Vector	   *value = (Vector *) OmenNodeValue(hdr, meta);

		SET_VARSIZE(value, meta->value_size);
		value->dim = meta->dimensions;
	}
}

/* ----------------------------------------------------------------
 *		Node ids
 *
 * A node id read from a page (a neighbour, the entry point) is checked
 * before it is turned into a block number: a damaged id must not make us
 * read past the end of the relation (an error of its own) or ask
 * ReadBuffer for block InvalidBlockNumber, which is P_NEW and would extend
 * the relation.  An id is good if the page it maps to exists.  The number
 * of node slots on existing pages only grows (omendb relations are never
 * truncated in place), so it is cached in rd_amcache and recomputed only
 * when an id beyond it comes along: one comparison per id on the hot path.
 * Ids on an existing page but past its last node are caught by the item
 * checks above.
 * ----------------------------------------------------------------
 */

/*
 * Node slots on the index's node pages now: every valid node id lies below
 * (OMENDB_INVALID_NODE, which is never a node, at most).  One system call.
 */
uint32
omendb_node_slots(Relation index, const OmenMetaPageData *meta)
{
	return omendb_node_slots_below(meta, RelationGetNumberOfBlocks(index));
}

/* The node slots on an index of nblocks blocks. */
uint32
omendb_node_slots_below(const OmenMetaPageData *meta, BlockNumber nblocks)
{
	uint64		slots = 0;

	if (nblocks > meta->first_node_block)
		slots = (uint64) (nblocks - meta->first_node_block) * meta->nodes_per_page;
	return (uint32) Min(slots, (uint64) OMENDB_INVALID_NODE);
}

/*
 * Recompute the bound from the relation's size and cache it.  may_read
 * says whether the caller holds no buffer lock, so that we may rebuild
 * the relcache's copy of the index parameters if an invalidation dropped
 * it (else the bound would be recomputed, with a system call, every time).
 */
static uint32
refresh_node_limit(Relation index, const OmenMetaPageData *meta, bool may_read)
{
	uint32		limit = omendb_node_slots(index, meta);

	if (index->rd_amcache == NULL && may_read)
		(void) omendb_get_info(index);
	if (index->rd_amcache != NULL)
		((OmenIndexInfo *) index->rd_amcache)->node_limit = limit;
	return limit;
}

/*
 * The slow path of omendb_check_node_id, for an id at or beyond *limit:
 * refresh the bound, and raise an error unless the id is below it now.
 */
void
omendb_node_id_beyond(Relation index, const OmenMetaPageData *meta,
					  uint32 node, uint32 *limit, bool may_read,
					  BlockNumber from_blkno, OffsetNumber from_off)
{
	*limit = refresh_node_limit(index, meta, may_read);
	if (node < *limit)
		return;
	if (from_blkno == InvalidBlockNumber)
		omendb_corrupted(index, "Node %u is referenced, but only %u node slots exist.",
						 node, *limit);
	omendb_corrupted(index, "Block %u, offset %u: neighbour %u, but only %u node slots exist.",
					 from_blkno, from_off, node, *limit);
}

/*
 * Check the neighbour ids of a node read from a page (VACUUM, which reads
 * every node but follows no edge, so that a damaged edge does not wait
 * for the next scan to be found).  Called with the page locked.
 */
void
omendb_check_neighbors(Relation index, const OmenMetaPageData *meta,
					   BlockNumber blkno, OffsetNumber off,
					   OmenNodeHeader node)
{
	uint32		limit = omendb_cached_node_limit(index);
	const uint32 *nbrs = OmenNodeNeighbors(node);

	for (int i = 0; i < node->nneighbors; i++)
		omendb_check_node_id(index, meta, nbrs[i], &limit, false, blkno, off);
}
