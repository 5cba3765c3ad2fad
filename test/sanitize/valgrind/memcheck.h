/*
 * test/sanitize/valgrind/memcheck.h: Valgrind's client requests, as
 * PostgreSQL's utils/memdebug.h uses them under USE_VALGRIND, mapped onto
 * AddressSanitizer's manual poisoning.  With it, a PostgreSQL built with
 * -DUSE_VALGRIND -fsanitize=address makes ASan see what memcheck would:
 *
 *   - palloc chunks: the bytes past the requested size (with
 *     MEMORY_CONTEXT_CHECKING), chunk headers, free space in blocks and
 *     freed chunks (CLOBBER_FREED_MEMORY) are poisoned, so an overflow or a
 *     use after pfree inside a memory context block is reported at once,
 *     not only when it leaves the malloc'd block;
 *   - shared buffers: a page is poisoned in a backend once it holds no pin
 *     on it, so touching a page after ReleaseBuffer is reported.
 *
 * Only addressability is mapped: "defined" and "undefined" both mean
 * addressable (ASan does not track initialisation), and mempools are not
 * tracked (the context code marks its chunks itself).
 */
#ifndef OMENDB_FAKE_MEMCHECK_H
#define OMENDB_FAKE_MEMCHECK_H

#include <sanitizer/asan_interface.h>

#define VALGRIND_MAKE_MEM_NOACCESS(addr, size) \
	ASAN_POISON_MEMORY_REGION((addr), (size))
#define VALGRIND_MAKE_MEM_UNDEFINED(addr, size) \
	ASAN_UNPOISON_MEMORY_REGION((addr), (size))
#define VALGRIND_MAKE_MEM_DEFINED(addr, size) \
	ASAN_UNPOISON_MEMORY_REGION((addr), (size))
#define VALGRIND_CHECK_MEM_IS_DEFINED(addr, size)			((void) 0)
#define VALGRIND_CREATE_MEMPOOL(context, redzones, zeroed)	((void) 0)
#define VALGRIND_DESTROY_MEMPOOL(context)					((void) 0)
#define VALGRIND_MEMPOOL_ALLOC(context, addr, size) \
	ASAN_UNPOISON_MEMORY_REGION((addr), (size))
#define VALGRIND_MEMPOOL_FREE(context, addr)				((void) 0)
#define VALGRIND_MEMPOOL_CHANGE(context, optr, nptr, size) \
	ASAN_UNPOISON_MEMORY_REGION((nptr), (size))
#define RUNNING_ON_VALGRIND									0
#define VALGRIND_PRINTF(...)								((void) 0)
#define VALGRIND_PRINTF_BACKTRACE(...)						((void) 0)

#endif
