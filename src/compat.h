/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Everything that differs between PostgreSQL major versions.
 *
 * omendb targets PostgreSQL 15 first; code elsewhere must not test
 * PG_VERSION_NUM directly but use the macros defined here, so that a port
 * to 13-18 touches this file only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_COMPAT_H
#define OMENDB_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 130000
#error "omendb requires PostgreSQL 13 or later"
#endif

/* PG 16 moved the varlena macros (VARSIZE, VARATT_IS_EXTERNAL...) out of postgres.h. */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/*
 * Headers that PG 14 on includes from others: PROC_IN_VACUUM (for
 * GetCurrentVirtualXIDs) is in storage/proc.h, which PG 13's procarray.h
 * does not include; IsolationUsesXactSnapshot is in access/xact.h.
 */
#if PG_VERSION_NUM < 140000
#include "access/xact.h"
#include "storage/proc.h"
#endif

/*
 * PG 18 replaced the postfix pg_attribute_noreturn() with pg_noreturn, a
 * function specifier written before the declaration.  Both go in front.
 */
#if PG_VERSION_NUM >= 180000
#define OMENDB_NORETURN pg_noreturn
#else
#define OMENDB_NORETURN pg_attribute_noreturn()
#endif

/* PG 16 renamed the relation file locator fields. */
#if PG_VERSION_NUM >= 160000
#define OMENDB_RELFILE_LOCATOR(rel)	((rel)->rd_locator)
#else
#define OMENDB_RELFILE_LOCATOR(rel)	((rel)->rd_node)
#endif

/*
 * ReadRecentBuffer (PG 14 on) takes the relation's file identity, renamed
 * in PG 16.  Before 14 the hint is never taken, and callers read the page
 * the ordinary way.
 */
#if PG_VERSION_NUM >= 140000
#define OMENDB_READ_RECENT_BUFFER(rel, fork, blkno, buf) \
	ReadRecentBuffer(OMENDB_RELFILE_LOCATOR(rel), (fork), (blkno), (buf))
#else
#define OMENDB_READ_RECENT_BUFFER(rel, fork, blkno, buf) false
#endif

/* PG 15 renamed EmitWarningsOnPlaceholders. */
#if PG_VERSION_NUM >= 150000
#define OMENDB_MARK_GUC_PREFIX_RESERVED(prefix) MarkGUCPrefixReserved(prefix)
#else
#define OMENDB_MARK_GUC_PREFIX_RESERVED(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/*
 * aminsert gained the indexUnchanged hint in PG 14 (omendb ignores it, as
 * it ignores every hint about bottom-up deletion).  The macro supplies that
 * parameter, with its leading comma, where the version has it.
 */
#if PG_VERSION_NUM >= 140000
#define OMENDB_AMINSERT_INDEX_UNCHANGED , bool indexUnchanged
#else
#define OMENDB_AMINSERT_INDEX_UNCHANGED
#endif

/* amadjustmembers (PG 14 on): omendb has no callback for it. */
#if PG_VERSION_NUM >= 140000
#define OMENDB_SET_NO_ADJUSTMEMBERS(amroutine) ((amroutine)->amadjustmembers = NULL)
#else
#define OMENDB_SET_NO_ADJUSTMEMBERS(amroutine) ((void) 0)
#endif

/*
 * Index AM routine fields added after PG 15, set to what omendb does:
 * PG 16's amsummarizing (not a summarizing index: HOT updates must insert
 * into it); PG 17's amcanbuildparallel and aminsertcleanup (serial build,
 * nothing to clean up after inserts); PG 18's amcanhash,
 * amconsistentequality and amconsistentordering (no equality or btree-like
 * semantics), amgettreeheight (no tree) and the strategy translations
 * (one ordering strategy, no comparison type).  makeNode zeroes them too;
 * the macro says so where the reader of the handler looks.
 */
#if PG_VERSION_NUM >= 160000
#define OMENDB_SET_AM_FIELDS_16(r) ((r)->amsummarizing = false)
#else
#define OMENDB_SET_AM_FIELDS_16(r) ((void) 0)
#endif
#if PG_VERSION_NUM >= 170000
#define OMENDB_SET_AM_FIELDS_17(r) ((r)->aminsertcleanup = NULL)
#else
#define OMENDB_SET_AM_FIELDS_17(r) ((void) 0)
#endif
#if PG_VERSION_NUM >= 180000
#define OMENDB_SET_AM_FIELDS_18(r) \
	((r)->amcanhash = false, (r)->amconsistentequality = false, \
	 (r)->amconsistentordering = false, (r)->amgettreeheight = NULL, \
	 (r)->amtranslatestrategy = NULL, (r)->amtranslatecmptype = NULL)
#else
#define OMENDB_SET_AM_FIELDS_18(r) ((void) 0)
#endif
#define OMENDB_SET_NEWER_AM_FIELDS(r) \
	(OMENDB_SET_AM_FIELDS_16(r), OMENDB_SET_AM_FIELDS_17(r), \
	 OMENDB_SET_AM_FIELDS_18(r))

/*
 * PG 18 compares paths by their count of disabled nodes before their cost,
 * so with enable_seqscan off an infinite cost alone no longer keeps the
 * planner from an omendb scan without ORDER BY, which can return nothing
 * useful: it counts as disabled too.  Before 18 the seq scan's
 * disable_cost is finite and the infinite cost loses to it.
 */
#if PG_VERSION_NUM >= 180000
#define OMENDB_COUNT_PATH_DISABLED(indexpath) ((indexpath)->path.disabled_nodes++)
#else
#define OMENDB_COUNT_PATH_DISABLED(indexpath) ((void) 0)
#endif

/*
 * PG 18's EXPLAIN ANALYZE shows an index scan's searches, which the access
 * method counts: one per scan of the graph, as pg_stat counts them.
 */
#if PG_VERSION_NUM >= 180000
#include "access/genam.h"
#define OMENDB_COUNT_INDEX_SEARCH(scan) \
	do { \
		if ((scan)->instrument) \
			(scan)->instrument->nsearches++; \
	} while (0)
#else
#define OMENDB_COUNT_INDEX_SEARCH(scan) ((void) 0)
#endif

/* PG 14 gave make_simple_restrictinfo the planner's state. */
#if PG_VERSION_NUM >= 140000
#define OMENDB_MAKE_SIMPLE_RESTRICTINFO(root, clause) \
	make_simple_restrictinfo(root, clause)
#else
#define OMENDB_MAKE_SIMPLE_RESTRICTINFO(root, clause) \
	make_simple_restrictinfo(clause)
#endif

/* PG 18's vacuum_delay_point says whether ANALYZE is the caller. */
#if PG_VERSION_NUM >= 180000
#define OMENDB_VACUUM_DELAY_POINT() vacuum_delay_point(false)
#else
#define OMENDB_VACUUM_DELAY_POINT() vacuum_delay_point()
#endif

/* PG 17 renamed IsAutoVacuumWorkerProcess (miscadmin.h there). */
#if PG_VERSION_NUM >= 170000
#define OMENDB_IS_AUTOVACUUM_WORKER() AmAutoVacuumWorkerProcess()
#else
#define OMENDB_IS_AUTOVACUUM_WORKER() IsAutoVacuumWorkerProcess()
#endif

/*
 * EXPLAIN: PG 17 exports standard_ExplainOneQuery (before, an
 * ExplainOneQuery_hook repeats its body), and PG 18 moves ExplainState
 * and the output functions into headers of their own.  Only PG 18 has a
 * hook for output per plan node (explain_per_node_hook).
 */
#if PG_VERSION_NUM >= 170000
#define OMENDB_HAVE_STANDARD_EXPLAIN_ONE_QUERY 1
#endif
#if PG_VERSION_NUM >= 180000
#define OMENDB_HAVE_EXPLAIN_STATE_H 1
#endif

/* C11's smallest subnormal float, which -std=gnu99 does not define */
#ifndef FLT_TRUE_MIN
#define FLT_TRUE_MIN __FLT_DENORM_MIN__
#endif

#endif							/* OMENDB_COMPAT_H */
