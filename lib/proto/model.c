/* SPDX-License-Identifier: MIT */
/* Rendering of the declarative device models (devmodel.h). */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "devmodel.h"
#include "virtio.h"

extern const struct vs_device_model vs_model_net, vs_model_blk, vs_model_fs, vs_model_console,
    vs_model_rng, vs_model_scsi, vs_model_gpu, vs_model_input, vs_model_vsock, vs_model_sound,
    vs_model_i2c, vs_model_gpio, vs_model_scmi;

/* Every type of device_types.c has a model. */
static const struct vs_device_model *const models[] = {
    &vs_model_net,  &vs_model_blk,  &vs_model_fs,    &vs_model_console, &vs_model_rng,
    &vs_model_scsi, &vs_model_gpu,  &vs_model_input, &vs_model_vsock,   &vs_model_sound,
    &vs_model_i2c,  &vs_model_gpio, &vs_model_scmi,
};

/* A type without a model (none of device_types.c today): the back-end's own
 * config space, its own features. */
static const struct vs_device_model generic = {
    .type = "generic",
    .hidden_features = VU_BIT(VIRTIO_F_ACCESS_PLATFORM) /* no IOTLB in down mode */ |
                       VU_BIT(VIRTIO_F_RING_RESET),
};

const struct vs_device_model *vs_model_find(const char *type)
{
    for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
        if (strcmp(models[i]->type, type) == 0)
            return models[i];
    return NULL;
}

const struct vs_device_model *vs_model_generic(void)
{
    return &generic;
}

static bool backend_has_field(const struct vs_config_field *f, const struct vs_model_input *in)
{
    return f->from_backend && in->backend_config &&
           (uint32_t)f->offset + f->size <= in->backend_config_size;
}

/* The synthesized value of a field; false when the shim does not know it. */
static bool synthesize(const struct vs_config_field *f, const struct vs_model_input *in,
                       uint8_t *out)
{
    uint64_t v = 0;

    memset(out, 0, f->size);
    switch (f->source) {
    case VS_SRC_ZERO:
        return false;
    case VS_SRC_CONST:
        v = f->value;
        break;
    case VS_SRC_MAC:
        memcpy(out, in->mac, f->size < 6 ? f->size : 6);
        return true;
    case VS_SRC_MTU:
        v = in->mtu;
        if (!v)
            return false;
        break;
    case VS_SRC_SPEED:
        if (!in->speed_set)
            return false;
        v = in->speed;
        break;
    case VS_SRC_DUPLEX:
        if (!in->speed_set)
            return false;
        v = in->duplex;
        break;
    case VS_SRC_LINK_STATUS:
        v = in->link_up ? 1 : 0; /* VIRTIO_NET_S_LINK_UP */
        break;
    case VS_SRC_QUEUE_PAIRS:
        v = in->backend_queues / 2 ? in->backend_queues / 2 : 1;
        break;
    case VS_SRC_NUM_QUEUES:
        v = in->backend_queues;
        break;
    case VS_SRC_REQUEST_QUEUES:
        v = in->backend_queues > 1 ? in->backend_queues - 1 : 1;
        break;
    case VS_SRC_TAG:
        if (!in->tag || !in->tag[0])
            return false;
        memcpy(out, in->tag, strnlen(in->tag, f->size));
        return true;
    case VS_SRC_CAPACITY:
        if (!in->capacity)
            return false;
        v = in->capacity / 512;
        break;
    case VS_SRC_KEY:
        if (!vs_model_key_value(in, f->value, &v))
            return false;
        break;
    case VS_SRC_DATA_QUEUES:
        v = in->backend_queues > f->value ? in->backend_queues - f->value : 1;
        break;
    case VS_SRC_EVENTS:
        v = in->events;
        break;
    }
    v = htole64(v); /* VIRTIO config space is little-endian */
    memcpy(out, &v, f->size < 8 ? f->size : 8);
    return true;
}

/* Whether the field's value is available (from the back-end or the shim). */
static bool field_known(const struct vs_config_field *f, const struct vs_model_input *in)
{
    uint8_t scratch[VU_MAX_CONFIG_SIZE];

    return backend_has_field(f, in) || synthesize(f, in, scratch);
}

uint64_t vs_model_offer(const struct vs_device_model *m, const struct vs_model_input *in,
                        uint64_t backend_features)
{
    uint64_t offer = (backend_features & ~m->hidden_features) | m->shim_features;

    for (unsigned i = 0; i < m->nfields; i++) {
        const struct vs_config_field *f = &m->fields[i];
        if (f->gate < 0)
            continue;
        if (f->shim_offers && !backend_has_field(f, in) && field_known(f, in))
            offer |= VU_BIT(f->gate); /* a value the back-end's config space does not give */
    }
    /* a field whose value is unknown hides its gate, which a gate shared by
     * several fields (console F_SIZE: cols and rows) needs all of them known */
    for (unsigned i = 0; i < m->nfields; i++)
        if (m->fields[i].gate >= 0 && !field_known(&m->fields[i], in))
            offer &= ~VU_BIT(m->fields[i].gate);
    return offer;
}

bool vs_model_features_consistent(const struct vs_device_model *m, uint64_t features)
{
    for (unsigned i = 0; i < m->nrules; i++)
        if (vu_has_bit(features, m->rules[i].bit) && !(features & m->rules[i].any_of))
            return false;
    return true;
}

uint64_t vs_model_sanitize(const struct vs_device_model *m, uint64_t features)
{
    bool changed = true;

    while (changed) {
        changed = false;
        for (unsigned i = 0; i < m->nrules; i++) {
            if (vu_has_bit(features, m->rules[i].bit) && !(features & m->rules[i].any_of)) {
                features &= ~VU_BIT(m->rules[i].bit);
                changed = true;
            }
        }
    }
    return features;
}

uint64_t vs_model_backend_features(const struct vs_device_model *m, uint64_t negotiated,
                                   uint64_t backend_features)
{
    return negotiated & backend_features & ~m->shim_features;
}

void vs_model_render(const struct vs_device_model *m, const struct vs_model_input *in,
                     uint64_t offered, uint8_t *config, uint32_t size)
{
    memset(config, 0, size);
    if (!m->nfields && in->backend_config) {
        /* generic: the back-end's bytes as they are */
        memcpy(config, in->backend_config,
               in->backend_config_size < size ? in->backend_config_size : size);
        return;
    }
    for (unsigned i = 0; i < m->nfields; i++) {
        const struct vs_config_field *f = &m->fields[i];
        uint8_t value[VU_MAX_CONFIG_SIZE];
        if ((uint32_t)f->offset + f->size > size || (f->gate >= 0 && !vu_has_bit(offered, f->gate)))
            continue;
        if (backend_has_field(f, in))
            memcpy(value, in->backend_config + f->offset, f->size);
        else if (!synthesize(f, in, value))
            continue;
        memcpy(config + f->offset, value, f->size);
    }
}

/* Every byte in fields with the property, and each field's gate in `features`
 * (offered, for provisioning; negotiated, for a driver write). */
static bool range_covered(const struct vs_device_model *m, uint32_t offset, uint32_t size,
                          bool provision, uint64_t features)
{
    for (uint32_t byte = offset; byte < offset + size; byte++) {
        const struct vs_config_field *f = vs_model_field_at(m, byte);
        bool ok = f && (provision ? f->provisionable : f->write != VS_WRITE_NONE) &&
                  (f->gate < 0 || vu_has_bit(features, f->gate));
        if (!ok)
            return false;
    }
    return size > 0;
}

bool vs_model_range_provisionable(const struct vs_device_model *m, uint32_t offset, uint32_t size,
                                  uint64_t offered)
{
    return range_covered(m, offset, size, true, offered);
}

bool vs_model_range_writable(const struct vs_device_model *m, uint32_t offset, uint32_t size,
                             uint64_t negotiated)
{
    return range_covered(m, offset, size, false, negotiated);
}

const struct vs_config_field *vs_model_field_at(const struct vs_device_model *m, uint32_t offset)
{
    for (unsigned i = 0; i < m->nfields; i++)
        if (offset >= m->fields[i].offset &&
            offset < (uint32_t)m->fields[i].offset + m->fields[i].size)
            return &m->fields[i];
    return NULL;
}

uint32_t vs_model_vqs_count(const struct vs_device_model *m, uint32_t backend_queues)
{
    /* net: the data queues plus the control queue the shim serves */
    return backend_queues + (m->has_ctrl_queue ? 1 : 0);
}

/* The always-present field the shim can neither read nor synthesize. */
static const struct vs_config_field *missing_field(const struct vs_device_model *m,
                                                   const struct vs_model_input *in)
{
    for (unsigned i = 0; i < m->nfields; i++)
        if (m->fields[i].gate < 0 && !field_known(&m->fields[i], in))
            return &m->fields[i];
    return NULL;
}

const char *vs_model_missing(const struct vs_device_model *m, const struct vs_model_input *in)
{
    const struct vs_config_field *f = missing_field(m, in);

    return f ? f->name : NULL;
}

enum vs_field_write vs_model_write_kind(const struct vs_device_model *m, uint32_t offset,
                                        uint32_t size, uint64_t negotiated, uint64_t offered)
{
    enum vs_field_write kind = VS_WRITE_NONE;

    for (uint32_t byte = offset; byte < offset + size; byte++) {
        const struct vs_config_field *f = vs_model_field_at(m, byte);
        uint64_t gates = f && f->write_early ? offered : negotiated;
        if (!f || f->write == VS_WRITE_NONE || (f->gate >= 0 && !vu_has_bit(gates, f->gate)) ||
            (kind != VS_WRITE_NONE && f->write != kind))
            return VS_WRITE_NONE;
        kind = f->write;
    }
    return kind;
}

bool vs_model_range_early(const struct vs_device_model *m, uint32_t offset, uint32_t size)
{
    for (uint32_t byte = offset; byte < offset + size; byte++) {
        const struct vs_config_field *f = vs_model_field_at(m, byte);
        if (!f || !f->write_early)
            return false;
    }
    return size > 0;
}

int vs_model_apply_write(const struct vs_device_model *m, struct vs_model_input *in,
                         uint64_t offered, uint32_t offset, uint32_t size, const uint8_t *data)
{
    uint8_t now[VU_MAX_CONFIG_SIZE];
    uint32_t clear = 0;

    if (offset > VU_MAX_CONFIG_SIZE || size > VU_MAX_CONFIG_SIZE - offset)
        return -EINVAL;
    vs_model_render(m, in, offered, now, sizeof(now));
    for (uint32_t i = 0; i < size; i++) {
        const struct vs_config_field *f = vs_model_field_at(m, offset + i);
        if (!f)
            return -EINVAL;
        if (f->write == VS_WRITE_SAME && data[i] != now[offset + i])
            return -EINVAL;
        /* events_clear: each 1 clears that bit of events_read (VIRTIO 1.2 5.7.4) */
        if (f->write == VS_WRITE_CLEARS && offset + i - f->offset < sizeof(clear))
            clear |= (uint32_t)data[i] << (8 * (offset + i - f->offset));
    }
    in->events &= ~clear;
    return 0;
}

/* Whether a driver may write the byte at `offset` in status `status`. */
static bool byte_writable(const struct vs_device_model *m, uint32_t offset, uint8_t status,
                          uint64_t negotiated, uint64_t offered)
{
    const struct vs_config_field *f = vs_model_field_at(m, offset);
    const uint8_t base = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
    bool features_ok = status & VIRTIO_STATUS_FEATURES_OK;

    if (!f || f->write == VS_WRITE_NONE || (status & base) != base ||
        (status & (VIRTIO_STATUS_FAILED | VIRTIO_STATUS_DEVICE_NEEDS_RESET)))
        return false;
    if (!features_ok && !f->write_early)
        return false;
    return f->gate < 0 || vu_has_bit(f->write_early ? offered : negotiated, f->gate);
}

int vs_model_write_span(const struct vs_device_model *m, uint32_t offset, uint32_t size,
                        uint8_t status, uint64_t negotiated, uint64_t offered, uint32_t *span_off,
                        uint32_t *span_size)
{
    uint32_t first = 0, last = 0;
    bool any = false, gap = false;

    for (uint32_t byte = offset; byte < offset + size; byte++) {
        if (!byte_writable(m, byte, status, negotiated, offered)) {
            gap = any;
            continue;
        }
        if (gap)
            return -EINVAL; /* a second range after a read-only byte */
        if (!any)
            first = byte;
        any = true;
        last = byte;
    }
    *span_off = any ? first : offset;
    *span_size = any ? last - first + 1 : 0;
    return 0;
}

bool vs_model_reads_backend(const struct vs_device_model *m)
{
    for (unsigned i = 0; i < m->nfields; i++)
        if (m->fields[i].from_backend)
            return true;
    return m->nfields == 0; /* generic: everything is the back-end's */
}

const char *vs_model_missing_key(const struct vs_device_model *m, const struct vs_model_input *in)
{
    const struct vs_config_field *f = missing_field(m, in);

    if (!f)
        return NULL;
    switch (f->source) {
    case VS_SRC_TAG:
        return "tag";
    case VS_SRC_CAPACITY:
        return "capacity";
    case VS_SRC_KEY:
        return vs_model_key_desc(f->value) ? vs_model_key_desc(f->value)->name : NULL;
    default:
        return NULL;
    }
}
