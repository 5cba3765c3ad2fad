/*-------------------------------------------------------------------------
 *
 * omendb_scan_stats.h
 *	  Counters of index scans, kept per backend (omendb_scan_stats.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_SCAN_STATS_H
#define OMENDB_SCAN_STATS_H

#include "postgres.h"

/*
 * What a scan did.  One run of a scan (from a rescan, or the scan's start,
 * to the next rescan or its end) is one scan here, as it is one idx_scan
 * in pg_stat_user_indexes; so a nested loop's inner scan counts once per
 * outer row that runs it.  README.md, "Per-query counters", says what
 * each field means.
 */
typedef struct OmenScanCounters
{
	int64		scans;			/* runs that began searching */
	int64		nodes_met;		/* nodes read and scored */
	int64		nodes_expanded; /* nodes whose neighbours were met */
	int64		pages_pinned;	/* node page pins taken to read nodes */
	int64		rows_returned;	/* heap TIDs returned to the executor */
	int64		rows_rechecked; /* of those, with a bound to recheck */
	int64		late_rows;		/* held back below an earlier bound */
	int64		swept_rows;		/* live nodes met by reading pages in turn */
} OmenScanCounters;

/*
 * Node page pins taken by this backend to read nodes, in every use of the
 * index (omendb_reader.c, omendb_nodepage.c).  A scan adds what its own
 * calls took.
 */
extern int64 omendb_node_page_pins;

extern void omendb_scan_stats_init(void);
extern void omendb_scan_stats_record(const OmenScanCounters *run);

#endif							/* OMENDB_SCAN_STATS_H */
