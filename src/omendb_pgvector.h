/*-------------------------------------------------------------------------
 *
 * omendb_pgvector.h
 *	  Indexing pgvector's own vector and halfvec columns (the companion
 *	  extension omendb_pgvector): what differs when the executor rechecks
 *	  with pgvector's distance functions (omendb_pgvector.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_PGVECTOR_H
#define OMENDB_PGVECTOR_H

#include "omendb.h"
#include "utils/relcache.h"

/*
 * Or'ed into the metric that support function 1 returns: the operator
 * class's distance operators compute in plain float sums, with no double
 * fallback where those sums overflow or lose every significant bit
 * (pgvector's).  metric_from_datum strips it.
 */
#define OMENDB_METRIC_FLOAT_SUMS	0x100

extern bool omendb_index_float_sums(Relation index);
extern float omendb_float_sums_error(bool float_sums, OmenMetric metric,
									 const float *x, int dim, float error);
extern void omendb_float_sums_limits(bool float_sums, OmenMetric metric,
									 const float *q, int dim,
									 double *bound_cap, double *norm_cap);

#endif							/* OMENDB_PGVECTOR_H */
