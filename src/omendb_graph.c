/*-------------------------------------------------------------------------
 *
 * omendb_graph.c
 *	  The Vamana graph algorithms shared by build and insert: greedy search
 *	  and RobustPrune (Subramanya et al., "DiskANN", NeurIPS 2019,
 *	  Algorithms 1 and 2).
 *
 * Both work through an OmenGraphSource, so the same code runs on a build's
 * in-memory arrays and on buffer pages.  The scan has its own streaming
 * variant of the search in omendb_scan.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"

#include "omendb.h"
#include "omendb_quant.h"

/*
 * qsort_arg comparator: by distance, then by a hash of the node id salted
 * with the node whose candidates these are (*arg).  Ties are common among
 * duplicate vectors.  Breaking them by id, or by a hash the same for every
 * node, would make every copy prefer the same few copies, so that in-edges
 * pile up on those and the rest keep only the edges that overflow slots
 * give them; a per-node order spreads the edges over all copies.
 */
int
omendb_candidate_cmp(const void *a, const void *b, void *arg)
{
	const OmenCandidate *ca = a;
	const OmenCandidate *cb = b;
	uint32		salt;
	uint32		ha;
	uint32		hb;

	if (ca->dist < cb->dist)
		return -1;
	if (ca->dist > cb->dist)
		return 1;
	if (ca->node == cb->node)
		return 0;
	salt = murmurhash32(*(const uint32 *) arg);
	ha = murmurhash32(ca->node ^ salt);
	hb = murmurhash32(cb->node ^ salt);
	if (ha != hb)
		return ha < hb ? -1 : 1;
	return ca->node < cb->node ? -1 : 1;
}

/*
 * Insert a candidate into the list, kept sorted by distance and at most
 * list_size long.  Returns its position, or -1 if it did not make the cut.
 */
static int
list_insert(OmenCandidate *list, int *len, int list_size,
			const OmenCandidate *cand)
{
	int			pos = *len;

	if (*len == list_size && cand->dist >= list[*len - 1].dist)
		return -1;
	while (pos > 0 && list[pos - 1].dist > cand->dist)
		pos--;
	if (*len == list_size)
		(*len)--;
	memmove(&list[pos + 1], &list[pos], sizeof(OmenCandidate) * (*len - pos));
	list[pos] = *cand;
	(*len)++;
	return pos;
}

/*
 * GreedySearch(s, x_q, L) of Algorithm 1: keep the L nearest nodes seen in
 * a list, repeatedly expand the nearest one not yet expanded, and stop when
 * all of the list is expanded.  Returns the expanded set V (which the
 * caller prunes into neighbours) in *expanded, sorted by distance.
 */
int
omendb_greedy_search(OmenGraphSource *src, const OmenQuery *query,
					 uint32 entry, int list_size, OmenCandidate **expanded)
{
	OmenCandidate *list = palloc(sizeof(OmenCandidate) * (list_size + 1));
	int			len = 0;
	int			cursor = 0;
	int			nexp = 0;
	int			maxexp = list_size * 2;
	OmenCandidate *exp = palloc(sizeof(OmenCandidate) * maxexp);
	uint32	   *nbrs = palloc(sizeof(uint32) * src->max_degree);
	uint32	   *fresh = palloc(sizeof(uint32) * src->max_degree);
	float	   *dists = palloc(sizeof(float) * src->max_degree);
	bool	   *usable = palloc(sizeof(bool) * src->max_degree);
	OmenCandidate cand;

	src->visit(src, entry);
	src->score(src, query, &entry, 1, dists, usable);
	cand.node = entry;
	cand.dist = dists[0];
	cand.expanded = false;
	cand.usable = usable[0];
	list_insert(list, &len, list_size, &cand);

	for (;;)
	{
		int			nn;
		int			nfresh = 0;
		int			best;

		/* the nearest unexpanded node in the list */
		while (cursor < len && list[cursor].expanded)
			cursor++;
		if (cursor >= len)
			break;
		best = cursor;
		list[best].expanded = true;
		if (nexp == maxexp)
		{
			maxexp *= 2;
			exp = repalloc(exp, sizeof(OmenCandidate) * maxexp);
		}
		exp[nexp++] = list[best];

		nn = src->neighbors(src, list[best].node, nbrs);
		for (int i = 0; i < nn; i++)
			if (src->visit(src, nbrs[i]))
				fresh[nfresh++] = nbrs[i];
		if (nfresh == 0)
			continue;
		src->score(src, query, fresh, nfresh, dists, usable);
		for (int i = 0; i < nfresh; i++)
		{
			int			pos;

			cand.node = fresh[i];
			cand.dist = dists[i];
			cand.expanded = false;
			cand.usable = usable[i];
			pos = list_insert(list, &len, list_size, &cand);
			if (pos >= 0 && pos < cursor)
				cursor = pos;
		}
	}

	pfree(list);
	pfree(nbrs);
	pfree(fresh);
	pfree(dists);
	pfree(usable);
	qsort_arg(exp, nexp, sizeof(OmenCandidate), omendb_candidate_cmp, &entry);
	*expanded = exp;
	return nexp;
}

static bool
node_in_list(const uint32 *list, int n, uint32 node)
{
	for (int i = 0; i < n; i++)
		if (list[i] == node)
			return true;
	return false;
}

/*
 * RobustPrune(p, V, alpha, R) of Algorithm 2: take the nearest candidate
 * p*, then drop every candidate p' that p* "covers", i.e. with
 * alpha * d(p*, p') < d(p, p'), and repeat until R are taken.  alpha > 1
 * keeps some longer edges, which is what makes the graph navigable in few
 * hops.  Distances are squared, as in the reference implementation.
 *
 * Exact duplicates (distance 0 in code space) need two departures from the
 * paper, whose "<=" lets one copy cover all the others, so that a group of
 * copies ends up linked by a single edge and most copies are unreachable.
 * The strict "<" never lets a copy of p cover another copy of p, and at
 * most half of p's edges go to its own copies, so the rest still lead out.
 * A node that is not a copy links to one copy of a group, as before.
 *
 * And a node keeps at least min_degree edges: if pruning leaves fewer, the
 * nearest pruned candidates fill up the rest.  Otherwise a node near the
 * middle of a cluster covers all others, each node of the cluster keeps a
 * single edge, to that hub, and the graph degenerates into a star that a
 * search cannot get around in.
 *
 * cands[].dist must be d(self, cand); cands is sorted here.  pivot is a
 * scratch L2 query on the index's quantizer.  Returns the number of
 * neighbours written to out[], nearest first.
 */
/*
 * Whether candidate c may join the neighbours out[0..nout-1] of self: a
 * usable node, not self, not taken yet, and not a copy of self beyond the
 * allowance.  Counts the copies taken.
 */
static bool
may_take(const OmenCandidate *c, uint32 self, const uint32 *out, int nout,
		 int *ncopies, int max_copies)
{
	if (c->node == self || !c->usable || node_in_list(out, nout, c->node))
		return false;
	if (c->dist == 0)
	{
		if (*ncopies == max_copies)
			return false;
		(*ncopies)++;
	}
	return true;
}

int
omendb_robust_prune(OmenGraphSource *src, OmenQuery *pivot,
					OmenCandidate *cands, int ncands, uint32 self,
					double alpha, int degree, uint32 *out)
{
	bool	   *removed = palloc0(sizeof(bool) * ncands);
	int			max_copies = Max(degree / 2, 1);
	int			min_degree = degree * OMENDB_MIN_DEGREE_FRACTION;
	int			ncopies = 0;
	int			nout = 0;

	qsort_arg(cands, ncands, sizeof(OmenCandidate), omendb_candidate_cmp, &self);

	for (int i = 0; i < ncands && nout < degree; i++)
	{
		if (removed[i] ||
			!may_take(&cands[i], self, out, nout, &ncopies, max_copies))
			continue;
		out[nout++] = cands[i].node;
		if (nout == degree)
			break;

		omendb_query_from_code(pivot, src->code(src, cands[i].node));
		for (int j = i + 1; j < ncands; j++)
		{
			if (removed[j])
				continue;
			if (alpha * omendb_code_distance(pivot, src->code(src, cands[j].node)) <
				cands[j].dist)
				removed[j] = true;
		}
	}

	/* too few left: the nearest pruned candidates fill up to min_degree */
	for (int i = 0; i < ncands && nout < min_degree; i++)
	{
		if (removed[i] &&
			may_take(&cands[i], self, out, nout, &ncopies, max_copies))
			out[nout++] = cands[i].node;
	}
	pfree(removed);
	return nout;
}
