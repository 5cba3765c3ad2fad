/*-------------------------------------------------------------------------
 *
 * omendb_heapvec.c
 *	  The vectors of an index's heap rows, by TID, as the index holds them:
 *	  what VACUUM's refit trains on and re-encodes from, and what its
 *	  repair of a graph placed from vectors measures from.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "executor/executor.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "omendb.h"
#include "omendb_metric.h"
#include "omendb_quant.h"

struct OmenHeapVectors
{
	Relation	heap;
	IndexInfo  *indexInfo;
	EState	   *estate;
	ExprContext *econtext;
	TupleTableSlot *slot;
	IndexFetchTableData *fetch;
};

/* Start reading the vectors of the rows of index's table. */
OmenHeapVectors *
omendb_heap_vectors_begin(Relation index)
{
	OmenHeapVectors *hv = palloc(sizeof(OmenHeapVectors));

	hv->heap = table_open(IndexGetRelation(RelationGetRelid(index), false),
						  AccessShareLock);
	hv->indexInfo = BuildIndexInfo(index);
	hv->estate = CreateExecutorState();
	hv->econtext = GetPerTupleExprContext(hv->estate);
	hv->slot = table_slot_create(hv->heap, NULL);
	hv->econtext->ecxt_scantuple = hv->slot;
	hv->fetch = table_index_fetch_begin(hv->heap);
	return hv;
}

void
omendb_heap_vectors_end(OmenHeapVectors *hv)
{
	table_index_fetch_end(hv->fetch);
	ExecDropSingleTupleTableSlot(hv->slot);
	FreeExecutorState(hv->estate);
	table_close(hv->heap, AccessShareLock);
	pfree(hv);
}

/*
 * The vector, as indexed (code_dims floats into v), of the heap row a live
 * node points to, or false if there is none to be had: the row's line
 * pointer is dead, or its vector is a zero vector under cosine.  Any
 * version will do (SnapshotAny): the index points to a HOT chain's root,
 * and every version in the chain has the same indexed value.  The value is
 * read while the slot still pins the row's page: an unpinned page may be
 * pruned under it.  Called with no buffer lock held: this reads the heap
 * and detoasts (into the current memory context).
 */
bool
omendb_heap_vector(OmenHeapVectors *hv, Relation index,
				   const OmenMetaPageData *meta, ItemPointer tid, float *v)
{
	ItemPointerData t = *tid;
	bool		call_again = false;
	bool		all_dead = false;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	Vector	   *vec;
	float		norm;
	bool		found;

	ResetExprContext(hv->econtext);
	found = table_index_fetch_tuple(hv->fetch, &t, SnapshotAny, hv->slot,
									&call_again, &all_dead);
	if (!found)
		return false;
	FormIndexDatum(hv->indexInfo, hv->slot, hv->estate, values, isnull);
	found = !isnull[0];
	if (found)
	{
		vec = omendb_datum_vector(index, values[0]);
		found = vec->dim == meta->dimensions &&
			omendb_prepare_vector(meta->metric, vec->x, vec->dim,
								  meta->ip_max_norm, v, &norm);
	}
	ExecClearTuple(hv->slot);
	return found;
}
