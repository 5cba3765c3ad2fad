/*-------------------------------------------------------------------------
 *
 * omendb_build.h
 *	  CREATE INDEX's own header: the state of a build, and the routines
 *	  the serial build (omendb_build.c) and the parallel build
 *	  (omendb_build_parallel.c) call across.
 *
 * A parallel build runs pass 2 and the refining pass with the serial
 * build's own steps (encode a row, place a node, refine one, spill, write
 * the pages), in every participant; those steps in turn ask the parallel
 * side for what a shared graph changes (the entry point, a row's slot,
 * progress), and find there that a serial build has no shared state.
 * Only these two files include this header.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_BUILD_H
#define OMENDB_BUILD_H

#include "omendb.h"
#include "omendb_filter.h"
#include "omendb_graph.h"
#include "omendb_quant.h"

/* A build, in the leader or in one participant of a parallel build. */
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
	uint64	   *labels;			/* scratch: the row's labels, then its
								 * sketch words (its directory entry) */
	struct OmenSketch *sketch;	/* the sketch, once learnt; or NULL */
	int			value_size;		/* bytes of a value stored on a node, or
								 * 0 */
	const void *value;			/* the row's value, detoasted, if stored */

	/* pass 1 */
	double		scanned;		/* heap rows seen, NULLs included */
	double		count;			/* vectors to index in the graph */
	double		nzero;			/* zero vectors under cosine: zero nodes */
	float	   *minv;
	float	   *maxv;
	double	   *sum;
	float	   *sample;			/* a uniform sample of the vectors, for
								 * the sketch (nsample of them) */
	int			nsample;
	int			capsample;
	uint64		sample_state;	/* the sampler's generator */

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

	/* a parallel build's shared state (omendb_build_parallel.c), or NULL */
	struct OmenBuildShared *shared;
	int			nplaced;		/* nodes this participant placed */
} BuildState;

/* omendb_build.c: the serial build's steps, which parallel ones share */
extern Size omendb_build_bytes_per_node(const OmenMetaPageData *meta);
extern void omendb_build_init_state(BuildState *bs, Relation index);
extern void omendb_build_encode_node(BuildState *bs, uint32 p,
									 ItemPointer tid, const float *x,
									 float norm);
extern void omendb_build_graph_insert(BuildState *bs, uint32 p);
extern bool omendb_build_refines(const BuildState *bs);
extern void omendb_build_refine_one(BuildState *bs, uint32 p,
									MemoryContext nodecxt);
extern void omendb_build_graph_callback(Relation index, ItemPointer tid,
										Datum *values, bool *isnull,
										bool tupleIsAlive, void *state);
extern void omendb_build_spill_to_disk(BuildState *bs);
extern void omendb_build_write_meta(Relation index, ForkNumber fork,
									const OmenMetaPageData *meta,
									bool use_wal);
extern void omendb_build_write_nodes(BuildState *bs);

/* omendb_build_parallel.c */
extern bool omendb_build_entry_to_place_from(BuildState *bs, uint32 p,
											 float d, uint32 *entry);
extern void omendb_build_offer_entry(BuildState *bs, uint32 p, float d);
extern void omendb_build_add_row_shared(BuildState *bs, ItemPointer tid,
										Vector *vec, bool nonzero,
										float norm);
extern void omendb_build_report_rows_done(BuildState *bs);
extern double omendb_build_graph_parallel(BuildState *bs, Relation heap,
										  IndexInfo *indexInfo, int request);
extern int	omendb_build_parallel_workers_requested(Relation heap,
													Relation index,
													IndexInfo *indexInfo);

#endif							/* OMENDB_BUILD_H */
