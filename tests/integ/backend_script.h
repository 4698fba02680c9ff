/* SPDX-License-Identifier: MIT */
/*
 * A scripted vdpa-user front-end for the reference back-end
 * (peers/vdpa-backend), shared by test_vdpa_backend.c and
 * test_vdpa_backend_types.c: the real program ($BUILD/vdpa-backend, BUILD
 * defaults to build) listening on a temporary socket, the blocking
 * transport helpers, and memfd guest memory for the driver side of
 * lib/virtio. The back-end's stderr goes to a log that is shown when a test
 * fails and that must hold no sanitizer report.
 *
 *     static int setup(void **state)
 *     {
 *         return backend_setup(state, "vdpa-backend-test", ARENA_SIZE);
 *     }
 *     ... cmocka_unit_test_setup_teardown(test_x, setup, backend_teardown)
 *
 * Header-only (static inline functions).
 */
#ifndef VDPA_SHIM_TESTS_BACKEND_SCRIPT_H
#define VDPA_SHIM_TESTS_BACKEND_SCRIPT_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "msg_table.h"
#include "transport.h"
#include "virtio/virtqueue.h"

#define TIMEOUT_MS    3000
#define NEED          VU_FLAG_NEED_REPLY
#define MAX_RINGS     8 /* the most rings a test drives */
#define RING_SIZE     64
#define ARENA_GPA     0x40000000ull /* not 0 and not the local address: catches gpa/uva mix-ups */
#define POLL_US       10000         /* one step of a wait */
#define START_POLLS   500           /* steps of POLL_US: the back-end creates its socket */
#define LOG_TAIL      60            /* lines of the back-end's log shown on a failure */
#define BACKEND_ARGS  40            /* argv entries, the terminating NULL included */
#define BACKEND_FIXED 7             /* the program, --socket S --type T --log-level debug */

#define PF_VDPA_SET                                                                                \
    (VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG) |      \
     VU_BIT(VU_PF_STATUS))

/* ---- The back-end process ---------------------------------------------------- */

struct ctx {
    char dir[64], sock_path[128], log_path[128], stats_path[128], disk_path[128];
    pid_t pid;
    int fd;            /* front-end connection */
    size_t arena_size; /* the guest memory send_mem_table creates */
    struct dma_arena mem;
    bool mem_ok;
    unsigned nrings;
    struct vq_driver vq[MAX_RINGS];
    int kick[MAX_RINGS], call[MAX_RINGS], err[MAX_RINGS];
    int config_call;
    uint64_t features; /* negotiated */
};

static inline const char *build_dir(void)
{
    const char *b = getenv("BUILD");
    return b && *b ? b : "build";
}

static inline void dump_log(const struct ctx *c)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "echo '--- vdpa-backend log:'; tail -n %d %s", LOG_TAIL,
             c->log_path);
    if (system(cmd) < 0)
        perror("system");
}

/* Starts the back-end with "--socket S --type TYPE --log-level debug" and
 * the NULL-terminated `extra` arguments (NULL: none); returns once the
 * socket file is there (connect_fe connects). */
static inline void spawn_backend(struct ctx *c, const char *type, char *const extra[])
{
    char prog[256];
    char *argv[BACKEND_ARGS] = { prog,         "--socket",    c->sock_path, "--type",
                                 (char *)type, "--log-level", "debug" };
    unsigned argc = BACKEND_FIXED;

    snprintf(prog, sizeof(prog), "%s/vdpa-backend", build_dir());
    for (unsigned i = 0; extra && extra[i] && argc < BACKEND_ARGS - 1; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;

    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        int log = open(c->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log >= 0)
            dup2(log, 2);
        execv(prog, argv);
        _exit(127);
    }
    for (int i = 0; i < START_POLLS; i++) {
        struct stat st;
        if (stat(c->sock_path, &st) == 0)
            return;
        if (waitpid(c->pid, NULL, WNOHANG) == c->pid) {
            c->pid = 0;
            dump_log(c);
            fail_msg("vdpa-backend exited at start-up");
        }
        usleep(POLL_US);
    }
    dump_log(c);
    fail_msg("vdpa-backend did not create its socket");
}

static inline void connect_fe(struct ctx *c)
{
    /* The socket file appears at bind(), a moment before listen(). */
    for (int i = 0; i < TIMEOUT_MS / 10; i++) {
        c->fd = vu_connect_unix(c->sock_path);
        if (c->fd != -ECONNREFUSED)
            break;
        usleep(POLL_US);
    }
    if (c->fd < 0)
        fail_msg("cannot connect to the back-end: %s", strerror(-c->fd));
}

static inline void close_fds(int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
}

static inline void end_session(struct ctx *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    close_fds(c->kick, MAX_RINGS);
    close_fds(c->call, MAX_RINGS);
    close_fds(c->err, MAX_RINGS);
    close_fds(&c->config_call, 1);
    for (unsigned i = 0; i < MAX_RINGS; i++)
        vq_driver_destroy(&c->vq[i]);
    if (c->mem_ok)
        dma_arena_destroy(&c->mem);
    c->mem_ok = false;
}

/* Sanitizer reports in the back-end's log fail the test. */
static inline bool log_has_sanitizer_report(const struct ctx *c)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' %s",
             c->log_path);
    return system(cmd) == 0;
}

/* Stops the back-end with SIGTERM (a clean exit writes the statistics) and
 * checks a clean exit. */
static inline void stop_backend(struct ctx *c)
{
    int status = 0;

    end_session(c);
    if (c->pid > 0) {
        kill(c->pid, SIGTERM);
        assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
        c->pid = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || log_has_sanitizer_report(c)) {
            dump_log(c);
            fail_msg("vdpa-backend did not exit cleanly (status 0x%x)", status);
        }
    }
}

/* A test's context in a new directory /tmp/NAME.XXXXXX; its guest memory
 * will be `arena_size` bytes. */
static inline int backend_setup(void **state, const char *name, size_t arena_size)
{
    struct ctx *c = calloc(1, sizeof(*c));

    if (!c)
        return -1;
    c->fd = -1;
    c->config_call = -1;
    c->arena_size = arena_size;
    for (unsigned i = 0; i < MAX_RINGS; i++)
        c->kick[i] = c->call[i] = c->err[i] = -1;
    snprintf(c->dir, sizeof(c->dir), "/tmp/%s.XXXXXX", name);
    if (!mkdtemp(c->dir))
        return -1;
    snprintf(c->sock_path, sizeof(c->sock_path), "%s/be.sock", c->dir);
    snprintf(c->log_path, sizeof(c->log_path), "%s/backend.log", c->dir);
    snprintf(c->stats_path, sizeof(c->stats_path), "%s/stats.txt", c->dir);
    snprintf(c->disk_path, sizeof(c->disk_path), "%s/disk.img", c->dir);
    *state = c;
    return 0;
}

static inline int backend_teardown(void **state)
{
    struct ctx *c = *state;
    char cmd[128];

    end_session(c);
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", c->dir);
    if (system(cmd) < 0)
        perror("system");
    free(c);
    return 0;
}

/* ---- Messages ------------------------------------------------------------------ */

static inline void send_msg(struct ctx *c, struct vu_msg *m)
{
    assert_int_equal(vu_send_blocking(c->fd, m), 0);
}

static inline void recv_reply(struct ctx *c, uint32_t req, struct vu_msg *m)
{
    int rc = vu_recv_blocking(c->fd, m, TIMEOUT_MS);

    if (rc) {
        dump_log(c);
        fail_msg("no reply to %s: %s", vu_request_name(VU_CHAN_FRONTEND, req), strerror(-rc));
    }
    assert_int_equal(m->hdr.request, req);
    assert_int_equal(m->hdr.flags, VU_VERSION | VU_FLAG_REPLY);
    assert_int_equal(m->nfds, 0);
}

/* A request with a u64 reply of its own. */
static inline uint64_t get_u64(struct ctx *c, uint32_t req)
{
    struct vu_msg m;

    vu_msg_init(&m, req, 0);
    send_msg(c, &m);
    recv_reply(c, req, &m);
    assert_int_equal(m.hdr.size, 8);
    return m.payload.u64;
}

/* Sends with NEED_REPLY and returns the ack value. */
static inline uint64_t ack_msg(struct ctx *c, struct vu_msg *m)
{
    uint32_t req = m->hdr.request;

    m->hdr.flags |= NEED;
    send_msg(c, m);
    recv_reply(c, req, m);
    assert_int_equal(m->hdr.size, 8);
    return m->payload.u64;
}

static inline uint64_t ack_u64(struct ctx *c, uint32_t req, uint64_t v, int passfd)
{
    struct vu_msg m;

    vu_msg_init(&m, req, 0);
    vu_msg_set_u64(&m, v);
    if (passfd >= 0)
        vu_msg_add_fd(&m, fcntl(passfd, F_DUPFD_CLOEXEC, 3));
    return ack_msg(c, &m);
}

static inline uint64_t ack_empty(struct ctx *c, uint32_t req)
{
    struct vu_msg m;

    vu_msg_init(&m, req, 0);
    return ack_msg(c, &m);
}

static inline uint64_t ack_state(struct ctx *c, uint32_t req, uint32_t index, uint32_t num)
{
    struct vu_msg m;

    vu_msg_init(&m, req, 0);
    vu_msg_set_state(&m, index, num);
    return ack_msg(c, &m);
}

static inline uint64_t set_status(struct ctx *c, uint64_t v)
{
    return ack_u64(c, VU_REQ_SET_STATUS, v, -1);
}

static inline uint64_t get_status(struct ctx *c)
{
    return get_u64(c, VU_REQ_GET_STATUS);
}

/* GET_CONFIG; returns the reply's payload size (0 = rejected). */
static inline uint32_t get_config(struct ctx *c, uint32_t offset, uint32_t size, uint8_t *out)
{
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, offset, size, 0, NULL);
    send_msg(c, &m);
    recv_reply(c, VU_REQ_GET_CONFIG, &m);
    if (m.hdr.size == 0)
        return 0;
    assert_int_equal(m.hdr.size, VU_CONFIG_HDR_SIZE + size);
    assert_int_equal(m.payload.config.offset, offset);
    assert_int_equal(m.payload.config.size, size);
    assert_int_equal(m.payload.config.flags, 0);
    memcpy(out, m.payload.config.data, size);
    return m.hdr.size;
}

static inline uint64_t set_config(struct ctx *c, uint32_t offset, uint32_t size, uint32_t flags,
                                  const void *data)
{
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_SET_CONFIG, 0);
    vu_msg_set_config(&m, offset, size, flags, data);
    return ack_msg(c, &m);
}

/* ---- Bring-up ---------------------------------------------------------------------- */

/* SET_MEM_TABLE of the test's guest memory, created on first use. */
static inline void send_mem_table(struct ctx *c)
{
    struct vu_mem_region r;
    struct vu_msg m;

    if (!c->mem_ok) {
        assert_int_equal(dma_arena_create(&c->mem, c->arena_size, ARENA_GPA), 0);
        c->mem_ok = true;
    }
    r = dma_region(&c->mem);
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    vu_msg_set_mem_table(&m, &r, 1);
    vu_msg_add_fd(&m, fcntl(c->mem.fd, F_DUPFD_CLOEXEC, 3));
    assert_int_equal(ack_msg(c, &m), 0);
}

/* Ring i laid out afresh: a new driver ring of `size` entries in the guest
 * memory, sent with SET_VRING_NUM, _ADDR and _BASE 0. */
static inline void lay_out_ring(struct ctx *c, unsigned i, unsigned size)
{
    struct vu_vring_addr a = { .index = i };
    struct vu_msg m;

    vq_driver_destroy(&c->vq[i]);
    assert_int_equal(vq_driver_init(&c->vq[i], &c->mem, size), 0);
    assert_int_equal(ack_state(c, VU_REQ_SET_VRING_NUM, i, size), 0);
    a.desc_user_addr = vq_driver_desc_uva(&c->vq[i]);
    a.avail_user_addr = vq_driver_avail_uva(&c->vq[i]);
    a.used_user_addr = vq_driver_used_uva(&c->vq[i]);
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, 0);
    vu_msg_set_addr(&m, &a);
    assert_int_equal(ack_msg(c, &m), 0);
    assert_int_equal(ack_state(c, VU_REQ_SET_VRING_BASE, i, 0), 0);
}

static inline int new_eventfd(void)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(fd >= 0);
    return fd;
}

#endif
