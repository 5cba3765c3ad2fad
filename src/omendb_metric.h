/*-------------------------------------------------------------------------
 *
 * omendb_metric.h
 *	  Metric transforms: the vector an index works on, from a heap vector
 *	  or a query (omendb_metric.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_METRIC_H
#define OMENDB_METRIC_H

#include "omendb.h"
#include "vector.h"

/*
 * Operator class support functions: 1 names the metric (required), 2
 * converts a value of the class's type to vector (for types other than
 * vector).
 */
#define OMENDB_METRIC_PROC		1
#define OMENDB_TO_VECTOR_PROC	2

extern Vector *omendb_datum_vector(Relation index, Datum value);
extern char *omendb_type_name(Oid typid);
extern int	omendb_value_size(Relation index, int dim);
extern void omendb_check_value_size(Relation index, const void *value,
									uint32 value_size);
extern bool omendb_prepare_vector(OmenMetric metric, const float *in,
								  int dim, float ip_max_norm, float *out,
								  float *norm);
extern void omendb_check_ip_norm(Relation index, OmenMetric metric,
								 float norm);
extern void omendb_prepare_query(OmenMetric metric, const float *in, int dim,
								 float *out);

#endif							/* OMENDB_METRIC_H */
