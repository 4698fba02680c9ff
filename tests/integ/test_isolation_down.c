/* SPDX-License-Identifier: MIT */
/*
 * Isolation, issue 14 items 1, 2, 4 and 8b: a hostile peer of a converting
 * device (tests/integ/conv_script.h) attacks the fds and the control queue the
 * shim serves, while a second, well-behaved device in the same shim is timed
 * (tests/integ/isolation.h). Each test fails on 44c4f61:
 *   1  an fd of the wrong kind as the control queue's kick (a memfd, a
 *      directory, an O_PATH fd) crashed the shim at DRIVER_OK or at a re-kick
 *      while running (uv_poll_start on a handle never set up);
 *   2  blocking I/O on a peer's fd blocked the whole loop: a full pipe as the
 *      config-call or the control queue's call fd, a saturated config-call
 *      eventfd, a front-end (down) or back-end (up) that clears O_NONBLOCK
 *      on a shared eventfd and races the shim to consume it;
 *   4  a control queue kept non-empty made the shim serve it forever;
 *   8b a memory table the shim could not map (for the control queue) was
 *      forwarded to the back-end as a success.
 * Now: a wrong fd kind is refused at the boundary, a saturated eventfd ends
 * that session, a spurious wake-up does nothing, the control queue yields to
 * the loop, an unmappable memory table is refused; in every case the
 * victim's exchanges stay fast, the shim lives, and once the attacker's
 * session is over the shim holds as many fds as before it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <cmocka.h>

#include "conv_script.h"

/* Item 4: the worst delay the victim may see while the control queue is
 * flooded (the target is 10 ms; this bound is for a loaded CI
 * machine, the measured figure is printed). */
#define ITEM4_VICTIM_MAX_US (100000u * test_time_scale())
#define ITEM4_RING          32768u /* control-queue entries: one lap (VIRTIO's largest) */
#define ITEM4_KEYS          "queue-size=32768"
#define ITEM4_MACS          64u /* a MAC_TABLE_SET of this many addresses ... */
#define ITEM4_CHUNK         8u  /* ... in descriptors of this many bytes: a lap is long */
#define ITEM4_ATTACK_MS     1500
#define ITEM4_REPOST_US     2     /* the guest re-posts the lap this often (busy) */
#define ITEM4_MIN_SERVED    1024u /* the flood was real */

/* The race on a shared eventfd: the peer makes it blocking, signals it and
 * consumes the signal a random moment later, so that now and then the shim,
 * woken by the signal, finds it empty. A shim that then reads it with
 * read(2) blocks until the next signal; the racer stops signalling as soon
 * as it sees the shim sit in read(2) (/proc/PID/syscall), as a patient
 * attacker would, and the whole loop stays blocked. */
#define RACE_MS           1000
#define RACE_MAX_DELAY_US 100 /* signal to consume */
#define RACE_WEDGED_MS    5   /* in read(2) this long: blocked */

#define CTRL_QUEUE_SIZE 64u /* the control queue's entries (item 4 aside) */
#define SETTLE_MS       300 /* the shim acts on what it was sent */
#define EVENTFD_MAX     UINT64_C(0xfffffffffffffffe)
/* clang-format off: a braced initializer, not a block */
#define CTRL_RX_PROMISC_ON                                                                         \
    {                                                                                              \
        VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1                                          \
    }
/* clang-format on */
#define CTRL_RX_LEN 3u

/* A thread that races the shim on a shared eventfd. */
struct racer {
    int fd;
    pid_t shim;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    atomic_uint_fast64_t rounds;
    atomic_bool wedged; /* the shim was seen blocked in read(2) */
};

/* A thread that keeps the control queue one lap ahead of the device. */
struct flood {
    struct cs_guest *g;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    atomic_uint_fast64_t served; /* used entries seen */
};

struct down_iso {
    struct iso t;
    struct cs_peer cs;
    struct cs_guest g;
    struct racer racer;
    struct flood flood;
    int extra[4]; /* pipes and bad fds of the test, or -1 */
};

/* ---- set-up and teardown -------------------------------------------------- */

static struct down_iso *begin_with(void **state, const char *attacker_keys)
{
    static struct down_iso storage;
    struct down_iso *s = &storage;
    struct iso_opts o = ISO_OPTS_DEFAULT;

    memset(s, 0, sizeof(*s));
    s->g.kick = s->g.call = s->g.arena.fd = s->cs.be_config_call = -1;
    for (size_t i = 0; i < sizeof(s->extra) / sizeof(s->extra[0]); i++)
        s->extra[i] = -1;
    s->racer.fd = -1;
    *state = s;
    o.attacker.extra = attacker_keys;
    iso_start(&s->t, &o);
    iso_victim_start(&s->t);
    iso_connect(&s->t, &s->t.attacker);
    return s;
}

static struct down_iso *begin(void **state)
{
    return begin_with(state, NULL);
}

static void racer_stop(struct racer *r)
{
    if (!r->running)
        return;
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    r->running = false;
}

static void flood_stop(struct flood *f)
{
    if (!f->running)
        return;
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    f->running = false;
}

static int end(void **state)
{
    struct down_iso *s = *state;
    int rc;

    if (!s)
        return 0;
    racer_stop(&s->racer);
    flood_stop(&s->flood);
    rc = iso_stop(&s->t);
    cs_fini(&s->cs);
    cs_guest_fini(&s->g);
    for (size_t i = 0; i < sizeof(s->extra) / sizeof(s->extra[0]); i++)
        iso_close(&s->extra[i]);
    *state = NULL;
    assert_int_equal(rc, 0); /* a clean exit on SIGTERM, no sanitizer report */
    return 0;
}

/* The attacker's front-end goes; the shim drops its back-end and holds no
 * more fds than before the attacker came. */
static void attacker_leaves(struct down_iso *s)
{
    iso_close(&s->t.attacker.fe);
    if (s->t.attacker.be >= 0)
        iso_expect_eof(&s->t, s->t.attacker.be, "attacker back-end", ISO_TIMEOUT_MS, true);
    iso_close(&s->t.attacker.be);
    cs_fini(&s->cs);
    iso_expect_fds(&s->t, s->t.fds_base, "after the attacker's session");
}

/* The shim ended the attacker's session: both its peers see EOF. */
static void attacker_dropped(struct down_iso *s, const char *why)
{
    iso_expect_eof(&s->t, s->t.attacker.fe, why, ISO_TIMEOUT_MS, true);
    iso_expect_eof(&s->t, s->t.attacker.be, why, ISO_TIMEOUT_MS, true);
    iso_close(&s->t.attacker.fe);
    iso_close(&s->t.attacker.be);
    cs_fini(&s->cs);
    iso_expect_fds(&s->t, s->t.fds_base, "after the attacker's session ended");
}

/* SETTLE_MS for the shim to act (the attacker's back-end answered), the
 * victim probed throughout, even when the shim ends the attacker's session. */
static void settle(struct down_iso *s)
{
    uint64_t until = iso_now_us() + SETTLE_MS * 1000u;

    cs_pump_for(&s->cs, SETTLE_MS);
    while (iso_now_us() < until)
        usleep(1000);
}

/* ---- hostile fds -------------------------------------------------------------- */

enum bad_kind {
    BAD_MEMFD,
    BAD_DIRECTORY,
    BAD_OPATH,
    BAD_KINDS
};

static const char *const bad_names[BAD_KINDS] = { "a memfd", "a directory fd", "an O_PATH fd" };

static int bad_fd(struct iso *t, enum bad_kind k)
{
    int fd = -1;

    switch (k) {
    case BAD_MEMFD:
        fd = memfd_create("not-an-eventfd", MFD_CLOEXEC);
        break;
    case BAD_DIRECTORY:
        fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        break;
    case BAD_OPATH:
        fd = open(t->dir, O_PATH | O_CLOEXEC);
        break;
    default:
        break;
    }
    if (fd < 0)
        iso_fail(t, "making %s: %s", bad_names[k], strerror(errno));
    return fd;
}

/* A pipe whose write end (returned; the read end in *rd) is full and
 * blocking, as a hostile peer hands it over. */
static int full_pipe(struct iso *t, int *rd)
{
    static const char chunk[4096];
    int p[2];

    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0)
        iso_fail(t, "pipe2: %s", strerror(errno));
    while (write(p[1], chunk, sizeof(chunk)) > 0)
        ;
    while (write(p[1], chunk, 1) > 0)
        ;
    if (fcntl(p[1], F_SETFL, 0) != 0)
        iso_fail(t, "clearing O_NONBLOCK: %s", strerror(errno));
    *rd = p[0];
    return p[1];
}

static void set_blocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

/* A valid command on the control queue; asserts its ack. */
static void ctrl_command_ok(struct down_iso *s)
{
    static const uint8_t promisc[] = CTRL_RX_PROMISC_ON;
    int ack;

    cs_ctrl_post(&s->t, &s->g, promisc, CTRL_RX_LEN);
    ack = cs_ctrl_wait(&s->g, ISO_TIMEOUT_MS);
    if (ack != VIRTIO_NET_OK)
        iso_fail(&s->t, "the attacker's control command: ack %d", ack);
}

/* A command with no data part (one readable byte): DEVICE_NEEDS_RESET, which
 * the shim signals on the config-call fd. */
static void ctrl_command_malformed(struct down_iso *s)
{
    static const uint8_t cls = VIRTIO_NET_CTRL_RX;

    cs_ctrl_post(&s->t, &s->g, &cls, 1);
}

/* ---- item 1: a control-queue kick of the wrong kind -------------------------------- */

/* Before DRIVER_OK: the kick refused, the device starts without it; a good
 * kick afterwards works. Each kind in its own session. */
static void item1_bad_kick_at_start(void **state)
{
    struct down_iso *s = begin(state);

    for (int k = 0; k < BAD_KINDS; k++) {
        uint64_t ack;
        int bad = bad_fd(&s->t, (enum bad_kind)k);

        if (k > 0)
            iso_connect(&s->t, &s->t.attacker);
        cs_init(&s->cs, &s->t, &s->t.attacker, CS_DOWN);
        cs_down_negotiate(&s->cs, CS_CTRL_FEATURES);
        cs_guest_init(&s->t, &s->g, CTRL_QUEUE_SIZE);
        cs_mem_table(&s->cs, &s->g);
        cs_ctrl_place(&s->cs, &s->g);
        ack = cs_u64(&s->cs, VU_REQ_SET_VRING_KICK, CS_NEED, CS_CTRL_RING, bad);
        close(bad);
        cs_ok(&s->cs, VU_REQ_SET_VRING_CALL,
              cs_u64(&s->cs, VU_REQ_SET_VRING_CALL, CS_NEED, CS_CTRL_RING, s->g.call));
        cs_ok(&s->cs, VU_REQ_SET_VRING_ENABLE,
              cs_state(&s->cs, VU_REQ_SET_VRING_ENABLE, CS_CTRL_RING, 1));
        cs_fe_status(&s->cs, CS_ST_DRIVER_OK); /* 44c4f61: SIGSEGV here */
        iso_expect_alive(&s->t);
        if (ack == 0)
            iso_fail(&s->t, "item 1: %s as the control queue's kick was accepted", bad_names[k]);
        cs_ok(&s->cs, VU_REQ_SET_VRING_KICK,
              cs_u64(&s->cs, VU_REQ_SET_VRING_KICK, CS_NEED, CS_CTRL_RING, s->g.kick));
        ctrl_command_ok(s);
        attacker_leaves(s);
        cs_guest_fini(&s->g);
    }
    iso_victim_check(&s->t, "item 1 (kick at DRIVER_OK)");
    iso_expect_alive(&s->t);
}

/* While the control queue runs: each wrong kind refused, the kick in place
 * keeps working. */
static void item1_bad_rekick_running(void **state)
{
    struct down_iso *s = begin(state);

    cs_init(&s->cs, &s->t, &s->t.attacker, CS_DOWN);
    cs_down_running(&s->cs, &s->g, CTRL_QUEUE_SIZE);
    ctrl_command_ok(s);
    for (int k = 0; k < BAD_KINDS; k++) {
        int bad = bad_fd(&s->t, (enum bad_kind)k);
        uint64_t ack = cs_u64(&s->cs, VU_REQ_SET_VRING_KICK, CS_NEED, CS_CTRL_RING, bad);

        close(bad);
        iso_expect_alive(&s->t); /* 44c4f61: SIGSEGV at the first */
        if (ack == 0)
            iso_fail(&s->t, "item 1: %s as the running control queue's kick was accepted",
                     bad_names[k]);
        ctrl_command_ok(s);
    }
    iso_victim_check(&s->t, "item 1 (re-kick while running)");
    iso_expect_alive(&s->t);
    attacker_leaves(s);
}

/* ---- item 2: blocking I/O on a peer's fd ---------------------------------------------- */

/* The config-call fd a full blocking pipe, then DEVICE_NEEDS_RESET. */
static void item2_config_call_full_pipe(void **state)
{
    struct down_iso *s = begin(state);
    int wr = full_pipe(&s->t, &s->extra[0]);
    uint64_t ack;

    s->extra[1] = wr;
    cs_init(&s->cs, &s->t, &s->t.attacker, CS_DOWN);
    cs_down_running(&s->cs, &s->g, CTRL_QUEUE_SIZE);
    ack = cs_u64(&s->cs, VU_REQ_VDPA_SET_CONFIG_CALL, CS_NEED, 0, wr);
    ctrl_command_malformed(s); /* 44c4f61: blocked in write(2) */
    settle(s);
    iso_victim_check(&s->t, "item 2 (config-call a full pipe)");
    iso_expect_alive(&s->t);
    if (ack == 0)
        iso_fail(&s->t, "item 2: a pipe as the config-call fd was accepted");
    if (!(cs_empty(&s->cs, VU_REQ_GET_STATUS, 0) & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
        iso_fail(&s->t, "item 2: the malformed command did not set DEVICE_NEEDS_RESET");
    attacker_leaves(s);
}

/* The config-call eventfd one below its maximum, then DEVICE_NEEDS_RESET:
 * the shim cannot signal it, and ends that session. */
static void item2_config_call_saturated(void **state)
{
    struct down_iso *s = begin(state);
    uint64_t full = EVENTFD_MAX;
    int efd = eventfd(0, EFD_CLOEXEC);

    s->extra[0] = efd;
    if (efd < 0 || write(efd, &full, sizeof(full)) != sizeof(full))
        iso_fail(&s->t, "filling an eventfd: %s", strerror(errno));
    cs_init(&s->cs, &s->t, &s->t.attacker, CS_DOWN);
    cs_down_running(&s->cs, &s->g, CTRL_QUEUE_SIZE);
    cs_ok(&s->cs, VU_REQ_VDPA_SET_CONFIG_CALL,
          cs_u64(&s->cs, VU_REQ_VDPA_SET_CONFIG_CALL, CS_NEED, 0, efd));
    set_blocking(efd);         /* whatever the shim set: it is shared */
    ctrl_command_malformed(s); /* 44c4f61: blocked in write(2) */
    settle(s);
    iso_victim_check(&s->t, "item 2 (config-call saturated)");
    iso_expect_alive(&s->t);
    attacker_dropped(s, "attacker with a saturated config-call eventfd");
}

/* The control queue's call fd a full blocking pipe, then one command. */
static void item2_ctrl_call_full_pipe(void **state)
{
    struct down_iso *s = begin(state);
    int wr = full_pipe(&s->t, &s->extra[0]);
    uint64_t ack;

    s->extra[1] = wr;
    cs_init(&s->cs, &s->t, &s->t.attacker, CS_DOWN);
    cs_down_negotiate(&s->cs, CS_CTRL_FEATURES);
    cs_guest_init(&s->t, &s->g, CTRL_QUEUE_SIZE);
    cs_mem_table(&s->cs, &s->g);
    cs_ctrl_place(&s->cs, &s->g);
    cs_ok(&s->cs, VU_REQ_SET_VRING_KICK,
          cs_u64(&s->cs, VU_REQ_SET_VRING_KICK, CS_NEED, CS_CTRL_RING, s->g.kick));
    ack = cs_u64(&s->cs, VU_REQ_SET_VRING_CALL, CS_NEED, CS_CTRL_RING, wr);
    cs_ok(&s->cs, VU_REQ_SET_VRING_ENABLE,
          cs_state(&s->cs, VU_REQ_SET_VRING_ENABLE, CS_CTRL_RING, 1));
    cs_fe_status(&s->cs, CS_ST_DRIVER_OK);
    ctrl_command_ok(s); /* 44c4f61: then blocked in write(2) */
    settle(s);
    iso_victim_check(&s->t, "item 2 (control-queue call a full pipe)");
    iso_expect_alive(&s->t);
    if (ack == 0)
        iso_fail(&s->t, "item 2: a pipe as the control queue's call fd was accepted");
    ctrl_command_ok(s);
    attacker_leaves(s);
}

/* Busy-waits us microseconds (a sleep is far too coarse). */
static void spin_us(uint64_t us)
{
    uint64_t until = iso_now_us() + us;

    while (iso_now_us() < until)
        ;
}

/* One round of the race: the eventfd made blocking, signalled, consumed a
 * random moment later (non-blocking just for our own read). */
static void race_round(int fd, unsigned *seed)
{
    uint64_t v = 1;
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0)
        return;
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    if (write(fd, &v, sizeof(v)) < 0)
        return;
    spin_us((uint64_t)rand_r(seed) % RACE_MAX_DELAY_US);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    if (read(fd, &v, sizeof(v)) < 0) {
        /* the shim was first */
    }
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

/* Whether the shim's main thread is inside read(2) now. */
static bool shim_in_read(pid_t shim)
{
    char path[64], buf[64];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/syscall", (int)shim);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return strtol(buf, NULL, 10) == SYS_read && buf[0] >= '0' && buf[0] <= '9';
}

/* In read(2) now and still RACE_WEDGED_MS later. */
static bool shim_blocked_in_read(pid_t shim)
{
    if (!shim_in_read(shim))
        return false;
    usleep(RACE_WEDGED_MS * 1000);
    return shim_in_read(shim);
}

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    uint64_t end = iso_now_us() + RACE_MS * 1000u;
    unsigned seed = (unsigned)getpid();

    while (!atomic_load(&r->stop) && iso_now_us() < end) {
        race_round(r->fd, &seed);
        atomic_fetch_add(&r->rounds, 1);
        if (shim_blocked_in_read(r->shim)) {
            atomic_store(&r->wedged, true);
            break;
        }
    }
    return NULL;
}

/* Runs the race on fd for RACE_MS while the attacker's back-end is
 * answered. */
static void race(struct down_iso *s, int fd)
{
    struct racer *r = &s->racer;

    r->fd = fd;
    r->shim = s->t.shim;
    atomic_store(&r->stop, false);
    atomic_store(&r->rounds, 0);
    atomic_store(&r->wedged, false);
    if (pthread_create(&r->thread, NULL, racer_main, r) != 0)
        iso_fail(&s->t, "starting the racer thread");
    r->running = true;
    cs_pump_for(&s->cs, RACE_MS);
    racer_stop(r);
    iso_report("item 2", "race rounds on the shared eventfd", (double)atomic_load(&r->rounds),
               atomic_load(&r->wedged) ? "(then the shim sat in read(2))" : "");
}

/* Down: the front-end races the shim on the control queue's kick. */
static void item2_ctrl_kick_race(void **state)
{
    struct down_iso *s = begin(state);

    cs_init(&s->cs, &s->t, &s->t.attacker, CS_DOWN);
    cs_down_running(&s->cs, &s->g, CTRL_QUEUE_SIZE);
    race(s, s->g.kick); /* 44c4f61: blocked in read(2) */
    iso_victim_check(&s->t, "item 2 (control-queue kick race)");
    iso_expect_alive(&s->t);
    ctrl_command_ok(s); /* spurious wake-ups did nothing */
    attacker_leaves(s);
}

/* Up: the vdpa-user back-end races the shim on the config-call eventfd the
 * shim gave it. */
static void item2_up_config_call_race(void **state)
{
    struct down_iso *s = begin(state);

    cs_init(&s->cs, &s->t, &s->t.attacker, CS_UP);
    cs_up_negotiate(&s->cs);
    race(s, s->cs.be_config_call); /* 44c4f61: blocked in read(2) */
    iso_victim_check(&s->t, "item 2 (up: config-call race)");
    iso_expect_alive(&s->t);
    if (cs_empty(&s->cs, VU_REQ_GET_QUEUE_NUM, 0) != CS_NET_PAIRS)
        iso_fail(&s->t, "item 2: the up-converted session answers GET_QUEUE_NUM wrongly");
    attacker_leaves(s);
}

/* ---- item 4: a control queue never empty ---------------------------------------------- */

/* Every avail entry is the same chain: a MAC_TABLE_SET of ITEM4_MACS
 * addresses in ITEM4_CHUNK-byte descriptors, then its ack byte. */
static void flood_ring(struct iso *t, struct cs_guest *g)
{
    const uint32_t len = 2 + 4 + 4 + 6 * ITEM4_MACS;
    const uint16_t nd = (uint16_t)((len + ITEM4_CHUNK - 1) / ITEM4_CHUNK);
    struct vq_driver *vq = &g->vq;
    uint8_t *cmd = dma_alloc(&g->arena, len, 8);
    uint32_t macs = htole32(ITEM4_MACS);

    if (!cmd)
        iso_fail(t, "item 4: no room for the command");
    cmd[0] = VIRTIO_NET_CTRL_MAC;
    cmd[1] = VIRTIO_NET_CTRL_MAC_TABLE_SET;
    memcpy(cmd + 6, &macs, 4); /* unicast: none; multicast: ITEM4_MACS */
    for (uint16_t i = 0; i < nd; i++) {
        vq->desc[i].addr = htole64(dma_gpa(&g->arena, cmd) + (uint64_t)i * ITEM4_CHUNK);
        vq->desc[i].len = htole32(i + 1 < nd ? ITEM4_CHUNK : len - i * ITEM4_CHUNK);
        vq->desc[i].flags = htole16(VQ_DESC_F_NEXT);
        vq->desc[i].next = htole16((uint16_t)(i + 1));
    }
    vq->desc[nd].addr = htole64(dma_gpa(&g->arena, g->ack));
    vq->desc[nd].len = htole32(1);
    vq->desc[nd].flags = htole16(VQ_DESC_F_WRITE);
    for (unsigned i = 0; i < vq->num; i++)
        vq->avail->ring[i] = 0;
}

/* The guest: the available index always one lap past the used index. */
static void *flood_main(void *arg)
{
    struct flood *f = arg;
    struct vq_driver *vq = &f->g->vq;
    uint16_t last = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
    uint64_t end = iso_now_us() + ITEM4_ATTACK_MS * 1000u;

    while (!atomic_load(&f->stop) && iso_now_us() < end) {
        uint16_t used = le16toh(__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE));
        atomic_fetch_add(&f->served, (uint16_t)(used - last));
        last = used;
        __atomic_store_n(&vq->avail->idx, htole16((uint16_t)(used + vq->num)), __ATOMIC_RELEASE);
        cs_kick(f->g->kick);
        spin_us(ITEM4_REPOST_US);
    }
    return NULL;
}

static void item4_ctrl_queue_never_empty(void **state)
{
    struct down_iso *s = begin_with(state, ITEM4_KEYS);
    struct flood *f = &s->flood;
    uint64_t worst;

    cs_init(&s->cs, &s->t, &s->t.attacker, CS_DOWN);
    cs_down_running(&s->cs, &s->g, ITEM4_RING);
    flood_ring(&s->t, &s->g);
    f->g = &s->g;
    atomic_store(&f->stop, false);
    atomic_store(&f->served, 0);
    if (pthread_create(&f->thread, NULL, flood_main, f) != 0)
        iso_fail(&s->t, "starting the flood thread");
    f->running = true;
    usleep(ITEM4_ATTACK_MS * 1000u); /* 44c4f61: the loop serves only the queue */
    flood_stop(f);
    worst = iso_victim_check(&s->t, "item 4");
    iso_report("item 4", "control commands served during the flood",
               (double)atomic_load(&f->served), "");
    iso_expect_alive(&s->t);
    if (worst >= ITEM4_VICTIM_MAX_US)
        iso_fail(&s->t, "item 4: the victim waited %.1f ms (bound %d ms)", (double)worst / 1000.0,
                 ITEM4_VICTIM_MAX_US / 1000);
    if (atomic_load(&f->served) < ITEM4_MIN_SERVED)
        iso_fail(&s->t, "item 4: only %" PRIuFAST64 " commands served: no flood",
                 atomic_load(&f->served));
    attacker_leaves(s);
}

/* ---- item 8b: a memory table the shim cannot map ------------------------------------ */

enum bad_mem {
    MEM_DIRECTORY,
    MEM_OPATH,
    MEM_SOCKET,
    MEM_PAST_END,
    BAD_MEMS
};

static const char *const bad_mem_names[BAD_MEMS] = { "a directory fd", "an O_PATH fd", "a socket",
                                                     "an offset past the memfd's end" };

/* The fd (and region) of one unmappable memory table; a socket's peer end
 * goes to *other. */
static int bad_mem_fd(struct down_iso *s, enum bad_mem k, struct vu_mem_region *region, int *other)
{
    int sv[2];

    *region = dma_region(&s->g.arena);
    switch (k) {
    case MEM_DIRECTORY:
        return bad_fd(&s->t, BAD_DIRECTORY);
    case MEM_OPATH:
        return bad_fd(&s->t, BAD_OPATH);
    case MEM_SOCKET:
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            iso_fail(&s->t, "socketpair: %s", strerror(errno));
        *other = sv[1];
        return sv[0];
    default:
        region->mmap_offset = 2 * s->g.arena.size; /* the memfd is size bytes long */
        return fcntl(s->g.arena.fd, F_DUPFD_CLOEXEC, 3);
    }
}

/* Down-conversion maps the memory table for its control queue: one it
 * cannot map is refused, and never reaches the back-end as a success. */
static void item8b_unmappable_mem_table(void **state)
{
    struct down_iso *s = begin(state);

    cs_init(&s->cs, &s->t, &s->t.attacker, CS_DOWN);
    cs_down_negotiate(&s->cs, CS_CTRL_FEATURES);
    cs_guest_init(&s->t, &s->g, CTRL_QUEUE_SIZE);
    for (int k = 0; k < BAD_MEMS; k++) {
        struct vu_mem_region region;
        int other = -1, fd = bad_mem_fd(s, (enum bad_mem)k, &region, &other);
        uint64_t ack;

        s->cs.be_seen = 0;
        ack = cs_mem_region(&s->cs, &region, fd);
        close(fd);
        iso_close(&other);
        if (ack == 0 || (s->cs.be_seen & (UINT64_C(1) << VU_REQ_SET_MEM_TABLE)))
            iso_fail(&s->t, "item 8b: a memory table with %s: ack %" PRIu64 "%s", bad_mem_names[k],
                     ack,
                     (s->cs.be_seen & (UINT64_C(1) << VU_REQ_SET_MEM_TABLE))
                         ? ", forwarded to the back-end"
                         : "");
    }
    /* the session goes on: a good table, the control queue runs */
    cs_mem_table(&s->cs, &s->g);
    cs_ctrl_layout(&s->cs, &s->g, s->g.kick, s->g.call);
    cs_fe_status(&s->cs, CS_ST_DRIVER_OK);
    ctrl_command_ok(s);
    iso_victim_check(&s->t, "item 8b");
    iso_expect_alive(&s->t);
    attacker_leaves(s);
}

/* Item 5 in down-conversion: the shim's own sequence (FEATURES_OK becomes
 * SET_FEATURES and a GET_FEATURES barrier toward the legacy back-end) meets
 * a back-end that never answers. The front-end is not read while the shim
 * waits, so only reply-timeout= can end it: the session ends, the log names
 * the request, the victim never notices. */
static void item5_down_silent_backend(void **state)
{
    struct down_iso *s = begin_with(state, "reply-timeout=500ms");
    struct vu_msg m;

    cs_init(&s->cs, &s->t, &s->t.attacker, CS_DOWN);
    cs_negotiate(&s->cs, CS_VDPA_PF);
    cs_fe_status(&s->cs, CS_ST_DRIVER);
    cs_ok(&s->cs, VU_REQ_SET_FEATURES,
          cs_u64(&s->cs, VU_REQ_SET_FEATURES, CS_NEED, CS_CTRL_FEATURES, -1));
    /* FEATURES_OK: the shim now asks the back-end, which stays silent */
    vu_msg_init(&m, VU_REQ_SET_STATUS, CS_NEED);
    vu_msg_set_u64(&m, CS_ST_FEATURES_OK);
    iso_send_msg(&s->t, s->t.attacker.fe, &m);
    attacker_dropped(s, "item 5 (down): a silent back-end");
    if (!iso_wait_log_line(&s->t, "did not answer", "reply-timeout=", ISO_TIMEOUT_MS))
        iso_fail(&s->t, "item 5 (down): no log line naming the unanswered request");
    iso_victim_check(&s->t, "item 5 (down)");
    iso_expect_alive(&s->t);
    iso_expect_fds(&s->t, s->t.fds_base, "after the attacker's session");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(item1_bad_kick_at_start, end),
        cmocka_unit_test_teardown(item1_bad_rekick_running, end),
        cmocka_unit_test_teardown(item2_config_call_full_pipe, end),
        cmocka_unit_test_teardown(item2_config_call_saturated, end),
        cmocka_unit_test_teardown(item2_ctrl_call_full_pipe, end),
        cmocka_unit_test_teardown(item2_ctrl_kick_race, end),
        cmocka_unit_test_teardown(item2_up_config_call_race, end),
        cmocka_unit_test_teardown(item4_ctrl_queue_never_empty, end),
        cmocka_unit_test_teardown(item5_down_silent_backend, end),
        cmocka_unit_test_teardown(item8b_unmappable_mem_table, end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
