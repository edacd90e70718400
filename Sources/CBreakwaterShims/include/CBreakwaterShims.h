#ifndef BREAKWATER_SHIMS_H
#define BREAKWATER_SHIMS_H
#include <stdint.h>
#include <stddef.h>

/// eventfd(2): Glibc's Swift overlay does not export it.
int bw_eventfd(unsigned int initval, int nonblocking);

/// One-shot gzip (RFC 1952) compression of `len` bytes into a malloc'd buffer.
/// Returns 0 on success; *out must be freed with free().
int bw_gzip_compress(const uint8_t *in, size_t len, uint8_t **out, size_t *outLen);

/// Gzip decompression bounded by `limit` output bytes.
/// Returns 0 on success, 1 when the output would exceed `limit`, -1 on malformed input.
int bw_gzip_decompress(const uint8_t *in, size_t len, size_t limit, uint8_t **out, size_t *outLen);
#include "CBreakwaterEpoll.h"
#endif
