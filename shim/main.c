/* SPDX-License-Identifier: MIT */
/*
 * vdpa-shim: read the options (command line and --config FILE), start one
 * relay per device, run the loop.
 *
 * Signals: SIGHUP reloads the config file (devices whose keys did not change
 * keep running with their sessions; removed ones stop, new ones start,
 * changed ones restart; a bad file is reported with its line and changes
 * nothing) and reopens the trace file. SIGTERM and SIGINT end every session,
 * remove the sockets the shim created and exit 0.
 *
 * Exit status: 0 clean shutdown, 1 runtime failure (a socket or the trace
 * cannot be opened at start), 2 bad usage (options or config file).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "cli.h"
#include "config_file.h"
#include "fd_budget.h"
#include "fd_util.h"
#include "log.h"
#include "relay.h"
#include "sd_listen.h"
#include "trace.h"

enum {
    EXIT_RUNTIME = 1,
    EXIT_USAGE = 2
};

struct device {
    struct vs_device_config cfg; /* as parsed (compared on reload) */
    struct vs_relay *relay;
    struct vs_listen_fd *fe_lfd, *be_lfd; /* passed-in sockets it uses */
};

struct shim {
    uv_loop_t *loop;
    int argc;
    char **argv;
    struct vs_options opts;
    struct vs_trace *trace;
    struct device *devs;
    size_t ndevs;
    struct vs_listen_fds lfds;
    uv_signal_t sigint, sigterm, sighup;
    bool stopping;
};

/* The command line, then the config file it names. */
static int load_options(int argc, char **argv, struct vs_options *o, char *err, size_t len)
{
    int rc = vs_cli_parse(argc, argv, o, err, len);

    if (rc == 0 && o->config_path && !o->help && !o->version) {
        rc = vs_config_load(o, err, len);
        if (rc)
            vs_options_free(o);
        else
            vs_options_apply_defaults(o); /* [global] reply-timeout for the file's devices */
    }
    return rc;
}

static const char *format_name(enum vs_trace_format f)
{
    return f == VS_TRACE_JSON ? "json" : "text";
}

/* Reopens the trace file (logrotate moved it); -errno after logging. */
static int reopen_trace(struct shim *s)
{
    int rc = vs_trace_reopen(s->trace);

    if (rc)
        vs_err("cannot reopen the trace file: %s; tracing stops until the next SIGHUP "
               "(check the directory exists and is writable)",
               strerror(-rc));
    return rc;
}

/* Points the trace where the options say; -errno after logging. */
static int apply_trace(struct shim *s, const struct vs_options *o)
{
    int rc;

    if (vs_trace_same(s->trace, o->trace_path, o->trace_format, o->trace_max))
        return reopen_trace(s);
    rc = vs_trace_configure(s->trace, o->trace_path, o->trace_format, o->trace_max);
    if (rc) {
        vs_err("cannot open the trace file %s: %s; check the directory exists and is writable",
               o->trace_path, strerror(-rc));
        return rc;
    }
    if (o->trace_path && o->trace_max && strcmp(o->trace_path, "-") != 0) {
        /* the limit as it would be written: 64M, 512K, 4096 */
        char size[32];
        static const char units[] = "GMK";
        unsigned shift = 30;
        snprintf(size, sizeof(size), "%" PRIu64 " bytes", o->trace_max);
        for (const char *u = units; *u; u++, shift -= 10)
            if (o->trace_max % (UINT64_C(1) << shift) == 0) {
                snprintf(size, sizeof(size), "%" PRIu64 "%c", o->trace_max >> shift, *u);
                break;
            }
        vs_info("trace: %s (%s); past %s it moves to %s.1 (--trace-max)", o->trace_path,
                format_name(o->trace_format), size, o->trace_path);
    } else if (o->trace_path)
        vs_info("trace: %s (%s, no size limit)", o->trace_path, format_name(o->trace_format));
    return 0;
}

/* The passed-in listening socket for one side of a device, duplicated for
 * its relay (the pool keeps the original for restarts). */
static int take_listen_fd(struct shim *s, const struct vs_device_config *cfg, bool frontend,
                          struct vs_listen_fd **used, bool *given, int *fd)
{
    const char *path = frontend ? cfg->frontend : cfg->backend;
    struct vs_listen_fd *e = vs_listen_fds_find(&s->lfds, path, frontend ? cfg->id : NULL);

    *used = NULL;
    if (!e || e->users)
        return 0;
    int copy = fd_dup_cloexec(e->fd);
    if (copy < 0) {
        vs_err("%s: cannot use the socket passed in for %s: %s", cfg->id, path, strerror(-copy));
        return copy;
    }
    *fd = copy;
    if (strcmp(e->path, path) != 0)
        vs_warn("%s: the socket passed in as '%s' is at %s, not at %s=%s; the VMM must use %s "
                "(make the socket unit's ListenStream= and the device's key the same path)",
                cfg->id, e->name, e->path, frontend ? "frontend" : "backend", path, e->path);
    e->users++;
    *used = e;
    *given = true;
    return 0;
}

static void release(struct device *d)
{
    if (d->fe_lfd)
        d->fe_lfd->users--;
    if (d->be_lfd)
        d->be_lfd->users--;
    d->fe_lfd = d->be_lfd = NULL;
}

/* Starts one device into d; on failure nothing is left running. */
static int start_device(struct shim *s, const struct vs_device_config *cfg, struct device *d)
{
    struct vs_device_config c = *cfg;
    int rc = 0;

    memset(d, 0, sizeof(*d));
    d->cfg = *cfg;
    if (c.frontend_mode == VS_MODE_LISTEN)
        rc = take_listen_fd(s, cfg, true, &d->fe_lfd, &c.frontend_fd_given, &c.frontend_fd);
    if (rc == 0 && c.backend_mode == VS_MODE_LISTEN)
        rc = take_listen_fd(s, cfg, false, &d->be_lfd, &c.backend_fd_given, &c.backend_fd);
    if (rc == 0) {
        d->relay = vs_relay_new(s->loop, &c, s->trace);
        if (!d->relay) {
            vs_err("%s: out of memory", cfg->id);
            rc = -ENOMEM;
        }
    }
    if (rc) {
        if (c.frontend_fd_given)
            close(c.frontend_fd);
        if (c.backend_fd_given)
            close(c.backend_fd);
        release(d);
        return rc;
    }
    rc = vs_relay_start(d->relay);
    if (rc) {
        vs_relay_destroy(d->relay);
        d->relay = NULL;
        release(d);
    }
    return rc;
}

static void stop_device(struct device *d)
{
    vs_relay_destroy(d->relay);
    d->relay = NULL;
    release(d);
}

static void stop_all(struct shim *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    vs_sd_notify("STOPPING=1");
    for (size_t i = 0; i < s->ndevs; i++)
        stop_device(&s->devs[i]);
    s->ndevs = 0;
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sighup, NULL);
}

static const struct vs_device_config *find_config(const struct vs_options *o, const char *id)
{
    for (size_t i = 0; i < o->ndevices; i++)
        if (strcmp(o->devices[i].id, id) == 0)
            return &o->devices[i];
    return NULL;
}

/* A device with a live session holds its sockets, the back-end channel and
 * the memory and ring fds kept for a back-end restart; many devices (or
 * rings) soon pass the usual soft limit of 1024, so the shim takes the hard
 * limit, as systemd's LimitNOFILE= intends. fd_budget.c gives each session
 * its share of the limit and refuses requests past it; below the limit that
 * leaves every session its floor (vs_fd_budget_wanted) the limit is low. */
static void raise_fd_limit(size_t ndevices)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        vs_warn("cannot read the open-file limit (%s); sessions' fds are not bounded by it",
                strerror(errno));
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) < 0)
            return;
    }
    vs_fd_budget_configure(rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur,
                           ndevices);
    if (rl.rlim_cur != RLIM_INFINITY)
        vs_debug("open-file limit %llu: each session may hold up to %u fds",
                 (unsigned long long)rl.rlim_cur, vs_fd_budget_session_cap());
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < vs_fd_budget_wanted(ndevices))
        vs_warn("the open-file limit (%llu) is low for %zu devices: each session's share would "
                "be under %u fds (%llu wanted); raise it (ulimit -n, or LimitNOFILE= in the unit)",
                (unsigned long long)rl.rlim_cur, ndevices, VS_FD_SESSION_FLOOR,
                (unsigned long long)vs_fd_budget_wanted(ndevices));
}

static void reload(struct shim *s)
{
    struct vs_options n;
    char err[1024];
    size_t kept = 0, changed = 0, removed = 0, added = 0, failed = 0;

    vs_sd_notify("RELOADING=1");
    if (!s->opts.config_path) {
        if (reopen_trace(s) == 0)
            vs_info("SIGHUP: no --config to reload; the trace file was reopened");
        vs_sd_notify("READY=1");
        return;
    }
    if (load_options(s->argc, s->argv, &n, err, sizeof(err))) {
        vs_err("reload: %s; nothing changed: the %zu running device(s) keep running. Fix the file "
               "and send SIGHUP again",
               err, s->ndevs);
        reopen_trace(s);
        vs_sd_notify("READY=1");
        return;
    }
    vs_log_set_level(n.log_level);
    raise_fd_limit(n.ndevices);
    apply_trace(s, &n);

    struct device *devs = calloc(n.ndevices ? n.ndevices : 1, sizeof(*devs));
    if (!devs) {
        vs_err("reload: out of memory; nothing changed");
        vs_options_free(&n);
        vs_sd_notify("READY=1");
        return;
    }
    /* Stop what was removed or changed first: a changed device, or a new
     * one, may take over the same socket paths. */
    size_t nd = 0;
    for (size_t i = 0; i < s->ndevs; i++) {
        struct device *d = &s->devs[i];
        const struct vs_device_config *c = find_config(&n, d->cfg.id);
        if (c && vs_device_config_equal(c, &d->cfg)) {
            devs[nd++] = *d;
            kept++;
            continue;
        }
        if (c) {
            vs_info("reload: %s changed; restarting it (its session, if any, ends)", d->cfg.id);
            changed++;
        } else {
            vs_info("reload: %s removed; stopping it", d->cfg.id);
            removed++;
        }
        stop_device(d);
    }
    for (size_t j = 0; j < n.ndevices; j++) {
        bool running = false;
        for (size_t i = 0; i < nd && !running; i++)
            running = strcmp(devs[i].cfg.id, n.devices[j].id) == 0;
        if (running)
            continue;
        if (start_device(s, &n.devices[j], &devs[nd]) == 0) {
            nd++;
            added++;
        } else {
            vs_err("reload: %s did not start (see above); fix it in %s and send SIGHUP again",
                   n.devices[j].id, n.config_path);
            failed++;
        }
    }
    free(s->devs);
    s->devs = devs;
    s->ndevs = nd;
    vs_options_free(&s->opts);
    s->opts = n;
    added -= changed < added ? changed : added;
    vs_info("reload: %s: %zu unchanged, %zu restarted, %zu added, %zu removed%s", n.config_path,
            kept, changed, added, removed, failed ? ", some failed to start" : "");
    vs_sd_notify("READY=1");
}

static void on_signal(uv_signal_t *h, int signum);

/* Every configured device; 0 or EXIT_RUNTIME (the first that did not start). */
static int start_devices(struct shim *s)
{
    s->devs = calloc(s->opts.ndevices ? s->opts.ndevices : 1, sizeof(*s->devs));
    if (!s->devs)
        return EXIT_RUNTIME;
    for (size_t i = 0; i < s->opts.ndevices; i++) {
        if (start_device(s, &s->opts.devices[i], &s->devs[s->ndevs])) {
            vs_err("%s did not start; exiting (status 1)", s->opts.devices[i].id);
            return EXIT_RUNTIME;
        }
        s->ndevs++;
    }
    return 0;
}

/* SIGINT, SIGTERM, SIGHUP on the loop. 0, or -errno after logging. */
static int start_signals(struct shim *s)
{
    uv_signal_t *h[] = { &s->sigint, &s->sigterm, &s->sighup };
    const int signum[] = { SIGINT, SIGTERM, SIGHUP };
    int rc;

    for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
        h[i]->data = s;
        rc = uv_signal_init(s->loop, h[i]);
        if (rc == 0)
            rc = uv_signal_start(h[i], on_signal, signum[i]);
        if (rc < 0) {
            vs_err("cannot handle %s: %s", strsignal(signum[i]), uv_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct shim *s = h->data;

    if (signum == SIGHUP) {
        if (!s->stopping)
            reload(s);
        return;
    }
    vs_info("%s: shutting down: ending %zu device(s), removing the sockets the shim created",
            strsignal(signum), s->ndevs);
    stop_all(s);
}

int main(int argc, char **argv)
{
    struct shim s = { .loop = uv_default_loop(), .argc = argc, .argv = argv };
    char err[1024];
    int status = 0, rc;

    if (load_options(argc, argv, &s.opts, err, sizeof(err))) {
        fprintf(stderr, "vdpa-shim: %s\n", err);
        return EXIT_USAGE;
    }
    if (s.opts.help) {
        vs_cli_usage(stdout);
        vs_options_free(&s.opts);
        return 0;
    }
    if (s.opts.version) {
        printf("vdpa-shim %s (vdpa-user protocol v1)\n", VDPA_SHIM_VERSION);
        vs_options_free(&s.opts);
        return 0;
    }
    if (!s.loop) {
        fprintf(stderr, "vdpa-shim: cannot create the event loop\n");
        vs_options_free(&s.opts);
        return EXIT_RUNTIME;
    }
    vs_log_detect_journal();
    vs_log_set_level(s.opts.log_level);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(s.opts.ndevices);
    if (vs_listen_fds_from_env(&s.lfds, err, sizeof(err))) {
        vs_err("socket activation: %s", err);
        vs_options_free(&s.opts);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < s.lfds.n; i++)
        if (!s.lfds.fds[i].usable)
            vs_warn("socket activation: fd %d%s%s is not a listening unix stream socket; ignored "
                    "(use ListenStream=/path in the socket unit)",
                    s.lfds.fds[i].fd, s.lfds.fds[i].name[0] ? " named " : "", s.lfds.fds[i].name);
    s.trace = vs_trace_new();
    if (!s.trace || apply_trace(&s, &s.opts) || start_signals(&s)) {
        vs_trace_close(s.trace);
        vs_listen_fds_free(&s.lfds);
        vs_options_free(&s.opts);
        return EXIT_RUNTIME;
    }

    status = start_devices(&s);
    if (status == 0 && s.opts.ndevices == 0)
        vs_warn("no devices in %s; add a [device NAME] section and send SIGHUP",
                s.opts.config_path ? s.opts.config_path : "the options");
    for (size_t i = 0; status == 0 && i < s.lfds.n; i++)
        if (s.lfds.fds[i].usable && !s.lfds.fds[i].users)
            vs_warn("socket activation: no device has frontend=%s (fd %d%s%s); it stays unused "
                    "until a reload adds one",
                    s.lfds.fds[i].path, s.lfds.fds[i].fd, s.lfds.fds[i].name[0] ? ", named " : "",
                    s.lfds.fds[i].name);
    if (status)
        stop_all(&s);
    else
        vs_sd_notify("READY=1");

    rc = uv_run(s.loop, UV_RUN_DEFAULT);
    if (rc != 0)
        vs_debug("the loop ended with %d active handle(s)", rc);
    rc = uv_loop_close(s.loop);
    if (rc < 0)
        vs_debug("closing the loop: %s", uv_strerror(rc));
    free(s.devs);
    vs_trace_close(s.trace);
    vs_listen_fds_free(&s.lfds);
    vs_options_free(&s.opts);
    return status;
}
