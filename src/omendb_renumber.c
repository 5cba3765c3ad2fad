/*-------------------------------------------------------------------------
 *
 * omendb_renumber.c
 *	  VACUUM's renumbering: lay the live graph nodes out again in
 *	  breadth-first order from the entry point, as a build numbers them,
 *	  once the layout has drifted far from that order.
 *
 * A build numbers nodes breadth-first, so that the nodes a search meets
 * together, the members of one neighbour list, share pages.  Nodes
 * inserted one by one lie in the order they came, and re-inserted ones
 * wherever a free slot was: a search then pins a page for nearly every
 * node it meets.  Renumbering moves each live graph node twice with the
 * moves compaction makes (omendb_compact.c): first to new pages appended
 * in the planned order, which frees the old slots once a cleanup has taken
 * every edge over to the copies, then back into those slots in the same
 * order, after which a cleanup and the truncation give the appended pages
 * back.  README.omendb, "Renumbering", gives the protocol and the figures.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "omendb.h"
#include "omendb_graph.h"
#include "omendb_labels.h"
#include "omendb_page.h"

/*
 * omendb.renumber_min_gain: renumber only when a search would pin this many
 * times fewer pages a node it expands in breadth-first order, or more; 0,
 * never.
 */
double		omendb_renumber_min_gain = OMENDB_DEFAULT_RENUMBER_MIN_GAIN;

/* Nor an index of fewer node pages than this. */
#define RENUMBER_MIN_PAGES		64

/* The slots of the index as the plan reads them. */
typedef struct SlotMap
{
	uint32		nslots;
	int			max_degree;
	uint16		metric;			/* the index's, for zero nodes */
	uint8	   *state;			/* SLOT_* of each slot */
	uint8	   *nnbrs;
	uint32	   *nbrs;			/* max_degree per slot */
} SlotMap;

#define SLOT_NONE		0		/* free, a zero node, or no slot */
#define SLOT_GRAPH		1		/* a live graph node: it moves */
#define SLOT_DELETED	2		/* a deleted node: traversed, stays */

/* Note a slot's state and neighbours (omendb_visit_node_pages). */
static void
read_slot(uint32 id, OmenNodeHeader hdr, void *arg)
{
	SlotMap    *map = arg;

	if (id >= map->nslots)
		return;
	if (hdr->flags == OMENDB_NODE_LIVE && !OmenNodeIsZero(map->metric, hdr))
		map->state[id] = SLOT_GRAPH;
	else if (hdr->flags & OMENDB_NODE_DELETED)
		map->state[id] = SLOT_DELETED;
	else
		return;
	map->nnbrs[id] = hdr->nneighbors;
	memcpy(map->nbrs + (Size) id * map->max_degree,
		   OmenNodeNeighbors(hdr), sizeof(uint32) * hdr->nneighbors);
}

/* depth[] of a node no walk from the entry point reaches */
#define UNREACHED		PG_UINT32_MAX

/*
 * The live graph nodes in breadth-first order from the entry point, through
 * deleted nodes too (a search goes through them); those no walk reaches
 * follow in id order.  depth[] gets each node's level in the walk.
 * Returns how many.
 */
static uint32
breadth_first(const SlotMap *map, uint32 entry, uint32 *order, uint32 *depth)
{
	Size		bytes = (Size) map->nslots * sizeof(uint32);
	uint32	   *queue = MemoryContextAllocHuge(CurrentMemoryContext, bytes);
	uint32		head = 0;
	uint32		tail = 0;
	uint32		n = 0;

	memset(depth, 0xff, bytes);
	if (entry < map->nslots && map->state[entry] != SLOT_NONE)
	{
		queue[tail++] = entry;
		depth[entry] = 0;
	}
	while (head < tail)
	{
		uint32		u = queue[head++];
		const uint32 *nbrs = map->nbrs + (Size) u * map->max_degree;

		if (map->state[u] == SLOT_GRAPH)
			order[n++] = u;
		for (int i = 0; i < map->nnbrs[u]; i++)
		{
			uint32		v = nbrs[i];

			if (v < map->nslots && depth[v] == UNREACHED &&
				map->state[v] != SLOT_NONE)
			{
				depth[v] = depth[u] + 1;
				queue[tail++] = v;
			}
		}
	}
	for (uint32 u = 0; u < map->nslots; u++)
		if (map->state[u] == SLOT_GRAPH && depth[u] == UNREACHED)
			order[n++] = u;
	pfree(queue);
	return n;
}

/* How many distinct values n page numbers hold. */
static int
distinct_pages(const uint32 *pages, int n)
{
	int			count = 0;

	for (int i = 0; i < n; i++)
	{
		bool		seen = false;

		for (int j = 0; j < i && !seen; j++)
			seen = pages[j] == pages[i];
		count += !seen;
	}
	return count;
}

/*
 * Where node v lies: on its page now (pos NULL), or, if it moves, on the
 * page its position in the order gives; a node that stays (a deleted one)
 * keeps its page, numbered apart from the planned ones.
 */
static uint32
node_page(const SlotMap *map, const OmenMetaPageData *meta,
		  const uint32 *pos, uint32 v)
{
	if (pos == NULL)
		return omendb_node_block(meta, v);
	if (map->state[v] == SLOT_GRAPH)
		return pos[v] / meta->nodes_per_page;
	return PG_UINT32_MAX - omendb_node_block(meta, v);
}

/*
 * The pages a search pins to expand a node, summed over the nodes the walk
 * from the entry point reaches, as laid out now and at the positions pos
 * gives: the node's own page, for its list, and the pages of its
 * neighbours one level deeper in breadth-first order, which a search that
 * came from the entry point meets there for the first time, in one batch
 * that the reader visits a page at a time.  (A list's members a search
 * met before cost it nothing: counting all of them, a churned index's
 * layout looked no worse than the planned one, where renumbering it cut
 * page visits by 7-10%.)
 */
static void
expansion_pages(const SlotMap *map, const OmenMetaPageData *meta,
				const uint32 *depth, const uint32 *pos, OmenRenumberPlan *plan)
{
	uint32		now[OMENDB_MAX_NEIGHBORS];
	uint32		planned[OMENDB_MAX_NEIGHBORS];

	for (uint32 u = 0; u < map->nslots; u++)
	{
		const uint32 *nbrs = map->nbrs + (Size) u * map->max_degree;
		int			n = 0;

		if (depth[u] == UNREACHED)
			continue;
		for (int i = 0; i < map->nnbrs[u]; i++)
		{
			uint32		v = nbrs[i];

			if (v >= map->nslots || depth[v] != depth[u] + 1)
				continue;
			now[n] = node_page(map, meta, NULL, v);
			planned[n++] = node_page(map, meta, pos, v);
		}
		plan->pages_now += 1 + distinct_pages(now, n);
		plan->pages_planned += 1 + distinct_pages(planned, n);
		plan->nexpanded++;
	}
}

/*
 * Plan a renumbering: read every node, order the live graph nodes
 * breadth-first, and say whether a search would pin
 * omendb.renumber_min_gain times fewer pages a node it expands in that
 * order than it does now (expansion_pages).  Not
 * while a refit is under way (its relink walks the pages in order), nor
 * when the slots and their neighbours need more than mem_bytes, nor on an
 * index whose meta page does not count every node page (a move counts its
 * deleted node).  On true, plan holds the order to move the nodes in.
 */
bool
omendb_plan_renumbering(IndexVacuumInfo *info, double mem_bytes,
						OmenRenumberPlan *plan)
{
	Relation	index = info->index;
	OmenMetaPageData meta;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	SlotMap		map;
	uint32	   *pos;
	uint32	   *depth;
	double		need;

	memset(plan, 0, sizeof(OmenRenumberPlan));
	omendb_read_meta(index, &meta);
	if (omendb_renumber_min_gain <= 0 ||
		!meta.quant_trained || meta.quant_refitting ||
		meta.relink_from != OMENDB_INVALID_NODE ||
		!omendb_meta_counts_all(&meta) ||
		meta.entry_node == OMENDB_INVALID_NODE ||
		meta.insert_block == InvalidBlockNumber ||
		nblocks < meta.first_node_block + RENUMBER_MIN_PAGES)
		return false;

	map.nslots = omendb_node_slots_below(&meta, nblocks);
	map.max_degree = meta.max_degree;
	map.metric = meta.metric;
	need = (double) map.nslots * (3 + sizeof(uint32) * (meta.max_degree + 4));
	if (need > mem_bytes || need > (double) MaxAllocHugeSize / 2)
		return false;
	map.state = MemoryContextAllocHuge(CurrentMemoryContext, map.nslots);
	memset(map.state, SLOT_NONE, map.nslots);
	map.nnbrs = MemoryContextAllocHuge(CurrentMemoryContext, map.nslots);
	map.nbrs = MemoryContextAllocHuge(CurrentMemoryContext, (Size) map.nslots *
									  meta.max_degree * sizeof(uint32));
	omendb_visit_node_pages(info, &meta, nblocks, false, read_slot, &map);

	plan->order = MemoryContextAllocHuge(CurrentMemoryContext,
										 (Size) map.nslots * sizeof(uint32));
	depth = MemoryContextAllocHuge(CurrentMemoryContext,
								   (Size) map.nslots * sizeof(uint32));
	plan->n = breadth_first(&map, meta.entry_node, plan->order, depth);
	pos = MemoryContextAllocHuge(CurrentMemoryContext,
								 (Size) map.nslots * sizeof(uint32));
	for (uint32 k = 0; k < plan->n; k++)
		pos[plan->order[k]] = k;
	expansion_pages(&map, &meta, depth, pos, plan);
	plan->meta = meta;
	plan->nslots = map.nslots;
	pfree(pos);
	pfree(depth);
	pfree(map.nbrs);
	pfree(map.nnbrs);
	pfree(map.state);

	if (plan->n < (uint32) RENUMBER_MIN_PAGES * meta.nodes_per_page ||
		plan->pages_now <= plan->pages_planned * omendb_renumber_min_gain)
	{
		pfree(plan->order);
		plan->order = NULL;
		return false;
	}
	return true;
}

/*
 * Move the planned nodes, in order, to slots appended to the node pages
 * (omendb_move_node_to_end): on the insert page while it has room, then on
 * new pages.  Each old slot is left a deleted node leading to its copy,
 * for the cleanup that follows to free.  plan's ids become the copies'
 * (OMENDB_INVALID_NODE for a node deleted meanwhile, or one on the insert
 * page itself, which stays).  Returns how many moved.
 */
uint32
omendb_move_nodes_to_end(IndexVacuumInfo *info, OmenRenumberPlan *plan)
{
	Relation	index = info->index;
	OmenMetaPageData meta;
	BlockNumber insert_block;
	uint32		nmoved = 0;

	omendb_read_meta(index, &meta);
	insert_block = meta.insert_block;
	for (uint32 k = 0; k < plan->n; k++)
	{
		uint32		node = plan->order[k];

		CHECK_FOR_INTERRUPTS();
		OMENDB_VACUUM_DELAY_POINT();
		/* (the insert page only moves on, so one before it stays before) */
		if (omendb_node_block(&meta, node) >= insert_block)
			plan->order[k] = OMENDB_INVALID_NODE;
		else
			plan->order[k] = omendb_move_node_to_end(index, &meta,
													 info->strategy, node);
		nmoved += plan->order[k] != OMENDB_INVALID_NODE;
	}
	return nmoved;
}

/*
 * Move the planned nodes, now on the appended pages, in order into the
 * free slots of the node pages before them, from the first on: the slots
 * the cleanup after omendb_move_nodes_to_end freed.  As compaction does,
 * first wait for the scans that may have met one of those slots while it
 * held a deleted node (*held, and nothing moved, if they do not end).
 * Returns how many moved; a cleanup then frees their old slots and the
 * truncation gives the pages back.
 */
uint32
omendb_move_nodes_to_front(IndexVacuumInfo *info, OmenRenumberPlan *plan,
						   bool *held)
{
	Relation	index = info->index;
	OmenMetaPageData meta;
	BlockNumber fblk;
	uint32		nmoved = 0;

	*held = false;
	if (!omendb_wait_for_older_snapshots(OMENDB_SNAPSHOT_WAIT_MS))
	{
		*held = true;
		return 0;
	}
	omendb_read_meta(index, &meta);
	fblk = meta.first_node_block;
	if (omendb_is_label_block(&meta, fblk))
		fblk = omendb_next_node_block(&meta, fblk);
	for (uint32 k = 0; k < plan->n; k++)
	{
		uint32		node = plan->order[k];
		BlockNumber tblk;
		bool		done = false;

		if (node == OMENDB_INVALID_NODE)
			continue;
		tblk = omendb_node_block(&meta, node);
		CHECK_FOR_INTERRUPTS();
		OMENDB_VACUUM_DELAY_POINT();
		while (!done && fblk < tblk)
		{
			switch (omendb_move_node(index, &meta, info->strategy, fblk, tblk,
									 omendb_node_offset(&meta, node)))
			{
				case OMENDB_MOVE_DONE:
					nmoved++;
					done = true;
					break;
				case OMENDB_MOVE_NOT_LIVE:
					done = true;
					break;
				case OMENDB_MOVE_NO_SLOT:
					fblk = omendb_next_node_block(&meta, fblk);
					break;
			}
		}
		if (fblk >= tblk)
			break;
	}
	return nmoved;
}
