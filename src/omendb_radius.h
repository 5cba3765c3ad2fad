/*-------------------------------------------------------------------------
 *
 * omendb_radius.h
 *	  Radius queries: the ball type's operators and the planner hook that
 *	  turns "v <-> q < r" into a scan key (see "Radius scans" in
 *	  README.omendb).
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_RADIUS_H
#define OMENDB_RADIUS_H

#include "postgres.h"

/* The strategy number of the ball operators <<->, <<=> and <<#>. */
#define OMENDB_RADIUS_STRATEGY	2

/*
 * Read a ball (an omendb_ball composite datum): false if its center or
 * radius is NULL, else *center (a vector datum, not detoasted) and
 * *radius.
 */
extern bool omendb_ball_fields(Datum ball, Datum *center, double *radius);

/* omendb.radius_exact: sweep the unmet nodes once past the radius */
extern bool omendb_radius_exact;

/* omendb_planner.c */
extern void omendb_planner_init(void);

#endif							/* OMENDB_RADIUS_H */
