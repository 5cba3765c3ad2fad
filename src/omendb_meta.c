/*-------------------------------------------------------------------------
 *
 * omendb_meta.c
 *	  The meta page: its layout, checks, reading and writing; and the
 *	  relcache's copy of an index's fixed parameters.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/memutils.h"

#include "omendb_filter.h"
#include "omendb_labels.h"
#include "omendb_page.h"
#include "omendb_quant.h"
#include "omendb_sketch.h"

/* Bytes a node page offers to node items (and their line pointers). */
#define NODE_PAGE_SPACE \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(OmenPageOpaqueData)))

/* Neighbour slots of a node for graph degree R: R plus the reverse-edge slack. */
static int
max_degree_for(int degree)
{
	return (degree * OMENDB_SLACK_NUM + OMENDB_SLACK_DEN - 1) / OMENDB_SLACK_DEN;
}

/*
 * The MAXALIGNed size of a node item; labels start MAXALIGNed, and so does
 * the value after them.
 */
static Size
node_size_for(int max_degree, int code_size, int label_size, int value_size)
{
	return OmenNodeValueOffset(max_degree, code_size, label_size) +
		MAXALIGN(value_size);
}

/*
 * Blocks in a group of the label directory: a label page, and as many node
 * pages as it has entries for; 0 (no directory) without filter columns, or
 * if one node page's labels would not fit a page.
 */
static uint32
label_stride_for(uint32 label_size, int nodes_per_page)
{
	uint32		node_pages;

	if (label_size == 0 || nodes_per_page == 0)
		return 0;
	node_pages = NODE_PAGE_SPACE / (label_size * nodes_per_page);
	return node_pages > 0 ? node_pages + 1 : 0;
}

/*
 * Set the node layout of a meta page whose options, metric, quantizer and
 * sketch words are set, for vectors of dim dimensions whose values take
 * value_size bytes on a node (0: none stored): the code's dimensions and
 * bytes (the quantizer's), node size, nodes per page, the label
 * directory's groups, and where the quantizer and sketch pages end and
 * the node pages begin.
 */
static void
set_node_layout(OmenMetaPage meta, const OmenQuantRoutine *quant, int dim,
				int value_size)
{
	meta->dimensions = dim;
	meta->value_size = value_size;
	meta->code_dims = quant->code_dims(meta->metric, dim);
	meta->code_size = quant->code_bytes(meta->metric, dim,
										OmenQuantBits(meta->quantizer));
	meta->node_size = node_size_for(meta->max_degree, meta->code_size,
									 meta->label_size, meta->value_size);
	meta->nodes_per_page = NODE_PAGE_SPACE / (meta->node_size + sizeof(ItemIdData));
	meta->label_stride = label_stride_for(OmenEntrySize(meta), meta->nodes_per_page);
	meta->nquant_blocks = quant->page_count(meta->metric, dim) * meta->quant_sets;
	meta->first_node_block = OMENDB_FIRST_QUANT_BLKNO + meta->nquant_blocks +
		omendb_sketch_blocks(meta->sketch_words, dim);
}

/*
 * The fields of a meta page that its options, metric and quantizer fix,
 * before any node layout: the counters zero, no entry point.
 */
static void
fill_fixed_fields(OmenMetaPage meta, OmenMetric metric, int degree, int list,
				  double alpha, uint16 quantizer, float ip_max_norm,
				  int label_size)
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
	meta->label_size = label_size;
	meta->quant_trained = false;
	/* room for a second parameter set, for refits */
	meta->quant_sets = 2;
	meta->entry_node = OMENDB_INVALID_NODE;
	meta->insert_block = InvalidBlockNumber;
	meta->relink_from = OMENDB_INVALID_NODE;
	meta->signature_bits = OMENDB_SIGNATURE_BITS;
	meta->dimensions = 0;
	/* no nodes: every count is zero, and exact */
	meta->counted_until = InvalidBlockNumber;
}

/* Whether a layout's node item, with its line pointer, fits a node page. */
static bool
layout_fits_page(const OmenMetaPageData *layout)
{
	return layout->node_size + sizeof(ItemIdData) <= NODE_PAGE_SPACE;
}

/*
 * Whether a node of vectors of dim dimensions fits a page under a
 * quantizer, at a degree, with labels of label_size bytes and values of
 * value_size.
 */
bool
omendb_node_fits(int dim, OmenMetric metric, int degree, uint16 quantizer,
				 int label_size, int value_size)
{
	OmenMetaPageData layout;

	fill_fixed_fields(&layout, metric, degree, OMENDB_DEFAULT_BUILD_LIST,
					  OMENDB_DEFAULT_ALPHA, quantizer, 0, label_size);
	set_node_layout(&layout, omendb_quant_routine(quantizer), dim, value_size);
	return layout_fits_page(&layout);
}

/*
 * Fill the fixed fields of a meta page.  With dim 0 (an empty build on a
 * column without a typmod) the node layout, and with it value_size, is
 * left for the first insert.
 */
void
omendb_fill_meta(OmenMetaPage meta, int dim, OmenMetric metric, int degree,
				 int list, double alpha, uint16 quantizer,
				 float ip_max_norm, int label_size, int value_size)
{
	const OmenQuantRoutine *quant;

	fill_fixed_fields(meta, metric, degree, list, alpha, quantizer,
					  ip_max_norm, label_size);
	quant = omendb_quant_routine(quantizer);
	if (quant == NULL)
		elog(ERROR, "unknown omendb quantizer %d", (int) quantizer);
	if (quant->supports != NULL && !quant->supports(metric))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("omendb's %s quantizer does not support this operator class's distance",
						quant->name),
				 errhint("Use quantizer = 'sq8'.")));
	if (dim > 0)
	{
		OmenMetaPageData layout = *meta;

		set_node_layout(&layout, quant, dim, value_size);
		if (!layout_fits_page(&layout))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("omendb's %s quantizer cannot index vectors of %d dimensions with graph_degree %d",
							quant->name, dim, degree),
					 errdetail("A node must fit one %d-byte page; it would take %zu bytes.",
							   BLCKSZ, layout.node_size + sizeof(ItemIdData)),
					 value_size > 0 ?
					 errhint("Turn store_vectors off, or reduce the dimension.") :
					 quant->max_bits > 0 ?
					 errhint("Lower graph_degree or bits, or reduce the dimension.") :
					 errhint("Lower graph_degree, use quantizer = 'rabitq', or reduce the dimension.")));
		*meta = layout;
	}
}

/*
 * Give a trained meta page's label directory entries words of distance
 * sketch (0: none), and the layout that follows: the sketch pages before
 * the node pages, and fewer entries a label page.
 */
void
omendb_meta_set_sketch(OmenMetaPage meta, int words)
{
	Assert(meta->quant_trained && meta->dimensions > 0);
	meta->sketch_words = words;
	set_node_layout(meta, omendb_quant_routine(meta->quantizer),
					meta->dimensions, meta->value_size);
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
	const OmenQuantRoutine *quant = omendb_quant_routine(meta->quantizer);
	OmenMetaPageData layout;

	if (meta->magic != OMENDB_MAGIC)
		return psprintf("meta page magic is 0x%08X, expected 0x%08X",
						meta->magic, OMENDB_MAGIC);
	if (meta->metric < OMENDB_METRIC_L2 || meta->metric > OMENDB_METRIC_LAST)
		return psprintf("meta page has unknown metric %u", meta->metric);
	if (quant == NULL)
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
	if (meta->walk_rate != 0 &&
		!(meta->walk_rate >= 1 && meta->walk_rate <= meta->max_degree))
		return psprintf("meta page has walk rate %g for %u neighbour slots",
						meta->walk_rate, meta->max_degree);
	if (meta->dimensions > VECTOR_MAX_DIM ||
		meta->label_size % sizeof(uint64) != 0 ||
		meta->label_size == sizeof(uint64) ||
		meta->label_size > OmenLabelSize(INDEX_MAX_KEYS) ||
		meta->quant_trained > 1)
		return psprintf("meta page has %u dimensions, label size %u, trained flag %u",
						meta->dimensions, meta->label_size, meta->quant_trained);

	if (meta->quant_sets < 1 || meta->quant_sets > 2 ||
		meta->quant_current >= meta->quant_sets ||
		meta->quant_refitting > 1 ||
		(meta->quant_refitting && !meta->quant_trained))
		return psprintf("meta page has %u quantizer parameter sets, current set %u, refitting flag %u",
						meta->quant_sets, meta->quant_current,
						meta->quant_refitting);

	if (meta->signature_bits < 1 || meta->signature_bits > OMENDB_SIGNATURE_BITS)
		return psprintf("meta page has %u signature bits an element",
						meta->signature_bits);

	if (meta->sketch_words > OMENDB_SKETCH_MAX_WORDS ||
		(meta->sketch_words > 0 &&
		 (!meta->quant_trained || meta->label_stride == 0 ||
		  OmenSketchDirections(meta->sketch_words) >= meta->dimensions ||
		  !omendb_sketch_possible(meta->metric, meta->label_size))))
		return psprintf("meta page has %u sketch words, with label size %u and label stride %u",
						meta->sketch_words, meta->label_size, meta->label_stride);

	if (meta->relink_from != OMENDB_INVALID_NODE &&
		(!meta->quant_trained || meta->quant_refitting))
		return psprintf("meta page has a relink from node %u during a refit or before training",
						meta->relink_from);

	if (!meta->quant_trained)
	{
		/* no layout before the first vector; nothing to point at */
		if (meta->code_dims != 0 || meta->code_size != 0 || meta->node_size != 0 ||
			meta->value_size != 0 ||
			meta->nodes_per_page != 0 || meta->nquant_blocks != 0 ||
			meta->first_node_block != 0 ||
			meta->entry_node != OMENDB_INVALID_NODE ||
			meta->insert_block != InvalidBlockNumber ||
			meta->deleted_nodes != 0 || meta->free_nodes != 0)
			return psprintf("meta page of an untrained index has a node layout, an entry point or node counts");
		return NULL;
	}

	/* a value is a varlena of at least the dimensions' bytes */
	if (meta->value_size != 0 &&
		(meta->value_size < offsetof(Vector, x) + meta->dimensions ||
		 meta->value_size > offsetof(Vector, x) + sizeof(float) * meta->dimensions))
		return psprintf("meta page has value size %u for %u dimensions",
						meta->value_size, meta->dimensions);
	layout = *meta;
	set_node_layout(&layout, quant, meta->dimensions, meta->value_size);
	if (meta->dimensions == 0 || meta->code_dims != layout.code_dims ||
		meta->code_size != layout.code_size ||
		meta->node_size != layout.node_size ||
		layout.node_size + sizeof(ItemIdData) > NODE_PAGE_SPACE ||
		meta->nodes_per_page != layout.nodes_per_page)
		return psprintf("meta page node layout (%u dimensions, %u code dimensions, code size %u, node size %u, %u nodes a page) is inconsistent",
						meta->dimensions, meta->code_dims, meta->code_size,
						meta->node_size, meta->nodes_per_page);
	/* (0: written before the directory) */
	if (meta->label_stride != 0 && meta->label_stride != layout.label_stride)
		return psprintf("meta page has label stride %u, expected %u",
						meta->label_stride, layout.label_stride);
	if (meta->nquant_blocks != layout.nquant_blocks ||
		meta->first_node_block != layout.first_node_block)
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

	/*
	 * Counting node pages one by one stops short of the insert page, which
	 * moves only forward; with nothing counted the counts are zero.
	 */
	if (meta->counted_until == 0 ?
		meta->deleted_nodes != 0 || meta->free_nodes != 0 :
		meta->counted_until != InvalidBlockNumber &&
		(meta->insert_block == InvalidBlockNumber ||
		 meta->counted_until < meta->first_node_block ||
		 meta->counted_until > meta->insert_block))
		return psprintf("meta page counts %u deleted nodes and %u free slots on the node pages before block %u, with insert block %u",
						meta->deleted_nodes, meta->free_nodes,
						meta->counted_until, meta->insert_block);

	/* a quiet cleanup found every node counted, none deleted but the entry */
	if (meta->quiet_slots != 0 &&
		(meta->deleted_nodes > 1 || meta->counted_until != InvalidBlockNumber))
		return psprintf("meta page records a quiet cleanup of %u node slots, but counts %u deleted nodes on the node pages before block %u",
						meta->quiet_slots - 1, meta->deleted_nodes,
						meta->counted_until);
	return NULL;
}

/*
 * Where the meta data ends on a page: pd_lower points there.  Indexes
 * written before the meta page had code_dims end right before it, and are
 * read as if it were zero; those written before the node counters end
 * right before deleted_nodes, and are read with the counters zero and
 * nothing counted (omendb_meta_from_page); those written before the
 * quantizer parameter sets end right before quant_sets, and are read with
 * one set; those written before the relink end right before relink_from,
 * and are read with none to do; those written before stored values end
 * right before value_size, and are read with none; those written before
 * the label directory end right before label_stride, and have none;
 * those written before two-bit signatures end right before
 * signature_bits, and are read with one; those written before quiet
 * cleanups end right before quiet_slots, and are read with none; those
 * written before distance sketches end right before sketch_words, and
 * have none.
 */
#define META_END \
	(MAXALIGN(SizeOfPageHeaderData) + sizeof(OmenMetaPageData))
#define META_END_WITHOUT_CODE_DIMS \
	(MAXALIGN(SizeOfPageHeaderData) + offsetof(OmenMetaPageData, code_dims))
#define META_END_WITHOUT_COUNTERS \
	(MAXALIGN(SizeOfPageHeaderData) + offsetof(OmenMetaPageData, deleted_nodes))
#define META_END_WITHOUT_QUANT_SETS \
	(MAXALIGN(SizeOfPageHeaderData) + offsetof(OmenMetaPageData, quant_sets))
#define META_END_WITHOUT_RELINK \
	(MAXALIGN(SizeOfPageHeaderData) + offsetof(OmenMetaPageData, relink_from))
#define META_END_WITHOUT_VALUE_SIZE \
	(MAXALIGN(SizeOfPageHeaderData) + offsetof(OmenMetaPageData, value_size))
#define META_END_WITHOUT_LABEL_STRIDE \
	(MAXALIGN(SizeOfPageHeaderData) + offsetof(OmenMetaPageData, label_stride))
#define META_END_WITHOUT_SIGNATURE_BITS \
	(MAXALIGN(SizeOfPageHeaderData) + offsetof(OmenMetaPageData, signature_bits))
#define META_END_WITHOUT_QUIET_SLOTS \
	(MAXALIGN(SizeOfPageHeaderData) + offsetof(OmenMetaPageData, quiet_slots))
#define META_END_WITHOUT_SKETCH_WORDS \
	(MAXALIGN(SizeOfPageHeaderData) + offsetof(OmenMetaPageData, sketch_words))

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

	if (problem != NULL)
		return problem;
	if ((ph->pd_lower != META_END &&
		 ph->pd_lower != META_END_WITHOUT_SKETCH_WORDS &&
		 ph->pd_lower != META_END_WITHOUT_QUIET_SLOTS &&
		 ph->pd_lower != META_END_WITHOUT_SIGNATURE_BITS &&
		 ph->pd_lower != META_END_WITHOUT_LABEL_STRIDE &&
		 ph->pd_lower != META_END_WITHOUT_VALUE_SIZE &&
		 ph->pd_lower != META_END_WITHOUT_RELINK &&
		 ph->pd_lower != META_END_WITHOUT_QUANT_SETS &&
		 ph->pd_lower != META_END_WITHOUT_COUNTERS &&
		 ph->pd_lower != META_END_WITHOUT_CODE_DIMS) ||
		ph->pd_upper != ph->pd_special)
		return psprintf("meta page has pd_lower %u and pd_upper %u, expected %u and %u",
						ph->pd_lower, ph->pd_upper, (unsigned) META_END, ph->pd_special);
	return NULL;
}

/*
 * Whether a meta page can grow to the current layout: whether it has the
 * quantizer parameter sets, the last fields that a page without them is
 * not read with constants for.
 */
bool
omendb_meta_page_can_grow(Page page)
{
	return ((PageHeader) page)->pd_lower >= META_END_WITHOUT_RELINK;
}

/*
 * Grow a meta page being edited to the current layout, giving the fields
 * it lacks the values a page without them is read with
 * (omendb_meta_from_page).  The bytes past pd_lower need not be zero.
 */
static void
grow_meta_page(Page page)
{
	PageHeader	ph = (PageHeader) page;
	OmenMetaPage m = OmenPageGetMeta(page);

	Assert(omendb_meta_page_can_grow(page));
	if (ph->pd_lower >= META_END)
		return;
	if (ph->pd_lower < META_END_WITHOUT_VALUE_SIZE)
		m->relink_from = OMENDB_INVALID_NODE;
	if (ph->pd_lower < META_END_WITHOUT_LABEL_STRIDE)
		m->value_size = 0;
	if (ph->pd_lower < META_END_WITHOUT_SIGNATURE_BITS)
		m->label_stride = 0;
	if (ph->pd_lower < META_END_WITHOUT_QUIET_SLOTS)
		m->signature_bits = 1;
	if (ph->pd_lower < META_END_WITHOUT_SKETCH_WORDS)
		m->quiet_slots = 0;
	m->sketch_words = 0;
	ph->pd_lower = META_END;
}

/*
 * Set where the relink goes on from, on a meta page being edited; one
 * that predates the field grows to cover it.
 */
void
omendb_meta_set_relink(Page page, uint32 relink_from)
{
	grow_meta_page(page);
	OmenPageGetMeta(page)->relink_from = relink_from;
}

/*
 * Set quiet_slots on a meta page being edited, which can grow to cover
 * the field.
 */
void
omendb_meta_set_quiet_slots(Page page, uint32 quiet_slots)
{
	grow_meta_page(page);
	OmenPageGetMeta(page)->quiet_slots = quiet_slots;
}

/*
 * Record a measured walk rate on the meta page, in a record of its own
 * (or, during a build, for log_newpage_range to log).
 */
void
omendb_meta_set_walk_rate(Relation index, float rate, bool use_wal)
{
	Buffer		metabuf;
	OmenPageEdit edit;
	Page		page = omendb_edit_meta_page(index, &edit, use_wal, &metabuf);

	OmenPageGetMeta(page)->walk_rate = rate;
	omendb_edit_finish(&edit);
	UnlockReleaseBuffer(metabuf);
}

/* Lay out a meta page image. */
void
omendb_write_meta_page(Page page, const OmenMetaPageData *meta)
{
	omendb_init_page(page, OMENDB_PAGE_META);
	memcpy(OmenPageGetMeta(page), meta, sizeof(OmenMetaPageData));
	/* cover the meta data, or generic xlog would zero it as a hole */
	((PageHeader) page)->pd_lower = META_END;
}

/*
 * Copy the meta data out of a meta page, checking the page and the copy:
 * every reader of the meta page goes through here, so a damaged one stops
 * them all.  A meta page without code_dims gets it from its quantizer: the
 * fields before it were always the same.  One without the node counters
 * gets them zero, with no node page counted (counted_until 0), and one
 * without the parameter sets has as many as its quantizer pages hold (one,
 * in the indexes written then) and no refit under way.
 */
void
omendb_meta_from_page(Relation index, Page page, OmenMetaPageData *meta)
{
	char	   *problem = omendb_meta_page_problem(page);
	LocationIndex len = ((PageHeader) page)->pd_lower - MAXALIGN(SizeOfPageHeaderData);
	const OmenQuantRoutine *quant;

	if (problem != NULL)
		omendb_corrupted(index, "Block %u: %s.", OMENDB_METAPAGE_BLKNO, problem);
	memset(meta, 0, sizeof(OmenMetaPageData));
	memcpy(meta, OmenPageGetMeta(page), len);
	if (len <= offsetof(OmenMetaPageData, code_dims))
	{
		quant = omendb_quant_routine(meta->quantizer);
		if (meta->quant_trained && quant != NULL)
			meta->code_dims = quant->code_dims(meta->metric, meta->dimensions);
	}
	if (len <= offsetof(OmenMetaPageData, quant_sets))
	{
		/* as many sets as its quantizer pages hold: one, as written then */
		quant = omendb_quant_routine(meta->quantizer);
		meta->quant_sets = 1;
		if (meta->quant_trained && quant != NULL &&
			quant->page_count(meta->metric, meta->dimensions) > 0)
			meta->quant_sets = meta->nquant_blocks /
				quant->page_count(meta->metric, meta->dimensions);
	}

	if (len <= offsetof(OmenMetaPageData, relink_from))
		meta->relink_from = OMENDB_INVALID_NODE;
	if (len <= offsetof(OmenMetaPageData, signature_bits))
		meta->signature_bits = 1;

	if (meta->magic == OMENDB_MAGIC && meta->version != OMENDB_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("index \"%s\" has omendb format version %u, this library reads version %d",
						RelationGetRelationName(index), meta->version, OMENDB_VERSION),
				 errhint("REINDEX it.")));
	problem = omendb_meta_problem(meta);
	if (problem != NULL)
		omendb_corrupted(index, "Block %u: %s.", OMENDB_METAPAGE_BLKNO, problem);
	if (meta->label_size != OmenLabelSize(IndexRelationGetNumberOfKeyAttributes(index)))
		omendb_corrupted(index, "Block %u: meta page has label size %u for an index of %d columns.",
						 OMENDB_METAPAGE_BLKNO, meta->label_size,
						 IndexRelationGetNumberOfKeyAttributes(index));
}

/* Whether a meta page has the node counters (its pd_lower covers them). */
bool
omendb_meta_page_has_counters(Page page)
{
	return ((PageHeader) page)->pd_lower >= META_END_WITHOUT_QUANT_SETS;
}

/*
 * Give a meta page (an image being edited, locked exclusively) the node
 * counters if it predates them, with nothing counted: extend it to the
 * current layout, its fields as meta (read from it) has them.
 */
void
omendb_meta_page_add_counters(Page page, const OmenMetaPageData *meta)
{
	OmenMetaPage m = OmenPageGetMeta(page);

	if (omendb_meta_page_has_counters(page))
		return;
	/* meta has quant_sets 1, as read from a page this old */
	memcpy(m, meta, sizeof(OmenMetaPageData));
	m->deleted_nodes = 0;
	m->free_nodes = 0;
	m->counted_until = 0;
	m->vacuum_cleanups = 0;
	m->vacuum_deleted = 0;
	m->vacuum_freed = 0;
	m->vacuum_repaired = 0;
	m->vacuum_linked = 0;
	((PageHeader) page)->pd_lower = META_END;
}

/*
 * Count, on a meta page image being edited, nodes of node page blkno
 * changing state: deleted more nodes flagged deleted (fewer if negative),
 * freed more free slots.  Nothing changes unless the counters count that
 * page.  Counts that would go below zero are wrong: they are given up
 * (nothing counted, as on a meta page that predates them), for the next
 * VACUUM to count again.
 */
void
omendb_meta_count_nodes(Page page, BlockNumber blkno, int deleted, int freed)
{
	OmenMetaPage m = OmenPageGetMeta(page);
	int64		d;
	int64		f;

	if (!omendb_meta_page_has_counters(page) || blkno >= m->counted_until)
		return;
	/* a node changed state: the last cleanup's quiet is over */
	if (((PageHeader) page)->pd_lower >= META_END)
		m->quiet_slots = 0;
	d = (int64) m->deleted_nodes + deleted;
	f = (int64) m->free_nodes + freed;
	if (d < 0 || f < 0 || d > PG_UINT32_MAX || f > PG_UINT32_MAX)
	{
		m->deleted_nodes = 0;
		m->free_nodes = 0;
		m->counted_until = 0;
		return;
	}
	m->deleted_nodes = (uint32) d;
	m->free_nodes = (uint32) f;
}

/*
 * In a page edit that holds node page blkno's exclusive lock, count nodes
 * of that page changing state (omendb_meta_count_nodes): the meta page is
 * locked last, as always, and changed in the same record as the nodes, so
 * the counts are exact at every record, after a crash and on a standby.
 * Returns the meta page's buffer, locked, for the caller to release once
 * the edit is finished, or InvalidBuffer if the meta page does not count
 * that page (and was left as it was).
 */
Buffer
omendb_count_nodes(Relation index, OmenPageEdit *edit, BlockNumber blkno,
				   int deleted, int freed)
{
	Buffer		metabuf;
	Page		page;
	char	   *problem;

	if (deleted == 0 && freed == 0)
		return InvalidBuffer;
	metabuf = ReadBuffer(index, OMENDB_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(metabuf);
	problem = omendb_meta_page_problem(page);
	if (problem != NULL)
		omendb_corrupted(index, "Block %u: %s.", OMENDB_METAPAGE_BLKNO, problem);
	if (!omendb_meta_page_has_counters(page) ||
		blkno >= OmenPageGetMeta(page)->counted_until)
	{
		UnlockReleaseBuffer(metabuf);
		return InvalidBuffer;
	}
	omendb_meta_count_nodes(omendb_edit_page(edit, metabuf, false), blkno,
							deleted, freed);
	return metabuf;
}

/*
 * Lock the meta page exclusively and add it to a page edit begun with
 * use_wal; *metabuf is its buffer, for the caller to release once the edit
 * is finished.  Returns the page to change.
 */
Page
omendb_edit_meta_page(Relation index, OmenPageEdit *edit, bool use_wal,
					  Buffer *metabuf)
{
	*metabuf = ReadBuffer(index, OMENDB_METAPAGE_BLKNO);
	LockBuffer(*metabuf, BUFFER_LOCK_EXCLUSIVE);
	omendb_edit_begin(edit, index, use_wal);
	return omendb_edit_page(edit, *metabuf, false);
}

/*
 * Lock the meta page and the node slots at one moment: the insert page
 * share-locked first, then the meta page in mode (the locking order of
 * every writer), so that neither a new slot nor a counted change of a
 * node's state can come between them.  If the insert page moved before we
 * had both, try again.  Returns the node slots; *meta is the meta page,
 * and *buf and *metabuf the two buffers, locked, for the caller to
 * release (*buf InvalidBuffer when there is no node page yet).
 */
int64
omendb_lock_meta_and_slots(Relation index, int mode, OmenMetaPageData *meta,
						   Buffer *buf, Buffer *metabuf)
{
	for (;;)
	{
		BlockNumber blkno;

		omendb_read_meta(index, meta);
		blkno = meta->insert_block;
		*buf = InvalidBuffer;
		if (blkno != InvalidBlockNumber)
		{
			*buf = ReadBuffer(index, blkno);
			LockBuffer(*buf, BUFFER_LOCK_SHARE);
			omendb_check_node_page(index, *buf, BufferGetPage(*buf), meta);
		}
		*metabuf = ReadBuffer(index, OMENDB_METAPAGE_BLKNO);
		LockBuffer(*metabuf, mode);
		omendb_meta_from_page(index, BufferGetPage(*metabuf), meta);
		if (meta->insert_block == blkno)
		{
			/* no node page yet, and none without the meta page saying so */
			if (blkno == InvalidBlockNumber)
				return 0;
			return (int64) (blkno - meta->first_node_block -
							omendb_label_blocks_before(meta, blkno)) *
				meta->nodes_per_page +
				PageGetMaxOffsetNumber(BufferGetPage(*buf));
		}
		UnlockReleaseBuffer(*metabuf);
		if (BufferIsValid(*buf))
			UnlockReleaseBuffer(*buf);
	}
}

/* The same, the two pages released again. */
int64
omendb_read_meta_and_slots(Relation index, OmenMetaPageData *meta)
{
	Buffer		buf;
	Buffer		metabuf;
	int64		slots = omendb_lock_meta_and_slots(index, BUFFER_LOCK_SHARE,
												   meta, &buf, &metabuf);

	UnlockReleaseBuffer(metabuf);
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
	return slots;
}

/* Read the meta page (omendb_meta_from_page) under a share lock. */
void
omendb_read_meta(Relation index, OmenMetaPageData *meta)
{
	Buffer		buf = ReadBuffer(index, OMENDB_METAPAGE_BLKNO);

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	omendb_meta_from_page(index, BufferGetPage(buf), meta);
	UnlockReleaseBuffer(buf);
}

/*
 * Lay out an OmenIndexInfo in one chunk of cxt: the meta page copy and,
 * if trained, a copy of the quantizer right after the struct, of the
 * other parameter set's (other, if not NULL) after that, and of the
 * sketch (if not NULL) last.
 */
static OmenIndexInfo *
pack_info(const OmenMetaPageData *meta, const OmenQuantState *qs,
		  const OmenQuantState *other, const OmenSketch *sketch,
		  MemoryContext cxt)
{
	Size		size = MAXALIGN(sizeof(OmenIndexInfo)) +
		(qs ? MAXALIGN(qs->size) : 0) + (other ? MAXALIGN(other->size) : 0) +
		(sketch ? sketch->size : 0);
	OmenIndexInfo *info = MemoryContextAllocZero(cxt, size);
	char	   *next = (char *) info + MAXALIGN(sizeof(OmenIndexInfo));

	info->size = size;
	info->meta = *meta;
	if (qs != NULL)
	{
		info->quant = (OmenQuantState *) next;
		memcpy(info->quant, qs, qs->size);
		next += MAXALIGN(qs->size);
	}
	if (other != NULL)
	{
		info->quant_other = (OmenQuantState *) next;
		memcpy(info->quant_other, other, other->size);
		next += MAXALIGN(other->size);
	}
	if (sketch != NULL)
	{
		info->sketch = (OmenSketch *) next;
		memcpy(info->sketch, sketch, sketch->size);
	}
	return info;
}

/*
 * Whether a copy of the parameters still holds for the meta page as it is
 * now: the parameter sets change only with quant_epoch, and the other set
 * is needed only while quant_refitting.
 */
static bool
info_is_current(const OmenIndexInfo *info, const OmenMetaPageData *meta)
{
	return info->meta.quant_trained == meta->quant_trained &&
		info->meta.quant_epoch == meta->quant_epoch &&
		info->meta.quant_refitting == meta->quant_refitting;
}

/*
 * The fixed parameters of an index: meta page copy plus quantizer, the
 * current parameter set's and, while a refit is unfinished, the other's.
 * Cached in rd_amcache once the quantizer is trained.  Only a refit
 * changes them (REINDEX builds a new relfilenode and resets the cache),
 * and it changes quant_epoch or quant_refitting with them, so the cache
 * is checked against the meta page on every call: a refit that stopped
 * with an error sends no relcache invalidation.  The volatile meta fields
 * (entry_node, insert_block) must be re-read from the meta page by whoever
 * needs them.  The relcache may free the cache at any invalidation, so
 * whoever keeps it across calls takes a copy (omendb_copy_info).
 */
OmenIndexInfo *
omendb_get_info(Relation index)
{
	OmenMetaPageData meta;
	OmenQuantState *qs = NULL;
	OmenQuantState *other = NULL;
	OmenSketch *sketch = NULL;
	OmenIndexInfo *info;

	omendb_read_meta(index, &meta);
	if (index->rd_amcache != NULL)
	{
		if (info_is_current((OmenIndexInfo *) index->rd_amcache, &meta))
			return (OmenIndexInfo *) index->rd_amcache;
		omendb_invalidate_info(index);
	}

	if (!meta.quant_trained)
		return pack_info(&meta, NULL, NULL, NULL, CurrentMemoryContext);
	qs = omendb_read_quant(index, &meta, meta.quant_current);
	if (meta.quant_refitting)
		other = omendb_read_quant(index, &meta, 1 - meta.quant_current);
	if (meta.sketch_words > 0)
		sketch = omendb_read_sketch(index, &meta);

	info = pack_info(&meta, qs, other, sketch, index->rd_indexcxt);
	index->rd_amcache = info;
	return info;
}

/* A private copy of an OmenIndexInfo, in CurrentMemoryContext. */
OmenIndexInfo *
omendb_copy_info(const OmenIndexInfo *info)
{
	OmenIndexInfo *copy = pack_info(&info->meta, info->quant,
									info->quant_other, info->sketch,
									CurrentMemoryContext);

	/* slots only grow while a scan holds the copy: a lower bound */
	copy->node_limit = info->node_limit;
	return copy;
}

/* Forget the cached parameters (after training the quantizer). */
void
omendb_invalidate_info(Relation index)
{
	if (index->rd_amcache)
		pfree(index->rd_amcache);
	index->rd_amcache = NULL;
}
