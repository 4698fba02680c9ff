/* SPDX-License-Identifier: MIT */
/*
 * Isolation tests (issue 14): the real vdpa-shim ($BUILD/vdpa-shim) serving
 * TWO devices, a victim and an attacker, each between a scripted front-end
 * and a scripted back-end of the test. While the attacker's peers misbehave,
 * a prober thread keeps timing request/reply exchanges on the victim
 * (front-end GET_FEATURES -> back-end -> reply -> front-end); the test then
 * asserts the victim was served throughout with a bounded worst delay.
 *
 *     struct iso t;
 *     struct iso_opts o = ISO_OPTS_DEFAULT;
 *     o.attacker.extra = "reply-timeout=500ms";
 *     iso_start(&t, &o);               // fails the test if the shim does not start
 *     iso_victim_start(&t);            // connects + negotiates the victim, starts the prober
 *     iso_connect(&t, &t.attacker);    // the attacker's front-end and back-end
 *     ... attack with iso_send_* / iso_expect* on t.attacker.fe / t.attacker.be ...
 *     iso_victim_check(&t, "item 5"); // stops the prober, asserts and prints the worst delay
 *     iso_expect_alive(&t);
 *     iso_stop(&t);                    // also in the teardown: safe to call twice
 *
 * Include after <cmocka.h>: the iso_expect* / iso_start helpers fail the
 * current test (fail_msg) and dump the shim's log and trace first. The prober
 * thread never calls cmocka; it records what went wrong.
 * Every wait has a time-out. Header-only (static functions), so each test
 * binary stays one file.
 */
#ifndef VDPA_SHIM_TESTS_ISOLATION_H
#define VDPA_SHIM_TESTS_ISOLATION_H

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

#include "testutil.h"
#include "scripted.h"

/* The worst delay the victim may see in one exchange: generous for ASan and
 * a loaded 2-core CI machine; the failures this guards against are seconds
 * long or forever. */
#define ISO_VICTIM_MAX_US        (250000u * test_time_scale()) /* x20 under valgrind */
#define ISO_VICTIM_MIN_EXCHANGES 3     /* the victim is checked after at least this many */
#define ISO_TIMEOUT_MS           3000  /* any single wait for a message or EOF */
#define ISO_QUIET_MS             300   /* "nothing arrives" */
#define ISO_START_MS             5000  /* the shim's sockets appear */
#define ISO_EXIT_MS              5000  /* SIGTERM to exit (slower under ASan); then SIGKILL */
#define ISO_PROBE_PAUSE_US       2000  /* between two victim exchanges */
#define ISO_PROBE_SLICE_MS       20    /* the prober checks for a stop this often */
#define ISO_PROBE_GIVEUP_MS      10000 /* one victim exchange at most (then: wedged) */
#define ISO_STOP_GRACE_MS        1000  /* an exchange in flight at stop may finish */
#define ISO_ALIVE_MS             2000  /* "the victim answers" */
#define ISO_FDS_SETTLE_MS        2000  /* the shim's fd count comes back */
#define ISO_PATH                 160

/* What the victim's scripted back-end offers. VERSION_1 (32),
 * PROTOCOL_FEATURES (30), MAC (5), CSUM (0). */
#define ISO_FEATURES (VU_BIT(32) | VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(5) | VU_BIT(0))
#define ISO_REQ      VU_VERSION /* header flags of a plain request */
#define ISO_REQ_NEED (VU_VERSION | VU_FLAG_NEED_REPLY)
#define ISO_REPLY    (VU_VERSION | VU_FLAG_REPLY)

struct iso_dev_opts {
    const char *type;    /* device type (default "net") */
    const char *extra;   /* more device keys, "k=v,k=v" (or NULL) */
    bool backend_listen; /* backend-mode=listen: the test's back-end connects */
};

struct iso_opts {
    struct iso_dev_opts victim, attacker;
    bool config_file;       /* the devices in a --config FILE (iso.config_path) */
    const char *trace;      /* --trace PATH (default DIR/trace.txt) */
    const char *trace_max;  /* --trace-max VALUE, or NULL */
    const char *log_level;  /* --log-level (default "info") */
    void (*pre_exec)(void); /* run in the shim's child just before exec */
    unsigned nofile;        /* the shim's open-file limit (soft and hard), 0: as is */
};

#define ISO_OPTS_DEFAULT                                                                           \
    {                                                                                              \
        .victim = { .type = "net" }, .attacker = { .type = "net" }, .config_file = false,          \
        .trace = NULL, .trace_max = NULL, .log_level = "info", .pre_exec = NULL, .nofile = 0       \
    }

struct iso_dev {
    const char *name; /* "victim" / "attacker": also the device's id= */
    char fe_path[ISO_PATH], be_path[ISO_PATH];
    bool backend_listen;
    int be_listen; /* the scripted back-end's listening socket, or -1 */
    int fe;        /* the scripted front-end's connection, or -1 */
    int be;        /* the back-end connection (scripted side), or -1 */
};

struct iso_prober {
    pthread_t thread;
    bool running;
    atomic_bool stop;
    atomic_uint_fast64_t count;  /* exchanges completed */
    atomic_uint_fast64_t max_us; /* the worst one (or one still pending at the end) */
    int err;                     /* the first failure (-errno), 0 if none */
    char what[160];              /* what failed */
    struct vu_rx rx;             /* the receive state of the current wait */
};

struct iso {
    char dir[64];
    char trace_path[ISO_PATH], log_path[ISO_PATH], config_path[ISO_PATH];
    pid_t shim;      /* 0 once reaped */
    int exit_status; /* wait status once reaped */
    struct iso_dev victim, attacker;
    int fds_base; /* the shim's fds with the victim's session up, attacker idle */
    bool dumped;
    struct iso_prober prober;
};

/* ---- small helpers --------------------------------------------------------- */

static inline uint64_t iso_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* fd_util.h's fd_close under the name the isolation tests use. */
static inline void iso_close(int *fd)
{
    fd_close(fd);
}

static inline bool iso_log_contains(const struct iso *t, const char *needle)
{
    return scripted_file_contains(t->log_path, needle);
}

/* Waits up to ms for needle to appear in the shim's log. */
static inline bool iso_wait_log(const struct iso *t, const char *needle, int ms)
{
    for (int waited = 0;; waited += 20) {
        if (iso_log_contains(t, needle))
            return true;
        if (waited >= ms)
            return false;
        usleep(20000);
    }
}

/* How many lines of the shim's log contain both a and b. */
static inline int iso_log_lines(const struct iso *t, const char *a, const char *b)
{
    char *text = scripted_slurp(t->log_path), *line, *save = NULL;
    int n = 0;

    for (line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save))
        n += strstr(line, a) && strstr(line, b);
    free(text);
    return n;
}

/* Waits up to ms for a log line containing both a and b. */
static inline bool iso_wait_log_line(const struct iso *t, const char *a, const char *b, int ms)
{
    for (int waited = 0;; waited += 20) {
        if (iso_log_lines(t, a, b) > 0)
            return true;
        if (waited >= ms)
            return false;
        usleep(20000);
    }
}

static inline void iso_dump_file(const char *title, const char *path, size_t tail)
{
    char *text = scripted_slurp(path);
    const char *from = text;

    if (text && strlen(text) > tail)
        from = text + strlen(text) - tail;
    fprintf(stderr, "----- %s (%s)%s -----\n%s%s", title, path, from != text ? ", its end" : "",
            from ? from : "(unreadable)\n",
            from && *from && from[strlen(from) - 1] != '\n' ? "\n" : "");
    free(text);
}

/* The shim's log (its end) and trace (its end), once per test. */
static inline void iso_dump(struct iso *t)
{
    if (t->dumped || !t->dir[0])
        return;
    t->dumped = true;
    iso_dump_file("shim log", t->log_path, 16384);
    iso_dump_file("shim trace", t->trace_path, 4096);
    fprintf(stderr, "----- end -----\n");
}

/* fail_msg after dumping the logs. */
#define iso_fail(t, ...)                                                                           \
    do {                                                                                           \
        iso_dump(t);                                                                               \
        fail_msg(__VA_ARGS__);                                                                     \
    } while (0)

/* ---- the shim process ------------------------------------------------------ */

/* True while the shim runs (a zombie does not count: it is reaped here). */
static inline bool iso_shim_alive(struct iso *t)
{
    int status;

    if (t->shim <= 0)
        return false;
    if (waitpid(t->shim, &status, WNOHANG) == t->shim) {
        t->exit_status = status;
        t->shim = 0;
        return false;
    }
    return kill(t->shim, 0) == 0;
}

static inline void iso_describe_exit(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

/* The shim's open fds, -1 when it is gone. */
static inline int iso_fds(const struct iso *t)
{
    return t->shim > 0 ? fdcount_of(t->shim) : -1;
}

/* The shim's fd count becomes want within ISO_FDS_SETTLE_MS, else fail. */
static inline void iso_expect_fds(struct iso *t, int want, const char *why)
{
    int n = -1;

    for (int waited = 0; waited <= ISO_FDS_SETTLE_MS; waited += 20) {
        n = iso_fds(t);
        if (n == want)
            return;
        usleep(20000);
    }
    fprintf(stderr, "the shim has %d fds open, %d expected (%s):\n", n, want, why);
    scripted_print_fds(t->shim);
    iso_fail(t, "%s: the shim holds %d fds, %d expected", why, n, want);
}

/* "k=v,k=v" as INI lines "k = v". */
static inline void iso_ini_keys(FILE *f, const char *extra)
{
    for (const char *p = extra; p && *p;) {
        size_t n = strcspn(p, ",");
        fprintf(f, "%.*s\n", (int)n, p);
        p += n + (p[n] == ',');
    }
}

/* One device's keys, for --device (sep ","; with id=) or the file (sep
 * "\n"; the section's name is the id). */
static inline void iso_dev_keys(char *buf, size_t len, const struct iso_dev *d,
                                const struct iso_dev_opts *o, const char *sep)
{
    bool file = strcmp(sep, ",") != 0;

    snprintf(buf, len, "type=%s%s%s%s%sfrontend=%s%sbackend=%s%s%s", o->type ? o->type : "net", sep,
             file ? "" : "id=", file ? "" : d->name, file ? "" : sep, d->fe_path, sep, d->be_path,
             o->backend_listen ? sep : "", o->backend_listen ? "backend-mode=listen" : "");
}

static inline int iso_write_config(struct iso *t, const struct iso_opts *o)
{
    const struct iso_dev_opts *dopts[2] = { &o->victim, &o->attacker };
    const struct iso_dev *devs[2] = { &t->victim, &t->attacker };
    char keys[1024];
    FILE *f = fopen(t->config_path, "we");

    if (!f)
        return -errno;
    for (int i = 0; i < 2; i++) {
        iso_dev_keys(keys, sizeof(keys), devs[i], dopts[i], "\n");
        fprintf(f, "[device %s]\n%s\n", devs[i]->name, keys);
        iso_ini_keys(f, dopts[i]->extra);
    }
    return fclose(f) == 0 ? 0 : -errno;
}

static inline void iso_dev_init(struct iso *t, struct iso_dev *d, const char *name,
                                const struct iso_dev_opts *o)
{
    d->name = name;
    d->backend_listen = o->backend_listen;
    d->be_listen = d->fe = d->be = -1;
    snprintf(d->fe_path, sizeof(d->fe_path), "%s/%s-fe.sock", t->dir, name);
    snprintf(d->be_path, sizeof(d->be_path), "%s/%s-be.sock", t->dir, name);
}

/* The child: log to the log file, exec the shim with argv. */
static inline void iso_exec(const struct iso *t, const struct iso_opts *o, char *const argv[])
{
    int log = open(t->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (log >= 0)
        dup2(log, 2);
    if (o->pre_exec)
        o->pre_exec();
    scripted_exec_limited(argv[0], argv, o->nofile);
    _exit(127);
}

static inline int iso_spawn(struct iso *t, const struct iso_opts *o)
{
    char shim[256], dev[2][1536];
    const struct iso_dev_opts *dopts[2] = { &o->victim, &o->attacker };
    struct iso_dev *devs[2] = { &t->victim, &t->attacker };
    char *argv[16];
    int n = 0;

    snprintf(shim, sizeof(shim), "%s/vdpa-shim", scripted_build_dir());
    argv[n++] = shim;
    if (o->config_file) {
        int rc = iso_write_config(t, o);
        if (rc)
            return rc;
        argv[n++] = "--config";
        argv[n++] = t->config_path;
    } else {
        for (int i = 0; i < 2; i++) {
            iso_dev_keys(dev[i], sizeof(dev[i]), devs[i], dopts[i], ",");
            if (dopts[i]->extra && *dopts[i]->extra) {
                strncat(dev[i], ",", sizeof(dev[i]) - strlen(dev[i]) - 1);
                strncat(dev[i], dopts[i]->extra, sizeof(dev[i]) - strlen(dev[i]) - 1);
            }
            argv[n++] = "--device";
            argv[n++] = dev[i];
        }
    }
    argv[n++] = "--trace";
    argv[n++] = t->trace_path;
    if (o->trace_max) {
        argv[n++] = "--trace-max";
        argv[n++] = (char *)o->trace_max;
    }
    argv[n++] = "--log-level";
    argv[n++] = (char *)(o->log_level ? o->log_level : "info");
    argv[n] = NULL;
    t->shim = fork();
    if (t->shim < 0)
        return -errno;
    if (t->shim == 0)
        iso_exec(t, o, argv);
    return 0;
}

/* Waits for path to exist, while the shim runs. */
static inline int iso_wait_path(struct iso *t, const char *path)
{
    struct stat st;

    for (int waited = 0; waited <= ISO_START_MS; waited += 10) {
        if (stat(path, &st) == 0)
            return 0;
        if (!iso_shim_alive(t))
            return -ESRCH;
        usleep(10000);
    }
    return -ETIMEDOUT;
}

static inline int iso_start_rc(struct iso *t, const struct iso_opts *o)
{
    struct iso_dev *devs[2] = { &t->victim, &t->attacker };
    int rc;

    memset(t, 0, sizeof(*t));
    t->victim.fe = t->victim.be = t->victim.be_listen = -1;
    t->attacker.fe = t->attacker.be = t->attacker.be_listen = -1;
    snprintf(t->dir, sizeof(t->dir), "/tmp/vs-iso.XXXXXX");
    if (!mkdtemp(t->dir)) {
        t->dir[0] = '\0';
        return -errno;
    }
    iso_dev_init(t, &t->victim, "victim", &o->victim);
    iso_dev_init(t, &t->attacker, "attacker", &o->attacker);
    snprintf(t->trace_path, sizeof(t->trace_path), "%s", o->trace ? o->trace : "");
    if (!o->trace)
        snprintf(t->trace_path, sizeof(t->trace_path), "%s/trace.txt", t->dir);
    snprintf(t->log_path, sizeof(t->log_path), "%s/shim.log", t->dir);
    snprintf(t->config_path, sizeof(t->config_path), "%s/shim.conf", t->dir);
    for (int i = 0; i < 2; i++) {
        if (devs[i]->backend_listen)
            continue;
        devs[i]->be_listen = vu_listen_unix(devs[i]->be_path, 0600);
        if (devs[i]->be_listen < 0)
            return devs[i]->be_listen;
    }
    rc = iso_spawn(t, o);
    for (int i = 0; i < 2 && rc == 0; i++) {
        rc = iso_wait_path(t, devs[i]->fe_path);
        if (rc == 0 && devs[i]->backend_listen)
            rc = iso_wait_path(t, devs[i]->be_path);
    }
    return rc;
}

/* Makes the scratch dir (t->dir), starts the shim with the two devices and
 * waits for their sockets; fails the test if it cannot. */
static inline void iso_start(struct iso *t, const struct iso_opts *o)
{
    int rc = iso_start_rc(t, o);

    if (rc)
        iso_fail(t, "starting the shim (%s/vdpa-shim): %s", scripted_build_dir(), strerror(-rc));
}

/* ---- peers ----------------------------------------------------------------- */

/* Accepts the shim's connection to d's scripted back-end within ms; the fd
 * or -errno. */
static inline int iso_accept_backend(struct iso_dev *d, int ms)
{
    struct pollfd p = { .fd = d->be_listen, .events = POLLIN };
    int fd;

    if (d->be_listen < 0)
        return -EINVAL;
    if (poll(&p, 1, ms) != 1)
        return -ETIMEDOUT;
    fd = vu_accept(d->be_listen);
    if (fd < 0)
        return fd;
    /* vu_recv never blocks (MSG_DONTWAIT); sends may wait in poll */
    vu_set_nonblocking(fd, false);
    return fd;
}

/* Connects d's scripted front-end and (back-end mode connect) accepts the
 * shim's back-end connection (closing the previous ones first); 0 or
 * -errno. With backend-mode=listen the back-end is the test's to connect
 * (iso_connect_backend) and d->be is not touched. */
static inline int iso_connect_rc(struct iso_dev *d)
{
    fd_close(&d->fe);
    d->fe = vu_connect_unix(d->fe_path);
    if (d->fe < 0)
        return d->fe;
    if (d->backend_listen)
        return 0; /* d->be is the test's own connection: left alone */
    fd_close(&d->be);
    d->be = iso_accept_backend(d, ISO_TIMEOUT_MS);
    return d->be < 0 ? d->be : 0;
}

static inline void iso_connect(struct iso *t, struct iso_dev *d)
{
    int rc = iso_connect_rc(d);

    if (rc)
        iso_fail(t, "%s: connecting the front-end to %s and accepting the back-end: %s", d->name,
                 d->fe_path, strerror(-rc));
}

/* backend-mode=listen: a back-end connection to the shim's socket; fd or -errno. */
static inline int iso_connect_backend(struct iso_dev *d)
{
    return vu_connect_unix(d->be_path);
}

/* Sends a request (u64 payload when with_u64) carrying a dup of passfd
 * (when >= 0); 0 or -errno. */
static inline int iso_send_rc(int fd, uint32_t req, uint32_t flags, bool with_u64, uint64_t v,
                              int passfd)
{
    struct vu_msg m;

    vu_msg_init(&m, req, flags);
    if (with_u64)
        vu_msg_set_u64(&m, v);
    if (passfd >= 0) {
        int rc = scripted_add_dup(&m, passfd);
        if (rc < 0)
            return rc;
    }
    return vu_send_blocking(fd, &m);
}

static inline void iso_send_u64(struct iso *t, int fd, uint32_t req, uint32_t flags, uint64_t v,
                                int passfd)
{
    int rc = iso_send_rc(fd, req, flags, true, v, passfd);

    if (rc)
        iso_fail(t, "sending %s: %s", vu_request_name(VU_CHAN_FRONTEND, req), strerror(-rc));
}

static inline void iso_send_empty(struct iso *t, int fd, uint32_t req, uint32_t flags)
{
    int rc = iso_send_rc(fd, req, flags, false, 0, -1);

    if (rc)
        iso_fail(t, "sending %s: %s", vu_request_name(VU_CHAN_FRONTEND, req), strerror(-rc));
}

static inline void iso_send_msg(struct iso *t, int fd, struct vu_msg *m)
{
    uint32_t req = m->hdr.request;
    int rc = vu_send_blocking(fd, m);

    if (rc)
        iso_fail(t, "sending %s: %s", vu_request_name(VU_CHAN_FRONTEND, req), strerror(-rc));
}

/* Receives one message within ISO_TIMEOUT_MS and checks its request (and
 * flags, unless flags is ~0u). The caller owns m's fds. */
static inline void iso_expect(struct iso *t, int fd, const char *who, uint32_t req, uint32_t flags,
                              struct vu_msg *m)
{
    int rc = vu_recv_blocking(fd, m, ISO_TIMEOUT_MS);

    if (rc)
        iso_fail(t, "%s: waiting for %s: %s", who, vu_request_name(VU_CHAN_FRONTEND, req),
                 rc == -ECONNRESET ? "disconnected" : strerror(-rc));
    if (m->hdr.request != req || (flags != ~0u && m->hdr.flags != flags)) {
        vu_msg_close_fds(m);
        iso_fail(t, "%s: expected %s flags=0x%" PRIx32 ", got %s (%" PRIu32 ") flags=0x%" PRIx32,
                 who, vu_request_name(VU_CHAN_FRONTEND, req), flags,
                 vu_request_name(VU_CHAN_FRONTEND, m->hdr.request), m->hdr.request, m->hdr.flags);
    }
}

/* A REPLY_ACK on fd for req: returns its u64 (0 success, else an errno). */
static inline uint64_t iso_expect_ack(struct iso *t, int fd, const char *who, uint32_t req)
{
    struct vu_msg m;

    iso_expect(t, fd, who, req, ISO_REPLY, &m);
    vu_msg_close_fds(&m);
    if (m.hdr.size != 8)
        iso_fail(t, "%s: the ack of %s has %" PRIu32 " payload bytes", who,
                 vu_request_name(VU_CHAN_FRONTEND, req), m.hdr.size);
    return m.payload.u64;
}

/* The peer closes fd within ms (messages before the EOF are read and
 * dropped when drain, else they fail the test). */
static inline void iso_expect_eof(struct iso *t, int fd, const char *who, int ms, bool drain)
{
    uint64_t deadline = iso_now_us() + (uint64_t)ms * 1000u;
    struct vu_msg m;
    int rc;

    for (;;) {
        int64_t left = (int64_t)(deadline - iso_now_us()) / 1000;
        rc = vu_recv_blocking(fd, &m, left > 0 ? (int)left : 0);
        if (rc != 0)
            break;
        vu_msg_close_fds(&m);
        if (!drain)
            iso_fail(t, "%s: expected a disconnect, got %s (%" PRIu32 ")", who,
                     vu_request_name(VU_CHAN_FRONTEND, m.hdr.request), m.hdr.request);
    }
    if (rc != -ECONNRESET)
        iso_fail(t, "%s: expected a disconnect within %d ms: %s", who, ms, strerror(-rc));
}

/* Nothing (no message, no EOF) arrives on fd for ms. */
static inline void iso_expect_quiet(struct iso *t, int fd, const char *who, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    struct vu_msg m;
    int rc;

    if (poll(&p, 1, ms) == 0)
        return;
    rc = vu_recv_blocking(fd, &m, 0);
    if (rc == 0) {
        vu_msg_close_fds(&m);
        iso_fail(t, "%s: expected nothing, got %s (%" PRIu32 ")", who,
                 vu_request_name(VU_CHAN_FRONTEND, m.hdr.request), m.hdr.request);
    }
    iso_fail(t, "%s: expected nothing, got %s", who,
             rc == -ECONNRESET ? "a disconnect" : strerror(-rc));
}

/* d's front-end asks req (no payload); its back-end must see it and
 * answers value; returns what the front-end gets. */
static inline uint64_t iso_roundtrip_u64(struct iso *t, struct iso_dev *d, uint32_t req,
                                         uint64_t value)
{
    struct vu_msg m;

    iso_send_empty(t, d->fe, req, 0);
    iso_expect(t, d->be, "back-end", req, ISO_REQ, &m);
    vu_msg_close_fds(&m);
    iso_send_u64(t, d->be, req, VU_FLAG_REPLY, value, -1);
    iso_expect(t, d->fe, "front-end", req, ISO_REPLY, &m);
    vu_msg_close_fds(&m);
    return m.payload.u64;
}

/* Pass-through negotiation: GET_FEATURES, GET_PROTOCOL_FEATURES (the
 * back-end offers pf_offer) and SET_PROTOCOL_FEATURES acking pf_ack (without
 * F_VDPA: vhost-user on both sides). */
static inline void iso_negotiate(struct iso *t, struct iso_dev *d, uint64_t pf_offer,
                                 uint64_t pf_ack)
{
    struct vu_msg m;

    if (iso_roundtrip_u64(t, d, VU_REQ_GET_FEATURES, ISO_FEATURES) != ISO_FEATURES)
        iso_fail(t, "%s: GET_FEATURES changed on its way", d->name);
    iso_roundtrip_u64(t, d, VU_REQ_GET_PROTOCOL_FEATURES, pf_offer);
    iso_send_u64(t, d->fe, VU_REQ_SET_PROTOCOL_FEATURES, 0, pf_ack, -1);
    iso_expect(t, d->be, "back-end", VU_REQ_SET_PROTOCOL_FEATURES, ISO_REQ, &m);
    vu_msg_close_fds(&m);
    if (m.payload.u64 != pf_ack)
        iso_fail(t, "%s: SET_PROTOCOL_FEATURES changed on its way", d->name);
}

/* ---- the victim prober ----------------------------------------------------- */

static inline void iso_probe_fail(struct iso_prober *p, int err, const char *what)
{
    if (!p->err) {
        p->err = err;
        snprintf(p->what, sizeof(p->what), "%s", what);
    }
}

static inline void iso_probe_note(struct iso_prober *p, uint64_t us)
{
    uint64_t max = atomic_load(&p->max_us);

    while (us > max && !atomic_compare_exchange_weak(&p->max_us, &max, us))
        ;
}

/* Waits for one message on fd, in slices so that a stop is seen; after a
 * stop the exchange in flight gets ISO_STOP_GRACE_MS more. 0, or -errno
 * (-ETIMEDOUT after ISO_PROBE_GIVEUP_MS or the grace). */
static inline int iso_probe_recv(struct iso_prober *p, int fd, struct vu_msg *m, uint64_t t0)
{
    uint64_t stop_at = 0;
    int rc;

    vu_rx_init(&p->rx);
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        uint64_t now;

        rc = vu_recv(fd, &p->rx, m);
        if (rc != 0)
            break;
        if (poll(&pfd, 1, ISO_PROBE_SLICE_MS) < 0 && errno != EINTR) {
            rc = -errno;
            break;
        }
        now = iso_now_us();
        if (!stop_at && atomic_load(&p->stop))
            stop_at = now + ISO_STOP_GRACE_MS * 1000u;
        if ((stop_at && now > stop_at) || now - t0 > ISO_PROBE_GIVEUP_MS * 1000u) {
            rc = -ETIMEDOUT;
            break;
        }
    }
    vu_rx_clear(&p->rx);
    return rc < 0 ? rc : 0;
}

/* One exchange: front-end GET_FEATURES, back-end reply, front-end reply.
 * Its time goes into max_us even when it fails (a wedge counts). */
static inline int iso_probe_once(struct iso *t)
{
    struct iso_prober *p = &t->prober;
    uint64_t t0 = iso_now_us();
    const char *what = "victim front-end: sending GET_FEATURES";
    struct vu_msg m;
    int rc = iso_send_rc(t->victim.fe, VU_REQ_GET_FEATURES, 0, false, 0, -1);

    vu_msg_init(&m, 0, 0);
    if (rc == 0) {
        what = "victim back-end: waiting for GET_FEATURES";
        rc = iso_probe_recv(p, t->victim.be, &m, t0);
        if (rc == 0 && m.hdr.request != VU_REQ_GET_FEATURES)
            rc = -EPROTO;
        vu_msg_close_fds(&m);
    }
    if (rc == 0) {
        what = "victim back-end: replying";
        rc = iso_send_rc(t->victim.be, VU_REQ_GET_FEATURES, VU_FLAG_REPLY, true, ISO_FEATURES, -1);
    }
    if (rc == 0) {
        what = "victim front-end: waiting for the GET_FEATURES reply";
        rc = iso_probe_recv(p, t->victim.fe, &m, t0);
        if (rc == 0 && (m.hdr.request != VU_REQ_GET_FEATURES || m.payload.u64 != ISO_FEATURES))
            rc = -EPROTO;
        vu_msg_close_fds(&m);
    }
    iso_probe_note(p, iso_now_us() - t0);
    if (rc) {
        iso_probe_fail(p, rc, what);
        return rc;
    }
    atomic_fetch_add(&p->count, 1);
    return 0;
}

static inline void *iso_probe_main(void *arg)
{
    struct iso *t = arg;

    while (!atomic_load(&t->prober.stop)) {
        if (iso_probe_once(t))
            break;
        usleep(ISO_PROBE_PAUSE_US);
    }
    return NULL;
}

/* Connects and negotiates the victim (pass-through, REPLY_ACK), records the
 * shim's fd count in t->fds_base, and starts the prober thread. */
static inline void iso_victim_start(struct iso *t)
{
    struct iso_prober *p = &t->prober;

    iso_connect(t, &t->victim);
    iso_negotiate(t, &t->victim, VU_BIT(VU_PF_REPLY_ACK), VU_BIT(VU_PF_REPLY_ACK));
    t->fds_base = iso_fds(t);
    p->err = 0;
    p->what[0] = '\0';
    atomic_store(&p->stop, false);
    atomic_store(&p->count, 0);
    atomic_store(&p->max_us, 0);
    if (pthread_create(&p->thread, NULL, iso_probe_main, t) != 0)
        iso_fail(t, "starting the victim prober thread");
    p->running = true;
}

/* Stops the prober; its figures in *max_us and *count. Returns its error
 * (0 when every exchange succeeded), what in *what (may be NULL). */
static inline int iso_victim_stop(struct iso *t, uint64_t *max_us, uint64_t *count,
                                  const char **what)
{
    struct iso_prober *p = &t->prober;

    if (p->running) {
        atomic_store(&p->stop, true);
        pthread_join(p->thread, NULL);
        p->running = false;
    }
    *max_us = atomic_load(&p->max_us);
    *count = atomic_load(&p->count);
    if (what)
        *what = p->what;
    return p->err;
}

/* Stops the prober, prints "isolation: LABEL: victim worst X ms over N
 * exchanges" and fails unless every exchange succeeded, there was at least
 * one and the worst took less than ISO_VICTIM_MAX_US. Returns the worst (us). */
static inline uint64_t iso_victim_check(struct iso *t, const char *label)
{
    uint64_t max_us, count;
    const char *what;
    int err;

    /* At least a few exchanges after the attack, however loaded the machine:
     * a quick test must not end before the prober had its turn. */
    for (int waited = 0; waited < ISO_TIMEOUT_MS && t->prober.running && !t->prober.err &&
                         atomic_load(&t->prober.count) < ISO_VICTIM_MIN_EXCHANGES;
         waited += 5)
        usleep(5000);
    err = iso_victim_stop(t, &max_us, &count, &what);

    printf("isolation: %s: victim worst %.1f ms over %" PRIu64 " exchanges%s%s\n", label,
           (double)max_us / 1000.0, count, err ? "; then " : "", err ? what : "");
    fflush(stdout);
    if (err)
        iso_fail(t, "%s: the victim was not served: %s: %s (worst %.1f ms, %" PRIu64 " exchanges)",
                 label, what, strerror(-err), (double)max_us / 1000.0, count);
    if (count == 0)
        iso_fail(t, "%s: no victim exchange completed", label);
    if (max_us >= ISO_VICTIM_MAX_US)
        iso_fail(t, "%s: the victim waited %.1f ms for one exchange (bound %d ms)", label,
                 (double)max_us / 1000.0, ISO_VICTIM_MAX_US / 1000);
    return max_us;
}

/* The shim runs and the victim answers: the prober completes one more
 * exchange within ISO_ALIVE_MS (or, when stopped, one exchange succeeds). */
static inline void iso_expect_alive(struct iso *t)
{
    char how[96];

    if (!iso_shim_alive(t)) {
        iso_describe_exit(t->exit_status, how, sizeof(how));
        iso_fail(t, "the shim is gone: %s", how);
    }
    if (t->prober.running) {
        uint64_t before = atomic_load(&t->prober.count);
        for (int waited = 0; waited <= ISO_ALIVE_MS; waited += 10) {
            if (atomic_load(&t->prober.count) > before)
                return;
            usleep(10000);
        }
        iso_fail(t, "the victim got no answer within %d ms", ISO_ALIVE_MS);
    }
    if (t->victim.fe >= 0 && iso_probe_once(t) != 0)
        iso_fail(t, "the victim got no answer: %s", t->prober.what);
}

/* ---- the end ---------------------------------------------------------------- */

static inline void iso_rm_dir(struct iso *t)
{
    char cmd[128];

    if (!t->dir[0])
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
    if (system(cmd) < 0)
        perror("system");
    t->dir[0] = '\0';
}

/* SIGTERM, then SIGKILL after ISO_EXIT_MS; the wait status, or -1. */
static inline int iso_reap(struct iso *t)
{
    int status = -1;

    if (t->shim <= 0)
        return t->exit_status;
    kill(t->shim, SIGTERM);
    for (int waited = 0; waited <= ISO_EXIT_MS; waited += 10) {
        if (waitpid(t->shim, &status, WNOHANG) == t->shim) {
            t->shim = 0;
            return status;
        }
        usleep(10000);
    }
    fprintf(stderr, "the shim did not exit within %d ms of SIGTERM: killed\n", ISO_EXIT_MS);
    kill(t->shim, SIGKILL);
    if (waitpid(t->shim, &status, 0) < 0)
        status = -1;
    t->shim = 0;
    return status;
}

/* Stops the prober and the shim, closes every peer, removes the scratch dir.
 * A sanitizer report in the log dumps it and returns 99. Returns the shim's
 * exit status (0 after a clean SIGTERM), or -1 (killed). Safe to call twice. */
static inline int iso_stop(struct iso *t)
{
    struct iso_dev *devs[2] = { &t->victim, &t->attacker };
    uint64_t max_us, count;
    int status, rc;

    iso_victim_stop(t, &max_us, &count, NULL);
    for (int i = 0; i < 2; i++) {
        fd_close(&devs[i]->fe);
        fd_close(&devs[i]->be);
        fd_close(&devs[i]->be_listen);
    }
    status = iso_reap(t);
    rc = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (t->dir[0]) {
        char *log = scripted_slurp(t->log_path);
        if (log && (strstr(log, "ERROR: AddressSanitizer") || strstr(log, "ERROR: LeakSanitizer") ||
                    strstr(log, "runtime error:"))) {
            iso_dump(t);
            rc = 99;
        }
        free(log);
    }
    iso_rm_dir(t);
    return rc;
}

/* Prints a measured figure the docs quote, e.g. ("item 5", "front-end
 * disconnected after", 612.0, "ms"). */
static inline void iso_report(const char *label, const char *what, double value, const char *unit)
{
    printf("isolation: %s: %s %.1f %s\n", label, what, value, unit);
    fflush(stdout);
}

#endif
