/* SPDX-License-Identifier: MIT */
/*
 * virtio-input (device ID 18, VIRTIO 1.2 5.8): a keyboard.
 *
 * Config space (5.8.4): the driver writes `select` and `subsel`, then reads
 * `size` and the union `u`. What each (select, subsel) pair answers is one
 * table, input_cfg[] below; which bytes a driver may write is another,
 * input_fields[]. A pair the table does not list answers size 0 (5.8.4:
 * "if size is zero, the selected information is not available").
 *
 * What Linux reads (drivers/virtio/virtio_input.c, virtinput_probe(), as
 * of 6.1): ID_NAME, ID_SERIAL and ID_DEVIDS (subsel 0; without DEVIDS the
 * driver assumes BUS_VIRTUAL), PROP_BITS, EV_BITS for EV_REP (size only),
 * then the EV_BITS bitmaps of EV_KEY, EV_REL, EV_ABS, EV_MSC, EV_SW, EV_LED
 * and EV_SND, and ABS_INFO for each absolute axis. It never asks for
 * EV_SYN: the input core sets EV_SYN on every device it registers. We
 * answer EV_SYN (SYN_REPORT) all the same, as an evdev device would.
 *
 * Queues (5.8.2): eventq (0) carries device -> driver events, one
 * virtio_input_event per buffer; statusq (1) carries driver -> device
 * events (LEDs), which are consumed and counted.
 *
 * --inject-keys: once the driver has set DRIVER_OK and posted event
 * buffers, each key is pressed and released (EV_KEY 1, SYN_REPORT, EV_KEY
 * 0, SYN_REPORT), in order; --inject-every-ms queues the sequence again
 * every N ms (a repetition is skipped while the previous one is still
 * waiting for buffers). An update (the events up to a SYN_REPORT) is
 * delivered only when the driver has buffers for all of it: 5.8.6.1, the
 * device SHOULD NOT drop individual events of one update.
 */
#include <endian.h>
#include <errno.h>
#include <linux/input-event-codes.h>
#include <linux/virtio_input.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "fd_util.h"
#include "vdpa-backend/backend.h"

#ifndef VIRTIO_ID_INPUT
#define VIRTIO_ID_INPUT 18 /* VIRTIO 1.2 5 */
#endif
#define INPUT_EVENTQ  0
#define INPUT_STATUSQ 1
#define INPUT_NQUEUES 2
#define BUDGET        64 /* events or status buffers per loop turn */
#define MS_PER_S      1000u
#define NS_PER_MS     1000000L

/* Offsets of struct virtio_input_config (5.8.4). */
#define CFG_SELECT       0
#define CFG_SUBSEL       1
#define CFG_SIZE         2
#define CFG_RESERVED     3
#define CFG_RESERVED_LEN 5
#define CFG_U            8
#define CFG_U_SIZE       128
#define CFG_TOTAL        (CFG_U + CFG_U_SIZE)
_Static_assert(sizeof(struct virtio_input_config) == CFG_TOTAL, "virtio_input_config layout");
_Static_assert(offsetof(struct virtio_input_config, u) == CFG_U, "virtio_input_config layout");
_Static_assert(sizeof(struct virtio_input_event) == 8, "virtio_input_event layout");

/* ID_DEVIDS: BUS_VIRTUAL (linux/input.h: 0x06) and ids of our own. */
#define INPUT_BUS_VIRTUAL 0x06
#define INPUT_VENDOR      0x1af4 /* the virtio PCI vendor */
#define INPUT_PRODUCT     0x0bad
#define INPUT_VERSION     0x0001

#define DEFAULT_NAME   "vdpa-shim test keyboard"
#define DEFAULT_SERIAL "vdpa-backend-0"

/* ---- the config space, declared ---------------------------------------------- */

/* The fields of the config space and whether a driver may write them. */
static const struct input_field {
    const char *name;
    uint16_t offset, size;
    bool driver_writable;
} input_fields[] = {
    { "select", CFG_SELECT, 1, true }, { "subsel", CFG_SUBSEL, 1, true },
    { "size", CFG_SIZE, 1, false },    { "reserved", CFG_RESERVED, CFG_RESERVED_LEN, false },
    { "u", CFG_U, CFG_U_SIZE, false },
};

/* Where the union's contents come from for one (select, subsel). */
enum input_source {
    SRC_NAME,     /* --input-name, u.string */
    SRC_SERIAL,   /* --input-serial, u.string */
    SRC_DEVIDS,   /* u.ids */
    SRC_SYN_BITS, /* u.bitmap: SYN_REPORT */
    SRC_KEY_BITS, /* u.bitmap: KEY_A..KEY_Z and every injected key */
};

/* Every (select, subsel) that answers; any other answers size 0 (no
 * PROP_BITS, no EV_REP/REL/ABS/MSC/SW/LED/SND, no ABS_INFO). */
static const struct input_cfg_row {
    uint8_t select, subsel;
    enum input_source source;
} input_cfg[] = {
    { VIRTIO_INPUT_CFG_ID_NAME, 0, SRC_NAME },
    { VIRTIO_INPUT_CFG_ID_SERIAL, 0, SRC_SERIAL },
    { VIRTIO_INPUT_CFG_ID_DEVIDS, 0, SRC_DEVIDS },
    { VIRTIO_INPUT_CFG_EV_BITS, EV_SYN, SRC_SYN_BITS },
    { VIRTIO_INPUT_CFG_EV_BITS, EV_KEY, SRC_KEY_BITS },
};

/* The letters, in the order of the alphabet (not of their key codes). */
static const uint16_t letter_keys[] = {
    KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J, KEY_K, KEY_L, KEY_M,
    KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z,
};
#define N_LETTERS (sizeof(letter_keys) / sizeof(letter_keys[0]))
#define N_ROWS    (sizeof(input_cfg) / sizeof(input_cfg[0]))
#define N_FIELDS  (sizeof(input_fields) / sizeof(input_fields[0]))

static const char *name_of(const struct backend *b)
{
    return b->opt.input_name ? b->opt.input_name : DEFAULT_NAME;
}

static const char *serial_of(const struct backend *b)
{
    return b->opt.input_serial ? b->opt.input_serial : DEFAULT_SERIAL;
}

static void set_bit8(uint8_t *map, unsigned bit, uint8_t *size)
{
    map[bit / 8] |= (uint8_t)(1u << (bit % 8));
    if (bit / 8 + 1 > *size)
        *size = (uint8_t)(bit / 8 + 1);
}

static void put16(uint8_t *p, uint16_t v)
{
    v = htole16(v);
    memcpy(p, &v, sizeof(v));
}

/* Fills u (CFG_U_SIZE bytes, zeroed) from a row; returns `size`. */
static uint8_t fill_union(const struct backend *b, enum input_source src, uint8_t *u)
{
    uint8_t size = 0;
    size_t len;

    switch (src) {
    case SRC_NAME:
    case SRC_SERIAL: {
        const char *s = src == SRC_NAME ? name_of(b) : serial_of(b);
        /* 5.8.4: size is the string's length, no NUL needed (checked <= 128
         * at start-up). */
        len = strlen(s);
        memcpy(u, s, len);
        return (uint8_t)len;
    }
    case SRC_DEVIDS:
        put16(u + offsetof(struct virtio_input_devids, bustype), INPUT_BUS_VIRTUAL);
        put16(u + offsetof(struct virtio_input_devids, vendor), INPUT_VENDOR);
        put16(u + offsetof(struct virtio_input_devids, product), INPUT_PRODUCT);
        put16(u + offsetof(struct virtio_input_devids, version), INPUT_VERSION);
        return sizeof(struct virtio_input_devids);
    case SRC_SYN_BITS:
        set_bit8(u, SYN_REPORT, &size);
        return size;
    case SRC_KEY_BITS:
        for (unsigned i = 0; i < N_LETTERS; i++)
            set_bit8(u, letter_keys[i], &size);
        for (unsigned i = 0; i < b->opt.n_inject_keys; i++)
            set_bit8(u, b->opt.inject_keys[i], &size);
        return size;
    }
    return 0;
}

static void input_read_config(const struct backend *b, uint8_t *c)
{
    const struct input_state *s = &b->dev.input;

    memset(c, 0, CFG_TOTAL);
    c[CFG_SELECT] = s->select;
    c[CFG_SUBSEL] = s->subsel;
    for (unsigned i = 0; i < N_ROWS; i++)
        if (input_cfg[i].select == s->select && input_cfg[i].subsel == s->subsel)
            c[CFG_SIZE] = fill_union(b, input_cfg[i].source, c + CFG_U);
}

static const struct input_field *field_at(uint32_t offset)
{
    for (unsigned i = 0; i < N_FIELDS; i++)
        if (offset >= input_fields[i].offset &&
            offset < (uint32_t)input_fields[i].offset + input_fields[i].size)
            return &input_fields[i];
    return NULL;
}

/* A driver write: select and subsel only, all or nothing (docs/vdpa-user.md
 * SET_CONFIG). The next read answers the new pair. */
static int input_write_config(struct backend *b, uint32_t offset, uint32_t size,
                              const uint8_t *data)
{
    for (uint32_t i = offset; i < offset + size; i++) {
        const struct input_field *f = field_at(i);
        if (!f || !f->driver_writable) {
            vs_info("config write of [%u, %u) refused: byte %u (%s) is read-only", offset,
                    offset + size, i, f ? f->name : "beyond the config space");
            return EINVAL;
        }
    }
    for (uint32_t i = offset; i < offset + size; i++) {
        if (i == CFG_SELECT)
            b->dev.input.select = data[i - offset];
        else
            b->dev.input.subsel = data[i - offset];
    }
    vs_debug("config select 0x%02x subsel 0x%02x", b->dev.input.select, b->dev.input.subsel);
    return 0;
}

/* ---- --inject-keys ------------------------------------------------------------------ */

int input_parse_keys(const char *list, uint16_t *keys, unsigned max, unsigned *n)
{
    char *copy = strdup(list), *save = NULL;
    int rc = 0;

    if (!copy)
        return -ENOMEM;
    *n = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *end;
        unsigned long code;
        if (*n == max) {
            rc = -E2BIG;
            break;
        }
        if (t[0] >= 'a' && t[0] <= 'z' && t[1] == '\0') {
            keys[(*n)++] = letter_keys[t[0] - 'a'];
            continue;
        }
        errno = 0;
        code = strtoul(t, &end, 0);
        if (errno || end == t || *end || code == 0 || code > KEY_MAX) {
            rc = -EINVAL;
            break;
        }
        keys[(*n)++] = (uint16_t)code;
    }
    free(copy);
    return rc ? rc : (*n ? 0 : -EINVAL);
}

static void queue_event(struct input_state *s, uint16_t type, uint16_t code, uint32_t value)
{
    s->pending[s->head + s->count++] = (struct input_ev){ type, code, value };
}

/* Queues the whole key sequence, unless the last one is still pending. */
static void queue_sequence(struct backend *b)
{
    struct input_state *s = &b->dev.input;

    if (s->count) {
        b->stats.input_sequences_skipped++;
        return;
    }
    s->head = 0;
    for (unsigned i = 0; i < b->opt.n_inject_keys; i++) {
        queue_event(s, EV_KEY, b->opt.inject_keys[i], 1);
        queue_event(s, EV_SYN, SYN_REPORT, 0);
        queue_event(s, EV_KEY, b->opt.inject_keys[i], 0);
        queue_event(s, EV_SYN, SYN_REPORT, 0);
    }
    b->stats.input_sequences++;
}

/* Arms (ms > 0, periodic) or disarms (0) the repetition timer. */
static void set_timer(struct backend *b, unsigned ms)
{
    struct itimerspec its = { 0 };

    if (b->dev.input.timer_fd < 0)
        return;
    its.it_interval.tv_sec = its.it_value.tv_sec = ms / MS_PER_S;
    its.it_interval.tv_nsec = its.it_value.tv_nsec = (long)(ms % MS_PER_S) * NS_PER_MS;
    if (timerfd_settime(b->dev.input.timer_fd, 0, &its, NULL) < 0)
        vs_warn("timerfd_settime: %s", strerror(errno));
}

/* ---- the queues -------------------------------------------------------------------- */

/* Buffers the driver made available on a running ring and we did not take
 * (a bogus index shows as many: vq_device_pop then reports the error). */
static unsigned buffers_available(const struct ring *r)
{
    uint16_t idx = le16toh(__atomic_load_n(&r->vq.avail->idx, __ATOMIC_ACQUIRE));

    return (uint16_t)(idx - r->vq.last_avail);
}

/* The number of pending events up to and including the next SYN_REPORT. */
static unsigned update_len(const struct input_state *s)
{
    for (unsigned i = 0; i < s->count; i++)
        if (s->pending[s->head + i].type == EV_SYN)
            return i + 1;
    return s->count;
}

static int put_event(struct backend *b, const struct input_ev *e)
{
    struct virtio_input_event ev = { .type = htole16(e->type),
                                     .code = htole16(e->code),
                                     .value = htole32(e->value) };
    struct vq_chain *c = b->chain;
    int rc = device_pop(b, INPUT_EVENTQ, c);

    if (rc <= 0)
        return rc < 0 ? rc : -EPROTO; /* counted as available: cannot be empty */
    if (c->in_len < sizeof(ev))
        return -EPROTO; /* 5.8.6: each buffer holds one whole event */
    vq_chain_copy_to(c, 0, &ev, sizeof(ev));
    device_complete(b, INPUT_EVENTQ, c->head, sizeof(ev));
    b->stats.input_events++;
    return 0;
}

/* Delivers whole updates while the driver has buffers for them. */
static int deliver(struct backend *b)
{
    struct input_state *s = &b->dev.input;
    const struct ring *r = &b->rings[INPUT_EVENTQ];
    unsigned sent = 0;

    while (s->count && r->started) {
        unsigned len = update_len(s);
        if (sent >= BUDGET)
            return 1;
        if (buffers_available(r) < len)
            return 0; /* the driver's next kick brings us back */
        for (unsigned i = 0; i < len; i++) {
            int rc = put_event(b, &s->pending[s->head]);
            if (rc < 0)
                return rc;
            s->head++;
            s->count--;
        }
        sent += len;
    }
    return 0;
}

/* statusq: LED and other driver -> device events, read and counted. */
static int consume_status(struct backend *b)
{
    struct vq_chain *c = b->chain;

    for (int n = 0; n < BUDGET; n++) {
        struct virtio_input_event ev;
        int rc = device_pop(b, INPUT_STATUSQ, c);
        if (rc <= 0)
            return rc;
        if (c->out_len < sizeof(ev))
            return -EPROTO; /* 5.8.6: one whole event per buffer */
        vq_chain_copy_from(c, 0, &ev, sizeof(ev));
        vs_debug("status event: type %u code %u value %u", le16toh(ev.type), le16toh(ev.code),
                 le32toh(ev.value));
        b->stats.input_status_events++;
        device_complete(b, INPUT_STATUSQ, c->head, 0);
    }
    return 1;
}

static int input_process(struct backend *b, unsigned index)
{
    struct input_state *s = &b->dev.input;

    if (index == INPUT_STATUSQ)
        return consume_status(b);
    /* The first sequence goes once the driver is live and has buffers. */
    if (!s->armed && b->opt.n_inject_keys && vq_device_has_pending(&b->rings[index].vq)) {
        s->armed = true;
        queue_sequence(b);
        set_timer(b, b->opt.inject_every_ms);
        vs_info("injecting %u key(s)%s", b->opt.n_inject_keys,
                b->opt.inject_every_ms ? ", repeated" : "");
    }
    return deliver(b);
}

static int input_extra_fd(const struct backend *b, bool *want)
{
    *want = b->dev.input.timer_fd >= 0 && b->dev.input.armed;
    return b->dev.input.timer_fd;
}

/* The repetition timer fired: our own timerfd, non-blocking. */
static int input_on_extra(struct backend *b)
{
    uint64_t ticks;

    if (read(b->dev.input.timer_fd, &ticks, sizeof(ticks)) != (ssize_t)sizeof(ticks))
        return 0;
    if (!b->dev.input.armed || !b->rings[INPUT_EVENTQ].started)
        return 0; /* reset, suspended or stopped: nothing is queued */
    queue_sequence(b);
    return deliver(b);
}

/* ---- the rest of the type ------------------------------------------------------------- */

static uint64_t input_features(const struct backend *b)
{
    (void)b;
    return 0; /* 5.8.3: no device-specific feature bits */
}

static unsigned input_vqs_count(const struct backend *b)
{
    (void)b;
    return INPUT_NQUEUES;
}

static bool input_features_ok(const struct backend *b, uint64_t f)
{
    (void)b;
    (void)f;
    return true;
}

static bool input_ring_in_use(const struct backend *b, unsigned i)
{
    (void)b;
    return i < INPUT_NQUEUES;
}

static void input_reset(struct backend *b)
{
    struct input_state *s = &b->dev.input;

    /* 5.3: select/subsel and the queued events back to their defaults. */
    s->select = s->subsel = 0;
    s->head = s->count = 0;
    s->armed = false;
    set_timer(b, 0);
}

static int input_init(struct backend *b)
{
    struct input_state *s = &b->dev.input;

    s->timer_fd = -1;
    if (strlen(name_of(b)) > CFG_U_SIZE || strlen(serial_of(b)) > CFG_U_SIZE) {
        vs_err("--input-name and --input-serial have at most %u bytes", CFG_U_SIZE);
        return -EINVAL;
    }
    if (b->opt.inject_every_ms && b->opt.n_inject_keys) {
        s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (s->timer_fd < 0)
            return -errno;
    }
    input_reset(b);
    return 0;
}

static void input_fini(struct backend *b)
{
    fd_close(&b->dev.input.timer_fd);
}

static bool input_rescan(struct backend *b)
{
    (void)b;
    return false;
}

const struct device_type input_device_type = {
    .name = "input",
    .device_id = VIRTIO_ID_INPUT,
    .config_size = CFG_TOTAL,
    .init = input_init,
    .fini = input_fini,
    .features = input_features,
    .vqs_count = input_vqs_count,
    .features_ok = input_features_ok,
    .ring_in_use = input_ring_in_use,
    .read_config = input_read_config,
    .provision = NULL,
    .write_config = input_write_config,
    .process = input_process,
    .extra_fd = input_extra_fd,
    .on_extra = input_on_extra,
    .reset = input_reset,
    .rescan = input_rescan,
};
