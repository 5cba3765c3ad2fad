/*-------------------------------------------------------------------------
 *
 * vector_support.c
 *	  Planner support for the distance functions: what a call costs.
 *
 * A distance over d dimensions costs about d/8 simple operators, while
 * the planner assumes one for any C function.  Left at one, a sequential
 * scan that computes 60,000 distances over 784 dimensions looks cheaper
 * than an index search that touches a few hundred graph nodes, and the
 * planner picks it as soon as the search list grows.
 *
 * A table's vector stored out of line costs more: each call fetches it
 * from the TOAST table first.  On Fashion-MNIST (784 dimensions, TOASTed
 * at the type's default storage) that fetch is most of a distance's
 * 15 us, and without it a filter passed by 1% of the rows sent "WHERE c =
 * $1 ORDER BY v <-> $2 LIMIT 10" to a sequential scan and a sort (12.8
 * ms) rather than to the index (4.1 ms).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/heaptoast.h"
#include "catalog/pg_attribute.h"
#include "fmgr.h"
#include "nodes/nodeFuncs.h"
#include "nodes/supportnodes.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "utils/syscache.h"

#include "vector.h"

/* The arguments of a distance call, an operator's or a function's. */
static List *
distance_call_args(Node *node)
{
	if (node != NULL && IsA(node, OpExpr))
		return ((OpExpr *) node)->args;
	if (node != NULL && IsA(node, FuncExpr))
		return ((FuncExpr *) node)->args;
	return NIL;
}

/*
 * The dimension of a distance call, from the typmod of an argument or the
 * size of a constant one (elements of elemsize bytes); 0 if neither tells.
 */
static int
distance_call_dims(Node *node, Size elemsize)
{
	ListCell   *lc;

	foreach(lc, distance_call_args(node))
	{
		Node	   *arg = lfirst(lc);
		int32		typmod = exprTypmod(arg);

		if (typmod > 0)
			return typmod;
		if (IsA(arg, Const) && !((Const *) arg)->constisnull)
		{
			Size		raw = toast_raw_datum_size(((Const *) arg)->constvalue);

			if (raw >= VECTOR_SIZE(0))
				return (raw - VECTOR_SIZE(0)) / elemsize;
		}
	}
	return 0;
}

/*
 * What fetching a value of value_size bytes of column attnum of table
 * relid costs a call, beyond the distance: nothing if the value stays in
 * the row, else one probe of the TOAST table's index and a page for each
 * chunk, charged as pages read in order (they are mostly cached, but a
 * call reads several).  A value goes out of line once its row passes
 * TOAST_TUPLE_THRESHOLD, which a vector alone larger than that does,
 * unless the column's storage keeps it in the row (plain or main).
 */
double
vector_fetch_cost(Oid relid, AttrNumber attnum, Size value_size)
{
	HeapTuple	tup;
	char		storage;

	if (!OidIsValid(relid) || attnum <= 0 || value_size <= TOAST_TUPLE_THRESHOLD)
		return 0;
	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	if (!HeapTupleIsValid(tup))
		return 0;
	storage = ((Form_pg_attribute) GETSTRUCT(tup))->attstorage;
	ReleaseSysCache(tup);
	if (storage != TYPSTORAGE_EXTERNAL && storage != TYPSTORAGE_EXTENDED)
		return 0;
	return seq_page_cost *
		(1 + (value_size + TOAST_MAX_CHUNK_SIZE - 1) / TOAST_MAX_CHUNK_SIZE);
}

/*
 * The fetch cost of a distance call's arguments that are columns of a
 * table in the query (vector_fetch_cost), for vectors of dims elements.
 */
static double
distance_call_fetch_cost(PlannerInfo *root, Node *node, int dims,
						 Size elemsize)
{
	ListCell   *lc;
	double		cost = 0;

	if (root == NULL || dims <= 0)
		return 0;
	foreach(lc, distance_call_args(node))
	{
		Var		   *var = lfirst(lc);
		RangeTblEntry *rte;

		if (!IsA(var, Var) || var->varlevelsup != 0 ||
			var->varno < 1 || var->varno > root->simple_rel_array_size)
			continue;
		rte = planner_rt_fetch(var->varno, root);
		if (rte->rtekind == RTE_RELATION)
			cost += vector_fetch_cost(rte->relid, var->varattno,
									  VECTOR_SIZE(0) + elemsize * dims);
	}
	return cost;
}

/* The cost of a distance call over elements of elemsize bytes */
static Node *
distance_support(Node *rawreq, Size elemsize)
{
	if (IsA(rawreq, SupportRequestCost))
	{
		SupportRequestCost *req = (SupportRequestCost *) rawreq;
		int			dims = distance_call_dims(req->node, elemsize);

		req->startup = 0;
		req->per_tuple = cpu_operator_cost * (1 + dims / 8.0) +
			distance_call_fetch_cost(req->root, req->node, dims, elemsize);
		return (Node *) req;
	}
	return NULL;
}

PG_FUNCTION_INFO_V1(vector_distance_support);
Datum
vector_distance_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(distance_support((Node *) PG_GETARG_POINTER(0),
									   sizeof(float)));
}

/* The same for halfvec, whose header is vector's and elements 2 bytes */
PG_FUNCTION_INFO_V1(halfvec_distance_support);
Datum
halfvec_distance_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(distance_support((Node *) PG_GETARG_POINTER(0),
									   sizeof(uint16)));
}
