/*-------------------------------------------------------------------------
 *
 * omendb_build_parallel.c
 *	  Parallel CREATE INDEX: pass 2 and the refining pass in the leader and
 *	  the workers of a ParallelContext at once, on one graph in dynamic
 *	  shared memory.
 *
 * Pass 1, training and the final writing stay with the leader, as in a
 * serial build (omendb_build.c).  The leader then lays out the shared
 * memory: the state every participant sees (OmenBuildShared), the graph's
 * arrays, the node locks, the zero nodes' arrays and a parallel table
 * scan.  Every participant, the leader too, scans its share of the table
 * and places each row's node in the one graph with the serial build's own
 * steps; node ids and zero node slots are handed out under a spinlock.  If
 * the graph fills up, the first participant to find it full writes it as
 * a serial build spills, and from then on everyone inserts through the
 * buffers.  Otherwise the participants refine the graph together, a chunk
 * of nodes at a time, and the leader alone writes it.
 *
 * README.omendb, "Parallel build", gives the locking protocol and the
 * measurements.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "port/pg_bitutils.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "omendb_build.h"
#include "omendb_graph.h"
#include "omendb_page.h"
#include "omendb_quant.h"

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

/* ----------------------------------------------------------------
 *		What a shared graph changes in the serial build's steps
 *
 * omendb_build.c calls these for every node and row, in a serial build
 * too, where bs->shared is NULL.  They are here because their parallel
 * half reaches into OmenBuildShared, which no other file sees.
 * ----------------------------------------------------------------
 */

/* Serially, node 0 is the first; in parallel, whoever comes first. */
bool
omendb_build_entry_to_place_from(BuildState *bs, uint32 p, float d,
								 uint32 *entry)
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
void
omendb_build_offer_entry(BuildState *bs, uint32 p, float d)
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
void
omendb_build_report_rows_done(BuildState *bs)
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
	omendb_build_spill_to_disk(bs);

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
void
omendb_build_add_row_shared(BuildState *bs, ItemPointer tid, Vector *vec,
							bool nonzero, float norm)
{
	OmenBuildShared *sh = bs->shared;
	uint32		slot;

	switch (claim_slot(sh, nonzero, &slot))
	{
		case OMENDB_CLAIM_NODE:
			omendb_build_encode_node(bs, slot, tid, vec->x, norm);
			omendb_build_graph_insert(bs, slot);
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
					  bs->cdim, OMENDB_QUERY_GRAPH);
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
									   !IsParallelWorker(),
									   omendb_build_graph_callback, bs, scan);
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
			omendb_build_refine_one(bs, p, nodecxt);
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
	OmenIndexInfo *info;

	debug_query_string = shm_toc_lookup(toc, PARALLEL_KEY_QUERY_TEXT, true);
	pgstat_report_activity(STATE_RUNNING, debug_query_string);

	sh = shm_toc_lookup(toc, PARALLEL_KEY_OMENDB_SHARED, false);
	worker_lock_modes(sh, &heapmode, &indexmode);
	heap = table_open(sh->heaprelid, heapmode);
	index = index_open(sh->indexrelid, indexmode);
	indexInfo = BuildIndexInfo(index);
	indexInfo->ii_Concurrent = sh->isconcurrent;

	omendb_build_init_state(&bs, index);
	bs.meta = sh->meta;
	bs.v = palloc(sizeof(float) * bs.cdim);
	info = omendb_copy_info(omendb_get_info(index));
	bs.quant = info->quant;
	bs.sketch = info->sketch;
	omendb_query_init(&bs.centroid, bs.quant, OMENDB_METRIC_L2, sh->centroid,
					  sh->cdim, OMENDB_QUERY_GRAPH);
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

/*
 * Tell the workers what comes after pass 2: refining, if the build refines
 * and the graph is still in memory.  Returns whether it is (not flushed).
 */
static bool
start_next_phase(OmenBuildShared *sh, bool refines)
{
	bool		in_memory;

	SpinLockAcquire(&sh->mutex);
	in_memory = (sh->graph == OMENDB_GRAPH_IN_MEMORY);
	sh->phase = in_memory && refines ?
		OMENDB_PARALLEL_REFINE : OMENDB_PARALLEL_DONE;
	SpinLockRelease(&sh->mutex);
	ConditionVariableBroadcast(&sh->cv);
	return in_memory;
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
double
omendb_build_graph_parallel(BuildState *bs, Relation heap,
							IndexInfo *indexInfo, int request)
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
	bool		in_memory;
	double		heap_rows;
	int			worker_nodes;

	bs->node_bytes = omendb_build_bytes_per_node(&bs->meta);
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
	in_memory = start_next_phase(sh, omendb_build_refines(bs));
	if (in_memory && omendb_build_refines(bs))
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

	/* the leader alone writes the graph, as refine_and_write does serially */
	if (in_memory)
	{
		load_shared_graph(bs);
		pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMENDB_PHASE_WRITE);
		omendb_build_write_nodes(bs);
		omendb_build_write_meta(bs->index, MAIN_FORKNUM, &bs->meta, false);
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
int
omendb_build_parallel_workers_requested(Relation heap, Relation index,
										IndexInfo *indexInfo)
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
