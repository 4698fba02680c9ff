/* SPDX-License-Identifier: MIT */
/*
 * The reference vdpa-user back-end's virtio-input and virtio-rng devices
 * (peers/vdpa-backend/input.c, rng.c), driven by a scripted vdpa-user
 * front-end with the helpers of test_vdpa_backend.c (backend_script.h): the
 * real program ($BUILD/vdpa-backend) on a temporary socket, memfd guest
 * memory, rings driven with the driver side of lib/virtio.
 */
#include <linux/input-event-codes.h>
#include <linux/virtio_input.h>

#include "backend_script.h"

#define ARENA_SIZE (4u << 20)
#define FEATURES   VU_BIT(VIRTIO_F_VERSION_1)
#define ST_ACK_DRV 0x03
#define ST_FEAT_OK 0x0B
#define ST_DRV_OK  0x0F
#define INPUT_CFG  136                              /* sizeof(struct virtio_input_config) */
#define INPUT_U    8                                /* offsetof(struct virtio_input_config, u) */
#define CFG_REPLY  (VU_CONFIG_HDR_SIZE + INPUT_CFG) /* get_config's size of all of it */
#define EVENT_SIZE 8                                /* sizeof(struct virtio_input_event) */
#define KEYBOARD   "integ keyboard"
#define SERIAL     "SN-42"
#define RNG_BIG    4096u
#define RNG_SMALL  16u
#define EBUSY_ACK  16
#define EINVAL_ACK 22
#define MAX_EXTRA  16 /* start_backend's arguments after the type */

/* ---- the back-end process ------------------------------------------------------ */

/* Starts the back-end: --type TYPE --stats S, then the NULL-terminated
 * args; connects to it. */
static void start_backend(struct ctx *c, const char *type, ...)
{
    char *extra[MAX_EXTRA + 3] = { "--stats", c->stats_path };
    unsigned n = 2;
    va_list ap;

    va_start(ap, type);
    for (char *a = va_arg(ap, char *); a && n < MAX_EXTRA + 2; a = va_arg(ap, char *))
        extra[n++] = a;
    va_end(ap);
    extra[n] = NULL;
    spawn_backend(c, type, extra);
    connect_fe(c);
}

/* The exit status of `vdpa-backend ARGS` that must refuse its options. */
static int run_refused(const char *type, const char *opt, const char *value)
{
    char prog[256];
    int status = 0;
    pid_t pid;

    snprintf(prog, sizeof(prog), "%s/vdpa-backend", build_dir());
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0)
            dup2(null, 2);
        execl(prog, prog, "--socket", "/nonexistent/be.sock", "--type", type, opt, value,
              (char *)NULL);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A counter from the statistics file (after stop_backend). */
static unsigned long long stat_of(const struct ctx *c, const char *name)
{
    char line[128], key[64];
    unsigned long long v, found = ~0ull;
    FILE *f = fopen(c->stats_path, "re");

    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "%63s %llu", key, &v) == 2 && strcmp(key, name) == 0)
            found = v;
    fclose(f);
    if (found == ~0ull)
        fail_msg("no %s in the statistics", name);
    return found;
}

static int setup(void **state)
{
    return backend_setup(state, "vdpa-backend-types", ARENA_SIZE);
}

/* ---- bring-up ------------------------------------------------------------------------ */

/* Negotiation, then status ACKNOWLEDGE|DRIVER. */
static void negotiate(struct ctx *c)
{
    struct vu_msg m;

    assert_true(vu_has_bit(get_u64(c, VU_REQ_GET_FEATURES), VIRTIO_F_VERSION_1));
    vu_msg_init(&m, VU_REQ_SET_PROTOCOL_FEATURES, 0);
    vu_msg_set_u64(&m, PF_VDPA_SET);
    assert_int_equal(ack_msg(c, &m), 0);
    vu_msg_init(&m, VU_REQ_SET_OWNER, 0);
    assert_int_equal(ack_msg(c, &m), 0);
    assert_int_equal(set_status(c, 0), 0);
    assert_int_equal(set_status(c, ST_ACK_DRV), 0);
}

static void features_ok(struct ctx *c)
{
    assert_int_equal(ack_u64(c, VU_REQ_SET_FEATURES, FEATURES, -1), 0);
    assert_int_equal(set_status(c, ST_FEAT_OK), 0);
    assert_int_equal(get_status(c), ST_FEAT_OK);
}

/* Memory, `nrings` rings enabled, DRIVER_OK. */
static void start_rings(struct ctx *c, unsigned nrings)
{
    send_mem_table(c);
    c->nrings = nrings;
    for (unsigned i = 0; i < nrings; i++) {
        lay_out_ring(c, i, RING_SIZE);
        c->kick[i] = new_eventfd();
        c->call[i] = new_eventfd();
        assert_int_equal(ack_u64(c, VU_REQ_SET_VRING_KICK, i, c->kick[i]), 0);
        assert_int_equal(ack_u64(c, VU_REQ_SET_VRING_CALL, i, c->call[i]), 0);
        assert_int_equal(ack_state(c, VU_REQ_SET_VRING_ENABLE, i, 1), 0);
    }
    assert_int_equal(set_status(c, ST_DRV_OK), 0);
    assert_int_equal(get_status(c), ST_DRV_OK);
}

static void bring_up(struct ctx *c, unsigned nrings)
{
    negotiate(c);
    features_ok(c);
    start_rings(c, nrings);
}

/* Posts `count` buffers of `size` bytes on ring i, writable or readable. */
static void post(struct ctx *c, unsigned i, unsigned count, uint32_t size, bool writable)
{
    for (unsigned k = 0; k < count; k++) {
        uint8_t *buf = dma_alloc(&c->mem, size, 16);
        struct vq_buf b;
        assert_non_null(buf);
        memset(buf, 0, size);
        b = (struct vq_buf){ dma_gpa(&c->mem, buf), size, writable };
        assert_int_equal(vq_driver_add(&c->vq[i], &b, 1, buf), 0);
    }
    vq_driver_kick(c->kick[i]);
}

/* One used buffer of ring i within `ms`: its token (the buffer) and length. */
static bool used_within(struct ctx *c, unsigned i, uint8_t **buf, uint32_t *len, int ms)
{
    for (int waited = 0;; waited += 10) {
        void *token;
        int rc = vq_driver_get_used(&c->vq[i], &token, len);
        assert_true(rc >= 0);
        if (rc == 1) {
            *buf = token;
            return true;
        }
        if (waited >= ms)
            return false;
        usleep(10000);
    }
}

/* The next event on the event queue: type, code and value. */
static void expect_event(struct ctx *c, uint16_t type, uint16_t code, uint32_t value)
{
    uint8_t *b = NULL;
    uint32_t len;
    uint16_t t, k;
    uint32_t v;

    if (!used_within(c, 0, &b, &len, TIMEOUT_MS)) {
        dump_log(c);
        fail_msg("no event (wanted type %u code %u value %u)", type, code, value);
    }
    assert_int_equal(len, EVENT_SIZE);
    t = (uint16_t)(b[0] | b[1] << 8);
    k = (uint16_t)(b[2] | b[3] << 8);
    v = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
    if (t != type || k != code || v != value)
        fail_msg("event type %u code %u value %u, wanted %u %u %u", t, k, v, type, code, value);
}

/* Selects (select, subsel) and reads the config space; returns `size`. */
static uint8_t select_read(struct ctx *c, uint8_t select, uint8_t subsel, uint8_t *cfg)
{
    uint8_t sel[2] = { select, subsel };

    assert_int_equal(set_config(c, 0, sizeof(sel), 0, sel), 0);
    assert_int_equal(get_config(c, 0, INPUT_CFG, cfg), CFG_REPLY);
    assert_int_equal(cfg[0], select);
    assert_int_equal(cfg[1], subsel);
    return cfg[2];
}

static bool bit_set(const uint8_t *map, unsigned bit)
{
    return map[bit / 8] & (1u << (bit % 8));
}

/* =================================== Tests =================================== */

/* 5.8.4: select/subsel written by the driver, size and the union read. */
static void test_input_config(void **state)
{
    struct ctx *c = *state;
    static const unsigned letters[] = { KEY_A, KEY_M, KEY_Q, KEY_Z };
    uint8_t cfg[INPUT_CFG], sel[2] = { VIRTIO_INPUT_CFG_ID_NAME, 0 };

    start_backend(c, "input", "--input-name", KEYBOARD, "--input-serial", SERIAL, "--inject-keys",
                  "a,240", NULL);
    negotiate(c);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_DEVICE_ID), 18);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_VQS_COUNT), 2);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_CONFIG_SIZE), INPUT_CFG);
    assert_int_equal(get_config(c, 0, INPUT_CFG, cfg), CFG_REPLY);
    assert_int_equal(cfg[0], 0);
    assert_int_equal(cfg[2], 0); /* UNSET: nothing selected */
    /* Before FEATURES_OK a driver may write select and subsel alone (the
     * early-writable fields, docs/vdpa-user.md SET_CONFIG): QEMU's
     * vhost-user-input passes the guest's probe on before SET_FEATURES. */
    assert_int_equal(set_config(c, 0, INPUT_CFG, 0, cfg), EBUSY_ACK);
    assert_int_equal(set_config(c, 2, 1, 0, cfg), EBUSY_ACK);
    assert_int_equal(set_config(c, 0, sizeof(sel), 0, sel), 0);
    assert_int_equal(get_config(c, 0, INPUT_CFG, cfg), CFG_REPLY);
    assert_int_equal(cfg[0], VIRTIO_INPUT_CFG_ID_NAME);
    assert_int_equal(cfg[2], strlen(KEYBOARD));
    features_ok(c);

    assert_int_equal(select_read(c, VIRTIO_INPUT_CFG_ID_NAME, 0, cfg), strlen(KEYBOARD));
    assert_memory_equal(cfg + INPUT_U, KEYBOARD, strlen(KEYBOARD));
    assert_int_equal(select_read(c, VIRTIO_INPUT_CFG_ID_SERIAL, 0, cfg), strlen(SERIAL));
    assert_memory_equal(cfg + INPUT_U, SERIAL, strlen(SERIAL));
    assert_int_equal(select_read(c, VIRTIO_INPUT_CFG_ID_DEVIDS, 0, cfg), 8);
    assert_int_equal(cfg[INPUT_U] | cfg[INPUT_U + 1] << 8, 0x06); /* BUS_VIRTUAL */
    /* EV_KEY: the letters and the injected key 240 (KEY_UNKNOWN). */
    assert_int_equal(select_read(c, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY, cfg), 240 / 8 + 1);
    for (unsigned i = 0; i < sizeof(letters) / sizeof(letters[0]); i++)
        assert_true(bit_set(cfg + INPUT_U, letters[i]));
    assert_true(bit_set(cfg + INPUT_U, 240));
    assert_false(bit_set(cfg + INPUT_U, KEY_ESC));
    assert_int_equal(select_read(c, VIRTIO_INPUT_CFG_EV_BITS, EV_SYN, cfg), 1);
    assert_true(bit_set(cfg + INPUT_U, SYN_REPORT));
    /* What the device does not have answers size 0. */
    assert_int_equal(select_read(c, VIRTIO_INPUT_CFG_EV_BITS, EV_REL, cfg), 0);
    assert_int_equal(select_read(c, VIRTIO_INPUT_CFG_ID_NAME, 1, cfg), 0);
    assert_int_equal(select_read(c, VIRTIO_INPUT_CFG_PROP_BITS, 0, cfg), 0);
    /* Writes that touch a read-only byte are refused as a whole. */
    memset(cfg, 0, sizeof(cfg));
    cfg[0] = VIRTIO_INPUT_CFG_ID_SERIAL;
    assert_int_equal(set_config(c, 0, INPUT_CFG, 0, cfg), EINVAL_ACK);
    assert_int_equal(set_config(c, 2, 1, 0, cfg), EINVAL_ACK);
    assert_int_equal(get_config(c, 0, INPUT_CFG, cfg), CFG_REPLY);
    assert_int_equal(cfg[0], VIRTIO_INPUT_CFG_PROP_BITS); /* unchanged */
    /* One byte at a time, as a driver's 8-bit writes. */
    sel[0] = VIRTIO_INPUT_CFG_ID_SERIAL;
    assert_int_equal(set_config(c, 0, 1, 0, sel), 0);
    assert_int_equal(get_config(c, 0, INPUT_CFG, cfg), CFG_REPLY);
    assert_int_equal(cfg[2], strlen(SERIAL));
    sel[1] = 1;
    assert_int_equal(set_config(c, 1, 1, 0, sel + 1), 0);
    assert_int_equal(get_config(c, 0, INPUT_CFG, cfg), CFG_REPLY);
    assert_int_equal(cfg[1], 1);
    assert_int_equal(cfg[2], 0); /* (ID_SERIAL, 1) is nothing */
    /* A reset puts select and subsel back to 0. */
    assert_int_equal(ack_u64(c, VU_REQ_SET_STATUS, 0, -1), 0);
    assert_int_equal(ack_u64(c, VU_REQ_SET_STATUS, ST_ACK_DRV, -1), 0);
    assert_int_equal(get_config(c, 0, INPUT_CFG, cfg), CFG_REPLY);
    assert_int_equal(cfg[0] | cfg[1] | cfg[2], 0);
    stop_backend(c);
}

/* --inject-keys: press, SYN, release, SYN per key, in order, once the
 * driver is live with buffers; an update waits for buffers for all of it. */
static void test_input_events(void **state)
{
    struct ctx *c = *state;
    uint8_t *b = NULL, status_ev[EVENT_SIZE] = { EV_LED, 0, LED_CAPSL, 0, 1, 0, 0, 0 };
    uint32_t len;

    start_backend(c, "input", "--inject-keys", "h,i", NULL);
    bring_up(c, 2);
    assert_false(used_within(c, 0, &b, &len, 200)); /* no buffers, no events */
    post(c, 0, 3, EVENT_SIZE, true);
    expect_event(c, EV_KEY, KEY_H, 1);
    expect_event(c, EV_SYN, SYN_REPORT, 0);
    /* The third buffer stays: the next update needs two. */
    assert_false(used_within(c, 0, &b, &len, 200));
    post(c, 0, 6, EVENT_SIZE, true);
    expect_event(c, EV_KEY, KEY_H, 0);
    expect_event(c, EV_SYN, SYN_REPORT, 0);
    expect_event(c, EV_KEY, KEY_I, 1);
    expect_event(c, EV_SYN, SYN_REPORT, 0);
    expect_event(c, EV_KEY, KEY_I, 0);
    expect_event(c, EV_SYN, SYN_REPORT, 0);
    assert_false(used_within(c, 0, &b, &len, 200)); /* once, without --inject-every-ms */
    /* statusq: an LED event, consumed with used length 0. */
    memcpy(b = dma_alloc(&c->mem, EVENT_SIZE, 16), status_ev, EVENT_SIZE);
    assert_int_equal(
        vq_driver_add(&c->vq[1], &(struct vq_buf){ dma_gpa(&c->mem, b), EVENT_SIZE, false }, 1, b),
        0);
    vq_driver_kick(c->kick[1]);
    assert_true(used_within(c, 1, &b, &len, TIMEOUT_MS));
    assert_int_equal(len, 0);
    stop_backend(c);
    assert_int_equal(stat_of(c, "input_events"), 8);
    assert_int_equal(stat_of(c, "input_sequences"), 1);
    assert_int_equal(stat_of(c, "input_status_events"), 1);
}

/* --inject-every-ms: the sequence comes again; a repetition is skipped
 * while the last one still waits for buffers. */
static void test_input_repeat(void **state)
{
    struct ctx *c = *state;
    uint8_t *b = NULL;
    uint32_t len;

    start_backend(c, "input", "--inject-keys", "z", "--inject-every-ms", "50", NULL);
    bring_up(c, 2);
    post(c, 0, 12, EVENT_SIZE, true);
    for (int round = 0; round < 3; round++) {
        expect_event(c, EV_KEY, KEY_Z, 1);
        expect_event(c, EV_SYN, SYN_REPORT, 0);
        expect_event(c, EV_KEY, KEY_Z, 0);
        expect_event(c, EV_SYN, SYN_REPORT, 0);
    }
    /* No buffers left: the next sequence waits, the ticks after it are
     * skipped. */
    assert_false(used_within(c, 0, &b, &len, 300));
    stop_backend(c);
    assert_true(stat_of(c, "input_sequences") >= 4);
    assert_true(stat_of(c, "input_sequences_skipped") >= 1);
    assert_int_equal(stat_of(c, "input_events"), 12);
}

/* A buffer too small for one event is a driver bug: DEVICE_NEEDS_RESET. */
static void test_input_short_buffer(void **state)
{
    struct ctx *c = *state;

    start_backend(c, "input", "--inject-keys", "a", NULL);
    bring_up(c, 2);
    post(c, 0, 2, EVENT_SIZE - 1, true);
    for (int i = 0; i < TIMEOUT_MS / 10; i++) {
        if (get_u64(c, VU_REQ_GET_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
            break;
        usleep(10000);
    }
    assert_true(get_u64(c, VU_REQ_GET_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    stop_backend(c);
}

static void test_input_options_refused(void **state)
{
    char long_name[200];

    (void)state;
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(run_refused("input", "--inject-keys", "a,,?"), 2);
    assert_int_equal(run_refused("input", "--inject-keys", "0"), 2);
    assert_int_equal(run_refused("input", "--inject-every-ms", "0"), 2);
    /* A name longer than u.string (128 bytes): the device cannot start. */
    assert_int_equal(run_refused("input", "--input-name", long_name), 1);
}

/* virtio-rng: each buffer filled with random bytes, the used length set. */
static void test_rng(void **state)
{
    struct ctx *c = *state;
    uint8_t *b = NULL, first[RNG_SMALL];
    uint32_t len;
    bool varied = false;

    start_backend(c, "rng", NULL);
    negotiate(c);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_DEVICE_ID), 4);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_VQS_COUNT), 1);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_CONFIG_SIZE), 0);
    features_ok(c);
    start_rings(c, 1);
    post(c, 0, 1, RNG_BIG, true);
    assert_true(used_within(c, 0, &b, &len, TIMEOUT_MS));
    assert_int_equal(len, RNG_BIG);
    for (unsigned i = 1; i < RNG_BIG; i++)
        varied |= b[i] != b[0];
    assert_true(varied);
    post(c, 0, 2, RNG_SMALL, true);
    assert_true(used_within(c, 0, &b, &len, TIMEOUT_MS));
    assert_int_equal(len, RNG_SMALL);
    memcpy(first, b, RNG_SMALL);
    assert_true(used_within(c, 0, &b, &len, TIMEOUT_MS));
    assert_int_equal(len, RNG_SMALL);
    assert_memory_not_equal(first, b, RNG_SMALL);
    /* A buffer the device cannot write is a driver bug. */
    post(c, 0, 1, RNG_SMALL, false);
    for (int i = 0; i < TIMEOUT_MS / 10; i++) {
        if (get_u64(c, VU_REQ_GET_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
            break;
        usleep(10000);
    }
    assert_true(get_u64(c, VU_REQ_GET_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    stop_backend(c);
    assert_int_equal(stat_of(c, "rng_requests"), 3);
    assert_int_equal(stat_of(c, "rng_bytes"), RNG_BIG + 2 * RNG_SMALL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_input_config, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_input_events, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_input_repeat, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_input_short_buffer, setup, backend_teardown),
        cmocka_unit_test(test_input_options_refused),
        cmocka_unit_test_setup_teardown(test_rng, setup, backend_teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("vdpa_backend_types", tests, NULL, NULL);
}
