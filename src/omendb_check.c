/*-------------------------------------------------------------------------
 *
 * omendb_check.c
 *	  omendb_check(index, heapallindexed): verify an omendb index, in the
 *	  manner of amcheck's bt_index_check.
 *
 * The check takes AccessShareLock on the index and its table, so that it
 * can run beside inserts, deletes and VACUUM.  It reads every page of the
 * index once, one page at a time under a share lock, copying the page and
 * checking the copy: the meta page, the quantizer pages, and the node
 * pages with each node's flags, neighbours and heap TID, and each page's
 * count of free slots.  It then checks what only the whole graph can tell
 * (every neighbour is an allocated node, and a live node's never a zero
 * node or a free slot; the entry point and the insert page agree with the
 * node pages), and walks the graph breadth-first from the entry point to
 * count the live nodes a search can reach.  The zero nodes of a cosine
 * index (zero vectors, outside the graph by design: see omendb.h) count as
 * live nodes, but in neither figure of reachability.  The first problem
 * found raises ERRCODE_INDEX_CORRUPTED, naming the block, offset and node.
 *
 * With heapallindexed, it then scans the table with an MVCC snapshot taken
 * before the first index page was read, as CREATE INDEX would, and checks
 * that each row the index should hold has exactly one live node, whose
 * code is the row's vector encoded with the index's quantizer and whose
 * error bound and norm are right; and that no live node that the scan did
 * not meet points at an unused heap line pointer.  Why these are the sound
 * claims under concurrent activity is explained in src/README.omendb,
 * "Verification (omendb_check)".
 *
 * Besides the node counts it tells how well the quantizer's ranges fit the
 * data, from the live nodes' error bounds, without the table: how many
 * codes were clamped (bounds larger than any vector inside the ranges
 * gets), and the mean bound as a fraction of that largest error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xlog.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "omendb_filter.h"
#include "omendb_graph.h"
#include "omendb_labels.h"
#include "omendb_metric.h"
#include "omendb_page.h"
#include "omendb_quant.h"

PG_FUNCTION_INFO_V1(omendb_check);

/* A live node, as the heap cross-check needs it. */
typedef struct LiveNode
{
	ItemPointerData tid;
	uint8		state;			/* LIVE_* below */
	uint32		node;
	float4		error;
	float4		norm;
	uint8		qset;			/* the parameter set that encoded it */
	uint64		codehash;		/* of the node's code */
	uint64		labelhash;		/* of its labels, 0 without filter columns */
	uint64		valuehash;		/* of its stored value, 0 without one */
} LiveNode;

/* What omendb_check returns, but the fractions. */
typedef struct CheckCounts
{
	int64		nodes;			/* node slots allocated */
	int64		live;
	int64		deleted;
	int64		free;
	int64		reachable;		/* live nodes reachable from the entry */
	int64		live_zero;		/* live zero nodes: outside the graph */
	int64		clamped;		/* live nodes with a clamped code */
	int64		ratio_nodes;	/* live graph nodes, whose error ratios */
	double		ratio_sum;		/* add up to this */
} CheckCounts;

#define LIVE_UNMATCHED	0		/* no heap row met yet */
#define LIVE_MATCHED	1		/* the heap scan met its row */
#define LIVE_SUSPECT	2		/* unmatched, heap line pointer unused */

/* Set in CheckState.flags[] on top of the node flags. */
#define LABEL_SLOT		0x20	/* an id of a label page's, never a node */
#define ZERO_NODE		0x40	/* a zero node (omendb.h) */
#define SLOT_REUSED		0x80	/* read as free (or a zero node), found
								 * holding a node of the graph since */

/* What no edge may point at, and the entry point may not be. */
#define NO_EDGE_TARGET(flags) \
	(((flags) & (OMENDB_NODE_FREE | ZERO_NODE | LABEL_SLOT)) != 0)

/* The columns omendb_check returns. */
typedef enum CheckColumn
{
	CHECK_NODES,
	CHECK_LIVE_NODES,
	CHECK_DELETED_NODES,
	CHECK_FREE_NODES,
	CHECK_REACHABLE_LIVE_NODES,
	CHECK_REACHABLE_FRACTION,
	CHECK_CLAMPED_NODES,
	CHECK_MEAN_ERROR_RATIO,
	CHECK_NCOLUMNS
} CheckColumn;

typedef struct CheckState
{
	OmenGraphStore graph;		/* the edges read, for the walk */
	Relation	index;
	Relation	heap;
	bool		heapallindexed;
	bool		heap_is_heapam; /* TIDs can be checked against the heap */
	BufferAccessStrategy strategy;
	char	   *page;			/* copy of the page being checked */
	OmenMetaPageData meta;		/* as read first: the fixed fields */
	OmenMetaPageData endmeta;	/* as read after the node pages */
	XLogRecPtr	meta_lsn;		/* the meta page's LSN, as read first */
	XLogRecPtr	endmeta_lsn;	/* and after the node pages */
	OmenQuantState *quants[2];	/* each parameter set's quantizer */
	OmenSketch *sketch;			/* the directory's distance sketch, or NULL */
	OmenFitness fitness;		/* of the live nodes read */

	/* node slots, by node id */
	uint32		capnodes;
	uint8	   *flags;			/* OMENDB_NODE_* and the bits above, 0
								 * until the slot is read */
	uint16	   *nnbrs;
	uint64	   *nbrstart;		/* where the node's neighbours are in edges */
	uint32	   *edges;
	uint64		nedges;
	uint64		capedges;
	uint32		nalloc;			/* node slots allocated */

	/* node pages, by block - first_node_block: nodes read from each */
	uint32		cappages;
	uint16	   *pagecount;
	BlockNumber next_block;		/* first node page not read yet */

	/* the largest heap block a live node points at */
	BlockNumber max_heap_block;
	uint32		max_heap_block_node;

	/* heapallindexed */
	LiveNode   *live;
	uint32		nlive;
	uint32		caplive;
	MemoryContext rowcxt;
	float	   *v;				/* a heap vector as indexed */
	uint8	   *code;			/* and its code */
	OmenFilterColumns *filter;	/* the filter columns, and */
	uint64	   *labels;			/* a row's labels */
	int64		heaprows;
} CheckState;

/* ----------------------------------------------------------------
 *		Reading pages
 * ----------------------------------------------------------------
 */

/*
 * Copy a page into cs->page under a share lock.  The checks then run on the
 * copy, without any lock, so that they may allocate and report freely.
 */
static void
copy_page(CheckState *cs, Relation rel, BlockNumber blkno)
{
	Buffer		buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL,
										 cs->strategy);

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	memcpy(cs->page, BufferGetPage(buf), BLCKSZ);
	UnlockReleaseBuffer(buf);
}

/* Read and check the meta page; returns its LSN. */
static XLogRecPtr
read_meta_page(CheckState *cs, OmenMetaPageData *meta)
{
	copy_page(cs, cs->index, OMENDB_METAPAGE_BLKNO);
	omendb_meta_from_page(cs->index, cs->page, meta);
	return PageGetLSN(cs->page);
}

/*
 * The meta page read after the node pages must agree with the first copy
 * on everything but the fields that change after build, a refit's among
 * them: one that VACUUM starts, goes on with or finishes while we read
 * leaves nodes of the set we read them with (refit_began tells the set
 * apart if we meet a node of the other).
 */
static void
compare_meta(CheckState *cs, const OmenMetaPageData *later)
{
	OmenMetaPageData a = cs->meta;
	OmenMetaPageData b = *later;

	a.quant_current = b.quant_current = 0;
	a.quant_epoch = b.quant_epoch = 0;
	a.quant_refitting = b.quant_refitting = 0;
	a.quant_refits = b.quant_refits = 0;
	a.relink_from = b.relink_from = 0;
	a.entry_node = b.entry_node = 0;
	a.insert_block = b.insert_block = 0;
	a.nnodes = b.nnodes = 0;
	a.walk_rate = b.walk_rate = 0;
	a.deleted_nodes = b.deleted_nodes = 0;
	a.free_nodes = b.free_nodes = 0;
	a.counted_until = b.counted_until = 0;
	a.vacuum_cleanups = b.vacuum_cleanups = 0;
	a.vacuum_deleted = b.vacuum_deleted = 0;
	a.vacuum_freed = b.vacuum_freed = 0;
	a.vacuum_repaired = b.vacuum_repaired = 0;
	a.vacuum_linked = b.vacuum_linked = 0;
	a.quiet_slots = b.quiet_slots = 0;
	if (memcmp(&a, &b, sizeof(OmenMetaPageData)) != 0)
		omendb_corrupted(cs->index, "Block %u: the fixed fields of the meta page changed while the index was being checked.",
						 OMENDB_METAPAGE_BLKNO);
}

/* ----------------------------------------------------------------
 *		Node pages
 * ----------------------------------------------------------------
 */

/* Make room for node slots up to cap - 1. */
static void
reserve_nodes(CheckState *cs, uint32 cap)
{
	if (cap <= cs->capnodes)
		return;
	if (cs->flags == NULL)
	{
		cs->flags = MemoryContextAllocHuge(CurrentMemoryContext, (Size) cap);
		cs->nnbrs = MemoryContextAllocHuge(CurrentMemoryContext, (Size) cap * sizeof(uint16));
		cs->nbrstart = MemoryContextAllocHuge(CurrentMemoryContext, (Size) cap * sizeof(uint64));
	}
	else
	{
		cs->flags = repalloc_huge(cs->flags, (Size) cap);
		cs->nnbrs = repalloc_huge(cs->nnbrs, (Size) cap * sizeof(uint16));
		cs->nbrstart = repalloc_huge(cs->nbrstart, (Size) cap * sizeof(uint64));
	}
	memset(cs->flags + cs->capnodes, 0, (Size) (cap - cs->capnodes));
	cs->capnodes = cap;
}

/* Make room for node slot node, growing geometrically. */
static void
grow_nodes(CheckState *cs, uint32 node)
{
	uint32		cap = cs->capnodes;

	if (node < cap)
		return;
	while (cap <= node)
		cap = cap < PG_UINT32_MAX / 2 ? Max(cap * 2, 1024) : PG_UINT32_MAX;
	reserve_nodes(cs, cap);
}

/* Make room for n more edges, growing geometrically. */
static void
reserve_edges(CheckState *cs, uint64 n)
{
	uint64		cap;

	if (cs->nedges + n <= cs->capedges)
		return;
	cap = Max(cs->capedges * 2, cs->nedges + n);
	if (cs->edges == NULL)
		cs->edges = MemoryContextAllocHuge(CurrentMemoryContext, cap * sizeof(uint32));
	else
		cs->edges = repalloc_huge(cs->edges, cap * sizeof(uint32));
	cs->capedges = cap;
}

static void
add_edges(CheckState *cs, uint32 node, const uint32 *nbrs, int n)
{
	reserve_edges(cs, n);
	memcpy(cs->edges + cs->nedges, nbrs, sizeof(uint32) * n);
	cs->nbrstart[node] = cs->nedges;
	cs->nnbrs[node] = n;
	cs->nedges += n;
}

static void
add_live(CheckState *cs, uint32 node, OmenNodeHeader hdr)
{
	LiveNode   *ln;

	if (cs->nlive == cs->caplive)
	{
		cs->caplive = Max(cs->caplive * 2, 1024);
		if (cs->live == NULL)
			cs->live = MemoryContextAllocHuge(CurrentMemoryContext, (Size) cs->caplive * sizeof(LiveNode));
		else
			cs->live = repalloc_huge(cs->live, (Size) cs->caplive * sizeof(LiveNode));
	}
	ln = &cs->live[cs->nlive++];
	ln->tid = hdr->heaptid;
	ln->state = LIVE_UNMATCHED;
	ln->node = node;
	ln->error = hdr->error;
	ln->norm = hdr->norm;
	ln->qset = hdr->qset;
	ln->codehash = hash_bytes_extended(OmenNodeCode(hdr, cs->meta.max_degree),
									   cs->meta.code_size, 0);
	ln->labelhash = 0;
	if (cs->meta.label_size > 0)
		ln->labelhash = hash_bytes_extended((const unsigned char *) OmenNodeLabels(hdr, &cs->meta),
											cs->meta.label_size, 0);
	ln->valuehash = 0;
	if (cs->meta.value_size > 0)
		ln->valuehash = hash_bytes_extended((const unsigned char *) OmenNodeValue(hdr, &cs->meta),
											cs->meta.value_size, 0);
}

/*
 * Whether a refit switched the quantizer's parameter sets since the check
 * read the meta page: then nodes of either set are expected from here on,
 * and each set is read again (the one not in use then was rewritten).
 */
static bool
refit_began(CheckState *cs)
{
	OmenMetaPageData now;

	omendb_read_meta(cs->index, &now);
	if (now.quant_epoch == cs->meta.quant_epoch)
		return false;
	for (int set = 0; set < cs->meta.quant_sets; set++)
		cs->quants[set] = omendb_read_quant(cs->index, &cs->meta, set);
	cs->meta.quant_refitting = true;
	cs->meta.quant_current = now.quant_current;
	cs->meta.quant_epoch = now.quant_epoch;
	return true;
}

/*
 * A zero node (a cosine node of norm 0) is what omendb_fill_zero_node
 * writes, flags aside: error 0, an all-zero code, no neighbours, and a
 * stored value (if any, its header checked with the node) all +0.
 */
static void
check_zero_node(CheckState *cs, BlockNumber blkno, OffsetNumber off,
				uint32 node, OmenNodeHeader hdr)
{
	const uint8 *code = OmenNodeCode(hdr, cs->meta.max_degree);
	const char *value = OmenNodeValue(hdr, &cs->meta);

	/* (from the header's unused int16 on) */
	for (int i = offsetof(Vector, unused); i < (int) cs->meta.value_size; i++)
		if (value[i] != 0)
			omendb_corrupted(cs->index, "Block %u, offset %u (node %u): zero-vector node stores a value with byte %d = %u, expected +0 in every dimension.",
							 blkno, off, node, i, (uint8) value[i]);

	if (hdr->nneighbors != 0 || hdr->error != 0)
		omendb_corrupted(cs->index, "Block %u, offset %u (node %u): zero-vector node (norm 0) with %u neighbours and error bound %g, expected none and 0.",
						 blkno, off, node, hdr->nneighbors, hdr->error);
	for (int i = 0; i < cs->meta.code_size; i++)
		if (code[i] != 0)
			omendb_corrupted(cs->index, "Block %u, offset %u (node %u): zero-vector node (norm 0) with code byte %d = %u, expected an all-zero code.",
							 blkno, off, node, i, code[i]);
}

/*
 * A free slot is all zero but for its flags (omendb.h): an insert that
 * reuses it writes the whole node, and nothing of the node it held may
 * survive, least of all an edge.
 */
static void
check_free_node(CheckState *cs, BlockNumber blkno, OffsetNumber off,
				uint32 node, OmenNodeHeader hdr)
{
	const uint32 *nbrs = OmenNodeNeighbors(hdr);
	const uint8 *code = OmenNodeCode(hdr, cs->meta.max_degree);
	float4		zero = 0;
	char	   *what = NULL;

	if (ItemPointerGetBlockNumberNoCheck(&hdr->heaptid) != 0 ||
		ItemPointerGetOffsetNumberNoCheck(&hdr->heaptid) != 0)
		what = psprintf("heap TID (%u,%u)",
						ItemPointerGetBlockNumberNoCheck(&hdr->heaptid),
						ItemPointerGetOffsetNumberNoCheck(&hdr->heaptid));
	else if (hdr->nneighbors != 0)
		what = psprintf("%u neighbours", hdr->nneighbors);
	else if (memcmp(&hdr->error, &zero, sizeof(float4)) != 0 ||
			 memcmp(&hdr->norm, &zero, sizeof(float4)) != 0)
		what = psprintf("error bound %g and norm %g", hdr->error, hdr->norm);
	for (int i = 0; what == NULL && i < cs->meta.max_degree; i++)
		if (nbrs[i] != 0)
			what = psprintf("neighbour slot %d = %u", i, nbrs[i]);
	for (int i = 0; what == NULL && i < cs->meta.code_size; i++)
		if (code[i] != 0)
			what = psprintf("code byte %d = %u", i, code[i]);
	for (int i = 0; what == NULL && i < cs->meta.label_size / sizeof(uint64); i++)
		if (OmenNodeLabels(hdr, &cs->meta)[i] != 0)
			what = psprintf("label word %d = " UINT64_FORMAT, i,
							OmenNodeLabels(hdr, &cs->meta)[i]);
	for (int i = 0; what == NULL && i < cs->meta.value_size; i++)
		if (OmenNodeValue(hdr, &cs->meta)[i] != 0)
			what = psprintf("stored value byte %d = %u", i,
							(uint8) OmenNodeValue(hdr, &cs->meta)[i]);
	if (what != NULL)
		omendb_corrupted(cs->index, "Block %u, offset %u (node %u): free slot with %s, expected a slot all zero but for its flags.",
						 blkno, off, node, what);
}

/*
 * Whether a deleted node's one neighbour, on a page read before its own,
 * was read as a free slot: VACUUM may have moved the node there after we
 * read that page (omendb_compact.c), so that this is where we met its
 * row.  (The rows check then takes it as the row's live node; a node
 * that is really deleted has a row our snapshot does not see.)
 */
static bool
moved_while_read(CheckState *cs, uint32 node, OmenNodeHeader hdr)
{
	uint32		to;

	if (hdr->nneighbors != 1)
		return false;
	to = OmenNodeNeighbors(hdr)[0];
	return to < node && to < cs->capnodes &&
		cs->flags[to] == OMENDB_NODE_FREE;
}

/*
 * Check one node as read from its page and remember what the graph and
 * heap checks need.  Neighbour ids are checked against the allocated
 * nodes later, once their number is known.
 */
static void
check_node(CheckState *cs, BlockNumber blkno, OffsetNumber off,
		   OmenNodeHeader hdr)
{
	const OmenMetaPageData *meta = &cs->meta;
	uint32		node = omendb_node_id(meta, blkno, off);
	bool		zero;

	if (hdr->flags != OMENDB_NODE_LIVE && hdr->flags != OMENDB_NODE_DELETED &&
		hdr->flags != OMENDB_NODE_FREE)
		omendb_corrupted(cs->index, "Block %u, offset %u (node %u): flags 0x%02X, expected live (0x%02X), deleted (0x%02X) or free (0x%02X).",
						 blkno, off, node, hdr->flags,
						 OMENDB_NODE_LIVE, OMENDB_NODE_DELETED,
						 OMENDB_NODE_FREE);
	/* the page checks kept qset below quant_sets */
	if ((hdr->flags == OMENDB_NODE_FREE || OmenNodeIsZero(meta->metric, hdr)) ?
		hdr->qset != 0 :
		!meta->quant_refitting && hdr->qset != meta->quant_current &&
		!refit_began(cs))
		omendb_corrupted(cs->index, "Block %u, offset %u (node %u): quantizer parameter set %u, but the meta page's current set is %u%s.",
						 blkno, off, node, hdr->qset, meta->quant_current,
						 meta->quant_refitting ? ", with a refit under way" : "");
	if (hdr->flags == OMENDB_NODE_FREE)
	{
		check_free_node(cs, blkno, off, node, hdr);
		grow_nodes(cs, node);
		cs->flags[node] = OMENDB_NODE_FREE;
		add_edges(cs, node, OmenNodeNeighbors(hdr), 0);
		return;
	}

	/*
	 * The encoder rounds the bound up, so it is not negative; one beyond
	 * float range is stored as +infinity, which scans take as no bound.
	 */
	if (!(hdr->error >= 0))
		omendb_corrupted(cs->index, "Block %u, offset %u (node %u): quantization error bound %g.",
						 blkno, off, node, hdr->error);
	if (meta->value_size > 0)
	{
		char	   *problem = omendb_node_value_problem(meta, hdr);

		if (problem != NULL)
			omendb_corrupted(cs->index, "Block %u, offset %u (node %u): %s.",
							 blkno, off, node, problem);
	}
	zero = OmenNodeIsZero(meta->metric, hdr);
	if (zero)
		check_zero_node(cs, blkno, off, node, hdr);
	else if (meta->metric == OMENDB_METRIC_COSINE ? hdr->norm != 1.0f : !(hdr->norm >= 0))
		omendb_corrupted(cs->index, "Block %u, offset %u (node %u): norm %g.",
						 blkno, off, node, hdr->norm);

	if (hdr->flags == OMENDB_NODE_LIVE)
	{
		BlockNumber hblk = ItemPointerGetBlockNumberNoCheck(&hdr->heaptid);
		OffsetNumber hoff = ItemPointerGetOffsetNumberNoCheck(&hdr->heaptid);

		if (hblk == InvalidBlockNumber || !OffsetNumberIsValid(hoff) ||
			(cs->heap_is_heapam && hoff > MaxHeapTuplesPerPage))
			omendb_corrupted(cs->index, "Block %u, offset %u (node %u): live node with invalid heap TID (%u,%u).",
							 blkno, off, node, hblk, hoff);
		if (cs->max_heap_block == InvalidBlockNumber || hblk > cs->max_heap_block)
		{
			cs->max_heap_block = hblk;
			cs->max_heap_block_node = node;
		}
		omendb_fitness_add(&cs->fitness, hdr, zero);
		if (cs->heapallindexed)
			add_live(cs, node, hdr);
	}
	else if (cs->heapallindexed && moved_while_read(cs, node, hdr))
		add_live(cs, node, hdr);

	grow_nodes(cs, node);
	cs->flags[node] = hdr->flags | (zero ? ZERO_NODE : 0);
	add_edges(cs, node, OmenNodeNeighbors(hdr), hdr->nneighbors);
}

/* The node at an offset of the node page in cs->page, checked as an item. */
static OmenNodeHeader
page_node(CheckState *cs, BlockNumber blkno, OffsetNumber off)
{
	char	   *problem = omendb_node_item_problem(cs->page, &cs->meta, off);

	if (problem != NULL)
		omendb_corrupted(cs->index, "Block %u, offset %u (node %u): %s.",
						 blkno, off, omendb_node_id(&cs->meta, blkno, off),
						 problem);
	return (OmenNodeHeader) PageGetItem(cs->page, PageGetItemId(cs->page, off));
}

/*
 * Read a node's page again, as it is now, and return the node (in
 * cs->page): its code, flags and TID for the heap check, its state and
 * neighbours where reading under concurrent writes needs a second look.
 */
static OmenNodeHeader
read_node(CheckState *cs, uint32 node)
{
	BlockNumber blkno = omendb_node_block(&cs->meta, node);
	char	   *problem;

	copy_page(cs, cs->index, blkno);
	problem = omendb_node_page_problem(cs->page, &cs->meta);
	if (problem != NULL)
		omendb_corrupted(cs->index, "Block %u: %s.", blkno, problem);
	return page_node(cs, blkno, omendb_node_offset(&cs->meta, node));
}

/*
 * A label page among the node pages (in cs->page): its ids are taken as
 * slots that no edge may lead to and no count counts.  Returns the slots,
 * as if the page were a full node page.
 */
static uint32
check_label_page(CheckState *cs, BlockNumber blkno)
{
	char	   *problem = omendb_label_page_problem(cs->page, &cs->meta);

	if (problem != NULL)
		omendb_corrupted(cs->index, "Block %u: %s.", blkno, problem);
	for (OffsetNumber off = FirstOffsetNumber; off <= cs->meta.nodes_per_page; off++)
	{
		uint32		node = omendb_node_id(&cs->meta, blkno, off);

		grow_nodes(cs, node);
		cs->flags[node] = LABEL_SLOT;
		cs->nbrstart[node] = cs->nedges;
		cs->nnbrs[node] = 0;
	}
	return cs->meta.nodes_per_page;
}

/*
 * Read a node page and check the nodes on it from slot first_off on (the
 * ones before were read earlier: see read_node_pages).  Returns the number
 * of nodes on the page.
 */
static uint32
check_node_page(CheckState *cs, BlockNumber blkno, OffsetNumber first_off)
{
	Page		page = cs->page;
	char	   *problem;
	OffsetNumber maxoff;
	unsigned	nfree = 0;

	copy_page(cs, cs->index, blkno);
	if (PageIsNew(page))
		return 0;				/* see read_node_pages */
	if (omendb_is_label_block(&cs->meta, blkno))
		return check_label_page(cs, blkno);
	problem = omendb_node_page_problem(page, &cs->meta);
	if (problem != NULL)
		omendb_corrupted(cs->index, "Block %u: %s.", blkno, problem);
	maxoff = PageGetMaxOffsetNumber(page);
	if (maxoff < first_off - 1)
		omendb_corrupted(cs->index, "Block %u: node page held %u nodes, and now holds %u.",
						 blkno, (unsigned) (first_off - 1), (unsigned) maxoff);
	for (OffsetNumber off = first_off; off <= maxoff; off++)
		check_node(cs, blkno, off, page_node(cs, blkno, off));

	/*
	 * Free-slot accounting.  Freeing a slot and reusing one change the
	 * page's count in the same page change, so each copy agrees with
	 * itself.  The slots before first_off were checked on an earlier copy,
	 * but an insert may have reused one since: all are counted.
	 */
	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		nfree += page_node(cs, blkno, off)->flags == OMENDB_NODE_FREE;
	if (nfree != OmenPageGetOpaque(page)->nfree)
		omendb_corrupted(cs->index, "Block %u: free-slot count %u in the special space, but %u of the page's %u nodes are free.",
						 blkno, (unsigned) OmenPageGetOpaque(page)->nfree,
						 nfree, (unsigned) maxoff);
	return maxoff;
}

/* Read node page blkno, or what was added to it since it was last read. */
static void
read_node_page(CheckState *cs, BlockNumber blkno)
{
	uint32		p = blkno - cs->meta.first_node_block;

	if (p >= cs->cappages)
	{
		uint32		cap = Max(cs->cappages * 2, p + 64);

		if (cs->pagecount == NULL)
			cs->pagecount = MemoryContextAllocHuge(CurrentMemoryContext, (Size) cap * sizeof(uint16));
		else
			cs->pagecount = repalloc_huge(cs->pagecount, (Size) cap * sizeof(uint16));
		memset(cs->pagecount + cs->cappages, 0, (Size) (cap - cs->cappages) * sizeof(uint16));
		cs->cappages = cap;
	}
	cs->pagecount[p] = check_node_page(cs, blkno,
									   (OffsetNumber) (cs->pagecount[p] + 1));
	CHECK_FOR_INTERRUPTS();
}

/* The nodes on the pages read, up to node page last (or none). */
static uint32
allocated_nodes(CheckState *cs, BlockNumber last)
{
	BlockNumber first = cs->meta.first_node_block;

	if (last == InvalidBlockNumber)
		return 0;
	return (last - first) * cs->meta.nodes_per_page + cs->pagecount[last - first];
}

/*
 * The meta page, read after the node pages, names as its entry point a
 * slot that we read as free or as a zero node, which no entry point may
 * be.  An insert may have reused the slot after we read it, and made it
 * the entry point (or VACUUM did, choosing a new one): read the slot
 * again, and if it holds a graph node now, check it and take it as it is
 * now.  Its neighbours are nodes that were allocated when we read it:
 * the caller reads on.  If the slot is still free or a zero node, it was
 * so when we read the meta page: a slot is free for at most one stretch
 * of time while we run, and a node never changes its norm (README.omendb,
 * "Verification (omendb_check)").
 */
static void
reread_entry(CheckState *cs, uint32 entry)
{
	OmenNodeHeader hdr = read_node(cs, entry);

	if (hdr->flags == OMENDB_NODE_FREE)
		omendb_corrupted(cs->index, "Block %u: entry node %u is a free slot.",
						 OMENDB_METAPAGE_BLKNO, entry);
	if (OmenNodeIsZero(cs->meta.metric, hdr))
		omendb_corrupted(cs->index, "Block %u: entry node %u is a zero-vector node.",
						 OMENDB_METAPAGE_BLKNO, entry);
	check_node(cs, omendb_node_block(&cs->meta, entry),
			   omendb_node_offset(&cs->meta, entry), hdr);
}

/* The last node page read with nodes on it, or InvalidBlockNumber. */
static BlockNumber
last_node_page(CheckState *cs)
{
	for (BlockNumber b = cs->next_block; b > cs->meta.first_node_block; b--)
		if (cs->pagecount[b - 1 - cs->meta.first_node_block] > 0 &&
			!omendb_is_label_block(&cs->meta, b - 1))
			return b - 1;
	return InvalidBlockNumber;
}

/*
 * Node pages past the meta page's last one that hold free slots alone were
 * left by a crash between VACUUM's naming a new last page and truncating
 * the file (omendb_compact.c): they count as not there.
 */
static BlockNumber
skip_truncated_pages(CheckState *cs, BlockNumber last)
{
	BlockNumber named = cs->endmeta.insert_block;

	if (last == InvalidBlockNumber || named == InvalidBlockNumber ||
		named >= last)
		return last;
	for (uint32 node = allocated_nodes(cs, named);
		 node < allocated_nodes(cs, last); node++)
		if (cs->flags[node] != OMENDB_NODE_FREE &&
			cs->flags[node] != LABEL_SLOT)
			return last;
	return named;
}

/*
 * Read every node page.  Inserts may run meanwhile, so the pages we read
 * are not one snapshot of the index; we make them add up to one.  New
 * slots are added to one page after the other (free slots are reused in
 * place), so a page read with room for more nodes and followed by a page
 * with nodes was filled after we read it: we read it again (once is
 * enough: it was full before its successor got a node).  The last page
 * with nodes is read again after all others, so that any neighbour we
 * read points at a node slot we have read, and the meta page is read
 * after that: if its insert page is past the last page we read, pages
 * were added meanwhile and we read on.  If its entry point is a slot we
 * read as free or as a zero node, an insert may have reused the slot
 * since: see reread_entry.
 *
 * All-zero pages after the last node page are left by a crash after
 * extending the relation (the next extension reuses them) or are being
 * set up by an insert right now; anywhere else they are damage.
 */
static void
read_node_pages(CheckState *cs)
{
	const OmenMetaPageData *meta = &cs->meta;
	BlockNumber first = meta->first_node_block;
	BlockNumber last;
	BlockNumber chased = InvalidBlockNumber;
	bool		entry_chased = false;
	BlockNumber nblocks = RelationGetNumberOfBlocks(cs->index);

	/* room for the nodes there are now, with about R edges each */
	if (nblocks > first)
	{
		uint64		slots = (uint64) (nblocks - first) * meta->nodes_per_page;

		reserve_nodes(cs, (uint32) Min(slots, PG_UINT32_MAX));
		reserve_edges(cs, slots * meta->graph_degree);
	}

	cs->next_block = first;
	for (;;)
	{
		nblocks = RelationGetNumberOfBlocks(cs->index);
		for (; cs->next_block < nblocks; cs->next_block++)
			read_node_page(cs, cs->next_block);

		last = last_node_page(cs);
		if (last != InvalidBlockNumber)
		{
			for (BlockNumber b = first; b < last; b++)
			{
				if (cs->pagecount[b - first] < meta->nodes_per_page)
					read_node_page(cs, b);
				if (cs->pagecount[b - first] < meta->nodes_per_page)
					omendb_corrupted(cs->index, "Block %u: node page holds %u of %u nodes, but node page %u after it holds nodes.",
									 b, (unsigned) cs->pagecount[b - first],
									 meta->nodes_per_page, last);
			}
			if (cs->pagecount[last - first] < meta->nodes_per_page)
				read_node_page(cs, last);
		}

		cs->endmeta_lsn = read_meta_page(cs, &cs->endmeta);
		compare_meta(cs, &cs->endmeta);
		if (cs->endmeta.insert_block == InvalidBlockNumber ||
			(last != InvalidBlockNumber && cs->endmeta.insert_block <= last))
		{
			uint32		entry = cs->endmeta.entry_node;

			if (entry == OMENDB_INVALID_NODE)
				break;

			/*
			 * An index of zero nodes and free slots alone gets its entry
			 * point with its first other node, which may have gone to the
			 * last page after we read it: if so, read that page again,
			 * once.
			 */
			if (entry >= allocated_nodes(cs, last))
			{
				if (entry_chased)
					break;
				entry_chased = true;
			}
			else if (NO_EDGE_TARGET(cs->flags[entry]))
				reread_entry(cs, entry);
			else
				break;
			cs->next_block = last == InvalidBlockNumber ? first : last + 1;
			continue;
		}

		/*
		 * Pages were added: read on from the first one without nodes.  But
		 * if the meta page named this insert page last time too, we have
		 * read that page since, after it was published, and found no node
		 * on it: the meta page is wrong (reported below).
		 */
		if (cs->endmeta.insert_block == chased)
			break;
		chased = cs->endmeta.insert_block;
		cs->next_block = last == InvalidBlockNumber ? first : last + 1;
	}

	last = skip_truncated_pages(cs, last);
	cs->nalloc = allocated_nodes(cs, last);
	if (cs->endmeta.insert_block != last)
		omendb_corrupted(cs->index, "Block %u: meta page says new nodes go to block %u, but the last node page is block %u.",
						 OMENDB_METAPAGE_BLKNO, cs->endmeta.insert_block, last);
	if (cs->endmeta.entry_node != OMENDB_INVALID_NODE &&
		cs->endmeta.entry_node >= cs->nalloc)
		omendb_corrupted(cs->index, "Block %u: entry node %u, but %u nodes are allocated.",
						 OMENDB_METAPAGE_BLKNO, cs->endmeta.entry_node, cs->nalloc);
}

/*
 * Every live or deleted node's labels are its entry in the label directory.
 * Each node page is locked, then its group's label page, in the order of
 * writers, which change a node and its entry in one record: so the two
 * agree while both are held, whatever inserts and VACUUM do meanwhile.
 */
static void
check_label_directory(CheckState *cs)
{
	const OmenMetaPageData *meta = &cs->meta;
	BlockNumber nblocks = RelationGetNumberOfBlocks(cs->index);
	uint64	   *entry = palloc(OmenEntrySize(meta));

	if (meta->label_stride == 0)
		return;
	for (BlockNumber blkno = meta->first_node_block; blkno < nblocks; blkno++)
	{
		Buffer		buf = omendb_lock_node_page(cs->index, meta, blkno,
												cs->strategy, BUFFER_LOCK_SHARE);
		Buffer		labelbuf;
		Page		page;

		if (!BufferIsValid(buf))
			continue;			/* a label page, or all zero */
		labelbuf = omendb_lock_label_page(cs->index, meta,
										  omendb_label_block(meta, blkno),
										  cs->strategy, BUFFER_LOCK_SHARE);
		if (!BufferIsValid(labelbuf))
			omendb_corrupted(cs->index, "Block %u: the label page of node page %u is all zero.",
							 omendb_label_block(meta, blkno), blkno);
		page = BufferGetPage(buf);
		for (OffsetNumber off = FirstOffsetNumber;
			 off <= PageGetMaxOffsetNumber(page); off++)
		{
			OmenNodeHeader hdr = omendb_page_node(cs->index, page, meta, off);
			uint32		node = omendb_node_id(meta, blkno, off);

			if (hdr->flags == OMENDB_NODE_FREE)
				continue;
			omendb_get_label_entry(BufferGetPage(labelbuf), meta, node, entry);
			if (memcmp(entry, OmenNodeLabels(hdr, meta), meta->label_size) != 0)
				omendb_corrupted(cs->index, "Block %u, offset %u (node %u): its entry on label page %u differs from its labels.",
								 blkno, off, node, BufferGetBlockNumber(labelbuf));
		}
		UnlockReleaseBuffer(labelbuf);
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(entry);
}

/*
 * The meta page's node counters agree with the nodes read.  Each counter
 * changes in the record that changes the nodes it counts, a record that
 * changes the meta page too once the counters count every node page.  So
 * if they did when the meta page was first read, and its LSN is the same
 * after the node pages were read, no node changed its state meanwhile:
 * the nodes read are what the counters count.  Otherwise the two may
 * legitimately differ and are not compared; nor are they for an index
 * that is not WAL-logged, whose pages carry no LSN.
 */
static void
check_node_counters(CheckState *cs, const CheckCounts *counts)
{
	if (!omendb_meta_counts_all(&cs->meta) || !RelationNeedsWAL(cs->index) ||
		cs->meta_lsn != cs->endmeta_lsn)
		return;
	if (counts->deleted != cs->endmeta.deleted_nodes ||
		counts->free != cs->endmeta.free_nodes)
		omendb_corrupted(cs->index, "Block %u: meta page counts %u deleted nodes and %u free slots, but the node pages hold %lld and %lld.",
						 OMENDB_METAPAGE_BLKNO, cs->endmeta.deleted_nodes,
						 cs->endmeta.free_nodes, (long long) counts->deleted,
						 (long long) counts->free);
}

/* ----------------------------------------------------------------
 *		The graph
 * ----------------------------------------------------------------
 */

/*
 * u's list, as we read it, names v, which we read as a free slot or a zero
 * node: no edge of a live node may point at either.  But we read u and v
 * at different times.  An insert may have reused v after we read it and
 * linked it from u; VACUUM may have freed v after we read u, having taken
 * the edge out of u's list first.  So read u again, and then v: only if u
 * is still live and lists v, and v is still free or a zero node, was it so
 * while u listed it, since a slot is free for at most one stretch of time
 * while we run, and a node never changes its norm (README.omendb,
 * "Verification (omendb_check)").  Returns v's state now (flags and
 * ZERO_NODE) if the edge is damage, else 0.  A slot found holding a graph
 * node now is marked, and the other edges to it need no second look: it
 * stays one while we run.
 */
static uint8
edge_target_now(CheckState *cs, uint32 u, uint32 v)
{
	OmenNodeHeader hdr;
	bool		listed = false;
	uint8		state;

	if (cs->flags[v] & SLOT_REUSED)
		return 0;
	hdr = read_node(cs, u);
	if (hdr->flags != OMENDB_NODE_LIVE)
		return 0;
	for (int i = 0; i < hdr->nneighbors && !listed; i++)
		listed = OmenNodeNeighbors(hdr)[i] == v;
	if (!listed)
		return 0;
	hdr = read_node(cs, v);
	state = hdr->flags | (OmenNodeIsZero(cs->meta.metric, hdr) ? ZERO_NODE : 0);
	if (NO_EDGE_TARGET(state))
		return state;
	cs->flags[v] |= SLOT_REUSED;
	return 0;
}

/*
 * Every neighbour is an allocated node other than the node itself, and no
 * list names a node twice; a live node's neighbours are neither free slots
 * nor zero nodes.  A deleted node's may be: VACUUM takes the edges into
 * the deleted nodes it frees out of every other node's list, but not out
 * of theirs, and frees them a page at a time, so that until the last of
 * them is freed (or, after a crash, until the next VACUUM frees the rest)
 * a deleted node may name a free slot, or whatever node has reused it.
 * scratch holds nalloc uint32s.
 */
static void
check_edges(CheckState *cs, uint32 *scratch)
{
	const OmenMetaPageData *meta = &cs->meta;

	/* scratch[v] = u + 1: v was last met in u's list (ids are < 2^32 - 1) */
	memset(scratch, 0, (Size) cs->nalloc * sizeof(uint32));
	for (uint32 u = 0; u < cs->nalloc; u++)
	{
		const uint32 *nbrs = cs->edges + cs->nbrstart[u];

		if (cs->flags[u] == 0)
			elog(ERROR, "omendb_check: node %u of index \"%s\" was not read",
				 u, RelationGetRelationName(cs->index));
		for (int i = 0; i < cs->nnbrs[u]; i++)
		{
			uint32		v = nbrs[i];
			const char *what = NULL;
			uint8		state;

			if (v >= cs->nalloc)
				what = "is not an allocated node";
			else if (v == u)
				what = "is the node itself";
			else if (scratch[v] == u + 1)
				what = "appears twice in its list";
			else if ((cs->flags[u] & OMENDB_NODE_LIVE) &&
					 NO_EDGE_TARGET(cs->flags[v]) &&
					 (state = edge_target_now(cs, u, v)) != 0)
				what = state & OMENDB_NODE_FREE ? "is a free slot" :
					"is a zero-vector node, which the graph never links";
			if (what != NULL)
				omendb_corrupted(cs->index, "Block %u, offset %u (node %u): neighbour %u %s (%u nodes are allocated).",
								 omendb_node_block(meta, u),
								 omendb_node_offset(meta, u), u, v, what,
								 cs->nalloc);
			scratch[v] = u + 1;
		}
		if ((u & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The entry point is a graph node, never a free slot (reread_entry has
 * taken a second look at one we read as either).  There is none only
 * before the first graph node, which becomes the entry point in the record
 * that writes it, so that we read the entry point with it; and once set,
 * the entry point is never cleared (VACUUM keeps even a deleted one).  So
 * with none, every slot we read is a zero node or a free slot.
 */
static void
check_entry_point(CheckState *cs)
{
	uint32		entry = cs->endmeta.entry_node;

	if (entry != OMENDB_INVALID_NODE)
	{
		if (cs->flags[entry] & OMENDB_NODE_FREE)
			omendb_corrupted(cs->index, "Block %u: entry node %u is a free slot.",
							 OMENDB_METAPAGE_BLKNO, entry);
		if (cs->flags[entry] & ZERO_NODE)
			omendb_corrupted(cs->index, "Block %u: entry node %u is a zero-vector node.",
							 OMENDB_METAPAGE_BLKNO, entry);
		return;
	}
	for (uint32 u = 0; u < cs->nalloc; u++)
		if (!NO_EDGE_TARGET(cs->flags[u]))
			omendb_corrupted(cs->index, "Block %u: no entry node, but node %u is neither a zero-vector node nor a free slot.",
							 OMENDB_METAPAGE_BLKNO, u);
}

/* The neighbours of a node as read (the graph store of the walk). */
static int
read_neighbors(OmenGraphStore *store, uint32 node, uint32 *out)
{
	CheckState *cs = (CheckState *) store;

	memcpy(out, cs->edges + cs->nbrstart[node], sizeof(uint32) * cs->nnbrs[node]);
	return cs->nnbrs[node];
}

/*
 * Walk from the entry point over all nodes (deleted ones are traversed by
 * searches too); returns how many live nodes it reaches (no edge leads to
 * a zero node).  queue holds nalloc uint32s.
 */
static uint64
count_reachable(CheckState *cs, uint32 *queue)
{
	bool	   *reached;
	uint32		nreached;
	uint64		live = 0;

	if (cs->endmeta.entry_node == OMENDB_INVALID_NODE)
		return 0;
	reached = MemoryContextAllocHuge(CurrentMemoryContext, (Size) cs->nalloc);
	memset(reached, 0, (Size) cs->nalloc);
	cs->graph.neighbors = read_neighbors;
	cs->graph.max_degree = cs->meta.max_degree;
	nreached = omendb_graph_walk(&cs->graph, cs->endmeta.entry_node, reached,
								 queue, 0);
	for (uint32 i = 0; i < nreached; i++)
		live += (cs->flags[queue[i]] & (OMENDB_NODE_LIVE | ZERO_NODE)) ==
			OMENDB_NODE_LIVE;
	pfree(reached);
	return live;
}

/* ----------------------------------------------------------------
 *		The heap
 * ----------------------------------------------------------------
 */

static int
live_tid_cmp(const void *a, const void *b)
{
	return ItemPointerCompare(&((LiveNode *) a)->tid, &((LiveNode *) b)->tid);
}

/* The live nodes with this TID: *n of them from the returned one on. */
static LiveNode *
find_live(CheckState *cs, ItemPointer tid, int *n)
{
	uint32		lo = 0;
	uint32		hi = cs->nlive;
	LiveNode   *ln;

	while (lo < hi)
	{
		uint32		mid = lo + (hi - lo) / 2;

		if (ItemPointerCompare(&cs->live[mid].tid, tid) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	ln = &cs->live[lo];
	*n = 0;
	while (lo + *n < cs->nlive && ItemPointerEquals(&ln[*n].tid, tid))
		(*n)++;
	return ln;
}

/*
 * Of n live nodes read with one row's TID, the one that still is: VACUUM's
 * renumbering moves nodes to later pages, so that the pages read up may
 * meet a row live in its old slot and again in its copy (README.omendb,
 * "Renumbering").  The old slot is then a deleted node.  Returns NULL
 * unless exactly one of them is still live with the TID; all are taken as
 * matched.
 */
static LiveNode *
live_after_move(CheckState *cs, LiveNode *ln, int n)
{
	LiveNode   *still = NULL;
	int			nstill = 0;

	for (int i = 0; i < n; i++)
	{
		OmenNodeHeader hdr = read_node(cs, ln[i].node);

		ln[i].state = LIVE_MATCHED;
		if (hdr->flags == OMENDB_NODE_LIVE &&
			ItemPointerEquals(&hdr->heaptid, &ln[i].tid))
		{
			still = &ln[i];
			nstill++;
		}
	}
	return nstill == 1 ? still : NULL;
}

/*
 * A row's entry in the label directory carries its vector's sketch.  The
 * node's page is locked, then its label page, in the order of writers, so
 * that the node and its entry agree; a node that no longer holds the row
 * (a concurrent VACUUM moved it, and its copy's entry was copied from this
 * one) is left alone.
 */
static void
check_row_sketch(CheckState *cs, uint32 node, ItemPointer tid, const float *x)
{
	const OmenMetaPageData *meta = &cs->meta;
	BlockNumber blkno = omendb_node_block(meta, node);
	uint64		want[OMENDB_SKETCH_MAX_WORDS];
	uint64	   *entry;
	Buffer		buf;
	Buffer		labelbuf;
	OmenNodeHeader hdr;

	omendb_sketch_encode(cs->sketch, x, want);
	buf = omendb_lock_node_page(cs->index, meta, blkno, cs->strategy,
								BUFFER_LOCK_SHARE);
	if (!BufferIsValid(buf))
		return;
	hdr = omendb_page_node(cs->index, BufferGetPage(buf), meta,
						   omendb_node_offset(meta, node));
	if (hdr->flags != OMENDB_NODE_FREE && ItemPointerEquals(&hdr->heaptid, tid))
	{
		labelbuf = omendb_lock_label_page(cs->index, meta,
										  omendb_label_block(meta, blkno),
										  cs->strategy, BUFFER_LOCK_SHARE);
		if (BufferIsValid(labelbuf))
		{
			entry = palloc(OmenEntrySize(meta));
			omendb_get_label_entry(BufferGetPage(labelbuf), meta, node, entry);
			if (memcmp(entry + meta->label_size / sizeof(uint64), want,
					   sizeof(uint64) * meta->sketch_words) != 0)
				omendb_corrupted(cs->index, "Block %u, offset %u (node %u): its sketch on label page %u does not match heap row (%u,%u).",
								 blkno, omendb_node_offset(meta, node), node,
								 BufferGetBlockNumber(labelbuf),
								 ItemPointerGetBlockNumber(tid),
								 ItemPointerGetOffsetNumber(tid));
			pfree(entry);
			UnlockReleaseBuffer(labelbuf);
		}
	}
	UnlockReleaseBuffer(buf);
}

/*
 * A heap row the index should hold (visible to the snapshot, the indexed
 * value not NULL, the predicate true): exactly one live node has its TID,
 * with the code and error bound of its vector.
 */
static void
check_heap_row(CheckState *cs, ItemPointer tid, Datum value,
			   const uint64 *labels)
{
	const OmenMetaPageData *meta = &cs->meta;
	Vector	   *vec = omendb_datum_vector(cs->index, value);
	BlockNumber hblk = ItemPointerGetBlockNumber(tid);
	OffsetNumber hoff = ItemPointerGetOffsetNumber(tid);
	LiveNode   *ln;
	int			n;
	float		norm;
	bool		in_graph;
	float		enc_error;
	double		err;

	cs->heaprows++;
	ln = find_live(cs, tid, &n);
	if (meta->quant_trained && vec->dim != meta->dimensions)
		omendb_corrupted(cs->index, "Heap row (%u,%u) has %d dimensions, the index %u.",
						 hblk, hoff, vec->dim, meta->dimensions);
	/* false for a zero vector under cosine, held as a zero node */
	in_graph = omendb_prepare_vector(meta->metric, vec->x, vec->dim,
									 meta->ip_max_norm, cs->v, &norm);
	if (n == 0 && !in_graph)
		omendb_corrupted(cs->index, "Heap row (%u,%u) has a zero vector, but no live node (indexes built before zero vectors were held as zero nodes lack them).",
						 hblk, hoff);
	if (n == 0)
		omendb_corrupted(cs->index, "Heap row (%u,%u) has no live node.", hblk, hoff);
	if (n > 1)
	{
		LiveNode   *still = live_after_move(cs, ln, n);

		if (still == NULL)
			omendb_corrupted(cs->index, "Heap row (%u,%u) has %d live nodes (%u and %u).",
							 hblk, hoff, n, ln[0].node, ln[1].node);
		ln = still;
	}
	ln->state = LIVE_MATCHED;

	if (meta->label_size > 0 &&
		hash_bytes_extended((const unsigned char *) labels, meta->label_size, 0) != ln->labelhash)
		omendb_corrupted(cs->index, "Block %u, offset %u (node %u): filter labels do not match heap row (%u,%u).",
						 omendb_node_block(meta, ln->node),
						 omendb_node_offset(meta, ln->node), ln->node,
						 hblk, hoff);

	if (cs->sketch != NULL)
		check_row_sketch(cs, ln->node, tid, vec->x);

	/* a stored value is the row's, byte for byte (a zero node's is +0) */
	if (meta->value_size > 0 && in_graph)
	{
		struct varlena *v = PG_DETOAST_DATUM(value);

		if (VARSIZE(v) != meta->value_size ||
			hash_bytes_extended((const unsigned char *) v, meta->value_size,
								0) != ln->valuehash)
			omendb_corrupted(cs->index, "Block %u, offset %u (node %u): stored value does not match heap row (%u,%u).",
							 omendb_node_block(meta, ln->node),
							 omendb_node_offset(meta, ln->node), ln->node,
							 hblk, hoff);
	}

	/* the code, error and norm of a zero node were checked with the node */
	if (in_graph == (meta->metric == OMENDB_METRIC_COSINE && ln->norm == 0))
		omendb_corrupted(cs->index, "Block %u, offset %u (node %u): %s, but heap row (%u,%u) %s.",
						 omendb_node_block(meta, ln->node),
						 omendb_node_offset(meta, ln->node), ln->node,
						 in_graph ? "zero-vector node" : "not a zero-vector node",
						 hblk, hoff,
						 in_graph ? "has a nonzero vector" : "has a zero vector");
	if (!in_graph)
		return;

	enc_error = omendb_quant_encode(cs->quants[ln->qset], cs->v, cs->code);
	if (hash_bytes_extended(cs->code, meta->code_size, 0) != ln->codehash)
	{
		const uint8 *stored = OmenNodeCode(read_node(cs, ln->node), meta->max_degree);

		for (int i = 0; i < meta->code_size; i++)
			if (stored[i] != cs->code[i])
				omendb_corrupted(cs->index, "Block %u, offset %u (node %u): code byte %d is %u, but heap row (%u,%u) encodes to %u.",
								 omendb_node_block(meta, ln->node),
								 omendb_node_offset(meta, ln->node), ln->node,
								 i, stored[i], hblk, hoff, cs->code[i]);
		/* the code changed since we read it: it never does */
		omendb_corrupted(cs->index, "Block %u, offset %u (node %u): code changed while the index was being checked.",
						 omendb_node_block(meta, ln->node),
						 omendb_node_offset(meta, ln->node), ln->node);
	}

	/*
	 * The encoder stores an error beyond float range as +infinity, and no
	 * other error: the stored bound is infinite exactly when the row's is.
	 */
	if ((bool) isinf(ln->error) != (bool) isinf(enc_error))
		omendb_corrupted(cs->index, "Block %u, offset %u (node %u): quantization error bound %g, but heap row (%u,%u) encodes with error bound %g.",
						 omendb_node_block(meta, ln->node),
						 omendb_node_offset(meta, ln->node), ln->node,
						 ln->error, hblk, hoff, enc_error);

	/*
	 * The scan's lower bounds are only valid if the stored error is at least
	 * the true distance between the vector and its decoded code.  The
	 * encoder rounds it up; allow for nothing more than float rounding.
	 */
	err = omendb_quant_decode_error(cs->quants[ln->qset], cs->v, cs->code);
	if (!(ln->error >= err * (1.0 - 2 * FLT_EPSILON)))
		omendb_corrupted(cs->index, "Block %u, offset %u (node %u): quantization error bound %g is below the true error %g of heap row (%u,%u).",
						 omendb_node_block(meta, ln->node),
						 omendb_node_offset(meta, ln->node), ln->node,
						 ln->error, err, hblk, hoff);
	if (!(ln->norm == norm || fabs((double) ln->norm - norm) <= 4 * FLT_EPSILON * norm))
		omendb_corrupted(cs->index, "Block %u, offset %u (node %u): norm %g, but heap row (%u,%u) has norm %g.",
						 omendb_node_block(meta, ln->node),
						 omendb_node_offset(meta, ln->node), ln->node,
						 ln->norm, hblk, hoff, norm);
}

static void
heap_row_callback(Relation index, ItemPointer tid, Datum *values,
				  bool *isnull, bool tupleIsAlive, void *state)
{
	CheckState *cs = state;
	MemoryContext oldcxt;

	if (isnull[0])
		return;
	oldcxt = MemoryContextSwitchTo(cs->rowcxt);
	if (cs->meta.label_size > 0)
		omendb_filter_labels(cs->filter, values + 1, isnull + 1, cs->labels);
	check_heap_row(cs, tid, values[0], cs->labels);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(cs->rowcxt);
}

/*
 * A live node no heap row matched belongs to a row that is dead (or not
 * yet visible) but not vacuumed yet: fine.  But its line pointer must
 * still be in use, since VACUUM marks the node deleted before it frees
 * the line pointer.  VACUUM may do both while we look, so a node whose
 * line pointer is unused is read again: only if it is still live with
 * that TID is the index wrong.
 */
static void
check_unmatched_live_nodes(CheckState *cs)
{
	uint32		i = 0;

	while (i < cs->nlive)
	{
		BlockNumber hblk = ItemPointerGetBlockNumber(&cs->live[i].tid);
		uint32		j;
		Page		page = cs->page;
		OffsetNumber maxoff;

		for (j = i; j < cs->nlive &&
			 ItemPointerGetBlockNumber(&cs->live[j].tid) == hblk; j++)
			;
		copy_page(cs, cs->heap, hblk);
		maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
		for (uint32 k = i; k < j; k++)
		{
			OffsetNumber hoff = ItemPointerGetOffsetNumber(&cs->live[k].tid);

			if (cs->live[k].state == LIVE_UNMATCHED &&
				(hoff > maxoff || !ItemIdIsUsed(PageGetItemId(page, hoff))))
				cs->live[k].state = LIVE_SUSPECT;
		}
		for (uint32 k = i; k < j; k++)
		{
			OmenNodeHeader hdr;

			if (cs->live[k].state != LIVE_SUSPECT)
				continue;
			hdr = read_node(cs, cs->live[k].node);
			if (hdr->flags == OMENDB_NODE_LIVE &&
				ItemPointerEquals(&hdr->heaptid, &cs->live[k].tid))
				omendb_corrupted(cs->index, "Block %u, offset %u (node %u): live node points at heap TID (%u,%u), whose line pointer is unused.",
								 omendb_node_block(&cs->meta, cs->live[k].node),
								 omendb_node_offset(&cs->meta, cs->live[k].node),
								 cs->live[k].node, hblk,
								 ItemPointerGetOffsetNumber(&cs->live[k].tid));
		}
		i = j;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Scan the table as CREATE INDEX CONCURRENTLY's first scan does, with our
 * snapshot (taken before the index was read), and match its rows with the
 * live nodes.  table_index_build_scan evaluates expressions and the
 * predicate, and reports heap-only tuples by the TID of their HOT chain's
 * root, which is the one the index holds.
 */
static void
check_heap(CheckState *cs, Snapshot snapshot)
{
	IndexInfo  *indexinfo = BuildIndexInfo(cs->index);
	TableScanDesc scan;
	uint32		unmatched = 0;

	qsort(cs->live, cs->nlive, sizeof(LiveNode), live_tid_cmp);
	cs->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "omendb_check row",
									   ALLOCSET_DEFAULT_SIZES);
	cs->v = palloc(sizeof(float) * (VECTOR_MAX_DIM + 1));
	cs->code = palloc(VECTOR_MAX_DIM + 1);
	cs->filter = omendb_filter_columns(cs->index, cs->meta.signature_bits);
	cs->labels = palloc0(Max(cs->meta.label_size, sizeof(uint64)));

	indexinfo->ii_Concurrent = true;
	indexinfo->ii_Unique = false;
	indexinfo->ii_ExclusionOps = NULL;
	indexinfo->ii_ExclusionProcs = NULL;
	indexinfo->ii_ExclusionStrats = NULL;
	scan = table_beginscan_strat(cs->heap, snapshot, 0, NULL, true, true);
	/* ends the scan */
	table_index_build_scan(cs->heap, cs->index, indexinfo, true, false,
						   heap_row_callback, cs, scan);

	if (cs->heap_is_heapam)
		check_unmatched_live_nodes(cs);
	for (uint32 i = 0; i < cs->nlive; i++)
		unmatched += cs->live[i].state != LIVE_MATCHED;
	elog(DEBUG1, "omendb_check: %lld heap rows of \"%s\" matched, %u live nodes of \"%s\" belong to rows the snapshot does not see",
		 (long long) cs->heaprows, RelationGetRelationName(cs->heap),
		 unmatched, RelationGetRelationName(cs->index));
	MemoryContextDelete(cs->rowcxt);
}

/* ----------------------------------------------------------------
 *		Entry point
 * ----------------------------------------------------------------
 */

/* Is the relation an omendb index we can read? */
static void
check_readable(Relation index)
{
	if (index->rd_rel->relkind != RELKIND_INDEX ||
		index->rd_indam->ambuild != omendb_build)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an omendb index",
						RelationGetRelationName(index)),
				 index->rd_rel->relkind == RELKIND_PARTITIONED_INDEX ?
				 errdetail("A partitioned index has no data of its own; check the indexes of its partitions.") : 0));
	if (RELATION_IS_OTHER_TEMP(index))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot access temporary tables of other sessions"),
				 errdetail("Index \"%s\" is associated with temporary relation.",
						   RelationGetRelationName(index))));
	if (!index->rd_index->indisvalid)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot read index \"%s\"",
						RelationGetRelationName(index)),
				 errdetail("Index is not valid.")));
}

/*
 * Open an omendb index and its table with AccessShareLock, the table first
 * to avoid deadlocks (as amcheck does), and make sure that the index is one
 * we can read: a valid omendb index, not another session's temporary one.
 * With need_select, the caller must be allowed to SELECT from the table,
 * which is checked before any lock is taken.  Returns the index; *heap is
 * the table.
 */
Relation
omendb_open_index(Oid indrelid, bool need_select, Relation *heap)
{
	Oid			heapid;
	Relation	index;

	/* if indrelid is not an index, index_open below says so */
	heapid = IndexGetRelation(indrelid, true);
	*heap = NULL;
	if (OidIsValid(heapid))
	{
		if (need_select)
		{
			AclResult	aclresult = pg_class_aclcheck(heapid, GetUserId(),
													  ACL_SELECT);

			if (aclresult != ACLCHECK_OK)
				aclcheck_error(aclresult, OBJECT_TABLE, get_rel_name(heapid));
		}
		*heap = table_open(heapid, AccessShareLock);
	}
	index = index_open(indrelid, AccessShareLock);

	/* the index may have been dropped and its OID reused meanwhile */
	if (*heap == NULL || heapid != IndexGetRelation(indrelid, false))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("could not open parent table of index \"%s\"",
						RelationGetRelationName(index))));
	check_readable(index);
	return index;
}

/*
 * Check the index and count its nodes.  The caller holds AccessShareLock
 * on the index and its table.
 */
static void
check_index(Relation index, Relation heap, bool heapallindexed,
			CheckCounts *counts)
{
	CheckState *cs = palloc0(sizeof(CheckState));
	Snapshot	snapshot;
	OmenMetric	metric = omendb_index_metric(index);
	uint32	   *scratch;

	cs->index = index;
	cs->heap = heap;
	cs->heapallindexed = heapallindexed;
	cs->heap_is_heapam = heap->rd_rel->relam == HEAP_TABLE_AM_OID;
	cs->strategy = GetAccessStrategy(BAS_BULKREAD);
	cs->page = palloc(BLCKSZ);
	cs->max_heap_block = InvalidBlockNumber;

	/*
	 * The snapshot comes before the first index page is read: every row it
	 * sees was inserted, with its node, before that.  Held until we are
	 * done, it also keeps VACUUM from freeing any node that it finds deleted
	 * meanwhile (README.omendb).  An old transaction snapshot (REPEATABLE
	 * READ) may predate the index's indcheckxmin horizon, and see rows the
	 * index need not hold.
	 */
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	if (heapallindexed)
	{
		if (IsolationUsesXactSnapshot() && index->rd_index->indcheckxmin &&
			!TransactionIdPrecedes(HeapTupleHeaderGetXmin(index->rd_indextuple->t_data),
								   snapshot->xmin))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("index \"%s\" cannot be verified using transaction snapshot",
							RelationGetRelationName(index))));
	}

	cs->meta_lsn = read_meta_page(cs, &cs->meta);
	if (cs->meta.metric != metric)
		omendb_corrupted(index, "Block %u: meta page has metric %u, but the operator class says %d.",
						 OMENDB_METAPAGE_BLKNO, cs->meta.metric, (int) metric);
	if (cs->meta.quant_trained)
	{
		/* other blocks of an untrained index are left by a failed training */
		/* every set: one not in use is still well-formed */
		for (int set = 0; set < cs->meta.quant_sets; set++)
			cs->quants[set] = omendb_read_quant(index, &cs->meta, set);
		if (cs->meta.sketch_words > 0)
			cs->sketch = omendb_read_sketch(index, &cs->meta);
		omendb_fitness_init(&cs->fitness, cs->quants[cs->meta.quant_current],
							cs->meta.quant_current,
							cs->quants[1 - cs->meta.quant_current]);
		read_node_pages(cs);
		check_label_directory(cs);
	}

	if (cs->nalloc > 0)
	{
		scratch = MemoryContextAllocHuge(CurrentMemoryContext,
										 (Size) cs->nalloc * sizeof(uint32));
		check_edges(cs, scratch);
		check_entry_point(cs);
		counts->reachable = count_reachable(cs, scratch);
		pfree(scratch);
	}
	for (uint32 u = 0; u < cs->nalloc; u++)
	{
		counts->live += (cs->flags[u] & OMENDB_NODE_LIVE) != 0;
		counts->live_zero += (cs->flags[u] & (OMENDB_NODE_LIVE | ZERO_NODE)) ==
			(OMENDB_NODE_LIVE | ZERO_NODE);
		counts->deleted += (cs->flags[u] & OMENDB_NODE_DELETED) != 0;
		counts->free += (cs->flags[u] & OMENDB_NODE_FREE) != 0;
	}
	counts->nodes = cs->nalloc;
	for (uint32 u = 0; u < cs->nalloc; u++)
		counts->nodes -= cs->flags[u] == LABEL_SLOT;
	if (cs->meta.quant_trained)
		check_node_counters(cs, counts);
	counts->clamped = cs->fitness.clamped;
	counts->ratio_nodes = cs->fitness.ratio_nodes;
	counts->ratio_sum = cs->fitness.ratio_sum;

	/*
	 * Heap blocks only go away when VACUUM truncates the table, which needs
	 * a lock that conflicts with ours, and only after the nodes pointing
	 * there were marked deleted.  Measured after the index was read, so
	 * rows added meanwhile are in.
	 */
	if (cs->heap_is_heapam && cs->max_heap_block != InvalidBlockNumber &&
		cs->max_heap_block >= RelationGetNumberOfBlocks(heap))
		omendb_corrupted(index, "Block %u, offset %u (node %u): live node points at heap block %u, but \"%s\" has %u blocks.",
						 omendb_node_block(&cs->meta, cs->max_heap_block_node),
						 omendb_node_offset(&cs->meta, cs->max_heap_block_node),
						 cs->max_heap_block_node, cs->max_heap_block,
						 RelationGetRelationName(heap),
						 RelationGetNumberOfBlocks(heap));

	if (heapallindexed)
		check_heap(cs, snapshot);
	UnregisterSnapshot(snapshot);
	FreeAccessStrategy(cs->strategy);
}

/*
 * Index expressions and the predicate run with a search_path that callers
 * cannot plant objects in, as amcheck's do from PostgreSQL 17: functions
 * that resolve names when they run (SQL functions above all) would
 * otherwise pick up the caller's functions and operators, and run them as
 * the table's owner.  Set within the caller's GUC nest level, which undoes
 * it.
 */
static void
restrict_search_path(void)
{
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

/*
 * omendb_check(index regclass, heapallindexed boolean DEFAULT false,
 *				OUT nodes bigint, OUT live_nodes bigint,
 *				OUT deleted_nodes bigint, OUT free_nodes bigint,
 *				OUT reachable_live_nodes bigint, OUT reachable_fraction float8,
 *				OUT clamped_nodes bigint, OUT mean_error_ratio float8)
 *
 * Locking follows amcheck's bt_index_check: the table first, to avoid
 * deadlocks, then the index, and the table's owner runs the index's
 * expressions and predicate, in a security-restricted operation, with a
 * safe search_path.
 */
Datum
omendb_check(PG_FUNCTION_ARGS)
{
	Oid			indrelid = PG_GETARG_OID(0);
	bool		heapallindexed = PG_GETARG_BOOL(1);
	Relation	heap;
	Relation	index;
	Oid			save_userid = InvalidOid;
	int			save_sec_context = -1;
	int			save_nestlevel = -1;
	CheckCounts counts = {0};
	TupleDesc	tupdesc;
	Datum		values[CHECK_NCOLUMNS];
	bool		nulls[CHECK_NCOLUMNS] = {0};
	MemoryContext cxt;
	MemoryContext oldcxt;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	index = omendb_open_index(indrelid, false, &heap);
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(heap->rd_rel->relowner,
						   save_sec_context | SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	restrict_search_path();

	/* an unlogged index has no main fork on a standby: nothing to check */
	if (index->rd_rel->relpersistence != RELPERSISTENCE_UNLOGGED ||
		!RecoveryInProgress())
	{
		/* the node arrays can be large: free them before returning */
		cxt = AllocSetContextCreate(CurrentMemoryContext, "omendb_check",
									ALLOCSET_DEFAULT_SIZES);
		oldcxt = MemoryContextSwitchTo(cxt);
		check_index(index, heap, heapallindexed, &counts);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextDelete(cxt);
	}
	else
		ereport(DEBUG1,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot verify unlogged index \"%s\" during recovery, skipping",
						RelationGetRelationName(index))));

	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);

	/*
	 * Nothing here sends invalidations, so the locks may go before commit,
	 * as amcheck's do.
	 */
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);

	values[CHECK_NODES] = Int64GetDatum(counts.nodes);
	values[CHECK_LIVE_NODES] = Int64GetDatum(counts.live);
	values[CHECK_DELETED_NODES] = Int64GetDatum(counts.deleted);
	values[CHECK_FREE_NODES] = Int64GetDatum(counts.free);
	values[CHECK_REACHABLE_LIVE_NODES] = Int64GetDatum(counts.reachable);
	/* of the live nodes in the graph: zero nodes are outside it by design */
	values[CHECK_REACHABLE_FRACTION] = Float8GetDatum(counts.live > counts.live_zero ?
							   (double) counts.reachable / (counts.live - counts.live_zero) : 1.0);
	values[CHECK_CLAMPED_NODES] = Int64GetDatum(counts.clamped);
	/* the quantizer's fitness: see "Verification" in README.omendb */
	if (counts.ratio_nodes > 0)
		values[CHECK_MEAN_ERROR_RATIO] = Float8GetDatum(counts.ratio_sum / counts.ratio_nodes);
	else
		nulls[CHECK_MEAN_ERROR_RATIO] = true;
	tupdesc = BlessTupleDesc(tupdesc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
