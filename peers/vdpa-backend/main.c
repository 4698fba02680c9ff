/* SPDX-License-Identifier: MIT */
/*
 * vdpa-backend: the reference vdpa-user back-end (docs/reference-backend.md).
 *
 * One thread, one poll() loop. Each turn of the loop handles signals, drains
 * the kick eventfds, reads at most one control message, then gives every
 * running ring a bounded amount of work. Because a control message is
 * always handled between two ring passes, it sees no request half-done.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "transport.h"
#include "vdpa-backend/backend.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: vdpa-backend --socket PATH [--listen | --connect] --type net|blk|input|rng\n"
        "                    [--disk FILE] [--read-only]\n"
        "                    [--net-mode loopback|udp] [--udp-bind IP:PORT --udp-peer IP:PORT]\n"
        "                    [--mac XX:XX:XX:XX:XX:XX] [--mtu N] [--queue-pairs N]\n"
        "                    [--input-name NAME] [--input-serial TEXT]\n"
        "                    [--inject-keys LIST [--inject-every-ms N]]\n"
        "                    [--queue-size N] [--once] [--stats FILE]\n"
        "                    [--log-level error|warn|info|debug] [--help]\n"
        "A vdpa-user (VHOST_USER_PROTOCOL_F_VDPA) back-end; it refuses plain vhost-user.\n"
        "  --listen        listen on PATH for front-ends, one at a time (default)\n"
        "  --connect       connect to a front-end listening on PATH; exit when it goes\n"
        "  --type          net: virtio-net; blk: virtio-blk on --disk FILE;\n"
        "                  input: a virtio-input keyboard; rng: virtio-rng\n"
        "  --read-only     blk: offer VIRTIO_BLK_F_RO and refuse writes\n"
        "  --net-mode      loopback (default): transmitted packets come back on the\n"
        "                  receive queue of the same pair; udp: to/from UDP sockets\n"
        "  --queue-pairs   net: queue pairs (MQ and a control queue if > 1); blk: queues\n"
        "  --input-name    input: the device's name (ID_NAME)\n"
        "  --input-serial  input: its serial (ID_SERIAL)\n"
        "  --inject-keys   input: keys pressed and released once the driver is ready,\n"
        "                  a comma-separated list of letters a-z or key codes\n"
        "  --inject-every-ms  input: the key sequence again every N ms\n"
        "  --queue-size    largest ring size, a power of two <= %u (default the same)\n"
        "  --once          exit after the first front-end disconnects\n"
        "  --stats FILE    write counters on exit and on SIGUSR1; SIGHUP re-reads the\n"
        "                  disk size (blk resize)\n",
        BK_MAX_QUEUE_SIZE);
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 0);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char tail;

    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) !=
        6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

static int parse_inet(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    unsigned port;

    if (!colon || (size_t)(colon - s) >= sizeof(host) || parse_uint(colon + 1, 0, 65535, &port))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

enum {
    O_SOCKET = 256,
    O_LISTEN,
    O_CONNECT,
    O_TYPE,
    O_DISK,
    O_RO,
    O_NET_MODE,
    O_UDP_BIND,
    O_UDP_PEER,
    O_MAC,
    O_MTU,
    O_QP,
    O_QS,
    O_ONCE,
    O_STATS,
    O_LOG,
    O_INPUT_NAME,
    O_INPUT_SERIAL,
    O_INJECT_KEYS,
    O_INJECT_EVERY,
    O_HELP
};

#define INJECT_EVERY_MAX_MS 3600000u /* an hour */

/* The options of --type input (set_option's helper): 0, or -1 after saying
 * what is wrong. */
static int set_input_option(struct options *o, int c, const char *arg)
{
    switch (c) {
    case O_INPUT_NAME:
        o->input_name = arg;
        break;
    case O_INPUT_SERIAL:
        o->input_serial = arg;
        break;
    case O_INJECT_KEYS:
        if (input_parse_keys(arg, o->inject_keys, BK_INPUT_MAX_KEYS, &o->n_inject_keys))
            return fprintf(stderr,
                           "vdpa-backend: --inject-keys wants up to %u letters a-z or key "
                           "codes, comma-separated\n",
                           BK_INPUT_MAX_KEYS),
                   -1;
        break;
    case O_INJECT_EVERY:
        if (parse_uint(arg, 1, INJECT_EVERY_MAX_MS, &o->inject_every_ms))
            return fprintf(stderr, "vdpa-backend: --inject-every-ms is 1..%u\n",
                           INJECT_EVERY_MAX_MS),
                   -1;
        break;
    default:
        return -1;
    }
    return 0;
}

/* One option c with its argument arg (getopt_long's optarg) into o: 0, or
 * -1 after saying what is wrong. */
static int set_option(struct options *o, int c, const char *arg)
{
    enum vs_log_level level;

    switch (c) {
    case O_SOCKET:
        o->socket_path = arg;
        break;
    case O_LISTEN:
        o->connect = false;
        break;
    case O_CONNECT:
        o->connect = true;
        break;
    case O_TYPE:
        o->type = arg;
        break;
    case O_DISK:
        o->disk = arg;
        break;
    case O_RO:
        o->read_only = true;
        break;
    case O_NET_MODE:
        if (strcmp(arg, "loopback") == 0)
            o->net_mode = NET_LOOPBACK;
        else if (strcmp(arg, "udp") == 0)
            o->net_mode = NET_UDP;
        else
            return fprintf(stderr, "vdpa-backend: --net-mode is loopback or udp\n"), -1;
        break;
    case O_UDP_BIND:
        if (parse_inet(arg, &o->udp_bind))
            return fprintf(stderr, "vdpa-backend: --udp-bind wants IPv4:PORT\n"), -1;
        break;
    case O_UDP_PEER:
        if (parse_inet(arg, &o->udp_peer))
            return fprintf(stderr, "vdpa-backend: --udp-peer wants IPv4:PORT\n"), -1;
        break;
    case O_MAC:
        if (parse_mac(arg, o->mac))
            return fprintf(stderr, "vdpa-backend: --mac wants xx:xx:xx:xx:xx:xx\n"), -1;
        break;
    case O_MTU:
        if (parse_uint(arg, 68, 65535, &o->mtu))
            return fprintf(stderr, "vdpa-backend: --mtu is 68..65535\n"), -1;
        break;
    case O_QP:
        if (parse_uint(arg, 1, (BK_MAX_RINGS - 1) / 2, &o->queue_pairs))
            return fprintf(stderr, "vdpa-backend: --queue-pairs is 1..%u\n",
                           (BK_MAX_RINGS - 1) / 2),
                   -1;
        break;
    case O_QS:
        if (parse_uint(arg, 1, BK_MAX_QUEUE_SIZE, &o->queue_size) ||
            (o->queue_size & (o->queue_size - 1)))
            return fprintf(stderr, "vdpa-backend: --queue-size is a power of two <= %u\n",
                           BK_MAX_QUEUE_SIZE),
                   -1;
        break;
    case O_ONCE:
        o->once = true;
        break;
    case O_STATS:
        o->stats_path = arg;
        break;
    case O_LOG:
        if (vs_log_level_parse(arg, &level))
            return fprintf(stderr, "vdpa-backend: --log-level is error|warn|info|debug\n"), -1;
        vs_log_set_level(level);
        break;
    case O_HELP:
        usage(stdout);
        exit(0);
    default:
        return set_input_option(o, c, arg);
    }
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        { "socket", required_argument, NULL, O_SOCKET },
        { "listen", no_argument, NULL, O_LISTEN },
        { "connect", no_argument, NULL, O_CONNECT },
        { "type", required_argument, NULL, O_TYPE },
        { "disk", required_argument, NULL, O_DISK },
        { "read-only", no_argument, NULL, O_RO },
        { "net-mode", required_argument, NULL, O_NET_MODE },
        { "udp-bind", required_argument, NULL, O_UDP_BIND },
        { "udp-peer", required_argument, NULL, O_UDP_PEER },
        { "mac", required_argument, NULL, O_MAC },
        { "mtu", required_argument, NULL, O_MTU },
        { "queue-pairs", required_argument, NULL, O_QP },
        { "num-queues", required_argument, NULL, O_QP },
        { "queue-size", required_argument, NULL, O_QS },
        { "once", no_argument, NULL, O_ONCE },
        { "stats", required_argument, NULL, O_STATS },
        { "log-level", required_argument, NULL, O_LOG },
        { "input-name", required_argument, NULL, O_INPUT_NAME },
        { "input-serial", required_argument, NULL, O_INPUT_SERIAL },
        { "inject-keys", required_argument, NULL, O_INJECT_KEYS },
        { "inject-every-ms", required_argument, NULL, O_INJECT_EVERY },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    static const uint8_t default_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    int c;

    memset(o, 0, sizeof(*o));
    memcpy(o->mac, default_mac, 6);
    o->queue_pairs = 1;
    /* QEMU's VIRTQUEUE_MAX_SIZE: QEMU 10.0 sets up 1024-entry rings for
     * vhost-user net and blk (measured), 7.2 256 */
    o->queue_size = BK_MAX_QUEUE_SIZE;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
        if (set_option(o, c, optarg))
            return -1;
    if (optind != argc)
        return fprintf(stderr, "vdpa-backend: unexpected argument '%s'\n", argv[optind]), -1;
    if (!o->socket_path || !o->type)
        return fprintf(stderr, "vdpa-backend: --socket and --type are required\n"), -1;
    if (strcmp(o->type, "blk") == 0 && !o->disk)
        return fprintf(stderr, "vdpa-backend: --type blk needs --disk FILE\n"), -1;
    /* parse_inet() sets the family of an address it accepted; zero when unset */
    if (o->net_mode == NET_UDP &&
        (o->udp_bind.sin_family != AF_INET || o->udp_peer.sin_family != AF_INET))
        return fprintf(stderr, "vdpa-backend: --net-mode udp needs --udp-bind and --udp-peer\n"),
               -1;
    return 0;
}

static void write_stats(const struct backend *b)
{
    const struct stats *s = &b->stats;
    char tmp[4096];
    FILE *f;

    if (!b->opt.stats_path)
        return;
    /* Written to a temporary file and renamed, so a reader never sees half. */
    snprintf(tmp, sizeof(tmp), "%s.tmp", b->opt.stats_path);
    f = fopen(tmp, "we");
    if (!f) {
        vs_warn("cannot write %s: %s", tmp, strerror(errno));
        return;
    }
#define STAT(name) fprintf(f, #name " %llu\n", (unsigned long long)s->name)
    STAT(sessions);
    STAT(requests);
    STAT(requests_refused);
    STAT(device_needs_reset);
    if (b->type == &net_device_type) {
        STAT(net_rx_packets);
        STAT(net_rx_bytes);
        STAT(net_rx_dropped);
        STAT(net_tx_packets);
        STAT(net_tx_bytes);
        STAT(net_tx_dropped);
        STAT(net_ctrl_commands);
    } else if (b->type == &rng_device_type) {
        STAT(rng_requests);
        STAT(rng_bytes);
    } else if (b->type == &input_device_type) {
        STAT(input_events);
        STAT(input_sequences);
        STAT(input_sequences_skipped);
        STAT(input_status_events);
    } else {
        STAT(blk_reads);
        STAT(blk_read_bytes);
        STAT(blk_writes);
        STAT(blk_written_bytes);
        STAT(blk_flushes);
        STAT(blk_get_ids);
        STAT(blk_errors);
        STAT(blk_unsupported);
    }
#undef STAT
    if (fclose(f) != 0 || rename(tmp, b->opt.stats_path) != 0)
        vs_warn("cannot write %s: %s", b->opt.stats_path, strerror(errno));
}

static int connect_with_retry(const char *path)
{
    int fd = -ENOENT;

    /* The front-end may still be starting: try for five seconds. */
    for (int i = 0; i < 50; i++) {
        fd = vu_connect_unix(path);
        if (fd >= 0)
            return vu_set_nonblocking(fd, true) ? (close(fd), -EIO) : fd;
        usleep(100 * 1000);
    }
    return fd;
}

enum {
    ROLE_SIGNAL,
    ROLE_LISTEN,
    ROLE_SOCK,
    ROLE_KICK,
    ROLE_EXTRA
};

/* signals, the socket or the listener, the extra fd, a kick per ring; one spare */
#define POLL_MAX     (BK_MAX_RINGS + 4)
#define RING_POLL_MS 10 /* a started ring without a kick fd: polled */

/* One turn's poll set. */
struct pollset {
    struct pollfd pfd[POLL_MAX];
    int role[POLL_MAX];
    unsigned n;
    bool must_poll_rings; /* a started ring has no kick fd (5.2) */
};

static void pollset_add(struct pollset *ps, int fd, int role)
{
    ps->pfd[ps->n] = (struct pollfd){ .fd = fd, .events = POLLIN };
    ps->role[ps->n++] = role;
}

static void pollset_build(struct pollset *ps, struct backend *b, int sigfd, int listen_fd)
{
    bool want_extra = false;
    int extra = b->type->extra_fd(b, &want_extra);

    ps->n = 0;
    ps->must_poll_rings = false;
    pollset_add(ps, sigfd, ROLE_SIGNAL);
    /* One front-end at a time; the next waits in the backlog. */
    if (b->sock >= 0)
        pollset_add(ps, b->sock, ROLE_SOCK);
    else if (listen_fd >= 0)
        pollset_add(ps, listen_fd, ROLE_LISTEN);
    for (unsigned i = 0; i < b->nrings; i++) {
        if (!b->rings[i].started)
            continue;
        if (b->rings[i].kick_fd < 0) {
            ps->must_poll_rings = true; /* 5.2: no kick fd, so we poll */
            continue;
        }
        pollset_add(ps, b->rings[i].kick_fd, ROLE_KICK);
    }
    if (want_extra)
        pollset_add(ps, extra, ROLE_EXTRA);
}

/* Reads the pending signals; true when one says exit. */
static bool on_signals(struct backend *b, int sigfd)
{
    struct signalfd_siginfo si;
    bool quit = false;

    while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGUSR1) {
            write_stats(b);
        } else if (si.ssi_signo == SIGHUP) {
            if (b->type->rescan(b))
                device_config_changed(b);
        } else {
            vs_info("signal %u: exiting", si.ssi_signo);
            quit = true;
        }
    }
    return quit;
}

/* Reads (and handles) at most one message; true when the session is over. */
static bool on_socket(struct backend *b, struct vu_rx *rx, struct vu_msg *msg)
{
    /* One message per turn: rings get their share in between. */
    int rc = vu_recv(b->sock, rx, msg);

    if (rc == 1)
        rc = device_handle_message(b, msg) < 0 ? -ECONNABORTED : 0;
    if (rc >= 0)
        return false;
    if (rc == -ECONNRESET)
        vs_info("front-end disconnected");
    else
        vs_info("closing the connection: %s", strerror(-rc));
    return true;
}

/* Handles what poll() reported; true when the process is to exit. */
static bool on_events(struct backend *b, const struct pollset *ps, int sigfd, int listen_fd,
                      struct vu_rx *rx, struct vu_msg *msg)
{
    bool quit = false, session_over = false;

    /* Kicks and the extra fd first: a control message handled below may
     * close and replace the fds polled above. */
    for (unsigned i = 0; i < ps->n; i++) {
        int role = ps->role[i];
        if (!ps->pfd[i].revents)
            continue;
        if (role == ROLE_KICK) {
            vq_eventfd_drain(ps->pfd[i].fd); /* every running ring is looked at below */
        } else if (role == ROLE_EXTRA && b->sock >= 0) {
            int rc = b->type->on_extra(b);
            if (rc < 0)
                device_needs_reset(b, 0, vq_strerror(rc));
        } else if (role == ROLE_EXTRA) {
            b->type->on_extra(b); /* no session: drops what arrived */
        } else if (role == ROLE_SIGNAL) {
            quit |= on_signals(b, sigfd);
        } else if (role == ROLE_LISTEN) {
            int fd = vu_accept(listen_fd);
            if (fd >= 0) {
                vs_info("front-end connected");
                vu_rx_clear(rx);
                device_session_start(b, fd);
            }
        } else if (role == ROLE_SOCK) {
            session_over |= on_socket(b, rx, msg);
        }
    }
    if (session_over) {
        vu_rx_clear(rx);
        device_session_end(b);
        if (b->opt.once || b->opt.connect)
            quit = true;
    }
    return quit;
}

/* Returns the process exit status. */
static int run(struct backend *b, int sigfd, int listen_fd)
{
    struct pollset ps;
    struct vu_rx *rx = malloc(sizeof(*rx));
    struct vu_msg *msg = malloc(sizeof(*msg));
    bool more = false;
    int status = 0;

    if (!rx || !msg) {
        free(rx);
        free(msg);
        return 1;
    }
    vu_rx_init(rx);
    for (;;) {
        pollset_build(&ps, b, sigfd, listen_fd);
        if (poll(ps.pfd, ps.n,
                 more                 ? 0
                 : ps.must_poll_rings ? RING_POLL_MS
                                      : -1) < 0 &&
            errno != EINTR) {
            vs_err("poll: %s", strerror(errno));
            status = 1;
            break;
        }
        if (on_events(b, &ps, sigfd, listen_fd, rx, msg))
            break;
        more = b->sock >= 0 && device_run_rings(b);
    }
    vu_rx_clear(rx);
    free(rx);
    free(msg);
    return status;
}

/* Signals arrive through an fd in the poll set, so a handler never runs in
 * the middle of a request. The signalfd, or -1 after logging why. */
static int signal_fd(void)
{
    sigset_t mask;
    int fd;

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0)
        vs_err("signalfd: %s", strerror(errno));
    return fd;
}

/* --connect: connects and starts the session; else listens (*listen_fd).
 * 0, or -1 after logging why. */
static int open_socket(struct backend *b, int *listen_fd)
{
    if (b->opt.connect) {
        int fd = connect_with_retry(b->opt.socket_path);
        if (fd < 0) {
            vs_err("cannot connect to %s: %s", b->opt.socket_path, strerror(-fd));
            return -1;
        }
        vs_info("connected to %s", b->opt.socket_path);
        device_session_start(b, fd);
        return 0;
    }
    *listen_fd = vu_listen_unix(b->opt.socket_path, 0600);
    if (*listen_fd < 0) {
        vs_err("cannot listen on %s: %s", b->opt.socket_path, strerror(-*listen_fd));
        *listen_fd = -1;
        return -1;
    }
    vs_info("%s device listening on %s", b->type->name, b->opt.socket_path);
    return 0;
}

/* The device types this back-end serves, by --type name. */
static const struct device_type *find_type(const char *name)
{
    static const struct device_type *const types[] = { &net_device_type, &blk_device_type,
                                                       &input_device_type, &rng_device_type };

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i]->name, name) == 0)
            return types[i];
    return NULL;
}

int main(int argc, char **argv)
{
    struct backend *b = calloc(1, sizeof(*b));
    int sigfd = -1, listen_fd = -1, status = 1, rc;

    vs_log_set_program("vdpa-backend");
    if (!b)
        return 1;
    if (parse_options(argc, argv, &b->opt)) {
        usage(stderr);
        free(b);
        return 2;
    }
    b->type = find_type(b->opt.type);
    if (!b->type) {
        fprintf(stderr, "vdpa-backend: --type is net, blk, input or rng\n");
        free(b);
        return 2;
    }
    b->chain = malloc(sizeof(*b->chain));
    if (!b->chain)
        goto out;
    rc = b->type->init(b);
    if (rc) {
        vs_err("cannot set up the %s device: %s", b->type->name, strerror(-rc));
        goto out_type;
    }
    device_init(b);

    sigfd = signal_fd();
    if (sigfd < 0)
        goto out_type;
    if (open_socket(b, &listen_fd))
        goto out_sig;

    status = run(b, sigfd, listen_fd);
    if (b->sock >= 0)
        device_session_end(b);
    if (listen_fd >= 0) {
        close(listen_fd);
        unlink(b->opt.socket_path);
    }
    write_stats(b);
out_sig:
    close(sigfd);
out_type:
    b->type->fini(b);
out:
    free(b->chain);
    free(b);
    return status;
}
