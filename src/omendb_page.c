/*-------------------------------------------------------------------------
 *
 * omendb_page.c
 *	  Page layout: meta page, quantizer pages, node addressing, and the
 *	  per-relation cache of the fixed index parameters.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/generic_xlog.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "omendb.h"

/* Initialize an empty omendb page of the given kind. */
void
omendb_init_page(Page page, uint16 kind)
{
	OmenPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(OmenPageOpaqueData));
	opaque = OmenPageGetOpaque(page);
	opaque->kind = kind;
	opaque->unused = 0;
	opaque->magic = OMENDB_MAGIC;
}

/*
 * Raise an error unless the page is an omendb page of the expected kind.
 * Called on every page we read, so that a damaged page stops a query with
 * a clear message instead of leading it astray.
 */
void
omendb_check_page(Relation index, Buffer buf, Page page, uint16 kind)
{
	OmenPageOpaque opaque;

	if (PageIsNew(page) ||
		((PageHeader) page)->pd_special != BLCKSZ - MAXALIGN(sizeof(OmenPageOpaqueData)))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" contains unexpected zero or foreign page at block %u",
						RelationGetRelationName(index), BufferGetBlockNumber(buf)),
				 errhint("Please REINDEX it.")));
	opaque = OmenPageGetOpaque(page);
	if (opaque->magic != OMENDB_MAGIC || opaque->kind != kind)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has a corrupted page at block %u (kind %u, expected %u)",
						RelationGetRelationName(index), BufferGetBlockNumber(buf),
						opaque->kind, kind),
				 errhint("Please REINDEX it.")));
}

/*
 * Fill the fixed fields of a meta page.  With dim 0 (an empty build on a
 * column without a typmod) the node layout is left for the first insert.
 */
void
omendb_fill_meta(OmenMetaPage meta, int dim, OmenMetric metric, int degree,
				 int list, double alpha, OmenQuantizer quantizer,
				 float ip_max_norm)
{
	memset(meta, 0, sizeof(OmenMetaPageData));
	meta->magic = OMENDB_MAGIC;
	meta->version = OMENDB_VERSION;
	meta->metric = metric;
	meta->quantizer = quantizer;
	meta->graph_degree = degree;
	meta->max_degree = (degree * OMENDB_SLACK_NUM + OMENDB_SLACK_DEN - 1) / OMENDB_SLACK_DEN;
	meta->build_list_size = list;
	meta->alpha = alpha;
	meta->ip_max_norm = ip_max_norm;
	meta->label_size = 0;
	meta->quant_trained = false;
	meta->entry_node = OMENDB_INVALID_NODE;
	meta->insert_block = InvalidBlockNumber;
	meta->dimensions = 0;
	if (dim > 0)
	{
		Size		avail = BLCKSZ - MAXALIGN(SizeOfPageHeaderData) -
			MAXALIGN(sizeof(OmenPageOpaqueData));
		Size		node_size;
		int			cdim = OmenCodeDims(metric, dim);

		node_size = MAXALIGN(sizeof(OmenNodeHeaderData) +
							 sizeof(uint32) * meta->max_degree + cdim);
		if (node_size + sizeof(ItemIdData) > avail)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("omendb's sq8 quantizer cannot index vectors of %d dimensions with graph_degree %d",
							dim, degree),
					 errdetail("A node must fit one %d-byte page; it would take %zu bytes.",
							   BLCKSZ, node_size + sizeof(ItemIdData)),
					 errhint("Lower graph_degree, or reduce the dimension.")));
		meta->dimensions = dim;
		meta->code_size = cdim;
		meta->node_size = node_size;
		meta->nodes_per_page = avail / (node_size + sizeof(ItemIdData));
		meta->nquant_blocks = (cdim + OMENDB_SQ8_DIMS_PER_PAGE - 1) / OMENDB_SQ8_DIMS_PER_PAGE;
		meta->first_node_block = OMENDB_FIRST_QUANT_BLKNO + meta->nquant_blocks;
	}
}

/* Lay out a meta page image. */
void
omendb_write_meta_page(Page page, const OmenMetaPageData *meta)
{
	omendb_init_page(page, OMENDB_PAGE_META);
	memcpy(OmenPageGetMeta(page), meta, sizeof(OmenMetaPageData));
	/* cover the meta data, or generic xlog would zero it as a hole */
	((PageHeader) page)->pd_lower =
		((char *) OmenPageGetMeta(page) + sizeof(OmenMetaPageData)) - (char *) page;
}

/* Copy the meta page under a share lock, checking it on the way. */
void
omendb_read_meta(Relation index, OmenMetaPageData *meta)
{
	Buffer		buf;
	Page		page;
	OmenMetaPage m;

	buf = ReadBuffer(index, OMENDB_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	omendb_check_page(index, buf, page, OMENDB_PAGE_META);
	m = OmenPageGetMeta(page);
	if (m->magic != OMENDB_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not an omendb index",
						RelationGetRelationName(index))));
	if (m->version != OMENDB_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("index \"%s\" has omendb format version %u, this library reads version %d",
						RelationGetRelationName(index), m->version, OMENDB_VERSION),
				 errhint("REINDEX it.")));
	memcpy(meta, m, sizeof(OmenMetaPageData));
	UnlockReleaseBuffer(buf);

	if (meta->quant_trained &&
		(meta->dimensions == 0 || meta->nodes_per_page == 0 ||
		 meta->code_size != OmenCodeDims(meta->metric, meta->dimensions) ||
		 meta->max_degree < meta->graph_degree ||
		 meta->first_node_block != OMENDB_FIRST_QUANT_BLKNO + meta->nquant_blocks))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has an inconsistent meta page",
						RelationGetRelationName(index)),
				 errhint("Please REINDEX it.")));
}

/*
 * Lay out an OmenIndexInfo in one chunk of cxt: the meta page copy and,
 * if trained, the quantizer with its arrays right after the struct.
 */
static OmenIndexInfo *
pack_info(const OmenMetaPageData *meta, const OmenQuantState *qs,
		  MemoryContext cxt)
{
	int			dim = qs ? qs->dim : 0;
	Size		arrays = MAXALIGN(sizeof(float) * dim) * 3 + MAXALIGN(sizeof(int16) * dim);
	Size		size = MAXALIGN(sizeof(OmenIndexInfo)) + arrays;
	OmenIndexInfo *info = MemoryContextAllocZero(cxt, size);
	char	   *p = (char *) info + MAXALIGN(sizeof(OmenIndexInfo));

	info->size = size;
	info->meta = *meta;
	if (qs == NULL)
		return info;
	info->quantdata = *qs;
	info->quant = &info->quantdata;
	info->quant->lower = (float *) p;
	p += MAXALIGN(sizeof(float) * dim);
	info->quant->step = (float *) p;
	p += MAXALIGN(sizeof(float) * dim);
	info->quant->weight = (float *) p;
	p += MAXALIGN(sizeof(float) * dim);
	info->quant->iweight = (int16 *) p;
	memcpy(info->quant->lower, qs->lower, sizeof(float) * dim);
	memcpy(info->quant->step, qs->step, sizeof(float) * dim);
	memcpy(info->quant->weight, qs->weight, sizeof(float) * dim);
	memcpy(info->quant->iweight, qs->iweight, sizeof(int16) * dim);
	return info;
}

/*
 * The fixed parameters of an index: meta page copy plus quantizer.  Cached
 * in rd_amcache once the quantizer is trained, since none of it changes
 * afterwards (REINDEX builds a new relfilenode and resets the cache).  The
 * volatile meta fields (entry_node, insert_block) must be re-read from the
 * meta page by whoever needs them.  The relcache may free the cache at any
 * invalidation, so whoever keeps it across calls takes a copy
 * (omendb_copy_info).
 */
OmenIndexInfo *
omendb_get_info(Relation index)
{
	OmenMetaPageData meta;
	OmenQuantState *qs = NULL;
	OmenIndexInfo *info;

	if (index->rd_amcache != NULL)
		return (OmenIndexInfo *) index->rd_amcache;

	omendb_read_meta(index, &meta);
	if (meta.quant_trained)
		qs = omendb_read_quant(index, &meta);
	if (!meta.quant_trained)
		return pack_info(&meta, NULL, CurrentMemoryContext);

	info = pack_info(&meta, qs, index->rd_indexcxt);
	index->rd_amcache = info;
	return info;
}

/* A private copy of an OmenIndexInfo, in CurrentMemoryContext. */
OmenIndexInfo *
omendb_copy_info(const OmenIndexInfo *info)
{
	return pack_info(&info->meta, info->quant, CurrentMemoryContext);
}

/* Forget the cached parameters (after training the quantizer). */
void
omendb_invalidate_info(Relation index)
{
	if (index->rd_amcache)
		pfree(index->rd_amcache);
	index->rd_amcache = NULL;
}

/*
 * Write the quantizer pages, blocks first..first+n-1.  Blocks that already
 * exist (left behind by a training attempt that crashed before updating the
 * meta page) are overwritten rather than appended after.
 */
void
omendb_write_quant_pages(Relation index, const OmenQuantState *qs,
						 BlockNumber first, ForkNumber fork, bool use_wal)
{
	int			npages = (qs->dim + OMENDB_SQ8_DIMS_PER_PAGE - 1) / OMENDB_SQ8_DIMS_PER_PAGE;
	OmenSQ8Dim *dims = palloc(sizeof(OmenSQ8Dim) * OMENDB_SQ8_DIMS_PER_PAGE);

	for (int p = 0; p < npages; p++)
	{
		BlockNumber blkno = first + p;
		int			start = p * OMENDB_SQ8_DIMS_PER_PAGE;
		int			n = Min(OMENDB_SQ8_DIMS_PER_PAGE, qs->dim - start);
		Buffer		buf;
		Page		page;
		OmenPageEdit edit;

		if (blkno < RelationGetNumberOfBlocksInFork(index, fork))
			buf = ReadBufferExtended(index, fork, blkno, RBM_NORMAL, NULL);
		else
		{
			buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);
			Assert(BufferGetBlockNumber(buf) == blkno);
		}
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		omendb_edit_begin(&edit, index, use_wal);
		page = omendb_edit_page(&edit, buf, true);

		for (int i = 0; i < n; i++)
		{
			dims[i].lower = qs->lower[start + i];
			dims[i].step = qs->step[start + i];
		}
		omendb_init_page(page, OMENDB_PAGE_QUANT);
		if (PageAddItem(page, (Item) dims, sizeof(OmenSQ8Dim) * n,
						InvalidOffsetNumber, false, false) == InvalidOffsetNumber)
			elog(ERROR, "could not add quantizer item to index \"%s\"",
				 RelationGetRelationName(index));

		omendb_edit_finish(&edit);
		UnlockReleaseBuffer(buf);
	}
	pfree(dims);
}

/* Read the quantizer pages into a new OmenQuantState. */
OmenQuantState *
omendb_read_quant(Relation index, const OmenMetaPageData *meta)
{
	OmenQuantState *qs = omendb_sq8_alloc(meta->code_size);

	for (BlockNumber p = 0; p < meta->nquant_blocks; p++)
	{
		int			start = p * OMENDB_SQ8_DIMS_PER_PAGE;
		int			n = Min(OMENDB_SQ8_DIMS_PER_PAGE, qs->dim - start);
		Buffer		buf = ReadBuffer(index, OMENDB_FIRST_QUANT_BLKNO + p);
		Page		page;
		ItemId		iid;
		OmenSQ8Dim *dims;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		omendb_check_page(index, buf, page, OMENDB_PAGE_QUANT);
		iid = PageGetItemId(page, FirstOffsetNumber);
		if (PageGetMaxOffsetNumber(page) < FirstOffsetNumber ||
			!ItemIdHasStorage(iid) ||
			ItemIdGetLength(iid) != sizeof(OmenSQ8Dim) * n)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" has a corrupted quantizer page at block %u",
							RelationGetRelationName(index), OMENDB_FIRST_QUANT_BLKNO + p),
					 errhint("Please REINDEX it.")));
		dims = (OmenSQ8Dim *) PageGetItem(page, iid);
		for (int i = 0; i < n; i++)
		{
			qs->lower[start + i] = dims[i].lower;
			qs->step[start + i] = dims[i].step;
			if (!(dims[i].step > 0) || !isfinite(dims[i].lower))
				ereport(ERROR,
						(errcode(ERRCODE_INDEX_CORRUPTED),
						 errmsg("index \"%s\" has a corrupted quantizer page at block %u",
								RelationGetRelationName(index), OMENDB_FIRST_QUANT_BLKNO + p),
						 errhint("Please REINDEX it.")));
		}
		UnlockReleaseBuffer(buf);
	}
	omendb_sq8_finish(qs);
	return qs;
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
 * How many node slots a node page holds.  An all-zero page (extended by an
 * insert that crashed before initializing it) holds none.
 */
int
omendb_page_node_count(Relation index, const OmenMetaPageData *meta,
					   BlockNumber blkno)
{
	Buffer		buf = ReadBuffer(index, blkno);
	Page		page;
	int			n = 0;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (!PageIsNew(page))
	{
		omendb_check_page(index, buf, page, OMENDB_PAGE_NODE);
		n = Min(PageGetMaxOffsetNumber(page), meta->nodes_per_page);
	}
	UnlockReleaseBuffer(buf);
	return n;
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
	ItemId		iid;
	OmenNodeHeader node;

	if (off > PageGetMaxOffsetNumber(page))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" references a missing node (offset %u)",
						RelationGetRelationName(index), off),
				 errhint("Please REINDEX it.")));
	iid = PageGetItemId(page, off);
	if (!ItemIdIsNormal(iid) || ItemIdGetLength(iid) != meta->node_size ||
		ItemIdGetOffset(iid) < SizeOfPageHeaderData ||
		ItemIdGetOffset(iid) + meta->node_size > ((PageHeader) page)->pd_special)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has a malformed node item (offset %u)",
						RelationGetRelationName(index), off),
				 errhint("Please REINDEX it.")));
	node = (OmenNodeHeader) PageGetItem(page, iid);
	if (node->nneighbors > meta->max_degree)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has a node with %u neighbours, more than %u",
						RelationGetRelationName(index), node->nneighbors,
						meta->max_degree),
				 errhint("Please REINDEX it.")));
	return node;
}

/* ----------------------------------------------------------------
 *		Reading nodes
 * ----------------------------------------------------------------
 */

typedef struct NodeRef
{
	BlockNumber blkno;
	OffsetNumber off;
	int			idx;
} NodeRef;

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

static Buffer
read_node_buffer(Relation index, BlockNumber blkno)
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

/*
 * Call visitor for each of nodes[0..n-1] with its page share-locked, taking
 * each page's lock once for all the nodes it holds.  The visitor must not
 * take other locks or do catalog access; it copies what it needs.
 *
 * A graph hop touches pages at random, so the time goes in cache misses,
 * not arithmetic.  We therefore pin every page of the batch first and
 * prefetch the node items (whose place on the page follows from the fixed
 * node size) so that the misses overlap, and only then lock and visit.
 */
void
omendb_visit_nodes(Relation index, const OmenMetaPageData *meta,
				   const uint32 *nodes, int n, OmenNodeVisitor visitor,
				   void *arg)
{
	NodeRef		stackrefs[64];
	Buffer		stackbufs[64];
	NodeRef    *refs = n <= lengthof(stackrefs) ? stackrefs : palloc(sizeof(NodeRef) * n);
	Buffer	   *bufs = n <= lengthof(stackbufs) ? stackbufs : palloc(sizeof(Buffer) * n);
	int			nbufs = 0;
	int			i;

	for (int k = 0; k < n; k++)
	{
		refs[k].blkno = omendb_node_block(meta, nodes[k]);
		refs[k].off = omendb_node_offset(meta, nodes[k]);
		refs[k].idx = k;
	}
	sort_refs(refs, n);

	/* pin each page and start fetching the node items */
	for (i = 0; i < n; i++)
	{
		char	   *item;

		if (i == 0 || refs[i].blkno != refs[i - 1].blkno)
		{
			bufs[nbufs] = read_node_buffer(index, refs[i].blkno);
			/* the header and the special space, which the page check reads */
			__builtin_prefetch(BufferGetPage(bufs[nbufs]));
			__builtin_prefetch((char *) BufferGetPage(bufs[nbufs]) + BLCKSZ -
							   MAXALIGN(sizeof(OmenPageOpaqueData)));
			nbufs++;
		}
		item = (char *) BufferGetPage(bufs[nbufs - 1]) + BLCKSZ -
			MAXALIGN(sizeof(OmenPageOpaqueData)) - refs[i].off * meta->node_size;
		if (item > (char *) BufferGetPage(bufs[nbufs - 1]))
			for (uint32 b = 0; b < meta->node_size; b += 64)
				__builtin_prefetch(item + b);
	}

	/* then visit them page by page */
	i = 0;
	for (int b = 0; b < nbufs; b++)
	{
		Buffer		buf = bufs[b];
		BlockNumber blkno = refs[i].blkno;
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		omendb_check_page(index, buf, page, OMENDB_PAGE_NODE);
		for (; i < n && refs[i].blkno == blkno; i++)
			visitor(omendb_page_node(index, page, meta, refs[i].off),
					refs[i].idx, arg);
		UnlockReleaseBuffer(buf);
	}
	if (refs != stackrefs)
		pfree(refs);
	if (bufs != stackbufs)
		pfree(bufs);
}

/* ----------------------------------------------------------------
 *		Changing pages
 *
 * All changes after build go through generic xlog, which also handles
 * relations that are not WAL-logged (unlogged tables); during build the
 * pages are written without WAL and logged wholesale at the end.
 * ----------------------------------------------------------------
 */

/* Begin an atomic change of up to MAX_GENERIC_XLOG_PAGES locked pages. */
void
omendb_edit_begin(OmenPageEdit *edit, Relation index, bool use_wal)
{
	edit->state = use_wal ? GenericXLogStart(index) : NULL;
	edit->nbufs = 0;
}

/* Add a locked buffer to the change; returns the page image to modify. */
Page
omendb_edit_page(OmenPageEdit *edit, Buffer buf, bool new_page)
{
	Assert(edit->nbufs < MAX_GENERIC_XLOG_PAGES);
	edit->bufs[edit->nbufs++] = buf;
	if (edit->state)
		return GenericXLogRegisterBuffer(edit->state, buf,
										 new_page ? GENERIC_XLOG_FULL_IMAGE : 0);
	return BufferGetPage(buf);
}

/* Finish the change: log and apply it, or mark the buffers dirty. */
void
omendb_edit_finish(OmenPageEdit *edit)
{
	if (edit->state)
		GenericXLogFinish(edit->state);
	else
		for (int i = 0; i < edit->nbufs; i++)
			MarkBufferDirty(edit->bufs[i]);
}
