/*-------------------------------------------------------------------------
 *
 * omendb_graph.c
 *	  The graph engine: best-first search (beam and stream modes),
 *	  RobustPrune (Subramanya et al., "DiskANN", NeurIPS 2019, Algorithms 1
 *	  and 2), reverse edges, orphan linking and the reachability walk.
 *
 * Everything here works through an OmenGraphStore (omendb_graph.h), so the
 * same code runs on a build's in-memory arrays and on buffer pages.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "omendb_graph.h"
#include "omendb_quant.h"

/* How often a reverse edge is retried when its target changes under us. */
#define EDGE_ATTEMPTS 3

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
 * Insert a candidate into the beam's list, kept sorted by distance, with
 * at most list_size usable members.  An unusable (deleted) node is kept
 * for expansion while it is nearer than the last usable member of a full
 * list, but takes no place: deleted nodes left until VACUUM do not shorten
 * the list.  So the last member of a full list is usable.  Returns the
 * candidate's position, or -1 if it did not make the cut.
 */
static int
list_insert(OmenBeamState *beam, const OmenCandidate *cand)
{
	OmenCandidate *list;
	int			pos = beam->len;

	if (beam->nusable == beam->list_size &&
		cand->dist >= beam->list[beam->len - 1].dist)
		return -1;
	if (beam->len == beam->caplist)
		beam->list = omendb_grow_array(beam->list, &beam->caplist,
									   sizeof(OmenCandidate));
	list = beam->list;
	while (pos > 0 && list[pos - 1].dist > cand->dist)
		pos--;
	memmove(&list[pos + 1], &list[pos], sizeof(OmenCandidate) * (beam->len - pos));
	list[pos] = *cand;
	beam->len++;
	if (cand->usable && ++beam->nusable > beam->list_size)
	{
		/* the candidate came before the last member, which is usable */
		beam->len--;
		beam->nusable--;
	}
	/* a full list ends at its L-th usable member */
	if (beam->nusable == beam->list_size)
		while (!list[beam->len - 1].usable)
			beam->len--;
	return pos < beam->len ? pos : -1;
}

/* ----------------------------------------------------------------
 *		The search
 * ----------------------------------------------------------------
 */

/*
 * Set up a search over store, with a new visited set.  A filter, if any, is
 * set next, then the search begins in one mode or the other.
 */
void
omendb_search_init(OmenSearch *search, OmenGraphStore *store)
{
	memset(search, 0, sizeof(OmenSearch));
	search->store = store;
	search->nbrs = palloc(sizeof(uint32) * store->max_degree);
	search->fresh = palloc(sizeof(uint32) * store->max_degree);
	store->forget_visited(store);
}

/*
 * Let filter decide which nodes the search may use (beam mode) or return
 * (stream mode).  Set before the search begins.
 */
void
omendb_search_set_filter(OmenSearch *search, OmenNodeFilter filter, void *arg)
{
	search->filter = filter;
	search->filter_arg = arg;
	if (search->accept == NULL)
		search->accept = palloc(sizeof(bool) * Max(search->store->max_degree, 1));
}

/*
 * Expand a node: meet its neighbours not visited before.  Leaves them in
 * search->fresh (and the filter's verdicts in search->accept) and returns
 * how many.
 */
static int
expand(OmenSearch *search, uint32 node)
{
	OmenGraphStore *store = search->store;
	int			nn = store->neighbors(store, node, search->nbrs);
	int			nfresh = store->visit(store, search->nbrs, nn, search->fresh);

	if (nfresh > 0 && search->filter)
		search->filter(search->filter_arg, search->fresh, nfresh, search->accept);
	return nfresh;
}

/* Beam mode: score nodes and let those near enough into the list. */
static void
beam_meet(OmenSearch *search, const uint32 *nodes, int n, const bool *accept)
{
	OmenBeamState *beam = &search->beam;

	search->store->score(search->store, beam->query, nodes, n,
						 beam->dists, beam->usable);
	for (int i = 0; i < n; i++)
	{
		OmenCandidate cand;
		int			pos;

		cand.node = nodes[i];
		cand.dist = beam->dists[i];
		cand.expanded = false;
		cand.usable = beam->usable[i] && (accept == NULL || accept[i]);
		pos = list_insert(beam, &cand);
		if (pos >= 0 && pos < beam->cursor)
			beam->cursor = pos;
	}
}

/*
 * Begin GreedySearch(entry, query, L) of Algorithm 1.  exclude, if valid,
 * is marked visited first, so that no edge leads the search to it (a node
 * searching for its own neighbours).
 */
void
omendb_beam_begin(OmenSearch *search, const OmenQuery *query, uint32 entry,
				  int list_size, uint32 exclude)
{
	OmenBeamState *beam = &search->beam;
	OmenGraphStore *store = search->store;

	beam->query = query;
	beam->entry = entry;
	beam->list_size = list_size;
	beam->caplist = 0;
	beam->list = omendb_grow_array(NULL, &beam->caplist, sizeof(OmenCandidate));
	beam->capexpanded = list_size * 2;
	beam->expanded = palloc(sizeof(OmenCandidate) * beam->capexpanded);
	beam->dists = palloc(sizeof(float) * store->max_degree);
	beam->usable = palloc(sizeof(bool) * store->max_degree);

	if (exclude != OMENDB_INVALID_NODE)
		(void) store->visit(store, &exclude, 1, search->fresh);
	(void) store->visit(store, &entry, 1, search->fresh);
	if (search->filter)
		search->filter(search->filter_arg, &entry, 1, search->accept);
	beam_meet(search, &entry, 1, search->filter ? search->accept : NULL);
}

/* Run the beam search until every node in the list is expanded. */
void
omendb_beam_run(OmenSearch *search)
{
	OmenBeamState *beam = &search->beam;

	for (;;)
	{
		OmenCandidate *best;
		int			nfresh;

		/* the nearest unexpanded node in the list */
		while (beam->cursor < beam->len &&
			   beam->list[beam->cursor].expanded)
			beam->cursor++;
		if (beam->cursor >= beam->len)
			break;
		best = &beam->list[beam->cursor];
		best->expanded = true;
		if (beam->nexpanded == beam->capexpanded)
		{
			beam->capexpanded *= 2;
			beam->expanded = repalloc(beam->expanded,
										sizeof(OmenCandidate) * beam->capexpanded);
		}
		beam->expanded[beam->nexpanded++] = *best;

		nfresh = expand(search, best->node);
		if (nfresh > 0)
			beam_meet(search, search->fresh, nfresh,
					  search->filter ? search->accept : NULL);
	}
}

/*
 * The expanded set V, sorted by distance (ties as omendb_candidate_cmp
 * breaks them for the entry point).  The caller owns the array.
 */
int
omendb_beam_take_expanded(OmenSearch *search, OmenCandidate **expanded)
{
	OmenBeamState *beam = &search->beam;
	int			n = beam->nexpanded;

	qsort_arg(beam->expanded, n, sizeof(OmenCandidate), omendb_candidate_cmp,
			  &beam->entry);
	*expanded = beam->expanded;
	beam->expanded = NULL;
	beam->nexpanded = beam->capexpanded = 0;
	return n;
}

static void
pfree_if(void *p)
{
	if (p)
		pfree(p);
}

/* Free what a search holds (in either mode). */
void
omendb_search_end(OmenSearch *search)
{
	OmenStreamState *stream = &search->stream;
	OmenBeamState *beam = &search->beam;

	pfree_if(search->nbrs);
	pfree_if(search->fresh);
	pfree_if(search->accept);
	pfree_if(beam->list);
	pfree_if(beam->expanded);
	pfree_if(beam->dists);
	pfree_if(beam->usable);
	pfree_if(stream->frontier);
	pfree_if(stream->parked);
	pfree_if(stream->met);
	memset(search, 0, sizeof(OmenSearch));
}

/*
 * GreedySearch(entry, query, L), run to the end: returns V (which the
 * caller prunes into neighbours) in *expanded, sorted by distance.
 */
int
omendb_greedy_search(OmenGraphStore *store, const OmenQuery *query,
					 uint32 entry, int list_size, uint32 exclude,
					 OmenCandidate **expanded)
{
	OmenSearch	search;
	int			n;

	omendb_search_init(&search, store);
	omendb_beam_begin(&search, query, entry, list_size, exclude);
	omendb_beam_run(&search);
	n = omendb_beam_take_expanded(&search, expanded);
	omendb_search_end(&search);
	return n;
}

/* ----------------------------------------------------------------
 *		Stream mode
 * ----------------------------------------------------------------
 */

/* Double a heap's array (OMENDB_HEAP_INITIAL_CAP items the first time). */
void *
omendb_grow_array(void *items, size_t *cap, Size itemsize)
{
	size_t		newcap = *cap ? *cap * 2 : OMENDB_HEAP_INITIAL_CAP;

	items = items ? repalloc_huge(items, newcap * itemsize)
		: MemoryContextAllocHuge(CurrentMemoryContext, newcap * itemsize);
	*cap = newcap;
	return items;
}

/* Give back what a heap of n items no longer uses, after shedding. */
void *
omendb_shrink_array(void *items, size_t n, size_t *cap, Size itemsize)
{
	size_t		newcap = Max(n, OMENDB_HEAP_INITIAL_CAP);

	if (newcap < *cap)
	{
		items = repalloc_huge(items, newcap * itemsize);
		*cap = newcap;
	}
	return items;
}

static void
frontier_push(OmenSearch *search, float approx, uint32 node)
{
	OmenStreamState *stream = &search->stream;
	size_t		i;

	if (stream->nfrontier == stream->capfrontier)
	{
		if (stream->before_growth)
			stream->before_growth(search, stream->arg);
		if (stream->nfrontier == stream->capfrontier)
			stream->frontier = omendb_grow_array(stream->frontier,
												 &stream->capfrontier,
												 sizeof(OmenFrontierItem));
	}
	i = stream->nfrontier++;
	while (i > 0)
	{
		size_t		parent = (i - 1) / 2;

		if (stream->frontier[parent].approx <= approx)
			break;
		stream->frontier[i] = stream->frontier[parent];
		i = parent;
	}
	stream->frontier[i].approx = approx;
	stream->frontier[i].node = node;
}

static OmenFrontierItem
frontier_pop(OmenSearch *search)
{
	OmenStreamState *stream = &search->stream;
	OmenFrontierItem *h = stream->frontier;
	OmenFrontierItem top = h[0];
	OmenFrontierItem last = h[--stream->nfrontier];
	size_t		n = stream->nfrontier;
	size_t		i = 0;

	for (;;)
	{
		size_t		child = 2 * i + 1;

		if (child >= n)
			break;
		if (child + 1 < n && h[child + 1].approx < h[child].approx)
			child++;
		if (last.approx <= h[child].approx)
			break;
		h[i] = h[child];
		i = child;
	}
	if (n > 0)
		h[i] = last;
	return top;
}

/*
 * Begin a streaming search.  meet scores each batch of fresh nodes and
 * offers them; before_growth, if set, is called before the frontier
 * doubles.
 */
void
omendb_stream_begin(OmenSearch *search, OmenSearchMeet meet,
					OmenSearchGrowth before_growth, void *arg)
{
	OmenStreamState *stream = &search->stream;

	stream->meet = meet;
	stream->before_growth = before_growth;
	stream->arg = arg;
	stream->beam_limit = INFINITY;
}

/*
 * Offer a node met at approximate distance approx for expansion.  In the
 * beam phase a node farther than the L-th best distance met so far (which
 * only falls) can never be expanded in it: it is parked instead.  (A NaN
 * distance goes on the frontier, which keeps it on top.)  A node that
 * does not count (a deleted one) is expanded like any other, but takes no
 * place among the L: deleted nodes do not shorten the list.
 */
void
omendb_search_offer(OmenSearch *search, uint32 node, float approx,
					bool counts)
{
	OmenStreamState *stream = &search->stream;

	if (stream->beam_phase)
	{
		if (stream->met && counts)
			stream->met[stream->nmet++] = approx;
		if (approx > stream->beam_limit)
		{
			if (stream->nparked == stream->capparked)
				stream->parked = omendb_grow_array(stream->parked,
												   &stream->capparked,
												   sizeof(OmenFrontierItem));
			stream->parked[stream->nparked].approx = approx;
			stream->parked[stream->nparked++].node = node;
			return;
		}
	}
	frontier_push(search, approx, node);
}

static void
meet_fresh(OmenSearch *search, const uint32 *nodes, int n)
{
	search->stream.meet(search, nodes, n, search->filter ? search->accept : NULL,
				 search->stream.arg);
}

/* Fold distances into best[], a max-heap of the nbest smallest (<= L). */
static void
fold_best(float *best, int *nbest, int L, const float *dists, int n)
{
	for (int i = 0; i < n; i++)
	{
		float		di = dists[i];
		int			j;

		if (*nbest < L)
		{
			j = (*nbest)++;
			while (j > 0 && best[(j - 1) / 2] < di)
			{
				best[j] = best[(j - 1) / 2];
				j = (j - 1) / 2;
			}
			best[j] = di;
		}
		else if (di < best[0])
		{
			/* replace the max and sift down */
			j = 0;
			for (;;)
			{
				int			c = 2 * j + 1;

				if (c >= *nbest)
					break;
				if (c + 1 < *nbest && best[c + 1] > best[c])
					c++;
				if (best[c] <= di)
					break;
				best[j] = best[c];
				j = c;
			}
			best[j] = di;
		}
	}
}

/*
 * The beam phase: from entry, expand the nearest unexpanded node while it
 * is among the L nearest met so far (GreedySearch with list size L, a
 * max-heap of the L best distances standing in for the sorted list).
 * Nodes met outside the beam stay parked until omendb_stream_unpark.
 */
void
omendb_stream_beam(OmenSearch *search, uint32 entry, int list_size)
{
	OmenStreamState *stream = &search->stream;
	int			L = list_size;
	float	   *best = palloc(sizeof(float) * (L + 1));
	int			nbest = 0;

	stream->beam_phase = true;
	stream->met = palloc(sizeof(float) * (search->store->max_degree + 1));
	stream->nmet = 0;
	(void) search->store->visit(search->store, &entry, 1, search->fresh);
	if (search->filter)
		search->filter(search->filter_arg, &entry, 1, search->accept);
	meet_fresh(search, &entry, 1);

	while (stream->nfrontier > 0)
	{
		float		d = stream->frontier[0].approx;

		if (nbest == L && d > best[0])
			break;
		stream->beam_limit = (nbest == L) ? best[0] : INFINITY;
		omendb_stream_expand_next(search);
		fold_best(best, &nbest, L, stream->met, stream->nmet);
		stream->nmet = 0;
		CHECK_FOR_INTERRUPTS();
	}
	pfree(best);
	pfree(stream->met);
	stream->met = NULL;
}

/* End the beam phase: the parked nodes join the frontier. */
void
omendb_stream_unpark(OmenSearch *search)
{
	OmenStreamState *stream = &search->stream;

	stream->beam_phase = false;
	for (size_t i = 0; i < stream->nparked; i++)
		frontier_push(search, stream->parked[i].approx, stream->parked[i].node);
	pfree_if(stream->parked);
	stream->parked = NULL;
	stream->nparked = stream->capparked = 0;
}

/* The approximate distance of the nearest unexpanded node, if any. */
bool
omendb_stream_peek(OmenSearch *search, float *approx)
{
	if (search->stream.nfrontier == 0)
		return false;
	*approx = search->stream.frontier[0].approx;
	return true;
}

/* Expand the nearest unexpanded node. */
void
omendb_stream_expand_next(OmenSearch *search)
{
	int			nfresh = expand(search, frontier_pop(search).node);

	search->stream.nexpanded++;
	if (nfresh > 0)
		meet_fresh(search, search->fresh, nfresh);
}

/* By approximate distance, NaN first (the heap keeps NaN on top, too). */
static int
cmp_frontier_approx(const void *a, const void *b)
{
	float		x = ((const OmenFrontierItem *) a)->approx;
	float		y = ((const OmenFrontierItem *) b)->approx;

	if (isnan(x) || isnan(y))
		return !isnan(x) - !isnan(y);
	return (x > y) - (x < y);
}

/*
 * Drop the frontier nodes of the larger half of the distances (they stay
 * visited).  A sorted array is a valid heap, so the half kept needs no
 * rebuilding.  Returns false if nothing could be dropped, else sets *cut
 * to the smallest distance dropped.
 */
bool
omendb_stream_shed(OmenSearch *search, float *cut)
{
	OmenStreamState *stream = &search->stream;
	OmenFrontierItem *h = stream->frontier;
	size_t		n = stream->nfrontier;
	size_t		first = 0;		/* first item that is not NaN */
	size_t		keep;

	if (n == 0)
		return false;
	qsort(h, n, sizeof(OmenFrontierItem), cmp_frontier_approx);
	while (first < n && isnan(h[first].approx))
		first++;
	if (first == n)
		return false;
	keep = first + (n - first) / 2;
	*cut = h[keep].approx;
	while (keep > first && h[keep - 1].approx >= *cut)
		keep--;
	stream->nfrontier = keep;
	stream->frontier = omendb_shrink_array(h, keep, &stream->capfrontier,
										   sizeof(OmenFrontierItem));
	return true;
}

/* The bytes the frontier takes. */
Size
omendb_stream_bytes(OmenSearch *search)
{
	return search->stream.capfrontier * sizeof(OmenFrontierItem);
}

/* Give up the frontier: the caller goes on without the graph. */
void
omendb_stream_drop_frontier(OmenSearch *search)
{
	OmenStreamState *stream = &search->stream;

	pfree_if(stream->frontier);
	stream->frontier = NULL;
	stream->nfrontier = stream->capfrontier = 0;
}

/* ----------------------------------------------------------------
 *		RobustPrune
 * ----------------------------------------------------------------
 */

static bool
node_in_list(const uint32 *list, int n, uint32 node)
{
	for (int i = 0; i < n; i++)
		if (list[i] == node)
			return true;
	return false;
}

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
int
omendb_robust_prune(OmenGraphStore *store, OmenQuery *pivot,
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

		omendb_query_from_code(pivot, store->code(store, cands[i].node));
		for (int j = i + 1; j < ncands; j++)
		{
			if (removed[j])
				continue;
			if (alpha * omendb_code_distance(pivot, store->code(store, cands[j].node)) <
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

/* ----------------------------------------------------------------
 *		Edges
 * ----------------------------------------------------------------
 */

/*
 * A node's neighbours: search for it from entry and prune what the search
 * expanded (excluding self, if valid, which is the node itself already in
 * the graph).  Returns how many neighbours were written to out[].
 */
int
omendb_find_neighbors(OmenGraphStore *store, const OmenQuery *query,
					  OmenQuery *pivot, uint32 entry, int list_size,
					  uint32 self, double alpha, int degree, uint32 *out)
{
	OmenCandidate *cands;
	int			ncands;
	int			n;

	ncands = omendb_greedy_search(store, query, entry, list_size, self, &cands);
	n = omendb_robust_prune(store, pivot, cands, ncands, self, alpha, degree,
							out);
	pfree(cands);
	return n;
}

/* Candidates for RobustPrune: nodes[] scored from query. */
static void
score_candidates(OmenGraphStore *store, const OmenQuery *query,
				 const uint32 *nodes, int n, OmenCandidate *cands)
{
	float		dists[OMENDB_MAX_NEIGHBORS + 1];
	bool		usable[OMENDB_MAX_NEIGHBORS + 1];

	for (int done = 0; done < n; done += OMENDB_MAX_NEIGHBORS + 1)
	{
		int			batch = Min(n - done, OMENDB_MAX_NEIGHBORS + 1);

		store->score(store, query, nodes + done, batch, dists, usable);
		for (int i = 0; i < batch; i++)
		{
			cands[done + i].node = nodes[done + i];
			cands[done + i].dist = dists[i];
			cands[done + i].usable = usable[i];
			cands[done + i].expanded = false;
		}
	}
}

/*
 * RobustPrune(p, ids[0..n-1]), the candidates measured from from (a query
 * for p's vector) or, where it is NULL, from p's code; the first nstay may
 * stay though deleted (omendb_add_reverse_edge says why).
 */
static int
prune_ids(OmenGraphStore *store, OmenQuery *pivot, const OmenQuery *from,
		  uint32 p, const uint32 *ids, int n, int nstay, double alpha,
		  int degree, uint32 *out)
{
	OmenCandidate *cands = palloc(sizeof(OmenCandidate) * Max(n, 1));
	int			nout;

	if (from == NULL)
	{
		omendb_query_from_code(pivot, store->code(store, p));
		from = pivot;
	}
	score_candidates(store, from, ids, n, cands);
	for (int i = 0; i < nstay; i++)
		cands[i].usable = true;
	nout = omendb_robust_prune(store, pivot, cands, n, p, alpha, degree, out);
	pfree(cands);
	return nout;
}

/*
 * RobustPrune(p, ids[0..n-1]), the candidates measured from p's code, or
 * from its vector where from is a query for it: the neighbour list p would
 * have among them.  pivot is a scratch L2 query on the index's quantizer.
 * Returns how many were written to out[].
 */
int
omendb_prune_candidates(OmenGraphStore *store, OmenQuery *pivot,
						const OmenQuery *from, uint32 p, const uint32 *ids,
						int n, double alpha, int degree, uint32 *out)
{
	return prune_ids(store, pivot, from, p, ids, n, 0, alpha, degree, out);
}

/*
 * Where j's list is pruned from members[] down to kept[], hand each live
 * member it drops to the kept node nearest to it: the prune drops y
 * where a kept z lies nearer to y than j does (or for room), and a search
 * that goes from j to z then still has an edge to y.  Appended to the
 * nearest kept node with room: a full z would cut y off, and the next
 * nearest still leads there from j.
 */
static void
keep_dropped_reachable(OmenGraphStore *store, OmenQuery *pivot,
					   const uint32 *members, int n, const uint32 *kept,
					   int nkept)
{
	float		dists[OMENDB_MAX_NEIGHBORS + 1];
	bool		usable[OMENDB_MAX_NEIGHBORS + 1];

	for (int i = 0; i < n; i++)
	{
		uint32		y = members[i];
		bool		dropped = true;

		for (int k = 0; k < nkept && dropped; k++)
			dropped = kept[k] != y;
		if (!dropped)
			continue;
		omendb_query_from_code(pivot, store->code(store, y));
		store->score(store, pivot, &y, 1, dists, usable);
		if (!usable[0])
			continue;
		store->score(store, pivot, kept, nkept, dists, usable);
		for (;;)
		{
			int			best = -1;

			for (int k = 0; k < nkept; k++)
				if (usable[k] && (best < 0 || dists[k] < dists[best]))
					best = k;
			if (best < 0 || store->append_neighbor(store, kept[best], y))
				break;
			usable[best] = false;	/* full: try the next nearest */
		}
	}
}

/*
 * RobustPrune(p, ids[0..n-1]) as omendb_prune_candidates, for a list that
 * replaces p's own: the first nlinked of ids are p's neighbours now, and
 * each of those the prune drops is handed on to the nearest kept node with
 * room (keep_dropped_reachable), as a full list's re-prune hands them on.
 * The caller writes p's new list after this returns, so that a crash
 * between the records leaves each dropped node linked.
 */
int
omendb_prune_keeping_linked(OmenGraphStore *store, OmenQuery *pivot,
							const OmenQuery *from, uint32 p, const uint32 *ids,
							int n, int nlinked, double alpha, int degree,
							uint32 *out)
{
	int			nout = prune_ids(store, pivot, from, p, ids, n, 0, alpha,
								 degree, out);

	keep_dropped_reachable(store, pivot, ids, nlinked, out, nout);
	return nout;
}

/*
 * Add the edge j -> p.  While j has spare slots the edge is appended; when
 * j is full, j's neighbours plus p are re-pruned down to R (the overflow-
 * then-prune rule).  Optimistic: read j, compute, and write only if j did
 * not change meanwhile, else retry a few times.  A lost race costs one
 * reverse edge, never consistency.  With keep_reachable, the live nodes
 * the prune drops are handed on (keep_dropped_reachable): for a graph
 * that no second pass refines, an insert's or VACUUM's.  Returns whether
 * j now links to p.
 */
bool
omendb_add_reverse_edge(OmenGraphStore *store, OmenQuery *pivot, uint32 j,
						uint32 p, double alpha, int degree,
						bool keep_reachable)
{
	uint32		members[OMENDB_MAX_NEIGHBORS + 1];
	uint32		pruned[OMENDB_MAX_NEIGHBORS];

	Assert(store->max_degree <= OMENDB_MAX_NEIGHBORS);
	for (int attempt = 0; attempt < EDGE_ATTEMPTS; attempt++)
	{
		int			n = store->neighbors(store, j, members);
		int			npruned;

		for (int i = 0; i < n; i++)
			if (members[i] == p)
				return true;
		if (n < store->max_degree)
		{
			if (store->append_neighbor(store, j, p))
				return true;
			continue;
		}

		/*
		 * Full: prune j's neighbours plus p, measured from j.  j's edges to
		 * deleted nodes may stay, as they would have before the nodes were
		 * flagged: searches still walk through them, and the cleanup that
		 * frees one gives j its own neighbours in its place (FreshDiskANN's
		 * consolidation).  Dropped here, such an edge would take the paths
		 * through the node with it for good, where a node is flagged long
		 * before a VACUUM frees it: by a scan's kill, or a crash in a
		 * cleanup between its records (README.omendb, "Deletion and slot
		 * reuse").  No edge to a deleted node is added: p is live.
		 */
		members[n] = p;
		npruned = prune_ids(store, pivot, NULL, j, members, n + 1, n,
							alpha, degree, pruned);

		/*
		 * Hand on the live members the prune drops before j lets go of
		 * them, so that each stays linked at every step, across a crash
		 * between the writes too (omendb_hand_over_edge orders its steps
		 * so).  If j changed meanwhile and the prune is redone, an edge
		 * handed on was not needed: a spare slot spent, nothing lost.
		 */
		if (keep_reachable)
			keep_dropped_reachable(store, pivot, members, n, pruned, npruned);
		if (store->replace_neighbors(store, j, members, n, pruned, npruned))
		{
			for (int i = 0; i < npruned; i++)
				if (pruned[i] == p)
					return true;
			return false;
		}
	}
	return false;
}

/*
 * The reverse edges of a node p placed with out-neighbours nbrs[0..n-1].
 * Returns whether any of them now links to p.
 */
bool
omendb_add_reverse_edges(OmenGraphStore *store, OmenQuery *pivot, uint32 p,
						 const uint32 *nbrs, int n, double alpha, int degree,
						 bool keep_reachable)
{
	bool		linked = false;

	for (int i = 0; i < n; i++)
		linked |= omendb_add_reverse_edge(store, pivot, nbrs[i], p, alpha,
										  degree, keep_reachable);
	return linked;
}

/*
 * Refine node p against the finished graph (Vamana's second pass): search
 * for it, re-prune its out-edges with alpha from what the search expanded
 * plus the edges it has, then add the reverse edges, pruned with
 * edge_alpha, as placing it did.  query is a scratch code query.  Where
 * others write the graph at the same time (a parallel build), p may gain
 * a reverse edge between the read of its list and the write: the prune is
 * then redone on the new list, a few times at most.
 */
void
omendb_refine_node(OmenGraphStore *store, OmenQuery *query, OmenQuery *pivot,
				   uint32 entry, int list_size, uint32 p, double alpha,
				   double edge_alpha, int degree)
{
	uint32		old[OMENDB_MAX_NEIGHBORS];
	uint32		new[OMENDB_MAX_NEIGHBORS];
	uint32		fresh[OMENDB_MAX_NEIGHBORS];
	OmenCandidate *cands;
	uint32	   *ids;
	int			nexpanded;
	int			nnew = 0;
	bool		written = false;

	omendb_query_from_code(query, store->code(store, p));
	nexpanded = omendb_greedy_search(store, query, entry, list_size, p, &cands);
	cands = repalloc(cands, sizeof(OmenCandidate) * (nexpanded + store->max_degree));
	ids = palloc(sizeof(uint32) * 2 * Max(nexpanded, 1));
	for (int i = 0; i < nexpanded; i++)
		ids[i] = cands[i].node;

	for (int attempt = 0; attempt < EDGE_ATTEMPTS && !written; attempt++)
	{
		int			n = store->neighbors(store, p, old);
		int			nfresh;

		/* candidates: the expanded set, then current neighbours not in it */
		store->forget_visited(store);
		(void) store->visit(store, ids, nexpanded, ids + nexpanded);
		nfresh = store->visit(store, old, n, fresh);
		score_candidates(store, query, fresh, nfresh, cands + nexpanded);

		nnew = omendb_robust_prune(store, pivot, cands, nexpanded + nfresh, p,
								   alpha, degree, new);
		written = store->replace_neighbors(store, p, old, n, new, nnew);
	}
	if (written)
		(void) omendb_add_reverse_edges(store, pivot, p, new, nnew, edge_alpha,
										degree, false);
	pfree(cands);
	pfree(ids);
}

/*
 * A new node p that every neighbour pruned away again has no in-edge, and
 * no search would find it.  Make room for it in its nearest neighbour j:
 * j's longest edge, to x, is handed over to p (p -> x, in one of p's spare
 * slots), then j -> x becomes j -> p.  In that order x stays reachable at
 * every moment, and each step is one write of one node.
 */
void
omendb_hand_over_edge(OmenGraphStore *store, OmenQuery *pivot, uint32 j,
					  uint32 p)
{
	uint32		old[OMENDB_MAX_NEIGHBORS];
	uint32		new[OMENDB_MAX_NEIGHBORS];
	float		dists[OMENDB_MAX_NEIGHBORS];
	bool		usable[OMENDB_MAX_NEIGHBORS];

	for (int attempt = 0; attempt < EDGE_ATTEMPTS; attempt++)
	{
		int			n = store->neighbors(store, j, old);
		int			longest = -1;

		if (n == 0)
			break;
		omendb_query_from_code(pivot, store->code(store, j));
		store->score(store, pivot, old, n, dists, usable);
		for (int i = 0; i < n; i++)
		{
			if (old[i] == p)
			{
				longest = -1;	/* linked meanwhile */
				break;
			}
			/* p may only link to a node it has seen live (README.omendb) */
			if (usable[i] && (longest < 0 || dists[i] > dists[longest]))
				longest = i;
		}
		if (longest < 0)
			break;

		/* p -> x first; give up if p has no spare slot left */
		if (!store->append_neighbor(store, p, old[longest]))
			break;
		memcpy(new, old, sizeof(uint32) * n);
		new[longest] = p;
		if (store->replace_neighbors(store, j, old, n, new, n))
			break;
	}
}

/*
 * Give node p an in-edge from the nearest node a search from the entry
 * point finds (so from a reachable node): appended if it has a spare slot
 * (max_degree exceeds R for this), else in place of an edge to a node
 * with other in-edges (indeg[] counts them).  Returns false if no such
 * edge could be found.
 */
static bool
link_from_nearest(OmenGraphStore *store, OmenQuery *query, uint32 entry,
				  int list_size, uint32 p, uint32 *indeg)
{
	uint32		old[OMENDB_MAX_NEIGHBORS];
	uint32		new[OMENDB_MAX_NEIGHBORS];
	OmenCandidate *cands;
	int			ncands;
	bool		linked = false;

	omendb_query_from_code(query, store->code(store, p));
	ncands = omendb_greedy_search(store, query, entry, list_size, p, &cands);

	for (int i = 0; i < ncands && !linked; i++)
		if (cands[i].usable)
			linked = store->append_neighbor(store, cands[i].node, p);
	for (int i = 0; i < ncands && !linked; i++)
	{
		uint32		j = cands[i].node;
		int			n;

		if (!cands[i].usable)
			continue;
		n = store->neighbors(store, j, old);

		for (int k = n - 1; k >= 0; k--)
		{
			if (indeg[old[k]] <= 1)
				continue;
			memcpy(new, old, sizeof(uint32) * n);
			new[k] = p;
			if (store->replace_neighbors(store, j, old, n, new, n))
			{
				indeg[old[k]]--;
				linked = true;
			}
			break;
		}
	}
	if (linked)
		indeg[p]++;
	pfree(cands);
	return linked;
}

/* ----------------------------------------------------------------
 *		Reachability
 * ----------------------------------------------------------------
 */

/*
 * Walk breadth-first from root over the nodes not reached yet, marking
 * them in reached[] and appending them to queue[] from position tail on
 * (root first).  Returns the new tail.  Deleted nodes are walked through,
 * as searches walk through them.
 */
uint32
omendb_graph_walk(OmenGraphStore *store, uint32 root, bool *reached,
				  uint32 *queue, uint32 tail)
{
	uint32	   *nbrs = palloc(sizeof(uint32) * Max(store->max_degree, 1));
	uint32		head = tail;

	if (reached[root])
		return tail;
	reached[root] = true;
	queue[tail++] = root;
	while (head < tail)
	{
		int			n = store->neighbors(store, queue[head++], nbrs);

		for (int i = 0; i < n; i++)
		{
			if (reached[nbrs[i]])
				continue;
			reached[nbrs[i]] = true;
			queue[tail++] = nbrs[i];
		}
		if ((head & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(nbrs);
	return tail;
}

/*
 * Pruning can leave nodes, or whole groups of them, that no path from the
 * entry point reaches, so that no search finds them.  Walk the graph of
 * nodes 0 .. nnodes - 1 from the entry point; link each node not reached
 * (of those need[] names, or all if it is NULL)
 * from its nearest reached node, and count everything it reaches as
 * reached.  Nodes are visited in id order, so a group cut off together is
 * joined by its first member.
 */
void
omendb_connect_unreachable(OmenGraphStore *store, uint32 entry, uint32 nnodes,
						   const bool *need, int list_size, int *nlinked,
						   int *nfailed)
{
	Size		n = nnodes;
	uint32	   *indeg = MemoryContextAllocHuge(CurrentMemoryContext, n * sizeof(uint32));
	uint32	   *queue = MemoryContextAllocHuge(CurrentMemoryContext, n * sizeof(uint32));
	bool	   *reached = MemoryContextAllocHuge(CurrentMemoryContext, n * sizeof(bool));
	uint32	   *nbrs = palloc(sizeof(uint32) * store->max_degree);
	OmenQuery	query;

	*nlinked = *nfailed = 0;
	memset(indeg, 0, n * sizeof(uint32));
	memset(reached, 0, n * sizeof(bool));
	for (uint32 p = 0; p < nnodes; p++)
	{
		int			nn = store->neighbors(store, p, nbrs);

		for (int i = 0; i < nn; i++)
			indeg[nbrs[i]]++;
	}
	omendb_query_init_code(&query, store->quant, NULL);

	(void) omendb_graph_walk(store, entry, reached, queue, 0);
	for (uint32 p = 0; p < nnodes; p++)
	{
		if (reached[p] || (need != NULL && !need[p]))
			continue;
		if (link_from_nearest(store, &query, entry, list_size, p, indeg))
		{
			(*nlinked)++;
			(void) omendb_graph_walk(store, p, reached, queue, 0);
		}
		else
			(*nfailed)++;
		CHECK_FOR_INTERRUPTS();
	}
	pfree(indeg);
	pfree(queue);
	pfree(reached);
	pfree(nbrs);
}
