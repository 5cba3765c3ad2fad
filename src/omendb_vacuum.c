/*-------------------------------------------------------------------------
 *
 * omendb_vacuum.c
 *	  VACUUM: mark the nodes of dead heap rows deleted.
 *
 * A deleted node stays in the graph and is still traversed (FreshDiskANN's
 * tombstones), so the graph stays connected; scans never return it.  Every
 * live node's heap TID is passed to the callback, which is also how
 * CREATE INDEX CONCURRENTLY learns what the index holds.  Repairing the
 * graph around deleted nodes and reusing their slots come later; the flags
 * already leave room for both.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/vacuum.h"
#include "miscadmin.h"
#include "utils/rel.h"

#include "omendb.h"
#include "omendb_page.h"

/*
 * Visit every node page; with a callback, mark the nodes it says are dead.
 * Counts the live nodes left into stats.
 */
static void
scan_node_pages(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	OmenIndexInfo *ii = omendb_copy_info(omendb_get_info(index));
	const OmenMetaPageData *meta = &ii->meta;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	OffsetNumber *dead = palloc(sizeof(OffsetNumber) * MaxOffsetNumber);

	stats->num_pages = nblocks;
	stats->num_index_tuples = 0;
	if (!meta->quant_trained)
		return;

	for (BlockNumber blkno = meta->first_node_block; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		int			ndead = 0;

		OMENDB_VACUUM_DELAY_POINT();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 info->strategy);
		LockBuffer(buf, callback ? BUFFER_LOCK_EXCLUSIVE : BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (PageIsNew(page))
		{
			/* left by a crash after extending the file: not in use */
			UnlockReleaseBuffer(buf);
			continue;
		}
		omendb_check_node_page(index, buf, page, meta);

		for (OffsetNumber off = FirstOffsetNumber;
			 off <= PageGetMaxOffsetNumber(page); off++)
		{
			OmenNodeHeader node = omendb_page_node(index, page, meta, off);

			omendb_check_neighbors(index, meta, blkno, off, node);

			if (!(node->flags & OMENDB_NODE_LIVE))
				continue;
			if (callback && callback(&node->heaptid, callback_state))
				dead[ndead++] = off;
			else
				stats->num_index_tuples++;
		}

		if (ndead > 0)
		{
			OmenPageEdit edit;

			omendb_edit_begin(&edit, index, true);
			page = omendb_edit_page(&edit, buf, false);
			for (int i = 0; i < ndead; i++)
			{
				OmenNodeHeader node = omendb_page_node(index, page, meta, dead[i]);

				node->flags = OMENDB_NODE_DELETED;
			}
			omendb_edit_finish(&edit);
			stats->tuples_removed += ndead;
		}
		UnlockReleaseBuffer(buf);
	}
	pfree(dead);
}

IndexBulkDeleteResult *
omendb_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				  IndexBulkDeleteCallback callback, void *callback_state)
{
	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	scan_node_pages(info, stats, callback, callback_state);
	return stats;
}

IndexBulkDeleteResult *
omendb_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only)
		return stats;
	if (stats == NULL)
	{
		/* no bulk delete ran: just count */
		stats = palloc0(sizeof(IndexBulkDeleteResult));
		scan_node_pages(info, stats, NULL, NULL);
	}
	return stats;
}
