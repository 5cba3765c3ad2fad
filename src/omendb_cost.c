/*-------------------------------------------------------------------------
 *
 * omendb_cost.c
 *	  What an omendb scan costs, as the planner estimates it, and the walk
 *	  rate it measures on an index for that.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "utils/datum.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"

#include "omendb.h"
#include "omendb_graph.h"
#include "omendb_labels.h"
#include "omendb_metric.h"
#include "omendb_page.h"
#include "omendb_quant.h"
#include "omendb_radius.h"
#include "vector.h"

/* ----------------------------------------------------------------
 *		The walk rate
 * ----------------------------------------------------------------
 */

/*
 * Below this many node slots every walk is short, and the estimate from
 * the dimensions does.
 */
#define WALK_RATE_MIN_NODES		10000

/* Searches whose counts are summed, from nodes spread over the ids. */
#define WALK_RATE_SAMPLES		8

/*
 * The two lists each sample is searched with: the rate is the difference
 * in nodes met over the difference in nodes expanded, which leaves out the
 * descent from the entry point that both share.  The long one goes as
 * deep as a walk under a 1% filter does for LIMIT 10: the rate changes
 * with depth, as the walk reaches past a cluster (on 1,536-d embeddings of
 * 64 latent dimensions, 1.1 between lists 32 and 320, 2.9 between 32 and
 * 1,000).
 */
#define WALK_RATE_SHORT_LIST	32
#define WALK_RATE_LONG_LIST		1000

/* The page store, counting the nodes it scores: the nodes a search meets. */
typedef struct CountingStore
{
	OmenPageStore ps;
	void		(*page_score) (OmenGraphStore *store, const OmenQuery *query,
							   const uint32 *nodes, int n, float *dists,
							   bool *usable);
	int64		met;
} CountingStore;

static void
counting_score(OmenGraphStore *store, const OmenQuery *query,
			   const uint32 *nodes, int n, float *dists, bool *usable)
{
	CountingStore *cs = (CountingStore *) store;

	cs->met += n;
	cs->page_score(store, query, nodes, n, dists, usable);
}

/* Whether a node is live: scored for its flag alone. */
static bool
node_is_live(CountingStore *cs, const OmenQuery *any, uint32 node)
{
	float		dist;
	bool		usable;

	if (omendb_is_label_block(cs->ps.meta, omendb_node_block(cs->ps.meta, node)))
		return false;			/* an id of a label page's */
	cs->page_score(&cs->ps.store, any, &node, 1, &dist, &usable);
	return usable;
}

/*
 * Nodes met and expanded by one search from a node's code.
 */
static void
count_search(CountingStore *cs, const OmenQuery *query, uint32 entry,
			 int list, int64 *met, int64 *expanded)
{
	OmenCandidate *cands;

	cs->met = 0;
	*expanded += omendb_greedy_search(&cs->ps.store, query, entry, list,
									  OMENDB_INVALID_NODE, &cands);
	*met += cs->met;
	pfree(cands);
}

/*
 * How many nodes a long walk through the graph meets for each node it
 * expands, on this index: what a filtered scan pays for every node it
 * walks through (omendb_costestimate), or 0 on an index too small to
 * tell.  Deep in a walk the neighbours of an expanded node were mostly met
 * already, by how much depending on the data's intrinsic dimension, not
 * its columns' count.  Measured so: 3.5 on Fashion-MNIST (784 dimensions),
 * 3.3 on 1,536-d embeddings of 64 latent dimensions, 1.0 on Gaussian
 * clusters in 128, 16 on uniform random 128-d vectors; the streams of an
 * unfiltered scan met 3.1, 3.0, 1.1 and 13 a node expanded between rows 10
 * and 1,000.  A few searches from live nodes spread over the ids measure
 * it, in a tenth of a second or so (0.15 s on 50,000 uniform random 128-d
 * vectors).
 */
float
omendb_measure_walk_rate(Relation index)
{
	OmenIndexInfo *ii;
	const OmenMetaPageData *meta;
	OmenMetaPageData cur;
	CountingStore cs;
	OmenQuery	query;
	uint32		nslots;
	int64		met_short = 0;
	int64		met_long = 0;
	int64		exp_short = 0;
	int64		exp_long = 0;
	double		rate;

	omendb_read_meta(index, &cur);
	if (!cur.quant_trained || cur.entry_node == OMENDB_INVALID_NODE)
		return 0;
	nslots = omendb_node_slots(index, &cur);
	if (nslots < WALK_RATE_MIN_NODES)
		return 0;

	ii = omendb_copy_info(omendb_get_info(index));
	meta = &ii->meta;
	omendb_pagestore_init(&cs.ps, index, meta, ii->quant, false);
	cs.page_score = cs.ps.store.score;
	cs.ps.store.score = counting_score;
	for (int s = 0; s < WALK_RATE_SAMPLES; s++)
	{
		uint32		node = (uint32) ((uint64) nslots * (2 * s + 1) /
									 (2 * WALK_RATE_SAMPLES));

		omendb_query_init_code(&query, ii->quant,
							   cs.ps.store.code(&cs.ps.store, cur.entry_node));
		while (node < nslots && !node_is_live(&cs, &query, node))
			node++;
		if (node >= nslots)
			break;
		omendb_query_init_code(&query, ii->quant,
							   cs.ps.store.code(&cs.ps.store, node));
		count_search(&cs, &query, cur.entry_node, WALK_RATE_SHORT_LIST,
					 &met_short, &exp_short);
		count_search(&cs, &query, cur.entry_node, WALK_RATE_LONG_LIST,
					 &met_long, &exp_long);
		omendb_pagestore_forget_codes(&cs.ps);
		CHECK_FOR_INTERRUPTS();
	}
	if (exp_long - exp_short < WALK_RATE_LONG_LIST)
		return 0;
	rate = (double) (met_long - met_short) / (exp_long - exp_short);
	return (float) Min(Max(rate, 1.0), meta->max_degree);
}

/*
 * Measure the walk rate of an index that has none yet, and record it on
 * the meta page: after a build (use_wal false, for log_newpage_range to
 * log) and in VACUUM, which measures an index built empty once it has
 * grown enough.
 */
void
omendb_record_walk_rate(Relation index, bool use_wal)
{
	OmenMetaPageData cur;
	float		rate;

	omendb_read_meta(index, &cur);
	if (cur.walk_rate > 0)
		return;
	rate = omendb_measure_walk_rate(index);
	if (rate > 0)
		omendb_meta_set_walk_rate(index, rate, use_wal);
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
 * The walk rate measured on an index, or 0, and whether it has a label
 * directory: from its meta page (the planner holds a lock on the index).
 */
static double
planned_walk_rate(IndexOptInfo *index, bool *label_directory, bool *sketched)
{
	Relation	rel = index_open(index->indexoid, NoLock);
	OmenMetaPageData meta;

	omendb_read_meta(rel, &meta);
	index_close(rel, NoLock);
	*label_directory = meta.label_stride > 0 && omendb_label_directory;
	*sketched = *label_directory && meta.sketch_words > 0 &&
		omendb_directory_sketch;
	return meta.walk_rate;
}

/*
 * The new nodes an expansion meets: half its R neighbours in many
 * dimensions, a node or two in few, where the lists of nearby nodes
 * overlap (see omendb_costestimate); dims 0 if unknown.
 */
double
omendb_new_per_expansion(int degree, int dims)
{
	double		n = degree / 2.0;

	if (dims > 0)
		n = Max(1.0, Min(n, dims / 4.0 + 1));
	return n;
}

/*
 * The nodes an initial search with a list of list_size meets: it expands
 * about that many nodes, each meeting omendb_new_per_expansion new ones.
 * (Fashion-MNIST, R = 32, L = 40: 641, where 489 are met.)
 */
double
omendb_initial_search_nodes(int list_size, int degree, int dims)
{
	return list_size * omendb_new_per_expansion(degree, dims) + 1;
}

/*
 * The nodes a filtered walk meets to OMENDB_ROWS_OWED rows, when a share
 * passing of the rows pass its filter: initial_nodes for its initial
 * search (0 once it is done), then about walk_rate nodes a row, each row
 * a share of them.  (Fashion-MNIST, the ten largest of 1,000 Zipf
 * tenants, 1.3% to 14% of the rows: about 500 + 4.8 * 10 / passing, where
 * the walk rate is 3.1, an unfiltered search meets 499 and
 * omendb_initial_search_nodes says 641; README.omendb, "The label
 * directory".)
 */
double
omendb_walk_nodes(double passing, double walk_rate, double initial_nodes)
{
	return initial_nodes + OMENDB_ROWS_OWED / passing * walk_rate;
}

/*
 * The cost of a pass through the label directory of slots node slots, in
 * nodes a walk meets: testing every slot's entry, and scoring the share
 * passing of the rows whose entries pass, or, sketched, bounding them all
 * by their sketches and scoring those whose turn comes.
 */
double
omendb_directory_pass_nodes(double slots, double passing, bool sketched)
{
	double		rows = passing * slots;
	double		read = rows;

	if (sketched)
		read = Min(rows, OMENDB_SKETCHED_ROWS_READ +
				   OMENDB_SKETCHED_SHARE_READ * rows);
	return slots / OMENDB_LABEL_SLOTS_PER_NODE_MET +
		(sketched ? rows * OMENDB_SKETCH_ROW_COST : 0) +
		read * OMENDB_SWEPT_ROW_COST;
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
	double		walk_new;
	bool		label_directory;
	bool		sketched;
	double		walk_row;
	double		out_row;
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

	list = omendb_effective_list_size(omendb_planned_index_metric(index));
	dims = planned_index_dimensions(root, index);
	new_per_expansion = omendb_new_per_expansion(degree, dims);
	met_startup = Min(ntuples, omendb_initial_search_nodes(list, degree, dims));

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
	 * Past the initial search an expansion meets fewer new nodes, most of
	 * its neighbours having been met: as many as the walk rate measured on
	 * the index says, where there is one.  Under filter quals passed by a
	 * share s of the rows, the walk meets nodes at the same rate but
	 * returns only that share of them: 1 / s times the CPU.  Its pages it
	 * reads once, whatever it meets: a row's share of them is at most the
	 * index's pages over the s * N rows the walk returns in all.
	 */
	walk_new = planned_walk_rate(index, &label_directory, &sketched);
	if (!(walk_new > 0))
		walk_new = new_per_expansion;
	passing = Max(passing, 1.0 / ntuples);
	walk_row = walk_new * node_cpu / passing +
		Max(walk_new * node_pages,
			Min(walk_new * node_pages / passing,
				random_page_cost * Max(index->pages, 1) /
				(passing * ntuples) / Max(loop_count, 1)));
	out_row = cpu_operator_cost * Max(dims / 8.0, 1) +
		recheck_fetch_cost(root, index, dims);

	*indexStartupCost = met_startup * node_cost;
	*indexTotalCost = *indexStartupCost + rows_out * (walk_row + out_row);

	/*
	 * A filtered walk that has met a share of the nodes past its first
	 * batch hands the rest to a sweep of the node pages, which tests every
	 * node's labels and scores the passing ones (walk_budget in
	 * omendb_scan.c): however few rows pass, the scan costs at most that
	 * walk and the sweep.  If the rows wanted (the LIMIT, where the planner
	 * knows it, else all) would cost the walk more, the sweep comes before
	 * most of them.  With a label directory the sweep reads the packed
	 * entries and only the pages of rows that may pass, and the scan takes
	 * it instead of the initial search when that is cheaper than the walk,
	 * its initial search included, as the scan decides.
	 */
	if (passing < 1.0 && !can_stop)
	{
		double		wanted = root->limit_tuples >= 1 ?
			Min(root->limit_tuples, rows_out) : rows_out;
		Cost		pass;
		Cost		sweep = ntuples / OMENDB_WALK_SWEEP_COST_RATIO * node_cost +
			seq_page_cost * Max(index->pages, 1) +
			ntuples * cpu_index_tuple_cost + passing * ntuples * node_cpu;

		/* through the label directory: its pages, and the passing rows' */
		if (label_directory)
			sweep = omendb_directory_pass_nodes(ntuples, passing, false) * node_cost;
		pass = label_directory ?
			omendb_directory_pass_nodes(ntuples, passing, sketched) * node_cost : 0;

		if (label_directory &&
			pass < omendb_walk_nodes(passing, walk_new, met_startup) * node_cost)
		{
			*indexStartupCost = pass;
			*indexTotalCost = pass + rows_out * out_row;
		}
		else if (wanted * walk_row > sweep)
		{
			*indexStartupCost += sweep;
			*indexTotalCost = *indexStartupCost + rows_out * out_row;
		}
	}

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
