#ifndef BREAKWATER_ZLIB_H
#define BREAKWATER_ZLIB_H
#include <stdint.h>
#include <stddef.h>

// zlib's API is macro-based (deflateInit2, inflateInit2); these wrap what the wire codecs need.

/// One-shot gzip (RFC 1952) compression of `len` bytes into a malloc'd buffer.
/// Returns 0 on success; *out must be freed with free().
int bw_gzip_compress(const uint8_t *in, size_t len, uint8_t **out, size_t *outLen);

/// Gzip decompression bounded by `limit` output bytes.
/// Returns 0 on success, 1 when the output would exceed `limit`, -1 on malformed input.
int bw_gzip_decompress(const uint8_t *in, size_t len, size_t limit, uint8_t **out, size_t *outLen);
#endif
