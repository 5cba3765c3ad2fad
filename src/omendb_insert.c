/*-------------------------------------------------------------------------
 *
 * omendb_insert.c
 *	  Inserting one vector into the on-disk graph (FreshDiskANN's insert):
 *	  search for the new node's neighbourhood, prune it into out-edges,
 *	  write the node, then add the reverse edges one neighbour at a time.
 *
 * There is no index-wide lock.  Each step holds at most one node page lock
 * at a time (plus the meta page, always taken last), and each page change
 * is its own generic xlog record that leaves a valid graph: a node is
 * written complete before any edge points at it, and each reverse edge is
 * added, or a neighbour list re-pruned, in one record.  See README.omendb.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/xloginsert.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "omendb.h"
#include "omendb_metric.h"
#include "omendb_page.h"
#include "omendb_quant.h"

/* How often a reverse edge is retried when its target changes under us. */
#define BACK_EDGE_ATTEMPTS 3

/* ----------------------------------------------------------------
 *		The graph on buffer pages, as an OmenGraphSource
 * ----------------------------------------------------------------
 */

typedef struct PageNodeEntry
{
	uint32		node;			/* hash key */
	char		status;			/* simplehash's */
	bool		scored;			/* code below is valid */
	uint8	   *code;			/* copy of the node's code */
} PageNodeEntry;

/*
 * The nodes a search has visited: a simplehash, as in the scan.  Every
 * neighbour a search considers is looked up here, and dynahash made that
 * an eighth of an insert's time.
 */
#define SH_PREFIX		pagenodes
#define SH_ELEMENT_TYPE	PageNodeEntry
#define SH_KEY_TYPE		uint32
#define SH_KEY			node
#define SH_HASH_KEY(tb, key)	murmurhash32(key)
#define SH_EQUAL(tb, a, b)	((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct PageSource
{
	OmenGraphSource src;
	Relation	index;
	const OmenMetaPageData *meta;
	pagenodes_hash *nodes;		/* visited and scored nodes */
	MemoryContext cxt;			/* where codes are copied */
	/* scratch for the visitors */
	const OmenQuery *query;
	const uint32 *batch;
	float	   *dists;
	bool	   *usable;
	uint32	   *nbrs;
	int			nnbrs;
} PageSource;

static void
copy_neighbors_visitor(OmenNodeHeader node, int idx, void *arg)
{
	PageSource *ps = arg;

	ps->nnbrs = node->nneighbors;
	memcpy(ps->nbrs, OmenNodeNeighbors(node), sizeof(uint32) * node->nneighbors);
}

static int
page_neighbors(OmenGraphSource *src, uint32 node, uint32 *out)
{
	PageSource *ps = (PageSource *) src;

	ps->nbrs = out;
	ps->nnbrs = 0;
	omendb_visit_nodes(ps->index, ps->meta, &node, 1, copy_neighbors_visitor, ps);
	return ps->nnbrs;
}

static void
score_visitor(OmenNodeHeader node, int idx, void *arg)
{
	PageSource *ps = arg;
	const uint8 *code = OmenNodeCode(node, ps->meta->max_degree);
	PageNodeEntry *e;
	bool		found;

	ps->dists[idx] = omendb_code_distance(ps->query, code);
	ps->usable[idx] = (node->flags & OMENDB_NODE_LIVE) != 0;
	e = pagenodes_insert(ps->nodes, ps->batch[idx], &found);
	if (!found || !e->scored)
	{
		e->code = MemoryContextAlloc(ps->cxt,
									 ps->meta->code_size);
		memcpy(e->code, code, ps->meta->code_size);
		e->scored = true;
	}
}

static void
page_score(OmenGraphSource *src, const OmenQuery *query, const uint32 *nodes,
		   int n, float *dists, bool *usable)
{
	PageSource *ps = (PageSource *) src;

	ps->query = query;
	ps->batch = nodes;
	ps->dists = dists;
	ps->usable = usable;
	omendb_visit_nodes(ps->index, ps->meta, nodes, n, score_visitor, ps);
}

static const uint8 *
page_code(OmenGraphSource *src, uint32 node)
{
	PageSource *ps = (PageSource *) src;
	PageNodeEntry *e = pagenodes_lookup(ps->nodes, node);

	if (e == NULL || !e->scored)
		elog(ERROR, "omendb: code of node %u was not read", node);
	return e->code;
}

static bool
page_visit(OmenGraphSource *src, uint32 node)
{
	PageSource *ps = (PageSource *) src;
	bool		found;
	PageNodeEntry *e = pagenodes_insert(ps->nodes, node, &found);

	if (!found)
		e->scored = false;
	return !found;
}

static void
page_source_init(PageSource *ps, Relation index, const OmenMetaPageData *meta)
{
	ps->src.neighbors = page_neighbors;
	ps->src.score = page_score;
	ps->src.code = page_code;
	ps->src.visit = page_visit;
	ps->src.max_degree = meta->max_degree;
	ps->index = index;
	ps->meta = meta;
	ps->cxt = CurrentMemoryContext;
	ps->nodes = pagenodes_create(CurrentMemoryContext, 256, NULL);
}

/* ----------------------------------------------------------------
 *		Training the quantizer of an index built empty
 * ----------------------------------------------------------------
 */

/*
 * M for an inner-product index built empty: room for vectors twice as long
 * as the first one, kept within float range (a longer vector only loses
 * the transform's extra dimension, see omendb_prepare_vector, never a
 * bound).  A first vector whose own norm is beyond float range is refused
 * before anything is written, so the index stays untrained.  The norm is
 * summed in double, where no float vector's squares overflow.
 */
static float
first_vector_ip_max_norm(Relation index, const float *x, int dim)
{
	double		ss = 0;
	double		norm;

	for (int i = 0; i < dim; i++)
		ss += (double) x[i] * x[i];
	norm = sqrt(ss);
	omendb_check_ip_norm(index, OMENDB_METRIC_IP, (float) norm);
	if (norm == 0)
		return 1.0f;
	return (float) Min(2 * norm, (double) FLT_MAX);
}

/*
 * Make stale pages from a training that crashed before its meta page
 * record look new again.  Until the meta page says trained, blocks past it
 * hold nothing anyone reads: quantizer pages from a crashed training,
 * perhaps for another dimension, and so more of them than this training
 * writes.  Node pages must start at first_node_block as new pages, so each
 * stale page from there on is zeroed, in its own record.
 */
static void
zero_stale_pages(Relation index, BlockNumber from)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);

	for (BlockNumber blkno = from; blkno < nblocks; blkno++)
	{
		Buffer		buf = ReadBuffer(index, blkno);

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		if (!PageIsNew(BufferGetPage(buf)))
		{
			START_CRIT_SECTION();
			MemSet(BufferGetPage(buf), 0, BLCKSZ);
			MarkBufferDirty(buf);
			if (RelationNeedsWAL(index))
				log_newpage_buffer(buf, false);
			END_CRIT_SECTION();
		}
		UnlockReleaseBuffer(buf);
	}
}

/*
 * An index built on an empty table has no ranges: the first vector sets
 * them.  The extension lock serializes trainers (and extenders).  The
 * quantizer pages are written first, then stale pages are cleared, and the
 * meta page, updated last, makes it all visible: a crash before that
 * leaves an untrained index, and the next insert trains it again.
 */
static void
train_from_first_vector(Relation index, const float *x, int dim)
{
	OmenMetaPageData meta;
	OmenQuantState *qs;
	float	   *v;
	float		ip_max_norm = 0;
	float		norm;
	int			cdim;
	Buffer		buf;
	OmenPageEdit edit;
	Page		page;

	LockRelationForExtension(index, ExclusiveLock);
	omendb_read_meta(index, &meta);
	if (meta.quant_trained)
	{
		UnlockRelationForExtension(index, ExclusiveLock);
		return;
	}
	if (meta.dimensions != 0 && meta.dimensions != dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", meta.dimensions, dim)));

	if (meta.metric == OMENDB_METRIC_IP)
		ip_max_norm = first_vector_ip_max_norm(index, x, dim);
	cdim = OmenCodeDims(meta.metric, dim);
	v = palloc(sizeof(float) * cdim);
	/* a zero vector under cosine comes out zero, and gets [-1, 1] */
	(void) omendb_prepare_vector(meta.metric, x, dim, ip_max_norm, v, &norm);
	qs = omendb_quant_train_first(meta.quantizer, meta.metric, v, dim,
								  ip_max_norm);

	/* keep the options from build time; only the layout is new */
	omendb_fill_meta(&meta, dim, meta.metric, meta.graph_degree,
					 meta.build_list_size, meta.alpha, meta.quantizer,
					 ip_max_norm);
	meta.quant_trained = true;

	omendb_write_quant_pages(index, qs, OMENDB_FIRST_QUANT_BLKNO, MAIN_FORKNUM, true);
	zero_stale_pages(index, meta.first_node_block);

	buf = ReadBuffer(index, OMENDB_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	omendb_edit_begin(&edit, index, true);
	page = omendb_edit_page(&edit, buf, false);
	memcpy(OmenPageGetMeta(page), &meta, sizeof(OmenMetaPageData));
	omendb_edit_finish(&edit);
	UnlockReleaseBuffer(buf);

	UnlockRelationForExtension(index, ExclusiveLock);
	omendb_invalidate_info(index);
}

/* ----------------------------------------------------------------
 *		Writing the node
 * ----------------------------------------------------------------
 */

static bool
page_has_free_slot(Page page, const OmenMetaPageData *meta)
{
	return PageGetMaxOffsetNumber(page) < meta->nodes_per_page;
}

/*
 * Put a node image into a locked page with room; returns its node id.
 * Slots are never removed, so the new slot is the next offset.
 */
static uint32
place_node(Relation index, Page page, BlockNumber blkno,
		   const OmenMetaPageData *meta, const char *image)
{
	OffsetNumber off;

	off = PageAddItem(page, (Item) image, meta->node_size, InvalidOffsetNumber,
					  false, false);
	if (off == InvalidOffsetNumber ||
		off != PageGetMaxOffsetNumber(page))
		elog(ERROR, "omendb: could not add node to block %u of \"%s\"",
			 blkno, RelationGetRelationName(index));
	return omendb_node_id(meta, blkno, off);
}

/*
 * Allocate a node slot and write the node in one WAL record.  If the index
 * has no entry point yet and the node is a graph node (not a zero node),
 * it becomes the entry point, in the same record; *entry tells the caller
 * which node is the entry point afterwards (OMENDB_INVALID_NODE while
 * there is none).
 *
 * New nodes go to the meta page's insert_block.  When it is full, the next
 * block (insert_block + 1) becomes a node page: either appended, or, if a
 * crash left a zeroed page there, reused, so that node pages stay
 * contiguous and node ids map to blocks by arithmetic.
 */
static uint32
write_node(Relation index, const OmenMetaPageData *meta, const char *image,
		   bool graph_node, bool use_wal, uint32 *entry)
{
	for (;;)
	{
		OmenMetaPageData cur;
		Buffer		buf;
		Buffer		metabuf;
		Page		page;
		Page		metapage;
		OmenPageEdit edit;
		uint32		node;
		BlockNumber blkno;
		BlockNumber full_block;
		bool		extended = false;

		omendb_read_meta(index, &cur);
		full_block = cur.insert_block;
		if (cur.insert_block != InvalidBlockNumber)
		{
			buf = ReadBuffer(index, cur.insert_block);
			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			omendb_check_node_page(index, buf, BufferGetPage(buf), meta);
			if (!page_has_free_slot(BufferGetPage(buf), meta))
			{
				UnlockReleaseBuffer(buf);
				buf = InvalidBuffer;
			}
		}
		else
			buf = InvalidBuffer;

		if (!BufferIsValid(buf))
		{
			/* the insert page is full: set up the next one */
			LockRelationForExtension(index, ExclusiveLock);
			omendb_read_meta(index, &cur);
			if (cur.insert_block != full_block)
			{
				/* someone else set up a new page meanwhile: use it */
				UnlockRelationForExtension(index, ExclusiveLock);
				continue;
			}
			blkno = full_block == InvalidBlockNumber ?
				meta->first_node_block : full_block + 1;
			if (blkno < RelationGetNumberOfBlocks(index))
			{
				/*
				 * The block exists but was never published: a crash between
				 * extending the file and logging the page left it zeroed.
				 */
				buf = ReadBuffer(index, blkno);
				LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
				if (!PageIsNew(BufferGetPage(buf)))
					omendb_corrupted(index, "Block %u: a node page past the last one in the meta page is in use.",
									 blkno);
			}
			else
			{
				buf = ReadBuffer(index, P_NEW);
				LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
				if (BufferGetBlockNumber(buf) != blkno)
					omendb_corrupted(index, "Block %u: node pages out of sequence, expected block %u.",
									 BufferGetBlockNumber(buf), blkno);
			}
			extended = true;
		}

		blkno = BufferGetBlockNumber(buf);
		omendb_edit_begin(&edit, index, use_wal);
		page = omendb_edit_page(&edit, buf, extended);
		if (extended)
			omendb_init_page(page, OMENDB_PAGE_NODE);
		node = place_node(index, page, blkno, meta, image);

		/* meta page last: publish a new insert page and/or entry point */
		metabuf = InvalidBuffer;
		if (extended || (graph_node && cur.entry_node == OMENDB_INVALID_NODE))
		{
			OmenMetaPage m;

			metabuf = ReadBuffer(index, OMENDB_METAPAGE_BLKNO);
			LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
			metapage = omendb_edit_page(&edit, metabuf, false);
			m = OmenPageGetMeta(metapage);
			if (extended)
				m->insert_block = blkno;
			if (graph_node && m->entry_node == OMENDB_INVALID_NODE)
				m->entry_node = node;
			*entry = m->entry_node;
		}
		else
			*entry = cur.entry_node;

		omendb_edit_finish(&edit);
		if (BufferIsValid(metabuf))
			UnlockReleaseBuffer(metabuf);
		UnlockReleaseBuffer(buf);
		if (extended)
			UnlockRelationForExtension(index, ExclusiveLock);
		return node;
	}
}

/* ----------------------------------------------------------------
 *		Reverse edges
 * ----------------------------------------------------------------
 */

typedef struct NodeSnapshot
{
	int			nnbrs;
	uint32	   *nbrs;
	uint8	   *code;
	bool		exists;
} NodeSnapshot;

typedef struct SnapshotArg
{
	NodeSnapshot *snap;
	const OmenMetaPageData *meta;
} SnapshotArg;

static void
snapshot_visitor(OmenNodeHeader node, int idx, void *arg)
{
	SnapshotArg *sa = arg;

	sa->snap->nnbrs = node->nneighbors;
	memcpy(sa->snap->nbrs, OmenNodeNeighbors(node), sizeof(uint32) * node->nneighbors);
	memcpy(sa->snap->code, OmenNodeCode(node, sa->meta->max_degree), sa->meta->code_size);
	sa->snap->exists = true;
}

/*
 * Replace node j's neighbour list, but only if it still is what we saw in
 * the snapshot (or, when just appending, if there still is room).  Returns
 * false if the list changed under us and the caller should start over.
 */
static bool
update_neighbors(Relation index, const OmenMetaPageData *meta, uint32 j,
				 const NodeSnapshot *snap, const uint32 *newnbrs, int nnew,
				 uint32 append, bool use_wal)
{
	Buffer		buf = ReadBuffer(index, omendb_node_block(meta, j));
	Page		page;
	OmenNodeHeader node;
	OmenPageEdit edit;
	bool		done = false;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	omendb_check_node_page(index, buf, page, meta);
	node = omendb_page_node(index, page, meta, omendb_node_offset(meta, j));

	if (append != OMENDB_INVALID_NODE)
	{
		uint32	   *nbrs = OmenNodeNeighbors(node);
		bool		present = false;

		for (int i = 0; i < node->nneighbors; i++)
			present |= (nbrs[i] == append);
		if (present)
			done = true;
		else if (node->nneighbors < meta->max_degree)
		{
			omendb_edit_begin(&edit, index, use_wal);
			page = omendb_edit_page(&edit, buf, false);
			node = omendb_page_node(index, page, meta, omendb_node_offset(meta, j));
			OmenNodeNeighbors(node)[node->nneighbors++] = append;
			omendb_edit_finish(&edit);
			done = true;
		}
	}
	else if (node->nneighbors == snap->nnbrs &&
			 memcmp(OmenNodeNeighbors(node), snap->nbrs,
					sizeof(uint32) * snap->nnbrs) == 0)
	{
		omendb_edit_begin(&edit, index, use_wal);
		page = omendb_edit_page(&edit, buf, false);
		node = omendb_page_node(index, page, meta, omendb_node_offset(meta, j));
		memcpy(OmenNodeNeighbors(node), newnbrs, sizeof(uint32) * nnew);
		node->nneighbors = nnew;
		omendb_edit_finish(&edit);
		done = true;
	}
	UnlockReleaseBuffer(buf);
	return done;
}

/*
 * Add the edge j -> p.  While j has spare slots the edge is appended; when
 * j is full, j's neighbours plus p are re-pruned down to R (the overflow-
 * then-prune rule).  Optimistic: we read j, compute without locks, and
 * write only if j did not change meanwhile, else retry a few times.  A lost
 * race costs one reverse edge, never consistency.  Returns whether j now
 * links to p.
 */
static bool
add_reverse_edge(Relation index, const OmenMetaPageData *meta, PageSource *ps,
				 OmenQuery *pivot, uint32 j, uint32 p, bool use_wal)
{
	NodeSnapshot snap;
	SnapshotArg sa;
	OmenCandidate *cands = palloc(sizeof(OmenCandidate) * (meta->max_degree + 1));
	uint32	   *members = palloc(sizeof(uint32) * (meta->max_degree + 1));
	float	   *dists = palloc(sizeof(float) * (meta->max_degree + 1));
	bool	   *usable = palloc(sizeof(bool) * (meta->max_degree + 1));
	uint32	   *pruned = palloc(sizeof(uint32) * meta->graph_degree);
	bool		linked = false;

	snap.nbrs = palloc(sizeof(uint32) * meta->max_degree);
	snap.code = palloc(meta->code_size);
	sa.snap = &snap;
	sa.meta = meta;

	for (int attempt = 0; attempt < BACK_EDGE_ATTEMPTS; attempt++)
	{
		int			n;
		int			npruned;

		snap.exists = false;
		omendb_visit_nodes(index, meta, &j, 1, snapshot_visitor, &sa);

		if (snap.nnbrs < meta->max_degree)
		{
			if (update_neighbors(index, meta, j, &snap, NULL, 0, p, use_wal))
			{
				linked = true;
				break;
			}
			continue;
		}

		/* full: prune j's neighbours plus p, measured from j */
		n = snap.nnbrs;
		memcpy(members, snap.nbrs, sizeof(uint32) * n);
		members[n++] = p;
		omendb_query_from_code(pivot, snap.code);
		page_score(&ps->src, pivot, members, n, dists, usable);
		for (int i = 0; i < n; i++)
		{
			cands[i].node = members[i];
			cands[i].dist = dists[i];
			cands[i].usable = usable[i];
			cands[i].expanded = false;
		}
		npruned = omendb_robust_prune(&ps->src, pivot, cands, n, j,
									  meta->alpha, meta->graph_degree, pruned);
		if (update_neighbors(index, meta, j, &snap, pruned, npruned,
							 OMENDB_INVALID_NODE, use_wal))
		{
			for (int i = 0; i < npruned; i++)
				linked |= (pruned[i] == p);
			break;
		}
	}
	pfree(cands);
	pfree(members);
	pfree(dists);
	pfree(usable);
	pfree(pruned);
	pfree(snap.nbrs);
	pfree(snap.code);
	return linked;
}

/*
 * A new node p that every neighbour pruned away again has no in-edge, and
 * no search would find it.  Make room for it in its nearest neighbour j:
 * j's longest edge, to x, is handed over to p (p -> x, in one of p's spare
 * slots), then j -> x becomes j -> p.  In that order x stays reachable at
 * every moment, and each step is one single-page WAL record that leaves a
 * valid graph.
 */
static void
take_edge_from_nearest(Relation index, const OmenMetaPageData *meta,
					   PageSource *ps, OmenQuery *pivot, uint32 j, uint32 p,
					   bool use_wal)
{
	NodeSnapshot snap;
	SnapshotArg sa;
	float	   *dists = palloc(sizeof(float) * meta->max_degree);
	bool	   *usable = palloc(sizeof(bool) * meta->max_degree);
	uint32	   *nbrs = palloc(sizeof(uint32) * meta->max_degree);

	snap.nbrs = palloc(sizeof(uint32) * meta->max_degree);
	snap.code = palloc(meta->code_size);
	sa.snap = &snap;
	sa.meta = meta;

	for (int attempt = 0; attempt < BACK_EDGE_ATTEMPTS; attempt++)
	{
		int			longest = -1;

		snap.exists = false;
		omendb_visit_nodes(index, meta, &j, 1, snapshot_visitor, &sa);
		if (snap.nnbrs == 0)
			break;
		omendb_query_from_code(pivot, snap.code);
		page_score(&ps->src, pivot, snap.nbrs, snap.nnbrs, dists, usable);
		for (int i = 0; i < snap.nnbrs; i++)
		{
			if (snap.nbrs[i] == p)
			{
				longest = -1;	/* linked meanwhile */
				break;
			}
			if (longest < 0 || dists[i] > dists[longest])
				longest = i;
		}
		if (longest < 0)
			break;

		/* p -> x first; give up if p has no spare slot left */
		if (!update_neighbors(index, meta, p, NULL, NULL, 0,
							  snap.nbrs[longest], use_wal))
			break;
		memcpy(nbrs, snap.nbrs, sizeof(uint32) * snap.nnbrs);
		nbrs[longest] = p;
		if (update_neighbors(index, meta, j, &snap, nbrs, snap.nnbrs,
							 OMENDB_INVALID_NODE, use_wal))
			break;
	}
	pfree(dists);
	pfree(usable);
	pfree(nbrs);
	pfree(snap.nbrs);
	pfree(snap.code);
}

/* ----------------------------------------------------------------
 *		Insert
 * ----------------------------------------------------------------
 */

/*
 * Insert one vector (as stored in the heap) for a heap row.  Used by
 * aminsert and by a build that outgrew maintenance_work_mem; the caller
 * runs it in a short-lived memory context.
 */
void
omendb_insert_vector(Relation index, const float *x, int dim,
					 ItemPointer tid, bool use_wal)
{
	OmenIndexInfo *info = omendb_get_info(index);
	const OmenMetaPageData *meta;
	OmenMetaPageData cur;
	float	   *v;
	float		norm;
	char	   *image;
	OmenNodeHeader hdr;
	OmenQuery query;
	OmenQuery pivot;
	PageSource ps;
	OmenCandidate *cands = NULL;
	int			ncands = 0;
	uint32		entry;
	uint32		node;
	uint32	   *nbrs;
	int			nnbrs = 0;
	bool		linked = false;

	if (!info->meta.quant_trained)
	{
		train_from_first_vector(index, x, dim);
		info = omendb_get_info(index);
	}
	meta = &info->meta;
	if (dim != meta->dimensions)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", meta->dimensions, dim),
				 TupleDescAttr(RelationGetDescr(index), 0)->atttypmod < 0 ?
				 errhint("The column has no typmod, so the index took its dimension from the first vector it indexed, "
						 "even one rolled back.  Declare the column as vector(n), which rebuilds the index.") : 0));

	v = palloc(sizeof(float) * meta->code_dims);
	image = palloc0(meta->node_size);
	if (!omendb_prepare_vector(meta->metric, x, dim, meta->ip_max_norm, v, &norm))
	{
		/* a zero vector under cosine: a zero node, outside the graph */
		omendb_fill_zero_node(image, meta, tid);
		(void) write_node(index, meta, image, false, use_wal, &entry);
		return;
	}
	omendb_check_ip_norm(index, meta->metric, norm);

	/* the node image: header, no neighbours yet, code */
	hdr = (OmenNodeHeader) image;
	hdr->heaptid = *tid;
	hdr->flags = OMENDB_NODE_LIVE;
	hdr->norm = norm;
	hdr->error = omendb_quant_encode(info->quant, v, OmenNodeCode(hdr, meta->max_degree));

	/* graph distances are L2 in code space for every metric */
	omendb_query_init_code(&query, info->quant, OmenNodeCode(hdr, meta->max_degree));
	omendb_query_init_code(&pivot, info->quant, NULL);
	page_source_init(&ps, index, meta);

	omendb_read_meta(index, &cur);
	nbrs = OmenNodeNeighbors(hdr);
	if (cur.entry_node != OMENDB_INVALID_NODE)
	{
		ncands = omendb_greedy_search(&ps.src, &query, cur.entry_node,
									  meta->build_list_size, &cands);
		nnbrs = omendb_robust_prune(&ps.src, &pivot, cands, ncands,
									OMENDB_INVALID_NODE, meta->alpha,
									meta->graph_degree, nbrs);
	}
	hdr->nneighbors = nnbrs;

	node = write_node(index, meta, image, true, use_wal, &entry);

	/* a concurrent first insert won the entry point: link to it */
	if (nnbrs == 0 && entry != node)
	{
		nbrs[0] = entry;
		nnbrs = 1;
		add_reverse_edge(index, meta, &ps, &pivot, node, entry, use_wal);
	}

	for (int i = 0; i < nnbrs; i++)
		linked |= add_reverse_edge(index, meta, &ps, &pivot, nbrs[i], node, use_wal);
	if (!linked && nnbrs > 0)
		take_edge_from_nearest(index, meta, &ps, &pivot, nbrs[0], node, use_wal);
}

/*
 * aminsert.  Detoasting happens here, before any buffer lock is taken.
 */
bool
omendb_insert(Relation index, Datum *values, bool *isnull,
			  ItemPointer heap_tid, Relation heap,
			  IndexUniqueCheck checkUnique OMENDB_AMINSERT_INDEX_UNCHANGED,
			  IndexInfo *indexInfo)
{
	MemoryContext tmpcxt;
	MemoryContext oldcxt;
	Vector	   *vec;

	if (isnull[0])
		return false;

	tmpcxt = AllocSetContextCreate(CurrentMemoryContext, "omendb insert",
								   ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(tmpcxt);
	vec = DatumGetVector(values[0]);
	omendb_insert_vector(index, vec->x, vec->dim, heap_tid, true);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(tmpcxt);
	return false;
}
