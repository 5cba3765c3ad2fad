/*-------------------------------------------------------------------------
 *
 * omendb_compact.c
 *	  VACUUM's compaction: move the live nodes of the last node pages into
 *	  free slots before them, then give the emptied pages back.
 *
 * Inserts take free slots before they extend the index, but the rows
 * inserted between a DELETE and the VACUUM that frees its nodes find none
 * and go to new pages: under churn the index would keep as many slots free
 * as a round deletes.  So after its cleanup VACUUM moves the live nodes of
 * the last pages into free slots earlier in the index, cleans up once more
 * to take every edge to their old slots over to the new ones, and
 * truncates the pages left empty.  README.omendb, "Moving nodes", gives
 * the protocol and why scans, inserts and a crash are safe with it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/storage.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/rel.h"

#include "omendb.h"
#include "omendb_graph.h"
#include "omendb_labels.h"
#include "omendb_page.h"

/*
 * A tail shorter than this share of the node pages is not worth a second
 * cleanup pass over the index: its pages wait for a longer one.
 */
#define COMPACT_MIN_SHARE		32

/* The states of one node page's slots, as counted before the moves. */
typedef struct PageStates
{
	uint16		live;
	uint16		deleted;
	uint16		free;
} PageStates;

/* Count the live, deleted and free slots of every node page. */
static PageStates *
count_page_states(Relation index, const OmenMetaPageData *meta,
				  BlockNumber nblocks, BufferAccessStrategy strategy)
{
	BlockNumber first = meta->first_node_block;
	PageStates *states = palloc0(sizeof(PageStates) * (nblocks - first));

	for (BlockNumber blkno = first; blkno < nblocks; blkno++)
	{
		PageStates *ps = &states[blkno - first];
		Buffer		buf;
		Page		page;

		OMENDB_VACUUM_DELAY_POINT();
		buf = omendb_lock_node_page(index, meta, blkno, strategy,
									BUFFER_LOCK_SHARE);
		if (!BufferIsValid(buf))
			continue;
		page = BufferGetPage(buf);
		for (OffsetNumber off = FirstOffsetNumber;
			 off <= PageGetMaxOffsetNumber(page); off++)
		{
			uint8		flags = omendb_page_node(index, page, meta, off)->flags;

			ps->live += (flags & OMENDB_NODE_LIVE) != 0;
			ps->deleted += (flags & OMENDB_NODE_DELETED) != 0;
			ps->free += (flags & OMENDB_NODE_FREE) != 0;
		}
		UnlockReleaseBuffer(buf);
	}
	return states;
}

/*
 * The first page of the longest tail whose live nodes fit the free slots
 * before it: pages with a deleted node (which only a cleanup may free) or
 * the entry point end it.  Returns nblocks if that tail is too short.
 */
static BlockNumber
choose_tail(const OmenMetaPageData *meta, const PageStates *states,
			BlockNumber nblocks, BlockNumber entry_block)
{
	BlockNumber first = meta->first_node_block;
	uint64		free_total = 0;
	uint64		tail_live = 0;
	uint64		tail_free = 0;
	BlockNumber cut = nblocks;

	for (BlockNumber b = first; b < nblocks; b++)
		free_total += states[b - first].free;
	for (BlockNumber b = nblocks - 1; b > first && b != entry_block; b--)
	{
		const PageStates *ps = &states[b - first];

		if (ps->deleted > 0 ||
			tail_live + ps->live > free_total - (tail_free + ps->free))
			break;
		tail_live += ps->live;
		tail_free += ps->free;
		cut = b;
	}
	if (nblocks - cut < Max(1, (nblocks - first) / COMPACT_MIN_SHARE))
		return nblocks;
	return cut;
}

/*
 * Move the node at toff of page tblk into a free slot of page fblk (fblk <
 * tblk), in one record: the copy goes into the free slot, and the old slot
 * becomes a deleted node whose one neighbour is the copy, so that every
 * edge to the old slot still leads to the row.  Both pages are locked in
 * block order; nothing else locks two node pages at once.  The record
 * also counts the move on the meta page, names the copy as the entry
 * point if the node was it, and writes the copy's entry in the label
 * directory (four pages at most).  Says whether the node moved, or why
 * not: no longer live, or no free slot left on fblk.
 */
OmenMoveResult
omendb_move_node(Relation index, const OmenMetaPageData *meta,
				 BufferAccessStrategy strategy, BlockNumber fblk,
				 BlockNumber tblk, OffsetNumber toff)
{
	Buffer		fbuf;
	Buffer		tbuf;
	Buffer		metabuf;
	Buffer		labelbuf;
	Page		fpage;
	Page		tpage;
	Page		metapage;
	OmenPageEdit edit;
	OffsetNumber foff = FirstOffsetNumber;
	OmenNodeHeader t;
	uint32	   *nbrs;
	uint32		copy;
	uint64		sketch[OMENDB_SKETCH_MAX_WORDS];
	OmenMoveResult result;

	Assert(fblk < tblk);
	fbuf = omendb_lock_node_page(index, meta, fblk, strategy,
								 BUFFER_LOCK_EXCLUSIVE);
	tbuf = omendb_lock_node_page(index, meta, tblk, strategy,
								 BUFFER_LOCK_EXCLUSIVE);
	if (!BufferIsValid(fbuf) || !BufferIsValid(tbuf))
		omendb_corrupted(index, "Block %u or %u: a node page became new.",
						 fblk, tblk);
	fpage = BufferGetPage(fbuf);
	tpage = BufferGetPage(tbuf);
	while (foff <= PageGetMaxOffsetNumber(fpage) &&
		   omendb_page_node(index, fpage, meta, foff)->flags != OMENDB_NODE_FREE)
		foff++;
	if (omendb_page_node(index, tpage, meta, toff)->flags != OMENDB_NODE_LIVE)
		result = OMENDB_MOVE_NOT_LIVE;
	else if (foff > PageGetMaxOffsetNumber(fpage))
		result = OMENDB_MOVE_NO_SLOT;
	else
	{
		copy = omendb_node_id(meta, fblk, foff);
		omendb_edit_begin(&edit, index, true);
		fpage = omendb_edit_page(&edit, fbuf, false);
		tpage = omendb_edit_page(&edit, tbuf, false);
		t = omendb_page_node(index, tpage, meta, toff);
		memcpy(omendb_page_node(index, fpage, meta, foff), t, meta->node_size);
		OmenPageGetOpaque(fpage)->nfree--;
		nbrs = OmenNodeNeighbors(t);
		memset(nbrs, 0, sizeof(uint32) * meta->max_degree);
		t->nneighbors = 0;
		/* (a zero node has no edges to it: it needs no way on) */
		if (!OmenNodeIsZero(meta->metric, t))
		{
			nbrs[0] = copy;
			t->nneighbors = 1;
		}
		t->flags = OMENDB_NODE_DELETED;
		/* the meta page next, as every writer locks it */
		metabuf = ReadBuffer(index, OMENDB_METAPAGE_BLKNO);
		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		metapage = omendb_edit_page(&edit, metabuf, false);
		/* (counts cover both pages or neither: see omendb_move_tail_nodes) */
		omendb_meta_count_nodes(metapage, tblk, 1, -1);
		if (OmenPageGetMeta(metapage)->entry_node ==
			omendb_node_id(meta, tblk, toff))
			OmenPageGetMeta(metapage)->entry_node = copy;
		/* the copy's entry in the label directory; the old one may stay */
		omendb_moved_sketch(index, meta, omendb_node_id(meta, tblk, toff),
							sketch);
		labelbuf = omendb_write_label_entry(index, &edit, meta, copy,
											OmenNodeLabels(omendb_page_node(index, fpage, meta, foff), meta),
											sketch, NULL);
		omendb_edit_finish(&edit);
		if (BufferIsValid(labelbuf))
			UnlockReleaseBuffer(labelbuf);
		UnlockReleaseBuffer(metabuf);
		result = OMENDB_MOVE_DONE;
	}
	UnlockReleaseBuffer(tbuf);
	UnlockReleaseBuffer(fbuf);
	return result;
}

/*
 * The page before the tail to move a node to: the one holding most of its
 * neighbours among those with a free slot (the nearest such neighbour's,
 * on a tie: omendb_neighbor_pages), so that the nodes a search meets
 * together share pages, as a build numbers them; else the first page with
 * a free slot.
 */
static BlockNumber
home_block(const OmenMetaPageData *meta, const PageStates *states,
		   BlockNumber cut, const uint32 *nbrs, int n)
{
	BlockNumber first = meta->first_node_block;
	BlockNumber pages[OMENDB_MAX_NEIGHBORS];
	int			npages = omendb_neighbor_pages(meta, nbrs, n, pages);

	for (int i = 0; i < npages; i++)
		if (pages[i] >= first && pages[i] < cut &&
			states[pages[i] - first].free > 0)
			return pages[i];
	for (BlockNumber b = first; b < cut; b++)
		if (states[b - first].free > 0)
			return b;
	return InvalidBlockNumber;
}

/* The live nodes of a tail page, with their neighbours, as read. */
typedef struct TailPage
{
	int			n;
	OffsetNumber off[MaxOffsetNumber];
	int			nnbrs[MaxOffsetNumber];
	uint32	   *nbrs;			/* max_degree per node */
} TailPage;

static void
read_tail_page(Relation index, const OmenMetaPageData *meta,
			   BufferAccessStrategy strategy, BlockNumber blkno,
			   TailPage *tp)
{
	Buffer		buf = omendb_lock_node_page(index, meta, blkno, strategy,
											BUFFER_LOCK_SHARE);
	Page		page;

	tp->n = 0;
	if (!BufferIsValid(buf))
		return;
	page = BufferGetPage(buf);
	for (OffsetNumber off = FirstOffsetNumber;
		 off <= PageGetMaxOffsetNumber(page); off++)
	{
		OmenNodeHeader hdr = omendb_page_node(index, page, meta, off);

		if (hdr->flags != OMENDB_NODE_LIVE)
			continue;
		tp->off[tp->n] = off;
		tp->nnbrs[tp->n] = hdr->nneighbors;
		memcpy(tp->nbrs + tp->n * meta->max_degree, OmenNodeNeighbors(hdr),
			   sizeof(uint32) * hdr->nneighbors);
		tp->n++;
	}
	UnlockReleaseBuffer(buf);
}

/*
 * Move the live nodes of the longest tail of node pages that the free
 * slots before it can hold into those slots, each near its neighbours
 * (home_block).  Only when the meta page counts every node page: then a
 * move counts its deleted node and its taken slot together, whatever
 * their pages.  Returns how many moved; the caller then cleans up again,
 * which frees the old slots once every edge to them leads to the copies.
 * *held says whether older snapshots held back moves it would have made.
 */
uint32
omendb_move_tail_nodes(IndexVacuumInfo *info, bool *held)
{
	Relation	index = info->index;
	OmenMetaPageData meta;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber first;
	BlockNumber cut;
	BlockNumber entry_block;
	PageStates *states;
	TailPage   *tp;
	uint32		nmoved = 0;

	*held = false;
	omendb_read_meta(index, &meta);
	first = meta.first_node_block;
	if (!meta.quant_trained || meta.free_nodes < meta.nodes_per_page ||
		!omendb_meta_counts_all(&meta) ||
		meta.insert_block == InvalidBlockNumber || nblocks <= first + 1)
		return 0;
	entry_block = meta.entry_node == OMENDB_INVALID_NODE ? InvalidBlockNumber :
		omendb_node_block(&meta, meta.entry_node);
	states = count_page_states(index, &meta, nblocks, info->strategy);
	cut = choose_tail(&meta, states, nblocks, entry_block);

	/*
	 * A scan that began before the slots were freed may have met one while
	 * it held a deleted node, and would take a node moved there for the
	 * one it met: wait for those scans to end.  Later ones meet a free
	 * slot as free, and meet it again when a node moves there.
	 */
	if (cut < nblocks &&
		!omendb_wait_for_older_snapshots(OMENDB_SNAPSHOT_WAIT_MS))
	{
		*held = true;
		cut = nblocks;
	}

	tp = palloc(sizeof(TailPage));
	tp->nbrs = palloc(sizeof(uint32) * meta.max_degree * MaxOffsetNumber);
	for (BlockNumber tblk = nblocks - 1; cut < nblocks && tblk >= cut; tblk--)
	{
		read_tail_page(index, &meta, info->strategy, tblk, tp);
		for (int i = 0; i < tp->n; i++)
		{
			BlockNumber fblk = home_block(&meta, states, cut,
										  tp->nbrs + i * meta.max_degree,
										  tp->nnbrs[i]);

			if (fblk == InvalidBlockNumber)
				break;
			CHECK_FOR_INTERRUPTS();
			switch (omendb_move_node(index, &meta, info->strategy, fblk,
									 tblk, tp->off[i]))
			{
				case OMENDB_MOVE_DONE:
					states[fblk - first].free--;
					nmoved++;
					break;
				case OMENDB_MOVE_NO_SLOT:
					/* an insert took the page's last slot */
					states[fblk - first].free = 0;
					break;
				case OMENDB_MOVE_NOT_LIVE:
					break;
			}
		}
		if (tblk == cut)
			break;
	}
	pfree(tp->nbrs);
	pfree(tp);
	pfree(states);
	return nmoved;
}

/*
 * Whether node page blkno holds nothing: new (all zero), or every slot
 * free and none the entry point.  Sets *nfree to its free slots.
 */
static bool
page_is_empty(Relation index, const OmenMetaPageData *meta,
			  BlockNumber blkno, BufferAccessStrategy strategy, int *nfree)
{
	Buffer		buf = omendb_lock_node_page(index, meta, blkno, strategy,
											BUFFER_LOCK_SHARE);
	Page		page;
	bool		empty;

	*nfree = 0;
	if (!BufferIsValid(buf))
		return true;
	page = BufferGetPage(buf);
	empty = OmenPageGetOpaque(page)->nfree == PageGetMaxOffsetNumber(page) &&
		(meta->entry_node == OMENDB_INVALID_NODE ||
		 omendb_node_block(meta, meta->entry_node) != blkno);
	*nfree = OmenPageGetOpaque(page)->nfree;
	UnlockReleaseBuffer(buf);
	return empty;
}

/*
 * Take the index's AccessExclusiveLock if scans and inserts leave a moment
 * for it, trying every TRUNCATE_LOCK_WAIT_MS for TRUNCATE_LOCK_TIMEOUT_MS,
 * as a table's VACUUM does before it truncates; never waiting in the lock
 * queue, where it would hold up every scan behind it.
 */
#define TRUNCATE_LOCK_WAIT_MS		50
#define TRUNCATE_LOCK_TIMEOUT_MS	5000

static bool
lock_for_truncation(Relation index)
{
	for (int waited = 0;; waited += TRUNCATE_LOCK_WAIT_MS)
	{
		if (ConditionalLockRelation(index, AccessExclusiveLock))
			return true;
		if (waited >= TRUNCATE_LOCK_TIMEOUT_MS)
			return false;
		CHECK_FOR_INTERRUPTS();
		pg_usleep(TRUNCATE_LOCK_WAIT_MS * 1000L);
	}
}

/*
 * Truncate the index after its last node page that holds a node, if no
 * one else has it open (as VACUUM truncates a table): first the meta page
 * names the new last page and stops counting the free slots past it, then
 * the file is cut.  A crash between the two leaves empty node pages past
 * the last one, which inserts set up afresh and the next VACUUM cuts.
 * The first node page always stays.  Returns the pages cut; *held says
 * whether others' use of the index kept it from cutting empty pages.
 */
BlockNumber
omendb_truncate_empty_tail(IndexVacuumInfo *info, bool *held)
{
	Relation	index = info->index;
	OmenMetaPageData meta;
	BlockNumber nblocks;
	BlockNumber new_end;
	int			nfree_last;
	int		   *nfree;

	*held = false;

	/*
	 * Look at the last page first: the lock is WAL-logged, and a standby
	 * replaying it cancels the queries on the index that it waits for.
	 */
	omendb_read_meta(index, &meta);
	nblocks = RelationGetNumberOfBlocks(index);
	if (meta.insert_block == InvalidBlockNumber ||
		nblocks <= meta.first_node_block + 1 ||
		!page_is_empty(index, &meta, nblocks - 1, info->strategy, &nfree_last))
		return 0;

	if (!lock_for_truncation(index))
	{
		*held = true;
		return 0;
	}
	omendb_read_meta(index, &meta);
	nblocks = RelationGetNumberOfBlocks(index);
	if (!meta.quant_trained || meta.insert_block == InvalidBlockNumber ||
		nblocks <= meta.first_node_block + 1)
	{
		UnlockRelation(index, AccessExclusiveLock);
		return 0;
	}

	nfree = palloc0(sizeof(int) * (nblocks - meta.first_node_block));
	for (new_end = nblocks; new_end > meta.first_node_block + 1; new_end--)
		if (!page_is_empty(index, &meta, new_end - 1, info->strategy,
						   &nfree[new_end - 1 - meta.first_node_block]))
			break;

	if (new_end < nblocks)
	{
		Buffer		metabuf;
		OmenPageEdit edit;
		Page		page = omendb_edit_meta_page(index, &edit, true, &metabuf);
		OmenMetaPage m = OmenPageGetMeta(page);

		for (BlockNumber b = new_end; b < nblocks && b <= m->insert_block; b++)
			omendb_meta_count_nodes(page, b, 0,
									-nfree[b - meta.first_node_block]);
		if (m->insert_block >= new_end)
			m->insert_block = new_end - 1;
		omendb_edit_finish(&edit);
		UnlockReleaseBuffer(metabuf);
		RelationTruncate(index, new_end);
	}
	pfree(nfree);
	UnlockRelation(index, AccessExclusiveLock);
	return nblocks - new_end;
}
