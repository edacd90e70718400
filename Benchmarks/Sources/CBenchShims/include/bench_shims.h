#ifndef BENCH_SHIMS_H
#define BENCH_SHIMS_H
#include <stddef.h>

/// Bytes the C heap has handed out and not taken back (glibc mallinfo2: uordblks + hblkhd, over all
/// arenas); 0 where mallinfo2 is unavailable.
size_t bench_heap_in_use(void);

#endif
