/* SPDX-License-Identifier: MIT */
/*
 * The pass-through relay with two scripted peers around the real vdpa-shim
 * binary: messages and fds go through unchanged after validation; bad input
 * gets a REPLY_ACK failure or a clean disconnect; nothing leaks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "scripted.h"

#define FEATURES (UINT64_C(1) << 32 | UINT64_C(1) << 30)
#define NEED VU_FLAG_NEED_REPLY

struct relay_test {
    struct scripted s;
    int fds_idle;
};

static int setup(void **state)
{
    /* Static: a setup that fails half-way must not leak (tests run one
     * at a time). */
    static struct relay_test storage;
    struct relay_test *t = &storage;

    memset(t, 0, sizeof(*t));
    assert_int_equal(scripted_start(&t->s, "net", NULL), 0);
    t->fds_idle = scripted_count_fds(t->s.shim);
    assert_int_equal(scripted_connect(&t->s), 0);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct relay_test *t = *state;
    int status = scripted_stop(&t->s);

    assert_int_equal(status, 0); /* clean exit on SIGTERM, no sanitizer report */
    return 0;
}

/* The front-end asks, the back-end answers `value`, the front-end gets
 * what the shim makes of it. */
static uint64_t ask_u64(struct relay_test *t, uint32_t req, uint64_t value)
{
    struct vu_msg m;

    assert_int_equal(send_empty(t->s.fe, req, 0), 0);
    assert_int_equal(expect_msg(t->s.be, req, &m), 0);
    assert_int_equal(m.hdr.size, 0);
    assert_int_equal(m.hdr.flags, VU_VERSION);
    assert_int_equal(reply_u64(t->s.be, req, value), 0);
    assert_int_equal(expect_msg(t->s.fe, req, &m), 0);
    assert_int_equal(m.hdr.flags, VU_VERSION | VU_FLAG_REPLY);
    return m.payload.u64;
}

/* GET_FEATURES, GET/SET_PROTOCOL_FEATURES with `pf` offered and acked. */
static void negotiate(struct relay_test *t, uint64_t pf)
{
    struct vu_msg m;

    assert_int_equal(ask_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
    assert_int_equal(ask_u64(t, VU_REQ_GET_PROTOCOL_FEATURES, pf), pf);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, 0, pf, -1), 0);
    assert_int_equal(expect_msg(t->s.be, VU_REQ_SET_PROTOCOL_FEATURES, &m), 0);
    assert_int_equal(m.payload.u64, pf);
}

static void wait_idle_fds(struct relay_test *t)
{
    for (int i = 0; i < 100 && scripted_count_fds(t->s.shim) != t->fds_idle; i++)
        usleep(20000);
    assert_int_equal(scripted_count_fds(t->s.shim), t->fds_idle);
}

static void forwarding_and_masking(void **state)
{
    struct relay_test *t = *state;
    uint64_t offered = VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG) |
                       VU_BIT(VU_PF_STATUS);

    assert_int_equal(ask_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
    /* PAGEFAULT and XEN_MMAP cannot be relayed by forwarding: hidden. */
    assert_int_equal(ask_u64(t, VU_REQ_GET_PROTOCOL_FEATURES,
                             offered | VU_BIT(VU_PF_PAGEFAULT) | VU_BIT(VU_PF_XEN_MMAP)),
                     offered);
    /* Acking a hidden bit is refused: no NEED_REPLY, so both go. */
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, 0,
                                  offered | VU_BIT(VU_PF_PAGEFAULT), -1), 0);
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));
    assert_true(closed_within(t->s.be, SCRIPT_TIMEOUT_MS));
}

static void fds_peer_to_peer(void **state)
{
    struct relay_test *t = *state;
    struct vu_mem_region r = { 0, 1 << 20, 0x7f0000000000, 0 };
    int mem = memfd_create("guest", MFD_CLOEXEC);
    int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    uint64_t v = 0, one = 1;
    struct vu_msg m;
    char seen[8] = { 0 };

    negotiate(t, VU_BIT(VU_PF_REPLY_ACK));
    assert_int_equal(ftruncate(mem, 1 << 20), 0);
    assert_int_equal(pwrite(mem, "payload", 7, 4096), 7);
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, NEED);
    vu_msg_set_mem_table(&m, &r, 1);
    vu_msg_add_fd(&m, fcntl(mem, F_DUPFD_CLOEXEC, 3));
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    assert_int_equal(expect_msg(t->s.be, VU_REQ_SET_MEM_TABLE, &m), 0);
    assert_true(m.hdr.flags & NEED);
    assert_int_equal(m.payload.mem.regions[0].userspace_addr, 0x7f0000000000);
    assert_int_equal(m.nfds, 1);
    assert_int_equal(pread(m.fds[0], seen, 7, 4096), 7);
    assert_string_equal(seen, "payload");
    vu_msg_close_fds(&m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_SET_MEM_TABLE, 0), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_SET_MEM_TABLE, &m), 0);
    assert_int_equal(m.payload.u64, 0);

    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_KICK, 0, 0, kick), 0);
    assert_int_equal(expect_msg(t->s.be, VU_REQ_SET_VRING_KICK, &m), 0);
    assert_int_equal(m.nfds, 1);
    assert_int_equal(write(m.fds[0], &one, 8), 8); /* the back-end's copy... */
    assert_int_equal(read(kick, &v, 8), 8);        /* ...is the front-end's eventfd */
    assert_int_equal(v, 1);
    vu_msg_close_fds(&m);

    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_CALL, 0, 1 | VU_VRING_NOFD_MASK, -1), 0);
    assert_int_equal(expect_msg(t->s.be, VU_REQ_SET_VRING_CALL, &m), 0);
    assert_int_equal(m.nfds, 0);

    close(t->s.fe);
    t->s.fe = -1;
    assert_true(closed_within(t->s.be, SCRIPT_TIMEOUT_MS));
    wait_idle_fds(t);
    close(mem);
    close(kick);
}

static void bad_message_with_reply_ack(void **state)
{
    struct relay_test *t = *state;
    struct vu_msg m;

    negotiate(t, VU_BIT(VU_PF_REPLY_ACK));
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_NUM, NEED, 300, 256), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_SET_VRING_NUM, &m), 0);
    assert_true(m.hdr.flags & VU_FLAG_REPLY);
    assert_int_equal(m.payload.u64, ERANGE); /* a failure, with the reason */
    assert_true(quiet_for(t->s.be, 300));    /* the back-end never saw it */
    assert_int_equal(ask_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES); /* still alive */
}

static void bad_message_disconnects_then_reconnect(void **state)
{
    struct relay_test *t = *state;
    struct vu_msg m;

    negotiate(t, VU_BIT(VU_PF_REPLY_ACK));
    vu_msg_init(&m, VU_REQ_SET_VRING_NUM, 0);
    vu_msg_set_state(&m, 0, 256);
    m.hdr.size = 4; /* malformed, and no reply asked for */
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));
    assert_true(closed_within(t->s.be, SCRIPT_TIMEOUT_MS));
    close(t->s.fe);
    close(t->s.be);
    t->s.fe = t->s.be = -1;
    wait_idle_fds(t);
    /* A new front-end gets a new back-end connection. */
    assert_int_equal(scripted_connect(&t->s), 0);
    assert_int_equal(ask_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
}

static void config_out_of_bounds(void **state)
{
    struct relay_test *t = *state;
    struct vu_msg m;
    uint8_t mac[6] = { 0x52, 0x54, 0, 1, 2, 3 };

    negotiate(t, VU_BIT(VU_PF_CONFIG));
    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, 20, 8, 0, NULL); /* net config space is 24 bytes */
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_CONFIG, &m), 0);
    assert_int_equal(m.hdr.size, 0); /* the spec's "failed" reply */
    assert_true(quiet_for(t->s.be, 300));

    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, 0, 6, 0, NULL);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    assert_int_equal(expect_msg(t->s.be, VU_REQ_GET_CONFIG, &m), 0);
    vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
    vu_msg_set_config(&m, 0, 6, 0, mac);
    assert_int_equal(vu_send_blocking(t->s.be, &m), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_CONFIG, &m), 0);
    assert_memory_equal(m.payload.config.data, mac, 6);
}

static void unsolicited_backend_message(void **state)
{
    struct relay_test *t = *state;

    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, FEATURES), 0);
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));
    assert_true(closed_within(t->s.be, SCRIPT_TIMEOUT_MS));
}

static void backend_channel_spliced(void **state)
{
    struct relay_test *t = *state;
    int chan[2];
    struct stat fe_end, be_end;
    struct vu_msg m;
    struct vu_vring_area area = { 0, 4096, 0 };

    negotiate(t, VU_BIT(VU_PF_BACKEND_REQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan), 0);
    assert_int_equal(fstat(chan[1], &fe_end), 0);
    vu_msg_init(&m, VU_REQ_SET_BACKEND_REQ_FD, 0);
    vu_msg_add_fd(&m, chan[1]);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    assert_int_equal(expect_msg(t->s.be, VU_REQ_SET_BACKEND_REQ_FD, &m), 0);
    assert_int_equal(m.nfds, 1);
    assert_int_equal(fstat(m.fds[0], &be_end), 0);
    assert_true(S_ISSOCK(be_end.st_mode));
    assert_true(be_end.st_ino != fe_end.st_ino); /* the shim's own socket */
    int be_chan = m.fds[0];
    assert_int_equal(vu_set_nonblocking(be_chan, false), 0);

    /* CONFIG_CHANGE_MSG goes through, the front-end's ack comes back. */
    assert_int_equal(send_empty(be_chan, VU_BREQ_CONFIG_CHANGE_MSG, NEED), 0);
    assert_int_equal(vu_recv_blocking(chan[0], &m, SCRIPT_TIMEOUT_MS), 0);
    assert_int_equal(m.hdr.request, VU_BREQ_CONFIG_CHANGE_MSG);
    assert_int_equal(reply_u64(chan[0], VU_BREQ_CONFIG_CHANGE_MSG, 0), 0);
    assert_int_equal(vu_recv_blocking(be_chan, &m, SCRIPT_TIMEOUT_MS), 0);
    assert_int_equal(m.hdr.request, VU_BREQ_CONFIG_CHANGE_MSG);
    assert_true(m.hdr.flags & VU_FLAG_REPLY);

    /* A host-notifier fd to the front-end was never negotiated: refused,
     * and never forwarded. */
    vu_msg_init(&m, VU_BREQ_VRING_HOST_NOTIFIER_MSG, 0);
    vu_msg_set_payload(&m, &area, sizeof(area));
    vu_msg_add_fd(&m, eventfd(0, EFD_CLOEXEC));
    assert_int_equal(vu_send_blocking(be_chan, &m), 0);
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));
    assert_true(quiet_for(chan[0], 100) || closed_within(chan[0], 100));
    close(t->s.fe);
    t->s.fe = -1;
    close(be_chan);
    close(chan[0]);
    wait_idle_fds(t);
}

static void fd_where_none_belongs(void **state)
{
    struct relay_test *t = *state;
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
    vu_msg_add_fd(&m, eventfd(0, EFD_CLOEXEC));
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));
    assert_true(closed_within(t->s.be, SCRIPT_TIMEOUT_MS));
    close(t->s.fe);
    t->s.fe = -1;
    wait_idle_fds(t);
}

static void second_frontend_refused(void **state)
{
    struct relay_test *t = *state;
    int second = vu_connect_unix(t->s.fe_path);

    assert_true(second >= 0);
    assert_true(closed_within(second, SCRIPT_TIMEOUT_MS));
    close(second);
    assert_int_equal(ask_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
}

/* The back-end is not there when the front-end comes: the request waits
 * and goes through once the shim's retry reaches it. */
static void backend_appears_later(void **state)
{
    struct relay_test *t = *state;
    struct pollfd p;
    struct vu_msg m;

    close(t->s.fe);
    close(t->s.be);
    t->s.fe = t->s.be = -1;
    close(t->s.be_listen);
    unlink(t->s.be_path);
    usleep(100000);
    t->s.fe = vu_connect_unix(t->s.fe_path);
    assert_true(t->s.fe >= 0);
    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_FEATURES, 0), 0);
    usleep(500000);
    t->s.be_listen = vu_listen_unix(t->s.be_path, 0600);
    assert_true(t->s.be_listen >= 0);
    p = (struct pollfd){ .fd = t->s.be_listen, .events = POLLIN };
    assert_int_equal(poll(&p, 1, 5000), 1);
    t->s.be = vu_accept(t->s.be_listen);
    assert_true(t->s.be >= 0);
    assert_int_equal(vu_set_nonblocking(t->s.be, false), 0);
    assert_int_equal(expect_msg(t->s.be, VU_REQ_GET_FEATURES, &m), 0);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, FEATURES), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_FEATURES, &m), 0);
    assert_int_equal(m.payload.u64, FEATURES);
}

/* Runs the binary with args; returns its exit status, stderr in err. */
static int run_cli(const char *args, char *err, size_t len)
{
    char cmd[512];
    FILE *f;
    size_t n;

    snprintf(cmd, sizeof(cmd), "%s/vdpa-shim %s 2>&1; echo \"exit=$?\"", scripted_build_dir(),
             args);
    f = popen(cmd, "r");
    assert_non_null(f);
    n = fread(err, 1, len - 1, f);
    err[n] = '\0';
    pclose(f);
    char *e = strstr(err, "exit=");
    return e ? atoi(e + 5) : -1;
}

static void cli_errors(void **state)
{
    char out[8192];

    (void)state;
    assert_int_equal(run_cli("--device type=net,frontend=/tmp/a", out, sizeof(out)), 2);
    assert_non_null(strstr(out, "backend="));
    assert_int_equal(run_cli("--device type=foo,frontend=/tmp/a,backend=/tmp/b", out, sizeof(out)), 2);
    assert_non_null(strstr(out, "type=foo"));
    assert_int_equal(run_cli("--bogus", out, sizeof(out)), 2);
    assert_non_null(strstr(out, "--bogus"));
    assert_int_equal(run_cli("--help", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "frontend-mode"));
    assert_int_equal(run_cli("--version", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "vdpa-shim "));
    /* A socket path that cannot be created: a runtime failure, said clearly. */
    assert_int_equal(run_cli("--device type=net,frontend=/nonexistent/dir/fe.sock,backend=/tmp/b",
                             out, sizeof(out)), 1);
    assert_non_null(strstr(out, "cannot listen on /nonexistent/dir/fe.sock"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(forwarding_and_masking, setup, teardown),
        cmocka_unit_test_setup_teardown(fds_peer_to_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_message_with_reply_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_message_disconnects_then_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(config_out_of_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(unsolicited_backend_message, setup, teardown),
        cmocka_unit_test_setup_teardown(backend_channel_spliced, setup, teardown),
        cmocka_unit_test_setup_teardown(fd_where_none_belongs, setup, teardown),
        cmocka_unit_test_setup_teardown(second_frontend_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(backend_appears_later, setup, teardown),
        cmocka_unit_test(cli_errors),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("relay", tests, NULL, NULL);
}
