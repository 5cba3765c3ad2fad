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
#include "lib/stringinfo.h"
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
	if (opaque->kind != kind || opaque->unused != 0)
		return psprintf("page kind %u (reserved field %u), expected kind %u (omendb %s page) and 0",
						opaque->kind, opaque->unused, kind, page_kind_name(kind));
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

/* Bytes a node page offers to node items (and their line pointers). */
#define NODE_PAGE_SPACE \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(OmenPageOpaqueData)))

/* Neighbour slots of a node for graph degree R: R plus the reverse-edge slack. */
static int
max_degree_for(int degree)
{
	return (degree * OMENDB_SLACK_NUM + OMENDB_SLACK_DEN - 1) / OMENDB_SLACK_DEN;
}

/* The MAXALIGNed size of a node item. */
static Size
node_size_for(int max_degree, int code_size)
{
	return MAXALIGN(sizeof(OmenNodeHeaderData) + sizeof(uint32) * max_degree +
					code_size);
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
	meta->max_degree = max_degree_for(degree);
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
		int			cdim = OmenCodeDims(metric, dim);
		Size		node_size = node_size_for(meta->max_degree, cdim);

		if (node_size + sizeof(ItemIdData) > NODE_PAGE_SPACE)
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
		meta->nodes_per_page = NODE_PAGE_SPACE / (node_size + sizeof(ItemIdData));
		meta->nquant_blocks = (cdim + OMENDB_SQ8_DIMS_PER_PAGE - 1) / OMENDB_SQ8_DIMS_PER_PAGE;
		meta->first_node_block = OMENDB_FIRST_QUANT_BLKNO + meta->nquant_blocks;
	}
}

/*
 * What is wrong with a copy of the meta page, or NULL.  Every field is
 * either a build option within its documented range or follows from the
 * others, so the whole layout can be recomputed and compared: a damaged
 * meta page must not send readers to the wrong place (a node size or a
 * count of nodes per page that does not match the pages would).  The
 * format version is the caller's business.
 */
char *
omendb_meta_problem(const OmenMetaPageData *meta)
{
	int			cdim;
	Size		node_size;

	if (meta->magic != OMENDB_MAGIC)
		return psprintf("meta page magic is 0x%08X, expected 0x%08X",
						meta->magic, OMENDB_MAGIC);
	if (meta->metric < OMENDB_METRIC_L2 || meta->metric > OMENDB_METRIC_COSINE)
		return psprintf("meta page has unknown metric %u", meta->metric);
	if (meta->quantizer != OMENDB_QUANT_SQ8)
		return psprintf("meta page has unknown quantizer %u", meta->quantizer);
	if (meta->graph_degree < OMENDB_MIN_GRAPH_DEGREE ||
		meta->graph_degree > OMENDB_MAX_GRAPH_DEGREE ||
		meta->max_degree != max_degree_for(meta->graph_degree))
		return psprintf("meta page has graph degree %u and %u neighbour slots",
						meta->graph_degree, meta->max_degree);
	if (meta->build_list_size < OMENDB_MIN_BUILD_LIST ||
		meta->build_list_size > OMENDB_MAX_BUILD_LIST ||
		!(meta->alpha >= 1.0f && meta->alpha <= 2.0f))
		return psprintf("meta page has build list size %u and alpha %g",
						meta->build_list_size, meta->alpha);
	if (!(meta->ip_max_norm >= 0) || !isfinite(meta->ip_max_norm))
		return psprintf("meta page has maximum norm %g", meta->ip_max_norm);
	if (meta->dimensions > VECTOR_MAX_DIM || meta->label_size != 0 ||
		meta->quant_trained > 1)
		return psprintf("meta page has %u dimensions, label size %u, trained flag %u",
						meta->dimensions, meta->label_size, meta->quant_trained);

	if (!meta->quant_trained)
	{
		/* no layout before the first vector; nothing to point at */
		if (meta->code_size != 0 || meta->node_size != 0 ||
			meta->nodes_per_page != 0 || meta->nquant_blocks != 0 ||
			meta->first_node_block != 0 ||
			meta->entry_node != OMENDB_INVALID_NODE ||
			meta->insert_block != InvalidBlockNumber)
			return psprintf("meta page of an untrained index has a node layout or an entry point");
		return NULL;
	}

	cdim = OmenCodeDims(meta->metric, meta->dimensions);
	node_size = node_size_for(meta->max_degree, cdim);
	if (meta->dimensions == 0 || meta->code_size != cdim ||
		meta->node_size != node_size ||
		node_size + sizeof(ItemIdData) > NODE_PAGE_SPACE ||
		meta->nodes_per_page != NODE_PAGE_SPACE / (node_size + sizeof(ItemIdData)))
		return psprintf("meta page node layout (%u dimensions, code size %u, node size %u, %u nodes a page) is inconsistent",
						meta->dimensions, meta->code_size, meta->node_size,
						meta->nodes_per_page);
	if (meta->nquant_blocks != (cdim + OMENDB_SQ8_DIMS_PER_PAGE - 1) / OMENDB_SQ8_DIMS_PER_PAGE ||
		meta->first_node_block != OMENDB_FIRST_QUANT_BLKNO + meta->nquant_blocks)
		return psprintf("meta page places %u quantizer pages and the first node page at block %u",
						meta->nquant_blocks, meta->first_node_block);

	/*
	 * The first node and the entry point are written by one record, and the
	 * first node page with them: only a cosine index has node pages without
	 * an entry point, while it holds nothing but zero nodes, which are never
	 * the entry point.
	 */
	if (meta->insert_block == InvalidBlockNumber ?
		meta->entry_node != OMENDB_INVALID_NODE :
		meta->entry_node == OMENDB_INVALID_NODE && meta->metric != OMENDB_METRIC_COSINE)
		return psprintf("meta page has entry node %u but insert block %u",
						meta->entry_node, meta->insert_block);
	if (meta->insert_block != InvalidBlockNumber &&
		(meta->insert_block < meta->first_node_block ||
		 (meta->entry_node != OMENDB_INVALID_NODE &&
		  meta->entry_node / meta->nodes_per_page >
		  meta->insert_block - meta->first_node_block)))
		return psprintf("meta page has entry node %u and insert block %u, node pages starting at block %u",
						meta->entry_node, meta->insert_block,
						meta->first_node_block);
	return NULL;
}

/*
 * What is wrong with the meta page itself, or NULL: besides the usual
 * page checks, pd_lower must cover the meta data (generic xlog zeroes the
 * hole between pd_lower and pd_upper) and there are no items.
 */
char *
omendb_meta_page_problem(Page page)
{
	PageHeader	ph = (PageHeader) page;
	char	   *problem = omendb_page_problem(page, OMENDB_PAGE_META);
	Size		end = ((char *) OmenPageGetMeta(page) + sizeof(OmenMetaPageData)) - (char *) page;

	if (problem != NULL)
		return problem;
	if (ph->pd_lower != end || ph->pd_upper != ph->pd_special)
		return psprintf("meta page has pd_lower %u and pd_upper %u, expected %u and %u",
						ph->pd_lower, ph->pd_upper, (unsigned) end, ph->pd_special);
	return NULL;
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

/*
 * Copy the meta page under a share lock, then check it: every reader goes
 * through here, so a damaged meta page stops them all.
 */
void
omendb_read_meta(Relation index, OmenMetaPageData *meta)
{
	Buffer		buf;
	Page		page;
	char	   *problem;

	buf = ReadBuffer(index, OMENDB_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	problem = omendb_meta_page_problem(page);
	if (problem != NULL)
		omendb_corrupted(index, "Block %u: %s.", OMENDB_METAPAGE_BLKNO, problem);
	memcpy(meta, OmenPageGetMeta(page), sizeof(OmenMetaPageData));
	UnlockReleaseBuffer(buf);

	if (meta->magic == OMENDB_MAGIC && meta->version != OMENDB_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("index \"%s\" has omendb format version %u, this library reads version %d",
						RelationGetRelationName(index), meta->version, OMENDB_VERSION),
				 errhint("REINDEX it.")));
	problem = omendb_meta_problem(meta);
	if (problem != NULL)
		omendb_corrupted(index, "Block %u: %s.", OMENDB_METAPAGE_BLKNO, problem);
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
	Size		arrays = MAXALIGN(sizeof(float) * dim) * 3 + MAXALIGN(sizeof(int16) * dim) * 2;
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
	p += MAXALIGN(sizeof(int16) * dim);
	info->quant->sweight = (int16 *) p;
	memcpy(info->quant->lower, qs->lower, sizeof(float) * dim);
	memcpy(info->quant->step, qs->step, sizeof(float) * dim);
	memcpy(info->quant->weight, qs->weight, sizeof(float) * dim);
	memcpy(info->quant->iweight, qs->iweight, sizeof(int16) * dim);
	memcpy(info->quant->sweight, qs->sweight, sizeof(int16) * dim);
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

/*
 * What is wrong with quantizer page p (from 0) of an index, or NULL: one
 * item, right under the special space, holding the (lower, step) pairs of
 * its dimensions, each finite with a positive step.
 */
char *
omendb_quant_page_problem(Page page, const OmenMetaPageData *meta,
						  BlockNumber p)
{
	PageHeader	ph = (PageHeader) page;
	char	   *problem = omendb_page_problem(page, OMENDB_PAGE_QUANT);
	int			start = p * OMENDB_SQ8_DIMS_PER_PAGE;
	int			n = Min(OMENDB_SQ8_DIMS_PER_PAGE, (int) meta->code_size - start);
	ItemId		iid;
	OmenSQ8Dim *dims;

	if (problem != NULL)
		return problem;
	iid = PageGetItemId(page, FirstOffsetNumber);
	if (PageGetMaxOffsetNumber(page) != 1 || !ItemIdIsNormal(iid) ||
		ItemIdGetLength(iid) != sizeof(OmenSQ8Dim) * n ||
		ItemIdGetOffset(iid) != ph->pd_upper ||
		ph->pd_upper != ph->pd_special - MAXALIGN(sizeof(OmenSQ8Dim) * n))
		return psprintf("quantizer page for dimensions %d to %d has %u items, the first of %u bytes at %u (pd_upper %u)",
						start + 1, start + n, (unsigned) PageGetMaxOffsetNumber(page),
						ItemIdGetLength(iid), ItemIdGetOffset(iid), ph->pd_upper);
	dims = (OmenSQ8Dim *) PageGetItem(page, iid);
	for (int i = 0; i < n; i++)
		if (!isfinite(dims[i].lower) || !isfinite(dims[i].step) ||
			!(dims[i].step > 0))
			return psprintf("quantizer range of dimension %d is lower %g, step %g",
							start + i + 1, dims[i].lower, dims[i].step);
	return NULL;
}

/* Read the quantizer pages into a new OmenQuantState. */
OmenQuantState *
omendb_read_quant(Relation index, const OmenMetaPageData *meta)
{
	OmenQuantState *qs = omendb_sq8_alloc(meta->code_size);
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);

	if (nblocks < meta->first_node_block)
		omendb_corrupted(index, "The index has %u blocks, but its meta page places %u quantizer pages from block %u.",
						 nblocks, meta->nquant_blocks, OMENDB_FIRST_QUANT_BLKNO);
	for (BlockNumber p = 0; p < meta->nquant_blocks; p++)
	{
		int			start = p * OMENDB_SQ8_DIMS_PER_PAGE;
		int			n = Min(OMENDB_SQ8_DIMS_PER_PAGE, qs->dim - start);
		Buffer		buf = ReadBuffer(index, OMENDB_FIRST_QUANT_BLKNO + p);
		Page		page;
		char	   *problem;
		OmenSQ8Dim *dims;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		problem = omendb_quant_page_problem(page, meta, p);
		if (problem != NULL)
			omendb_corrupted(index, "Block %u: %s.", OMENDB_FIRST_QUANT_BLKNO + p,
							 problem);
		dims = (OmenSQ8Dim *) PageGetItem(page, PageGetItemId(page, FirstOffsetNumber));
		for (int i = 0; i < n; i++)
		{
			qs->lower[start + i] = dims[i].lower;
			qs->step[start + i] = dims[i].step;
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
	return NULL;
}

/* omendb_page_node, for a page whose block number is known (or Invalid). */
static inline OmenNodeHeader
page_node_at(Relation index, Page page, const OmenMetaPageData *meta,
			 BlockNumber blkno, OffsetNumber off)
{
	char	   *problem = omendb_node_item_problem(page, meta, off);

	if (unlikely(problem != NULL))
	{
		if (blkno == InvalidBlockNumber)
			omendb_corrupted(index, "Node page, offset %u: %s.", off, problem);
		omendb_corrupted(index, "Block %u, offset %u: %s.", blkno, off, problem);
	}
	return (OmenNodeHeader) PageGetItem(page, PageGetItemId(page, off));
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
	return page_node_at(index, page, meta, InvalidBlockNumber, off);
}

/*
 * The image of a zero node (omendb.h) for a zero vector under cosine:
 * live, norm and error 0, all-zero code, no neighbours.  image holds
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
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	uint64		slots = 0;

	if (nblocks > meta->first_node_block)
		slots = (uint64) (nblocks - meta->first_node_block) * meta->nodes_per_page;
	return (uint32) Min(slots, (uint64) OMENDB_INVALID_NODE);
}

/* The cached bound, or 0 if there is none. */
static inline uint32
cached_node_limit(Relation index)
{
	OmenIndexInfo *info = (OmenIndexInfo *) index->rd_amcache;

	return info ? info->node_limit : 0;
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

/* Raise an error unless node lies on an existing node page. */
static inline void
check_node_id(Relation index, const OmenMetaPageData *meta, uint32 node,
			  uint32 *limit, bool may_read, BlockNumber from_blkno,
			  OffsetNumber from_off)
{
	if (likely(node < *limit))
		return;
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
	uint32		limit = cached_node_limit(index);
	const uint32 *nbrs = OmenNodeNeighbors(node);

	for (int i = 0; i < node->nneighbors; i++)
		check_node_id(index, meta, nbrs[i], &limit, false, blkno, off);
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
	Buffer		buf;			/* once pinned */
} NodeRef;

/* How many nodes ahead of the one being visited to fetch items. */
#define VISIT_PREFETCH_AHEAD 3

/*
 * Start fetching a node item into the cache; its place on the (pinned)
 * page follows from the fixed node size.
 */
static inline void
prefetch_node_item(const OmenMetaPageData *meta, const NodeRef *ref)
{
	char	   *page = BufferGetPage(ref->buf);
	char	   *item = page + BLCKSZ - MAXALIGN(sizeof(OmenPageOpaqueData)) -
		(Size) ref->off * meta->node_size;

	if (item > page)
		for (uint32 b = 0; b < meta->node_size; b += 64)
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

/* How many pages ahead of the one being visited to pin. */
#define VISIT_PIN_AHEAD 4

/*
 * Pin page p of a batch (refs[first[p]..first[p+1]-1] lie on it) and start
 * fetching its header and special space.
 */
static inline void
pin_batch_page(Relation index, NodeRef *refs, const int *first, int p)
{
	Buffer		buf = read_node_buffer(index, refs[first[p]].blkno);
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
void
omendb_visit_nodes(Relation index, const OmenMetaPageData *meta,
				   const uint32 *nodes, int n, OmenNodeVisitor visitor,
				   void *arg)
{
	NodeRef		stackrefs[64];
	int			stackfirst[65];
	NodeRef    *refs = n <= lengthof(stackrefs) ? stackrefs : palloc(sizeof(NodeRef) * n);
	int		   *first = n < lengthof(stackfirst) ? stackfirst : palloc(sizeof(int) * (n + 1));
	int			npages = 0;
	int			i;
	uint32		limit = cached_node_limit(index);

	for (int k = 0; k < n; k++)
	{
		check_node_id(index, meta, nodes[k], &limit, true,
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
		prefetch_node_item(meta, &refs[i]);
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
				prefetch_node_item(meta, &refs[i + VISIT_PREFETCH_AHEAD]);
			visitor(page_node_at(index, page, meta, blkno, refs[i].off),
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
