/*-------------------------------------------------------------------------
 *
 * kernels_rabitq.c
 *	  RaBitQ's code kernel: the popcount of two bit planes' intersection.
 *
 * Code-to-code inner products (graph building) are sums of these over
 * pairs of bit planes.  GCC's __builtin_popcountll is a dozen instructions
 * without the POPCNT instruction and one with it; every CPU with AVX2 has
 * it.  Both variants count exactly, so indexes are the same under either.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "kernels.h"

static inline uint64
load_word(const uint8 *p)
{
	uint64		w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/* The one body, compiled into each variant for its instruction set. */
static inline __attribute__((always_inline)) uint64
and_count(const uint8 *a, const uint8 *b, int words)
{
	uint64		n = 0;

	for (int w = 0; w < words; w++)
		n += __builtin_popcountll(load_word(a + 8 * w) & load_word(b + 8 * w));
	return n;
}

static uint64
and_count_portable(const uint8 *a, const uint8 *b, int words)
{
	return and_count(a, b, words);
}

#if defined(__x86_64__)
__attribute__((target("popcnt")))
static uint64
and_count_popcnt(const uint8 *a, const uint8 *b, int words)
{
	return and_count(a, b, words);
}
#endif

void
omendb_rabitq_kernels_choose(OmenKernels *k, OmenKernelLevel level)
{
	k->rabitq_and_count = and_count_portable;
#if defined(__x86_64__)
	if (level >= OMENDB_KERNELS_AVX2)
		k->rabitq_and_count = and_count_popcnt;
#endif
}
