/* SPDX-License-Identifier: MIT */
/*
 * Up-conversion with scripted peers around the real vdpa-shim binary: a
 * legacy front-end (no F_VDPA) on one side, a scripted vdpa-user back-end on
 * the other. Each test checks what the back-end receives, in order, and what
 * the front-end gets back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <endian.h>
#include <pthread.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "up_script.h"

static void up_full_life_cycle(void **state)
{
    struct up_test *t = *state;
    int memfd = memfd_with("guest");
    int kick[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
    int call[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
    struct vu_msg m;

    run_device(t, memfd, kick, call);

    /* While running, enables go straight through. */
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, 0, 1, 1), 0);
    be_ack(t, VU_REQ_SET_VRING_ENABLE, &m);
    assert_int_equal(m.payload.state.index, 1);

    /* QEMU and DPDK disable the rings before they stop them. */
    for (uint32_t i = 0; i < 2; i++) {
        assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, 0, i, 0), 0);
        be_ack(t, VU_REQ_SET_VRING_ENABLE, &m);
        assert_int_equal(m.payload.state.num, 0);
    }

    /* The legacy ring stop becomes SUSPEND; the index is exact. */
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_GET_VRING_BASE, 0, 0, 0), 0);
    be_answer(t, VU_REQ_VDPA_SUSPEND, 0); /* always answered: no NEED_REPLY needed */
    be_vring_base(t, 0, 42);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_GET_VRING_BASE, 0, 1, 0), 0);
    be_vring_base(t, 1, 7); /* already suspended: no second SUSPEND */

    /* Restart: the front-end reconfigures; the shim resets the back-end and
     * replays everything it cached, fds included (its own duplicates). */
    configure_ring(t, 0, kick[0], call[0]);
    configure_ring(t, 1, kick[1], call[1]);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_BASE, 0, 0, 42), 0);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, 0, 0, 1), 0);
    be_status(t, 0);
    be_status(t, 0x03);
    be_ack(t, VU_REQ_SET_FEATURES, &m);
    assert_int_equal(m.payload.u64, FEATURES);
    be_status(t, 0x0b);
    be_ack(t, VU_REQ_SET_MEM_TABLE, &m);
    assert_int_equal(m.nfds, 1);
    vu_msg_close_fds(&m);
    be_ack(t, VU_REQ_VDPA_SET_CONFIG_CALL, &m);
    vu_msg_close_fds(&m);
    be_expect_ring(t, 0, 42, true, true);
    be_expect_ring(t, 1, 0, false, true);
    be_status(t, 0x0f);
    be_answer(t, VU_REQ_GET_STATUS, 0x0f);

    /* The front-end leaves: the back-end is released (its device resets),
     * and the shim holds no fd of the session. */
    close(t->s.fe);
    t->s.fe = -1;
    assert_true(closed_within(t->s.be, SCRIPT_TIMEOUT_MS));
    for (int i = 0; i < 100 && fdcount_of(t->s.shim) != t->fds_idle; i++)
        usleep(20000);
    assert_int_equal(fdcount_of(t->s.shim), t->fds_idle);
    for (int i = 0; i < 2; i++) {
        close(kick[i]);
        close(call[i]);
    }
    close(memfd);
}

/* QEMU with STATUS stops a device with SET_STATUS(0) and then reads each
 * ring's index: the indices must be the back-end's real ones. */
static void up_status_zero_is_a_stop(void **state)
{
    struct up_test *t = *state;
    int memfd = memfd_with("guest");
    int kick[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
    int call[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };

    t->extra_pf = VU_BIT(VU_PF_STATUS); /* as QEMU 7.2 and DPDK acknowledge it */
    run_device(t, memfd, kick, call);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_STATUS, NEED, 0, -1), 0);
    be_answer(t, VU_REQ_VDPA_SUSPEND, 0); /* always answered: no NEED_REPLY needed */
    fe_expect_ack(t, VU_REQ_SET_STATUS, 0);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_GET_VRING_BASE, 0, 0, 0), 0);
    be_vring_base(t, 0, 1234);
    assert_true(quiet_for(t->s.be, 100)); /* no reset went to the back-end */
    for (int i = 0; i < 2; i++) {
        close(kick[i]);
        close(call[i]);
    }
    close(memfd);
}

static void up_features_refused_with_ack(void **state)
{
    struct up_test *t = *state;

    negotiate(t, 1, 2);
    /* The back-end leaves FEATURES_OK clear: a failed ack, never a silent
     * success; the shim takes the back-end back to negotiation. */
    set_features(t, NEED, 0x03);
    be_status(t, 0);
    be_status(t, 0x03);
    fe_expect_ack(t, VU_REQ_SET_FEATURES, EINVAL);
}

/* A legacy front-end never asks VDPA_GET_VRING_NUM; the shim asks at set-up
 * and refuses a larger SET_VRING_NUM itself (vdpa-user rejects it): the
 * back-end never sees it, and a size within the bound goes on as before. */
static void up_ring_size_above_backend_max(void **state)
{
    struct up_test *t = *state;

    negotiate(t, 1, 2);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_NUM, NEED, 0, RING_MAX * 2), 0);
    fe_expect_ack(t, VU_REQ_SET_VRING_NUM, EINVAL);
    assert_true(quiet_for(t->s.be, 100));
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_NUM, NEED, 0, RING_MAX), 0);
    fe_expect_ack(t, VU_REQ_SET_VRING_NUM, 0);
    assert_true(quiet_for(t->s.be, 100)); /* kept until the device starts */
}

static void up_features_refused_without_ack(void **state)
{
    struct up_test *t = *state;

    negotiate(t, 1, 2);
    set_features(t, 0, 0x03);
    /* No way to say "failed": a clean disconnect of both sides. */
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));
    assert_true(closed_within(t->s.be, SCRIPT_TIMEOUT_MS));
}

static void up_backend_dies_mid_setup(void **state)
{
    struct up_test *t = *state;
    struct vu_msg m;

    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_FEATURES, 0), 0);
    be_answer(t, VU_REQ_GET_FEATURES, FEATURES);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_FEATURES, &m), 0);
    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_PROTOCOL_FEATURES, 0), 0);
    be_answer(t, VU_REQ_GET_PROTOCOL_FEATURES, BE_PF);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_PROTOCOL_FEATURES, &m), 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, NEED, FE_PF, -1), 0);
    be_ack(t, VU_REQ_SET_PROTOCOL_FEATURES, &m);
    /* The back-end dies in the middle of the set-up. */
    close(t->s.be);
    t->s.be = -1;
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));

    /* The shim survives: a new front-end gets a new back-end session that
     * starts from scratch. */
    close(t->s.fe);
    t->s.fe = -1;
    assert_int_equal(scripted_connect(&t->s), 0);
    negotiate(t, 1, 2);
}

static void up_frontend_reconnects(void **state)
{
    struct up_test *t = *state;

    negotiate(t, 1, 2);
    set_features(t, 0, 0x0b);
    close(t->s.fe);
    t->s.fe = -1;
    /* The back-end connection goes with the front-end: that resets it. */
    assert_true(closed_within(t->s.be, SCRIPT_TIMEOUT_MS));
    close(t->s.be);
    t->s.be = -1;
    close(t->config_call);
    t->config_call = -1;
    assert_int_equal(scripted_connect(&t->s), 0);
    negotiate(t, 1, 2);
    set_features(t, NEED, 0x0b);
    fe_expect_ack(t, VU_REQ_SET_FEATURES, 0);
}

static void up_reset_device_and_mtu(void **state)
{
    struct up_test *t = *state;

    negotiate(t, 1, 2);
    /* NET_SET_MTU is forbidden under F_VDPA: checked against config space. */
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_NET_SET_MTU, NEED, 1500, -1), 0);
    fe_expect_ack(t, VU_REQ_NET_SET_MTU, 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_NET_SET_MTU, NEED, 9000, -1), 0);
    fe_expect_ack(t, VU_REQ_NET_SET_MTU, EINVAL);
    assert_true(quiet_for(t->s.be, 100));

    /* RESET_DEVICE becomes SET_STATUS(0) and back to negotiation. */
    assert_int_equal(send_empty(t->s.fe, VU_REQ_RESET_DEVICE, NEED), 0);
    be_status(t, 0);
    be_status(t, 0x03);
    fe_expect_ack(t, VU_REQ_RESET_DEVICE, 0);
}

static void up_config_change(void **state)
{
    struct up_test *t = *state;
    int chan[2];
    uint64_t one = 1;
    struct vu_msg m;

    negotiate(t, 1, 2);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan), 0);
    vu_msg_init(&m, VU_REQ_SET_BACKEND_REQ_FD, NEED);
    vu_msg_add_fd(&m, chan[1]);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    fe_expect_ack(t, VU_REQ_SET_BACKEND_REQ_FD, 0);
    assert_true(quiet_for(t->s.be, 100)); /* the shim keeps the channel */

    /* The back-end signals its config-call eventfd: the shim refreshes its
     * copy of the config space. A legacy net front-end, which was not shown
     * CONFIG (it keeps virtio-net's config itself), hears no
     * CONFIG_CHANGE_MSG on its channel. */
    assert_int_equal(write(t->config_call, &one, 8), 8);
    be_answer(t, VU_REQ_GET_STATUS, 0x03);
    assert_int_equal(expect_msg(t->s.be, VU_REQ_GET_CONFIG, &m), 0);
    vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
    vu_msg_set_config(&m, 0, 24, 0, NULL);
    assert_int_equal(vu_send_blocking(t->s.be, &m), 0);
    assert_true(quiet_for(chan[0], 100));

    /* DEVICE_NEEDS_RESET has no legacy equivalent: a clean disconnect. */
    assert_int_equal(write(t->config_call, &one, 8), 8);
    be_answer(t, VU_REQ_GET_STATUS, 0x43);
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));
    close(chan[0]);
}

static int up_setup_provision(void **state)
{
    /* Static: a setup that fails half-way must not leak (tests run one
     * at a time). */
    static struct up_test storage;
    struct up_test *t = &storage;

    memset(t, 0, sizeof(*t));
    t->config_call = -1;
    t->provision = true;
    assert_int_equal(scripted_start(&t->s, "net", "mac=02:00:00:aa:bb:cc,mtu=1400"), 0);
    assert_int_equal(scripted_connect(&t->s), 0);
    *state = t;
    return 0;
}

static void up_provisioning(void **state)
{
    struct up_test *t = *state;
    char log[4096] = { 0 };
    FILE *f;

    negotiate(t, 1, 2);
    /* The refused mtu and the differing mac are both reported clearly. */
    f = fopen(t->s.log_path, "r");
    assert_non_null(f);
    assert_true(fread(log, 1, sizeof(log) - 1, f) > 0);
    fclose(f);
    assert_non_null(strstr(log, "refused to provision mtu="));
    assert_non_null(strstr(log, "mac= is 02:00:00:aa:bb:cc but the back-end's config space has "
                                "52:54:00:12:34:56"));
    assert_non_null(strstr(log, "mtu= is 1400 but the back-end's config space has 1500"));
}

static void up_wrong_device_type(void **state)
{
    struct up_test *t = *state;

    negotiate(t, 2 /* blk, but the shim was told type=net */, 1);
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));
}

/* ---- a hostile back-end (issue 14) ----------------------------------------------- */

#define STORM_MS 600
/* The longest the front-end may wait for an answer while the back-end
 * storms: one config-call sequence the back-end itself answers at once. */
#define STORM_MAX_DELAY_MS 1000
/* How long a config-call sequence is held unanswered to see that no second
 * one starts meanwhile. */
#define HOLD_MS 20

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The back-end's threads on the config-call eventfd, which it made
 * blocking: one signals it in a tight loop, one consumes it (a blocking
 * read) in a tight loop, racing the shim's reads. */
struct storm {
    int fd;
    volatile int stop_writing, stop_reading, reader_done;
    unsigned long writes;
};

static void *storm_write(void *arg)
{
    struct storm *st = arg;
    uint64_t one = 1;

    while (!st->stop_writing)
        if (write(st->fd, &one, 8) == 8)
            st->writes++;
    return NULL;
}

static void *storm_read(void *arg)
{
    struct storm *st = arg;
    uint64_t v;

    while (!st->stop_reading)
        if (read(st->fd, &v, 8) < 0 && errno != EINTR)
            break;
    st->reader_done = 1;
    return NULL;
}

/* The back-end's side of the shim's config-call sequences: GET_STATUS
 * (held HOLD_MS: no second sequence may start meanwhile), then GET_CONFIG.
 * Returns the number of sequences served before the front-end's answer to
 * `req` came. */
static unsigned serve_until_answer(struct up_test *t, uint32_t req, int64_t *delay_ms)
{
    int64_t t0 = now_ms();
    unsigned sequences = 0;
    struct vu_msg m;

    for (;;) {
        struct pollfd p[2] = { { .fd = t->s.fe, .events = POLLIN },
                               { .fd = t->s.be, .events = POLLIN } };
        assert_true(poll(p, 2, SCRIPT_TIMEOUT_MS) > 0);
        if (p[1].revents) {
            assert_int_equal(expect_msg(t->s.be, VU_REQ_GET_STATUS, &m), 0);
            assert_true(quiet_for(t->s.be, HOLD_MS)); /* coalesced: one at a time */
            assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_STATUS, 0x03), 0);
            assert_int_equal(expect_msg(t->s.be, VU_REQ_GET_CONFIG, &m), 0);
            vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
            vu_msg_set_config(&m, 0, 24, 0, NULL);
            assert_int_equal(vu_send_blocking(t->s.be, &m), 0);
            sequences++;
            continue;
        }
        assert_int_equal(expect_msg(t->s.fe, req, &m), 0);
        *delay_ms = now_ms() - t0;
        return sequences;
    }
}

/* A vdpa-user back-end clears O_NONBLOCK on the config-call eventfd the
 * shim gave it, then signals and consumes it in tight loops. The shim never
 * blocks (44c4f61: blocked in read, every device down), runs one
 * GET_STATUS/GET_CONFIG sequence at a time however many signals come, and
 * keeps answering the front-end; after the storm it still does. */
static void up_config_call_storm(void **state)
{
    struct up_test *t = *state;
    struct storm st = { 0 };
    pthread_t writer, reader;
    int64_t end, delay, worst = 0;
    unsigned sequences = 0, answers = 0;
    uint64_t one = 1;

    negotiate(t, 1, 2);
    st.fd = t->config_call;
    assert_int_equal(fcntl(st.fd, F_SETFL, fcntl(st.fd, F_GETFL) & ~O_NONBLOCK), 0);
    assert_int_equal(pthread_create(&reader, NULL, storm_read, &st), 0);
    assert_int_equal(pthread_create(&writer, NULL, storm_write, &st), 0);
    end = now_ms() + STORM_MS;
    while (now_ms() < end) {
        assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_QUEUE_NUM, 0), 0);
        sequences += serve_until_answer(t, VU_REQ_GET_QUEUE_NUM, &delay);
        worst = delay > worst ? delay : worst;
        answers++;
    }
    /* the writer stops; the reader goes on consuming what is left */
    st.stop_writing = 1;
    pthread_join(writer, NULL);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_QUEUE_NUM, 0), 0);
        sequences += serve_until_answer(t, VU_REQ_GET_QUEUE_NUM, &delay);
        worst = delay > worst ? delay : worst;
        usleep(10000);
    }
    st.stop_reading = 1;
    while (!st.reader_done) {
        assert_int_equal(write(st.fd, &one, 8), 8); /* wakes the blocked reader */
        usleep(1000);
    }
    pthread_join(reader, NULL);
    printf("config-call storm: %lu signals, %u config sequences, %u answers, worst delay %lld ms\n",
           st.writes, sequences, answers, (long long)worst);
    assert_true(st.writes > sequences); /* signals were coalesced */
    assert_true(sequences > 0);
    assert_true(worst < STORM_MAX_DELAY_MS);
    /* whatever the last signals started, the shim still answers */
    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_QUEUE_NUM, 0), 0);
    serve_until_answer(t, VU_REQ_GET_QUEUE_NUM, &delay);
}

/* ---- multiqueue: the shim drives the back-end's control queue ------------- */

#define MQ_PAIRS       4u
#define MQ_VQS         (2 * MQ_PAIRS + 1)
#define MQ_CTRL_RING   (2 * MQ_PAIRS)
#define MQ_FE_FEATURES (FEATURES | VU_BIT(VIRTIO_NET_F_MQ)) /* QEMU: MQ, never CTRL_VQ */
#define MQ_WAIT_MS     5000

/* The back-end's view of the shim's control queue. */
struct mq_ctrl {
    struct vu_mem_region region; /* the shim's region in the memory table */
    uint8_t *mem;                /* mapped */
    struct vu_vring_addr addr;
    uint32_t num;
    int kick, call;
};

static uint8_t *mq_uva(struct mq_ctrl *q, uint64_t uva)
{
    assert_true(uva >= q->region.userspace_addr &&
                uva < q->region.userspace_addr + q->region.memory_size);
    return q->mem + (uva - q->region.userspace_addr);
}

static uint8_t *mq_gpa(struct mq_ctrl *q, uint64_t gpa, uint32_t len)
{
    assert_true(gpa >= q->region.guest_phys_addr &&
                gpa + len <= q->region.guest_phys_addr + q->region.memory_size);
    return q->mem + (gpa - q->region.guest_phys_addr);
}

/* SET_MEM_TABLE: the front-end's region, then the shim's, clear of it. */
static void mq_mem_table(struct up_test *t, int memfd, struct mq_ctrl *q)
{
    struct vu_mem_region region = { 0x0, 1 << 20, 0x7f0000000000, 0 };
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, NEED);
    vu_msg_set_mem_table(&m, &region, 1);
    vu_msg_add_fd(&m, fcntl(memfd, F_DUPFD_CLOEXEC, 3));
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    be_ack(t, VU_REQ_SET_MEM_TABLE, &m);
    assert_int_equal(m.payload.mem.nregions, 2);
    assert_int_equal(m.nfds, 2);
    assert_memory_equal(&m.payload.mem.regions[0], &region, sizeof(region));
    q->region = m.payload.mem.regions[1];
    assert_true(q->region.guest_phys_addr >= region.guest_phys_addr + region.memory_size);
    assert_true(q->region.userspace_addr >= region.userspace_addr + region.memory_size);
    q->mem = mmap(NULL, q->region.memory_size, PROT_READ | PROT_WRITE, MAP_SHARED, m.fds[1],
                  (off_t)q->region.mmap_offset);
    assert_true(q->mem != MAP_FAILED);
    vu_msg_close_fds(&m);
    fe_expect_ack(t, VU_REQ_SET_MEM_TABLE, 0);
}

/* The control ring's set-up at the start: NUM, ADDR, BASE 0, KICK, CALL, ENABLE. */
static void mq_expect_ctrl_ring(struct up_test *t, struct mq_ctrl *q)
{
    struct vu_msg m;

    be_ack(t, VU_REQ_SET_VRING_NUM, &m);
    assert_int_equal(m.payload.state.index, MQ_CTRL_RING);
    q->num = m.payload.state.num;
    assert_true(q->num > 0 && (q->num & (q->num - 1)) == 0);
    be_ack(t, VU_REQ_SET_VRING_ADDR, &m);
    assert_int_equal(m.payload.addr.index, MQ_CTRL_RING);
    q->addr = m.payload.addr;
    be_ack(t, VU_REQ_SET_VRING_BASE, &m);
    assert_int_equal(m.payload.state.index, MQ_CTRL_RING);
    assert_int_equal(m.payload.state.num, 0);
    be_ack(t, VU_REQ_SET_VRING_KICK, &m);
    assert_int_equal(m.payload.u64, MQ_CTRL_RING);
    assert_int_equal(m.nfds, 1);
    q->kick = m.fds[0];
    be_ack(t, VU_REQ_SET_VRING_CALL, &m);
    assert_int_equal(m.payload.u64, MQ_CTRL_RING);
    assert_int_equal(m.nfds, 1);
    q->call = m.fds[0];
    be_ack(t, VU_REQ_SET_VRING_ENABLE, &m);
    assert_int_equal(m.payload.state.index, MQ_CTRL_RING);
    assert_int_equal(m.payload.state.num, 1);
}

/* The back-end serves one command: it must be VQ_PAIRS_SET(pairs); it
 * answers with ack (VIRTIO_NET_OK or VIRTIO_NET_ERR). */
static void mq_serve_pairs_set_ack(struct mq_ctrl *q, uint16_t used_idx, uint16_t pairs,
                                   uint8_t ack)
{
    struct pollfd pfd = { .fd = q->kick, .events = POLLIN };
    struct vq_avail *avail = (struct vq_avail *)(void *)mq_uva(q, q->addr.avail_user_addr);
    struct vq_used *used = (struct vq_used *)(void *)mq_uva(q, q->addr.used_user_addr);
    struct vq_desc *desc = (struct vq_desc *)(void *)mq_uva(q, q->addr.desc_user_addr);
    uint64_t count;
    uint16_t head;
    uint8_t *cmd;

    assert_int_equal(poll(&pfd, 1, MQ_WAIT_MS), 1); /* kicked */
    assert_int_equal(read(q->kick, &count, sizeof(count)), (ssize_t)sizeof(count));
    assert_int_equal(le16toh(avail->idx), (uint16_t)(used_idx + 1));
    head = le16toh(avail->ring[used_idx % q->num]);
    assert_true(head < q->num);
    assert_true(le16toh(desc[head].flags) & VQ_DESC_F_NEXT);
    assert_int_equal(le32toh(desc[head].len), 4);
    cmd = mq_gpa(q, le64toh(desc[head].addr), 4);
    assert_int_equal(cmd[0], VIRTIO_NET_CTRL_MQ);
    assert_int_equal(cmd[1], VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET);
    assert_int_equal(cmd[2] | cmd[3] << 8, pairs);
    uint16_t ack_desc = le16toh(desc[head].next);
    assert_true(ack_desc < q->num);
    assert_true(le16toh(desc[ack_desc].flags) & VQ_DESC_F_WRITE);
    *mq_gpa(q, le64toh(desc[ack_desc].addr), 1) = ack;
    used->ring[used_idx % q->num].id = htole32(head);
    used->ring[used_idx % q->num].len = htole32(1);
    __atomic_store_n(&used->idx, htole16((uint16_t)(used_idx + 1)), __ATOMIC_RELEASE);
    count = 1;
    assert_int_equal(write(q->call, &count, sizeof(count)), (ssize_t)sizeof(count));
}

static void mq_serve_pairs_set(struct mq_ctrl *q, uint16_t used_idx, uint16_t pairs)
{
    mq_serve_pairs_set_ack(q, used_idx, pairs, VIRTIO_NET_OK);
}

/* The MQ device set up and running with pair 0 (rings 0 and 1 enabled),
 * the shim's control ring on the back-end. */
static void mq_running(struct up_test *t, int memfd, struct mq_ctrl *q, int kick[4], int call[4])
{
    struct vu_msg m;

    t->be_features = FEATURES | VU_BIT(VIRTIO_NET_F_CTRL_VQ) | VU_BIT(VIRTIO_NET_F_MQ);
    t->max_pairs = MQ_PAIRS;
    negotiate(t, 1, MQ_VQS);

    /* The back-end gets CTRL_VQ with MQ: FEATURES_OK is not refused. */
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_FEATURES, NEED, MQ_FE_FEATURES, -1), 0);
    be_ack(t, VU_REQ_SET_FEATURES, &m);
    assert_int_equal(m.payload.u64, MQ_FE_FEATURES | VU_BIT(VIRTIO_NET_F_CTRL_VQ));
    be_status(t, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    be_answer(t, VU_REQ_GET_STATUS, 0x0b);
    fe_expect_ack(t, VU_REQ_SET_FEATURES, 0);

    mq_mem_table(t, memfd, q);
    for (uint32_t i = 0; i < 4; i++) {
        kick[i] = eventfd(0, EFD_CLOEXEC);
        call[i] = eventfd(0, EFD_CLOEXEC);
        configure_ring(t, i, kick[i], call[i]);
    }
    /* Pair 0 on: the start sets the shim's control ring up too; one pair,
     * the device's own start, needs no command. */
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, NEED, 0, 1), 0);
    for (uint32_t i = 0; i < 4; i++)
        be_expect_ring(t, i, 0, i == 0, false);
    mq_expect_ctrl_ring(t, q);
    be_status(t, 0x0f);
    be_answer(t, VU_REQ_GET_STATUS, 0x0f);
    fe_expect_ack(t, VU_REQ_SET_VRING_ENABLE, 0);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, NEED, 1, 1), 0);
    be_ack(t, VU_REQ_SET_VRING_ENABLE, &m);
    fe_expect_ack(t, VU_REQ_SET_VRING_ENABLE, 0);
}

/* QEMU with queues=4 + mq=on acks MQ without CTRL_VQ and turns pairs on
 * with SET_VRING_ENABLE; the vdpa-user back-end requires CTRL_VQ with MQ
 * and runs one pair until VQ_PAIRS_SET on its own control queue. */
static void up_mq_drives_backend_ctrl_queue(void **state)
{
    struct up_test *t = *state;
    int memfd = memfd_with("guest");
    int kick[4], call[4];
    struct mq_ctrl q = { .kick = -1, .call = -1 };
    struct vu_msg m;

    mq_running(t, memfd, &q, kick, call);

    /* Pair 1 on: VQ_PAIRS_SET 2, and the front-end's ack waits for the
     * back-end's answer on the control queue. */
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, NEED, 2, 1), 0);
    be_ack(t, VU_REQ_SET_VRING_ENABLE, &m);
    assert_int_equal(m.payload.state.index, 2);
    assert_true(quiet_for(t->s.fe, 200));
    mq_serve_pairs_set(&q, 0, 2);
    fe_expect_ack(t, VU_REQ_SET_VRING_ENABLE, 0);

    /* Ring 3 is pair 1 too: no command. Pair 1 off again: VQ_PAIRS_SET 1. */
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, NEED, 3, 1), 0);
    be_ack(t, VU_REQ_SET_VRING_ENABLE, &m);
    fe_expect_ack(t, VU_REQ_SET_VRING_ENABLE, 0);
    for (uint32_t i = 2; i < 4; i++) {
        assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, NEED, i, 0), 0);
        be_ack(t, VU_REQ_SET_VRING_ENABLE, &m);
        if (i == 3)
            mq_serve_pairs_set(&q, 1, 1);
        fe_expect_ack(t, VU_REQ_SET_VRING_ENABLE, 0);
    }
    struct pollfd pfd = { .fd = q.kick, .events = POLLIN };
    assert_int_equal(poll(&pfd, 1, 100), 0); /* nothing more was posted */

    munmap(q.mem, q.region.memory_size);
    close(q.kick);
    close(q.call);
    for (uint32_t i = 0; i < 4; i++) {
        close(kick[i]);
        close(call[i]);
    }
    close(memfd);
}

/* Whether the shim's log (so far) contains needle. */
static bool shim_log_has(const struct up_test *t, const char *needle)
{
    char buf[1 << 16];
    FILE *f = fopen(t->s.log_path, "re");
    size_t n;

    if (!f)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

/* The back-end answers VQ_PAIRS_SET with VIRTIO_NET_ERR: the front-end's
 * ack says EIO, the session ends (both peers disconnected, one error line
 * naming the control queue). */
static void up_mq_pairs_set_refused_ends_session(void **state)
{
    struct up_test *t = *state;
    int memfd = memfd_with("guest");
    int kick[4], call[4];
    struct mq_ctrl q = { .kick = -1, .call = -1 };
    struct vu_msg m;

    mq_running(t, memfd, &q, kick, call);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, NEED, 2, 1), 0);
    be_ack(t, VU_REQ_SET_VRING_ENABLE, &m);
    mq_serve_pairs_set_ack(&q, 0, 2, VIRTIO_NET_ERR);
    fe_expect_ack(t, VU_REQ_SET_VRING_ENABLE, EIO);
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));
    assert_true(closed_within(t->s.be, SCRIPT_TIMEOUT_MS));
    assert_true(
        shim_log_has(t, "the back-end's control queue: VQ_PAIRS_SET failed; ending the session"));

    munmap(q.mem, q.region.memory_size);
    close(q.kick);
    close(q.call);
    for (uint32_t i = 0; i < 4; i++) {
        close(kick[i]);
        close(call[i]);
    }
    close(memfd);
}

/* A back-end without a control queue: MQ without CTRL_VQ is refused at
 * SET_FEATURES with a failed ack, never a silent single-queue device. */
static void up_mq_without_backend_ctrl_refused(void **state)
{
    struct up_test *t = *state;

    t->be_features = FEATURES | VU_BIT(VIRTIO_NET_F_MQ);
    t->max_pairs = MQ_PAIRS;
    negotiate(t, 1, 2 * MQ_PAIRS);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_FEATURES, NEED, MQ_FE_FEATURES, -1), 0);
    fe_expect_ack(t, VU_REQ_SET_FEATURES, EINVAL);
    assert_true(quiet_for(t->s.be, 200)); /* the back-end never saw them */
}

/* QEMU 5.2's vhost-user-blk leaves F_PROTOCOL_FEATURES out of SET_FEATURES
 * (offered, and it uses protocol features) and never sends
 * SET_VRING_ENABLE: its rings start enabled (vhost-user). The first ring's
 * kick completes the device; a ring set up later is enabled at its kick. */
static void up_rings_start_enabled_without_pf(void **state)
{
    struct up_test *t = *state;
    const uint64_t features = FEATURES & ~VU_BIT(VU_F_PROTOCOL_FEATURES);
    const uint32_t live[] = { VU_REQ_SET_VRING_NUM, VU_REQ_SET_VRING_BASE, VU_REQ_SET_VRING_ADDR };
    int memfd = memfd_with("guest");
    int kick[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
    struct vu_msg m;

    negotiate(t, 1, 2);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_FEATURES, 0, features, -1), 0);
    be_ack(t, VU_REQ_SET_FEATURES, &m);
    assert_int_equal(m.payload.u64, features);
    be_status(t, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    be_answer(t, VU_REQ_GET_STATUS, 0x0b);
    set_mem_table(t, memfd);
    send_layout(t, 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_KICK, 0, 0, kick[0]), 0);
    be_ack(t, VU_REQ_SET_VRING_KICK, &m);
    vu_msg_close_fds(&m);
    be_expect_ring(t, 0, 0, true, false); /* enabled with no SET_VRING_ENABLE */
    be_status(t, 0x0f);
    be_answer(t, VU_REQ_GET_STATUS, 0x0f);
    /* ring 1 while the device runs: each layout change is applied
     * suspended, then its kick enables it */
    send_layout(t, 1);
    for (size_t k = 0; k < sizeof(live) / sizeof(live[0]); k++) {
        be_answer(t, VU_REQ_VDPA_SUSPEND, 0); /* always answered */
        be_ack(t, live[k], &m);
        be_answer(t, VU_REQ_VDPA_RESUME, 0);
    }
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_KICK, NEED, 1, kick[1]), 0);
    be_ack(t, VU_REQ_SET_VRING_KICK, &m);
    vu_msg_close_fds(&m);
    be_ack(t, VU_REQ_SET_VRING_ENABLE, &m);
    assert_int_equal(m.payload.state.index, 1);
    assert_int_equal(m.payload.state.num, 1);
    fe_expect_ack(t, VU_REQ_SET_VRING_KICK, 0);
    close(memfd);
    close(kick[0]);
    close(kick[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(up_full_life_cycle, up_setup, up_teardown),
        cmocka_unit_test_setup_teardown(up_status_zero_is_a_stop, up_setup, up_teardown),
        cmocka_unit_test_setup_teardown(up_features_refused_with_ack, up_setup, up_teardown),
        cmocka_unit_test_setup_teardown(up_features_refused_without_ack, up_setup, up_teardown),
        cmocka_unit_test_setup_teardown(up_ring_size_above_backend_max, up_setup, up_teardown),
        cmocka_unit_test_setup_teardown(up_backend_dies_mid_setup, up_setup, up_teardown),
        cmocka_unit_test_setup_teardown(up_frontend_reconnects, up_setup, up_teardown),
        cmocka_unit_test_setup_teardown(up_reset_device_and_mtu, up_setup, up_teardown),
        cmocka_unit_test_setup_teardown(up_config_change, up_setup, up_teardown),
        cmocka_unit_test_setup_teardown(up_wrong_device_type, up_setup, up_teardown),
        cmocka_unit_test_setup_teardown(up_provisioning, up_setup_provision, up_teardown),
        cmocka_unit_test_setup_teardown(up_config_call_storm, up_setup, up_teardown),
        cmocka_unit_test_setup_teardown(up_mq_drives_backend_ctrl_queue, up_setup, up_teardown),
        cmocka_unit_test_setup_teardown(up_mq_pairs_set_refused_ends_session, up_setup,
                                        up_teardown),
        cmocka_unit_test_setup_teardown(up_mq_without_backend_ctrl_refused, up_setup, up_teardown),
        cmocka_unit_test_setup_teardown(up_rings_start_enabled_without_pf, up_setup, up_teardown),
    };

    if (getenv("TEST_FILTER")) /* one test by name (cmocka's pattern) */
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("upconv", tests, NULL, NULL);
}
