/* SPDX-License-Identifier: MIT */
/*
 * scale: one shim process serving many devices, and its relay rate.
 *
 *   scale --shim BIN --dir DIR [--devices N] [--idle-s S] [--flood-s T]
 *         [--flood-devices K] [--window W] [--shim-cpu C] [--harness-cpu C]
 *
 * 1. Memory of a shim with one idle device (the baseline).
 * 2. A shim with N devices (backend-mode=connect): the harness listens on N
 *    back-end sockets as scripted back-ends (bench.h), connects N scripted
 *    legacy front-ends and brings all N devices up at once, from one epoll
 *    loop: the time for all, each device's time, resident memory before and
 *    after (VmRSS), then the shim's CPU ticks over S idle seconds (it should
 *    sleep in epoll_wait: 0 ticks).
 * 3. Relay rate: on 1 and on K of those sessions, the front-end keeps W small
 *    requests (SET_VRING_NUM with NEED_REPLY, 20 bytes; the ack is 20 bytes)
 *    in flight for T seconds; the back-end acks. Messages relayed per second
 *    (requests + replies) with the shim pinned to one CPU and the harness to
 *    the other, and the shim's CPU use; the same loop on a socketpair with no
 *    shim shows what the harness alone can do.
 *
 * Prints "scale ...", "relay ..." lines of key=value pairs for run.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "fd_util.h"

#define RING_PAIRS        1 /* each device: virtio-net, one queue pair */
#define BRINGUP_TIMEOUT_S 120
#define FLOOD_MAX_WINDOW  48  /* the shim allows 64 replies outstanding */
#define MSG_BYTES         20u /* header + vring state / u64 */
#define FDS_PER_DEV       12  /* the shim's 10 and a margin */

enum {
    EV_FE,
    EV_BE,
    EV_LISTEN
};

struct dev {
    struct bench_conn fe, be;
    int be_listen;
    struct bench_fe fsm;
    struct bench_be bsm;
    uint64_t t_start, t_done;
    bool done, failed;
    /* flood */
    uint8_t fe_buf[4096], be_buf[4096];
    size_t fe_have, be_have;
    unsigned outstanding;
    uint64_t completed;
};

struct opts {
    const char *shim, *dir;
    unsigned devices, idle_s, flood_s, flood_devices, window;
    int shim_cpu, harness_cpu;
};

static struct dev *devs;
static int ep = -1;

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int watch(int fd, unsigned i, int kind)
{
    struct epoll_event e = { .events = EPOLLIN, .data.u64 = ((uint64_t)i << 2) | (uint64_t)kind };
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

static void unwatch(int fd)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- the shim process ---------------------------------------------------------------- */

static pid_t spawn_shim(const struct opts *o, char **argv, const char *log)
{
    pid_t pid = fork();

    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0)
            dup2(fd, 2);
        if (o->shim_cpu >= 0)
            bench_pin_cpu(o->shim_cpu);
        execv(o->shim, argv);
        _exit(127);
    }
    return pid;
}

static int stop_shim(pid_t pid)
{
    int status = 0;

    kill(pid, SIGTERM);
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool wait_socket(const char *path, unsigned ms)
{
    struct stat st;

    for (unsigned i = 0; i < ms; i++) {
        if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            return true;
        sleep_ms(1);
    }
    return false;
}

static void fe_path(const struct opts *o, unsigned i, char *buf, size_t len)
{
    snprintf(buf, len, "%s/f%u.sock", o->dir, i);
}

static void be_path(const struct opts *o, unsigned i, char *buf, size_t len)
{
    snprintf(buf, len, "%s/b%u.sock", o->dir, i);
}

/* The baseline: a shim with one idle device. */
static long baseline_rss(const struct opts *o)
{
    char fe[160], be[160], spec[400], log[200];
    char *argv[] = { (char *)o->shim, "--log-level", "warn", "--device", spec, NULL };
    pid_t pid;
    long rss;

    snprintf(fe, sizeof(fe), "%s/base-f.sock", o->dir);
    snprintf(be, sizeof(be), "%s/base-b.sock", o->dir);
    snprintf(log, sizeof(log), "%s/shim-base.log", o->dir);
    snprintf(spec, sizeof(spec), "type=net,id=base,frontend=%s,backend=%s", fe, be);
    pid = spawn_shim(o, argv, log);
    if (pid < 0 || !wait_socket(fe, 10000)) {
        if (pid > 0)
            stop_shim(pid);
        return -ETIMEDOUT;
    }
    sleep_ms(200);
    rss = bench_rss_kib(pid);
    stop_shim(pid);
    return rss;
}

/* ---- bring-up of every device at once --------------------------------------------------- */

static int fe_step(struct dev *d)
{
    struct vu_msg m;
    bool reply = false;
    int rc;

    /* sends until a request wants an answer (they all do after SET_OWNER) */
    while ((rc = bench_fe_next(&d->fsm, &m, &reply)) == 1) {
        rc = vu_send_blocking(d->fe.fd, &m);
        if (rc || reply)
            return rc;
    }
    if (rc == 0) {
        d->done = true;
        d->t_done = bench_now_ns();
    }
    return rc;
}

static void on_fe(struct dev *d, unsigned i)
{
    struct vu_msg m;
    int rc;

    while ((rc = vu_recv(d->fe.fd, &d->fe.rx, &m)) == 1) {
        rc = bench_fe_reply(&d->fsm, &m);
        if (rc == 0)
            rc = fe_step(d);
        if (rc)
            break;
    }
    if (rc < 0 && !d->failed) {
        d->failed = true;
        fprintf(stderr, "scale: device %u: %s (%s)\n", i, d->fsm.error[0] ? d->fsm.error : "",
                strerror(-rc));
    }
}

static void on_be(struct dev *d, unsigned i)
{
    struct vu_msg m, reply;
    int rc;

    while ((rc = vu_recv(d->be.fd, &d->be.rx, &m)) == 1) {
        if (bench_be_handle(&d->bsm, &m, &reply) == 1 && (rc = vu_send_blocking(d->be.fd, &reply)))
            break;
    }
    if (rc < 0) {
        if (!d->done)
            fprintf(stderr, "scale: device %u: back-end connection: %s\n", i, strerror(-rc));
        unwatch(d->be.fd);
        bench_conn_close(&d->be);
        bench_be_close(&d->bsm);
    }
}

static void on_listen(struct dev *d, unsigned i)
{
    int fd = vu_accept(d->be_listen);

    if (fd < 0)
        return;
    if (d->be.fd >= 0) {
        close(fd); /* one session per device */
        return;
    }
    bench_conn_init(&d->be, fd);
    bench_be_init(&d->bsm);
    watch(fd, i, EV_BE);
}

static void dispatch(const struct epoll_event *e)
{
    unsigned i = (unsigned)(e->data.u64 >> 2);

    switch ((int)(e->data.u64 & 3)) {
    case EV_FE:
        on_fe(&devs[i], i);
        break;
    case EV_BE:
        on_be(&devs[i], i);
        break;
    default:
        on_listen(&devs[i], i);
        break;
    }
}

/* Brings every device up; returns the number that made it. */
static unsigned bringup_all(const struct opts *o, const struct bench_res *res, uint64_t *t_all)
{
    struct epoll_event ev[256];
    char path[160];
    unsigned done = 0, failed = 0;
    uint64_t t0 = bench_now_ns(), deadline = t0 + BRINGUP_TIMEOUT_S * UINT64_C(1000000000);

    for (unsigned i = 0; i < o->devices; i++) {
        struct dev *d = &devs[i];
        int fd;
        fe_path(o, i, path, sizeof(path));
        fd = vu_connect_unix(path);
        if (fd < 0) {
            fprintf(stderr, "scale: device %u: cannot connect to %s: %s\n", i, path, strerror(-fd));
            d->failed = true;
            continue;
        }
        vu_set_nonblocking(fd, true);
        bench_conn_init(&d->fe, fd);
        bench_fe_init(&d->fsm, BENCH_NET, 2 * RING_PAIRS, res);
        watch(fd, i, EV_FE);
        d->t_start = bench_now_ns();
        if (fe_step(d)) {
            d->failed = true;
            fprintf(stderr, "scale: device %u: %s\n", i, d->fsm.error);
        }
        /* keep the shim's accept queue and ours moving while connecting */
        int n = epoll_wait(ep, ev, 256, 0);
        for (int k = 0; k < n; k++)
            dispatch(&ev[k]);
    }
    for (;;) {
        done = failed = 0;
        for (unsigned i = 0; i < o->devices; i++) {
            done += devs[i].done;
            failed += devs[i].failed;
        }
        if (done + failed == o->devices || bench_now_ns() > deadline)
            break;
        int n = epoll_wait(ep, ev, 256, 100);
        for (int k = 0; k < n; k++)
            dispatch(&ev[k]);
    }
    *t_all = 0;
    for (unsigned i = 0; i < o->devices; i++)
        if (devs[i].done && devs[i].t_done - t0 > *t_all)
            *t_all = devs[i].t_done - t0;
    return done;
}

/* ---- relay rate ---------------------------------------------------------------------------- */

static uint8_t req_bytes[FLOOD_MAX_WINDOW * MSG_BYTES], ack_bytes[FLOOD_MAX_WINDOW * MSG_BYTES];

static void build_flood_messages(void)
{
    struct vu_hdr h = { .request = VU_REQ_SET_VRING_NUM,
                        .flags = VU_VERSION | VU_FLAG_NEED_REPLY,
                        .size = 8 };
    struct vu_hdr a = { .request = VU_REQ_SET_VRING_NUM,
                        .flags = VU_VERSION | VU_FLAG_REPLY,
                        .size = 8 };
    struct vu_vring_state st = { .index = 0, .num = BENCH_RING_SIZE };
    uint64_t zero = 0;

    for (unsigned i = 0; i < FLOOD_MAX_WINDOW; i++) {
        vu_hdr_encode(&h, req_bytes + i * MSG_BYTES);
        memcpy(req_bytes + i * MSG_BYTES + VU_HDR_SIZE, &st, sizeof(st));
        vu_hdr_encode(&a, ack_bytes + i * MSG_BYTES);
        memcpy(ack_bytes + i * MSG_BYTES + VU_HDR_SIZE, &zero, sizeof(zero));
    }
}

/* Whole messages in buf[0..*have); the rest is moved to the front. */
static unsigned take_messages(uint8_t *buf, size_t *have)
{
    size_t off = 0;
    unsigned n = 0;

    while (*have - off >= VU_HDR_SIZE) {
        struct vu_hdr h;
        vu_hdr_decode(buf + off, &h);
        if (*have - off < VU_HDR_SIZE + h.size)
            break;
        off += VU_HDR_SIZE + h.size;
        n++;
    }
    memmove(buf, buf + off, *have - off);
    *have -= off;
    return n;
}

/* Writes n small messages from src (all of it or an error: a 20-byte
 * message never fills a unix socket's buffer while the window is small). */
static int write_n(int fd, const uint8_t *src, unsigned n)
{
    while (n) {
        unsigned k = n < FLOOD_MAX_WINDOW ? n : FLOOD_MAX_WINDOW;
        ssize_t w = write(fd, src, (size_t)k * MSG_BYTES);
        if (w < 0 && errno == EINTR)
            continue;
        if (w != (ssize_t)((size_t)k * MSG_BYTES))
            return w < 0 ? -errno : -EAGAIN;
        n -= k;
    }
    return 0;
}

/* Reads what is there; the number of whole messages, or -errno. */
static int read_some(int fd, uint8_t *buf, size_t *have, size_t cap)
{
    ssize_t r = read(fd, buf + *have, cap - *have);

    if (r < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    if (r == 0)
        return -ECONNRESET;
    *have += (size_t)r;
    return (int)take_messages(buf, have);
}

/* Keeps `window` requests in flight on devices [0, k) for `seconds`, then
 * drains; the round trips completed before the deadline in *rts. */
static int flood(unsigned k, unsigned window, unsigned seconds, uint64_t *rts, uint64_t *elapsed)
{
    struct epoll_event ev[64];
    int fep = epoll_create1(EPOLL_CLOEXEC), rc = 0;
    uint64_t t0, deadline, outstanding = 0;

    if (fep < 0)
        return -errno;
    for (unsigned i = 0; i < k; i++) {
        struct dev *d = &devs[i];
        struct epoll_event e = { .events = EPOLLIN, .data.u64 = (uint64_t)i << 1 };
        epoll_ctl(fep, EPOLL_CTL_ADD, d->fe.fd, &e);
        e.data.u64 |= 1;
        epoll_ctl(fep, EPOLL_CTL_ADD, d->be.fd, &e);
        d->fe_have = d->be_have = 0;
        d->completed = 0;
    }
    t0 = bench_now_ns();
    deadline = t0 + (uint64_t)seconds * 1000000000u;
    for (unsigned i = 0; i < k && rc == 0; i++) {
        rc = write_n(devs[i].fe.fd, req_bytes, window);
        devs[i].outstanding = window;
        outstanding += window;
    }
    while (rc == 0 && outstanding) {
        bool running = bench_now_ns() < deadline;
        int n = epoll_wait(fep, ev, 64, 1000);
        if (n == 0) {
            rc = -ETIMEDOUT;
            break;
        }
        for (int j = 0; j < n && rc == 0; j++) {
            struct dev *d = &devs[ev[j].data.u64 >> 1];
            int got;
            if (ev[j].data.u64 & 1) {
                got = read_some(d->be.fd, d->be_buf, &d->be_have, sizeof(d->be_buf));
                rc = got < 0 ? got : write_n(d->be.fd, ack_bytes, (unsigned)got);
                continue;
            }
            got = read_some(d->fe.fd, d->fe_buf, &d->fe_have, sizeof(d->fe_buf));
            if (got < 0) {
                rc = got;
                break;
            }
            d->outstanding -= (unsigned)got;
            outstanding -= (unsigned)got;
            if (running) {
                d->completed += (unsigned)got;
                rc = write_n(d->fe.fd, req_bytes, (unsigned)got);
                d->outstanding += (unsigned)got;
                outstanding += (unsigned)got;
            }
        }
        if (running && bench_now_ns() >= deadline)
            *elapsed = bench_now_ns() - t0;
    }
    *rts = 0;
    for (unsigned i = 0; i < k; i++) {
        *rts += devs[i].completed;
        epoll_ctl(fep, EPOLL_CTL_DEL, devs[i].fe.fd, NULL);
        epoll_ctl(fep, EPOLL_CTL_DEL, devs[i].be.fd, NULL);
    }
    close(fep);
    return rc;
}

/* CPU time this process has used, in seconds. */
static double self_cpu_s(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void report_flood(const char *what, unsigned k, unsigned window, uint64_t rts,
                         uint64_t elapsed, long long ticks, double harness_cpu_s, int rc)
{
    double s = (double)elapsed / 1e9, tck = (double)sysconf(_SC_CLK_TCK);
    double msgs = 2.0 * (double)rts;

    printf("%s devices=%u window=%u seconds=%.2f round_trips=%llu msgs_per_s=%.0f "
           "harness_cpu_pct=%.0f",
           what, k, window, s, (unsigned long long)rts, s > 0 ? msgs / s : 0,
           s > 0 ? 100.0 * harness_cpu_s / s : 0);
    if (ticks >= 0)
        printf(" shim_cpu_pct=%.0f msgs_per_cpu_s=%.0f", s > 0 ? 100.0 * ticks / tck / s : 0,
               ticks > 0 ? msgs / (ticks / tck) : 0);
    if (rc)
        printf(" error=\"%s\"", strerror(-rc));
    if (strcmp(what, "relay") != 0)
        printf("\n");
}

/* The same loop with no shim: the harness's own ceiling. */
static void flood_direct(unsigned window, unsigned seconds)
{
    struct dev saved = devs[0];
    int sv[2];
    uint64_t rts = 0, elapsed = 0;
    int rc;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
        return;
    devs[0].fe.fd = sv[0];
    devs[0].be.fd = sv[1];
    double h0 = self_cpu_s();
    rc = flood(1, window, seconds, &rts, &elapsed);
    report_flood("relay_direct", 1, window, rts, elapsed, -1, self_cpu_s() - h0, rc);
    close(sv[0]);
    close(sv[1]);
    devs[0] = saved;
}

/* ---- main ------------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: scale --shim BIN --dir DIR [--devices N] [--idle-s S] [--flood-s T]\n"
            "             [--flood-devices K] [--window W] [--shim-cpu C] [--harness-cpu C]\n");
    exit(2);
}

static int count_fds(pid_t pid)
{
    char cmd[64];
    FILE *p;
    int n = -1;

    snprintf(cmd, sizeof(cmd), "ls /proc/%d/fd | wc -l", (int)pid);
    p = popen(cmd, "re");
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

int main(int argc, char **argv)
{
    struct opts o = { .devices = 1000,
                      .idle_s = 5,
                      .flood_s = 3,
                      .flood_devices = 16,
                      .window = 32,
                      .shim_cpu = -1,
                      .harness_cpu = -1 };
    struct bench_res res;
    char **sargv, *specs, path[160], log[200];
    long rss_base, rss_idle, rss_active, limit;
    uint64_t t_all = 0, t_start;
    unsigned ok;
    pid_t shim;
    int status = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (strcmp(a, "--shim") == 0)
            o.shim = v;
        else if (strcmp(a, "--dir") == 0)
            o.dir = v;
        else if (strcmp(a, "--devices") == 0)
            o.devices = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--idle-s") == 0)
            o.idle_s = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--flood-s") == 0)
            o.flood_s = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--flood-devices") == 0)
            o.flood_devices = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--window") == 0)
            o.window = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--shim-cpu") == 0)
            o.shim_cpu = atoi(v);
        else if (strcmp(a, "--harness-cpu") == 0)
            o.harness_cpu = atoi(v);
        else
            usage();
    }
    if (!o.shim || !o.dir || o.devices < 2 || o.window == 0 || o.window > FLOOD_MAX_WINDOW)
        usage();
    if (o.flood_devices > o.devices)
        o.flood_devices = o.devices;
    signal(SIGPIPE, SIG_IGN);
    /* per device: 5 fds here (front-end, its channel end, back-end listener,
     * back-end, its channel); in the shim, which inherits the limit, 10 (its
     * listener, both peers, both ends of the back-end channel, and the
     * duplicates of the memory and ring fds its replay journal keeps) */
    limit = bench_raise_nofile((long)o.devices * FDS_PER_DEV + 256);
    if (limit < (long)o.devices * FDS_PER_DEV + 64) {
        fprintf(stderr,
                "scale: the open-file limit is %ld; %u devices need %ld (raise the hard limit)\n",
                limit, o.devices, (long)o.devices * FDS_PER_DEV + 64);
        return 1;
    }
    if (o.harness_cpu >= 0)
        bench_pin_cpu(o.harness_cpu);
    devs = calloc(o.devices, sizeof(*devs));
    sargv = calloc(2 * (size_t)o.devices + 4, sizeof(char *));
    specs = calloc(o.devices, 400);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!devs || !sargv || !specs || ep < 0 || bench_res_init(&res)) {
        fprintf(stderr, "scale: cannot set up: %s\n", strerror(errno));
        return 1;
    }
    build_flood_messages();

    rss_base = baseline_rss(&o);

    /* the back-end sockets, then the shim with every device */
    sargv[0] = (char *)o.shim;
    sargv[1] = "--log-level";
    sargv[2] = "warn";
    for (unsigned i = 0; i < o.devices; i++) {
        char fe[160], be[160];
        struct dev *d = &devs[i];
        d->fe.fd = d->be.fd = -1;
        be_path(&o, i, be, sizeof(be));
        fe_path(&o, i, fe, sizeof(fe));
        d->be_listen = vu_listen_unix(be, 0600);
        if (d->be_listen < 0) {
            fprintf(stderr, "scale: cannot listen on %s: %s\n", be, strerror(-d->be_listen));
            return 1;
        }
        watch(d->be_listen, i, EV_LISTEN);
        snprintf(specs + (size_t)i * 400, 400, "type=net,id=d%u,frontend=%s,backend=%s", i, fe, be);
        sargv[3 + 2 * i] = "--device";
        sargv[4 + 2 * i] = specs + (size_t)i * 400;
    }
    snprintf(log, sizeof(log), "%s/shim.log", o.dir);
    t_start = bench_now_ns();
    shim = spawn_shim(&o, sargv, log);
    fe_path(&o, o.devices - 1, path, sizeof(path));
    for (unsigned i = 0; i < o.devices; i++) {
        fe_path(&o, i, path, sizeof(path));
        if (!wait_socket(path, 30000)) {
            fprintf(stderr, "scale: the shim did not create %s (see %s)\n", path, log);
            stop_shim(shim);
            return 1;
        }
    }
    t_start = bench_now_ns() - t_start;
    sleep_ms(300);
    rss_idle = bench_rss_kib(shim);

    ok = bringup_all(&o, &res, &t_all);
    sleep_ms(300);
    rss_active = bench_rss_kib(shim);
    {
        uint64_t *lat = calloc(o.devices, sizeof(uint64_t));
        size_t n = 0;
        for (unsigned i = 0; lat && i < o.devices; i++)
            if (devs[i].done)
                lat[n++] = devs[i].t_done - devs[i].t_start;
        double med = lat ? bench_median_u64(lat, n) : 0;
        printf("scale devices=%u up=%u start_ms=%.1f bringup_all_ms=%.1f dev_median_ms=%.2f "
               "dev_p99_ms=%.2f msgs_per_dev=%u rss_base_kib=%ld rss_idle_kib=%ld "
               "rss_active_kib=%ld idle_per_dev_kib=%.1f session_per_dev_kib=%.1f "
               "per_dev_kib=%.1f shim_fds=%d",
               o.devices, ok, (double)t_start / 1e6, (double)t_all / 1e6, med / 1e6,
               lat ? bench_pct_sorted_u64(lat, n, 99) / 1e6 : 0, devs[0].fsm.sent, rss_base,
               rss_idle, rss_active, (double)(rss_idle - rss_base) / (o.devices - 1),
               (double)(rss_active - rss_idle) / o.devices,
               (double)(rss_active - rss_base) / (o.devices - 1), count_fds(shim));
        free(lat);
    }
    fflush(stdout);

    /* idle: nothing to do, so nothing done; messages arriving here would be
     * the shim polling its peers */
    {
        struct epoll_event ev[64];
        long long t0 = bench_cpu_ticks(shim), t1;
        uint64_t until = bench_now_ns() + (uint64_t)o.idle_s * 1000000000u;
        unsigned events = 0;
        while (bench_now_ns() < until) {
            int n = epoll_wait(ep, ev, 64, 200);
            for (int k = 0; k < n; k++, events++)
                dispatch(&ev[k]);
        }
        t1 = bench_cpu_ticks(shim);
        printf(" idle_s=%u idle_ticks=%lld idle_events=%u\n", o.idle_s, t1 - t0, events);
    }

    if (ok == o.devices && o.flood_s > 0) {
        unsigned ks[2] = { 1, o.flood_devices };
        for (unsigned j = 0; j < 2; j++) {
            uint64_t rts = 0, elapsed = 0;
            long long c0, c1;
            int rc;
            if (j == 1 && ks[1] <= 1)
                break;
            for (unsigned i = 0; i < ks[j]; i++) {
                unwatch(devs[i].fe.fd);
                unwatch(devs[i].be.fd);
            }
            double h0 = self_cpu_s();
            long rss0 = bench_rss_kib(shim);
            c0 = bench_cpu_ticks(shim);
            rc = flood(ks[j], o.window, o.flood_s, &rts, &elapsed);
            c1 = bench_cpu_ticks(shim);
            report_flood("relay", ks[j], o.window, rts, elapsed, c1 - c0, self_cpu_s() - h0, rc);
            /* a relay that kept something per message would grow here */
            printf(" rss_before_kib=%ld rss_after_kib=%ld\n", rss0, bench_rss_kib(shim));
            for (unsigned i = 0; i < ks[j]; i++) {
                watch(devs[i].fe.fd, i, EV_FE);
                watch(devs[i].be.fd, i, EV_BE);
            }
            if (rc)
                status = 1;
        }
        flood_direct(o.window, o.flood_s);
    }

    if (ok != o.devices)
        status = 1;
    {
        int ex = stop_shim(shim), warnings = -1;
        char cmd[300];
        FILE *p;
        snprintf(cmd, sizeof(cmd), "grep -c . %s", log);
        p = popen(cmd, "re");
        if (p) {
            if (fscanf(p, "%d", &warnings) != 1)
                warnings = -1;
            pclose(p);
        }
        printf("shim exit=%d log_lines=%d\n", ex, warnings);
        if (ex != 0)
            status = 1;
    }
    for (unsigned i = 0; i < o.devices; i++) {
        if (devs[i].fe.fd >= 0)
            bench_conn_close(&devs[i].fe);
        if (devs[i].be.fd >= 0)
            bench_conn_close(&devs[i].be);
        bench_fe_reset(&devs[i].fsm);
        bench_be_close(&devs[i].bsm);
        fd_close(&devs[i].be_listen);
        be_path(&o, i, path, sizeof(path));
        unlink(path);
    }
    bench_res_close(&res);
    free(devs);
    free(sargv);
    free(specs);
    return status;
}
