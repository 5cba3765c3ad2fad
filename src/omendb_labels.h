/*-------------------------------------------------------------------------
 *
 * omendb_labels.h
 *	  The label directory (omendb_labels.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_LABELS_H
#define OMENDB_LABELS_H

#include "omendb_filter.h"
#include "omendb_page.h"
#include "omendb_sketch.h"

extern bool omendb_is_label_block(const OmenMetaPageData *meta,
								  BlockNumber blkno);
extern BlockNumber omendb_label_block(const OmenMetaPageData *meta,
									  BlockNumber blkno);
extern BlockNumber omendb_label_blocks_before(const OmenMetaPageData *meta,
											  BlockNumber blkno);
extern BlockNumber omendb_next_node_block(const OmenMetaPageData *meta,
										  BlockNumber blkno);
extern void omendb_init_label_page(Page page, const OmenMetaPageData *meta);
extern char *omendb_label_page_problem(Page page,
									   const OmenMetaPageData *meta);
extern void omendb_get_label_entry(Page page, const OmenMetaPageData *meta,
								   uint32 node, uint64 *entry);
extern Buffer omendb_lock_label_page(Relation index,
									 const OmenMetaPageData *meta,
									 BlockNumber blkno,
									 BufferAccessStrategy strategy, int mode);
extern Buffer omendb_write_label_entry(Relation index, OmenPageEdit *edit,
									   const OmenMetaPageData *meta,
									   uint32 node, const uint64 *labels,
									   const uint64 *sketch, Page new_page);
extern void omendb_set_label_entry(Page page, const OmenMetaPageData *meta,
								   uint32 node, const uint64 *labels,
								   const uint64 *sketch);
extern void omendb_moved_sketch(Relation index, const OmenMetaPageData *meta,
								uint32 node, uint64 *sketch);
extern void omendb_sketch_label_page(Page page, const OmenMetaPageData *meta,
									 const OmenSketchQuery *sq,
									 const bool *match, double *bound);
extern void omendb_match_label_page(Page page, const OmenMetaPageData *meta,
									const OmenFilter *filter, bool *match);

#endif							/* OMENDB_LABELS_H */
