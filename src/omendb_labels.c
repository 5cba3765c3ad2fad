/*-------------------------------------------------------------------------
 *
 * omendb_labels.c
 *	  The label directory: the filter labels of every node slot, packed on
 *	  label pages among the node pages (omendb.h; README.omendb, "The label
 *	  directory").
 *
 * Where a page lies: a group of label_stride blocks from first_node_block
 * on starts with its label page.  Writers put a node's entry in the record
 * that writes the node, locking the label page after the node pages and
 * the meta page; readers lock a label page alone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/bufmgr.h"

#include "omendb_filter.h"
#include "omendb_labels.h"
#include "omendb_sketch.h"

/* The words of a node's labels, the NULL bits first. */
#define LabelWords(meta)	((meta)->label_size / sizeof(uint64))

/* The words of an entry: the labels, then the sketch. */
#define EntryWords(meta)	(OmenEntrySize(meta) / sizeof(uint64))

/* Whether blkno is a label page. */
bool
omendb_is_label_block(const OmenMetaPageData *meta, BlockNumber blkno)
{
	return meta->label_stride > 0 && blkno >= meta->first_node_block &&
		(blkno - meta->first_node_block) % meta->label_stride == 0;
}

/* The label page of the group of node page blkno. */
BlockNumber
omendb_label_block(const OmenMetaPageData *meta, BlockNumber blkno)
{
	Assert(meta->label_stride > 0);
	return blkno - (blkno - meta->first_node_block) % meta->label_stride;
}

/* How many label pages lie between first_node_block and blkno. */
BlockNumber
omendb_label_blocks_before(const OmenMetaPageData *meta, BlockNumber blkno)
{
	if (meta->label_stride == 0 || blkno <= meta->first_node_block)
		return 0;
	return (blkno - meta->first_node_block + meta->label_stride - 1) /
		meta->label_stride;
}

/*
 * The node page after node page blkno (InvalidBlockNumber: before the
 * first), past the label page that starts a group.
 */
BlockNumber
omendb_next_node_block(const OmenMetaPageData *meta, BlockNumber blkno)
{
	BlockNumber next = blkno == InvalidBlockNumber ?
		meta->first_node_block : blkno + 1;

	return omendb_is_label_block(meta, next) ? next + 1 : next;
}

/* A node's entry on its group's label page. */
static uint32
label_entry(const OmenMetaPageData *meta, uint32 node)
{
	BlockNumber blkno = omendb_node_block(meta, node);
	BlockNumber group = omendb_label_block(meta, blkno);

	return (blkno - group - 1) * meta->nodes_per_page + node % meta->nodes_per_page;
}

static uint64 *
label_words(Page page)
{
	return (uint64 *) PageGetContents(page);
}

/* Set up an empty label page: every entry zero, covered by pd_lower. */
void
omendb_init_label_page(Page page, const OmenMetaPageData *meta)
{
	Size		len = (Size) OmenLabelEntries(meta) * OmenEntrySize(meta);

	omendb_init_page(page, OMENDB_PAGE_LABELS);
	memset(label_words(page), 0, len);
	((PageHeader) page)->pd_lower = MAXALIGN(SizeOfPageHeaderData) + len;
}

/* What is wrong with a label page, or NULL. */
char *
omendb_label_page_problem(Page page, const OmenMetaPageData *meta)
{
	PageHeader	ph = (PageHeader) page;
	char	   *problem = omendb_page_problem(page, OMENDB_PAGE_LABELS);
	Size		len = (Size) OmenLabelEntries(meta) * OmenEntrySize(meta);

	if (problem != NULL)
		return problem;
	if (ph->pd_lower != MAXALIGN(SizeOfPageHeaderData) + len ||
		ph->pd_upper != ph->pd_special)
		return psprintf("label page has pd_lower %u and pd_upper %u, expected %u and %u",
						ph->pd_lower, ph->pd_upper,
						(unsigned) (MAXALIGN(SizeOfPageHeaderData) + len),
						ph->pd_special);
	return NULL;
}

/* Copy a node's entry (labels, then sketch) out of its label page. */
void
omendb_get_label_entry(Page page, const OmenMetaPageData *meta, uint32 node,
					   uint64 *entry)
{
	uint32		nentries = OmenLabelEntries(meta);
	uint32		e = label_entry(meta, node);
	const uint64 *words = label_words(page);

	for (uint32 w = 0; w < EntryWords(meta); w++)
		entry[w] = words[(Size) w * nentries + e];
}

/*
 * Write a node's entry on its label page, its labels and its sketch words
 * (sketch_words of them, if any): an image being edited, or a page a build
 * fills (no WAL).
 */
void
omendb_set_label_entry(Page page, const OmenMetaPageData *meta, uint32 node,
					   const uint64 *labels, const uint64 *sketch)
{
	uint32		nentries = OmenLabelEntries(meta);
	uint32		e = label_entry(meta, node);
	uint64	   *words = label_words(page);

	for (uint32 w = 0; w < LabelWords(meta); w++)
		words[(Size) w * nentries + e] = labels[w];
	for (uint32 w = 0; w < meta->sketch_words; w++)
		words[(Size) (LabelWords(meta) + w) * nentries + e] = sketch[w];
}

/*
 * Read a label page under a lock of the given mode, checked; the caller
 * releases it.  InvalidBuffer for an all-zero page, left by a crash after
 * extending the index: only all-zero node pages follow it.
 */
Buffer
omendb_lock_label_page(Relation index, const OmenMetaPageData *meta,
					   BlockNumber blkno, BufferAccessStrategy strategy,
					   int mode)
{
	Buffer		buf = omendb_lock_index_page(index, blkno, strategy, mode);
	char	   *problem;

	if (!BufferIsValid(buf))
		return InvalidBuffer;
	problem = omendb_label_page_problem(BufferGetPage(buf), meta);
	if (problem != NULL)
		omendb_corrupted(index, "Block %u: %s.", blkno, problem);
	return buf;
}

/*
 * In the record being built, which writes node into its slot, write its
 * entry too: its labels and sketch words.  Returns the label page's buffer,
 * locked (the caller releases it after finishing the record), or
 * InvalidBuffer if the index has no directory.  A label page being set up
 * in the same record is passed as new_page, already in the record.
 */
Buffer
omendb_write_label_entry(Relation index, OmenPageEdit *edit,
						 const OmenMetaPageData *meta, uint32 node,
						 const uint64 *labels, const uint64 *sketch,
						 Page new_page)
{
	BlockNumber blkno;
	Buffer		buf;

	if (meta->label_stride == 0)
		return InvalidBuffer;
	if (new_page != NULL)
	{
		omendb_set_label_entry(new_page, meta, node, labels, sketch);
		return InvalidBuffer;
	}
	blkno = omendb_label_block(meta, omendb_node_block(meta, node));
	buf = omendb_lock_label_page(index, meta, blkno, NULL,
								 BUFFER_LOCK_EXCLUSIVE);
	if (!BufferIsValid(buf))
		omendb_corrupted(index, "Block %u: the label page of a node page in use is all zero.",
						 blkno);
	omendb_set_label_entry(omendb_edit_page(edit, buf, false), meta, node,
						   labels, sketch);
	return buf;
}

/*
 * The sketch words of a node's entry, for a move that writes the node's
 * copy into another slot, read from its label page under a share lock
 * before the copy's is locked (one label page at a time, after the node
 * pages and the meta page, as writers lock them).  Only VACUUM moves
 * nodes, and a live or deleted node's entry stays as it is.
 */
void
omendb_moved_sketch(Relation index, const OmenMetaPageData *meta,
					uint32 node, uint64 *sketch)
{
	BlockNumber blkno;
	uint64	   *entry;
	Buffer		buf;

	if (meta->sketch_words == 0)
		return;
	blkno = omendb_label_block(meta, omendb_node_block(meta, node));
	buf = omendb_lock_label_page(index, meta, blkno, NULL, BUFFER_LOCK_SHARE);
	if (!BufferIsValid(buf))
		omendb_corrupted(index, "Block %u: the label page of a node page in use is all zero.",
						 blkno);
	entry = palloc(OmenEntrySize(meta));
	omendb_get_label_entry(BufferGetPage(buf), meta, node, entry);
	UnlockReleaseBuffer(buf);
	memcpy(sketch, entry + LabelWords(meta), sizeof(uint64) * meta->sketch_words);
	pfree(entry);
}

/*
 * The sketch bounds of the entries of a label page that match: bound[e]
 * for each e with match[e] (omendb_sketch_bound).
 */
void
omendb_sketch_label_page(Page page, const OmenMetaPageData *meta,
						 const OmenSketchQuery *sq, const bool *match,
						 double *bound)
{
	uint32		nentries = OmenLabelEntries(meta);
	const uint64 *words = label_words(page) + (Size) LabelWords(meta) * nentries;
	uint64		sketch[OMENDB_SKETCH_MAX_WORDS];
	const bool *m = match;

	/* (most entries fail a filter that sends a scan here) */
	while ((m = memchr(m, true, nentries - (m - match))) != NULL)
	{
		uint32		e = m++ - match;

		for (uint32 w = 0; w < meta->sketch_words; w++)
			sketch[w] = words[(Size) w * nentries + e];
		bound[e] = omendb_sketch_bound(sq, sketch);
	}
}

/*
 * Which slots of a label page's group may hold a row the filter passes:
 * match[e] for entry e (node pages in order, slots in order).  Only the
 * words the keys name are read.
 */
void
omendb_match_label_page(Page page, const OmenMetaPageData *meta,
						const OmenFilter *filter, bool *match)
{
	uint32		nentries = OmenLabelEntries(meta);
	const uint64 *words = label_words(page);
	const uint64 *columns[OMENDB_MAX_FILTER_COLUMNS];

	for (uint32 c = 0; c + 1 < LabelWords(meta); c++)
		columns[c] = words + (Size) (c + 1) * nentries;
	memset(match, true, sizeof(bool) * nentries);
	omendb_filter_match_columns(filter, words, columns, nentries, match);
}
