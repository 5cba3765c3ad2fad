/*-------------------------------------------------------------------------
 *
 * omendb_handler.c
 *	  The omendb index access method: handler, options, settings, operator
 *	  class support, validation and cost estimate.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/amvalidate.h"
#include "access/genam.h"
#include "access/reloptions.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type_d.h"
#include "commands/vacuum.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "utils/datum.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"
#include "utils/syscache.h"

#include "omendb.h"
#include "kernels.h"
#include "omendb_filter.h"
#include "omendb_metric.h"
#include "omendb_pgvector.h"
#include "omendb_quant.h"
#include "omendb_radius.h"
#include "omendb_scan_stats.h"
#include "vector.h"

int			omendb_search_list_size = OMENDB_DEFAULT_SEARCH_LIST;
int			omendb_scan_mem_limit = -1;
bool		omendb_radius_exact = true;
bool		omendb_exact_order = true;

static relopt_kind omendb_relopt_kind;

static void check_list_covers_degree(int list, int degree);
static uint16 quantizer_spec(const OmenOptions *opts);

/* omendb.scan_mem_limit: -1 (use work_mem) or at least 64 kB, as work_mem. */
static bool
check_scan_mem_limit(int *newval, void **extra, GucSource source)
{
	if (*newval == -1 || *newval >= 64)
		return true;
	GUC_check_errdetail("omendb.scan_mem_limit must be -1 (use work_mem) or at least 64 kB.");
	return false;
}

/* The quantizer reloption names one of the quantizers (omendb_quant.c). */
static void
validate_quantizer(const char *value)
{
	if (value == NULL || omendb_quant_routine_by_name(value) != NULL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for omendb option \"quantizer\": \"%s\"", value),
			 errdetail("Valid values are %s.", omendb_quant_names())));
}

void
_PG_init(void)
{
	omendb_kernels_init();

	omendb_relopt_kind = add_reloption_kind();
	add_int_reloption(omendb_relopt_kind, "graph_degree",
					  "Out-degree R of each graph node",
					  OMENDB_DEFAULT_GRAPH_DEGREE, OMENDB_MIN_GRAPH_DEGREE,
					  OMENDB_MAX_GRAPH_DEGREE, AccessExclusiveLock);
	add_int_reloption(omendb_relopt_kind, "build_list_size",
					  "Candidate list size L used to place an inserted node "
					  "(a build's two passes use 3/8 and 1/2 of it)",
					  OMENDB_DEFAULT_BUILD_LIST, OMENDB_MIN_BUILD_LIST,
					  OMENDB_MAX_BUILD_LIST, AccessExclusiveLock);
	add_real_reloption(omendb_relopt_kind, "alpha",
					   "RobustPrune alpha: above 1 keeps longer edges",
					   OMENDB_DEFAULT_ALPHA, 1.0, 2.0, AccessExclusiveLock);
	/* (no default value: one would count as named, see quantizer_spec) */
	add_string_reloption(omendb_relopt_kind, "quantizer",
						 "Quantizer for node codes (sq8 or rabitq)",
						 NULL, validate_quantizer, AccessExclusiveLock);
	add_int_reloption(omendb_relopt_kind, "bits",
					  "Bits a dimension of a rabitq code (0: its default, 1)",
					  0, 0, 8, AccessExclusiveLock);
	add_bool_reloption(omendb_relopt_kind, "store_vectors",
					   "Whether each node carries a copy of the indexed vector, "
					   "so that scans compute exact distances without the heap",
					   false, AccessExclusiveLock);

	DefineCustomIntVariable("omendb.search_list_size",
							"Candidate list size of an index search.",
							"Larger finds more of the true nearest neighbours, more slowly.  "
							"0 chooses per operator class: 40, or 160 for inner product.",
							&omendb_search_list_size,
							OMENDB_DEFAULT_SEARCH_LIST, 0, 10000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("omendb.scan_mem_limit",
							"Memory an index scan may hold for its search past the first rows.",
							"-1 uses work_mem.  A scan that reaches it keeps its nearest "
							"candidates and, if it must go past them, returns the rest of "
							"its rows from one sorted pass over the whole index.",
							&omendb_scan_mem_limit,
							-1, -1, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB, check_scan_mem_limit, NULL, NULL);
	DefineCustomBoolVariable("omendb.radius_exact",
							 "Whether a radius scan makes sure it returns every row within the radius.",
							 "On, once its graph search has passed the radius, a radius scan reads "
							 "the index pages for the rows the search did not meet.  Off, it stops "
							 "there: faster, and as approximate as a LIMIT query.",
							 &omendb_radius_exact,
							 true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("omendb.exact_order",
							 "Whether scans bound every row's distance with certainty.",
							 "On, rows come out in the exact order of the operator.  Off, a "
							 "rabitq index bounds each row's distance by its estimate's likely "
							 "error instead: far fewer rows re-checked, and a row out of order "
							 "as rarely as a 4-sigma error.  SQ8 indexes always bound with "
							 "certainty.",
							 &omendb_exact_order,
							 true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("omendb.refit_max_pages",
							"Node pages one VACUUM re-encodes when it refits an index's quantizer.",
							"0 re-encodes them all.  The next VACUUM goes on where this one stopped.",
							&omendb_refit_max_pages,
							0, 0, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	omendb_scan_stats_init();
	OMENDB_MARK_GUC_PREFIX_RESERVED("omendb");
	omendb_planner_init();
}

bytea *
omendb_options(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"graph_degree", RELOPT_TYPE_INT, offsetof(OmenOptions, graph_degree)},
		{"build_list_size", RELOPT_TYPE_INT, offsetof(OmenOptions, build_list_size)},
		{"alpha", RELOPT_TYPE_REAL, offsetof(OmenOptions, alpha)},
		{"quantizer", RELOPT_TYPE_STRING, offsetof(OmenOptions, quantizer_offset)},
		{"bits", RELOPT_TYPE_INT, offsetof(OmenOptions, bits)},
		{"store_vectors", RELOPT_TYPE_BOOL, offsetof(OmenOptions, store_vectors)},
	};

	OmenOptions *opts;

	opts = build_reloptions(reloptions, validate, omendb_relopt_kind,
							sizeof(OmenOptions), tab, lengthof(tab));
	/* CREATE INDEX and ALTER INDEX SET both validate the whole set here */
	if (validate && opts != NULL)
	{
		check_list_covers_degree(opts->build_list_size, opts->graph_degree);
		(void) quantizer_spec(opts);
	}
	return (bytea *) opts;
}

/*
 * The build's candidate list must hold at least R candidates, or nodes
 * would get fewer neighbours than the graph degree promises.
 */
static void
check_list_covers_degree(int list, int degree)
{
	if (list < degree)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("omendb option build_list_size (%d) must be at least graph_degree (%d)",
						list, degree)));
}

/*
 * The quantizer and bits options as the meta page keeps them: bits must be
 * one the quantizer takes (0 picks its default).
 */
static uint16
quantizer_spec(const OmenOptions *opts)
{
	const char *name = OMENDB_DEFAULT_QUANTIZER;
	const OmenQuantRoutine *routine;
	int			bits = opts ? opts->bits : 0;

	if (opts && opts->quantizer_offset != 0)
		name = (const char *) opts + opts->quantizer_offset;
	validate_quantizer(name);
	routine = omendb_quant_routine_by_name(name);
	if (bits == 0)
		bits = routine->default_bits;
	if (!omendb_quant_bits_valid(routine, bits))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("omendb option bits does not apply to quantizer \"%s\"",
						routine->name),
				 errdetail("Only quantizer \"rabitq\" takes bits, from 1 to 8.")));
	return OmenQuantSpec(routine->kind, bits);
}

/* Whether the index's options name a quantizer, rather than default it. */
bool
omendb_quantizer_named(Relation index)
{
	OmenOptions *opts = (OmenOptions *) index->rd_options;

	return opts != NULL && opts->quantizer_offset != 0;
}

/*
 * Whether the index's nodes carry the indexed values: the option as the
 * build (or an empty index's first row) reads it; after that the meta
 * page's value_size says.
 */
bool
omendb_stores_vectors(Relation index)
{
	OmenOptions *opts = (OmenOptions *) index->rd_options;

	return opts != NULL && opts->store_vectors;
}

/* The build options of an index, defaults filled in, cross-checked. */
void
omendb_option_values(Relation index, int *degree, int *list, double *alpha,
					 uint16 *quantizer)
{
	OmenOptions *opts = (OmenOptions *) index->rd_options;

	*degree = opts ? opts->graph_degree : OMENDB_DEFAULT_GRAPH_DEGREE;
	*list = opts ? opts->build_list_size : OMENDB_DEFAULT_BUILD_LIST;
	*alpha = opts ? opts->alpha : OMENDB_DEFAULT_ALPHA;
	*quantizer = quantizer_spec(opts);
	check_list_covers_degree(*list, *degree);
}

/*
 * The search list size a scan uses.  Inner-product indexes need longer
 * lists for the same recall: in the transformed space the query lies far
 * from all the data, so many nodes are about equally near, and the graph's
 * geometry helps less (on Fashion-MNIST, L = 40 finds 86% of the true top
 * 10 by inner product, against 99.7% by Euclidean distance).
 */
int
omendb_effective_list_size(OmenMetric metric)
{
	if (omendb_search_list_size > 0)
		return omendb_search_list_size;
	return metric == OMENDB_METRIC_IP ? OMENDB_AUTO_SEARCH_LIST_IP : OMENDB_AUTO_SEARCH_LIST;
}

/*
 * Operator class support function 1 names the metric: calling it returns
 * the OmenMetric.  Looked up once per relcache entry by the callers.
 */
PG_FUNCTION_INFO_V1(omendb_metric_l2);
Datum
omendb_metric_l2(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(OMENDB_METRIC_L2);
}

PG_FUNCTION_INFO_V1(omendb_metric_ip);
Datum
omendb_metric_ip(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(OMENDB_METRIC_IP);
}

PG_FUNCTION_INFO_V1(omendb_metric_cosine);
Datum
omendb_metric_cosine(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(OMENDB_METRIC_COSINE);
}

PG_FUNCTION_INFO_V1(omendb_metric_l1);
Datum
omendb_metric_l1(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(OMENDB_METRIC_L1);
}

/*
 * Check what support function 1 returned: the metric, with the flags
 * omendb_pgvector.h defines beside it.
 */
static OmenMetric
metric_from_datum(Datum d)
{
	int32		m = DatumGetInt32(d) & ~OMENDB_METRIC_FLOAT_SUMS;

	if (m < OMENDB_METRIC_L2 || m > OMENDB_METRIC_LAST)
		elog(ERROR, "omendb: operator class support function 1 returned unknown metric %d", m);
	return (OmenMetric) m;
}

OmenMetric
omendb_index_metric(Relation index)
{
	FmgrInfo   *proc = index_getprocinfo(index, 1, 1);

	return metric_from_datum(FunctionCall1Coll(proc, InvalidOid, (Datum) 0));
}

/*
 * The metric of an index the planner considers, which it knows by its
 * operator family, not as an open relation: support function 1 as the
 * catalog has it (as index_getprocinfo finds it, by the opclass's input
 * type).
 */
static OmenMetric
planned_index_metric(IndexOptInfo *index)
{
	Oid			proc = get_opfamily_proc(index->opfamily[0], index->opcintype[0],
										 index->opcintype[0], 1);

	if (!OidIsValid(proc))
		elog(ERROR, "omendb: missing support function 1 in operator family %u",
			 index->opfamily[0]);
	return metric_from_datum(OidFunctionCall1Coll(proc, InvalidOid, (Datum) 0));
}

/*
 * A vector column's operator class: distance operators for ORDER BY
 * (strategy 1), ball operators for radius quals (strategy 2), the metric
 * (support function 1) and optionally a conversion to vector (2).
 */
static bool
validate_vector_class(const char *opclassname, CatCList *oprlist,
					  CatCList *proclist)
{
	bool		result = true;
	bool		has_proc = false;
	bool		has_op = false;

	for (int i = 0; i < oprlist->n_members; i++)
	{
		Form_pg_amop op = (Form_pg_amop) GETSTRUCT(&oprlist->members[i]->tuple);

		if (op->amopstrategy == OMENDB_RADIUS_STRATEGY &&
			op->amoppurpose == AMOP_SEARCH &&
			get_op_rettype(op->amopopr) == BOOLOID)
			continue;
		if (op->amopstrategy != 1 || op->amoppurpose != AMOP_ORDER)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("omendb operator class \"%s\" has an operator that is neither an ordering operator with strategy 1 nor a ball operator with strategy 2",
							opclassname)));
			result = false;
		}
		else
			has_op = true;
	}
	for (int i = 0; i < proclist->n_members; i++)
	{
		Form_pg_amproc proc = (Form_pg_amproc) GETSTRUCT(&proclist->members[i]->tuple);

		if (proc->amprocnum == OMENDB_TO_VECTOR_PROC)
			continue;
		if (proc->amprocnum != OMENDB_METRIC_PROC)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("omendb operator class \"%s\" has support function number %d, only 1 and 2 are known",
							opclassname, proc->amprocnum)));
			result = false;
		}
		else
			has_proc = true;
	}
	if (!has_op || !has_proc)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("omendb operator class \"%s\" needs ordering operator 1 and support function 1",
						opclassname)));
		result = false;
	}
	return result;
}

/*
 * A filter column's operator class (omendb_filter.h): boolean search
 * operators with strategies 1 to 8, and no support functions.
 */
static bool
validate_filter_class(const char *opclassname, CatCList *oprlist,
					  CatCList *proclist)
{
	bool		result = true;

	for (int i = 0; i < oprlist->n_members; i++)
	{
		Form_pg_amop op = (Form_pg_amop) GETSTRUCT(&oprlist->members[i]->tuple);

		if (op->amoppurpose != AMOP_SEARCH ||
			op->amopstrategy < 1 || op->amopstrategy > OMENDB_FILTER_STRATEGIES ||
			get_op_rettype(op->amopopr) != BOOLOID)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("omendb filter operator class \"%s\" has an operator that is not a boolean search operator with a strategy from 1 to %d",
							opclassname, OMENDB_FILTER_STRATEGIES)));
			result = false;
		}
	}
	if (proclist->n_members > 0)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("omendb filter operator class \"%s\" has support functions, but no metric",
						opclassname)));
		result = false;
	}
	if (oprlist->n_members == 0)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("omendb operator class \"%s\" has neither a metric nor operators",
						opclassname)));
		result = false;
	}
	return result;
}

/*
 * amvalidate: a vector column's operator class or a filter column's, told
 * apart by the metric (support function 1) only the first has.
 */
static bool
omendb_validate(Oid opclassoid)
{
	HeapTuple	classtup;
	Form_pg_opclass classform;
	Oid			opfamilyoid;
	CatCList   *oprlist;
	CatCList   *proclist;
	bool		result;
	char	   *opclassname;
	bool		vector_class = false;

	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	classform = (Form_pg_opclass) GETSTRUCT(classtup);
	opfamilyoid = classform->opcfamily;
	opclassname = NameStr(classform->opcname);

	oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamilyoid));
	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamilyoid));

	/* a class with a metric is a vector column's; one without, a filter's */
	for (int i = 0; i < proclist->n_members; i++)
	{
		Form_pg_amproc proc = (Form_pg_amproc) GETSTRUCT(&proclist->members[i]->tuple);

		if (proc->amprocnum == OMENDB_METRIC_PROC)
			vector_class = true;
	}
	if (vector_class)
		result = validate_vector_class(opclassname, oprlist, proclist);
	else
		result = validate_filter_class(opclassname, oprlist, proclist);

	ReleaseCatCacheList(proclist);
	ReleaseCatCacheList(oprlist);
	ReleaseSysCache(classtup);
	return result;
}

/*
 * The dimensions of the indexed column, from its typmod; 0 if the column
 * does not say (an unconstrained vector, or an expression without one).
 */
static int
planned_index_dimensions(PlannerInfo *root, IndexOptInfo *index)
{
	int32		typmod = -1;

	if (index->indexkeys[0] != 0)
	{
		Oid			typid;
		Oid			collid;

		get_atttypetypmodcoll(planner_rt_fetch(index->rel->relid, root)->relid,
							  index->indexkeys[0], &typid, &typmod, &collid);
	}
	else if (index->indexprs != NIL)
		typmod = exprTypmod((Node *) linitial(index->indexprs));
	return typmod > 0 ? typmod : 0;
}

/*
 * The center of a ball as the planner has it: a ROW(center, radius) or
 * omendb_within(center, radius) expression, or a constant ball (as a
 * constant); NULL if unknown.
 */
static Node *
ball_center(Node *ball)
{
	Datum		center;
	double		radius;
	Const	   *c;

	if (IsA(ball, RowExpr) && list_length(((RowExpr *) ball)->args) == 2)
		return linitial(((RowExpr *) ball)->args);
	if (IsA(ball, FuncExpr) && list_length(((FuncExpr *) ball)->args) == 2)
		return linitial(((FuncExpr *) ball)->args);
	if (!IsA(ball, Const))
		return NULL;
	c = (Const *) ball;
	if (c->constisnull || !omendb_ball_fields(c->constvalue, &center, &radius))
		return NULL;
	return (Node *) makeConst(InvalidOid, -1, InvalidOid, -1, center, false, false);
}

/*
 * Whether a scan with this ball key can stop at its radius: with no ORDER
 * BY, or one on the ball's center (a scan ordered by another query walks
 * the graph around that one, and can stop nowhere).
 */
static bool
radius_can_stop(IndexPath *path, Node *ball)
{
	Node	   *center;
	Node	   *query;

	if (path->indexorderbys == NIL)
		return true;
	if (!IsA(linitial(path->indexorderbys), OpExpr))
		return false;
	query = lsecond(((OpExpr *) linitial(path->indexorderbys))->args);
	center = ball_center(ball);
	if (center == NULL)
		return false;
	if (IsA(center, Const) && IsA(query, Const))
		return !((Const *) query)->constisnull &&
			datumIsEqual(((Const *) center)->constvalue,
						 ((Const *) query)->constvalue, false, -1);
	return equal(center, query);
}

/*
 * The share of the rows that pass the index's quals: on the vector column
 * (the ball keys, whose radius the scan may stop at, in *can_stop) or on
 * the filter columns (which the graph walk applies, returning only the
 * rows that pass).
 */
static Selectivity
index_qual_selectivity(PlannerInfo *root, IndexPath *path, bool filters,
					   bool *can_stop)
{
	List	   *quals = NIL;
	ListCell   *lc;

	*can_stop = false;
	foreach(lc, path->indexclauses)
	{
		IndexClause *iclause = lfirst_node(IndexClause, lc);
		ListCell   *lq;

		if ((iclause->indexcol > 0) != filters)
			continue;
		foreach(lq, iclause->indexquals)
		{
			RestrictInfo *rinfo = lfirst_node(RestrictInfo, lq);

			quals = lappend(quals, rinfo);
			if (!filters && IsA(rinfo->clause, OpExpr) &&
				list_length(((OpExpr *) rinfo->clause)->args) == 2 &&
				radius_can_stop(path, lsecond(((OpExpr *) rinfo->clause)->args)))
				*can_stop = true;
		}
	}
	if (quals == NIL)
		return 1.0;
	return clauselist_selectivity(root, quals, path->indexinfo->rel->relid,
								  JOIN_INNER, NULL);
}

/*
 * What the executor's recheck of a returned row costs beyond the distance:
 * fetching the row's vector out of line (vector_fetch_cost), unless the
 * index stores the vectors and rechecks nothing.
 */
static double
recheck_fetch_cost(PlannerInfo *root, IndexOptInfo *index, int dims)
{
	Relation	rel;
	bool		stores;
	bool		is_half;

	if (dims <= 0 || index->indexkeys[0] == 0)
		return 0;
	/* the planner holds a lock on the index */
	rel = index_open(index->indexoid, NoLock);
	stores = omendb_stores_vectors(rel);
	index_close(rel, NoLock);
	if (stores)
		return 0;
	is_half = strcmp(omendb_type_name(index->opcintype[0]), "halfvec") == 0;
	return vector_fetch_cost(planner_rt_fetch(index->rel->relid, root)->relid,
							 index->indexkeys[0],
							 VECTOR_SIZE(0) + dims * (is_half ? 2 : sizeof(float)));
}

/*
 * amcostestimate.  Without an ORDER BY on our operator or a ball key the
 * index is useless, so it costs infinity.  With one, the cost counts the nodes the
 * scan meets.  The initial search expands about list_size nodes (the list
 * a scan of this index will use, longer for inner product) and each
 * expansion meets the new nodes among R neighbours; after it, each row
 * streamed costs about one more expansion.  How many neighbours are new
 * depends on the data's dimensions: in many dimensions R / 2 or more, in
 * few the lists of nearby nodes overlap and an expansion meets a node or
 * two (at L = 40, for LIMIT 10: 131 nodes met on 3,000 x 3 rows, 179 in 42
 * expansions on 20,000 x 16, 1,400 on 128; for the rows after, about 1.2,
 * 3 and 25 a row).  So a node meets Min(R / 2, d / 4 + 1) new ones.
 *
 * A met node costs its code distance, its lower bound, its heap
 * operations and a page visit: every index page is read once as random
 * I/O over a scan, the later visits hit the cache.  A returned row costs
 * the executor's recheck, an exact distance on the heap row, with the
 * fetch of a vector stored out of line, as the distance function's own
 * cost charges a sort (vector_support.c).
 *
 * The planner interpolates linearly between startup and total cost for a
 * LIMIT, so the total is the early per-row rate times the rows, not the
 * true cost of a full scan (which meets each node once): it is the early
 * rows that must be priced right for the choice between the index and a
 * sort to fall where the measured one does, and a full ordered scan, at
 * three to six times the time of a sort, loses either way.
 *
 * A radius scan (a ball key, and no ORDER BY or one on the ball's center)
 * stops once its bounds pass the radius: it costs the initial search and
 * the rows within the radius, as estimated from the ball's selectivity,
 * and, if exact (omendb.radius_exact), a pass over the index pages.
 */
void
omendb_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
					Cost *indexStartupCost, Cost *indexTotalCost,
					Selectivity *indexSelectivity, double *indexCorrelation,
					double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	double		ntuples = Max(index->tuples, 1);
	double		degree = OMENDB_DEFAULT_GRAPH_DEGREE;
	int			dims;
	int			list;
	double		new_per_expansion;
	double		met_startup;
	double		node_cpu;
	double		node_pages;
	double		node_cost;
	double		row_cost;
	double		rows_out;
	Selectivity selectivity;
	Selectivity passing;
	bool		can_stop;
	bool		unused;

	selectivity = index_qual_selectivity(root, path, false, &can_stop);
	passing = index_qual_selectivity(root, path, true, &unused);
	rows_out = clamp_row_est((can_stop ? selectivity : 1.0) * passing * ntuples);
	if (path->indexorderbys == NIL && !can_stop)
	{
		*indexStartupCost = get_float8_infinity();
		*indexTotalCost = get_float8_infinity();
		*indexSelectivity = 0;
		*indexCorrelation = 0;
		*indexPages = 0;
		OMENDB_COUNT_PATH_DISABLED(path);
		return;
	}

	list = omendb_effective_list_size(planned_index_metric(index));
	dims = planned_index_dimensions(root, index);
	new_per_expansion = degree / 2.0;
	if (dims > 0)
		new_per_expansion = Max(1.0, Min(new_per_expansion, dims / 4.0 + 1));
	met_startup = Min(ntuples, list * new_per_expansion + 1);

	/*
	 * A met node: visiting its item, the SQ8 code distance (a quarter of
	 * the d / 8 operators a float distance is charged), the bound, a push
	 * and a pop on heaps of about the list's size, and its share of the
	 * index's pages, which repeated scans (loop_count) find cached.
	 */
	node_cpu = cpu_index_tuple_cost +
		cpu_operator_cost * (Max(dims / 32.0, 1) + 1 + 2 * log2(list + degree));
	node_pages = random_page_cost * Max(index->pages, 1) / ntuples /
		Max(loop_count, 1);
	node_cost = node_cpu + node_pages;

	/*
	 * A returned row: its expansion, and the recheck on the heap vector.
	 * Under filter quals passed by a share s of the rows, the walk meets
	 * nodes at the same rate but returns only that share of them: 1 / s
	 * times the CPU.  Its pages it reads once, whatever it meets: a row's
	 * share of them is at most the index's pages over the s * N rows the
	 * walk returns in all.
	 */
	passing = Max(passing, 1.0 / ntuples);
	row_cost = new_per_expansion * node_cpu / passing +
		Max(new_per_expansion * node_pages,
			Min(new_per_expansion * node_pages / passing,
				random_page_cost * Max(index->pages, 1) /
				(passing * ntuples) / Max(loop_count, 1))) +
		cpu_operator_cost * Max(dims / 8.0, 1) +
		recheck_fetch_cost(root, index, dims);

	*indexStartupCost = met_startup * node_cost;
	*indexTotalCost = *indexStartupCost + rows_out * row_cost;

	/*
	 * An exact radius scan reads the index pages in order for the nodes
	 * its search did not meet, and scores their codes: at the end, or, in
	 * order of distance, before its first row.
	 */
	if (can_stop && omendb_radius_exact)
	{
		Cost		sweep = seq_page_cost * Max(index->pages, 1) +
			ntuples * (cpu_index_tuple_cost +
					   cpu_operator_cost * (Max(dims / 32.0, 1) + 1));

		if (path->indexorderbys != NIL)
			*indexStartupCost += sweep;
		*indexTotalCost += sweep;
	}
	*indexSelectivity = selectivity * passing;
	*indexCorrelation = 0;
	*indexPages = index->pages;
}

/*
 * amproperty: a key column can be ordered by distance.  Everything else is
 * left to the generic answers.
 */
static bool
omendb_property(Oid index_oid, int attno, IndexAMProperty prop,
				const char *propname, bool *res, bool *isnull)
{
	if (attno == 0 || prop != AMPROP_DISTANCE_ORDERABLE)
		return false;
	/* the vector column, not the filter columns after it */
	*res = attno == 1;
	*isnull = false;
	return true;
}

/* The handler: what omendb can do and where its functions are. */
PG_FUNCTION_INFO_V1(omendb_handler);
Datum
omendb_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *amroutine = makeNode(IndexAmRoutine);

	amroutine->amstrategies = OMENDB_FILTER_STRATEGIES;
	amroutine->amsupport = OMENDB_TO_VECTOR_PROC;
	amroutine->amoptsprocnum = 0;
	amroutine->amcanorder = false;
	amroutine->amcanorderbyop = true;
	amroutine->amcanbackward = false;
	amroutine->amcanunique = false;
	amroutine->amcanmulticol = true;
	amroutine->amoptionalkey = true;
	amroutine->amsearcharray = true;
	amroutine->amsearchnulls = false;
	amroutine->amstorage = false;
	amroutine->amclusterable = false;
	amroutine->ampredlocks = false;
	amroutine->amcanparallel = false;
#if PG_VERSION_NUM >= 170000
	/* index_build plans workers for us; before 17, omendb_build does */
	amroutine->amcanbuildparallel = true;
#endif
	amroutine->amcaninclude = false;
	amroutine->amusemaintenanceworkmem = false;
	amroutine->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	amroutine->amkeytype = InvalidOid;

	amroutine->ambuild = omendb_build;
	amroutine->ambuildempty = omendb_buildempty;
	amroutine->aminsert = omendb_insert;
	amroutine->ambulkdelete = omendb_bulkdelete;
	amroutine->amvacuumcleanup = omendb_vacuumcleanup;
	amroutine->amcanreturn = NULL;
	amroutine->amcostestimate = omendb_costestimate;
	amroutine->amoptions = omendb_options;
	amroutine->amproperty = omendb_property;
	amroutine->ambuildphasename = omendb_build_phase_name;
	amroutine->amvalidate = omendb_validate;
	OMENDB_SET_NO_ADJUSTMEMBERS(amroutine);
	OMENDB_SET_NEWER_AM_FIELDS(amroutine);
	amroutine->ambeginscan = omendb_beginscan;
	amroutine->amrescan = omendb_rescan;
	amroutine->amgettuple = omendb_gettuple;
	amroutine->amgetbitmap = NULL;
	amroutine->amendscan = omendb_endscan;
	amroutine->ammarkpos = NULL;
	amroutine->amrestrpos = NULL;
	amroutine->amestimateparallelscan = NULL;
	amroutine->aminitparallelscan = NULL;
	amroutine->amparallelrescan = NULL;

	PG_RETURN_POINTER(amroutine);
}
