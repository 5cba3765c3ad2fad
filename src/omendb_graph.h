/*-------------------------------------------------------------------------
 *
 * omendb_graph.h
 *	  The graph engine: one best-first search, RobustPrune, reverse edges,
 *	  orphan linking and the reachability walk, over a graph store.
 *
 * The engine knows nodes only by id and reaches them through an
 * OmenGraphStore: the in-memory arrays of a build (omendb_memstore.c) or
 * the buffer pages (omendb_pagestore.c).  The store's read side gives a
 * node's neighbours and code, scores a batch of nodes and keeps the
 * visited set of the current search; its write side appends a neighbour
 * and replaces a neighbour list if it is unchanged since it was read.
 * Each write is atomic for one node: the store takes whatever lock that
 * needs (a buffer lock, and one WAL record, on pages), so the engine's
 * read-compute-write steps are optimistic and retried when they lose a
 * race.  See README.omendb, "The graph engine".
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_GRAPH_H
#define OMENDB_GRAPH_H

#include "omendb.h"

/* The most neighbour slots a node can have (max_degree at the largest R). */
#define OMENDB_MAX_NEIGHBORS \
	(OMENDB_MAX_GRAPH_DEGREE * OMENDB_SLACK_NUM / OMENDB_SLACK_DEN)

/* A node met by a graph search, with its approximate distance. */
typedef struct OmenCandidate
{
	uint32		node;
	float		dist;			/* approximate distance to the query */
	bool		expanded;		/* out-neighbours already looked at */
	bool		usable;			/* may become a neighbour (not deleted) */
} OmenCandidate;

/* ----------------------------------------------------------------
 *		The store interface
 * ----------------------------------------------------------------
 */
typedef struct OmenGraphStore OmenGraphStore;
struct OmenGraphStore
{
	/* read side */

	/* Copy a node's out-neighbours into out[]; return how many. */
	int			(*neighbors) (OmenGraphStore *store, uint32 node, uint32 *out);
	/* Approximate distances from the query to nodes[0..n-1]; usable[i]
	 * says whether node i may become a neighbour (it is not deleted). */
	void		(*score) (OmenGraphStore *store, const OmenQuery *query,
						  const uint32 *nodes, int n, float *dists,
						  bool *usable);
	/* A node's code; stays valid while the store lives. */
	const uint8 *(*code) (OmenGraphStore *store, uint32 node);
	/* Start a new visited set. */
	void		(*forget_visited) (OmenGraphStore *store);
	/* Mark nodes[0..n-1] visited; copy those not visited before into
	 * fresh[], in order, and return how many. */
	int			(*visit) (OmenGraphStore *store, const uint32 *nodes, int n,
						  uint32 *fresh);

	/* write side */

	/* Add the edge node -> nbr unless present; false if node is full. */
	bool		(*append_neighbor) (OmenGraphStore *store, uint32 node,
									uint32 nbr);
	/* Replace node's neighbours old[0..nold-1] by new[0..nnew-1]; false,
	 * writing nothing, if they are no longer old. */
	bool		(*replace_neighbors) (OmenGraphStore *store, uint32 node,
									  const uint32 *old, int nold,
									  const uint32 *new, int nnew);

	/*
	 * Locking hooks, for a store that several processes write at once (a
	 * parallel build's shared arrays): hold a node's neighbour list against
	 * writers (shared) or against everyone (exclusive).  The store's own
	 * operations take them around each read and write of a list.  NULL
	 * where one backend owns the graph, and on pages, whose operations
	 * take buffer locks themselves.
	 */
	void		(*lock_node) (OmenGraphStore *store, uint32 node,
							  bool exclusive);
	void		(*unlock_node) (OmenGraphStore *store, uint32 node);

	const OmenQuantState *quant;	/* the codes' quantizer */
	int			max_degree;		/* neighbour slots per node */
};

/*
 * A filter decides which nodes a search may use or return: accept[i] for
 * nodes[i].  NULL accepts every node.
 */
typedef void (*OmenNodeFilter) (void *arg, const uint32 *nodes, int n,
								bool *accept);

/* ----------------------------------------------------------------
 *		The search
 *
 * One best-first search over a store, in one of two modes:
 *
 *	beam	GreedySearch(s, q, L) for build and insert: a list of the L
 *			nearest nodes met, sorted; expand the nearest unexpanded one
 *			until all are expanded.  Yields the expanded set V, scored by
 *			the store, for RobustPrune.
 *	stream	for scans: a frontier min-heap of met nodes by approximate
 *			distance, expanded one at a time for as long as the caller
 *			asks.  The caller scores each batch of fresh nodes (meet) and
 *			offers them to the frontier.  A first, bounded phase (the beam
 *			phase) expands while the frontier's nearest node is among the
 *			L nearest met, and parks nodes that can no longer enter it.
 * ----------------------------------------------------------------
 */
typedef struct OmenSearch OmenSearch;

/* Stream mode: score fresh nodes and offer them (omendb_search_offer). */
typedef void (*OmenSearchMeet) (OmenSearch *search, const uint32 *nodes,
								int n, const bool *accept, void *arg);

/* Stream mode: the frontier is full and about to double. */
typedef void (*OmenSearchGrowth) (OmenSearch *search, void *arg);

/* Items a heap's array starts with, and keeps when it sheds. */
#define OMENDB_HEAP_INITIAL_CAP		256

typedef struct OmenFrontierItem
{
	float		approx;
	uint32		node;
} OmenFrontierItem;

/* Beam mode's state. */
typedef struct OmenBeamState
{
	const OmenQuery *query;
	uint32		entry;
	int			list_size;
	OmenCandidate *list;		/* the L nearest usable nodes met, and
								 * unusable ones among them, sorted */
	size_t		caplist;
	int			len;
	int			nusable;		/* usable members of the list */
	int			cursor;			/* no unexpanded node before this */
	OmenCandidate *expanded;	/* V, in order of expansion */
	int			nexpanded;
	int			capexpanded;
	float	   *dists;			/* scores of a batch, max_degree */
	bool	   *usable;
} OmenBeamState;

/* Stream mode's state. */
typedef struct OmenStreamState
{
	OmenSearchMeet meet;
	OmenSearchGrowth before_growth;
	void	   *arg;			/* of both callbacks */
	OmenFrontierItem *frontier; /* min-heap by approx */
	size_t		nfrontier;
	size_t		capfrontier;
	bool		beam_phase;
	float		beam_limit;		/* park nodes met farther than this */
	OmenFrontierItem *parked;	/* met in the beam phase, outside the beam */
	size_t		nparked;
	size_t		capparked;
	float	   *met;			/* distances met since the last fold */
	int			nmet;
	int64		nexpanded;		/* nodes expanded, for the scan's counters */
} OmenStreamState;

struct OmenSearch
{
	OmenGraphStore *store;
	OmenNodeFilter filter;
	void	   *filter_arg;

	/* expansion scratch, max_degree each */
	uint32	   *nbrs;
	uint32	   *fresh;
	bool	   *accept;			/* NULL without a filter */

	OmenBeamState beam;
	OmenStreamState stream;
};

extern void omendb_search_init(OmenSearch *search, OmenGraphStore *store);
extern void omendb_search_set_filter(OmenSearch *search, OmenNodeFilter filter,
									 void *arg);

/* beam mode */
extern void omendb_beam_begin(OmenSearch *search, const OmenQuery *query,
							  uint32 entry, int list_size, uint32 exclude);
extern void omendb_beam_run(OmenSearch *search);
extern int	omendb_beam_take_expanded(OmenSearch *search,
									  OmenCandidate **expanded);
extern void omendb_search_end(OmenSearch *search);
extern int	omendb_greedy_search(OmenGraphStore *store, const OmenQuery *query,
								 uint32 entry, int list_size, uint32 exclude,
								 OmenCandidate **expanded);

/* stream mode */
extern void omendb_stream_begin(OmenSearch *search, OmenSearchMeet meet,
								OmenSearchGrowth before_growth, void *arg);
extern void omendb_stream_beam(OmenSearch *search, uint32 entry, int list_size);
extern void omendb_stream_unpark(OmenSearch *search);
extern void omendb_search_offer(OmenSearch *search, uint32 node, float approx,
								bool counts);
extern bool omendb_stream_peek(OmenSearch *search, float *approx);
extern void omendb_stream_expand_next(OmenSearch *search);
extern bool omendb_stream_shed(OmenSearch *search, float *cut);
extern Size omendb_stream_bytes(OmenSearch *search);
extern void *omendb_grow_array(void *items, size_t *cap, Size itemsize);
extern void *omendb_shrink_array(void *items, size_t n, size_t *cap,
								 Size itemsize);
extern void omendb_stream_drop_frontier(OmenSearch *search);

/* ----------------------------------------------------------------
 *		Graph maintenance
 * ----------------------------------------------------------------
 */
extern int	omendb_candidate_cmp(const void *a, const void *b, void *arg);
extern int	omendb_find_neighbors(OmenGraphStore *store, const OmenQuery *query,
								  OmenQuery *pivot, uint32 entry,
								  int list_size, uint32 self, double alpha,
								  int degree, uint32 *out);
extern void omendb_refine_node(OmenGraphStore *store, OmenQuery *query,
							   OmenQuery *pivot, uint32 entry, int list_size,
							   uint32 p, double alpha, double edge_alpha,
							   int degree);
extern int	omendb_robust_prune(OmenGraphStore *store, OmenQuery *pivot,
								OmenCandidate *cands, int ncands,
								uint32 self, double alpha, int degree,
								uint32 *out);
extern int	omendb_prune_candidates(OmenGraphStore *store, OmenQuery *pivot,
									const OmenQuery *from, uint32 p,
									const uint32 *ids, int n, double alpha,
									int degree, uint32 *out);
extern int	omendb_prune_keeping_linked(OmenGraphStore *store,
										OmenQuery *pivot,
										const OmenQuery *from, uint32 p,
										const uint32 *ids, int n, int nlinked,
										double alpha, int degree, uint32 *out);
extern bool omendb_add_reverse_edges(OmenGraphStore *store, OmenQuery *pivot,
									 uint32 p, const uint32 *nbrs, int n,
									 double alpha, int degree,
									 bool keep_reachable);
extern bool omendb_add_reverse_edge(OmenGraphStore *store, OmenQuery *pivot,
									uint32 j, uint32 p, double alpha,
									int degree, bool keep_reachable);
extern void omendb_hand_over_edge(OmenGraphStore *store, OmenQuery *pivot,
								  uint32 j, uint32 p);
extern uint32 omendb_graph_walk(OmenGraphStore *store, uint32 root,
								bool *reached, uint32 *queue, uint32 tail);
extern void omendb_connect_unreachable(OmenGraphStore *store, uint32 entry,
									   uint32 nnodes, const bool *need,
									   int list_size, int *nlinked,
									   int *nfailed);

/* ----------------------------------------------------------------
 *		The stores
 * ----------------------------------------------------------------
 */

/* omendb_memstore.c: a build's graph, in memory */
typedef struct OmenMemStore
{
	OmenGraphStore store;
	int			n;				/* nodes so far */
	int			cap;			/* allocated nodes */
	int			code_size;
	int			max_degree;
	uint8	   *codes;			/* cap * code_size */
	uint32	   *nbrs;			/* cap * max_degree */
	uint16	   *nnbrs;
	ItemPointerData *tids;
	float	   *errors;
	float	   *norms;
	uint32	   *visited;		/* visit epoch per node */
	uint32		epoch;
	int			label_words;	/* directory entry words per node: filter
								 * labels, then sketch words
								 * (OmenEntrySize / 8), or 0 */
	uint64	   *labels;			/* cap * label_words, or NULL */
	int			value_size;		/* bytes of a stored value (meta page's
								 * value_size), or 0 */
	char	   *values;			/* cap * value_size, or NULL */

	/*
	 * A parallel build's store: the arrays but visited live in shared
	 * memory that the store does not own, and node i's neighbour list is
	 * guarded by locks[i & lock_mask].
	 */
	bool		shared;
	struct LWLock *locks;
	uint32		lock_mask;
} OmenMemStore;

#define OmenMemStoreCode(g, p)	((g)->codes + (Size) (p) * (g)->code_size)
#define OmenMemStoreNeighbors(g, p)	((g)->nbrs + (Size) (p) * (g)->max_degree)
#define OmenMemStoreLabels(g, p)	((g)->labels + (Size) (p) * (g)->label_words)
#define OmenMemStoreValue(g, p)	((g)->values + (Size) (p) * (g)->value_size)

extern Size omendb_memstore_bytes_per_node(const OmenMetaPageData *meta);
extern void omendb_memstore_init(OmenMemStore *g, const OmenMetaPageData *meta,
								 const OmenQuantState *quant, int cap);
extern void omendb_memstore_grow(OmenMemStore *g, int limit);
extern void omendb_memstore_free(OmenMemStore *g);
extern Size omendb_memstore_shared_size(const OmenMetaPageData *meta, int cap);
extern void omendb_memstore_attach(OmenMemStore *g,
								   const OmenMetaPageData *meta,
								   const OmenQuantState *quant, int cap,
								   char *space, struct LWLock *locks,
								   int nlocks);
extern void omendb_memstore_clear_shared(OmenMemStore *g);

/* omendb_pagestore.c: an index's graph, on its buffer pages */
typedef struct OmenVisitedSet OmenVisitedSet;

/* Called as the visited set turns into a bitmap of the given size. */
typedef void (*OmenVisitedGrowth) (Size bitmap_bytes, void *arg);

typedef struct OmenPageStore
{
	OmenGraphStore store;
	Relation	index;
	const OmenMetaPageData *meta;
	bool		use_wal;
	MemoryContext cxt;			/* where the visited set lives */
	MemoryContext codecxt;		/* where the codes read are kept */
	OmenVisitedSet *visited;
	struct pagecodes_hash *codes;	/* codes read, by node */
} OmenPageStore;

extern void omendb_pagestore_init(OmenPageStore *ps, Relation index,
								  const OmenMetaPageData *meta,
								  const OmenQuantState *quant, bool use_wal);
extern void omendb_pagestore_on_bitmap(OmenPageStore *ps,
									   OmenVisitedGrowth hook, void *arg);
extern void omendb_pagestore_forget_codes(OmenPageStore *ps);
extern bool omendb_pagestore_is_visited(OmenPageStore *ps, uint32 node);
extern void omendb_pagestore_unvisit(OmenPageStore *ps, uint32 node);
extern Size omendb_pagestore_visited_bytes(OmenPageStore *ps);

#endif							/* OMENDB_GRAPH_H */
