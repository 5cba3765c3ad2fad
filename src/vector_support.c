/*-------------------------------------------------------------------------
 *
 * vector_support.c
 *	  Planner support for the distance functions: what a call costs.
 *
 * A distance over d dimensions costs about d/8 simple operators (more
 * once the vectors are long enough to be stored out of line and must be
 * detoasted), while the planner assumes one for any C function.  Left at
 * one, a sequential scan that computes 60,000 distances over 784
 * dimensions looks cheaper than an index search that touches a few hundred
 * graph nodes, and the planner picks it as soon as the search list grows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "fmgr.h"
#include "nodes/nodeFuncs.h"
#include "nodes/supportnodes.h"
#include "optimizer/optimizer.h"

#include "vector.h"

/*
 * The dimension of a distance call, from the typmod of an argument or the
 * size of a constant one (elements of elemsize bytes); 0 if neither tells.
 */
static int
distance_call_dims(Node *node, Size elemsize)
{
	List	   *args;
	ListCell   *lc;

	if (node == NULL)
		return 0;
	if (IsA(node, OpExpr))
		args = ((OpExpr *) node)->args;
	else if (IsA(node, FuncExpr))
		args = ((FuncExpr *) node)->args;
	else
		return 0;

	foreach(lc, args)
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

/* The cost of a distance call over elements of elemsize bytes */
static Node *
distance_support(Node *rawreq, Size elemsize)
{
	if (IsA(rawreq, SupportRequestCost))
	{
		SupportRequestCost *req = (SupportRequestCost *) rawreq;

		req->startup = 0;
		req->per_tuple = cpu_operator_cost *
			(1 + distance_call_dims(req->node, elemsize) / 8.0);
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
