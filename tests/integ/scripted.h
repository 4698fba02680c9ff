/* SPDX-License-Identifier: MIT */
/*
 * Scripted peers for tests that drive the real vdpa-shim binary: a back-end
 * socket the test listens on, a front-end connection, and send/expect
 * helpers with time-outs (a hang fails the test instead of blocking it).
 * Header-only so that each test binary stays one file.
 */
#ifndef VDPA_SHIM_TESTS_SCRIPTED_H
#define VDPA_SHIM_TESTS_SCRIPTED_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/socket.h>

#include "fd_util.h"
#include "fdcount.h"
#include "msg_table.h"
#include "transport.h"

#define SCRIPT_TIMEOUT_MS 3000
#define SCRIPT_STOP_MS    5000 /* SIGTERM to exit, slower under ASan */

struct scripted {
    char dir[64];
    char fe_path[128], be_path[128], trace_path[128], log_path[128];
    pid_t shim;
    int be_listen; /* the scripted back-end's listening socket */
    int be;        /* the shim's connection to the back-end */
    int fe;        /* the scripted front-end's connection */
};

/* Adds a close-on-exec duplicate of fd to m (which then owns it): 0, or
 * -errno with nothing added. */
static inline int scripted_add_dup(struct vu_msg *m, int fd)
{
    int copy = fd_dup_cloexec(fd);
    int rc;

    if (copy < 0)
        return fd < 0 ? -EBADF : copy;
    rc = vu_msg_add_fd(m, copy);
    if (rc < 0)
        fd_close(&copy);
    return rc;
}

static inline const char *scripted_build_dir(void)
{
    const char *b = getenv("BUILD");
    return b && *b ? b : "build";
}

static inline void scripted_dump(const struct scripted *s)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "echo '--- shim log:'; cat %s; echo '--- trace:'; tail -n 40 %s",
             s->log_path, s->trace_path);
    if (system(cmd) < 0)
        perror("system");
}

/* Reads a whole (small) file into a NUL-terminated malloc'd buffer, or NULL. */
static inline char *scripted_slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f)
        return NULL;
    do {
        if (cap - len < 4096) {
            char *nb = realloc(buf, cap + 65536);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap += 65536;
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static inline bool scripted_file_contains(const char *path, const char *needle)
{
    char *text = scripted_slurp(path);
    bool found = text && strstr(text, needle);

    free(text);
    return found;
}

/* In a forked child: execs path with argv, with the open-file limit (soft
 * and hard) at nofile when nofile > 0. The limit is set by util-linux's
 * prlimit(1) exec'd in between: under valgrind the test's own child cannot
 * lower RLIMIT_NOFILE (valgrind keeps fds of its own at the top), but what
 * it execs runs natively. Returns only on failure. */
static inline void scripted_exec_limited(const char *path, char *const argv[], rlim_t nofile)
{
    char limit[64];
    char *args[64];
    size_t n = 0;

    if (nofile == 0) {
        execv(path, argv);
        return;
    }
    snprintf(limit, sizeof(limit), "--nofile=%llu:%llu", (unsigned long long)nofile,
             (unsigned long long)nofile);
    args[n++] = (char *)"prlimit";
    args[n++] = limit;
    args[n++] = (char *)"--";
    args[n++] = (char *)path;
    for (size_t i = 1; argv[i] && n + 1 < sizeof(args) / sizeof(args[0]); i++)
        args[n++] = argv[i];
    args[n] = NULL;
    execv("/usr/bin/prlimit", args);
}

/* Lists a process's open fds (where they point) on stderr, for a failure. */
static inline void scripted_print_fds(pid_t pid)
{
    char dir[64], path[384], target[256];
    struct dirent *e;
    DIR *d;

    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    d = opendir(dir);
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        fprintf(stderr, "  shim fd %s -> %s\n", e->d_name, target);
    }
    closedir(d);
}

/* Starts the shim for one device of `type`; extra is appended to --device.
 * nofile > 0 sets the shim's open-file limit (soft and hard) before exec. */
static inline int scripted_start_limited(struct scripted *s, const char *type, const char *extra,
                                         rlim_t nofile)
{
    char dev[512], shim[256];

    memset(s, 0, sizeof(*s));
    s->be = s->fe = -1;
    snprintf(s->dir, sizeof(s->dir), "/tmp/vdpa-shim-test.XXXXXX");
    if (!mkdtemp(s->dir))
        return -errno;
    snprintf(s->fe_path, sizeof(s->fe_path), "%s/fe.sock", s->dir);
    snprintf(s->be_path, sizeof(s->be_path), "%s/be.sock", s->dir);
    snprintf(s->trace_path, sizeof(s->trace_path), "%s/trace.txt", s->dir);
    snprintf(s->log_path, sizeof(s->log_path), "%s/shim.log", s->dir);
    s->be_listen = vu_listen_unix(s->be_path, 0600);
    if (s->be_listen < 0)
        return s->be_listen;
    snprintf(dev, sizeof(dev), "type=%s,frontend=%s,backend=%s%s%s", type, s->fe_path, s->be_path,
             extra && *extra ? "," : "", extra ? extra : "");
    snprintf(shim, sizeof(shim), "%s/vdpa-shim", scripted_build_dir());
    s->shim = fork();
    if (s->shim < 0)
        return -errno;
    if (s->shim == 0) {
        char *argv[] = { shim,
                         (char *)"--device",
                         dev,
                         (char *)"--trace",
                         s->trace_path,
                         (char *)"--log-level",
                         (char *)"debug",
                         NULL };
        int log = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (log >= 0)
            dup2(log, 2);
        scripted_exec_limited(shim, argv, nofile);
        _exit(127);
    }
    for (int i = 0; i < 300; i++) {
        struct stat st;
        if (stat(s->fe_path, &st) == 0)
            return 0;
        usleep(10000);
    }
    return -ETIMEDOUT;
}

static inline int scripted_start(struct scripted *s, const char *type, const char *extra)
{
    return scripted_start_limited(s, type, extra, 0);
}

/* Connects the scripted front-end and accepts the shim's back-end connection
 * (made when the front-end arrives). */
static inline int scripted_connect(struct scripted *s)
{
    struct pollfd p = { .fd = s->be_listen, .events = POLLIN };

    s->fe = vu_connect_unix(s->fe_path);
    if (s->fe < 0)
        return s->fe;
    if (poll(&p, 1, SCRIPT_TIMEOUT_MS) != 1)
        return -ETIMEDOUT;
    s->be = vu_accept(s->be_listen);
    if (s->be < 0)
        return s->be;
    return vu_set_nonblocking(s->be, false);
}

/* Stops the shim with SIGTERM; returns its exit status (or -1). */
static inline int scripted_stop(struct scripted *s)
{
    int status = -1;
    char cmd[256];

    fd_close(&s->fe);
    fd_close(&s->be);
    fd_close(&s->be_listen);
    if (s->shim > 0) {
        /* A shim stuck in a system call ignores SIGTERM: the test fails
         * (status -1), it does not hang. */
        kill(s->shim, SIGTERM);
        for (int waited = 0; waitpid(s->shim, &status, WNOHANG) == 0; waited += 10) {
            if (waited >= SCRIPT_STOP_MS) {
                kill(s->shim, SIGKILL);
                waitpid(s->shim, NULL, 0);
                status = -1;
                break;
            }
            usleep(10000);
        }
        s->shim = 0;
    }
    /* A sanitizer report from the shim fails the test that provoked it. */
    snprintf(cmd, sizeof(cmd), "grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' %s",
             s->log_path);
    if (system(cmd) == 0) {
        scripted_dump(s);
        status = 99 << 8;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", s->dir);
    if (system(cmd) < 0)
        perror("system");
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Sends a request with a u64 / state / no payload. */
static inline int send_u64_req(int fd, uint32_t req, uint32_t flags, uint64_t v, int passfd)
{
    struct vu_msg m;

    vu_msg_init(&m, req, flags);
    vu_msg_set_u64(&m, v);
    if (passfd >= 0) {
        int rc = scripted_add_dup(&m, passfd);
        if (rc < 0)
            return rc;
    }
    return vu_send_blocking(fd, &m);
}

static inline int send_state_req(int fd, uint32_t req, uint32_t flags, uint32_t index, uint32_t num)
{
    struct vu_msg m;

    vu_msg_init(&m, req, flags);
    vu_msg_set_state(&m, index, num);
    return vu_send_blocking(fd, &m);
}

static inline int send_empty(int fd, uint32_t req, uint32_t flags)
{
    struct vu_msg m;

    vu_msg_init(&m, req, flags);
    return vu_send_blocking(fd, &m);
}

/* Replies on the back-end side. */
static inline int reply_u64(int fd, uint32_t req, uint64_t v)
{
    struct vu_msg m;

    vu_msg_init(&m, req, VU_FLAG_REPLY);
    vu_msg_set_u64(&m, v);
    return vu_send_blocking(fd, &m);
}

/* Receives one message and checks its request number; the caller owns its fds. */
static inline int expect_msg(int fd, uint32_t req, struct vu_msg *m)
{
    int rc = vu_recv_blocking(fd, m, SCRIPT_TIMEOUT_MS);

    if (rc)
        return rc;
    if (m->hdr.request != req) {
        fprintf(stderr, "expected request %u (%s), got %u (%s)\n", req,
                vu_request_name(VU_CHAN_FRONTEND, req), m->hdr.request,
                vu_request_name(VU_CHAN_FRONTEND, m->hdr.request));
        vu_msg_close_fds(m);
        return -EPROTO;
    }
    return 0;
}

/* True when nothing arrives on fd within ms. */
static inline int quiet_for(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, ms) == 0;
}

/* True when the peer closed fd (EOF) within the time-out. */
static inline int closed_within(int fd, int ms)
{
    struct vu_msg m;
    int rc = vu_recv_blocking(fd, &m, ms);

    if (rc == 0)
        vu_msg_close_fds(&m);
    return rc == -ECONNRESET;
}

#endif
