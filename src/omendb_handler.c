/*-------------------------------------------------------------------------
 *
 * omendb_handler.c
 *	  The omendb index access method: handler, options, settings, operator
 *	  class support and validation.
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
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
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
bool		omendb_label_directory = true;
bool		omendb_directory_sketch = true;
int			omendb_exact_order = OMENDB_EXACT_ORDER_AUTO;

static relopt_kind omendb_relopt_kind;

/* omendb.exact_order takes on and off as a boolean setting spells them. */
static const struct config_enum_entry exact_order_options[] = {
	{"auto", OMENDB_EXACT_ORDER_AUTO, false},
	{"on", OMENDB_EXACT_ORDER_ON, false},
	{"off", OMENDB_EXACT_ORDER_OFF, false},
	{"true", OMENDB_EXACT_ORDER_ON, true},
	{"false", OMENDB_EXACT_ORDER_OFF, true},
	{"yes", OMENDB_EXACT_ORDER_ON, true},
	{"no", OMENDB_EXACT_ORDER_OFF, true},
	{"1", OMENDB_EXACT_ORDER_ON, true},
	{"0", OMENDB_EXACT_ORDER_OFF, true},
	{NULL, 0, false}
};

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
	DefineCustomBoolVariable("omendb.label_directory",
							 "Whether filtered scans may read an index's label directory.",
							 "On, a scan whose filter passes few rows reads the packed labels "
							 "of every node slot and scores only the rows that may pass, instead "
							 "of walking the graph to them.  Off, it walks, as an index without "
							 "a directory does.",
							 &omendb_label_directory,
							 true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("omendb.directory_sketch",
							 "Whether a pass through the label directory bounds rows by their sketches.",
							 "On, a pass through an index's label directory bounds each row that "
							 "may pass by its entry's distance sketch, and reads the pages of only "
							 "those whose turn may come.  Off, it reads every such row's page.",
							 &omendb_directory_sketch,
							 true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("omendb.radius_exact",
							 "Whether a radius scan makes sure it returns every row within the radius.",
							 "On, once its graph search has passed the radius, a radius scan reads "
							 "the index pages for the rows the search did not meet.  Off, it stops "
							 "there: faster, and as approximate as a LIMIT query.",
							 &omendb_radius_exact,
							 true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("omendb.exact_order",
							 "Whether scans bound every row's distance with certainty.",
							 "On, rows come out in the exact order of the operator.  Off, scans "
							 "bound each row's distance by its code's likely error (2 standard "
							 "deviations) instead, and re-check the rows themselves: fewer rows "
							 "re-checked, and a row whose error is larger may be missed.  Auto: "
							 "on for SQ8 indexes, off for RaBitQ ones, whose certain bounds are "
							 "loose.",
							 &omendb_exact_order,
							 OMENDB_EXACT_ORDER_AUTO,
							 exact_order_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("omendb.refit_max_pages",
							"Node pages one VACUUM re-encodes when it refits an index's quantizer.",
							"0 re-encodes them all.  The next VACUUM goes on where this one stopped.",
							&omendb_refit_max_pages,
							0, 0, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("omendb.renumber_min_gain",
							 "How many times fewer pages a search must pin for VACUUM to renumber an index.",
							 "VACUUM lays the live graph nodes out again breadth-first, as a build "
							 "does, when a search would then pin this many times fewer pages a "
							 "node it expands.  0 never renumbers.",
							 &omendb_renumber_min_gain,
							 OMENDB_DEFAULT_RENUMBER_MIN_GAIN, 0.0, 100.0,
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
	return omendb_default_list_size(metric);
}

/* The search list a metric's scans use when the setting is 0. */
int
omendb_default_list_size(OmenMetric metric)
{
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
OmenMetric
omendb_planned_index_metric(IndexOptInfo *index)
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

	/*
	 * No part in a parallel VACUUM: a table's VACUUM runs in parallel mode
	 * only if two of its indexes may take part, and in parallel mode our
	 * cleanup cannot truncate the index (omendb_vacuum.c, compact).  With
	 * one other index, as most tables have, VACUUM then runs serially.
	 */
	amroutine->amparallelvacuumoptions = VACUUM_OPTION_NO_PARALLEL;
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
