/*-------------------------------------------------------------------------
 *
 * omendb_page.h
 *	  The page layer: reading, checking and changing omendb's pages.
 *
 *	  omendb_nodepage.c  page initialization and checks, damage reports,
 *						 node addressing, node items, node id checks
 *	  omendb_meta.c		 the meta page, and the relcache's copy of an
 *						 index's fixed parameters
 *	  omendb_reader.c	 the batched, prefetching node reader
 *	  omendb_xlog.c		 atomic page changes through generic xlog
 *
 * The quantizer pages belong to the quantizer (omendb_quant.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_PAGE_H
#define OMENDB_PAGE_H

#include "omendb.h"

#include "utils/rel.h"

/*
 * The fixed parameters of an index, as read from its meta page: one palloc
 * chunk, the quantizer included, so that it can live in rd_amcache (which
 * the relcache pfrees on invalidation) and be copied whole by scans that
 * outlive a call.
 */
typedef struct OmenIndexInfo
{
	Size		size;			/* of the whole chunk */
	OmenMetaPageData meta;		/* copy of the meta page at open time */
	OmenQuantState *quant;		/* NULL while untrained, else the copy
								 * that follows this struct in the chunk:
								 * the current parameter set's */
	OmenQuantState *quant_other;	/* while a refit is unfinished, the
									 * other set's, after it; else NULL */
	struct OmenSketch *sketch;	/* the label directory's distance sketch
								 * (meta.sketch_words > 0), last; else NULL */
	uint32		node_limit;		/* node ids below this lie on pages known
								 * to exist (kept up to date in rd_amcache,
								 * see omendb_nodepage.c; in a scan's copy,
								 * a lower bound on the node slots) */
} OmenIndexInfo;

/* An atomic change of a few pages, WAL-logged through generic xlog. */
typedef struct OmenPageEdit
{
	GenericXLogState *state;	/* NULL when not WAL-logging (build) */
	int			nbufs;
	Buffer		bufs[MAX_GENERIC_XLOG_PAGES];
} OmenPageEdit;

typedef void (*OmenNodeVisitor) (OmenNodeHeader node, int idx, void *arg);

/* omendb_nodepage.c */
extern void omendb_init_page(Page page, uint16 kind);
extern OMENDB_NORETURN void omendb_corrupted(Relation index, const char *fmt,...)
			pg_attribute_printf(2, 3);
extern char *omendb_page_problem(Page page, uint16 kind);
extern void omendb_check_page(Relation index, Buffer buf, Page page,
							  uint16 kind);
extern char *omendb_node_page_problem(Page page,
									  const OmenMetaPageData *meta);
extern void omendb_check_node_page(Relation index, Buffer buf, Page page,
								   const OmenMetaPageData *meta);
extern char *omendb_node_item_problem(Page page,
									  const OmenMetaPageData *meta,
									  OffsetNumber off);
extern BlockNumber omendb_node_block(const OmenMetaPageData *meta,
									 uint32 node);
extern OffsetNumber omendb_node_offset(const OmenMetaPageData *meta,
									   uint32 node);
extern uint32 omendb_node_id(const OmenMetaPageData *meta, BlockNumber blkno,
							 OffsetNumber off);
extern int	omendb_neighbor_pages(const OmenMetaPageData *meta,
								  const uint32 *nbrs, int n,
								  BlockNumber *pages);
extern Buffer omendb_lock_index_page(Relation index, BlockNumber blkno,
									 BufferAccessStrategy strategy, int mode);
extern Buffer omendb_lock_node_page(Relation index,
									const OmenMetaPageData *meta,
									BlockNumber blkno,
									BufferAccessStrategy strategy, int mode);
extern int	omendb_page_node_count(Relation index, const OmenMetaPageData *meta,
								   BlockNumber blkno);
extern OmenNodeHeader omendb_page_node(Relation index, Page page,
									   const OmenMetaPageData *meta,
									   OffsetNumber off);
extern void omendb_fill_zero_node(char *image, const OmenMetaPageData *meta,
								  ItemPointer tid);
extern char *omendb_node_value_problem(const OmenMetaPageData *meta,
									   OmenNodeHeader node);
extern uint32 omendb_node_slots(Relation index, const OmenMetaPageData *meta);
extern uint32 omendb_node_slots_below(const OmenMetaPageData *meta,
									  BlockNumber nblocks);
extern void omendb_node_id_beyond(Relation index,
								  const OmenMetaPageData *meta, uint32 node,
								  uint32 *limit, bool may_read,
								  BlockNumber from_blkno,
								  OffsetNumber from_off);
extern void omendb_check_neighbors(Relation index,
								   const OmenMetaPageData *meta,
								   BlockNumber blkno, OffsetNumber off,
								   OmenNodeHeader node);

/* omendb_meta.c */
extern bool omendb_node_fits(int dim, OmenMetric metric, int degree,
							 uint16 quantizer, int label_size,
							 int value_size);
extern void omendb_meta_set_sketch(OmenMetaPage meta, int words);
extern void omendb_fill_meta(OmenMetaPage meta, int dim, OmenMetric metric,
							 int degree, int list, double alpha,
							 uint16 quantizer, float ip_max_norm,
							 int label_size, int value_size);
extern char *omendb_meta_problem(const OmenMetaPageData *meta);
extern char *omendb_meta_page_problem(Page page);
extern void omendb_meta_from_page(Relation index, Page page,
								  OmenMetaPageData *meta);
extern void omendb_write_meta_page(Page page, const OmenMetaPageData *meta);
extern void omendb_meta_set_relink(Page page, uint32 relink_from);
extern bool omendb_meta_page_can_grow(Page page);
extern void omendb_meta_set_quiet_slots(Page page, uint32 quiet_slots);
extern void omendb_meta_set_walk_rate(Relation index, float rate, bool use_wal);
extern bool omendb_meta_page_has_counters(Page page);
extern void omendb_meta_page_add_counters(Page page,
										  const OmenMetaPageData *meta);
extern void omendb_meta_count_nodes(Page page, BlockNumber blkno,
									int deleted, int freed);
extern Buffer omendb_count_nodes(Relation index, OmenPageEdit *edit,
								 BlockNumber blkno, int deleted, int freed);
extern Page omendb_edit_meta_page(Relation index, OmenPageEdit *edit,
								  bool use_wal, Buffer *metabuf);
extern void omendb_read_meta(Relation index, OmenMetaPageData *meta);
extern int64 omendb_lock_meta_and_slots(Relation index, int mode,
									   OmenMetaPageData *meta,
									   Buffer *buf, Buffer *metabuf);
extern int64 omendb_read_meta_and_slots(Relation index,
										OmenMetaPageData *meta);
extern OmenIndexInfo *omendb_get_info(Relation index);
extern OmenIndexInfo *omendb_copy_info(const OmenIndexInfo *info);
extern void omendb_invalidate_info(Relation index);

/* omendb_reader.c */
extern Buffer omendb_read_recent_buffer(Relation index, BlockNumber blkno);
extern Buffer omendb_read_node_buffer(Relation index, BlockNumber blkno);
extern void omendb_visit_nodes(Relation index, const OmenMetaPageData *meta,
							   const uint32 *nodes, int n,
							   OmenNodeVisitor visitor, void *arg);
extern void omendb_visit_node_labels(Relation index,
									 const OmenMetaPageData *meta,
									 const uint32 *nodes, int n,
									 OmenNodeVisitor visitor, void *arg);

/* omendb_xlog.c */
extern void omendb_edit_begin(OmenPageEdit *edit, Relation index,
							  bool use_wal);
extern Page omendb_edit_page(OmenPageEdit *edit, Buffer buf, bool new_page);
extern void omendb_edit_finish(OmenPageEdit *edit);

/*
 * The node at an offset of a (locked, checked) node page whose block number
 * is known (or InvalidBlockNumber), or an error if the slot does not hold a
 * well-formed node.
 */
static inline OmenNodeHeader
omendb_page_node_at(Relation index, Page page, const OmenMetaPageData *meta,
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

/* Whether a copy of the meta page counts the nodes of every node page. */
static inline bool
omendb_meta_counts_all(const OmenMetaPageData *meta)
{
	return meta->counted_until == InvalidBlockNumber;
}

/*
 * The bound on node ids that the relcache's copy of the index parameters
 * keeps (see omendb_nodepage.c, "Node ids"), or 0 if there is none.
 */
static inline uint32
omendb_cached_node_limit(Relation index)
{
	OmenIndexInfo *info = (OmenIndexInfo *) index->rd_amcache;

	return info ? info->node_limit : 0;
}

/*
 * Raise an error unless node lies on an existing node page: one comparison
 * with *limit, the caller's copy of the bound, unless the id is beyond it.
 */
static inline void
omendb_check_node_id(Relation index, const OmenMetaPageData *meta,
					 uint32 node, uint32 *limit, bool may_read,
					 BlockNumber from_blkno, OffsetNumber from_off)
{
	if (likely(node < *limit))
		return;
	omendb_node_id_beyond(index, meta, node, limit, may_read, from_blkno,
						  from_off);
}

#endif							/* OMENDB_PAGE_H */
