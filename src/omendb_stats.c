/*-------------------------------------------------------------------------
 *
 * omendb_stats.c
 *	  omendb_index_stats(index): a cheap, read-only health summary of an
 *	  omendb index.
 *
 * Unlike omendb_check, which reads every page, this reads the meta page,
 * the insert page and a bounded sample of node pages, so that it can be
 * called as often as a monitoring system likes on an index of any size.
 * The node counts come from the counters the meta page keeps exact
 * (README.omendb, "Node counters"); the node slots from the insert page,
 * the last node page; the out-degree and the quantizer's fitness from the
 * sample, computed as omendb_check computes them over every node.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "access/xlog.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "omendb_labels.h"
#include "omendb_page.h"
#include "omendb_quant.h"

PG_FUNCTION_INFO_V1(omendb_index_stats);

/*
 * Node pages read for the sampled figures, at most, evenly spread over the
 * node pages.  Bounded so that a call costs the same on an index of any
 * size (32 share-locked pages, 256 kB: 0.2-0.3 ms with the pages cached);
 * at the default graph_degree a page holds from 4 nodes (1,536
 * dimensions) to about 45 (a few), so that is 128 to 1,440 nodes, enough
 * for a mean degree or an error ratio to two digits and for a clamped
 * fraction of a few percent to show.
 */
#define STATS_SAMPLE_PAGES		32

/* The columns omendb_index_stats returns. */
typedef enum StatsColumn
{
	STATS_HEAP_ROWS,
	STATS_NODES,
	STATS_LIVE_NODES,
	STATS_DELETED_NODES,
	STATS_FREE_NODES,
	STATS_BYTES,
	STATS_BYTES_PER_LIVE_ROW,
	STATS_DIMENSIONS,
	STATS_METRIC,
	STATS_QUANTIZER,
	STATS_BITS,
	STATS_QUANTIZER_TRAINED,
	STATS_CODE_BYTES,
	STATS_NODE_BYTES,
	STATS_STORE_VECTORS,
	STATS_GRAPH_DEGREE,
	STATS_MAX_DEGREE,
	STATS_BUILD_LIST_SIZE,
	STATS_ALPHA,
	STATS_SAMPLED_NODES,
	STATS_MEAN_DEGREE,
	STATS_CLAMPED_FRACTION,
	STATS_MEAN_ERROR_RATIO,
	STATS_ENTRY_NODE,
	STATS_VACUUM_DELETED,
	STATS_VACUUM_FREED,
	STATS_VACUUM_REPAIRED,
	STATS_VACUUM_LINKED,
	STATS_WALK_RATE,
	STATS_SIGNATURE_BITS,
	STATS_NCOLUMNS
} StatsColumn;

/* What the sample of node pages found. */
typedef struct NodeSample
{
	int64		live;			/* live nodes read */
	int64		graph;			/* those of them in the graph */
	int64		degree_sum;		/* their out-degrees added up */
	OmenFitness fitness;
} NodeSample;

/*
 * Read up to STATS_SAMPLE_PAGES node pages, evenly spread over the node
 * pages before and including last, one at a time under a share lock, and
 * add up their live nodes.
 */
static void
sample_node_pages(Relation index, const OmenIndexInfo *info,
				  BlockNumber last, NodeSample *sample)
{
	const OmenMetaPageData *meta = &info->meta;
	BlockNumber npages = last - meta->first_node_block + 1;
	BlockNumber nsample = Min(npages, STATS_SAMPLE_PAGES);
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);

	memset(sample, 0, sizeof(NodeSample));
	omendb_fitness_init(&sample->fitness, info->quant, meta->quant_current,
						info->quant_other);
	for (BlockNumber i = 0; i < nsample; i++)
	{
		BlockNumber blkno = meta->first_node_block +
			(BlockNumber) ((uint64) i * npages / nsample);
		Buffer		buf;
		Page		page;

		/* (the last page is a node page: the one after a label page is) */
		if (omendb_is_label_block(meta, blkno))
			blkno++;
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 strategy);

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		omendb_check_node_page(index, buf, page, meta);
		for (OffsetNumber off = FirstOffsetNumber;
			 off <= PageGetMaxOffsetNumber(page); off++)
		{
			OmenNodeHeader hdr = omendb_page_node_at(index, page, meta,
													 blkno, off);
			bool		zero;

			if (hdr->flags != OMENDB_NODE_LIVE)
				continue;
			zero = OmenNodeIsZero(meta->metric, hdr);
			sample->live++;
			omendb_fitness_add(&sample->fitness, hdr, zero);
			if (!zero)
			{
				sample->graph++;
				sample->degree_sum += hdr->nneighbors;
			}
		}
		UnlockReleaseBuffer(buf);
	}
	FreeAccessStrategy(strategy);
}

static const char *
metric_name(OmenMetric metric)
{
	switch (metric)
	{
		case OMENDB_METRIC_L2:
			return "l2";
		case OMENDB_METRIC_IP:
			return "ip";
		case OMENDB_METRIC_COSINE:
			return "cosine";
		case OMENDB_METRIC_L1:
			return "l1";
	}
	return "unknown";
}

/* Fill in what the meta page, the insert page and the sample tell. */
static void
index_stats(Relation index, int64 bytes, Datum *values, bool *nulls)
{
	OmenMetaPageData meta;
	int64		nodes = omendb_read_meta_and_slots(index, &meta);
	const OmenQuantRoutine *quant = omendb_quant_routine(meta.quantizer);

	values[STATS_NODES] = Int64GetDatum(nodes);
	if (omendb_meta_counts_all(&meta))
	{
		int64		live = nodes - meta.deleted_nodes - meta.free_nodes;

		values[STATS_LIVE_NODES] = Int64GetDatum(live);
		values[STATS_DELETED_NODES] = Int64GetDatum(meta.deleted_nodes);
		values[STATS_FREE_NODES] = Int64GetDatum(meta.free_nodes);
		if (live > 0)
			values[STATS_BYTES_PER_LIVE_ROW] = Float8GetDatum((double) bytes / live);
		else
			nulls[STATS_BYTES_PER_LIVE_ROW] = true;
	}
	else
	{
		/* a meta page that predates the counters: VACUUM counts them */
		nulls[STATS_LIVE_NODES] = true;
		nulls[STATS_DELETED_NODES] = true;
		nulls[STATS_FREE_NODES] = true;
		nulls[STATS_BYTES_PER_LIVE_ROW] = true;
	}

	/* until the first vector of an index built empty, no layout */
	nulls[STATS_DIMENSIONS] = meta.dimensions == 0;
	values[STATS_DIMENSIONS] = Int32GetDatum(meta.dimensions);
	values[STATS_METRIC] = CStringGetTextDatum(metric_name(meta.metric));
	values[STATS_QUANTIZER] = CStringGetTextDatum(quant->name);
	/* a quantizer without the bits option (SQ8) shows NULL */
	nulls[STATS_BITS] = OmenQuantBits(meta.quantizer) == 0;
	values[STATS_BITS] = Int32GetDatum(OmenQuantBits(meta.quantizer));
	values[STATS_QUANTIZER_TRAINED] = BoolGetDatum(meta.quant_trained);
	nulls[STATS_CODE_BYTES] = !meta.quant_trained;
	values[STATS_CODE_BYTES] = Int32GetDatum(meta.code_size);
	nulls[STATS_NODE_BYTES] = !meta.quant_trained;
	values[STATS_NODE_BYTES] = Int32GetDatum(meta.node_size);
	nulls[STATS_STORE_VECTORS] = !meta.quant_trained;
	values[STATS_STORE_VECTORS] = BoolGetDatum(meta.value_size > 0);
	values[STATS_GRAPH_DEGREE] = Int32GetDatum(meta.graph_degree);
	values[STATS_MAX_DEGREE] = Int32GetDatum(meta.max_degree);
	values[STATS_BUILD_LIST_SIZE] = Int32GetDatum(meta.build_list_size);
	values[STATS_ALPHA] = Float4GetDatum(meta.alpha);
	nulls[STATS_ENTRY_NODE] = meta.entry_node == OMENDB_INVALID_NODE;
	values[STATS_ENTRY_NODE] = Int64GetDatum(meta.entry_node);

	nulls[STATS_VACUUM_DELETED] = nulls[STATS_VACUUM_FREED] =
		nulls[STATS_VACUUM_REPAIRED] = nulls[STATS_VACUUM_LINKED] =
		meta.vacuum_cleanups == 0;
	values[STATS_VACUUM_DELETED] = Int64GetDatum(meta.vacuum_deleted);
	values[STATS_VACUUM_FREED] = Int64GetDatum(meta.vacuum_freed);
	values[STATS_VACUUM_REPAIRED] = Int64GetDatum(meta.vacuum_repaired);
	values[STATS_VACUUM_LINKED] = Int64GetDatum(meta.vacuum_linked);
	/* NULL until measured (omendb_measure_walk_rate) */
	nulls[STATS_WALK_RATE] = !(meta.walk_rate > 0);
	values[STATS_WALK_RATE] = Float4GetDatum(meta.walk_rate);
	values[STATS_SIGNATURE_BITS] = Int32GetDatum(meta.signature_bits);

	nulls[STATS_MEAN_DEGREE] = nulls[STATS_CLAMPED_FRACTION] =
		nulls[STATS_MEAN_ERROR_RATIO] = true;
	values[STATS_SAMPLED_NODES] = Int64GetDatum(0);
	if (meta.quant_trained && meta.insert_block != InvalidBlockNumber)
	{
		/* trained, so the relcache keeps the quantizer: copy it */
		OmenIndexInfo *info = omendb_copy_info(omendb_get_info(index));
		NodeSample sample;

		sample_node_pages(index, info, meta.insert_block, &sample);
		values[STATS_SAMPLED_NODES] = Int64GetDatum(sample.live);
		if (sample.graph > 0)
		{
			nulls[STATS_MEAN_DEGREE] = false;
			values[STATS_MEAN_DEGREE] =
				Float8GetDatum((double) sample.degree_sum / sample.graph);
		}
		if (sample.live > 0)
		{
			nulls[STATS_CLAMPED_FRACTION] = false;
			values[STATS_CLAMPED_FRACTION] =
				Float8GetDatum((double) sample.fitness.clamped / sample.live);
		}
		if (sample.fitness.ratio_nodes > 0)
		{
			nulls[STATS_MEAN_ERROR_RATIO] = false;
			values[STATS_MEAN_ERROR_RATIO] =
				Float8GetDatum(sample.fitness.ratio_sum / sample.fitness.ratio_nodes);
		}
		pfree(info);
	}
}

/*
 * omendb_index_stats(index regclass, OUT heap_rows float8, OUT nodes bigint,
 *					  ...): see src/sql/omendb_stats.sql for the columns.
 *
 * Callable by whoever may SELECT from the index's table: it tells no more
 * about the rows than their number, which pg_class shows to all.  Locks
 * the table and the index with AccessShareLock, as a query would.
 */
Datum
omendb_index_stats(PG_FUNCTION_ARGS)
{
	Oid			indrelid = PG_GETARG_OID(0);
	Relation	heap;
	Relation	index;
	TupleDesc	tupdesc;
	Datum		values[STATS_NCOLUMNS] = {0};
	bool		nulls[STATS_NCOLUMNS] = {0};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	index = omendb_open_index(indrelid, true, &heap);

	/* reltuples is -1 until the table is first vacuumed or analyzed */
	if (heap->rd_rel->reltuples >= 0)
		values[STATS_HEAP_ROWS] = Float8GetDatum(heap->rd_rel->reltuples);
	else
		nulls[STATS_HEAP_ROWS] = true;

	/* an unlogged index has no main fork on a standby: nothing to read */
	if (index->rd_rel->relpersistence != RELPERSISTENCE_UNLOGGED ||
		!RecoveryInProgress())
	{
		int64		bytes = (int64) RelationGetNumberOfBlocks(index) * BLCKSZ;

		values[STATS_BYTES] = Int64GetDatum(bytes);
		index_stats(index, bytes, values, nulls);
	}
	else
	{
		for (int i = 0; i < STATS_NCOLUMNS; i++)
			nulls[i] = i != STATS_HEAP_ROWS;
	}

	/* nothing here sends invalidations: the locks may go before commit */
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);

	tupdesc = BlessTupleDesc(tupdesc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
