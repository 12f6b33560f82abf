// A minimal OpenAI-compatible chat server for throughput benchmarks (bench/bench_llm.sh):
// one thread, epoll, HTTP/1.1 keep-alive, each reply sent a fixed latency after its request
// arrived. Replies are a fixed chat completion ("Edited Description: ...") so that the
// client, not the server, is what gets measured. Built by the benchmark script with cc.
//
//   bench_server PORT_FILE LATENCY_SECONDS        (listens on 127.0.0.1, a free port)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    unsigned gen;
    char *in;
    size_t in_len, in_cap;
    char *out; // unsent reply bytes
    size_t out_len, out_off;
} conn;

typedef struct due {
    double at;
    int fd;
    unsigned gen;
} due;

static conn *conns;
static int n_conns;
static due *queue;
static size_t q_head, q_len, q_cap;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char BODY[] =
    "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"model\":\"bench\",\"choices\":[{"
    "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Edited Description: a bench "
    "reply\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":"
    "10,\"total_tokens\":110}}";

static void close_conn(int epfd, int fd)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    conns[fd].gen++;
    conns[fd].in_len = 0;
    conns[fd].out_len = conns[fd].out_off = 0;
}

static void push_due(double at, int fd, unsigned gen)
{
    if (q_len == q_cap) {
        size_t cap = q_cap ? q_cap * 2 : 1024;
        due *nq = malloc(cap * sizeof *nq);
        if (!nq) exit(1);
        for (size_t i = 0; i < q_len; i++)
            nq[i] = queue[(q_head + i) % q_cap];
        free(queue);
        queue = nq;
        q_cap = cap;
        q_head = 0;
    }
    queue[(q_head + q_len) % q_cap] = (due){at, fd, gen};
    q_len++;
}

static void send_reply(int epfd, int fd)
{
    conn *c = &conns[fd];
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                      "Connection: keep-alive\r\n\r\n",
                      sizeof BODY - 1);
    size_t need = (size_t)hl + sizeof BODY - 1;
    char *buf = realloc(c->out, c->out_len + need);
    if (!buf) exit(1);
    c->out = buf;
    memcpy(c->out + c->out_len, head, (size_t)hl);
    memcpy(c->out + c->out_len + hl, BODY, sizeof BODY - 1);
    c->out_len += need;
    while (c->out_off < c->out_len) {
        ssize_t w = write(fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) {
            if (errno == EAGAIN) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = fd};
                epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
                return;
            }
            close_conn(epfd, fd);
            return;
        }
        c->out_off += (size_t)w;
    }
    c->out_len = c->out_off = 0;
}

// Consumes complete requests from the connection's input; each gets a reply `lat` from now.
static void parse(int fd, double lat)
{
    conn *c = &conns[fd];
    for (;;) {
        char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (!end) return;
        size_t head = (size_t)(end - c->in) + 4, clen = 0;
        for (char *p = c->in; p < end; p++) {
            if ((p == c->in || p[-1] == '\n') && !strncasecmp(p, "content-length:", 15)) {
                clen = strtoul(p + 15, NULL, 10);
                break;
            }
        }
        if (c->in_len < head + clen) return;
        memmove(c->in, c->in + head + clen, c->in_len - head - clen);
        c->in_len -= head + clen;
        push_due(now() + lat, fd, c->gen);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_server PORT_FILE LATENCY_SECONDS\n");
        return 2;
    }
    double lat = atof(argv[2]);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1024) < 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) < 0) {
        perror("bench_server");
        return 1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    FILE *pf = fopen(tmp, "w");
    if (!pf) return 1;
    fprintf(pf, "%d\n", ntohs(a.sin_port));
    fclose(pf);
    rename(tmp, argv[1]);
    n_conns = 65536;
    conns = calloc((size_t)n_conns, sizeof *conns);
    int epfd = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(epfd, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int timeout = -1;
        if (q_len) {
            double d = queue[q_head].at - now();
            timeout = d <= 0 ? 0 : (int)(d * 1000) + 1;
        }
        int n = epoll_wait(epfd, evs, 256, timeout);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int cfd;
                while ((cfd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (cfd >= n_conns) {
                        close(cfd);
                        continue;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &ce);
                }
                continue;
            }
            conn *c = &conns[fd];
            if (evs[i].events & EPOLLOUT) {
                while (c->out_off < c->out_len) {
                    ssize_t w = write(fd, c->out + c->out_off, c->out_len - c->out_off);
                    if (w <= 0) break;
                    c->out_off += (size_t)w;
                }
                if (c->out_off == c->out_len) {
                    c->out_len = c->out_off = 0;
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = fd};
                    epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ce);
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                for (;;) {
                    if (c->in_cap - c->in_len < 65536) {
                        size_t cap = c->in_cap ? c->in_cap * 2 : 131072;
                        char *nb = realloc(c->in, cap);
                        if (!nb) exit(1);
                        c->in = nb;
                        c->in_cap = cap;
                    }
                    ssize_t r = read(fd, c->in + c->in_len, c->in_cap - c->in_len);
                    if (r > 0) {
                        c->in_len += (size_t)r;
                        continue;
                    }
                    if (r == 0 || errno != EAGAIN) close_conn(epfd, fd);
                    break;
                }
                parse(fd, lat);
            }
        }
        double t = now();
        while (q_len && queue[q_head].at <= t) {
            due d = queue[q_head];
            q_head = (q_head + 1) % q_cap;
            q_len--;
            if (conns[d.fd].gen == d.gen) send_reply(epfd, d.fd);
        }
    }
}
