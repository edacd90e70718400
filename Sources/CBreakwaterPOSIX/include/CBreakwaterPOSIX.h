#ifndef BREAKWATER_POSIX_H
#define BREAKWATER_POSIX_H
#include <stdint.h>

// epoll(7), eventfd(2), accept4(2) and thread naming for the transport's event loops: Glibc's Swift
// overlay exports none of them, and struct epoll_event is packed on x86_64.

#define BW_EPOLLIN 0x001u
#define BW_EPOLLOUT 0x004u
#define BW_EPOLLERR 0x008u
#define BW_EPOLLHUP 0x010u
#define BW_EPOLLRDHUP 0x2000u

/// One readiness event: the event mask and the registered file descriptor.
typedef struct {
    uint32_t events;
    int32_t fd;
} bw_epoll_result;

/// eventfd(2), close-on-exec.
int bw_eventfd(unsigned int initval, int nonblocking);
/// epoll_create1(EPOLL_CLOEXEC).
int bw_epoll_create(void);
/// epoll_ctl ADD (op 1), DEL (op 2), MOD (op 3) with `fd` as the event data.
int bw_epoll_ctl(int epfd, int op, int fd, uint32_t events);
/// epoll_wait into at most `max` (<= 256) results.
int bw_epoll_wait(int epfd, bw_epoll_result *results, int max, int timeout_ms);
/// accept4(SOCK_NONBLOCK | SOCK_CLOEXEC): one syscall instead of accept and two fcntl.
int bw_accept4(int fd, void *addr, uint32_t *len);
/// pthread_setname_np on the calling thread (name truncated to 15 bytes).
void bw_set_thread_name(const char *name);
#endif
