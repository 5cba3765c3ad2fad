/*-------------------------------------------------------------------------
 *
 * vector_detoast.c
 *	  A small per-backend cache of vectors fetched from TOAST storage.
 *
 * The vector type's storage is EXTERNAL, as pgvector's, so a vector of
 * more than about 500 dimensions lives in the table's TOAST relation, and
 * every function that reads it fetches its chunks through the TOAST index,
 * about 4 us a row.  An ordered index scan whose ORDER BY values are
 * rechecked (ours: the index returns lower bounds) computes the distance
 * twice for each row it emits, once when the executor rechecks the row
 * and again when the scan node projects the ORDER BY column; the executor
 * does not pass the first value on.  So the distance functions read their
 * arguments through this cache of the last few vectors fetched, keyed by
 * TOAST pointer.  On Fashion-MNIST it made LIMIT 10 queries 7% faster (the
 * second fetch had found the chunks in CPU cache, so it cost less than
 * the first).
 *
 * A TOAST pointer names an immutable value: the value's OID is unique in
 * its TOAST relation while the value exists, and OIDs come from a counter
 * that would have to wrap around (4 billion assignments) before one freed
 * by VACUUM were handed out again.  The cache is emptied at the end of
 * every transaction anyway, and its memory (at most
 * VECTOR_DETOAST_CACHE_SLOTS vectors) freed with it.
 *
 * Only vectors stored out of line in a TOAST relation are cached; inline,
 * compressed-inline and in-memory values are detoasted as usual.  Callers
 * must treat a cached vector as read-only and must not pfree it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/xact.h"
#include "utils/memutils.h"

#include "vector.h"

/*
 * Slots in the cache, replaced oldest first.  The executor rechecks a row
 * and projects it once the rows it re-sorts ahead of it are out, a handful
 * of rows later; 32 covers that with room to spare.
 */
#define VECTOR_DETOAST_CACHE_SLOTS 32

typedef struct DetoastCacheEntry
{
	struct varatt_external pointer; /* the TOAST pointer, as stored */
	Vector	   *vector;			/* the fetched value, in cache_context */
} DetoastCacheEntry;

static MemoryContext cache_context = NULL;
static DetoastCacheEntry cache[VECTOR_DETOAST_CACHE_SLOTS];
static int	cache_used = 0;		/* slots filled since the last reset */
static int	cache_next = 0;		/* slot the next insertion replaces */
static int	cache_last = -1;	/* slot returned last */

/* Forget every entry: at the end of each transaction. */
static void
vector_detoast_cache_reset(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			if (cache_used > 0)
			{
				MemoryContextReset(cache_context);
				cache_used = 0;
				cache_next = 0;
				cache_last = -1;
			}
			break;
		default:
			break;
	}
}

static void
vector_detoast_cache_init(void)
{
	cache_context = AllocSetContextCreate(TopMemoryContext,
										  "omendb vector detoast cache",
										  ALLOCSET_DEFAULT_SIZES);
	RegisterXactCallback(vector_detoast_cache_reset, NULL);
}

/*
 * The vector a Datum holds, detoasted; fetched from TOAST storage at most
 * once per transaction for the last few values read.
 *
 * The slot returned last is never the one replaced, so the second argument
 * of a distance function cannot evict the first while it is still being
 * read.  The replaced vector is freed before the new one is fetched, so a
 * breach of that rule would show as a wrong distance in any build, not
 * only under a memory checker.
 */
Vector *
DatumGetVectorCached(Datum datum)
{
	struct varlena *attr = (struct varlena *) DatumGetPointer(datum);
	struct varatt_external pointer;
	MemoryContext oldcontext;
	DetoastCacheEntry *entry;

	if (!VARATT_IS_EXTERNAL_ONDISK(attr))
		return DatumGetVector(datum);

	VARATT_EXTERNAL_GET_POINTER(pointer, attr);
	for (int i = 0; i < cache_used; i++)
	{
		if (cache[i].vector != NULL &&
			cache[i].pointer.va_valueid == pointer.va_valueid &&
			memcmp(&cache[i].pointer, &pointer, sizeof(pointer)) == 0)
		{
			cache_last = i;
			return cache[i].vector;
		}
	}

	if (cache_context == NULL)
		vector_detoast_cache_init();

	/* take the oldest slot, or the next one if that was returned last */
	if (cache_next == cache_last)
		cache_next = (cache_next + 1) % VECTOR_DETOAST_CACHE_SLOTS;
	entry = &cache[cache_next];
	if (cache_next == cache_used)
		cache_used++;
	else if (entry->vector != NULL)
		pfree(entry->vector);
	entry->vector = NULL;		/* stays empty if the fetch fails */

	oldcontext = MemoryContextSwitchTo(cache_context);
	entry->vector = (Vector *) detoast_attr(attr);
	MemoryContextSwitchTo(oldcontext);
	entry->pointer = pointer;
	cache_last = cache_next;
	cache_next = (cache_next + 1) % VECTOR_DETOAST_CACHE_SLOTS;

	return entry->vector;
}
