/* l2frames - a layer-2 frame sender and counter for the test guest.
 *
 *   l2frames IFACE COUNT SIZE TIMEOUT_MS
 *
 * Sends COUNT broadcast frames of SIZE bytes (Ethernet header included) with
 * the local experimental EtherType 0x88b5 on IFACE through a raw AF_PACKET
 * socket, in bursts, and counts the frames that come back (an echoing or
 * MAC-swapping peer) whose payload is exactly what was sent: a magic, the
 * sequence number, a per-run nonce and a pattern derived from both. Prints
 * machine-readable lines for the init script:
 *   RESULT frames_sent=N frames_rx=N frames_bad=N frames_dup=N
 * and exits 0 when every frame came back intact, 1 otherwise, 2 on a usage
 * or socket error. Stops waiting TIMEOUT_MS after the start at the latest.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
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
    L2_ETHERTYPE = 0x88b5, /* IEEE 802 local experimental EtherType 1 */
    L2_MAGIC_LEN = 8,
    L2_HDR_LEN = ETH_HLEN + L2_MAGIC_LEN + 2 * (int)sizeof(uint32_t),
    L2_MIN_SIZE = 64,
    L2_MAX_SIZE = 1514,
    L2_MAX_COUNT = 1 << 20,
    L2_BURST = 16,         /* frames sent before looking for replies */
    L2_BURST_WAIT_MS = 5,  /* how long each burst waits for replies */
    L2_DRAIN_WAIT_MS = 50, /* poll step once everything is sent */
    L2_IDLE_MS = 1000,     /* stop this long after the last reply, all sent */
    L2_PATTERN_MUL = 31,
    L2_BYTE_MASK = 0xff,
    L2_EXIT_USAGE = 2,
};

static const char l2_magic[L2_MAGIC_LEN] = { 'V', 'S', 'T', 'E', 'S', 'T', 'L', '2' };

struct l2_state {
    int fd;
    int ifindex;
    unsigned char mac[ETH_ALEN];
    uint32_t nonce;
    uint32_t count, size, sent, rx, bad, dup;
    unsigned char *seen; /* one byte per sequence number */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned char pattern_byte(uint32_t seq, uint32_t nonce, uint32_t i)
{
    return (unsigned char)((seq * L2_PATTERN_MUL + nonce + i) & L2_BYTE_MASK);
}

static void build_frame(const struct l2_state *s, uint32_t seq, unsigned char *f)
{
    struct ether_header *eh = (struct ether_header *)f;
    uint32_t v;
    memset(eh->ether_dhost, L2_BYTE_MASK, ETH_ALEN);
    memcpy(eh->ether_shost, s->mac, ETH_ALEN);
    eh->ether_type = htons(L2_ETHERTYPE);
    memcpy(f + ETH_HLEN, l2_magic, L2_MAGIC_LEN);
    v = htonl(seq);
    memcpy(f + ETH_HLEN + L2_MAGIC_LEN, &v, sizeof(v));
    v = htonl(s->nonce);
    memcpy(f + ETH_HLEN + L2_MAGIC_LEN + sizeof(v), &v, sizeof(v));
    for (uint32_t i = L2_HDR_LEN; i < s->size; i++)
        f[i] = pattern_byte(seq, s->nonce, i);
}

/* 0 and *seq when FRAME (LEN bytes) is one of ours, intact; -EINVAL if not. */
static int check_frame(const struct l2_state *s, const unsigned char *f, size_t len, uint32_t *seq)
{
    uint32_t v, nonce;
    if (len < s->size || memcmp(f + ETH_HLEN, l2_magic, L2_MAGIC_LEN) != 0)
        return -EINVAL;
    memcpy(&v, f + ETH_HLEN + L2_MAGIC_LEN, sizeof(v));
    memcpy(&nonce, f + ETH_HLEN + L2_MAGIC_LEN + sizeof(v), sizeof(nonce));
    *seq = ntohl(v);
    if (ntohl(nonce) != s->nonce || *seq >= s->count)
        return -EINVAL;
    for (uint32_t i = L2_HDR_LEN; i < s->size; i++)
        if (f[i] != pattern_byte(*seq, s->nonce, i))
            return -EINVAL;
    return 0;
}

static int open_socket(struct l2_state *s, const char *ifname)
{
    struct ifreq ifr;
    struct sockaddr_ll sll;
    s->fd = socket(AF_PACKET, SOCK_RAW, htons(L2_ETHERTYPE));
    if (s->fd < 0)
        return -errno;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (ioctl(s->fd, SIOCGIFINDEX, &ifr) < 0)
        return -errno;
    s->ifindex = ifr.ifr_ifindex;
    if (ioctl(s->fd, SIOCGIFHWADDR, &ifr) < 0)
        return -errno;
    memcpy(s->mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(L2_ETHERTYPE);
    sll.sll_ifindex = s->ifindex;
    if (bind(s->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
        return -errno;
    return 0;
}

static int send_one(struct l2_state *s)
{
    unsigned char f[L2_MAX_SIZE];
    struct sockaddr_ll to;
    memset(&to, 0, sizeof(to));
    to.sll_family = AF_PACKET;
    to.sll_ifindex = s->ifindex;
    to.sll_halen = ETH_ALEN;
    memset(to.sll_addr, L2_BYTE_MASK, ETH_ALEN);
    build_frame(s, s->sent, f);
    if (sendto(s->fd, f, s->size, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
        return errno == ENOBUFS || errno == EAGAIN ? -EAGAIN : -errno;
    s->sent++;
    return 0;
}

/* Reads every frame waiting on the socket. Returns how many of ours arrived. */
static int drain(struct l2_state *s)
{
    unsigned char f[L2_MAX_SIZE + 1];
    int got = 0;
    for (;;) {
        struct sockaddr_ll from;
        socklen_t fl = sizeof(from);
        uint32_t seq;
        ssize_t n = recvfrom(s->fd, f, sizeof(f), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n < 0)
            return got;
        if (from.sll_pkttype == PACKET_OUTGOING)
            continue; /* our own transmission, seen by the tap */
        if (check_frame(s, f, (size_t)n, &seq) != 0) {
            s->bad++;
            continue;
        }
        if (s->seen[seq]) {
            s->dup++;
            continue;
        }
        s->seen[seq] = 1;
        s->rx++;
        got++;
    }
}

static void wait_readable(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    (void)poll(&p, 1, ms);
}

static void run(struct l2_state *s, long long deadline)
{
    long long last = now_ms();
    while (now_ms() < deadline && s->rx < s->count) {
        if (s->sent < s->count) {
            for (int b = 0; b < L2_BURST && s->sent < s->count; b++)
                if (send_one(s) != 0)
                    break;
            wait_readable(s->fd, L2_BURST_WAIT_MS);
            if (drain(s) > 0)
                last = now_ms();
            continue;
        }
        wait_readable(s->fd, L2_DRAIN_WAIT_MS);
        if (drain(s) > 0)
            last = now_ms();
        else if (now_ms() - last > L2_IDLE_MS)
            break;
    }
}

int main(int argc, char **argv)
{
    struct l2_state s = { .fd = -1 };
    long long deadline;
    int rc;
    if (argc != 5) {
        fprintf(stderr, "usage: l2frames IFACE COUNT SIZE TIMEOUT_MS\n");
        return L2_EXIT_USAGE;
    }
    s.count = (uint32_t)strtoul(argv[2], NULL, 0);
    s.size = (uint32_t)strtoul(argv[3], NULL, 0);
    deadline = now_ms() + strtol(argv[4], NULL, 0);
    if (s.count == 0 || s.count > L2_MAX_COUNT || s.size < L2_MIN_SIZE || s.size > L2_MAX_SIZE) {
        fprintf(stderr, "l2frames: COUNT 1..%d, SIZE %d..%d\n", L2_MAX_COUNT, L2_MIN_SIZE,
                L2_MAX_SIZE);
        return L2_EXIT_USAGE;
    }
    s.seen = calloc(s.count, 1);
    s.nonce = (uint32_t)(now_ms() ^ getpid());
    rc = s.seen ? open_socket(&s, argv[1]) : -ENOMEM;
    if (rc != 0) {
        printf("RESULT l2frames_error=%s\n", strerror(-rc));
        return L2_EXIT_USAGE;
    }
    run(&s, deadline);
    printf("RESULT frames_sent=%u frames_rx=%u frames_bad=%u frames_dup=%u\n", s.sent, s.rx, s.bad,
           s.dup);
    close(s.fd);
    free(s.seen);
    return s.rx == s.count ? 0 : 1;
}
