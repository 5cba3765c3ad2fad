/*-------------------------------------------------------------------------
 *
 * omendb_planner.c
 *	  The planner hook of radius queries.
 *
 * PostgreSQL matches a WHERE clause to an index only when the clause's top
 * operator takes the indexed column, and "v <-> q < r" has float8lt on
 * top, which has no planner support function either.  So for a relation
 * with an omendb index, this hook finds the clauses
 *
 *		dist(col, q) < r		dist(col, q) <= r
 *		r > dist(col, q)		r >= dist(col, q)
 *
 * (dist the index's ordering operator or its function, col the indexed
 * column or expression, q and r free of the relation's columns and of
 * volatile functions) and adds for each the ball clause
 * "col <<-> ROW(q, r)::omendb_ball" that the index takes as a scan key.
 * The ball clause holds whenever the original does (see omendb_radius.c),
 * and goes only into the index paths it makes: the original clause stays
 * among the relation's restrictions, so the executor still checks it
 * exactly, and the relation's row estimate is what it was.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_type_d.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/paths.h"
#include "optimizer/restrictinfo.h"
#include "utils/fmgroids.h"
#include "utils/catcache.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "omendb.h"
#include "omendb_radius.h"

static set_rel_pathlist_hook_type prev_set_rel_pathlist_hook = NULL;

/* The operators of an omendb index that a radius query needs. */
typedef struct RadiusOps
{
	Oid			order_op;		/* the distance: ordering operator 1 */
	Oid			order_fn;		/* its function */
	Oid			ball_op;		/* the ball operator, strategy 2 */
	Oid			ball_type;		/* omendb_ball */
} RadiusOps;

/*
 * Whether index is an omendb index whose operator family has a ball
 * operator (an index of a release without them has none), and its
 * operators: those of its first column, the vector (the others are
 * filter columns).
 */
static bool
index_radius_ops(IndexOptInfo *index, RadiusOps *ops)
{
	void		(*ours) () = omendb_costestimate;
	Oid			opfamily;
	Oid			keytype;
	CatCList   *list;

	if (index->amcostestimate != ours)
		return false;
	opfamily = index->opfamily[0];
	keytype = index->opcintype[0];
	ops->order_op = get_opfamily_member(opfamily, keytype, keytype, 1);
	if (!OidIsValid(ops->order_op))
		return false;
	ops->order_fn = get_opcode(ops->order_op);
	ops->ball_op = InvalidOid;
	ops->ball_type = InvalidOid;
	list = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamily));
	for (int i = 0; i < list->n_members; i++)
	{
		Form_pg_amop amop = (Form_pg_amop) GETSTRUCT(&list->members[i]->tuple);

		if (amop->amopstrategy == OMENDB_RADIUS_STRATEGY &&
			amop->amoppurpose == AMOP_SEARCH && amop->amoplefttype == keytype)
		{
			ops->ball_op = amop->amopopr;
			ops->ball_type = amop->amoprighttype;
		}
	}
	ReleaseCatCacheList(list);
	return OidIsValid(ops->ball_op);
}

/* A query or radius: computable before the scan, as an index key must be. */
static bool
is_scan_constant(Node *node)
{
	return !contain_var_clause(node) && !contain_volatile_functions(node);
}

/*
 * If expr is the index's distance between the indexed column and a query
 * (in either order: the distances are symmetric, and each ordering
 * operator is its own commutator), the column and the query.
 */
static bool
match_distance(Node *expr, IndexOptInfo *index, const RadiusOps *ops,
			   Node **col, Node **query)
{
	List	   *args;
	Node	   *a;
	Node	   *b;

	if (IsA(expr, OpExpr) && ((OpExpr *) expr)->opno == ops->order_op)
		args = ((OpExpr *) expr)->args;
	else if (IsA(expr, FuncExpr) && ((FuncExpr *) expr)->funcid == ops->order_fn)
		args = ((FuncExpr *) expr)->args;
	else
		return false;
	if (list_length(args) != 2)
		return false;
	a = linitial(args);
	b = lsecond(args);
	if (match_index_to_operand(a, 0, index) && is_scan_constant(b))
	{
		*col = a;
		*query = b;
		return true;
	}
	if (get_commutator(ops->order_op) == ops->order_op &&
		match_index_to_operand(b, 0, index) && is_scan_constant(a))
	{
		*col = b;
		*query = a;
		return true;
	}
	return false;
}

/*
 * The ball clause implied by a restriction "dist(col, q) < r" (or <=, or
 * the same turned around), or NULL if rinfo is not one.  A ball of
 * constants is folded into a constant, whose selectivity can be estimated.
 */
static RestrictInfo *
ball_clause_for(PlannerInfo *root, RestrictInfo *rinfo, IndexOptInfo *index,
				const RadiusOps *ops)
{
	OpExpr	   *cmp;
	Node	   *dist;
	Node	   *radius;
	Node	   *col;
	Node	   *query;
	RowExpr    *row;
	Expr	   *ball;
	RestrictInfo *result;

	if (rinfo->pseudoconstant || !IsA(rinfo->clause, OpExpr))
		return NULL;
	cmp = (OpExpr *) rinfo->clause;
	if (list_length(cmp->args) != 2)
		return NULL;
	switch (get_opcode(cmp->opno))
	{
		case F_FLOAT8LT:
		case F_FLOAT8LE:
			dist = linitial(cmp->args);
			radius = lsecond(cmp->args);
			break;
		case F_FLOAT8GT:
		case F_FLOAT8GE:
			dist = lsecond(cmp->args);
			radius = linitial(cmp->args);
			break;
		default:
			return NULL;
	}
	if (!is_scan_constant(radius) || !match_distance(dist, index, ops, &col, &query))
		return NULL;
	if (exprType(query) != index->opcintype[0] || exprType(radius) != FLOAT8OID)
		return NULL;

	row = makeNode(RowExpr);
	row->args = list_make2(copyObject(query), copyObject(radius));
	row->row_typeid = ops->ball_type;
	row->row_format = COERCE_EXPLICIT_CAST;
	row->colnames = NIL;
	row->location = -1;
	ball = (Expr *) row;
	if (IsA(query, Const) && IsA(radius, Const))
		ball = evaluate_expr(ball, ops->ball_type, -1, InvalidOid);

	result = OMENDB_MAKE_SIMPLE_RESTRICTINFO(root,
									  make_opclause(ops->ball_op, BOOLOID, false,
													copyObject((Expr *) col), ball,
													InvalidOid, InvalidOid));
	/* as far as leaks go, the ball clause is the original one */
	result->security_level = rinfo->security_level;
	return result;
}

/*
 * set_rel_pathlist_hook: index paths with the ball clauses implied by a
 * relation's radius restrictions, for each omendb index that can take
 * them.  The core's own code makes the paths (ORDER BY matching, costs,
 * parameterization), over the omendb indexes alone, each with its ball
 * clauses added to its restrictions for the time being.
 */
static void
omendb_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti,
						RangeTblEntry *rte)
{
	List	   *indexes = NIL;
	List	   *saved = NIL;
	List	   *all_indexes;
	ListCell   *lc;
	ListCell   *ls;

	if (prev_set_rel_pathlist_hook)
		prev_set_rel_pathlist_hook(root, rel, rti, rte);

	/* (an inheritance parent is planned through its children) */
	if (rte->rtekind != RTE_RELATION || rte->inh ||
		(rel->reloptkind != RELOPT_BASEREL &&
		 rel->reloptkind != RELOPT_OTHER_MEMBER_REL) ||
		rel->indexlist == NIL || IS_DUMMY_REL(rel))
		return;

	foreach(lc, rel->indexlist)
	{
		IndexOptInfo *index = lfirst_node(IndexOptInfo, lc);
		RadiusOps	ops;
		List	   *balls = NIL;
		ListCell   *lr;

		if ((index->indpred != NIL && !index->predOK) ||
			!index_radius_ops(index, &ops))
			continue;
		foreach(lr, index->indrestrictinfo)
		{
			RestrictInfo *ball = ball_clause_for(root, lfirst_node(RestrictInfo, lr),
												 index, &ops);

			if (ball)
				balls = lappend(balls, ball);
		}
		if (balls == NIL)
			continue;
		indexes = lappend(indexes, index);
		saved = lappend(saved, index->indrestrictinfo);
		index->indrestrictinfo = list_concat(list_copy(index->indrestrictinfo), balls);
	}
	if (indexes == NIL)
		return;

	all_indexes = rel->indexlist;
	rel->indexlist = indexes;
	create_index_paths(root, rel);
	rel->indexlist = all_indexes;
	forboth(lc, indexes, ls, saved)
		((IndexOptInfo *) lfirst(lc))->indrestrictinfo = (List *) lfirst(ls);
}

void
omendb_planner_init(void)
{
	prev_set_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = omendb_set_rel_pathlist;
}
