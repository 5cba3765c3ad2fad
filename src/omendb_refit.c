/*-------------------------------------------------------------------------
 *
 * omendb_refit.c
 *	  Refitting the quantizer during VACUUM: retrain its parameters on the
 *	  indexed rows, and re-encode every node in place.
 *
 * An index built on an empty table learns its quantizer from the first
 * vector, and one built on data that has drifted since keeps ranges that
 * no longer fit: codes are clamped, or spread over a sliver of the range,
 * and the error bounds grow, which costs scans time and recall (never
 * exactness).  VACUUM's cleanup measures the fit from the codes alone and,
 * when it is poor, trains the other parameter set on the rows' vectors,
 * makes it the current one, and re-encodes the nodes page by page.  The
 * design, the invariant and the crash reasoning are in README.omendb,
 * "Refitting the quantizer".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "commands/vacuum.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "omendb_graph.h"
#include "omendb_metric.h"
#include "omendb_page.h"
#include "omendb_quant.h"

/* omendb.refit_max_pages: node pages one VACUUM re-encodes; 0, all */
int			omendb_refit_max_pages = 0;

/*
 * A refit starts when more than this fraction of the live graph nodes have
 * clamped codes, or when training on the vectors would shrink the cell
 * radius below this fraction of what it is: either way the error bounds,
 * and with them the scans' work, would drop markedly.  Below this many
 * graph nodes a refit would train on too few vectors to fit the rows to
 * come.
 */
#define REFIT_CLAMPED_FRACTION	0.01
#define REFIT_RADIUS_RATIO		0.8
#define REFIT_MIN_NODES			100

/* A live node of the graph: what the fit is measured on and trained for. */
static inline bool
is_graph_node(const OmenMetaPageData *meta, OmenNodeHeader hdr)
{
	return hdr->flags == OMENDB_NODE_LIVE && !OmenNodeIsZero(meta->metric, hdr);
}

/* Start a survey of the nodes that the current parameter set encoded. */
void
omendb_fit_survey_init(OmenFitSurvey *survey, const OmenQuantState *qs,
					   const OmenMetaPageData *meta)
{
	omendb_fitness_init(&survey->fit, qs, meta->quant_current, NULL);
	survey->quant_epoch = meta->quant_epoch;
	survey->code_size = meta->code_size;
	survey->lo = palloc(meta->code_size);
	survey->hi = palloc0(meta->code_size);
	memset(survey->lo, 0xFF, meta->code_size);
}

/* Add a node read from its page, if it is a live graph node. */
void
omendb_fit_survey_add(OmenFitSurvey *survey, const OmenMetaPageData *meta,
					  const OmenNodeHeader hdr)
{
	const uint8 *code = OmenNodeCode(hdr, meta->max_degree);

	if (!is_graph_node(meta, hdr))
		return;
	omendb_fitness_add(&survey->fit, hdr, false);
	for (int i = 0; i < survey->code_size; i++)
	{
		survey->lo[i] = Min(survey->lo[i], code[i]);
		survey->hi[i] = Max(survey->hi[i], code[i]);
	}
}

/*
 * Whether the current parameters fit the live graph nodes poorly enough to
 * refit (see REFIT_* above), from a survey of the nodes' codes and error
 * bounds alone; *why says how.
 */
static bool
fit_is_poor(const OmenIndexInfo *ii, const OmenFitSurvey *survey, char **why)
{
	const OmenFitness *fit = &survey->fit;
	double		radius;
	double		fitted;

	if (fit->ratio_nodes < REFIT_MIN_NODES)
		return false;

	radius = omendb_quant_cell_radius(ii->quant);
	fitted = ii->quant->routine->span_radius(ii->quant, survey->lo, survey->hi);
	if (fit->clamped > REFIT_CLAMPED_FRACTION * fit->ratio_nodes)
		*why = psprintf("%.1f%% of the codes were clamped",
						100.0 * fit->clamped / fit->ratio_nodes);
	else if (fitted < REFIT_RADIUS_RATIO * radius)
		*why = psprintf("the codes span ranges whose cell radius is %.0f%% of the quantizer's",
						100.0 * fitted / radius);
	else
		return false;
	return true;
}

/*
 * Train new parameters on the vectors of the live graph nodes' heap rows:
 * each dimension's least and greatest value, as a build trains.  NULL if
 * no row could be read.
 */
static OmenQuantState *
train_on_rows(Relation index, const OmenMetaPageData *meta,
			  BufferAccessStrategy strategy, float *centroid)
{
	int			cdim = meta->code_dims;
	float	   *minv = palloc(sizeof(float) * cdim);
	float	   *maxv = palloc(sizeof(float) * cdim);
	float	   *v = palloc(sizeof(float) * cdim);
	ItemPointerData *tids = palloc(sizeof(ItemPointerData) * meta->nodes_per_page);
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext,
												 "omendb refit rows",
												 ALLOCSET_DEFAULT_SIZES);
	double	   *sum = palloc0(sizeof(double) * cdim);
	OmenHeapVectors *hv;
	uint64		nrows = 0;
	OmenQuantState *qs = NULL;

	for (int i = 0; i < cdim; i++)
	{
		minv[i] = INFINITY;
		maxv[i] = -INFINITY;
	}
	hv = omendb_heap_vectors_begin(index);
	for (BlockNumber blkno = meta->first_node_block; blkno < nblocks; blkno++)
	{
		Buffer		buf = omendb_lock_node_page(index, meta, blkno, strategy,
												BUFFER_LOCK_SHARE);
		Page		page;
		int			ntids = 0;
		MemoryContext oldcxt;

		if (!BufferIsValid(buf))
			continue;
		page = BufferGetPage(buf);
		for (OffsetNumber off = FirstOffsetNumber;
			 off <= PageGetMaxOffsetNumber(page); off++)
		{
			OmenNodeHeader hdr = omendb_page_node_at(index, page, meta,
													 blkno, off);

			if (is_graph_node(meta, hdr))
				tids[ntids++] = hdr->heaptid;
		}
		UnlockReleaseBuffer(buf);

		oldcxt = MemoryContextSwitchTo(rowcxt);
		for (int k = 0; k < ntids; k++)
		{
			if (!omendb_heap_vector(hv, index, meta, &tids[k], v))
				continue;
			nrows++;
			for (int i = 0; i < cdim; i++)
			{
				minv[i] = Min(minv[i], v[i]);
				maxv[i] = Max(maxv[i], v[i]);
				sum[i] += v[i];
			}
		}
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rowcxt);
		OMENDB_VACUUM_DELAY_POINT();
	}
	omendb_heap_vectors_end(hv);

	for (int i = 0; i < cdim; i++)
		centroid[i] = nrows > 0 ? (float) (sum[i] / nrows) : 0;
	if (nrows > 0)
		qs = omendb_quant_train(meta->quantizer, cdim, minv, maxv, centroid);
	MemoryContextDelete(rowcxt);
	pfree(sum);
	pfree(minv);
	pfree(maxv);
	pfree(v);
	pfree(tids);
	return qs;
}

/*
 * Make qs the current parameters: write it as the set not in use, then, in
 * a record of its own, make that set current, with a refit under way.
 * Until that record, the other set is unused and a crash leaves the index
 * as it was.  No backend holds the set being overwritten: the caller
 * waited for every one that could.
 */
static void
switch_parameter_sets(Relation index, const OmenQuantState *qs)
{
	OmenMetaPageData meta;
	Buffer		metabuf;
	OmenPageEdit edit;
	OmenMetaPage m;
	int			next;

	omendb_read_meta(index, &meta);
	next = 1 - meta.quant_current;
	omendb_write_quant_pages(index, qs, omendb_quant_set_block(&meta, next),
							 MAIN_FORKNUM, true);

	m = OmenPageGetMeta(omendb_edit_meta_page(index, &edit, true, &metabuf));
	m->quant_current = next;
	m->quant_refitting = true;
	m->quant_epoch++;
	omendb_edit_finish(&edit);
	UnlockReleaseBuffer(metabuf);
}

/* The refit is done: every node carries the current set. */
static void
finish_refit(Relation index)
{
	Buffer		metabuf;
	OmenPageEdit edit;
	Page		page = omendb_edit_meta_page(index, &edit, true, &metabuf);
	OmenMetaPage m = OmenPageGetMeta(page);

	m->quant_refitting = false;
	if (m->quant_refits < PG_UINT32_MAX)
		m->quant_refits++;
	/* the edges were chosen with the old codes: relink every node */
	omendb_meta_set_relink(page, 0);
	omendb_edit_finish(&edit);
	UnlockReleaseBuffer(metabuf);
}

/* A node to re-encode, as read from its page. */
typedef struct Recode
{
	OffsetNumber off;
	ItemPointerData tid;
	uint8		flags;
	float4		error;			/* old bound, then the new one */
	uint8	   *code;			/* old code, then the new one */
} Recode;

/*
 * What re-encoding a node page did: nodes re-encoded from their rows'
 * vectors, and from their old codes alone (deleted nodes, and live ones
 * whose row could not be read).
 */
typedef struct RecodeCounts
{
	uint64		from_rows;
	uint64		from_codes;
	BlockNumber pages;
} RecodeCounts;

/*
 * Re-encode the nodes of one node page that the current set did not
 * encode, in one record.  The nodes are copied out under a share lock and
 * their rows read with no lock held; meanwhile VACUUM's scan kills may
 * flag a node deleted, and an insert may fill a free slot (with the
 * current set), so each node is matched again before it is written.
 * Returns whether the page had any.
 */
static bool
recode_page(Relation index, const OmenIndexInfo *ii, BlockNumber blkno,
			BufferAccessStrategy strategy, OmenHeapVectors *hv, Recode *rc,
			float *v, RecodeCounts *counts)
{
	const OmenMetaPageData *meta = &ii->meta;
	int			cur = meta->quant_current;
	Buffer		buf = omendb_lock_node_page(index, meta, blkno, strategy,
											BUFFER_LOCK_SHARE);
	Page		page;
	int			n = 0;
	OmenPageEdit edit;

	if (!BufferIsValid(buf))
		return false;
	page = BufferGetPage(buf);
	for (OffsetNumber off = FirstOffsetNumber;
		 off <= PageGetMaxOffsetNumber(page); off++)
	{
		OmenNodeHeader hdr = omendb_page_node_at(index, page, meta, blkno, off);

		if (hdr->flags == OMENDB_NODE_FREE ||
			OmenNodeIsZero(meta->metric, hdr) || hdr->qset == cur)
			continue;
		rc[n].off = off;
		rc[n].tid = hdr->heaptid;
		rc[n].flags = hdr->flags;
		rc[n].error = hdr->error;
		memcpy(rc[n].code, OmenNodeCode(hdr, meta->max_degree), meta->code_size);
		n++;
	}
	UnlockReleaseBuffer(buf);
	if (n == 0)
		return false;

	for (int k = 0; k < n; k++)
	{
		if (rc[k].flags == OMENDB_NODE_LIVE &&
			omendb_heap_vector(hv, index, meta, &rc[k].tid, v))
		{
			rc[k].error = omendb_quant_encode(ii->quant, v, rc[k].code);
			counts->from_rows++;
		}
		else
		{
			uint8	   *newcode = palloc(meta->code_size);

			rc[k].error = ii->quant->routine->transcode(ii->quant_other,
														rc[k].code,
														rc[k].error,
														ii->quant, newcode);
			memcpy(rc[k].code, newcode, meta->code_size);
			pfree(newcode);
			counts->from_codes++;
		}
	}

	/* initialized pages never become all-zero again */
	buf = omendb_lock_node_page(index, meta, blkno, strategy,
								BUFFER_LOCK_EXCLUSIVE);
	Assert(BufferIsValid(buf));
	omendb_edit_begin(&edit, index, true);
	page = omendb_edit_page(&edit, buf, false);
	for (int k = 0; k < n; k++)
	{
		OmenNodeHeader hdr = omendb_page_node_at(index, page, meta, blkno,
												 rc[k].off);

		uint8	   *code = OmenNodeCode(hdr, meta->max_degree);

		if (hdr->qset == cur)
			continue;			/* a free slot filled meanwhile */
		if (hdr->flags != rc[k].flags ||
			!ItemPointerEquals(&hdr->heaptid, &rc[k].tid))
		{
			/* flagged deleted meanwhile: its old code will do */
			hdr->error = ii->quant->routine->transcode(ii->quant_other, code,
													   hdr->error, ii->quant,
													   rc[k].code);
			counts->from_codes++;
		}
		else
			hdr->error = rc[k].error;
		memcpy(code, rc[k].code, meta->code_size);
		hdr->qset = cur;
	}
	omendb_edit_finish(&edit);
	UnlockReleaseBuffer(buf);
	counts->pages++;
	return true;
}

/*
 * Re-encode every node the current set did not encode, page by page, up to
 * omendb.refit_max_pages pages that had any.  Returns whether none is
 * left.
 */
static bool
recode_nodes(Relation index, BufferAccessStrategy strategy,
			 RecodeCounts *counts)
{
	OmenIndexInfo *ii = omendb_copy_info(omendb_get_info(index));
	const OmenMetaPageData *meta = &ii->meta;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	Recode	   *rc = palloc(sizeof(Recode) * meta->nodes_per_page);
	float	   *v = palloc(sizeof(float) * meta->code_dims);
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext,
												 "omendb refit rows",
												 ALLOCSET_DEFAULT_SIZES);
	OmenHeapVectors *hv;
	bool		done = true;

	Assert(meta->quant_refitting && ii->quant_other != NULL);
	for (int k = 0; k < meta->nodes_per_page; k++)
		rc[k].code = palloc(meta->code_size);
	hv = omendb_heap_vectors_begin(index);
	for (BlockNumber blkno = meta->first_node_block; blkno < nblocks; blkno++)
	{
		MemoryContext oldcxt;

		if (omendb_refit_max_pages > 0 &&
			counts->pages >= (BlockNumber) omendb_refit_max_pages)
		{
			done = false;
			break;
		}
		oldcxt = MemoryContextSwitchTo(rowcxt);
		(void) recode_page(index, ii, blkno, strategy, hv, rc, v, counts);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rowcxt);
		OMENDB_VACUUM_DELAY_POINT();
	}
	omendb_heap_vectors_end(hv);
	MemoryContextDelete(rowcxt);
	return done;
}

/* ----------------------------------------------------------------
 *		The relink
 *
 * A graph whose edges were chosen with codes that did not fit the rows
 * (clamped, as in an index built empty from a tiny first row) keeps those
 * edges after the refit: recall stays low although every code now fits.
 * So once a refit finishes, VACUUM refines every graph node against the
 * graph with the new codes, as a build's second pass does: a search for
 * the node, RobustPrune over what it expanded and the edges the node has,
 * and the reverse edges.  Each of those writes is one record that leaves a
 * valid graph, as an insert's are; the meta page's relink_from, moved past
 * each node page in a record of its own, lets the next VACUUM go on after
 * a crash or when omendb.refit_max_pages stopped this one.
 * ----------------------------------------------------------------
 */

/*
 * Move the entry point to the node nearest the rows' centroid, as a build
 * places it: an index built empty starts every search from its first row,
 * which may lie anywhere (a tiny first row lies near the origin, far from
 * all the others).  The node is found by a search from the current entry
 * with the new codes; a node met is live or deleted, never free, and a
 * deleted one is kept by VACUUM while it is the entry (keep_entry_point in
 * omendb_vacuum.c), so any of them will do.
 */
static void
move_entry_point(Relation index, const float *centroid)
{
	OmenIndexInfo *ii = omendb_copy_info(omendb_get_info(index));
	const OmenMetaPageData *meta = &ii->meta;
	OmenMetaPageData cur;
	OmenPageStore ps;
	OmenQuery	query;
	OmenCandidate *cands;
	int			n;
	Buffer		metabuf;
	OmenPageEdit edit;
	OmenMetaPage m;

	omendb_read_meta(index, &cur);
	if (cur.entry_node == OMENDB_INVALID_NODE)
		return;
	omendb_pagestore_init(&ps, index, meta, ii->quant, true);
	omendb_query_init(&query, ii->quant, OMENDB_METRIC_L2, centroid,
					  meta->code_dims, OMENDB_QUERY_GRAPH);
	n = omendb_greedy_search(&ps.store, &query, cur.entry_node,
							 meta->build_list_size, OMENDB_INVALID_NODE, &cands);
	if (n == 0 || cands[0].node == cur.entry_node)
		return;

	m = OmenPageGetMeta(omendb_edit_meta_page(index, &edit, true, &metabuf));
	m->entry_node = cands[0].node;
	omendb_edit_finish(&edit);
	UnlockReleaseBuffer(metabuf);
}

/* Move the meta page's relink_from, in a record of its own. */
static void
set_relink_from(Relation index, uint32 node)
{
	Buffer		metabuf;
	OmenPageEdit edit;
	Page		page = omendb_edit_meta_page(index, &edit, true, &metabuf);

	omendb_meta_set_relink(page, node);
	omendb_edit_finish(&edit);
	UnlockReleaseBuffer(metabuf);
}

/* The graph nodes of a node page from node from on, into nodes; how many. */
static int
graph_nodes_on_page(Relation index, const OmenMetaPageData *meta,
					BlockNumber blkno, uint32 from,
					BufferAccessStrategy strategy, uint32 *nodes)
{
	Buffer		buf = omendb_lock_node_page(index, meta, blkno, strategy,
											BUFFER_LOCK_SHARE);
	Page		page;
	int			n = 0;

	if (!BufferIsValid(buf))
		return 0;
	page = BufferGetPage(buf);
	for (OffsetNumber off = FirstOffsetNumber;
		 off <= Min(PageGetMaxOffsetNumber(page), meta->nodes_per_page); off++)
	{
		uint32		node = omendb_node_id(meta, blkno, off);

		if (node >= from &&
			is_graph_node(meta, omendb_page_node_at(index, page, meta, blkno, off)))
			nodes[n++] = node;
	}
	UnlockReleaseBuffer(buf);
	return n;
}

/*
 * Relink the graph from the meta page's relink_from on, within the pages
 * left of this VACUUM's share (*pages counts them).  Returns whether it
 * reached the end.
 */
static bool
relink_nodes(Relation index, BufferAccessStrategy strategy, BlockNumber *pages,
			 uint64 *relinked)
{
	OmenIndexInfo *ii = omendb_copy_info(omendb_get_info(index));
	const OmenMetaPageData *meta = &ii->meta;
	int			list = Max(meta->build_list_size / 2, OMENDB_MIN_BUILD_LIST);
	uint32	   *nodes = palloc(sizeof(uint32) * meta->nodes_per_page);
	MemoryContext nodecxt = AllocSetContextCreate(CurrentMemoryContext,
												  "omendb relink node",
												  ALLOCSET_DEFAULT_SIZES);
	OmenMetaPageData cur;
	OmenPageStore ps;
	OmenQuery	query;
	OmenQuery	pivot;

	omendb_read_meta(index, &cur);
	if (cur.relink_from == OMENDB_INVALID_NODE)
		return true;
	omendb_pagestore_init(&ps, index, meta, ii->quant, true);
	omendb_query_init_code(&pivot, ii->quant, NULL);
	for (BlockNumber blkno = omendb_node_block(meta, cur.relink_from);
		 blkno < RelationGetNumberOfBlocks(index); blkno++)
	{
		int			n;

		if (omendb_refit_max_pages > 0 &&
			*pages >= (BlockNumber) omendb_refit_max_pages)
			return false;
		n = graph_nodes_on_page(index, meta, blkno, cur.relink_from, strategy,
								nodes);
		/* (the entry point moves when VACUUM frees it: read it per page) */
		omendb_read_meta(index, &cur);
		for (int i = 0; i < n && cur.entry_node != OMENDB_INVALID_NODE; i++)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(nodecxt);

			omendb_query_init_code(&query, ii->quant, NULL);
			if (nodes[i] != cur.entry_node)
				omendb_refine_node(&ps.store, &query, &pivot, cur.entry_node,
								   list, nodes[i], OMENDB_REFINE_ALPHA,
								   meta->alpha, meta->graph_degree);
			omendb_pagestore_forget_codes(&ps);
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(nodecxt);
			(*relinked)++;
			CHECK_FOR_INTERRUPTS();
		}
		set_relink_from(index, omendb_node_id(meta, blkno + 1, FirstOffsetNumber));
		(*pages)++;
		OMENDB_VACUUM_DELAY_POINT();
	}
	set_relink_from(index, OMENDB_INVALID_NODE);
	MemoryContextDelete(nodecxt);
	return true;
}

/*
 * The relink after a refit, as far as this VACUUM's share of pages goes,
 * and its report.
 */
static void
relink(IndexVacuumInfo *info, BlockNumber pages)
{
	uint64		relinked = 0;
	BlockNumber before = pages;
	bool		done;

	done = relink_nodes(info->index, info->strategy, &pages, &relinked);
	if (relinked > 0 || !done)
		ereport(info->message_level,
				(errmsg("index \"%s\": %s relinking the graph after the quantizer refit",
						RelationGetRelationName(info->index),
						done ? "finished" : "went on"),
				 errdetail("Refined " UINT64_FORMAT " nodes on %u pages.",
						   relinked, pages - before)));
}

/*
 * VACUUM's part: resume an unfinished refit, or start one if the fit is
 * poor, and relink the graph once it is done (or go on relinking).
 * Called by amvacuumcleanup after the rest of the cleanup, with what its
 * pass over the nodes learned of the fit (none: no refit starts).  Scans
 * and inserts go on meanwhile; two waits for older snapshots keep every
 * backend's copy of the parameters true (README.omendb, "Refitting the
 * quantizer"): before the set not in use is overwritten, for the scans
 * that may hold it from an earlier refit, and before any node is
 * re-encoded, for the scans and inserts that started before the switch.
 * Returns whether the quantizer was fit, with nothing to do or resume.
 */
bool
omendb_refit(IndexVacuumInfo *info, const OmenFitSurvey *survey)
{
	Relation	index = info->index;
	OmenIndexInfo *ii = omendb_copy_info(omendb_get_info(index));
	const OmenMetaPageData *meta = &ii->meta;
	OmenMetaPageData cur;
	OmenQuantState *qs;
	RecodeCounts counts = {0};
	char	   *why = NULL;
	float	   *centroid = NULL;
	bool		done;

	/* (a copy's insert_block may be stale: the meta page's is not) */
	omendb_read_meta(index, &cur);
	if (!meta->quant_trained || meta->quant_sets < 2 ||
		cur.insert_block == InvalidBlockNumber)
		return true;
	if (cur.relink_from != OMENDB_INVALID_NODE)
	{
		/* a refit's relink is unfinished: finish it before another refit */
		relink(info, 0);
		return false;
	}
	if (!meta->quant_refitting)
	{
		/* (a survey of other parameters than these says nothing of them) */
		if (survey == NULL || survey->quant_epoch != meta->quant_epoch ||
			!fit_is_poor(ii, survey, &why))
			return true;
		centroid = palloc(sizeof(float) * meta->code_dims);
		qs = train_on_rows(index, meta, info->strategy, centroid);
		if (qs == NULL)
			return false;
		if (!omendb_wait_for_older_snapshots(OMENDB_SNAPSHOT_WAIT_MS))
		{
			ereport(info->message_level,
					(errmsg("index \"%s\": could not refit the quantizer yet, as %s",
							RelationGetRelationName(index), why),
					 errdetail("Backends with older snapshots were still running.")));
			return false;
		}
		/* only VACUUM refits, one at a time: the meta page is as we read it */
		switch_parameter_sets(index, qs);
	}
	else
		why = pstrdup("a refit was unfinished");

	if (!omendb_wait_for_older_snapshots(OMENDB_SNAPSHOT_WAIT_MS))
	{
		ereport(info->message_level,
				(errmsg("index \"%s\": switched the quantizer to new parameters, as %s, but could not re-encode the nodes yet",
						RelationGetRelationName(index), why),
				 errdetail("Backends with older snapshots were still running.")));
		return false;
	}
	done = recode_nodes(index, info->strategy, &counts);
	if (done)
		finish_refit(index);

	ereport(info->message_level,
			(errmsg("index \"%s\": %s the quantizer refit, as %s",
					RelationGetRelationName(index),
					done ? "finished" : "went on with", why),
			 errdetail("Re-encoded " UINT64_FORMAT " nodes from their rows and " UINT64_FORMAT " from their codes, on %u pages.",
					   counts.from_rows, counts.from_codes, counts.pages)));
	if (done)
	{
		/* (a refit resumed from an earlier VACUUM has no centroid) */
		if (centroid != NULL)
			move_entry_point(index, centroid);
		relink(info, counts.pages);
	}
	return false;
}
