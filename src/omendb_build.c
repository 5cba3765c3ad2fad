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
 * in dynamic shared memory: see "Parallel build" below, and README.omendb.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/genam.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "catalog/pg_type.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "optimizer/plancat.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "port/pg_bitutils.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "omendb_filter.h"
#include "omendb_graph.h"
#include "omendb_metric.h"
#include "omendb_page.h"
#include "omendb_pgvector.h"
#include "omendb_quant.h"

typedef struct BuildState
{
	Relation	index;
	OmenMetric	metric;
	bool		float_sums;		/* omendb_index_float_sums */
	int			dim;			/* 0 until known */
	int			cdim;			/* code dimensions (OmenCodeDims) */
	float		max_norm;		/* largest |x| seen in pass 1 */
	int			degree;
	int			list;			/* build_list_size: what inserts use */
	int			place_list;		/* the list that places a node at build */
	int			refine_list;	/* the list of the refining pass */
	double		alpha;
	uint16		quantizer;		/* as the meta page keeps it */
	MemoryContext tmpcxt;
	float	   *v;				/* scratch: the vector as indexed */
	OmenFilterColumns *filter;	/* the filter columns, if any */
	int			label_size;		/* bytes of their labels on a node */
	uint64	   *labels;			/* scratch: the row's labels */
	int			value_size;		/* bytes of a value stored on a node, or 0 */
	const void *value;			/* the row's value, detoasted, if stored */

	/* pass 1 */
	double		scanned;		/* heap rows seen, NULLs included */
	double		count;			/* vectors to index in the graph */
	double		nzero;			/* zero vectors under cosine: zero nodes */
	float	   *minv;
	float	   *maxv;
	double	   *sum;

	/* pass 2 */
	OmenMetaPageData meta;
	OmenQuantState *quant;
	OmenMemStore g;				/* the graph under construction */
	OmenQuery	query;
	OmenQuery	pivot;
	OmenQuery	centroid;		/* L2 query at the centroid */
	float	   *centroidv;
	uint32		entry;
	float		entry_dist;
	int			memory_limit;	/* nodes that fit maintenance_work_mem */
	Size		node_bytes;		/* what a node costs the build at its peak */
	ItemPointerData *zero_tids; /* zero vectors met, to write as zero nodes
								 * after the graph */
	uint64	   *zero_labels;	/* and their labels, label_size each */
	int			nzero_tids;
	int			capzero_tids;
	bool		on_disk;		/* past the limit: inserting through buffers */
	double		done;
	double		indexed;		/* nodes written, in memory or on disk */

	/* a parallel build's shared state, or NULL (see "Parallel build") */
	struct OmenBuildShared *shared;
	int			nplaced;		/* nodes this participant placed */
} BuildState;

static bool entry_to_place_from(BuildState *bs, uint32 p, float d,
								uint32 *entry);
static void offer_entry(BuildState *bs, uint32 p, float d);
static void add_row_shared(BuildState *bs, ItemPointer tid, Vector *vec,
						   bool nonzero, float norm);
static void report_rows_done(BuildState *bs);
static double build_graph_parallel(BuildState *bs, Relation heap,
								   IndexInfo *indexInfo, int request);
static int	parallel_workers_requested(Relation heap, Relation index,
									   IndexInfo *indexInfo);

/* ----------------------------------------------------------------
 *		The in-memory graph
 * ----------------------------------------------------------------
 */

/*
 * Bytes a node costs a build at its peak, which is while the graph is
 * written: besides the store's arrays, write_nodes holds a new id per node
 * while omendb_connect_unreachable holds an in-degree, a queue slot and a
 * mark (breadth_first_order, after it, needs two ids).
 */
static Size
build_bytes_per_node(const OmenMetaPageData *meta)
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
 * Place node p (already encoded, with no neighbours yet) in the in-memory
 * graph: its out-edges, their reverse edges, and the entry point kept at
 * the node nearest the centroid.  The first node becomes the entry point.
 * p's own list is complete before any reverse edge leads to it, so that a
 * concurrent search (parallel build) never meets p half placed.
 */
static void
graph_insert(BuildState *bs, uint32 p)
{
	OmenMemStore *g = &bs->g;
	uint32		nbrs[OMENDB_MAX_NEIGHBORS];
	uint32		entry;
	float		d = omendb_code_distance(&bs->centroid, OmenMemStoreCode(g, p));
	int			n;

	bs->nplaced++;
	if (!entry_to_place_from(bs, p, d, &entry))
		return;

	omendb_query_init_code(&bs->query, bs->quant, OmenMemStoreCode(g, p));
	n = omendb_find_neighbors(&g->store, &bs->query, &bs->pivot, entry,
							  bs->place_list, p, bs->alpha, bs->degree, nbrs);
	if (!g->store.replace_neighbors(&g->store, p, nbrs, 0, nbrs, n))
		elog(ERROR, "omendb: node %u of the graph under construction changed while placed",
			 p);
	(void) omendb_add_reverse_edges(&g->store, &bs->pivot, p, nbrs, n,
									bs->alpha, bs->degree);
	offer_entry(bs, p, d);
}

/*
 * Refine node p of the in-memory graph (see graph_refine); nodecxt takes
 * what that allocates.
 */
static void
refine_one(BuildState *bs, uint32 p, MemoryContext nodecxt)
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
 * Algorithm 3 of the paper).  Placing a node saw the graph as it was then;
 * this pass sees all of it.  On clustered data it buys much recall at the
 * same search list; on Fashion-MNIST it is level (README.omendb, "Build").
 */
static void
graph_refine(BuildState *bs)
{
	OmenMemStore *g = &bs->g;
	MemoryContext nodecxt;

	/* what refining a node allocates is freed after each node */
	nodecxt = AllocSetContextCreate(CurrentMemoryContext, "omendb refine node",
									ALLOCSET_DEFAULT_SIZES);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_REFINE);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, (int64) g->n);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, 0);
	for (uint32 p = 0; p < g->n; p++)
	{
		refine_one(bs, p, nodecxt);
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) p + 1);
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextDelete(nodecxt);
}

static void spill_to_disk(BuildState *bs);

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
static void
encode_node(BuildState *bs, uint32 p, ItemPointer tid, const float *x,
			float norm)
{
	OmenMemStore *g = &bs->g;

	g->tids[p] = *tid;
	g->norms[p] = norm;
	g->nnbrs[p] = 0;
	if (g->label_words > 0)
		memcpy(OmenMemStoreLabels(g, p), bs->labels, bs->label_size);
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
	encode_node(bs, p, tid, x, norm);
	graph_insert(bs, p);
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
static void
graph_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	BuildState *bs = state;
	MemoryContext oldcxt;
	Vector	   *vec;
	float		norm;
	bool		nonzero;

	if (isnull[0])
		return;
	if (bs->shared == NULL && !bs->on_disk && memory_full(bs))
		spill_to_disk(bs);

	oldcxt = MemoryContextSwitchTo(bs->tmpcxt);
	vec = omendb_datum_vector(index, values[0]);
	check_build_dim(bs, vec);
	if (bs->value_size > 0)
		bs->value = omendb_stored_value(index, values[0], bs->value_size);
	if (bs->label_size > 0)
		omendb_filter_labels(bs->filter, values + 1, isnull + 1, bs->labels);
	nonzero = omendb_prepare_vector(bs->metric, vec->x, bs->dim,
									bs->meta.ip_max_norm, bs->v, &norm);
	/* (a row that came after pass 1 may be new) */
	if (nonzero)
		omendb_check_ip_norm(bs->index, bs->metric, norm);
	if (bs->shared != NULL)
		add_row_shared(bs, tid, vec, nonzero, norm);
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
	report_rows_done(bs);
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
static void
write_meta(Relation index, ForkNumber fork, const OmenMetaPageData *meta,
		   bool use_wal)
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
 * Write all in-memory nodes to node pages: the graph's in breadth-first
 * order, then the zero nodes.
 */
static void
write_nodes(BuildState *bs)
{
	OmenMemStore *g = &bs->g;
	OmenMetaPageData *meta = &bs->meta;
	char	   *image = palloc0(meta->node_size);
	Buffer		buf = InvalidBuffer;
	Page		page = NULL;
	uint32	   *newid = MemoryContextAllocHuge(CurrentMemoryContext, (Size) Max(g->n, 1) * sizeof(uint32));
	uint32	   *order;
	int			total = g->n + bs->nzero_tids;

	if (g->n > 0)
		connect_unreachable(bs);
	order = g->n > 0 ? breadth_first_order(g, bs->entry, newid) : NULL;

	for (int k = 0; k < total; k++)
	{
		OffsetNumber off;

		if (k % meta->nodes_per_page == 0)
		{
			if (BufferIsValid(buf))
			{
				MarkBufferDirty(buf);
				UnlockReleaseBuffer(buf);
			}
			buf = new_buffer(bs->index, MAIN_FORKNUM);
			Assert(BufferGetBlockNumber(buf) == omendb_node_block(meta, k));
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
		if (off != omendb_node_offset(meta, k))
			elog(ERROR, "omendb: failed to add node %d to index \"%s\"",
				 k, RelationGetRelationName(bs->index));
		CHECK_FOR_INTERRUPTS();
	}
	if (BufferIsValid(buf))
	{
		meta->insert_block = BufferGetBlockNumber(buf);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
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

static void
init_build_state(BuildState *bs, Relation index)
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
	bs->labels = palloc0(Max(bs->label_size, sizeof(uint64)));
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
					  false);
	omendb_query_init_code(&bs->pivot, bs->quant, NULL);
}

/* Refine the in-memory graph and write it, with the meta page. */
static void
refine_and_write(BuildState *bs)
{
	graph_refine(bs);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_WRITE);
	write_nodes(bs);
	write_meta(bs->index, MAIN_FORKNUM, &bs->meta, false);
	omendb_memstore_free(&bs->g);
}

/*
 * Stop building in memory: write what we have, then let the rest of the
 * scan insert through the buffer cache.
 */
static void
spill_to_disk(BuildState *bs)
{
	ereport(NOTICE,
			(errmsg("omendb graph no longer fits in maintenance_work_mem after %d nodes",
					bs->g.n + bs->nzero_tids),
			 errdetail("The remaining rows are inserted through the buffer cache, which is slower."),
			 errhint("Increase maintenance_work_mem to build faster (about %zu kB per 1000 rows).",
					 (build_bytes_per_node(&bs->meta) * 1000 + 1023) / 1024)));
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
	write_meta(bs->index, MAIN_FORKNUM, &bs->meta, false);
}

/* Learn the quantizer from pass 1; the meta and quantizer pages come first. */
static void
train_and_write_quantizer(BuildState *bs)
{
	omendb_fill_meta(&bs->meta, bs->dim, bs->metric, bs->degree, bs->list,
					 bs->alpha, bs->quantizer, bs->max_norm, bs->label_size,
					 bs->value_size);
	bs->meta.quant_trained = true;
	train(bs);
	write_meta(bs->index, MAIN_FORKNUM, &bs->meta, false);
	omendb_write_quant_sets(bs->index, bs->quant, &bs->meta, MAIN_FORKNUM,
							false);
}

/*
 * Pass 2: encode every row into the in-memory graph, then refine and write
 * it; a graph that outgrows its memory goes on through the insert path
 * (graph_callback).  Returns the heap rows the scan counted.
 */
static double
build_graph(BuildState *bs, Relation heap, IndexInfo *indexInfo)
{
	double		heap_rows;

	bs->node_bytes = build_bytes_per_node(&bs->meta);
	bs->memory_limit = graph_node_limit(bs->node_bytes);
	omendb_memstore_init(&bs->g, &bs->meta, bs->quant,
						 Min(bs->memory_limit, (int) Min(bs->count * 1.05 + 16, INT_MAX / 2)));

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_LOAD);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, (int64) (bs->count + bs->nzero));
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, 0);
	heap_rows = table_index_build_scan(heap, bs->index, indexInfo, true, true,
									   graph_callback, bs, NULL);

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

	init_build_state(&bs, index);

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
		int			request = parallel_workers_requested(heap, index, indexInfo);

		train_and_write_quantizer(&bs);
		heap_rows = -1;
		if (request > 0)
			heap_rows = build_graph_parallel(&bs, heap, indexInfo, request);
		if (heap_rows < 0)
			heap_rows = build_graph(&bs, heap, indexInfo);
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
	write_meta(index, INIT_FORKNUM, &meta, false);
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

/* ----------------------------------------------------------------
 *		Parallel build
 *
 * Pass 2 and the refining pass run in the leader and the workers of a
 * ParallelContext at once, on one graph in dynamic shared memory
 * (README.omendb, "Parallel build").  Pass 1, training and the final
 * writing stay with the leader.
 * ----------------------------------------------------------------
 */

/* The keys of the shared memory table of contents. */
#define PARALLEL_KEY_OMENDB_SHARED	UINT64CONST(0xA000000000000001)
#define PARALLEL_KEY_TABLE_SCAN		UINT64CONST(0xA000000000000002)
#define PARALLEL_KEY_GRAPH			UINT64CONST(0xA000000000000003)
#define PARALLEL_KEY_NODE_LOCKS		UINT64CONST(0xA000000000000004)
#define PARALLEL_KEY_ZERO_NODES		UINT64CONST(0xA000000000000005)
#define PARALLEL_KEY_QUERY_TEXT		UINT64CONST(0xA000000000000006)

/* At most this many LWLocks guard the neighbour lists, in stripes. */
#define OMENDB_BUILD_NODE_LOCKS		16384

/* Nodes a participant of the refining pass takes at a time. */
#define OMENDB_REFINE_CHUNK			64

/* What the participants are asked to do (OmenBuildShared.phase). */
typedef enum OmenBuildPhase
{
	OMENDB_PARALLEL_PLACE,		/* scan the table, place nodes */
	OMENDB_PARALLEL_REFINE,		/* the refining pass */
	OMENDB_PARALLEL_DONE		/* nothing more: leave */
} OmenBuildPhase;

/* Where the shared graph stands (OmenBuildShared.graph). */
typedef enum OmenSharedGraphState
{
	OMENDB_GRAPH_IN_MEMORY,		/* rows go into the shared graph */
	OMENDB_GRAPH_FLUSHING,		/* full: one participant writes it */
	OMENDB_GRAPH_FLUSHED		/* written: rows go through the buffers */
} OmenSharedGraphState;

typedef struct OmenBuildShared
{
	/* set by the leader before the workers start */
	Oid			heaprelid;
	Oid			indexrelid;
	bool		isconcurrent;
	OmenMetaPageData meta;		/* the layout, as trained */
	int			cap;			/* graph nodes the shared arrays hold */
	int			zero_cap;		/* zero nodes they hold */
	int			nlocks;			/* node locks, a power of two */
	int			lock_tranche;

	ConditionVariable cv;		/* every change below is broadcast */
	slock_t		mutex;

	/* under mutex */
	OmenBuildPhase phase;
	OmenSharedGraphState graph;
	int			nnodes;			/* graph node ids handed out */
	int			nzero;			/* zero node slots handed out */
	int			nbusy;			/* participants writing a claimed slot */
	bool		has_entry;
	uint32		entry;
	float		entry_dist;
	int			nplace_done;	/* workers done with pass 2 */
	int			nrefine_done;	/* workers done with the refining pass */
	double		heap_rows;		/* what the participants' scans counted */
	double		indexed;
	int			worker_nodes;	/* graph nodes the workers placed */

	pg_atomic_uint64 rows_done; /* pass 2's rows, for progress */
	pg_atomic_uint32 next_refine;	/* next node the refining pass hands out */
	pg_atomic_uint32 refined;	/* nodes refined, for progress */

	int			cdim;
	float		centroid[FLEXIBLE_ARRAY_MEMBER];	/* cdim */
} OmenBuildShared;

PGDLLEXPORT void omendb_parallel_build_main(dsm_segment *seg, shm_toc *toc);

/* Serially, node 0 is the first; in parallel, whoever comes first. */
static bool
entry_to_place_from(BuildState *bs, uint32 p, float d, uint32 *entry)
{
	OmenBuildShared *sh = bs->shared;
	bool		first;

	if (sh == NULL)
	{
		first = (p == 0);
		if (first)
		{
			bs->entry = p;
			bs->entry_dist = d;
		}
		*entry = bs->entry;
		return !first;
	}

	SpinLockAcquire(&sh->mutex);
	first = !sh->has_entry;
	if (first)
	{
		sh->has_entry = true;
		sh->entry = p;
		sh->entry_dist = d;
	}
	*entry = sh->entry;
	SpinLockRelease(&sh->mutex);
	return !first;
}

/* Make p the entry point if it is nearer the centroid than the entry. */
static void
offer_entry(BuildState *bs, uint32 p, float d)
{
	OmenBuildShared *sh = bs->shared;

	if (sh == NULL)
	{
		if (d < bs->entry_dist)
		{
			bs->entry = p;
			bs->entry_dist = d;
		}
		return;
	}
	SpinLockAcquire(&sh->mutex);
	if (d < sh->entry_dist)
	{
		sh->entry = p;
		sh->entry_dist = d;
	}
	SpinLockRelease(&sh->mutex);
}

/* Pass 2's progress: the leader reports the rows of all participants. */
static void
report_rows_done(BuildState *bs)
{
	uint64		done;

	if (bs->shared == NULL)
	{
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->done);
		return;
	}
	done = pg_atomic_add_fetch_u64(&bs->shared->rows_done, 1);
	if (!IsParallelWorker())
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) done);
}

/* Wait on the shared condition variable (any change is broadcast). */
static void
wait_for_change(OmenBuildShared *sh)
{
	ConditionVariableSleep(&sh->cv, PG_WAIT_EXTENSION);
}

/* What claim_slot gives a row. */
typedef enum OmenClaim
{
	OMENDB_CLAIM_NODE,			/* a graph node id */
	OMENDB_CLAIM_ZERO,			/* a zero node slot */
	OMENDB_CLAIM_FLUSH,			/* nothing: the caller is to write the graph */
	OMENDB_CLAIM_ON_DISK		/* nothing: insert through the buffers */
} OmenClaim;

/*
 * A slot of the shared graph for a row (a node id if nonzero, else a zero
 * node slot).  The first participant that finds the graph full is told to
 * flush it; the others, and everyone after, insert through the buffers.
 * A claimed slot counts as busy until release_slot.
 */
static OmenClaim
claim_slot(OmenBuildShared *sh, bool nonzero, uint32 *slot)
{
	OmenClaim	claim;

	SpinLockAcquire(&sh->mutex);
	if (sh->graph != OMENDB_GRAPH_IN_MEMORY)
		claim = OMENDB_CLAIM_ON_DISK;
	else if (nonzero && sh->nnodes < sh->cap)
	{
		*slot = sh->nnodes++;
		claim = OMENDB_CLAIM_NODE;
	}
	else if (!nonzero && sh->nzero < sh->zero_cap)
	{
		*slot = sh->nzero++;
		claim = OMENDB_CLAIM_ZERO;
	}
	else
	{
		sh->graph = OMENDB_GRAPH_FLUSHING;
		claim = OMENDB_CLAIM_FLUSH;
	}
	if (claim == OMENDB_CLAIM_NODE || claim == OMENDB_CLAIM_ZERO)
		sh->nbusy++;
	SpinLockRelease(&sh->mutex);
	return claim;
}

static void
release_slot(OmenBuildShared *sh)
{
	bool		wake;

	SpinLockAcquire(&sh->mutex);
	sh->nbusy--;
	wake = (sh->nbusy == 0 && sh->graph == OMENDB_GRAPH_FLUSHING);
	SpinLockRelease(&sh->mutex);
	if (wake)
		ConditionVariableBroadcast(&sh->cv);
}

/* Point bs at the shared graph as it stands: nodes, entry, zero nodes. */
static void
load_shared_graph(BuildState *bs)
{
	OmenBuildShared *sh = bs->shared;

	SpinLockAcquire(&sh->mutex);
	bs->g.n = sh->nnodes;
	bs->entry = sh->entry;
	bs->entry_dist = sh->entry_dist;
	bs->nzero_tids = sh->nzero;
	SpinLockRelease(&sh->mutex);
	bs->capzero_tids = sh->zero_cap;
}

/*
 * The shared graph is full: once no one is writing a slot of it any more,
 * refine and write it as the serial build does when it spills, then let
 * everyone insert through the buffers.
 */
static void
flush_shared_graph(BuildState *bs)
{
	OmenBuildShared *sh = bs->shared;

	for (;;)
	{
		bool		idle;

		SpinLockAcquire(&sh->mutex);
		idle = (sh->nbusy == 0);
		SpinLockRelease(&sh->mutex);
		if (idle)
			break;
		wait_for_change(sh);
	}
	ConditionVariableCancelSleep();

	load_shared_graph(bs);
	spill_to_disk(bs);

	SpinLockAcquire(&sh->mutex);
	sh->graph = OMENDB_GRAPH_FLUSHED;
	SpinLockRelease(&sh->mutex);
	ConditionVariableBroadcast(&sh->cv);
}

/* Wait until the shared graph is written; from then on, use the buffers. */
static void
wait_for_flushed_graph(BuildState *bs)
{
	OmenBuildShared *sh = bs->shared;

	if (bs->on_disk)
		return;
	for (;;)
	{
		bool		flushed;

		SpinLockAcquire(&sh->mutex);
		flushed = (sh->graph == OMENDB_GRAPH_FLUSHED);
		SpinLockRelease(&sh->mutex);
		if (flushed)
			break;
		wait_for_change(sh);
	}
	ConditionVariableCancelSleep();
	omendb_invalidate_info(bs->index);
	bs->on_disk = true;
}

/* The shared arrays of zero nodes: TIDs, then their labels. */
static ItemPointerData *
shared_zero_tids(shm_toc *toc)
{
	return shm_toc_lookup(toc, PARALLEL_KEY_ZERO_NODES, false);
}

/*
 * Pass 2 in a parallel build: put the row (its vector prepared in bs->v)
 * in a slot of the shared graph, or through the buffers once the graph is
 * full.  Runs in the row's memory context.
 */
static void
add_row_shared(BuildState *bs, ItemPointer tid, Vector *vec, bool nonzero,
			   float norm)
{
	OmenBuildShared *sh = bs->shared;
	uint32		slot;

	switch (claim_slot(sh, nonzero, &slot))
	{
		case OMENDB_CLAIM_NODE:
			encode_node(bs, slot, tid, vec->x, norm);
			graph_insert(bs, slot);
			release_slot(sh);
			return;
		case OMENDB_CLAIM_ZERO:
			bs->zero_tids[slot] = *tid;
			if (bs->label_size > 0)
				memcpy((char *) bs->zero_labels + (Size) slot * bs->label_size,
					   bs->labels, bs->label_size);
			release_slot(sh);
			return;
		case OMENDB_CLAIM_FLUSH:
			flush_shared_graph(bs);
			break;
		case OMENDB_CLAIM_ON_DISK:
			break;
	}
	wait_for_flushed_graph(bs);
	omendb_insert_vector(bs->index, vec->x, vec->dim, bs->value, tid,
						 bs->labels, false);
}

/*
 * Encode and measure with the quantizer as the workers load it from the
 * pages the leader wrote, so that every participant computes the same
 * codes and distances.
 */
static void
use_written_quantizer(BuildState *bs)
{
	bs->quant = omendb_copy_info(omendb_get_info(bs->index))->quant;
	omendb_query_init(&bs->centroid, bs->quant, OMENDB_METRIC_L2, bs->centroidv,
					  bs->cdim, false);
}

/* Size of the shared struct with its centroid. */
static Size
build_shared_size(int cdim)
{
	return add_size(offsetof(OmenBuildShared, centroid),
					mul_size(sizeof(float), cdim));
}

/*
 * How many graph nodes and zero nodes the shared arrays may hold: what
 * maintenance_work_mem pays for, with everything else the build holds.
 * Each node costs what it costs a serial build, plus a visited mark in
 * every participant but one; the node locks and the zero nodes' arrays
 * come off the top.  Sized from pass 1's counts, with room for 5% more
 * rows (a concurrent build's second scan may see more).
 */
static void
shared_graph_capacity(BuildState *bs, int nparticipants, int *cap,
					  int *zero_cap, int *nlocks)
{
	double		budget = (double) maintenance_work_mem * 1024.0;
	Size		per_node = bs->node_bytes + (nparticipants - 1) * sizeof(uint32);
	Size		per_zero = sizeof(ItemPointerData) + bs->label_size;
	double		want = bs->count * 1.05 + 16;
	double		want_zero = bs->nzero > 0 ? bs->nzero * 1.05 + 16 : 1;

	*nlocks = (int) Min(pg_nextpower2_32((uint32) Min(want, PG_INT32_MAX / 2)),
						OMENDB_BUILD_NODE_LOCKS);
	budget -= (double) *nlocks * sizeof(LWLock);
	*zero_cap = (int) Max(Min(want_zero, Max(budget, 0) / 2 / per_zero), 1);
	budget -= (double) *zero_cap * per_zero;
	*cap = (int) Max(Min(Min(want, Max(budget, 0) / per_node),
						 (double) (INT_MAX / 2)), 1);
}

/*
 * Attach this participant to the shared graph: the store's view with a
 * visited set of its own, the zero nodes' arrays, the queries.
 */
static void
attach_shared_graph(BuildState *bs, OmenBuildShared *sh, shm_toc *toc)
{
	char	   *graph = shm_toc_lookup(toc, PARALLEL_KEY_GRAPH, false);
	LWLock	   *locks = shm_toc_lookup(toc, PARALLEL_KEY_NODE_LOCKS, false);

	LWLockRegisterTranche(sh->lock_tranche, "omendb_build_node");
	bs->shared = sh;
	graph = (char *) TYPEALIGN(PG_CACHE_LINE_SIZE, graph);
	omendb_memstore_attach(&bs->g, &sh->meta, bs->quant, sh->cap, graph,
						   locks, sh->nlocks);
	bs->zero_tids = shared_zero_tids(toc);
	bs->zero_labels = bs->label_size > 0 ?
		(uint64 *) (bs->zero_tids + sh->zero_cap) : NULL;
	bs->capzero_tids = sh->zero_cap;
	omendb_query_init_code(&bs->pivot, bs->quant, NULL);
}

/*
 * Pass 2 in one participant: its share of the parallel table scan.  The
 * totals go to the shared state.
 */
static void
place_shared(BuildState *bs, Relation heap, IndexInfo *indexInfo,
			 ParallelTableScanDesc pscan)
{
	OmenBuildShared *sh = bs->shared;
	TableScanDesc scan = table_beginscan_parallel(heap, pscan);
	double		heap_rows;

	heap_rows = table_index_build_scan(heap, bs->index, indexInfo, true,
									   !IsParallelWorker(), graph_callback,
									   bs, scan);
	SpinLockAcquire(&sh->mutex);
	sh->heap_rows += heap_rows;
	sh->indexed += bs->indexed;
	if (IsParallelWorker())
	{
		sh->worker_nodes += bs->nplaced;
		sh->nplace_done++;
	}
	SpinLockRelease(&sh->mutex);
	if (IsParallelWorker())
		ConditionVariableBroadcast(&sh->cv);
}

/* The refining pass in one participant: chunks of nodes at a time. */
static void
refine_shared(BuildState *bs)
{
	OmenBuildShared *sh = bs->shared;
	MemoryContext nodecxt;

	load_shared_graph(bs);
	nodecxt = AllocSetContextCreate(CurrentMemoryContext, "omendb refine node",
									ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		uint32		start = pg_atomic_fetch_add_u32(&sh->next_refine,
													OMENDB_REFINE_CHUNK);
		uint32		end;
		uint32		refined;

		if (start >= (uint32) bs->g.n)
			break;
		end = Min(start + OMENDB_REFINE_CHUNK, (uint32) bs->g.n);
		for (uint32 p = start; p < end; p++)
		{
			refine_one(bs, p, nodecxt);
			CHECK_FOR_INTERRUPTS();
		}
		refined = pg_atomic_add_fetch_u32(&sh->refined, end - start);
		if (!IsParallelWorker())
			pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) refined);
	}
	MemoryContextDelete(nodecxt);
}

/* The worker's side: wait until the leader moves on from pass 2. */
static OmenBuildPhase
wait_for_next_phase(OmenBuildShared *sh)
{
	OmenBuildPhase phase;

	for (;;)
	{
		SpinLockAcquire(&sh->mutex);
		phase = sh->phase;
		SpinLockRelease(&sh->mutex);
		if (phase != OMENDB_PARALLEL_PLACE)
			break;
		wait_for_change(sh);
	}
	ConditionVariableCancelSleep();
	return phase;
}

/*
 * The leader's side: wait until every launched worker has counted itself
 * in *counter, reporting progress from progress_counter meanwhile.
 */
static void
wait_for_workers(OmenBuildShared *sh, ParallelContext *pcxt, int *counter,
				 bool refining)
{
	WaitForParallelWorkersToAttach(pcxt);
	for (;;)
	{
		int			ndone;

		SpinLockAcquire(&sh->mutex);
		ndone = *counter;
		SpinLockRelease(&sh->mutex);
		if (ndone == pcxt->nworkers_launched)
			break;
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
									 refining ?
									 (int64) pg_atomic_read_u32(&sh->refined) :
									 (int64) pg_atomic_read_u64(&sh->rows_done));
		(void) ConditionVariableTimedSleep(&sh->cv, 1000, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
}

/* Open the relations of a worker, as the leader holds them. */
static void
worker_lock_modes(const OmenBuildShared *sh, LOCKMODE *heapmode,
				  LOCKMODE *indexmode)
{
	if (!sh->isconcurrent)
	{
		*heapmode = ShareLock;
		*indexmode = AccessExclusiveLock;
	}
	else
	{
		*heapmode = ShareUpdateExclusiveLock;
		*indexmode = RowExclusiveLock;
	}
}

/*
 * A worker of a parallel build: load the quantizer the leader wrote, take
 * part in pass 2 and, unless the graph was flushed, in the refining pass.
 */
void
omendb_parallel_build_main(dsm_segment *seg, shm_toc *toc)
{
	OmenBuildShared *sh;
	Relation	heap;
	Relation	index;
	LOCKMODE	heapmode;
	LOCKMODE	indexmode;
	IndexInfo  *indexInfo;
	BuildState	bs;

	debug_query_string = shm_toc_lookup(toc, PARALLEL_KEY_QUERY_TEXT, true);
	pgstat_report_activity(STATE_RUNNING, debug_query_string);

	sh = shm_toc_lookup(toc, PARALLEL_KEY_OMENDB_SHARED, false);
	worker_lock_modes(sh, &heapmode, &indexmode);
	heap = table_open(sh->heaprelid, heapmode);
	index = index_open(sh->indexrelid, indexmode);
	indexInfo = BuildIndexInfo(index);
	indexInfo->ii_Concurrent = sh->isconcurrent;

	init_build_state(&bs, index);
	bs.meta = sh->meta;
	bs.v = palloc(sizeof(float) * bs.cdim);
	bs.quant = omendb_copy_info(omendb_get_info(index))->quant;
	omendb_query_init(&bs.centroid, bs.quant, OMENDB_METRIC_L2, sh->centroid,
					  sh->cdim, false);
	attach_shared_graph(&bs, sh, toc);

	place_shared(&bs, heap, indexInfo,
				 shm_toc_lookup(toc, PARALLEL_KEY_TABLE_SCAN, false));
	if (wait_for_next_phase(sh) == OMENDB_PARALLEL_REFINE)
	{
		refine_shared(&bs);
		SpinLockAcquire(&sh->mutex);
		sh->nrefine_done++;
		SpinLockRelease(&sh->mutex);
		ConditionVariableBroadcast(&sh->cv);
	}

	omendb_memstore_free(&bs.g);
	index_close(index, indexmode);
	table_close(heap, heapmode);
}

/* Tell the workers what comes after pass 2; true if it is refining. */
static bool
start_next_phase(OmenBuildShared *sh)
{
	bool		refine;

	SpinLockAcquire(&sh->mutex);
	refine = (sh->graph == OMENDB_GRAPH_IN_MEMORY);
	sh->phase = refine ? OMENDB_PARALLEL_REFINE : OMENDB_PARALLEL_DONE;
	SpinLockRelease(&sh->mutex);
	ConditionVariableBroadcast(&sh->cv);
	return refine;
}

/*
 * The tranche of the node locks: one per backend that leads builds, taken
 * once (tranche ids are never given back).
 */
static int
node_lock_tranche(void)
{
	static int	tranche = 0;

	if (tranche == 0)
		tranche = LWLockNewTrancheId();
	return tranche;
}

/* Fill in the shared state, before the workers start. */
static OmenBuildShared *
init_build_shared(BuildState *bs, ParallelContext *pcxt, Relation heap,
				  bool isconcurrent, int cap, int zero_cap, int nlocks)
{
	OmenBuildShared *sh = shm_toc_allocate(pcxt->toc, build_shared_size(bs->cdim));

	memset(sh, 0, build_shared_size(bs->cdim));
	sh->heaprelid = RelationGetRelid(heap);
	sh->indexrelid = RelationGetRelid(bs->index);
	sh->isconcurrent = isconcurrent;
	sh->meta = bs->meta;
	sh->cap = cap;
	sh->zero_cap = zero_cap;
	sh->nlocks = nlocks;
	sh->lock_tranche = node_lock_tranche();
	ConditionVariableInit(&sh->cv);
	SpinLockInit(&sh->mutex);
	sh->phase = OMENDB_PARALLEL_PLACE;
	sh->graph = OMENDB_GRAPH_IN_MEMORY;
	sh->entry = OMENDB_INVALID_NODE;
	pg_atomic_init_u64(&sh->rows_done, 0);
	pg_atomic_init_u32(&sh->next_refine, 0);
	pg_atomic_init_u32(&sh->refined, 0);
	sh->cdim = bs->cdim;
	memcpy(sh->centroid, bs->centroidv, sizeof(float) * bs->cdim);
	shm_toc_insert(pcxt->toc, PARALLEL_KEY_OMENDB_SHARED, sh);
	return sh;
}

/* Allocate and insert a chunk of the table of contents. */
static void *
toc_chunk(ParallelContext *pcxt, uint64 key, Size size)
{
	void	   *p = shm_toc_allocate(pcxt->toc, size);

	shm_toc_insert(pcxt->toc, key, p);
	return p;
}

/*
 * Build the graph in parallel with up to request workers.  Returns the
 * heap rows the scans counted, or -1 if no worker could be started (or no
 * shared memory had): the caller then builds serially.
 */
static double
build_graph_parallel(BuildState *bs, Relation heap, IndexInfo *indexInfo,
					 int request)
{
	ParallelContext *pcxt;
	OmenBuildShared *sh;
	Snapshot	snapshot;
	ParallelTableScanDesc pscan;
	Size		graph_size;
	Size		zero_size;
	LWLock	   *locks;
	int			cap;
	int			zero_cap;
	int			nlocks;
	int			querylen = debug_query_string ? strlen(debug_query_string) : 0;
	bool		refine;
	double		heap_rows;
	int			worker_nodes;

	bs->node_bytes = build_bytes_per_node(&bs->meta);
	shared_graph_capacity(bs, request + 1, &cap, &zero_cap, &nlocks);
	graph_size = omendb_memstore_shared_size(&bs->meta, cap) + PG_CACHE_LINE_SIZE;
	zero_size = mul_size(sizeof(ItemPointerData) + bs->label_size, zero_cap);

	EnterParallelMode();
	pcxt = CreateParallelContext("omendb", "omendb_parallel_build_main", request);

	/*
	 * Like any other index build, a plain one takes every row version, a
	 * concurrent one those its snapshot sees.
	 */
	snapshot = indexInfo->ii_Concurrent ?
		RegisterSnapshot(GetTransactionSnapshot()) : SnapshotAny;

	shm_toc_estimate_chunk(&pcxt->estimator, build_shared_size(bs->cdim));
	shm_toc_estimate_chunk(&pcxt->estimator, table_parallelscan_estimate(heap, snapshot));
	shm_toc_estimate_chunk(&pcxt->estimator, graph_size);
	shm_toc_estimate_chunk(&pcxt->estimator, mul_size(sizeof(LWLock), nlocks));
	shm_toc_estimate_chunk(&pcxt->estimator, zero_size);
	shm_toc_estimate_keys(&pcxt->estimator, 5);
	if (debug_query_string)
	{
		shm_toc_estimate_chunk(&pcxt->estimator, querylen + 1);
		shm_toc_estimate_keys(&pcxt->estimator, 1);
	}
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		/* no shared memory: a serial build */
		if (IsMVCCSnapshot(snapshot))
			UnregisterSnapshot(snapshot);
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return -1;
	}

	sh = init_build_shared(bs, pcxt, heap, indexInfo->ii_Concurrent, cap,
						   zero_cap, nlocks);
	pscan = toc_chunk(pcxt, PARALLEL_KEY_TABLE_SCAN,
					  table_parallelscan_estimate(heap, snapshot));
	table_parallelscan_initialize(heap, pscan, snapshot);
	(void) toc_chunk(pcxt, PARALLEL_KEY_GRAPH, graph_size);
	locks = toc_chunk(pcxt, PARALLEL_KEY_NODE_LOCKS, mul_size(sizeof(LWLock), nlocks));
	for (int i = 0; i < nlocks; i++)
		LWLockInitialize(&locks[i], sh->lock_tranche);
	(void) toc_chunk(pcxt, PARALLEL_KEY_ZERO_NODES, zero_size);
	if (debug_query_string)
		memcpy(toc_chunk(pcxt, PARALLEL_KEY_QUERY_TEXT, querylen + 1),
			   debug_query_string, querylen + 1);

	use_written_quantizer(bs);
	attach_shared_graph(bs, sh, pcxt->toc);
	omendb_memstore_clear_shared(&bs->g);

	LaunchParallelWorkers(pcxt);
	if (pcxt->nworkers_launched == 0)
	{
		/* no worker: the serial build, which needs no locks */
		omendb_memstore_free(&bs->g);
		bs->shared = NULL;
		bs->zero_tids = NULL;
		bs->zero_labels = NULL;
		bs->capzero_tids = 0;
		if (IsMVCCSnapshot(snapshot))
			UnregisterSnapshot(snapshot);
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return -1;
	}
	ereport(DEBUG1,
			(errmsg_internal("omendb: building with %d parallel workers",
							 pcxt->nworkers_launched)));

	/* pass 2, the leader taking part */
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_LOAD);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, (int64) (bs->count + bs->nzero));
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, 0);
	place_shared(bs, heap, indexInfo, pscan);
	wait_for_workers(sh, pcxt, &sh->nplace_done, false);

	/* the refining pass, unless the graph was flushed */
	refine = start_next_phase(sh);
	if (refine)
	{
		load_shared_graph(bs);
		pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_REFINE);
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, (int64) bs->g.n);
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, 0);
		refine_shared(bs);
		wait_for_workers(sh, pcxt, &sh->nrefine_done, true);
	}
	WaitForParallelWorkersToFinish(pcxt);

	SpinLockAcquire(&sh->mutex);
	heap_rows = sh->heap_rows;
	bs->indexed = sh->indexed;
	worker_nodes = sh->worker_nodes;
	SpinLockRelease(&sh->mutex);
	ereport(DEBUG1,
			(errmsg_internal("omendb: parallel workers placed %d of %d graph nodes",
							 worker_nodes, worker_nodes + bs->nplaced)));

	/* the leader alone writes the graph (as refine_and_write) */
	if (refine)
	{
		load_shared_graph(bs);
		pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_WRITE);
		write_nodes(bs);
		write_meta(bs->index, MAIN_FORKNUM, &bs->meta, false);
	}
	omendb_memstore_free(&bs->g);

	if (IsMVCCSnapshot(snapshot))
		UnregisterSnapshot(snapshot);
	DestroyParallelContext(pcxt);
	ExitParallelMode();
	bs->shared = NULL;
	return heap_rows;
}

/*
 * How many workers to ask for.  PostgreSQL 17 on plans them for an access
 * method that can build in parallel; before, only for btree, so we ask the
 * planner ourselves, as index_build would (maintenance workers, the
 * table's parallel_workers, its size, and parallel safety).
 */
static int
parallel_workers_requested(Relation heap, Relation index, IndexInfo *indexInfo)
{
#if PG_VERSION_NUM >= 170000
	return indexInfo->ii_ParallelWorkers;
#else
	if (!IsNormalProcessingMode() || IsInParallelMode())
		return 0;
	return plan_create_index_workers(RelationGetRelid(heap),
									 RelationGetRelid(index));
#endif
}
