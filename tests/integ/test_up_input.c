/* SPDX-License-Identifier: MIT */
/*
 * Up-conversion of virtio-input: a scripted legacy front-end that speaks as
 * QEMU 7.2's vhost-user-input does, the real vdpa-shim binary, and either
 * the real reference back-end ($BUILD/vdpa-backend --type input) or a
 * scripted vdpa-user back-end.
 *
 * QEMU passes every guest write of select or subsel on at once as
 * SET_CONFIG offset 0 size 136 flags 0 with NEED_REPLY: its whole copy of
 * the config space (the last GET_CONFIG with the guest's byte applied),
 * before SET_FEATURES (its vhost device starts only at DRIVER_OK). The shim
 * narrows each to the bytes a driver may write then (select and subsel),
 * drops the read-only bytes that keep their value and refuses a write that
 * would change one, naming the byte (docs/vdpa-user.md SET_CONFIG).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "scripted.h"
#include "virtio.h"
#include "testutil.h"

#define NEED       VU_FLAG_NEED_REPLY
#define INPUT_CFG  136 /* struct virtio_input_config */
#define CFG_SIZE   2   /* its size byte */
#define CFG_U      8   /* its union */
#define SEL_LEN    2   /* select and subsel */
#define ID_NAME    1   /* VIRTIO_INPUT_CFG_ID_NAME */
#define ID_SERIAL  2   /* VIRTIO_INPUT_CFG_ID_SERIAL */
#define EINVAL_ACK 22
#define KEYBOARD   "up-input test keyboard"
#define SERIAL     "up-input-7"
/* What QEMU 7.2 acks of the shim's offer (VHOST_USER_PROTOCOL_FEATURE_MASK
 * less what the test does not serve: BACKEND_REQ, INFLIGHT_SHMFD, ...). */
#define QEMU_PF                                                                                    \
    (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG) |                           \
     VU_BIT(VU_PF_RESET_DEVICE) | VU_BIT(VU_PF_STATUS))
#define BE_PF                                                                                      \
    (VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG) |      \
     VU_BIT(VU_PF_STATUS))
#define F_V1           (UINT64_C(1) << 32)
#define F_PF           (UINT64_C(1) << 30)
#define INPUT_ID       18
#define INPUT_QUEUES   2
#define RING_MAX       256
#define RING_NUM       64
#define RING_REGION    (1u << 20)
#define RING_UVA       UINT64_C(0x7f0000000000)
#define RING_AVAIL     0x400 /* after 64 descriptors of 16 bytes */
#define RING_USED      0x1000
#define RING_USED_IDX  7
#define ST_NEGOTIATING (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)
#define ST_FEATURES_OK (ST_NEGOTIATING | VIRTIO_STATUS_FEATURES_OK)
#define ST_DRIVER_OK   (ST_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)

/* ---- the shim and the real back-end ------------------------------------------- */

struct ctx {
    char dir[64], be_sock[128], fe_sock[128], trace[128], shim_log[128], be_log[128];
    pid_t shim, be;
    int fe;
};

static pid_t spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0)
            dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static bool wait_path(const char *path)
{
    struct stat st;

    for (int waited = 0; waited < SCRIPT_TIMEOUT_MS; waited += 10) {
        if (stat(path, &st) == 0)
            return true;
        usleep(10000);
    }
    return false;
}

static void dump(const struct ctx *c)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd),
             "echo '--- shim log:'; tail -n 30 %s; echo '--- trace:'; tail -n 30 %s; "
             "echo '--- vdpa-backend log:'; tail -n 20 %s",
             c->shim_log, c->trace, c->be_log);
    if (system(cmd) < 0)
        perror("system");
}

/* The reference back-end serving input, the shim in front of it, and the
 * scripted front-end connected. */
static void start_chain(struct ctx *c)
{
    char be_prog[256], shim_prog[256], dev[512];

    snprintf(c->dir, sizeof(c->dir), "/tmp/up-input.XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    snprintf(c->be_sock, sizeof(c->be_sock), "%s/be.sock", c->dir);
    snprintf(c->fe_sock, sizeof(c->fe_sock), "%s/fe.sock", c->dir);
    snprintf(c->trace, sizeof(c->trace), "%s/trace.txt", c->dir);
    snprintf(c->shim_log, sizeof(c->shim_log), "%s/shim.log", c->dir);
    snprintf(c->be_log, sizeof(c->be_log), "%s/be.log", c->dir);
    snprintf(be_prog, sizeof(be_prog), "%s/vdpa-backend", scripted_build_dir());
    snprintf(shim_prog, sizeof(shim_prog), "%s/vdpa-shim", scripted_build_dir());
    snprintf(dev, sizeof(dev), "type=input,frontend=%s,backend=%s", c->fe_sock, c->be_sock);
    char *be_argv[] = { be_prog, "--socket",     c->be_sock, "--type",
                        "input", "--input-name", KEYBOARD,   "--input-serial",
                        SERIAL,  "--log-level",  "debug",    NULL };
    char *shim_argv[] = { shim_prog, "--device",    dev,     "--trace",
                          c->trace,  "--log-level", "debug", NULL };
    c->be = spawn(be_argv, c->be_log);
    if (!wait_path(c->be_sock)) {
        dump(c);
        fail_msg("vdpa-backend did not create its socket");
    }
    c->shim = spawn(shim_argv, c->shim_log);
    if (!wait_path(c->fe_sock)) {
        dump(c);
        fail_msg("vdpa-shim did not create its socket");
    }
    c->fe = vu_connect_unix(c->fe_sock);
    assert_true(c->fe >= 0);
}

static int stop_pid(pid_t pid)
{
    int status = -1;

    if (pid <= 0)
        return -1;
    kill(pid, SIGTERM);
    for (int waited = 0; waitpid(pid, &status, WNOHANG) == 0; waited += 10) {
        if (waited >= SCRIPT_STOP_MS) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return -1;
        }
        usleep(10000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Stops both programs (also after a failed test: the teardown) and
 * removes the directory. 0, or -1 when either did not exit cleanly or left
 * a sanitizer report. */
static int stop_chain(struct ctx *c)
{
    char cmd[512];
    int shim_rc, be_rc, rc = 0;

    fd_close(&c->fe);
    shim_rc = stop_pid(c->shim);
    be_rc = stop_pid(c->be);
    c->shim = c->be = 0;
    snprintf(cmd, sizeof(cmd), "grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' %s %s",
             c->shim_log, c->be_log);
    if (getenv("UP_INPUT_DUMP"))
        dump(c); /* to read the conversation of a passing test */
    if (system(cmd) == 0 || shim_rc != 0 || be_rc != 0) {
        dump(c);
        fprintf(stderr, "exit status shim %d, vdpa-backend %d, or a sanitizer report\n", shim_rc,
                be_rc);
        rc = -1;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", c->dir);
    if (c->dir[0] && system(cmd) < 0)
        perror("system");
    c->dir[0] = '\0';
    return rc;
}

/* ---- the front-end, as QEMU 7.2's vhost-user-input ----------------------------- */

static uint64_t fe_get_u64(int fe, uint32_t req)
{
    struct vu_msg m;

    assert_int_equal(send_empty(fe, req, 0), 0);
    assert_int_equal(expect_msg(fe, req, &m), 0);
    assert_int_equal(m.hdr.size, sizeof(uint64_t));
    return m.payload.u64;
}

/* vhost_user_backend_init, then vhost_dev_init's SET_OWNER and GET_FEATURES.
 * SET_PROTOCOL_FEATURES goes without NEED_REPLY, as QEMU sends it. */
static void qemu_init(int fe)
{
    uint64_t pf;

    assert_true(fe_get_u64(fe, VU_REQ_GET_FEATURES) & F_PF);
    pf = fe_get_u64(fe, VU_REQ_GET_PROTOCOL_FEATURES);
    assert_true(pf & VU_BIT(VU_PF_CONFIG)); /* QEMU's input reads config from the back-end */
    assert_int_equal(send_u64_req(fe, VU_REQ_SET_PROTOCOL_FEATURES, 0, pf & QEMU_PF, -1), 0);
    assert_int_equal(fe_get_u64(fe, VU_REQ_GET_QUEUE_NUM), INPUT_QUEUES);
    assert_int_equal(send_empty(fe, VU_REQ_SET_OWNER, 0), 0);
    assert_true(fe_get_u64(fe, VU_REQ_GET_FEATURES) & F_V1);
}

/* vhost_input_set_config: the whole structure at offset 0, NEED_REPLY.
 * Returns the ack. */
static uint64_t fe_set_config(int fe, const uint8_t *cfg)
{
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_SET_CONFIG, NEED);
    vu_msg_set_config(&m, 0, INPUT_CFG, 0, cfg);
    assert_int_equal(vu_send_blocking(fe, &m), 0);
    assert_int_equal(expect_msg(fe, VU_REQ_SET_CONFIG, &m), 0);
    assert_int_equal(m.hdr.size, sizeof(uint64_t));
    return m.payload.u64;
}

/* vhost_input_get_config: the whole structure; QEMU's copy becomes it. */
static void fe_get_config(int fe, uint8_t *cfg)
{
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, 0, INPUT_CFG, 0, NULL);
    assert_int_equal(vu_send_blocking(fe, &m), 0);
    assert_int_equal(expect_msg(fe, VU_REQ_GET_CONFIG, &m), 0);
    assert_true(m.hdr.size > 0);
    assert_int_equal(m.payload.config.size, INPUT_CFG);
    memcpy(cfg, m.payload.config.data, INPUT_CFG);
}

/* Linux's virtinput_cfg_select() through QEMU: a byte write of select, one
 * of subsel (each passed on with QEMU's whole copy), then a read. Returns
 * the size byte; `view` is QEMU's copy throughout. */
static uint8_t qemu_select(int fe, uint8_t *view, uint8_t select, uint8_t subsel)
{
    view[0] = select;
    assert_int_equal(fe_set_config(fe, view), 0);
    view[1] = subsel;
    assert_int_equal(fe_set_config(fe, view), 0);
    fe_get_config(fe, view);
    assert_int_equal(view[0], select);
    assert_int_equal(view[1], subsel);
    return view[CFG_SIZE];
}

/* =================================== Tests =================================== */

/* QEMU's exact probe before SET_FEATURES returns the back-end's name and
 * serial through the up-converter; a write that would change a read-only
 * byte is refused with the byte named, and changes nothing. */
static void test_qemu_probe_before_features(void **state)
{
    struct ctx *c = *state;
    uint8_t view[INPUT_CFG] = { 0 }, bad[INPUT_CFG];

    start_chain(c);
    qemu_init(c->fe);

    assert_int_equal(qemu_select(c->fe, view, ID_NAME, 0), strlen(KEYBOARD));
    assert_memory_equal(view + CFG_U, KEYBOARD, strlen(KEYBOARD));
    assert_int_equal(qemu_select(c->fe, view, ID_SERIAL, 0), strlen(SERIAL));
    assert_memory_equal(view + CFG_U, SERIAL, strlen(SERIAL));

    /* size (byte 2) changed: neither what it reads nor what was written */
    memcpy(bad, view, sizeof(bad));
    bad[0] = ID_NAME;
    bad[CFG_SIZE] = 0x55;
    assert_int_equal(fe_set_config(c->fe, bad), EINVAL_ACK);
    fe_get_config(c->fe, view);
    assert_int_equal(view[0], ID_SERIAL); /* the select was not applied */
    assert_true(scripted_file_contains(c->shim_log, "byte 2 (size) is not driver-writable"));
    assert_true(scripted_file_contains(c->trace, "byte 2 (size)"));
    /* what went to the back-end: the writable bytes alone */
    assert_true(scripted_file_contains(c->trace, "the writable bytes [0, 2) of [0, 136)"));
    assert_false(scripted_file_contains(c->shim_log, "refused SET_CONFIG"));
    assert_int_equal(stop_chain(c), 0);
}

/* The same probe once the device runs its features (FEATURES_OK): the
 * narrowing still applies, and the selection reads fresh each time. */
static void test_qemu_probe_after_features(void **state)
{
    struct ctx *c = *state;
    uint8_t view[INPUT_CFG] = { 0 };

    start_chain(c);
    qemu_init(c->fe);
    assert_int_equal(send_u64_req(c->fe, VU_REQ_SET_FEATURES, NEED, F_V1 | F_PF, -1), 0);
    struct vu_msg m;
    assert_int_equal(expect_msg(c->fe, VU_REQ_SET_FEATURES, &m), 0);
    assert_int_equal(m.payload.u64, 0);
    assert_int_equal(qemu_select(c->fe, view, ID_SERIAL, 0), strlen(SERIAL));
    assert_memory_equal(view + CFG_U, SERIAL, strlen(SERIAL));
    assert_int_equal(qemu_select(c->fe, view, ID_NAME, 1), 0); /* (ID_NAME, 1): nothing */
    assert_int_equal(qemu_select(c->fe, view, ID_NAME, 0), strlen(KEYBOARD));
    assert_memory_equal(view + CFG_U, KEYBOARD, strlen(KEYBOARD));
    assert_int_equal(stop_chain(c), 0);
}

/* ---- a scripted vdpa-user back-end: what exactly it receives ------------------- */

static void be_answer(struct scripted *s, uint32_t req, uint64_t value)
{
    struct vu_msg m;

    assert_int_equal(expect_msg(s->be, req, &m), 0);
    vu_msg_close_fds(&m);
    assert_int_equal(reply_u64(s->be, req, value), 0);
}

static int send_state_reply(int fd, uint32_t req, uint32_t index, uint32_t num)
{
    struct vu_msg m;

    vu_msg_init(&m, req, VU_FLAG_REPLY);
    vu_msg_set_state(&m, index, num);
    return vu_send_blocking(fd, &m);
}

static void be_config_reply(struct scripted *s, const uint8_t *cfg)
{
    struct vu_msg m;

    assert_int_equal(expect_msg(s->be, VU_REQ_GET_CONFIG, &m), 0);
    assert_int_equal(m.payload.config.offset, 0);
    assert_int_equal(m.payload.config.size, INPUT_CFG);
    vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
    vu_msg_set_config(&m, 0, INPUT_CFG, 0, cfg);
    assert_int_equal(vu_send_blocking(s->be, &m), 0);
}

/* The set-up up to the cached config space (select 0: all zero). */
static void scripted_setup(struct scripted *s)
{
    static const uint8_t zero[INPUT_CFG];
    struct vu_msg m;

    assert_int_equal(send_empty(s->fe, VU_REQ_GET_FEATURES, 0), 0);
    be_answer(s, VU_REQ_GET_FEATURES, F_V1 | F_PF);
    assert_int_equal(expect_msg(s->fe, VU_REQ_GET_FEATURES, &m), 0);
    assert_int_equal(send_empty(s->fe, VU_REQ_GET_PROTOCOL_FEATURES, 0), 0);
    be_answer(s, VU_REQ_GET_PROTOCOL_FEATURES, BE_PF);
    assert_int_equal(expect_msg(s->fe, VU_REQ_GET_PROTOCOL_FEATURES, &m), 0);
    assert_int_equal(send_u64_req(s->fe, VU_REQ_SET_PROTOCOL_FEATURES, 0, QEMU_PF, -1), 0);
    be_answer(s, VU_REQ_SET_PROTOCOL_FEATURES, 0);
    be_answer(s, VU_REQ_VDPA_GET_DEVICE_ID, INPUT_ID);
    be_answer(s, VU_REQ_VDPA_GET_VQS_COUNT, INPUT_QUEUES);
    be_answer(s, VU_REQ_VDPA_GET_VRING_NUM, RING_MAX);
    be_answer(s, VU_REQ_SET_STATUS, 0);
    be_answer(s, VU_REQ_SET_STATUS, 0);
    be_answer(s, VU_REQ_VDPA_SET_CONFIG_CALL, 0);
    be_answer(s, VU_REQ_VDPA_GET_CONFIG_SIZE, INPUT_CFG);
    be_config_reply(s, zero);
}

/* One write of QEMU's: the back-end sees SET_CONFIG [0, 2) alone, then the
 * shim's fresh read; the front-end's ack comes after both. */
static void scripted_write(struct scripted *s, const uint8_t *fe_cfg, const uint8_t *be_after)
{
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_SET_CONFIG, NEED);
    vu_msg_set_config(&m, 0, INPUT_CFG, 0, fe_cfg);
    assert_int_equal(vu_send_blocking(s->fe, &m), 0);
    assert_int_equal(expect_msg(s->be, VU_REQ_SET_CONFIG, &m), 0);
    assert_true(m.hdr.flags & NEED);
    assert_int_equal(m.payload.config.offset, 0);
    assert_int_equal(m.payload.config.size, SEL_LEN);
    assert_int_equal(m.payload.config.flags, 0);
    assert_memory_equal(m.payload.config.data, fe_cfg, SEL_LEN);
    assert_true(quiet_for(s->fe, 50)); /* no ack before the back-end's */
    assert_int_equal(reply_u64(s->be, VU_REQ_SET_CONFIG, 0), 0);
    be_config_reply(s, be_after);
    assert_int_equal(expect_msg(s->fe, VU_REQ_SET_CONFIG, &m), 0);
    assert_int_equal(m.payload.u64, 0);
}

static void test_scripted_narrowing(void **state)
{
    struct scripted *s = *state;
    uint8_t fe_cfg[INPUT_CFG] = { ID_NAME }, named[INPUT_CFG] = { ID_NAME, 0, 4 };
    struct vu_msg m;

    assert_int_equal(scripted_start(s, "input", NULL), 0);
    assert_int_equal(scripted_connect(s), 0);
    scripted_setup(s);
    memcpy(named + CFG_U, "kbd0", 4);
    /* select: the rest is QEMU's zeroed copy, what the config read */
    scripted_write(s, fe_cfg, named);
    /* subsel: the rest is still QEMU's old copy, no longer what it reads
     * but what it wrote: dropped all the same */
    scripted_write(s, fe_cfg, named);
    /* a read-only byte that is neither: refused by the shim, nothing sent */
    fe_cfg[CFG_U] = 'X';
    vu_msg_init(&m, VU_REQ_SET_CONFIG, NEED);
    vu_msg_set_config(&m, 0, INPUT_CFG, 0, fe_cfg);
    assert_int_equal(vu_send_blocking(s->fe, &m), 0);
    assert_int_equal(expect_msg(s->fe, VU_REQ_SET_CONFIG, &m), 0);
    assert_int_equal(m.payload.u64, EINVAL_ACK);
    assert_true(quiet_for(s->be, 50));
    assert_true(scripted_file_contains(s->log_path, "byte 8 (u) is not driver-writable"));
    /* the back-end refuses: the front-end's ack carries it */
    fe_cfg[CFG_U] = 0;
    fe_cfg[0] = ID_SERIAL;
    vu_msg_init(&m, VU_REQ_SET_CONFIG, NEED);
    vu_msg_set_config(&m, 0, INPUT_CFG, 0, fe_cfg);
    assert_int_equal(vu_send_blocking(s->fe, &m), 0);
    assert_int_equal(expect_msg(s->be, VU_REQ_SET_CONFIG, &m), 0);
    assert_int_equal(m.payload.config.size, SEL_LEN);
    assert_int_equal(reply_u64(s->be, VU_REQ_SET_CONFIG, EINVAL_ACK), 0);
    assert_int_equal(expect_msg(s->fe, VU_REQ_SET_CONFIG, &m), 0);
    assert_int_equal(m.payload.u64, EINVAL_ACK);
    assert_int_equal(scripted_stop(s), 0);
}

/* A front-end request with NEED_REPLY whose ack the shim gives. */
static void fe_expect_ack(struct scripted *s, uint32_t req, uint64_t value)
{
    struct vu_msg m;

    assert_int_equal(expect_msg(s->fe, req, &m), 0);
    assert_int_equal(m.payload.u64, value);
}

/* SET_FEATURES, memory, ring 0 laid out and enabled: the device runs. */
static void scripted_start_ring(struct scripted *s, int memfd, int kick)
{
    struct vu_mem_region region = { 0x0, RING_REGION, RING_UVA, 0 };
    struct vu_vring_addr addr = { 0, 0, RING_UVA, RING_UVA + RING_USED, RING_UVA + RING_AVAIL, 0 };
    struct vu_msg m;

    assert_int_equal(send_u64_req(s->fe, VU_REQ_SET_FEATURES, NEED, F_V1 | F_PF, -1), 0);
    be_answer(s, VU_REQ_SET_FEATURES, 0);
    be_answer(s, VU_REQ_SET_STATUS, 0);
    be_answer(s, VU_REQ_GET_STATUS, ST_FEATURES_OK);
    fe_expect_ack(s, VU_REQ_SET_FEATURES, 0);
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, NEED);
    vu_msg_set_mem_table(&m, &region, 1);
    assert_int_equal(scripted_add_dup(&m, memfd), 0);
    assert_int_equal(vu_send_blocking(s->fe, &m), 0);
    be_answer(s, VU_REQ_SET_MEM_TABLE, 0);
    fe_expect_ack(s, VU_REQ_SET_MEM_TABLE, 0);
    assert_int_equal(send_u64_req(s->fe, VU_REQ_SET_VRING_KICK, NEED, 0, kick), 0);
    be_answer(s, VU_REQ_SET_VRING_KICK, 0);
    fe_expect_ack(s, VU_REQ_SET_VRING_KICK, 0);
    assert_int_equal(send_state_req(s->fe, VU_REQ_SET_VRING_NUM, 0, 0, RING_NUM), 0);
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, 0);
    vu_msg_set_addr(&m, &addr);
    assert_int_equal(vu_send_blocking(s->fe, &m), 0);
    assert_int_equal(send_state_req(s->fe, VU_REQ_SET_VRING_BASE, 0, 0, 0), 0);
    assert_int_equal(send_state_req(s->fe, VU_REQ_SET_VRING_ENABLE, NEED, 0, 1), 0);
    be_answer(s, VU_REQ_SET_VRING_NUM, 0);
    be_answer(s, VU_REQ_SET_VRING_ADDR, 0);
    be_answer(s, VU_REQ_SET_VRING_BASE, 0);
    be_answer(s, VU_REQ_SET_VRING_ENABLE, 0);
    be_answer(s, VU_REQ_SET_STATUS, 0);
    be_answer(s, VU_REQ_GET_STATUS, ST_DRIVER_OK);
    fe_expect_ack(s, VU_REQ_SET_VRING_ENABLE, 0);
}

/* A guest reboot: QEMU stops its vhost device (GET_VRING_BASE: the shim
 * suspends the back-end, which then refuses driver writes), and the guest
 * probes again. The shim resets the back-end to ACKNOWLEDGE|DRIVER, where
 * select and subsel are writable; the next start replays everything. */
static void test_scripted_probe_while_stopped(void **state)
{
    struct scripted *s = *state;
    uint8_t fe_cfg[INPUT_CFG] = { ID_SERIAL },
            after[INPUT_CFG] = { ID_SERIAL, 0, 1, 0, 0, 0, 0, 0, 'x' };
    int memfd = memfd_create("guest", MFD_CLOEXEC), kick = eventfd(0, EFD_CLOEXEC);
    struct vu_msg m;

    assert_true(memfd >= 0 && kick >= 0);
    assert_int_equal(ftruncate(memfd, RING_REGION), 0);
    assert_int_equal(scripted_start(s, "input", NULL), 0);
    assert_int_equal(scripted_connect(s), 0);
    scripted_setup(s);
    scripted_start_ring(s, memfd, kick);
    assert_int_equal(send_state_req(s->fe, VU_REQ_GET_VRING_BASE, 0, 0, 0), 0);
    be_answer(s, VU_REQ_VDPA_SUSPEND, 0);
    assert_int_equal(expect_msg(s->be, VU_REQ_GET_VRING_BASE, &m), 0);
    assert_int_equal(send_state_reply(s->be, VU_REQ_GET_VRING_BASE, 0, RING_USED_IDX), 0);
    assert_int_equal(expect_msg(s->fe, VU_REQ_GET_VRING_BASE, &m), 0);
    assert_int_equal(m.payload.state.num, RING_USED_IDX);

    vu_msg_init(&m, VU_REQ_SET_CONFIG, NEED);
    vu_msg_set_config(&m, 0, INPUT_CFG, 0, fe_cfg);
    assert_int_equal(vu_send_blocking(s->fe, &m), 0);
    assert_int_equal(expect_msg(s->be, VU_REQ_SET_STATUS, &m), 0);
    assert_int_equal(m.payload.u64, 0);
    assert_int_equal(reply_u64(s->be, VU_REQ_SET_STATUS, 0), 0);
    assert_int_equal(expect_msg(s->be, VU_REQ_SET_STATUS, &m), 0);
    assert_int_equal(m.payload.u64, ST_NEGOTIATING);
    assert_int_equal(reply_u64(s->be, VU_REQ_SET_STATUS, 0), 0);
    assert_int_equal(expect_msg(s->be, VU_REQ_SET_CONFIG, &m), 0);
    assert_int_equal(m.payload.config.size, SEL_LEN);
    assert_int_equal(m.payload.config.data[0], ID_SERIAL);
    assert_int_equal(reply_u64(s->be, VU_REQ_SET_CONFIG, 0), 0);
    be_config_reply(s, after);
    fe_expect_ack(s, VU_REQ_SET_CONFIG, 0);
    close(memfd);
    close(kick);
    assert_int_equal(scripted_stop(s), 0);
}

/* Provisioning (flags 1) is not a driver write: passed on as it came. */
static void test_scripted_flags1_passes(void **state)
{
    struct scripted *s = *state;
    uint8_t cfg[INPUT_CFG] = { ID_NAME, 0, 9 };
    struct vu_msg m;

    assert_int_equal(scripted_start(s, "input", NULL), 0);
    assert_int_equal(scripted_connect(s), 0);
    scripted_setup(s);
    vu_msg_init(&m, VU_REQ_SET_CONFIG, NEED);
    vu_msg_set_config(&m, 0, INPUT_CFG, VU_CONFIG_F_MIGRATION, cfg);
    assert_int_equal(vu_send_blocking(s->fe, &m), 0);
    assert_int_equal(expect_msg(s->be, VU_REQ_SET_CONFIG, &m), 0);
    assert_int_equal(m.payload.config.size, INPUT_CFG);
    assert_int_equal(m.payload.config.flags, VU_CONFIG_F_MIGRATION);
    assert_int_equal(reply_u64(s->be, VU_REQ_SET_CONFIG, EINVAL_ACK), 0);
    assert_int_equal(expect_msg(s->fe, VU_REQ_SET_CONFIG, &m), 0);
    assert_int_equal(m.payload.u64, EINVAL_ACK);
    assert_int_equal(scripted_stop(s), 0);
}

static struct ctx chain;
static struct scripted storage;

static int chain_setup(void **state)
{
    memset(&chain, 0, sizeof(chain));
    chain.fe = -1;
    *state = &chain;
    return 0;
}

/* After a failed test too: no program outlives it. */
static int chain_teardown(void **state)
{
    struct ctx *c = *state;

    if (c->shim || c->be || c->dir[0])
        (void)stop_chain(c);
    return 0;
}

static int setup(void **state)
{
    memset(&storage, 0, sizeof(storage));
    storage.fe = storage.be = storage.be_listen = -1;
    *state = &storage;
    return 0;
}

static int teardown(void **state)
{
    struct scripted *s = *state;

    if (s->shim)
        (void)scripted_stop(s);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_qemu_probe_before_features, chain_setup,
                                        chain_teardown),
        cmocka_unit_test_setup_teardown(test_qemu_probe_after_features, chain_setup,
                                        chain_teardown),
        cmocka_unit_test_setup_teardown(test_scripted_narrowing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scripted_probe_while_stopped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scripted_flags1_passes, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
