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
#include "miscadmin.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "omendb_filter.h"
#include "omendb_graph.h"
#include "omendb_labels.h"
#include "omendb_metric.h"
#include "omendb_page.h"
#include "omendb_pgvector.h"
#include "omendb_quant.h"
#include "omendb_sketch.h"

/*
 * A node image as inserts write it: the node item, then the sketch words
 * of its entry in the label directory (meta->sketch_words of them).
 */
#define ImageSize(meta) \
	((meta)->node_size + sizeof(uint64) * (meta)->sketch_words)
#define ImageSketch(image, meta) \
	((const uint64 *) ((image) + (meta)->node_size))

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
	OmenMetaPageData before;
	OmenQuantState *qs;
	float	   *v;
	float		ip_max_norm = 0;
	float		norm;
	int			cdim;
	Buffer		buf;
	OmenPageEdit edit;
	Page		page;
	int			value_size = omendb_value_size(index, dim);

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

	/* keep the options from build time and the counters; the layout is new */
	before = meta;
	omendb_fill_meta(&meta, dim, meta.metric, meta.graph_degree,
					 meta.build_list_size, meta.alpha, meta.quantizer,
					 ip_max_norm, meta.label_size, value_size);
	meta.quant_trained = true;
	/* rows' labels were computed with the bits the page had */
	meta.signature_bits = before.signature_bits;
	meta.counted_until = before.counted_until;
	meta.vacuum_cleanups = before.vacuum_cleanups;
	meta.vacuum_deleted = before.vacuum_deleted;
	meta.vacuum_freed = before.vacuum_freed;
	meta.vacuum_repaired = before.vacuum_repaired;
	meta.vacuum_linked = before.vacuum_linked;

	omendb_write_quant_sets(index, qs, &meta, MAIN_FORKNUM, true);
	zero_stale_pages(index, meta.first_node_block);

	buf = ReadBuffer(index, OMENDB_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	omendb_edit_begin(&edit, index, true);
	page = omendb_edit_page(&edit, buf, false);
	/* the whole current layout, whatever the page's was */
	omendb_write_meta_page(page, &meta);
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
 * In the record being built, make node the entry point if the index has
 * none yet and node is a graph node, point the meta page's insert_block
 * at new_insert_block if that is valid, and if the node took a free slot
 * (reused), count one free slot less.  Sets *entry to the entry point
 * afterwards and returns the meta page's buffer, locked (the caller
 * releases it after finishing the record), or InvalidBuffer if the meta
 * page needed no change.
 */
static Buffer
publish_node(Relation index, OmenPageEdit *edit, const OmenMetaPageData *cur,
			 uint32 node, bool graph_node, BlockNumber new_insert_block,
			 bool reused, uint32 *entry)
{
	Buffer		metabuf;
	Page		page;
	OmenMetaPage m;

	if (new_insert_block == InvalidBlockNumber &&
		!(graph_node && cur->entry_node == OMENDB_INVALID_NODE))
	{
		*entry = cur->entry_node;
		if (!reused)
			return InvalidBuffer;
		return omendb_count_nodes(index, edit, omendb_node_block(cur, node),
								  0, -1);
	}
	metabuf = ReadBuffer(index, OMENDB_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	page = omendb_edit_page(edit, metabuf, false);
	m = OmenPageGetMeta(page);
	if (new_insert_block != InvalidBlockNumber)
		m->insert_block = new_insert_block;
	if (graph_node && m->entry_node == OMENDB_INVALID_NODE)
		m->entry_node = node;
	if (reused)
		omendb_meta_count_nodes(page, omendb_node_block(cur, node), 0, -1);
	*entry = m->entry_node;
	return metabuf;
}

static void
release_if_valid(Buffer buf)
{
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
}

/*
 * Write the node into a free slot of buf, a node page exclusively locked
 * that counts one or more, in one WAL record; releases buf.  Returns
 * whether the page has free slots left.
 */
static bool
take_free_slot(Relation index, const OmenMetaPageData *meta, Buffer buf,
			   const char *image, bool graph_node, bool use_wal,
			   uint32 *node, uint32 *entry)
{
	BlockNumber blkno = BufferGetBlockNumber(buf);
	Page		page = BufferGetPage(buf);
	OmenMetaPageData cur;
	Buffer		metabuf;
	Buffer		labelbuf;
	OmenPageEdit edit;
	OffsetNumber off;
	bool		more;

	for (off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		if (omendb_page_node(index, page, meta, off)->flags & OMENDB_NODE_FREE)
			break;
	if (off > PageGetMaxOffsetNumber(page))
		omendb_corrupted(index, "Block %u: %u free slots counted, none found.",
						 blkno, OmenPageGetOpaque(page)->nfree);

	omendb_read_meta(index, &cur);
	omendb_edit_begin(&edit, index, use_wal);
	page = omendb_edit_page(&edit, buf, false);
	memcpy(omendb_page_node(index, page, meta, off), image, meta->node_size);
	more = --OmenPageGetOpaque(page)->nfree > 0;
	*node = omendb_node_id(meta, blkno, off);
	metabuf = publish_node(index, &edit, &cur, *node, graph_node,
						   InvalidBlockNumber, true, entry);
	labelbuf = omendb_write_label_entry(index, &edit, meta, *node,
										OmenNodeLabels((OmenNodeHeader) image, meta),
										ImageSketch(image, meta), NULL);
	omendb_edit_finish(&edit);
	release_if_valid(labelbuf);
	release_if_valid(metabuf);
	UnlockReleaseBuffer(buf);
	return more;
}

/*
 * Lock node page blkno exclusively if it is one inserts may take a free
 * slot of (not past the last node page, where a truncation cut short may
 * have left pages of free slots) and it counts one; else InvalidBuffer.
 */
static Buffer
lock_page_with_free_slot(Relation index, const OmenMetaPageData *meta,
						 BlockNumber blkno)
{
	OmenMetaPageData cur;
	Buffer		buf;
	Page		page;

	if (blkno < meta->first_node_block ||
		blkno >= RelationGetNumberOfBlocks(index))
		return InvalidBuffer;
	omendb_read_meta(index, &cur);
	if (cur.insert_block == InvalidBlockNumber || blkno > cur.insert_block)
		return InvalidBuffer;
	buf = ReadBuffer(index, blkno);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	if (PageIsNew(page) || OmenPageGetOpaque(page)->nfree == 0)
	{
		UnlockReleaseBuffer(buf);
		return InvalidBuffer;
	}
	omendb_check_node_page(index, buf, page, meta);
	return buf;
}

/*
 * Write the node into a free slot that VACUUM left, if the free space map
 * knows a page with one; one WAL record.  The map is only a hint (not
 * WAL-logged, and a page is taken out of it when handed out), so a page
 * it names is checked, and offered again while it has free slots left.
 * Returns false if no free slot was found.
 */
static bool
reuse_free_slot(Relation index, const OmenMetaPageData *meta,
				const char *image, bool graph_node, bool use_wal,
				uint32 *node, uint32 *entry)
{
	for (;;)
	{
		BlockNumber blkno = GetFreeIndexPage(index);
		Buffer		buf;

		if (blkno == InvalidBlockNumber)
			return false;
		buf = lock_page_with_free_slot(index, meta, blkno);
		if (!BufferIsValid(buf))
			continue;
		if (take_free_slot(index, meta, buf, image, graph_node, use_wal,
						   node, entry))
			RecordFreeIndexPage(index, blkno);
		return true;
	}
}

/* How many of the pages nearest a new node's neighbours an insert tries. */
#define OMENDB_NEAR_PAGES_TRIED 4

/*
 * Write the node into a free slot on a page near its out-neighbours, if
 * one of the first OMENDB_NEAR_PAGES_TRIED that omendb_neighbor_pages
 * names has one, so that the nodes a search meets together share pages as
 * a build numbers them.  Only when the meta page counts free slots (or may
 * not count them all).  The free space map keeps naming the page; it is
 * checked when handed out.
 */
static bool
reuse_free_slot_near(Relation index, const OmenMetaPageData *meta,
					 const char *image, bool use_wal,
					 uint32 *node, uint32 *entry)
{
	OmenNodeHeader hdr = (OmenNodeHeader) image;
	BlockNumber pages[OMENDB_MAX_NEIGHBORS];
	OmenMetaPageData cur;
	int			npages;

	omendb_read_meta(index, &cur);
	if (cur.free_nodes == 0 && omendb_meta_counts_all(&cur))
		return false;
	npages = omendb_neighbor_pages(meta, OmenNodeNeighbors(hdr),
								   hdr->nneighbors, pages);
	for (int i = 0; i < Min(npages, OMENDB_NEAR_PAGES_TRIED); i++)
	{
		Buffer		buf = lock_page_with_free_slot(index, meta, pages[i]);

		if (BufferIsValid(buf))
		{
			(void) take_free_slot(index, meta, buf, image, true, use_wal,
								  node, entry);
			return true;
		}
	}
	return false;
}

/*
 * Whether a page past the last node page is one that a crash left while
 * VACUUM truncated the index: a node page of free slots alone.
 */
static bool
page_left_by_truncation(Relation index, Buffer buf, const OmenMetaPageData *meta)
{
	Page		page = BufferGetPage(buf);

	omendb_check_node_page(index, buf, page, meta);
	return OmenPageGetOpaque(page)->nfree == PageGetMaxOffsetNumber(page);
}

/*
 * Pin a block past the last node page, to set it up as the next node page
 * or label page: appended, or the one there if it exists.  The caller
 * holds the extension lock, and locks the buffer in its order (node page,
 * meta page, label page), then checks it with check_unpublished_block.
 */
static Buffer
pin_unpublished_block(Relation index, BlockNumber blkno)
{
	Buffer		buf;

	if (blkno < RelationGetNumberOfBlocks(index))
		return ReadBuffer(index, blkno);
	buf = ReadBuffer(index, P_NEW);
	if (BufferGetBlockNumber(buf) != blkno)
		omendb_corrupted(index, "Block %u: node pages out of sequence, expected block %u.",
						 BufferGetBlockNumber(buf), blkno);
	return buf;
}

/*
 * A block past the last node page that exists is not published: a crash
 * between extending the file and logging the page left it zeroed, or one
 * between VACUUM's naming a new last page and truncating the file left it
 * with free slots alone (or left a label page, whose entries are for slots
 * that do not exist any more).  Anything else there is damage.
 */
static void
check_unpublished_block(Relation index, const OmenMetaPageData *meta,
						Buffer buf)
{
	BlockNumber blkno = BufferGetBlockNumber(buf);
	Page		page = BufferGetPage(buf);

	if (PageIsNew(page))
		return;
	if (omendb_is_label_block(meta, blkno))
	{
		char	   *problem = omendb_label_page_problem(page, meta);

		if (problem != NULL)
			omendb_corrupted(index, "Block %u: %s.", blkno, problem);
		return;
	}
	if (!page_left_by_truncation(index, buf, meta))
		omendb_corrupted(index, "Block %u: a node page past the last one in the meta page is in use.",
						 blkno);
}

/*
 * A live node that a move leaves behind (omendb_move_node_to_end): its page,
 * locked exclusively by the caller, its offset and its id.
 */
typedef struct MoveSource
{
	Buffer		buf;
	OffsetNumber off;
	uint32		node;
} MoveSource;

/*
 * In the record being built, turn the node src names into a deleted node
 * whose one neighbour is its copy, the new node: every edge to the old slot
 * then still leads to the row, one hop further.  The meta page counts the
 * deleted node and, if the old slot was the entry point, names the copy
 * instead.  metabuf is the meta page if the record holds it already;
 * returns it, locked, if the record holds it now.
 */
static Buffer
leave_moved_node(Relation index, OmenPageEdit *edit,
				 const OmenMetaPageData *meta, const MoveSource *src,
				 uint32 copy, Buffer metabuf)
{
	BlockNumber blkno = BufferGetBlockNumber(src->buf);
	Page		page = omendb_edit_page(edit, src->buf, false);
	OmenNodeHeader hdr = omendb_page_node(index, page, meta, src->off);
	uint32	   *nbrs = OmenNodeNeighbors(hdr);
	Page		metapage;

	memset(nbrs, 0, sizeof(uint32) * meta->max_degree);
	nbrs[0] = copy;
	hdr->nneighbors = 1;
	hdr->flags = OMENDB_NODE_DELETED;
	if (!BufferIsValid(metabuf))
	{
		metabuf = ReadBuffer(index, OMENDB_METAPAGE_BLKNO);
		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	}
	metapage = omendb_edit_page(edit, metabuf, false);
	omendb_meta_count_nodes(metapage, blkno, 1, 0);
	if (OmenPageGetMeta(metapage)->entry_node == src->node)
		OmenPageGetMeta(metapage)->entry_node = copy;
	return metabuf;
}

/*
 * Append a node to the node pages in one WAL record: on the meta page's
 * insert_block if it has room, else on the next block, set up as a node
 * page.  With src, the node is a copy of src's, left behind in the same
 * record (leave_moved_node).  If the index has no entry point yet and the
 * node is a graph node (not a zero node), it becomes the entry point, in
 * the same record; *entry tells the caller which node is the entry point
 * afterwards (OMENDB_INVALID_NODE while there is none).
 *
 * The next block (insert_block + 1) becomes a node page either appended,
 * or, if a crash left a zeroed page there, reused, so that node pages stay
 * contiguous and node ids map to blocks by arithmetic.  In an index with a
 * label directory, a node page that starts a group comes with the group's
 * label page before it, set up in the same record; every node's entry is
 * written with the node.
 */
static uint32
append_node(Relation index, const OmenMetaPageData *meta, const char *image,
			bool graph_node, bool use_wal, const MoveSource *src,
			uint32 *entry)
{
	for (;;)
	{
		OmenMetaPageData cur;
		Buffer		buf;
		Buffer		metabuf;
		Page		page;
		OmenPageEdit edit;
		BlockNumber blkno;
		BlockNumber full_block;
		bool		extended = false;
		Buffer		labelbuf = InvalidBuffer;
		Buffer		lockedlabels;
		Page		newlabels = NULL;
		uint32		node;

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
			blkno = omendb_next_node_block(meta, full_block);
			if (omendb_is_label_block(meta, blkno - 1))
				labelbuf = pin_unpublished_block(index, blkno - 1);
			buf = pin_unpublished_block(index, blkno);
			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			check_unpublished_block(index, meta, buf);
			extended = true;
		}

		blkno = BufferGetBlockNumber(buf);
		omendb_edit_begin(&edit, index, use_wal);
		page = omendb_edit_page(&edit, buf, extended);
		if (extended)
			omendb_init_page(page, OMENDB_PAGE_NODE);
		node = place_node(index, page, blkno, meta, image);
		/* meta page next: publish a new insert page and/or entry point */
		metabuf = publish_node(index, &edit, &cur, node, graph_node,
							   extended ? blkno : InvalidBlockNumber, false,
							   entry);
		if (src)
			metabuf = leave_moved_node(index, &edit, meta, src, node, metabuf);
		/* the label page last; a new group's is set up in this record */
		if (BufferIsValid(labelbuf))
		{
			LockBuffer(labelbuf, BUFFER_LOCK_EXCLUSIVE);
			check_unpublished_block(index, meta, labelbuf);
			newlabels = omendb_edit_page(&edit, labelbuf, true);
			omendb_init_label_page(newlabels, meta);
		}
		lockedlabels = omendb_write_label_entry(index, &edit, meta, node,
												OmenNodeLabels((OmenNodeHeader) image, meta),
												ImageSketch(image, meta),
												newlabels);
		omendb_edit_finish(&edit);
		release_if_valid(lockedlabels);
		release_if_valid(labelbuf);
		release_if_valid(metabuf);
		UnlockReleaseBuffer(buf);
		if (extended)
			UnlockRelationForExtension(index, ExclusiveLock);
		return node;
	}
}

/*
 * Allocate a node slot and write the node in one WAL record: a free slot
 * if VACUUM left one, else a new one on the insert page (append_node).
 */
static uint32
write_node(Relation index, const OmenMetaPageData *meta, const char *image,
		   bool graph_node, bool use_wal, uint32 *entry)
{
	uint32		node;

	if (graph_node &&
		reuse_free_slot_near(index, meta, image, use_wal, &node, entry))
		return node;
	if (reuse_free_slot(index, meta, image, graph_node, use_wal, &node, entry))
		return node;
	return append_node(index, meta, image, graph_node, use_wal, NULL, entry);
}

/*
 * Move live graph node node to a new slot appended to the node pages
 * (append_node), in one record that leaves a deleted node in the old slot
 * whose one neighbour is the copy (VACUUM's renumbering, omendb_renumber.c).
 * The caller makes sure the node lies before the insert page, so that its
 * page, locked first, precedes the page the copy goes to.  Returns the
 * copy's id, or OMENDB_INVALID_NODE if the node is no longer a live graph
 * node.
 */
uint32
omendb_move_node_to_end(Relation index, const OmenMetaPageData *meta,
						BufferAccessStrategy strategy, uint32 node)
{
	BlockNumber tblk = omendb_node_block(meta, node);
	MoveSource	src;
	OmenNodeHeader hdr;
	char	   *image;
	uint32		copy = OMENDB_INVALID_NODE;
	uint32		entry;

	src.buf = omendb_lock_node_page(index, meta, tblk, strategy,
									BUFFER_LOCK_EXCLUSIVE);
	src.off = omendb_node_offset(meta, node);
	src.node = node;
	if (!BufferIsValid(src.buf))
		omendb_corrupted(index, "Block %u: a node page became new.", tblk);
	hdr = omendb_page_node(index, BufferGetPage(src.buf), meta, src.off);
	if (hdr->flags == OMENDB_NODE_LIVE && !OmenNodeIsZero(meta->metric, hdr))
	{
		image = palloc(ImageSize(meta));
		memcpy(image, hdr, meta->node_size);
		omendb_moved_sketch(index, meta, node, (uint64 *) (image + meta->node_size));
		copy = append_node(index, meta, image, true, true, &src, &entry);
		pfree(image);
	}
	UnlockReleaseBuffer(src.buf);
	return copy;
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
/*
 * A vector for an index of another dimension is refused.
 */
static void
check_dimensions(Relation index, const OmenMetaPageData *meta, int dim)
{
	if (dim != meta->dimensions)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", meta->dimensions, dim),
				 TupleDescAttr(RelationGetDescr(index), 0)->atttypmod < 0 ?
				 errhint("The column has no typmod, so the index took its dimension from the first vector it indexed, "
						 "even one rolled back.  Declare the column as vector(n), which rebuilds the index.") : 0));
}

/*
 * Fill in the node image for a heap row's vector: header and code, no
 * neighbours yet, and an error bound that allows for float-sums distances
 * (omendb_float_sums_error); v (code_dims floats) receives the vector as
 * indexed.  Returns false for a zero vector under cosine, whose image is a
 * zero node, outside the graph.
 */
static bool
node_image(Relation index, OmenIndexInfo *info, bool float_sums,
		   const float *x, int dim, ItemPointer tid, OmenNodeHeader hdr,
		   float *v)
{
	const OmenMetaPageData *meta = &info->meta;
	float		norm;

	if (!omendb_prepare_vector(meta->metric, x, dim, meta->ip_max_norm, v, &norm))
	{
		omendb_fill_zero_node((char *) hdr, meta, tid);
		return false;
	}
	omendb_check_ip_norm(index, meta->metric, norm);
	hdr->heaptid = *tid;
	hdr->flags = OMENDB_NODE_LIVE;
	/* the set of the parameters read with the meta page's quant_epoch */
	hdr->qset = meta->quant_current;
	hdr->norm = norm;
	hdr->error = omendb_float_sums_error(float_sums, meta->metric, x, dim,
										 omendb_quant_encode(info->quant, v,
															 OmenNodeCode(hdr, meta->max_degree)));
	return true;
}

/*
 * Insert a row: x its vector, value its value detoasted (NULL unless the
 * index's options store values), labels its filter columns' labels.
 */
void
omendb_insert_vector(Relation index, const float *x, int dim,
					 const void *value, ItemPointer tid,
					 const uint64 *labels, bool use_wal)
{
	/* (before the relcache's copy: a catalog lookup may reset it) */
	bool		float_sums = omendb_index_float_sums(index);
	OmenIndexInfo *info = omendb_get_info(index);
	const OmenMetaPageData *meta;
	OmenMetaPageData cur;
	char	   *image;
	OmenNodeHeader hdr;
	float	   *v;
	OmenQuery	query;
	OmenQuery	pivot;
	OmenPageStore ps;
	uint32		entry;
	uint32		node;
	uint32	   *nbrs;
	int			nnbrs = 0;
	bool		in_graph;

	if (!info->meta.quant_trained)
	{
		train_from_first_vector(index, x, dim);
		info = omendb_get_info(index);
	}
	meta = &info->meta;
	check_dimensions(index, meta, dim);

	image = palloc0(ImageSize(meta));
	hdr = (OmenNodeHeader) image;
	v = palloc(sizeof(float) * meta->code_dims);
	in_graph = node_image(index, info, float_sums, x, dim, tid, hdr, v);
	if (meta->label_size > 0)
		memcpy(OmenNodeLabels(hdr, meta), labels, meta->label_size);
	if (meta->sketch_words > 0)
		omendb_sketch_encode(info->sketch, x, (uint64 *) (image + meta->node_size));
	if (meta->value_size > 0 && in_graph)
	{
		omendb_check_value_size(index, value, meta->value_size);
		memcpy(OmenNodeValue(hdr, meta), value, meta->value_size);
	}
	if (!in_graph)
	{
		/* a zero vector under cosine: a zero node, outside the graph */
		(void) write_node(index, meta, image, false, use_wal, &entry);
		return;
	}

	/* graph distances are L2 in code space for every metric */
	omendb_query_init_placement(&query, info->quant, v,
								OmenNodeCode(hdr, meta->max_degree));
	omendb_query_init_code(&pivot, info->quant, NULL);
	omendb_pagestore_init(&ps, index, meta, info->quant, use_wal);

	omendb_read_meta(index, &cur);
	nbrs = OmenNodeNeighbors(hdr);
	if (cur.entry_node != OMENDB_INVALID_NODE)
		nnbrs = omendb_find_neighbors(&ps.store, &query, &pivot, cur.entry_node,
									  meta->build_list_size,
									  OMENDB_INVALID_NODE, meta->alpha,
									  meta->graph_degree, nbrs);
	hdr->nneighbors = nnbrs;

	node = write_node(index, meta, image, true, use_wal, &entry);

	/* a concurrent first insert won the entry point: link to it */
	if (nnbrs == 0 && entry != node)
	{
		nbrs[0] = entry;
		nnbrs = 1;
		(void) omendb_add_reverse_edge(&ps.store, &pivot, node, entry,
									   meta->alpha, meta->graph_degree, true);
	}

	if (!omendb_add_reverse_edges(&ps.store, &pivot, node, nbrs, nnbrs,
								  meta->alpha, meta->graph_degree, true) &&
		nnbrs > 0)
		omendb_hand_over_edge(&ps.store, &pivot, nbrs[0], node);
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
	const void *value = NULL;
	uint64	   *labels = NULL;
	int			natts = IndexRelationGetNumberOfKeyAttributes(index);
	OmenMetaPageData meta;

	if (isnull[0])
		return false;

	tmpcxt = AllocSetContextCreate(CurrentMemoryContext, "omendb insert",
								   ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(tmpcxt);
	vec = omendb_datum_vector(index, values[0]);
	/* a copy: detoasting and catalog lookups may drop the relcache's */
	meta = omendb_get_info(index)->meta;
	/* (the meta page decides once the index has its layout) */
	if (omendb_stores_vectors(index) || meta.value_size > 0)
		value = PG_DETOAST_DATUM(values[0]);
	if (natts > 1)
	{
		labels = palloc(OmenLabelSize(natts));
		omendb_filter_labels(omendb_filter_columns(index, meta.signature_bits),
							 values + 1, isnull + 1, labels);
	}
	omendb_insert_vector(index, vec->x, vec->dim, value, heap_tid, labels,
						 true);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(tmpcxt);
	return false;
}
