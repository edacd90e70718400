#ifndef BREAKWATER_COPENSSL_SHIM_H
#define BREAKWATER_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>

// Many OpenSSL "functions" are macros, which Swift cannot import. These inline wrappers give them a
// callable form; they add no behaviour of their own.

static inline long bw_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}

static inline long bw_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_max_proto_version(ctx, version);
}

/// Renegotiation refused (TLS 1.2; TLS 1.3 has none), no TLS compression,
/// and the server's cipher preference.
static inline void bw_SSL_CTX_set_hardened_options(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION
                                 | SSL_OP_CIPHER_SERVER_PREFERENCE);
}

/// Memory BIOs never return a partial write; let SSL_write's buffer move between calls all the same.
static inline long bw_SSL_CTX_set_mode_defaults(SSL_CTX *ctx) {
    return SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
}

static inline long bw_SSL_CTX_add0_chain_cert(SSL_CTX *ctx, X509 *cert) {
    return SSL_CTX_add0_chain_cert(ctx, cert);
}

static inline long bw_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}

static inline int bw_SSL_FILETYPE_PEM(void) { return SSL_FILETYPE_PEM; }

/// Prints `name` as an RFC 2253 one-line string into `bio`.
static inline int bw_X509_NAME_print_rfc2253(BIO *bio, const X509_NAME *name) {
    return X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
}

/// Whether a queued error code records a failed system call (its reason is then an errno value).
static inline int bw_ERR_SYSTEM_ERROR(unsigned long code) { return ERR_SYSTEM_ERROR(code) ? 1 : 0; }

static inline long bw_BIO_get_mem_data(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}

#endif
