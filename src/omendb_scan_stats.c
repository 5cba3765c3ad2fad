/*-------------------------------------------------------------------------
 *
 * omendb_scan_stats.c
 *	  Per-backend counters of index scans: the last scan's, the sum since
 *	  the backend started or they were reset, and a line in EXPLAIN
 *	  ANALYZE with what the query's scans did.
 *
 * Each scan counts in its own state (omendb_scan.c), in plain increments
 * where it already does the work, and hands the counts of a run over here
 * when the run ends.  Nothing is shared between backends: pg_stat_user_
 * indexes keeps the cluster-wide idx_scan and idx_tup_read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/explain.h"
#include "executor/instrument.h"
#include "funcapi.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "compat.h"
#include "omendb_scan_stats.h"

#ifdef OMENDB_HAVE_EXPLAIN_STATE_H
#include "commands/explain_format.h"
#include "commands/explain_state.h"
#endif

PG_FUNCTION_INFO_V1(omendb_scan_stats);
PG_FUNCTION_INFO_V1(omendb_scan_stats_reset);

int64		omendb_node_page_pins = 0;

/* The last run to end, and the sum of runs since start or reset. */
static OmenScanCounters last_scan;
static OmenScanCounters backend_scans;

/* The sum since the backend started, never reset: EXPLAIN's baseline. */
static OmenScanCounters since_start;

static bool omendb_explain_counters = true;

static ExplainOneQuery_hook_type prev_ExplainOneQuery_hook = NULL;

static void
add_counters(OmenScanCounters *sum, const OmenScanCounters *run)
{
	sum->scans += run->scans;
	sum->nodes_met += run->nodes_met;
	sum->nodes_expanded += run->nodes_expanded;
	sum->pages_pinned += run->pages_pinned;
	sum->rows_returned += run->rows_returned;
	sum->rows_rechecked += run->rows_rechecked;
	sum->late_rows += run->late_rows;
	sum->swept_rows += run->swept_rows;
}

static void
subtract_counters(OmenScanCounters *diff, const OmenScanCounters *a,
				  const OmenScanCounters *b)
{
	diff->scans = a->scans - b->scans;
	diff->nodes_met = a->nodes_met - b->nodes_met;
	diff->nodes_expanded = a->nodes_expanded - b->nodes_expanded;
	diff->pages_pinned = a->pages_pinned - b->pages_pinned;
	diff->rows_returned = a->rows_returned - b->rows_returned;
	diff->rows_rechecked = a->rows_rechecked - b->rows_rechecked;
	diff->late_rows = a->late_rows - b->late_rows;
	diff->swept_rows = a->swept_rows - b->swept_rows;
}

/* A run of a scan has ended: it becomes the last scan, and is summed. */
void
omendb_scan_stats_record(const OmenScanCounters *run)
{
	last_scan = *run;
	add_counters(&backend_scans, run);
	add_counters(&since_start, run);
}

/* ----------------------------------------------------------------
 *		SQL functions
 * ----------------------------------------------------------------
 */

#define SCAN_STATS_COLUMNS	9

static HeapTuple
scan_stats_tuple(TupleDesc desc, const char *scope,
				 const OmenScanCounters *c)
{
	Datum		values[SCAN_STATS_COLUMNS];
	bool		nulls[SCAN_STATS_COLUMNS] = {0};

	values[0] = CStringGetTextDatum(scope);
	values[1] = Int64GetDatum(c->scans);
	values[2] = Int64GetDatum(c->nodes_met);
	values[3] = Int64GetDatum(c->nodes_expanded);
	values[4] = Int64GetDatum(c->pages_pinned);
	values[5] = Int64GetDatum(c->rows_returned);
	values[6] = Int64GetDatum(c->rows_rechecked);
	values[7] = Int64GetDatum(c->late_rows);
	values[8] = Int64GetDatum(c->swept_rows);
	return heap_form_tuple(desc, values, nulls);
}

/*
 * omendb_scan_stats(): two rows, 'last_scan' and 'backend', as of the
 * first call (so that a scan ending while the rows go out changes
 * neither).
 */
Datum
omendb_scan_stats(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	OmenScanCounters *rows;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcxt;
		TupleDesc	desc;

		funcctx = SRF_FIRSTCALL_INIT();
		oldcxt = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		if (desc->natts != SCAN_STATS_COLUMNS)
			elog(ERROR, "omendb_scan_stats() is declared with %d columns, not %d",
				 desc->natts, SCAN_STATS_COLUMNS);
		funcctx->tuple_desc = BlessTupleDesc(desc);
		rows = palloc(sizeof(OmenScanCounters) * 2);
		rows[0] = last_scan;
		rows[1] = backend_scans;
		funcctx->user_fctx = rows;
		funcctx->max_calls = 2;
		MemoryContextSwitchTo(oldcxt);
	}
	funcctx = SRF_PERCALL_SETUP();
	rows = funcctx->user_fctx;
	if (funcctx->call_cntr < funcctx->max_calls)
	{
		int			i = funcctx->call_cntr;
		HeapTuple	tuple;

		tuple = scan_stats_tuple(funcctx->tuple_desc,
								 i == 0 ? "last_scan" : "backend", &rows[i]);
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(tuple));
	}
	SRF_RETURN_DONE(funcctx);
}

/* omendb_scan_stats_reset(): zero both scopes. */
Datum
omendb_scan_stats_reset(PG_FUNCTION_ARGS)
{
	memset(&last_scan, 0, sizeof(OmenScanCounters));
	memset(&backend_scans, 0, sizeof(OmenScanCounters));
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 *		EXPLAIN ANALYZE
 *
 * Per plan node output would need explain_per_node_hook, which only
 * PostgreSQL 18 has; on 13 to 17 (15 among them) an index AM has no say in
 * its node's EXPLAIN output.  So on every version, EXPLAIN ANALYZE in text
 * format ends with one line for the whole query: the sum of the counters
 * of the omendb scans that ran while it executed (including scans run by
 * functions it called), if any.
 * Other formats are left as they are: their document is closed by then,
 * and anything added after it would make it invalid.  Not per node: a
 * query with two omendb scans gets their sum.
 * ----------------------------------------------------------------
 */

/* Plan and run one query as EXPLAIN does when no hook is set. */
static void
explain_one_query_standard(Query *query, int cursorOptions, IntoClause *into,
						   ExplainState *es, const char *queryString,
						   ParamListInfo params, QueryEnvironment *queryEnv)
{
#ifdef OMENDB_HAVE_STANDARD_EXPLAIN_ONE_QUERY
	standard_ExplainOneQuery(query, cursorOptions, into, es, queryString,
							 params, queryEnv);
#else
	/* (explain.c's ExplainOneQuery, which is static before PG 17) */
	PlannedStmt *plan;
	instr_time	planstart,
				planduration;
	BufferUsage bufusage_start,
				bufusage;

	if (es->buffers)
		bufusage_start = pgBufferUsage;
	INSTR_TIME_SET_CURRENT(planstart);
	plan = pg_plan_query(query, queryString, cursorOptions, params);
	INSTR_TIME_SET_CURRENT(planduration);
	INSTR_TIME_SUBTRACT(planduration, planstart);
	if (es->buffers)
	{
		memset(&bufusage, 0, sizeof(BufferUsage));
		BufferUsageAccumDiff(&bufusage, &pgBufferUsage, &bufusage_start);
	}
	ExplainOnePlan(plan, into, es, queryString, params, queryEnv,
				   &planduration, es->buffers ? &bufusage : NULL);
#endif
}

/* The line, in the manner of "Buffers:", with the SQL function's names. */
static void
explain_scan_counters(ExplainState *es, const OmenScanCounters *c)
{
	appendStringInfoSpaces(es->str, es->indent * 2);
	appendStringInfo(es->str,
					 "omendb Scans: scans=" INT64_FORMAT " nodes_met=" INT64_FORMAT
					 " nodes_expanded=" INT64_FORMAT " pages_pinned=" INT64_FORMAT
					 " rows_returned=" INT64_FORMAT " rows_rechecked=" INT64_FORMAT
					 " late_rows=" INT64_FORMAT " swept_rows=" INT64_FORMAT "\n",
					 c->scans, c->nodes_met, c->nodes_expanded, c->pages_pinned,
					 c->rows_returned, c->rows_rechecked, c->late_rows,
					 c->swept_rows);
}

static void
omendb_explain_one_query(Query *query, int cursorOptions, IntoClause *into,
						 ExplainState *es, const char *queryString,
						 ParamListInfo params, QueryEnvironment *queryEnv)
{
	OmenScanCounters before = since_start;
	OmenScanCounters diff;

	if (prev_ExplainOneQuery_hook)
		prev_ExplainOneQuery_hook(query, cursorOptions, into, es, queryString,
								  params, queryEnv);
	else
		explain_one_query_standard(query, cursorOptions, into, es,
								   queryString, params, queryEnv);

	if (!omendb_explain_counters || !es->analyze ||
		es->format != EXPLAIN_FORMAT_TEXT)
		return;
	subtract_counters(&diff, &since_start, &before);
	if (diff.scans > 0)
		explain_scan_counters(es, &diff);
}

/* From _PG_init: the setting, and the EXPLAIN hook. */
void
omendb_scan_stats_init(void)
{
	DefineCustomBoolVariable("omendb.explain_counters",
							 "Ends EXPLAIN ANALYZE (text format) with the counters of the omendb index scans the query ran.",
							 "The line is the sum over the query, not per plan node.",
							 &omendb_explain_counters,
							 true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	prev_ExplainOneQuery_hook = ExplainOneQuery_hook;
	ExplainOneQuery_hook = omendb_explain_one_query;
}
