#include "CBreakwaterZlib.h"
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int bw_gzip_compress(const uint8_t *in, size_t len, uint8_t **out, size_t *outLen) {
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    size_t cap = deflateBound(&zs, (uLong)len) + 32;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) { deflateEnd(&zs); return -1; }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = buf;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    if (rc != Z_STREAM_END) { free(buf); deflateEnd(&zs); return -1; }
    *out = buf;
    *outLen = zs.total_out;
    deflateEnd(&zs);
    return 0;
}

int bw_gzip_decompress(const uint8_t *in, size_t len, size_t limit, uint8_t **out, size_t *outLen) {
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 16) != Z_OK) return -1;
    size_t cap = len * 4 + 64;
    if (cap > limit + 1) cap = limit + 1;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) { inflateEnd(&zs); return -1; }
    /* inflateReset clears total_out between gzip members, so count output here. */
    size_t produced = 0;
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    for (;;) {
        zs.next_out = buf + produced;
        zs.avail_out = (uInt)(cap - produced);
        uInt before = zs.avail_out;
        int rc = inflate(&zs, Z_NO_FLUSH);
        produced += before - zs.avail_out;
        if (produced > limit) { free(buf); inflateEnd(&zs); return 1; }
        if (rc == Z_STREAM_END) {
            if (zs.avail_in == 0) break;
            /* RFC 1952 2.2: a gzip stream may hold several members; anything else after the end is corrupt. */
            if (zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b && inflateReset(&zs) == Z_OK) continue;
            free(buf); inflateEnd(&zs); return -1;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) { free(buf); inflateEnd(&zs); return -1; }
        if (zs.avail_out == 0) {
            if (cap > limit) { free(buf); inflateEnd(&zs); return 1; }
            size_t ncap = cap * 2;
            if (ncap > limit + 1) ncap = limit + 1;
            uint8_t *nbuf = realloc(buf, ncap);
            if (!nbuf) { free(buf); inflateEnd(&zs); return -1; }
            buf = nbuf; cap = ncap;
        } else if (zs.avail_in == 0) {
            free(buf); inflateEnd(&zs); return -1; /* truncated */
        }
    }
    *out = buf;
    *outLen = produced;
    inflateEnd(&zs);
    return 0;
}
