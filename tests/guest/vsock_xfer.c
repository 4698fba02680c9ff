// vsock_xfer CID PORT BYTES SEED [TIMEOUT_MS] - a byte-exact exchange over
// AF_VSOCK (the guest side of scenario vsock, tests/guest/scenarios/vsock.sh).
//
// Connects to CID:PORT, sends BYTES bytes of a pattern derived from SEED
// (vsock_pattern below; the host computes the same one) while reading the
// peer's answer, which must be every byte XOR ECHO_XOR, in order. Sending
// and receiving are interleaved with poll(), so neither side's buffers can
// fill up and stall the other; it stops once BYTES bytes came back (or the
// peer closed). Prints on stdout:
//   vsock_local_cid=N                  the guest's CID (the device's config)
//   vsock_sent=N vsock_received=N vsock_bad=N vsock_first_bad=OFF
// Exit 0: everything sent, BYTES bytes back and all as expected; 1: data
// lost, damaged or late (TIMEOUT_MS, default 20000, for the whole exchange);
// 2: usage or a socket error (on stderr).
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    CHUNK = 16384,
    ECHO_XOR = 0xa5,
    DEFAULT_TIMEOUT_MS = 20000,
    POLL_SLICE_MS = 200
};

// The pattern byte at OFF for SEED: a 32-bit LCG (Numerical Recipes), one
// step per byte, the high byte taken. The host side (lib_types.sh) has the
// same function.
static uint8_t vsock_pattern_next(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (uint8_t)(*state >> 24);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void print_local_cid(void)
{
    unsigned int cid = 0;
    int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) == 0)
        printf("vsock_local_cid=%u\n", cid);
    else
        printf("vsock_local_cid=unknown\n");
    if (fd >= 0)
        close(fd);
    fflush(stdout);
}

static int connect_vsock(unsigned int cid, unsigned int port)
{
    struct sockaddr_vm a;
    int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        perror("socket(AF_VSOCK)");
        return -1;
    }
    memset(&a, 0, sizeof a);
    a.svm_family = AF_VSOCK;
    a.svm_cid = cid;
    a.svm_port = port;
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        fprintf(stderr, "connect to %u:%u: %s\n", cid, port, strerror(errno));
        close(s);
        return -1;
    }
    if (fcntl(s, F_SETFL, O_NONBLOCK) < 0) {
        perror("fcntl");
        close(s);
        return -1;
    }
    return s;
}

struct xfer {
    size_t total, sent, received, bad;
    long first_bad;
    uint32_t tx_state, rx_state;
};

static int xfer_send(int s, struct xfer *x)
{
    uint8_t buf[CHUNK];
    size_t n = x->total - x->sent < CHUNK ? x->total - x->sent : CHUNK;
    uint32_t st = x->tx_state;
    for (size_t i = 0; i < n; i++)
        buf[i] = vsock_pattern_next(&st);
    ssize_t w = send(s, buf, n, MSG_NOSIGNAL);
    if (w < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    // advance the generator by the bytes really sent
    for (ssize_t i = 0; i < w; i++)
        (void)vsock_pattern_next(&x->tx_state);
    x->sent += (size_t)w;
    return 0;
}

// 1 at the end of the stream, 0 when more may come, -errno on an error.
// (vhost-device-vsock ignores a guest's SHUT_WR, so the host cannot see the
// end of the guest's data: it answers BYTES bytes and closes.)
static int xfer_recv(int s, struct xfer *x)
{
    uint8_t buf[CHUNK];
    ssize_t r = recv(s, buf, sizeof buf, 0);
    if (r < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    if (r == 0)
        return 1;
    for (ssize_t i = 0; i < r; i++) {
        uint8_t want = (uint8_t)(vsock_pattern_next(&x->rx_state) ^ ECHO_XOR);
        if (x->received + (size_t)i >= x->total || buf[i] != want) {
            if (x->bad++ == 0)
                x->first_bad = (long)(x->received + (size_t)i);
        }
    }
    x->received += (size_t)r;
    return 0;
}

static int run(int s, struct xfer *x, long deadline)
{
    int eof = 0;
    while (!eof && x->received < x->total) {
        struct pollfd p = { .fd = s, .events = POLLIN };
        if (x->sent < x->total)
            p.events |= POLLOUT;
        if (now_ms() > deadline) {
            fprintf(stderr, "timed out\n");
            return 1;
        }
        if (poll(&p, 1, POLL_SLICE_MS) < 0 && errno != EINTR)
            return -errno;
        int rc = 0;
        if ((p.revents & POLLOUT) && x->sent < x->total)
            rc = xfer_send(s, x);
        if (rc == 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
            rc = xfer_recv(s, x);
        if (rc < 0) {
            fprintf(stderr, "socket: %s\n", strerror(-rc));
            return rc;
        }
        eof = rc == 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: vsock_xfer CID PORT BYTES SEED [TIMEOUT_MS]\n");
        return 2;
    }
    unsigned int cid = (unsigned int)strtoul(argv[1], NULL, 0);
    unsigned int port = (unsigned int)strtoul(argv[2], NULL, 0);
    struct xfer x = { .total = strtoull(argv[3], NULL, 0), .first_bad = -1 };
    x.tx_state = x.rx_state = (uint32_t)strtoul(argv[4], NULL, 0);
    long timeout = argc > 5 ? strtol(argv[5], NULL, 0) : DEFAULT_TIMEOUT_MS;

    print_local_cid();
    int s = connect_vsock(cid, port);
    if (s < 0)
        return 2;
    int rc = run(s, &x, now_ms() + timeout);
    close(s);
    printf("vsock_sent=%zu vsock_received=%zu vsock_bad=%zu vsock_first_bad=%ld\n", x.sent,
           x.received, x.bad, x.first_bad);
    if (rc < 0)
        return 2;
    return rc == 0 && x.sent == x.total && x.received == x.total && x.bad == 0 ? 0 : 1;
}
