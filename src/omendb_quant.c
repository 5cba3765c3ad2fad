/*-------------------------------------------------------------------------
 *
 * omendb_quant.c
 *	  The quantizers an index can use, and the calls that do not depend on
 *	  which one it uses.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "omendb_page.h"
#include "omendb_quant.h"

/* Every quantizer, by kind; the quantizer reloption names one. */
static const OmenQuantRoutine *const quantizers[] = {
	&omendb_sq8_routine,
	&omendb_rabitq_routine,
};

/*
 * The routines of a meta page's quantizer field, or NULL if there is no
 * such quantizer or it does not take the bits the field gives.
 */
const OmenQuantRoutine *
omendb_quant_routine(uint16 quantizer)
{
	for (int i = 0; i < lengthof(quantizers); i++)
		if (quantizers[i]->kind == OmenQuantKind(quantizer))
			return omendb_quant_bits_valid(quantizers[i],
										   OmenQuantBits(quantizer)) ?
				quantizers[i] : NULL;
	return NULL;
}

/*
 * Whether a meta page may give a quantizer these bits: none (0) if it
 * takes no bits option, else 1 to its largest.
 */
bool
omendb_quant_bits_valid(const OmenQuantRoutine *routine, int bits)
{
	if (routine->max_bits == 0)
		return bits == 0;
	return bits >= 1 && bits <= routine->max_bits;
}

/*
 * Whether scans of codes from this quantizer bound rows with certainty:
 * omendb.exact_order, and under auto the quantizer's own default.
 */
bool
omendb_bounds_certain(const OmenQuantState *qs)
{
	if (omendb_exact_order == OMENDB_EXACT_ORDER_AUTO)
		return qs->routine->certain_by_default;
	return omendb_exact_order == OMENDB_EXACT_ORDER_ON;
}

/* The routines of a quantizer reloption value, or NULL. */
const OmenQuantRoutine *
omendb_quant_routine_by_name(const char *name)
{
	for (int i = 0; i < lengthof(quantizers); i++)
		if (strcmp(quantizers[i]->name, name) == 0)
			return quantizers[i];
	return NULL;
}

/* The valid values of the quantizer reloption, for messages. */
char *
omendb_quant_names(void)
{
	StringInfoData names;

	initStringInfo(&names);
	for (int i = 0; i < lengthof(quantizers); i++)
		appendStringInfo(&names, "%s\"%s\"", i > 0 ? ", " : "",
						 quantizers[i]->name);
	return names.data;
}

/*
 * The routines of the quantizer an index's meta page names.  The meta page
 * checks (omendb_meta_problem) refuse an unknown one; this is for callers
 * that hold a meta page copy they did not read through them.
 */
const OmenQuantRoutine *
omendb_index_quant(Relation index, const OmenMetaPageData *meta)
{
	const OmenQuantRoutine *routine = omendb_quant_routine(meta->quantizer);

	if (routine == NULL)
		omendb_corrupted(index, "Block %u: meta page has unknown quantizer %u.",
						 OMENDB_METAPAGE_BLKNO, meta->quantizer);
	return routine;
}

/* The routines of a quantizer that options or a checked meta page gave. */
static const OmenQuantRoutine *
known_quant(uint16 quantizer)
{
	const OmenQuantRoutine *routine = omendb_quant_routine(quantizer);

	if (routine == NULL)
		elog(ERROR, "unknown omendb quantizer %d", (int) quantizer);
	return routine;
}

/* Train a quantizer from per-dimension minima, maxima and means. */
OmenQuantState *
omendb_quant_train(uint16 quantizer, int code_dims, const float *minv,
				   const float *maxv, const float *mean)
{
	return known_quant(quantizer)->train(code_dims, minv, maxv, mean,
										 OmenQuantBits(quantizer));
}

/* Train a quantizer from the first vector of an index built empty. */
OmenQuantState *
omendb_quant_train_first(uint16 quantizer, OmenMetric metric,
						 const float *v, int dim, float ip_max_norm)
{
	return known_quant(quantizer)->train_first(metric, v, dim, ip_max_norm,
											   OmenQuantBits(quantizer));
}

/*
 * The first block of a parameter set's quantizer pages: the sets split the
 * quantizer pages evenly.
 */
BlockNumber
omendb_quant_set_block(const OmenMetaPageData *meta, int set)
{
	Assert(set >= 0 && set < meta->quant_sets);
	return OMENDB_FIRST_QUANT_BLKNO + set * (meta->nquant_blocks / meta->quant_sets);
}

/*
 * Write a newly trained quantizer as every parameter set: the sets not in
 * use stay well-formed, and each equal to the current one.
 */
void
omendb_write_quant_sets(Relation index, const OmenQuantState *qs,
						const OmenMetaPageData *meta, ForkNumber fork,
						bool use_wal)
{
	for (int set = 0; set < meta->quant_sets; set++)
		qs->routine->write_pages(index, qs, omendb_quant_set_block(meta, set),
								 fork, use_wal);
}

/*
 * Write one page of the given kind, blkno of fork, as an item of size
 * bytes: the page is overwritten if it exists, else the relation is
 * extended by it.
 */
void
omendb_write_item_page(Relation index, BlockNumber blkno, ForkNumber fork,
					   bool use_wal, uint16 kind, const void *item, Size size)
{
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
	omendb_init_page(page, kind);
	if (PageAddItem(page, (Item) item, size, InvalidOffsetNumber, false,
					false) == InvalidOffsetNumber)
		elog(ERROR, "could not add an item to index \"%s\"",
			 RelationGetRelationName(index));
	omendb_edit_finish(&edit);
	UnlockReleaseBuffer(buf);
}

/*
 * What is wrong with a page omendb_write_item_page wrote, expected to be
 * of the given kind with an item of size bytes, or NULL.
 */
char *
omendb_item_page_problem(Page page, uint16 kind, Size size)
{
	PageHeader	ph = (PageHeader) page;
	char	   *problem = omendb_page_problem(page, kind);
	ItemId		iid;

	if (problem != NULL)
		return problem;
	iid = PageGetItemId(page, FirstOffsetNumber);
	if (PageGetMaxOffsetNumber(page) != 1 || !ItemIdIsNormal(iid) ||
		ItemIdGetLength(iid) != size ||
		ItemIdGetOffset(iid) != ph->pd_upper ||
		ph->pd_upper != ph->pd_special - MAXALIGN(size))
		return psprintf("page has %u items, the first of %u bytes at %u (pd_upper %u), expected one of %zu bytes",
						(unsigned) PageGetMaxOffsetNumber(page),
						ItemIdGetLength(iid), ItemIdGetOffset(iid),
						ph->pd_upper, size);
	return NULL;
}

/* Write one quantizer page (omendb_write_item_page). */
void
omendb_write_quant_item(Relation index, BlockNumber blkno, ForkNumber fork,
						bool use_wal, const void *item, Size size)
{
	omendb_write_item_page(index, blkno, fork, use_wal, OMENDB_PAGE_QUANT,
						   item, size);
}

/* Write the quantizer pages, blocks first on. */
void
omendb_write_quant_pages(Relation index, const OmenQuantState *qs,
						 BlockNumber first, ForkNumber fork, bool use_wal)
{
	qs->routine->write_pages(index, qs, first, fork, use_wal);
}

/* Read (and check) a parameter set's quantizer pages of a trained index. */
OmenQuantState *
omendb_read_quant(Relation index, const OmenMetaPageData *meta, int set)
{
	return omendb_index_quant(index, meta)->read_pages(index, meta,
													   omendb_quant_set_block(meta, set));
}
