/*-------------------------------------------------------------------------
 *
 * kernels.c
 *	  Choosing the kernels this CPU runs, once, when the library loads.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "kernels.h"

OmenKernels omendb_kern;

/*
 * The best instruction set this CPU (and OS) supports, capped by
 * OMENDB_KERNELS.
 */
OmenKernelLevel
omendb_kernel_level(void)
{
	const char *cap = getenv("OMENDB_KERNELS");
	OmenKernelLevel level = OMENDB_KERNELS_PORTABLE;

#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") &&
		__builtin_cpu_supports("avx2") &&
		__builtin_cpu_supports("fma"))
		level = OMENDB_KERNELS_AVX512;
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		level = OMENDB_KERNELS_AVX2;
#endif
	if (cap && strcmp(cap, "portable") == 0)
		level = OMENDB_KERNELS_PORTABLE;
	else if (cap && strcmp(cap, "avx2") == 0)
		level = Min(level, OMENDB_KERNELS_AVX2);
	return level;
}

/*
 * Fill omendb_kern.  Forcing "portable" also turns on the portable integer
 * scan kernel, which no CPU chooses on its own (without AVX-512BW scans
 * use the float kernel), so that tests run it.
 */
void
omendb_kernels_init(void)
{
	const char *cap = getenv("OMENDB_KERNELS");
	OmenKernelLevel level = omendb_kernel_level();

	omendb_float_kernels_choose(&omendb_kern, level);
	omendb_sq8_kernels_choose(&omendb_kern, level,
							  cap && strcmp(cap, "portable") == 0);
	omendb_rabitq_kernels_choose(&omendb_kern, level);
}

/*
 * omendb_kernels(): the kernels this backend runs, for tests and bug
 * reports: "float=F sq8=S scan=N", F the float kernels' instruction set,
 * S the SQ8 code-to-code kernel's, and N the scan's integer kernel ("none"
 * where scans use the float kernel).
 */
PG_FUNCTION_INFO_V1(omendb_kernels);
Datum
omendb_kernels(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("float=%s sq8=%s scan=%s",
											  omendb_kern.float_name,
											  omendb_kern.sq8_name,
											  omendb_kern.scan_name)));
}
