/* SPDX-License-Identifier: MIT */
/*
 * The device models of the types besides net, blk and fs (lib/proto/model_*.c):
 * their config layouts against VIRTIO 1.2, which features they hide when a
 * value is unknown, what they render from device keys or the back-end's
 * config space, the interactive fields (gpu events_clear, scsi sense/cdb
 * sizes, input select/subsel, console emerg_wr), the refusal that names the
 * missing key, and the keys as the command line and the config file parse
 * them (shim/cli.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cli.h"
#include "devmodel.h"
#include "virtio.h"

#define B(n)   (UINT64_C(1) << (n))
#define V1     B(32)
#define ERRLEN 256

static struct vs_model_input input_with(uint32_t queues)
{
    struct vs_model_input in;

    memset(&in, 0, sizeof(in));
    in.backend_queues = queues;
    in.link_up = true;
    return in;
}

static void set_key(struct vs_model_input *in, unsigned key, uint64_t v)
{
    in->key[key] = v;
    in->keys_set |= UINT32_C(1) << key;
}

static uint32_t le32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const struct vs_device_model *model(const char *type)
{
    const struct vs_device_model *m = vs_model_find(type);

    if (!m)
        fail_msg("no model for %s", type);
    assert_string_equal(m->type, type);
    return m;
}

/* ---- layouts ------------------------------------------------------------------ */

struct want_field {
    const char *type, *name;
    uint16_t offset, size;
    int gate;
};

/* VIRTIO 1.2 (oasis-tcs/virtio-spec device-types/<type>/description.tex,
 * Linux include/uapi/linux/virtio_<type>.h), written out by hand. */
static const struct want_field spec_fields[] = {
    { "console", "cols", 0, 2, 0 },
    { "console", "rows", 2, 2, 0 },
    { "console", "max_nr_ports", 4, 4, 1 },
    { "console", "emerg_wr", 8, 4, 2 },
    { "scsi", "num_queues", 0, 4, -1 },
    { "scsi", "seg_max", 4, 4, -1 },
    { "scsi", "max_sectors", 8, 4, -1 },
    { "scsi", "cmd_per_lun", 12, 4, -1 },
    { "scsi", "event_info_size", 16, 4, -1 },
    { "scsi", "sense_size", 20, 4, -1 },
    { "scsi", "cdb_size", 24, 4, -1 },
    { "scsi", "max_channel", 28, 2, -1 },
    { "scsi", "max_target", 30, 2, -1 },
    { "scsi", "max_lun", 32, 4, -1 },
    { "gpu", "events_read", 0, 4, -1 },
    { "gpu", "events_clear", 4, 4, -1 },
    { "gpu", "num_scanouts", 8, 4, -1 },
    { "gpu", "num_capsets", 12, 4, 0 },
    { "input", "select", 0, 1, -1 },
    { "input", "subsel", 1, 1, -1 },
    { "input", "size", 2, 1, -1 },
    { "input", "reserved", 3, 5, -1 },
    { "input", "u", 8, 128, -1 },
    { "vsock", "guest_cid", 0, 8, -1 },
    { "sound", "jacks", 0, 4, -1 },
    { "sound", "streams", 4, 4, -1 },
    { "sound", "chmaps", 8, 4, -1 },
    { "gpio", "ngpio", 0, 2, -1 },
    { "gpio", "padding", 2, 2, -1 },
    { "gpio", "gpio_names_size", 4, 4, -1 },
};

static void layouts_match_spec(void **state)
{
    static const char *const types[] = { "console", "scsi", "gpu", "input", "vsock",
                                         "sound",   "gpio", "rng", "i2c",   "scmi" };

    (void)state;
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        const struct vs_device_model *m = model(types[t]);
        const struct vs_device_type *dt = vs_device_type_find(types[t]);
        unsigned want = 0, end = 0;
        assert_non_null(dt);
        for (size_t i = 0; i < sizeof(spec_fields) / sizeof(spec_fields[0]); i++) {
            if (strcmp(spec_fields[i].type, types[t]) != 0)
                continue;
            if (want >= m->nfields)
                fail_msg("%s: no field %s", types[t], spec_fields[i].name);
            const struct vs_config_field *f = &m->fields[want++];
            assert_string_equal(f->name, spec_fields[i].name);
            if (f->offset != spec_fields[i].offset || f->size != spec_fields[i].size ||
                f->gate != spec_fields[i].gate)
                fail_msg("%s.%s: @%u+%u gate %d, spec @%u+%u gate %d", types[t], f->name, f->offset,
                         f->size, f->gate, spec_fields[i].offset, spec_fields[i].size,
                         spec_fields[i].gate);
            assert_int_equal(f->offset, end); /* no hole, no overlap */
            end = f->offset + f->size;
        }
        assert_int_equal(m->nfields, want);
        assert_int_equal(end, dt->config_size); /* the whole structure */
    }
    /* scmi (5.17): ID 32, cmdq and eventq, no config space */
    assert_int_equal(vs_device_type_find("scmi")->virtio_id, 32);
    assert_int_equal(vs_device_type_find("scmi")->default_queues, 2);
    assert_int_equal(vs_device_type_find("scmi")->config_size, 0);
}

/* Every key belongs to a type whose model reads it, once. */
static void keys_table(void **state)
{
    (void)state;
    for (unsigned k = 0; k < VS_MODEL_KEYS; k++) {
        const struct vs_model_key_desc *d = vs_model_key_desc(k);
        const struct vs_device_model *m = model(d->type);
        unsigned uses = 0;
        assert_int_equal(vs_model_key_find(d->name), (int)k);
        assert_true(d->min <= d->max);
        for (unsigned i = 0; i < m->nfields; i++)
            uses += m->fields[i].source == VS_SRC_KEY && m->fields[i].value == k;
        if (uses != 1)
            fail_msg("key %s: read by %u fields of %s", d->name, uses, d->type);
    }
    assert_null(vs_model_key_desc(VS_MODEL_KEYS));
    assert_int_equal(vs_model_key_find("capacity"), -1);
}

/* ---- types without a config space ---------------------------------------------- */

static void no_config_types(void **state)
{
    static const char *const types[] = { "rng", "i2c", "scmi" };

    (void)state;
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        const struct vs_device_model *m = model(types[t]);
        struct vs_model_input in = input_with(2);
        assert_int_equal(m->nfields, 0);
        assert_null(vs_model_missing(m, &in)); /* no F_CONFIG needed */
        assert_false(vs_model_reads_backend(m) && m->nfields);
        assert_int_equal(vs_model_offer(m, &in, V1 | B(0) | B(VIRTIO_F_ACCESS_PLATFORM)) &
                             B(VIRTIO_F_ACCESS_PLATFORM),
                         0);
        assert_int_equal(vs_model_vqs_count(m, 2), 2);
    }
    /* scmi: shared memory regions are not carried; notifications are */
    struct vs_model_input in = input_with(2);
    assert_int_equal(vs_model_offer(model("scmi"), &in, V1 | B(0) | B(1)), V1 | B(0));
}

/* ---- vsock, gpio, sound: synthesized or the back-end's -------------------------- */

static void vsock_guest_cid(void **state)
{
    const struct vs_device_model *m = model("vsock");
    struct vs_model_input in = input_with(3);
    uint8_t cfg[8], be[8] = { 7, 0, 0, 0, 0, 0, 0, 0 };

    (void)state;
    assert_string_equal(vs_model_missing(m, &in), "guest_cid");
    assert_string_equal(vs_model_missing_key(m, &in), "guest-cid");
    set_key(&in, VS_KEY_GUEST_CID, 0x12345678);
    assert_null(vs_model_missing(m, &in));
    vs_model_render(m, &in, vs_model_offer(m, &in, V1 | B(0)), cfg, sizeof(cfg));
    assert_int_equal(le32_at(cfg), 0x12345678);
    assert_int_equal(le32_at(cfg + 4), 0); /* the upper 32 bits are reserved */
    /* the back-end's own CID wins: its data plane checks it */
    in.backend_config = be;
    in.backend_config_size = sizeof(be);
    vs_model_render(m, &in, V1, cfg, sizeof(cfg));
    assert_int_equal(cfg[0], 7);
    assert_true(vs_model_reads_backend(m));
}

static void gpio_ngpio(void **state)
{
    const struct vs_device_model *m = model("gpio");
    struct vs_model_input in = input_with(2);
    uint8_t cfg[8], be[8] = { 8, 0, 0xee, 0xee, 0x40, 0, 0, 0 };

    (void)state;
    assert_string_equal(vs_model_missing_key(m, &in), "ngpio");
    set_key(&in, VS_KEY_NGPIO, 300);
    assert_null(vs_model_missing(m, &in));
    vs_model_render(m, &in, V1, cfg, sizeof(cfg));
    assert_int_equal(cfg[0] | cfg[1] << 8, 300);
    assert_int_equal(le32_at(cfg + 4), 0); /* no line names the shim can vouch for */
    in.backend_config = be;
    in.backend_config_size = sizeof(be);
    vs_model_render(m, &in, V1, cfg, sizeof(cfg));
    assert_int_equal(cfg[0], 8);
    assert_int_equal(cfg[2] | cfg[3], 0); /* padding reads zero */
    assert_int_equal(le32_at(cfg + 4), 0x40);
}

static void sound_streams(void **state)
{
    const struct vs_device_model *m = model("sound");
    struct vs_model_input in = input_with(4);
    uint8_t cfg[12];

    (void)state;
    assert_string_equal(vs_model_missing(m, &in), "streams"); /* jacks: default 0 */
    assert_string_equal(vs_model_missing_key(m, &in), "streams");
    set_key(&in, VS_KEY_STREAMS, 2);
    set_key(&in, VS_KEY_CHMAPS, 1);
    vs_model_render(m, &in, V1, cfg, sizeof(cfg));
    assert_int_equal(le32_at(cfg), 0); /* jacks */
    assert_int_equal(le32_at(cfg + 4), 2);
    assert_int_equal(le32_at(cfg + 8), 1);
    /* VIRTIO_SND_F_CTLS needs a controls field past the 12 bytes */
    assert_int_equal(vs_model_offer(m, &in, V1 | B(0)), V1);
}

/* ---- console: shared gates, early writes ------------------------------------------ */

static void console_size_and_ports(void **state)
{
    const struct vs_device_model *m = model("console");
    struct vs_model_input in = input_with(4);
    const uint64_t be = V1 | B(1); /* MULTIPORT, as vhost-device-console */
    uint8_t cfg[12];
    uint64_t offer;

    (void)state;
    assert_null(vs_model_missing(m, &in));            /* every field has a gate */
    assert_int_equal(vs_model_offer(m, &in, be), V1); /* nothing known: gates hidden */
    set_key(&in, VS_KEY_COLS, 80);
    assert_int_equal(vs_model_offer(m, &in, be | B(0)) & B(0), 0); /* cols without rows */
    set_key(&in, VS_KEY_ROWS, 25);
    set_key(&in, VS_KEY_PORTS, 1);
    offer = vs_model_offer(m, &in, be);
    assert_int_equal(offer, V1 | B(0) | B(1)); /* F_SIZE is the shim's; MULTIPORT the back-end's */
    assert_int_equal(vs_model_offer(m, &in, V1) & B(1), 0); /* no MULTIPORT without its queues */
    assert_int_equal(vs_model_backend_features(m, offer, be), V1 | B(1));
    vs_model_render(m, &in, offer, cfg, sizeof(cfg));
    assert_int_equal(cfg[0] | cfg[1] << 8, 80); /* cols first (1.2, Linux uapi) */
    assert_int_equal(cfg[2] | cfg[3] << 8, 25);
    assert_int_equal(le32_at(cfg + 4), 1);
    assert_int_equal(le32_at(cfg + 8), 0);
    /* emerg_wr: hidden, and not writable, without the back-end's config */
    assert_int_equal(vs_model_offer(m, &in, be | B(2)) & B(2), 0);
    assert_int_equal(vs_model_write_kind(m, 8, 4, B(2), B(2)), VS_WRITE_BACKEND);
    assert_int_equal(vs_model_write_kind(m, 8, 4, 0, 0), VS_WRITE_NONE);
    assert_int_equal(vs_model_write_kind(m, 8, 4, 0, B(2)), VS_WRITE_BACKEND); /* early */
    assert_true(vs_model_range_early(m, 8, 4));
    assert_false(vs_model_range_early(m, 4, 8));
    assert_int_equal(vs_model_write_kind(m, 0, 2, ~UINT64_C(0), ~UINT64_C(0)), VS_WRITE_NONE);
}

static void console_from_backend(void **state)
{
    const struct vs_device_model *m = model("console");
    struct vs_model_input in = input_with(4);
    /* vhost-device-console's config: 20x20, 1 port, emerg_wr 64 */
    uint8_t be[12] = { 20, 0, 20, 0, 1, 0, 0, 0, 64, 0, 0, 0 }, cfg[12];
    uint64_t offer;

    (void)state;
    in.backend_config = be;
    in.backend_config_size = sizeof(be);
    set_key(&in, VS_KEY_COLS, 80);
    set_key(&in, VS_KEY_ROWS, 25);
    /* the back-end offers MULTIPORT only: its 20x20 is no size it vouches for */
    offer = vs_model_offer(m, &in, V1 | B(1));
    assert_int_equal(offer, V1 | B(1));
    offer = vs_model_offer(m, &in, V1 | B(1) | B(2));
    assert_int_equal(offer, V1 | B(1) | B(2)); /* emerg_wr from its config */
    vs_model_render(m, &in, offer, cfg, sizeof(cfg));
    assert_int_equal(cfg[0] | cfg[2], 0); /* F_SIZE not offered: zero */
    assert_int_equal(le32_at(cfg + 4), 1);
    assert_int_equal(le32_at(cfg + 8), 64);
}

/* ---- gpu: events_read / events_clear ------------------------------------------------ */

static void gpu_events(void **state)
{
    const struct vs_device_model *m = model("gpu");
    struct vs_model_input in = input_with(2);
    const uint64_t be = V1 | B(0) /* VIRGL */ | B(1) /* EDID */ | B(4) /* CONTEXT_INIT */;
    uint8_t cfg[16];
    const uint8_t clear_display[4] = { 1, 0, 0, 0 }, clear_bit9[1] = { 2 };
    uint64_t offer;

    (void)state;
    /* scanouts= defaults to 1, as QEMU's max_outputs */
    assert_null(vs_model_missing(m, &in));
    vs_model_render(m, &in, V1, cfg, sizeof(cfg));
    assert_int_equal(le32_at(cfg + 8), 1);
    set_key(&in, VS_KEY_SCANOUTS, 2);
    assert_null(vs_model_missing(m, &in));
    /* num_capsets is the back-end's: VIRGL hidden, CONTEXT_INIT with it */
    offer = vs_model_sanitize(m, vs_model_offer(m, &in, be));
    assert_int_equal(offer, V1 | B(1));
    assert_false(vs_model_features_consistent(m, B(4)));
    assert_true(vs_model_features_consistent(m, B(4) | B(0)));

    assert_int_equal(m->change_events, 1); /* VIRTIO_GPU_EVENT_DISPLAY */
    in.events = 0x201;
    vs_model_render(m, &in, offer, cfg, sizeof(cfg));
    assert_int_equal(le32_at(cfg), 0x201);  /* events_read */
    assert_int_equal(le32_at(cfg + 4), 0);  /* events_clear reads 0 */
    assert_int_equal(le32_at(cfg + 8), 2);  /* num_scanouts */
    assert_int_equal(le32_at(cfg + 12), 0); /* num_capsets */
    /* events_clear: write-1-to-clear, always writable; events_read never */
    assert_int_equal(vs_model_write_kind(m, 4, 4, 0, 0), VS_WRITE_CLEARS);
    assert_int_equal(vs_model_write_kind(m, 0, 4, ~UINT64_C(0), ~UINT64_C(0)), VS_WRITE_NONE);
    assert_int_equal(vs_model_write_kind(m, 2, 4, ~UINT64_C(0), ~UINT64_C(0)), VS_WRITE_NONE);
    assert_int_equal(vs_model_apply_write(m, &in, offer, 4, 4, clear_display), 0);
    assert_int_equal(in.events, 0x200);
    assert_int_equal(vs_model_apply_write(m, &in, offer, 5, 1, clear_bit9), 0); /* byte 1 */
    assert_int_equal(in.events, 0);
    vs_model_render(m, &in, offer, cfg, sizeof(cfg));
    assert_int_equal(le32_at(cfg), 0);
}

static void gpu_from_backend(void **state)
{
    const struct vs_device_model *m = model("gpu");
    struct vs_model_input in = input_with(2);
    /* A back-end's own events_read is not what the driver sees, nor its
     * num_scanouts (QEMU's vhost-user-gpu says 0): scanouts= is, as QEMU's
     * vhost-user-gpu-pci's max_outputs is. */
    uint8_t be[16] = { 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0 }, cfg[16];
    uint64_t offer;

    (void)state;
    in.backend_config = be;
    in.backend_config_size = sizeof(be);
    offer = vs_model_sanitize(m, vs_model_offer(m, &in, V1 | B(0) | B(4)));
    assert_int_equal(offer, V1 | B(0) | B(4));
    vs_model_render(m, &in, offer, cfg, sizeof(cfg));
    assert_int_equal(le32_at(cfg), 0);
    assert_int_equal(le32_at(cfg + 8), 1); /* the default, not the back-end's 0 */
    assert_int_equal(le32_at(cfg + 12), 2);
    set_key(&in, VS_KEY_SCANOUTS, 16);
    vs_model_render(m, &in, offer, cfg, sizeof(cfg));
    assert_int_equal(le32_at(cfg + 8), 16);
}

/* ---- scsi: QEMU's values, sense/cdb sizes that keep their value ---------------------- */

static void scsi_config(void **state)
{
    const struct vs_device_model *m = model("scsi");
    struct vs_model_input in = input_with(6);
    uint8_t cfg[36];
    const uint8_t same[8] = { 96, 0, 0, 0, 32, 0, 0, 0 }, other[4] = { 64, 0, 0, 0 };
    const uint8_t low_byte[1] = { 96 };

    (void)state;
    assert_string_equal(vs_model_missing_key(m, &in), "max-target");
    set_key(&in, VS_KEY_MAX_TARGET, 0); /* 0 is a value: target 0 only */
    assert_string_equal(vs_model_missing(m, &in), "max_lun");
    assert_string_equal(vs_model_missing_key(m, &in), "max-lun");
    set_key(&in, VS_KEY_MAX_LUN, 16383);
    assert_null(vs_model_missing(m, &in));
    vs_model_render(m, &in, V1, cfg, sizeof(cfg));
    assert_int_equal(le32_at(cfg), 4); /* request queues: all but controlq and eventq */
    assert_int_equal(le32_at(cfg + 4), 126);
    assert_int_equal(le32_at(cfg + 8), 0xffff);
    assert_int_equal(le32_at(cfg + 12), 128);
    assert_int_equal(le32_at(cfg + 16), 16);
    assert_int_equal(le32_at(cfg + 20), 96);
    assert_int_equal(le32_at(cfg + 24), 32);
    assert_int_equal(cfg[28] | cfg[29], 0);
    assert_int_equal(cfg[30] | cfg[31] << 8, 0);
    assert_int_equal(le32_at(cfg + 32), 16383);
    /* Linux writes 96 and 32 at probe: accepted, nothing changes */
    assert_int_equal(vs_model_write_kind(m, 20, 8, 0, 0), VS_WRITE_SAME);
    assert_int_equal(vs_model_apply_write(m, &in, V1, 20, 8, same), 0);
    assert_int_equal(vs_model_apply_write(m, &in, V1, 20, 1, low_byte), 0);
    assert_int_equal(vs_model_apply_write(m, &in, V1, 20, 4, other), -EINVAL);
    assert_int_equal(vs_model_write_kind(m, 16, 8, ~UINT64_C(0), ~UINT64_C(0)), VS_WRITE_NONE);
    vs_model_render(m, &in, V1, cfg, sizeof(cfg));
    assert_int_equal(le32_at(cfg + 20), 96);
}

/* ---- input: only the back-end knows ---------------------------------------------------- */

static void input_needs_backend(void **state)
{
    const struct vs_device_model *m = model("input");
    struct vs_model_input in = input_with(2);
    uint8_t be[136], cfg[136];

    (void)state;
    assert_string_equal(vs_model_missing(m, &in), "select");
    assert_null(vs_model_missing_key(m, &in)); /* no key can give it */
    for (unsigned i = 0; i < sizeof(be); i++)
        be[i] = (uint8_t)(i + 1);
    in.backend_config = be;
    in.backend_config_size = sizeof(be);
    assert_null(vs_model_missing(m, &in));
    vs_model_render(m, &in, V1, cfg, sizeof(cfg));
    assert_memory_equal(cfg, be, 3);
    for (unsigned i = 3; i < 8; i++)
        assert_int_equal(cfg[i], 0); /* reserved */
    assert_memory_equal(cfg + 8, be + 8, 128);
    assert_true(m->backend_write_whole);
    assert_int_equal(vs_model_write_kind(m, 0, 2, 0, 0), VS_WRITE_BACKEND);
    assert_int_equal(vs_model_write_kind(m, 1, 1, 0, 0), VS_WRITE_BACKEND);
    assert_int_equal(vs_model_write_kind(m, 1, 2, 0, 0), VS_WRITE_NONE); /* into size */
    assert_int_equal(vs_model_write_kind(m, 8, 1, 0, 0), VS_WRITE_NONE);
}

/* ---- the keys on the command line and in a config file ------------------------------------ */

static int parse(const char *keys, struct vs_device_config *d, char *err)
{
    char spec[512];

    snprintf(spec, sizeof(spec), "frontend=/tmp/a.sock,backend=/tmp/b.sock,%s", keys);
    return vs_device_parse(spec, 0, d, err, ERRLEN);
}

static void keys_parsed(void **state)
{
    struct vs_device_config d;
    char err[ERRLEN];

    (void)state;
    assert_int_equal(parse("type=vsock,guest-cid=4294967294", &d, err), 0);
    assert_int_equal(d.model_key[VS_KEY_GUEST_CID], 4294967294u);
    assert_true(d.model_keys_set & (1u << VS_KEY_GUEST_CID));
    assert_int_equal(parse("type=console,cols=80,rows=25,ports=2", &d, err), 0);
    assert_int_equal(d.model_key[VS_KEY_COLS], 80);
    assert_int_equal(d.model_key[VS_KEY_ROWS], 25);
    assert_int_equal(d.model_key[VS_KEY_PORTS], 2);
    assert_int_equal(parse("type=sound,streams=2,jacks=0,chmaps=1", &d, err), 0);
    assert_int_equal(parse("type=gpu,scanouts=16", &d, err), 0);
    assert_int_equal(parse("type=gpio,ngpio=65535", &d, err), 0);
    assert_int_equal(parse("type=scsi,max-target=0,max-lun=16383", &d, err), 0);
    assert_int_equal(d.model_key[VS_KEY_MAX_TARGET], 0);
    assert_true(d.model_keys_set & (1u << VS_KEY_MAX_TARGET));
    /* the config file's path: key by key, then the checks */
    struct vs_device_seen seen;
    vs_device_begin(&d, 0, &seen);
    assert_int_equal(vs_device_set(&d, &seen, "type", "vsock", err, ERRLEN), 0);
    assert_int_equal(vs_device_set(&d, &seen, "frontend", "/tmp/a", err, ERRLEN), 0);
    assert_int_equal(vs_device_set(&d, &seen, "backend", "/tmp/b", err, ERRLEN), 0);
    assert_int_equal(vs_device_set(&d, &seen, "guest-cid", "3", err, ERRLEN), 0);
    assert_int_equal(vs_device_set(&d, &seen, "guest-cid", "5", err, ERRLEN), -EINVAL);
    assert_string_equal(err, "key 'guest-cid' given twice");
    assert_int_equal(vs_device_finish(&d, err, ERRLEN), 0);
    assert_true(vs_device_key_known("max-lun"));
}

static void keys_refused(void **state)
{
    static const struct {
        const char *keys, *err;
    } bad[] = {
        { "type=vsock,guest-cid=2", "guest-cid=2: expected 3..4294967294 (vsock)" },
        { "type=vsock,guest-cid=4294967295", "guest-cid=4294967295: expected 3..4294967294" },
        { "type=vsock,guest-cid=-4", "guest-cid=-4: expected" },
        { "type=vsock,guest-cid=0x10", "guest-cid=0x10: expected" },
        { "type=gpio,ngpio=0", "ngpio=0: expected 1..65535 (gpio)" },
        { "type=gpio,ngpio=65536", "ngpio=65536: expected 1..65535" },
        { "type=gpu,scanouts=17", "scanouts=17: expected 1..16 (gpu)" },
        { "type=gpu,scanouts=0", "scanouts=0: expected 1..16" },
        { "type=scsi,max-target=256", "max-target=256: expected 0..255 (scsi)" },
        { "type=scsi,max-lun=16384", "max-lun=16384: expected 0..16383 (scsi)" },
        { "type=console,ports=128", "ports=128: expected 1..127 (console)" },
        { "type=console,cols=0,rows=1", "cols=0: expected 1..65535" },
        { "type=sound,streams=0", "streams=0: expected 1..4294967295 (sound)" },
        { "type=sound,jacks=4294967296", "jacks=4294967296: expected 0..4294967295" },
        { "type=console,cols=80", "device dev0: cols= and rows= go together" },
        { "type=net,guest-cid=3", "device dev0: guest-cid= applies to type=vsock only" },
        { "type=blk,max-lun=1", "device dev0: max-lun= applies to type=scsi only" },
        { "type=vsock,guest_cid=3", "unknown device key 'guest_cid'" },
    };
    struct vs_device_config d;
    char err[ERRLEN];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (parse(bad[i].keys, &d, err) != -EINVAL)
            fail_msg("'%s' accepted", bad[i].keys);
        if (strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
            fail_msg("'%s': '%s', want '%s...'", bad[i].keys, err, bad[i].err);
    }
    /* the unknown-key error lists the model keys too (within the config
     * file's 512-byte message) */
    char wide[512];
    assert_int_equal(vs_device_parse("type=vsock,cid=3", 0, &d, wide, sizeof(wide)), -EINVAL);
    assert_non_null(strstr(wide, "guest-cid"));
    assert_non_null(strstr(wide, ", max-lun"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layouts_match_spec),
        cmocka_unit_test(keys_table),
        cmocka_unit_test(no_config_types),
        cmocka_unit_test(vsock_guest_cid),
        cmocka_unit_test(gpio_ngpio),
        cmocka_unit_test(sound_streams),
        cmocka_unit_test(console_size_and_ports),
        cmocka_unit_test(console_from_backend),
        cmocka_unit_test(gpu_events),
        cmocka_unit_test(gpu_from_backend),
        cmocka_unit_test(scsi_config),
        cmocka_unit_test(input_needs_backend),
        cmocka_unit_test(keys_parsed),
        cmocka_unit_test(keys_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
