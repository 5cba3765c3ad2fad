/*-------------------------------------------------------------------------
 *
 * omendb_build.c
 *	  CREATE INDEX: learn the quantizer, build the Vamana graph in memory,
 *	  write the pages, WAL-log them wholesale.
 *
 * Two passes over the table.  The first learns each dimension's range (and
 * the centroid, to pick an entry point near the medoid); the second encodes
 * every vector and inserts it into an in-memory graph of codes (the
 * incremental Vamana of FreshDiskANN: greedy search from the entry point,
 * RobustPrune, reverse edges with overflow-then-prune).  The graph holds
 * codes, not floats, so it needs about (code size + 4 * max_degree) bytes
 * a row.  If that exceeds maintenance_work_mem, the nodes that fit are
 * built in memory and written, and the rest are inserted through the
 * buffer cache with the ordinary insert path (a NOTICE says so).
 *
 * Zero vectors under cosine have no direction and stay out of the graph
 * (omendb.h, zero nodes): they take no part in the ranges, the medoid or
 * the graph, and are written as zero nodes after the graph's nodes.
 *
 * Pages are written through shared buffers without WAL and logged at the
 * end with log_newpage_range, like other index builds.
 *
 * With parallel workers (max_parallel_maintenance_workers), pass 2 and the
 * refining pass run in the leader and the workers at once, on one graph
 * in dynamic shared memory: see omendb_build_parallel.c, and README.omendb.
 * The routines below that encode a row, place or refine a node, spill and
 * write the pages serve the parallel build's participants too
 * (omendb_build.h); there bs->shared is set.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "catalog/pg_type.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "optimizer/plancat.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "omendb_build.h"
#include "omendb_filter.h"
#include "omendb_graph.h"
#include "omendb_labels.h"
#include "omendb_metric.h"
#include "omendb_page.h"
#include "omendb_pgvector.h"
#include "omendb_quant.h"
#include "omendb_sketch.h"

/* ----------------------------------------------------------------
 *		The in-memory graph
 * ----------------------------------------------------------------
 */

/*
 * Bytes a node costs a build at its peak, which is while the graph is
 * written: besides the store's arrays, omendb_build_write_nodes holds a
 * new id per node while omendb_connect_unreachable holds an in-degree, a
 * queue slot and a mark (breadth_first_order, after it, needs two ids).
 */
Size
omendb_build_bytes_per_node(const OmenMetaPageData *meta)
{
	return omendb_memstore_bytes_per_node(meta) +
		3 * sizeof(uint32) + sizeof(bool);
}

/*
 * How many nodes the in-memory graph may hold: what maintenance_work_mem
 * pays for, at least one, and few enough that node counts stay ints with
 * room to double.
 */
static int
graph_node_limit(Size per_node)
{
	double		nodes = (double) maintenance_work_mem * 1024.0 / per_node;

	return (int) Max(Min(nodes, (double) (INT_MAX / 2)), 1);
}

/*
 * Place node p (already encoded from bs->v, with no neighbours yet) in the
 * in-memory graph: its out-edges, their reverse edges, and the entry point
 * kept at the node nearest the centroid.  The first node becomes the entry
 * point.  Runs in the row's memory context (a vector query allocates).
 * p's own list is complete before any reverse edge leads to it, so that a
 * concurrent search (parallel build) never meets p half placed.
 */
void
omendb_build_graph_insert(BuildState *bs, uint32 p)
{
	OmenMemStore *g = &bs->g;
	uint32		nbrs[OMENDB_MAX_NEIGHBORS];
	uint32		entry;
	float		d = omendb_code_distance(&bs->centroid, OmenMemStoreCode(g, p));
	int			n;

	bs->nplaced++;
	if (!omendb_build_entry_to_place_from(bs, p, d, &entry))
		return;

	omendb_query_init_placement(&bs->query, bs->quant, bs->v,
								OmenMemStoreCode(g, p));
	n = omendb_find_neighbors(&g->store, &bs->query, &bs->pivot, entry,
							  bs->place_list, p, bs->alpha, bs->degree, nbrs);
	if (!g->store.replace_neighbors(&g->store, p, nbrs, 0, nbrs, n))
		elog(ERROR, "omendb: node %u of the graph under construction changed while placed",
			 p);
	(void) omendb_add_reverse_edges(&g->store, &bs->pivot, p, nbrs, n,
									bs->alpha, bs->degree, false);
	omendb_build_offer_entry(bs, p, d);
}

/*
 * Whether the build refines its graph.  Not where the quantizer places
 * nodes by their vectors: the refining pass searches from the codes, and
 * would trade the neighbours the vectors found for worse ones.
 */
bool
omendb_build_refines(const BuildState *bs)
{
	return !bs->quant->places_by_vector;
}

/*
 * Refine node p of the in-memory graph (see graph_refine); nodecxt takes
 * what that allocates.
 */
void
omendb_build_refine_one(BuildState *bs, uint32 p, MemoryContext nodecxt)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(nodecxt);

	omendb_query_init_code(&bs->query, bs->quant, NULL);
	omendb_refine_node(&bs->g.store, &bs->query, &bs->pivot, bs->entry,
					   bs->refine_list, p, OMENDB_REFINE_ALPHA, bs->alpha,
					   bs->degree);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(nodecxt);
}

/*
 * The refining pass over the in-memory graph (Vamana's second pass,
 * Algorithm 3 of the paper), where the build refines.  Placing a node saw
 * the graph as it was then; this pass sees all of it.  On clustered data
 * it buys much recall at the same search list; on Fashion-MNIST it is
 * level (README.omendb, "Build").
 */
static void
graph_refine(BuildState *bs)
{
	OmenMemStore *g = &bs->g;
	MemoryContext nodecxt;

	if (!omendb_build_refines(bs))
		return;
	/* what refining a node allocates is freed after each node */
	nodecxt = AllocSetContextCreate(CurrentMemoryContext, "omendb refine node",
									ALLOCSET_DEFAULT_SIZES);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_REFINE);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, (int64) g->n);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, 0);
	for (uint32 p = 0; p < g->n; p++)
	{
		omendb_build_refine_one(bs, p, nodecxt);
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) p + 1);
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextDelete(nodecxt);
}

/* ----------------------------------------------------------------
 *		Table scans
 * ----------------------------------------------------------------
 */

/* Check the dimension of a heap vector; learn it from the first one. */
static void
check_build_dim(BuildState *bs, Vector *vec)
{
	if (bs->dim == 0)
	{
		bs->dim = vec->dim;
		bs->cdim = OmenCodeDims(bs->metric, bs->dim);
		return;
	}
	if (vec->dim != bs->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", bs->dim, vec->dim)));
}

static void
alloc_ranges(BuildState *bs)
{
	bs->minv = palloc(sizeof(float) * bs->cdim);
	bs->maxv = palloc(sizeof(float) * bs->cdim);
	bs->sum = palloc0(sizeof(double) * bs->cdim);
	bs->v = palloc(sizeof(float) * bs->cdim);
	for (int i = 0; i < bs->cdim; i++)
	{
		bs->minv[i] = FLT_MAX;
		bs->maxv[i] = -FLT_MAX;
	}
}

/*
 * Vectors the sketch learns from, at most, and the bytes they may take:
 * enough for its principal directions, whatever the table's size.
 */
#define SKETCH_SAMPLE_ROWS		2048
#define SKETCH_SAMPLE_BYTES		(32 * 1024 * 1024)

/* Rows a table needs for a sketch: fewer are read as fast without one. */
#define SKETCH_MIN_ROWS			256

/*
 * Keep a uniform sample of the vectors (reservoir sampling, with a fixed
 * seed so that a build is repeatable), if the index may take a sketch.
 */
static void
sample_vector(BuildState *bs, const float *v)
{
	uint64		seen = (uint64) bs->count + 1;
	int			slot;

	if (!omendb_sketch_possible(bs->metric, bs->label_size))
		return;
	if (bs->sample == NULL)
	{
		bs->capsample = (int) Min(SKETCH_SAMPLE_ROWS,
								  Max(SKETCH_SAMPLE_BYTES / (sizeof(float) * bs->dim), 1));
		bs->sample = palloc(sizeof(float) * bs->dim * (Size) bs->capsample);
		bs->sample_state = UINT64CONST(0x5DEECE66D);
	}
	if (bs->nsample < bs->capsample)
		slot = bs->nsample++;
	else
	{
		/* an LCG step; row seen replaces a kept one with probability cap / seen */
		bs->sample_state = bs->sample_state * UINT64CONST(6364136223846793005) +
			UINT64CONST(1442695040888963407);
		slot = (int) ((bs->sample_state >> 11) % seen);
		if (slot >= bs->capsample)
			return;
	}
	memcpy(bs->sample + (Size) slot * bs->dim, v, sizeof(float) * bs->dim);
}

/* Pass 1: ranges, centroid and count. */
static void
range_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	BuildState *bs = state;
	MemoryContext oldcxt;
	Vector	   *vec;
	float		norm;

	bs->scanned++;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->scanned);
	if (isnull[0])
		return;
	oldcxt = MemoryContextSwitchTo(bs->tmpcxt);
	vec = omendb_datum_vector(index, values[0]);
	check_build_dim(bs, vec);
	MemoryContextSwitchTo(oldcxt);
	if (bs->minv == NULL)
		alloc_ranges(bs);

	/* (the transform's extra dimension is filled in by train()) */
	if (omendb_prepare_vector(bs->metric, vec->x, bs->dim, 0, bs->v, &norm))
	{
		omendb_check_ip_norm(bs->index, bs->metric, norm);
		sample_vector(bs, bs->v);
		bs->max_norm = Max(bs->max_norm, norm);
		for (int i = 0; i < bs->cdim; i++)
		{
			bs->minv[i] = Min(bs->minv[i], bs->v[i]);
			bs->maxv[i] = Max(bs->maxv[i], bs->v[i]);
			bs->sum[i] += bs->v[i];
		}
		bs->count++;
	}
	else
		bs->nzero++;
	MemoryContextReset(bs->tmpcxt);
}

/*
 * Encode the vector in bs->v, row x as indexed, as node p of the in-memory
 * graph, without neighbours.
 */
void
omendb_build_encode_node(BuildState *bs, uint32 p, ItemPointer tid,
						 const float *x, float norm)
{
	OmenMemStore *g = &bs->g;

	g->tids[p] = *tid;
	g->norms[p] = norm;
	g->nnbrs[p] = 0;
	if (g->label_words > 0)
		memcpy(OmenMemStoreLabels(g, p), bs->labels,
			   sizeof(uint64) * g->label_words);
	if (g->value_size > 0)
		memcpy(OmenMemStoreValue(g, p), bs->value, g->value_size);
	g->errors[p] = omendb_float_sums_error(bs->float_sums, bs->metric, x, bs->dim,
										   omendb_quant_encode(bs->quant, bs->v,
															   OmenMemStoreCode(g, p)));
}

/* Add the vector in bs->v as a new node of the in-memory graph. */
static void
graph_add(BuildState *bs, ItemPointer tid, const float *x, float norm)
{
	OmenMemStore *g = &bs->g;
	uint32		p;

	if (g->n == g->cap)
		omendb_memstore_grow(g, bs->memory_limit);
	p = g->n++;
	omendb_build_encode_node(bs, p, tid, x, norm);
	omendb_build_graph_insert(bs, p);
}

/*
 * Keep a zero vector's heap TID (and labels), to be written as a zero
 * node.
 */
static void
add_zero_node(BuildState *bs, ItemPointer tid)
{
	if (bs->nzero_tids == bs->capzero_tids)
	{
		bs->capzero_tids = Max(bs->capzero_tids * 2, 64);
		if (bs->zero_tids == NULL)
		{
			bs->zero_tids = MemoryContextAllocHuge(CurrentMemoryContext,
												   (Size) bs->capzero_tids * sizeof(ItemPointerData));
			if (bs->label_size > 0)
				bs->zero_labels = MemoryContextAllocHuge(CurrentMemoryContext,
														 (Size) bs->capzero_tids * bs->label_size);
		}
		else
		{
			bs->zero_tids = repalloc_huge(bs->zero_tids,
										  (Size) bs->capzero_tids * sizeof(ItemPointerData));
			if (bs->label_size > 0)
				bs->zero_labels = repalloc_huge(bs->zero_labels,
												(Size) bs->capzero_tids * bs->label_size);
		}
	}
	if (bs->label_size > 0)
		memcpy((char *) bs->zero_labels + (Size) bs->nzero_tids * bs->label_size,
			   bs->labels, bs->label_size);
	bs->zero_tids[bs->nzero_tids++] = *tid;
}

/*
 * What the build holds in memory, in nodes: the graph, and the heap TIDs of
 * the zero nodes waiting to be written (one node's worth of memory holds
 * many of them).
 */
static bool
memory_full(BuildState *bs)
{
	double		zero_bytes = (double) bs->capzero_tids * sizeof(ItemPointerData);

	return bs->g.n + zero_bytes / bs->node_bytes >= bs->memory_limit;
}

/* Pass 2: encode and insert. */
void
omendb_build_graph_callback(Relation index, ItemPointer tid, Datum *values,
							bool *isnull, bool tupleIsAlive, void *state)
{
	BuildState *bs = state;
	MemoryContext oldcxt;
	Vector	   *vec;
	float		norm;
	bool		nonzero;

	if (isnull[0])
		return;
	if (bs->shared == NULL && !bs->on_disk && memory_full(bs))
		omendb_build_spill_to_disk(bs);

	oldcxt = MemoryContextSwitchTo(bs->tmpcxt);
	vec = omendb_datum_vector(index, values[0]);
	check_build_dim(bs, vec);
	if (bs->value_size > 0)
	{
		bs->value = PG_DETOAST_DATUM(values[0]);
		omendb_check_value_size(index, bs->value, bs->value_size);
	}
	if (bs->label_size > 0)
		omendb_filter_labels(bs->filter, values + 1, isnull + 1, bs->labels);
	if (bs->sketch != NULL)
		omendb_sketch_encode(bs->sketch, vec->x,
							 bs->labels + bs->label_size / sizeof(uint64));
	nonzero = omendb_prepare_vector(bs->metric, vec->x, bs->dim,
									bs->meta.ip_max_norm, bs->v, &norm);
	/* (a row that came after pass 1 may be new) */
	if (nonzero)
		omendb_check_ip_norm(bs->index, bs->metric, norm);
	if (bs->shared != NULL)
		omendb_build_add_row_shared(bs, tid, vec, nonzero, norm);
	else if (nonzero)
	{
		if (bs->on_disk)
			omendb_insert_vector(index, vec->x, vec->dim, bs->value, tid,
								 bs->labels, false);
		else
			graph_add(bs, tid, vec->x, norm);
	}
	else if (bs->on_disk)
		omendb_insert_vector(index, vec->x, vec->dim, bs->value, tid,
							 bs->labels, false);
	else
	{
		/* (the array outlives the row's context) */
		MemoryContextSwitchTo(oldcxt);
		add_zero_node(bs, tid);
	}
	bs->indexed++;
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(bs->tmpcxt);

	bs->done++;
	omendb_build_report_rows_done(bs);
}

/* ----------------------------------------------------------------
 *		Writing pages
 * ----------------------------------------------------------------
 */

static Buffer
new_buffer(Relation index, ForkNumber fork)
{
	Buffer		buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	return buf;
}

/* Write (or rewrite) the meta page image into block 0 of a fork. */
void
omendb_build_write_meta(Relation index, ForkNumber fork,
						const OmenMetaPageData *meta, bool use_wal)
{
	Buffer		buf;
	OmenPageEdit edit;
	bool		isnew = RelationGetNumberOfBlocksInFork(index, fork) == 0;

	if (isnew)
		buf = new_buffer(index, fork);
	else
	{
		buf = ReadBufferExtended(index, fork, OMENDB_METAPAGE_BLKNO, RBM_NORMAL, NULL);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	}
	omendb_edit_begin(&edit, index, use_wal);
	omendb_write_meta_page(omendb_edit_page(&edit, buf, true), meta);
	omendb_edit_finish(&edit);
	UnlockReleaseBuffer(buf);
}

/*
 * Number the nodes in breadth-first order from the entry point, so that a
 * node and its neighbours tend to share pages: a search then pins fewer
 * pages and misses the CPU cache less.  Nodes the walk does not reach
 * (there should be none) keep their relative order at the end.  Returns
 * order[new id] = build id, and fills newid[build id] = new id.
 */
static uint32 *
breadth_first_order(OmenMemStore *g, uint32 entry, uint32 *newid)
{
	uint32	   *order = MemoryContextAllocHuge(CurrentMemoryContext, (Size) g->n * sizeof(uint32));
	bool	   *reached = MemoryContextAllocHuge(CurrentMemoryContext, (Size) g->n * sizeof(bool));
	uint32		tail;

	memset(reached, 0, (Size) g->n * sizeof(bool));
	tail = omendb_graph_walk(&g->store, entry, reached, order, 0);
	for (uint32 p = 0; p < g->n; p++)
		tail = omendb_graph_walk(&g->store, p, reached, order, tail);
	Assert(tail == g->n);
	for (uint32 k = 0; k < tail; k++)
		newid[order[k]] = k;
	pfree(reached);
	return order;
}

/*
 * Link the nodes that no path from the entry point reaches (README.omendb,
 * "Build").
 */
static void
connect_unreachable(BuildState *bs)
{
	int			nlinked;
	int			nfailed;

	omendb_connect_unreachable(&bs->g.store, bs->entry, bs->g.n, NULL, bs->list,
							   &nlinked, &nfailed);
	elog(DEBUG1, "omendb build of \"%s\": %d unreachable nodes linked, %d left unlinked",
		 RelationGetRelationName(bs->index), nlinked, nfailed);
}

/* Fill image with graph node p, its neighbours renumbered by newid. */
static void
graph_node_image(BuildState *bs, uint32 p, const uint32 *newid, char *image)
{
	OmenMemStore *g = &bs->g;
	OmenMetaPageData *meta = &bs->meta;
	OmenNodeHeader hdr = (OmenNodeHeader) image;
	uint32	   *src = OmenMemStoreNeighbors(g, p);
	uint32	   *dst = OmenNodeNeighbors(hdr);

	memset(image, 0, meta->node_size);
	hdr->heaptid = g->tids[p];
	hdr->flags = OMENDB_NODE_LIVE;
	hdr->nneighbors = g->nnbrs[p];
	hdr->error = g->errors[p];
	hdr->norm = g->norms[p];
	for (int i = 0; i < g->nnbrs[p]; i++)
		dst[i] = newid[src[i]];
	memcpy(OmenNodeCode(hdr, meta->max_degree), OmenMemStoreCode(g, p),
		   g->code_size);
	if (g->label_words > 0)
		memcpy(OmenNodeLabels(hdr, meta), OmenMemStoreLabels(g, p),
			   meta->label_size);
	if (g->value_size > 0)
		memcpy(OmenNodeValue(hdr, meta), OmenMemStoreValue(g, p),
			   meta->value_size);
}

/*
 * The node id of the k-th node written: the k-th slot of the node pages,
 * past the label pages among them.
 */
static uint32
node_id_in_order(const OmenMetaPageData *meta, uint32 k)
{
	uint32		page = k / meta->nodes_per_page;

	if (meta->label_stride > 0)
		page += page / (meta->label_stride - 1) + 1;
	return page * meta->nodes_per_page + k % meta->nodes_per_page;
}

/* The sketch words of a zero node's entry: none are ever read. */
static const uint64 no_sketch[OMENDB_SKETCH_MAX_WORDS];

/* Write out the label page being filled, if any. */
static void
finish_label_page(Buffer labelbuf)
{
	if (BufferIsValid(labelbuf))
	{
		MarkBufferDirty(labelbuf);
		UnlockReleaseBuffer(labelbuf);
	}
}

/*
 * Append the label page of the next group, after finishing the last one;
 * returns it, locked, to be filled as the group's nodes are written.
 */
static Buffer
start_label_page(BuildState *bs, Buffer prev)
{
	Buffer		labelbuf;

	finish_label_page(prev);
	labelbuf = new_buffer(bs->index, MAIN_FORKNUM);
	Assert(omendb_is_label_block(&bs->meta, BufferGetBlockNumber(labelbuf)));
	omendb_init_label_page(BufferGetPage(labelbuf), &bs->meta);
	return labelbuf;
}

/*
 * Write all in-memory nodes to node pages: the graph's in breadth-first
 * order, then the zero nodes.  In an index with a label directory, each
 * group's label page goes before its node pages, and gets their entries
 * as they are written.
 */
void
omendb_build_write_nodes(BuildState *bs)
{
	OmenMemStore *g = &bs->g;
	OmenMetaPageData *meta = &bs->meta;
	char	   *image = palloc0(meta->node_size);
	Buffer		buf = InvalidBuffer;
	Page		page = NULL;
	uint32	   *newid = MemoryContextAllocHuge(CurrentMemoryContext, (Size) Max(g->n, 1) * sizeof(uint32));
	uint32	   *order;
	int			total = g->n + bs->nzero_tids;
	Buffer		labelbuf = InvalidBuffer;

	if (g->n > 0)
		connect_unreachable(bs);
	order = g->n > 0 ? breadth_first_order(g, bs->entry, newid) : NULL;
	for (uint32 p = 0; p < g->n; p++)
		newid[p] = node_id_in_order(meta, newid[p]);

	for (int k = 0; k < total; k++)
	{
		OffsetNumber off;
		uint32		node = node_id_in_order(meta, k);

		if (k % meta->nodes_per_page == 0)
		{
			BlockNumber blkno = omendb_node_block(meta, node);

			if (BufferIsValid(buf))
			{
				MarkBufferDirty(buf);
				UnlockReleaseBuffer(buf);
			}
			if (omendb_is_label_block(meta, blkno - 1))
				labelbuf = start_label_page(bs, labelbuf);
			buf = new_buffer(bs->index, MAIN_FORKNUM);
			Assert(BufferGetBlockNumber(buf) == blkno);
			page = BufferGetPage(buf);
			omendb_init_page(page, OMENDB_PAGE_NODE);
		}
		if (k < g->n)
			graph_node_image(bs, order[k], newid, image);
		else
		{
			omendb_fill_zero_node(image, meta, &bs->zero_tids[k - g->n]);
			if (bs->label_size > 0)
				memcpy(OmenNodeLabels((OmenNodeHeader) image, meta),
					   (char *) bs->zero_labels + (Size) (k - g->n) * bs->label_size,
					   bs->label_size);
		}
		off = PageAddItem(page, (Item) image, meta->node_size, InvalidOffsetNumber,
						  false, false);
		if (off != omendb_node_offset(meta, node))
			elog(ERROR, "omendb: failed to add node %d to index \"%s\"",
				 k, RelationGetRelationName(bs->index));
		if (BufferIsValid(labelbuf))
			omendb_set_label_entry(BufferGetPage(labelbuf), meta, node,
								   OmenNodeLabels((OmenNodeHeader) image, meta),
								   k < g->n ?
								   OmenMemStoreLabels(g, order[k]) + meta->label_size / sizeof(uint64) :
								   no_sketch);
		CHECK_FOR_INTERRUPTS();
	}
	if (BufferIsValid(buf))
	{
		meta->insert_block = BufferGetBlockNumber(buf);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
	finish_label_page(labelbuf);
	meta->entry_node = g->n > 0 ? newid[bs->entry] : OMENDB_INVALID_NODE;
	pfree(image);
	pfree(newid);
	if (order)
		pfree(order);
	/* (a parallel build's are in its shared memory) */
	if (bs->zero_tids && bs->shared == NULL)
		pfree(bs->zero_tids);
	if (bs->zero_labels && bs->shared == NULL)
		pfree(bs->zero_labels);
	bs->zero_tids = NULL;
	bs->zero_labels = NULL;
	bs->nzero_tids = bs->capzero_tids = 0;
}

/* ----------------------------------------------------------------
 *		ambuild
 * ----------------------------------------------------------------
 */

/*
 * The dimension of the indexed column, from its typmod.  A column without
 * one is refused, as pgvector refuses it: the index would have to take its
 * dimension from the first vector it indexes, and keep it even if that
 * vector's transaction rolled back.
 */
static int
column_dimensions(Relation index)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(index), 0);

	if (att->atttypmod <= 0)
	{
		/*
		 * vector or halfvec, by its bare name: PostgreSQL 17 on builds
		 * indexes under a search_path of pg_catalog only, where
		 * format_type_be would qualify it.
		 */
		char	   *type = omendb_type_name(att->atttypid);

		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("column \"%s\" of index \"%s\" has no dimensions",
						NameStr(att->attname), RelationGetRelationName(index)),
				 errdetail("omendb indexes vectors of a fixed dimension."),
				 errhint("Declare the column as %s(n), or index an expression that casts it, as in (embedding::%s(n)).",
						 type, type)));
	}
	return att->atttypmod;
}

/*
 * Without a quantizer named in the options, SQ8, unless its node would not
 * fit a page at the column's dimension: then RaBitQ, which fits every
 * dimension the type allows (README.omendb, "RaBitQ").
 */
static uint16
default_quantizer(Relation index, int dim, OmenMetric metric, int degree,
				  uint16 quantizer, int label_size, int value_size)
{
	if (dim <= 0 || omendb_quantizer_named(index) ||
		omendb_node_fits(dim, metric, degree, quantizer, label_size,
						 value_size))
		return quantizer;
	return OmenQuantSpec(OMENDB_QUANT_RABITQ,
						 omendb_rabitq_routine.default_bits);
}

void
omendb_build_init_state(BuildState *bs, Relation index)
{
	OmenFilterColumns *filter = omendb_check_filter_columns(index);

	memset(bs, 0, sizeof(BuildState));
	bs->index = index;
	bs->metric = omendb_index_metric(index);
	bs->float_sums = omendb_index_float_sums(index);
	bs->dim = column_dimensions(index);
	bs->cdim = OmenCodeDims(bs->metric, bs->dim);
	omendb_option_values(index, &bs->degree, &bs->list, &bs->alpha, &bs->quantizer);
	bs->label_size = OmenLabelSize(IndexRelationGetNumberOfKeyAttributes(index));
	bs->value_size = omendb_value_size(index, bs->dim);
	bs->quantizer = default_quantizer(index, bs->dim, bs->metric, bs->degree,
									  bs->quantizer, bs->label_size,
									  bs->value_size);
	bs->place_list = Max(bs->list * 3 / 8, OMENDB_MIN_BUILD_LIST);
	bs->refine_list = Max(bs->list / 2, OMENDB_MIN_BUILD_LIST);
	bs->tmpcxt = AllocSetContextCreate(CurrentMemoryContext, "omendb build tuple",
									   ALLOCSET_DEFAULT_SIZES);
	bs->filter = filter;
	bs->labels = palloc0(bs->label_size + sizeof(uint64) * OMENDB_SKETCH_MAX_WORDS);
}

/*
 * Raise the error the first insert would, now: a node of the column's
 * dimension must fit a page.
 */
static void
check_node_fits(BuildState *bs)
{
	OmenMetaPageData layout;

	omendb_fill_meta(&layout, bs->dim, bs->metric, bs->degree, bs->list,
					 bs->alpha, bs->quantizer, 0, bs->label_size,
					 bs->value_size);
}

/*
 * Learn the quantizer and entry-point target from pass 1.  A cosine table
 * of zero vectors alone gives no ranges: it gets [-1, 1], where every unit
 * vector lies, as an index built empty does from a zero first vector.
 */
static void
train(BuildState *bs)
{
	if (bs->metric == OMENDB_METRIC_IP)
	{
		/* the transform's dimension spans [0, M] */
		bs->minv[bs->dim] = 0;
		bs->maxv[bs->dim] = bs->max_norm;
	}
	if (bs->count == 0)
	{
		Assert(bs->metric == OMENDB_METRIC_COSINE);
		for (int i = 0; i < bs->cdim; i++)
		{
			bs->minv[i] = -1;
			bs->maxv[i] = 1;
		}
	}
	bs->centroidv = palloc(sizeof(float) * bs->cdim);
	for (int i = 0; i < bs->cdim; i++)
		bs->centroidv[i] = bs->count > 0 ? (float) (bs->sum[i] / bs->count) : 0;
	bs->quant = omendb_quant_train(bs->quantizer, bs->cdim, bs->minv, bs->maxv,
								   bs->centroidv);
	omendb_query_init(&bs->centroid, bs->quant, OMENDB_METRIC_L2, bs->centroidv, bs->cdim,
					  OMENDB_QUERY_GRAPH);
	omendb_query_init_code(&bs->pivot, bs->quant, NULL);
}

/* Refine the in-memory graph and write it, with the meta page. */
static void
refine_and_write(BuildState *bs)
{
	graph_refine(bs);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_WRITE);
	omendb_build_write_nodes(bs);
	omendb_build_write_meta(bs->index, MAIN_FORKNUM, &bs->meta, false);
	omendb_memstore_free(&bs->g);
}

/*
 * Stop building in memory: write what we have, then let the rest of the
 * scan insert through the buffer cache.
 */
void
omendb_build_spill_to_disk(BuildState *bs)
{
	ereport(NOTICE,
			(errmsg("omendb graph no longer fits in maintenance_work_mem after %d nodes",
					bs->g.n + bs->nzero_tids),
			 errdetail("The remaining rows are inserted through the buffer cache, which is slower."),
			 errhint("Increase maintenance_work_mem to build faster (about %zu kB per 1000 rows).",
					 (omendb_build_bytes_per_node(&bs->meta) * 1000 + 1023) / 1024)));
	refine_and_write(bs);
	omendb_invalidate_info(bs->index);
	bs->on_disk = true;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_LOAD);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, (int64) (bs->count + bs->nzero));
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->done);
}

/*
 * An empty table: only the meta page, untrained; the first insert will
 * learn the quantizer.
 */
static void
write_untrained_meta(BuildState *bs)
{
	if (bs->dim > 0)
		check_node_fits(bs);
	omendb_fill_meta(&bs->meta, 0, bs->metric, bs->degree, bs->list, bs->alpha,
					 bs->quantizer, 0, bs->label_size, 0);
	bs->meta.dimensions = bs->dim;
	omendb_build_write_meta(bs->index, MAIN_FORKNUM, &bs->meta, false);
}

/*
 * Learn the distance sketch from pass 1's sample, where the index takes one
 * (README.omendb, "Distance sketches"): the meta page's layout makes room
 * for it, and the image to write is returned (NULL: no sketch).
 */
static char *
learn_sketch(BuildState *bs, Size *size)
{
	char	   *image;
	char	   *problem;
	int			words = OMENDB_SKETCH_WORDS;

	/* fewer directions than dimensions, or the vectors are their own sketch */
	while (words > 0 && OmenSketchDirections(words) >= bs->dim)
		words--;
	if (bs->sample == NULL || bs->nsample < SKETCH_MIN_ROWS ||
		bs->count < SKETCH_MIN_ROWS || words == 0)
		return NULL;
	omendb_meta_set_sketch(&bs->meta, words);
	if (bs->meta.label_stride == 0)
	{
		/* (an entry too large for a label page: no directory) */
		omendb_meta_set_sketch(&bs->meta, 0);
		return NULL;
	}
	image = omendb_sketch_train(bs->sample, bs->nsample, bs->dim, bs->centroidv,
								words, size);
	bs->sketch = omendb_sketch_from_image(image, *size, words, bs->dim,
										  &problem);
	if (bs->sketch == NULL)
		elog(ERROR, "omendb learnt a sketch it cannot read: %s", problem);
	pfree(bs->sample);
	bs->sample = NULL;
	return image;
}

/* Learn the quantizer from pass 1; the meta and quantizer pages come first. */
static void
train_and_write_quantizer(BuildState *bs)
{
	char	   *image;
	Size		size;

	/* M is the inner product's alone: other metrics may overflow it */
	omendb_fill_meta(&bs->meta, bs->dim, bs->metric, bs->degree, bs->list,
					 bs->alpha, bs->quantizer,
					 bs->metric == OMENDB_METRIC_IP ? bs->max_norm : 0,
					 bs->label_size, bs->value_size);
	bs->meta.quant_trained = true;
	train(bs);
	image = learn_sketch(bs, &size);
	omendb_build_write_meta(bs->index, MAIN_FORKNUM, &bs->meta, false);
	omendb_write_quant_sets(bs->index, bs->quant, &bs->meta, MAIN_FORKNUM,
							false);
	if (image != NULL)
		omendb_write_sketch_pages(bs->index, image, size,
								  omendb_sketch_first_block(&bs->meta),
								  MAIN_FORKNUM, false);
}

/*
 * Pass 2: encode every row into the in-memory graph, then refine and write
 * it; a graph that outgrows its memory goes on through the insert path
 * (omendb_build_graph_callback).  Returns the heap rows the scan counted.
 */
static double
build_graph(BuildState *bs, Relation heap, IndexInfo *indexInfo)
{
	double		heap_rows;

	bs->node_bytes = omendb_build_bytes_per_node(&bs->meta);
	bs->memory_limit = graph_node_limit(bs->node_bytes);
	omendb_memstore_init(&bs->g, &bs->meta, bs->quant,
						 Min(bs->memory_limit, (int) Min(bs->count * 1.05 + 16, INT_MAX / 2)));

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_LOAD);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, (int64) (bs->count + bs->nzero));
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, 0);
	heap_rows = table_index_build_scan(heap, bs->index, indexInfo, true, true,
									   omendb_build_graph_callback, bs, NULL);

	if (!bs->on_disk)
		refine_and_write(bs);
	return heap_rows;
}

/* The planner's estimate of the table's rows: pass 1's progress total. */
static double
estimate_heap_rows(Relation heap)
{
	BlockNumber pages;
	double		tuples;
	double		allvisfrac;

	estimate_rel_size(heap, NULL, &pages, &tuples, &allvisfrac);
	return tuples;
}

IndexBuildResult *
omendb_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	BuildState	bs;
	BlockNumber nblocks;
	double		heap_rows;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data",
			 RelationGetRelationName(index));

	omendb_build_init_state(&bs, index);

	/* pass 1: ranges */
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_SCAN);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) estimate_heap_rows(heap));
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, 0);
	heap_rows = table_index_build_scan(heap, index, indexInfo, true, true,
									   range_callback, &bs, NULL);

	if (bs.count + bs.nzero == 0)
		write_untrained_meta(&bs);
	else
	{
		int			request = omendb_build_parallel_workers_requested(heap, index,
																	  indexInfo);

		train_and_write_quantizer(&bs);
		heap_rows = -1;
		if (request > 0)
			heap_rows = omendb_build_graph_parallel(&bs, heap, indexInfo,
													request);
		if (heap_rows < 0)
			heap_rows = build_graph(&bs, heap, indexInfo);
		omendb_record_walk_rate(index, false);
	}

	nblocks = RelationGetNumberOfBlocks(index);
	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0, nblocks, true);
	omendb_invalidate_info(index);

	/* the table's rows (NULLs too), as the last scan counted them */
	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = heap_rows;
	result->index_tuples = bs.indexed;
	MemoryContextDelete(bs.tmpcxt);
	return result;
}

/*
 * ambuildempty: the init fork of an unlogged index, an empty meta page,
 * written and WAL-logged so that it survives to replace the main fork
 * after a crash.
 */
void
omendb_buildempty(Relation index)
{
	OmenMetaPageData meta;
	int			typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;
	OmenMetric	metric = omendb_index_metric(index);
	int			label_size = OmenLabelSize(IndexRelationGetNumberOfKeyAttributes(index));
	int			degree;
	int			list;
	double		alpha;
	uint16		quantizer;

	(void) omendb_check_filter_columns(index);
	omendb_option_values(index, &degree, &list, &alpha, &quantizer);
	quantizer = default_quantizer(index, typmod, metric, degree, quantizer,
								  label_size, omendb_value_size(index, typmod));
	omendb_fill_meta(&meta, 0, metric, degree, list, alpha, quantizer, 0,
					 label_size, 0);
	meta.dimensions = typmod > 0 ? typmod : 0;
	/* generic xlog skips unlogged relations: log the init fork by hand */
	omendb_build_write_meta(index, INIT_FORKNUM, &meta, false);
	log_newpage_range(index, INIT_FORKNUM, 0, 1, true);
}

char *
omendb_build_phase_name(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case OMENDB_PHASE_SCAN:
			return "learning quantizer ranges";
		case OMENDB_PHASE_LOAD:
			return "building graph";
		case OMENDB_PHASE_REFINE:
			return "refining graph";
		case OMENDB_PHASE_WRITE:
			return "writing index pages";
	}
	return NULL;
}
