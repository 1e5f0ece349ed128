/* A reconnect storm: open N WebSocket connections, at most W in flight at once, each sending
 * one subscribe after its handshake; report how long until every one of them has its first
 * reply, then hold them open (reading and dropping what comes, answering pings) until stdin
 * closes or SIGTERM arrives, so that the server's memory can be read meanwhile.
 *
 * A C client with one epoll loop, so that what is measured is the server, not the client.
 *
 *   cc -O2 -o bench/out/storm bench/storm.c
 *   bench/out/storm PORT N W '{"op":"subscribe","symbol":"EVER"}'
 *
 * Prints one JSON line when all are subscribed:
 *   {"connections": N, "seconds": S, "handshake_p50_ms": ..., "failed": F, "lost": L}
 * (failed: never subscribed; lost: closed by the server after subscribing).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { CONNECTING, HANDSHAKE, SUBSCRIBED_WAIT, OPEN, DEAD };

struct conn {
    int fd;
    int state;
    double started;
    size_t have;          /* bytes of the head read, then bytes of the current frame */
    unsigned char buf[512];
};

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const char REQUEST[] =
    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

static unsigned char frame[256];
static size_t frame_len;

/* Read whatever came; once a connection's first frame after its subscribe is complete, it
 * counts as subscribed. Pings get pongs; everything else is dropped. Returns 1 when the
 * connection just became subscribed. */
static int readable(struct conn *c) {
    unsigned char in[65536];
    int became = 0;
    for (;;) {
        ssize_t n = recv(c->fd, in, sizeof in, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            c->state = DEAD;
            return became;
        }
        if (n < 0)
            return became;
        size_t i = 0;
        if (c->state == HANDSHAKE) {
            for (; i < (size_t)n; i++) {
                if (c->have < sizeof c->buf)
                    c->buf[c->have++] = in[i];
                if (c->have >= 4 && memcmp(c->buf + c->have - 4, "\r\n\r\n", 4) == 0) {
                    i++;
                    if (memcmp(c->buf, "HTTP/1.1 101", 12) != 0) {
                        c->state = DEAD;
                        return became;
                    }
                    if (send(c->fd, frame, frame_len, MSG_NOSIGNAL) != (ssize_t)frame_len) {
                        c->state = DEAD;
                        return became;
                    }
                    c->state = SUBSCRIBED_WAIT;
                    c->have = 0;
                    break;
                }
            }
        }
        /* frames: keep only a header's worth of state; payloads are skipped */
        while (i < (size_t)n && c->state != HANDSHAKE) {
            if (c->have < 2) {
                c->buf[c->have++] = in[i++];
                continue;
            }
            unsigned len7 = c->buf[1] & 0x7F;
            size_t header = len7 == 126 ? 4 : len7 == 127 ? 10 : 2;
            if (c->have < header) {
                c->buf[c->have++] = in[i++];
                continue;
            }
            unsigned long long size = len7;
            if (len7 == 126)
                size = ((unsigned)c->buf[2] << 8) | c->buf[3];
            else if (len7 == 127) {
                size = 0;
                for (int k = 2; k < 10; k++) size = (size << 8) | c->buf[k];
            }
            int ping = (c->buf[0] & 0x0F) == 0x9;
            /* c->have counts header bytes, then header + payload bytes seen */
            size_t want = header + size - c->have;
            size_t take = (size_t)n - i < want ? (size_t)n - i : want;
            if (ping && size <= 125) { /* keep the ping's payload to echo it */
                memcpy(c->buf + c->have, in + i, take);
            }
            c->have += take;
            i += take;
            if (c->have == header + size) {
                if (ping && size <= 125) {
                    unsigned char pong[6 + 125];
                    pong[0] = 0x8A;
                    pong[1] = 0x80 | (unsigned char)size;
                    memset(pong + 2, 0, 4);
                    memcpy(pong + 6, c->buf + header, size);
                    send(c->fd, pong, 6 + size, MSG_NOSIGNAL);
                } else if (c->state == SUBSCRIBED_WAIT) {
                    c->state = OPEN;
                    became = 1;
                }
                c->have = 0;
            }
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT CONNECTIONS IN_FLIGHT SUBSCRIBE_JSON\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), total = atoi(argv[2]), window = atoi(argv[3]);
    const char *json = argv[4];
    size_t len = strlen(json);
    if (len > 125) {
        fprintf(stderr, "the subscribe must be at most 125 bytes\n");
        return 2;
    }
    frame[0] = 0x81;
    frame[1] = 0x80 | (unsigned char)len;
    memset(frame + 2, 0, 4); /* the zero mask leaves the payload as it is */
    memcpy(frame + 6, json, len);
    frame_len = 6 + len;

    struct rlimit lim = {total + 64, total + 64};
    setrlimit(RLIMIT_NOFILE, &lim);
    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN);

    struct conn *conns = calloc(total, sizeof *conns);
    double *took = calloc(total, sizeof *took);
    int ep = epoll_create1(0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);

    int next = 0, in_flight = 0, done = 0, failed = 0, lost = 0;
    double start = now();
    struct epoll_event events[1024];
    while (done + failed < total) {
        while (in_flight < window && next < total) {
            struct conn *c = &conns[next];
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            c->started = now();
            c->state = CONNECTING;
            if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
                close(c->fd);
                c->state = DEAD;
                failed++;
                next++;
                continue;
            }
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (unsigned)next};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            next++;
            in_flight++;
        }
        int n = epoll_wait(ep, events, 1024, 10000);
        if (n == 0) {
            fprintf(stderr, "no progress for 10 s: %d subscribed, %d failed\n", done, failed);
            break;
        }
        for (int k = 0; k < n; k++) {
            struct conn *c = &conns[events[k].data.u32];
            if (c->fd < 0)
                continue;
            int was_open = c->state == OPEN;
            if (c->state == CONNECTING && (events[k].events & EPOLLOUT)) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err || send(c->fd, REQUEST, sizeof REQUEST - 1, MSG_NOSIGNAL) < 0) {
                    c->state = DEAD;
                } else {
                    c->state = HANDSHAKE;
                    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = events[k].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            } else if (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (readable(c)) {
                    took[done++] = now() - c->started;
                    in_flight--;
                }
            }
            if (c->state == DEAD) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = -1;
                if (was_open) {
                    lost++;
                } else {
                    failed++;
                    in_flight--;
                }
            }
        }
    }
    double seconds = now() - start;
    qsort(took, done, sizeof *took, cmp);
    printf("{\"connections\": %d, \"seconds\": %.3f, \"handshake_p50_ms\": %.2f, "
           "\"handshake_p99_ms\": %.2f, \"failed\": %d, \"lost\": %d}\n", done, seconds,
           done ? took[done / 2] * 1e3 : 0.0, done ? took[(int)(done * 0.99)] * 1e3 : 0.0,
           failed, lost);
    fflush(stdout);

    /* hold: keep reading until told to stop */
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    struct epoll_event sev = {.events = EPOLLIN | EPOLLHUP, .data.u32 = 0xFFFFFFFFu};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev);
    while (!stop) {
        int n = epoll_wait(ep, events, 1024, 500);
        for (int k = 0; k < n; k++) {
            if (events[k].data.u32 == 0xFFFFFFFFu) {
                char b[64];
                ssize_t r = read(0, b, sizeof b);
                if (r == 0 || (r < 0 && errno != EAGAIN)) stop = 1;
                continue;
            }
            struct conn *c = &conns[events[k].data.u32];
            if (c->fd >= 0 && c->state != DEAD) {
                readable(c);
                if (c->state == DEAD) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                    c->fd = -1;
                }
            }
        }
    }
    for (int i = 0; i < total; i++)
        if (conns[i].fd > 0) close(conns[i].fd);
    return 0;
}
