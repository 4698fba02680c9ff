/* SPDX-License-Identifier: MIT */
/*
 * Device models for down-conversion: what the shim must add to a legacy
 * vhost-user back-end so that a vdpa-user front-end sees the whole VIRTIO
 * device (docs/vdpa-user.md section 6). One file per device type
 * (model_net.c, model_blk.c, model_fs.c, model_console.c, ...), each a
 * declarative description of its config space plus its feature rules;
 * model.c renders them, model_keys.c lists the device keys they read. Pure:
 * no I/O, no session state.
 */
#ifndef VDPA_SHIM_DEVMODEL_H
#define VDPA_SHIM_DEVMODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "vhost_user.h"

/* Where a synthesized config field's value comes from. */
enum vs_field_source {
    VS_SRC_ZERO,           /* nothing known: the field's gate cannot be offered */
    VS_SRC_CONST,          /* .value */
    VS_SRC_MAC,            /* mac= key, provisioned, or set through the control queue */
    VS_SRC_MTU,            /* mtu= key or provisioned */
    VS_SRC_SPEED,          /* speed= key */
    VS_SRC_DUPLEX,         /* duplex= key */
    VS_SRC_LINK_STATUS,    /* LINK_UP while the back-end is connected */
    VS_SRC_QUEUE_PAIRS,    /* queue pairs the back-end serves */
    VS_SRC_NUM_QUEUES,     /* virtqueues the back-end serves */
    VS_SRC_REQUEST_QUEUES, /* virtqueues minus the first (fs: hiprio) */
    VS_SRC_TAG,            /* tag= key, NUL-padded */
    VS_SRC_CAPACITY,       /* capacity= key, in 512-byte sectors */
    VS_SRC_KEY,            /* the device key numbered .value (enum vs_model_key) */
    VS_SRC_DATA_QUEUES,    /* virtqueues minus the .value fixed ones (scsi: request queues) */
    VS_SRC_EVENTS,         /* the events the shim holds for the driver (gpu events_read) */
};

/* What a driver's write (SET_CONFIG flags=0) to a field does. */
enum vs_field_write {
    VS_WRITE_NONE,    /* read-only: refused */
    VS_WRITE_BACKEND, /* passed on to the back-end (blk writeback, input select/subsel,
                         console emerg_wr) */
    VS_WRITE_CLEARS,  /* write-1-to-clear of the shim's events (gpu events_clear) */
    VS_WRITE_SAME,    /* accepted when it writes the value the field reads, refused
                         otherwise: the device cannot change it (scsi sense_size and
                         cdb_size over vhost, as QEMU's vhost-scsi-common) */
};

/* The device keys the models read besides mac=, mtu=, speed=, tag= and
 * capacity= (model_keys.c: names, types, ranges). */
enum vs_model_key {
    VS_KEY_GUEST_CID,  /* vsock guest-cid= */
    VS_KEY_NGPIO,      /* gpio ngpio= */
    VS_KEY_COLS,       /* console cols= */
    VS_KEY_ROWS,       /* console rows= */
    VS_KEY_PORTS,      /* console ports= (max_nr_ports) */
    VS_KEY_STREAMS,    /* sound streams= */
    VS_KEY_JACKS,      /* sound jacks= */
    VS_KEY_CHMAPS,     /* sound chmaps= */
    VS_KEY_SCANOUTS,   /* gpu scanouts= */
    VS_KEY_MAX_TARGET, /* scsi max-target= */
    VS_KEY_MAX_LUN,    /* scsi max-lun= */
    VS_MODEL_KEYS
};

struct vs_model_key_desc {
    const char *name; /* as written: "guest-cid" */
    const char *type; /* the device type it applies to */
    uint64_t min, max;
    bool has_default; /* known when not given: dflt */
    uint64_t dflt;
    const char *help; /* for --help */
};

struct vs_config_field {
    const char *name;
    uint16_t offset, size;
    int8_t gate;                 /* feature bit the field belongs to; -1: always present */
    enum vs_field_source source; /* when the shim synthesizes the field */
    uint32_t value;              /* VS_SRC_CONST */
    bool from_backend;           /* read from the back-end's GET_CONFIG when it has F_CONFIG */
    bool provisionable;          /* SET_CONFIG flags=1 (before FEATURES_OK) */
    enum vs_field_write write;   /* SET_CONFIG flags=0 with the gate negotiated */
    bool write_early;            /* writable with the gate offered, in any status
                                    from ACKNOWLEDGE (console emerg_wr, spec 5.3.5;
                                    input select/subsel, read at probe) */
    bool shim_offers;            /* the shim offers the gate when it synthesizes the
                                    value, whether or not the back-end does (net mtu=,
                                    console cols=/rows=) */
};

/* A VIRTIO feature dependency: `bit` requires at least one of `any_of`. */
struct vs_feature_rule {
    uint8_t bit;
    uint64_t any_of;
};

struct vs_device_model {
    const char *type; /* device_types.c name */
    const struct vs_config_field *fields;
    unsigned nfields;
    /* Features the shim implements itself: offered to the front-end and
     * never sent to the back-end (a legacy net back-end never saw the
     * control queue; the VMM answered it). */
    uint64_t shim_features;
    /* Back-end features a vdpa-user front-end must not see: what the shim
     * cannot carry (IOTLB, ring reset) or the spec forbids. */
    uint64_t hidden_features;
    /* VIRTIO feature dependencies (VIRTIO 1.2 5.1.3.1 for net): checked
     * at FEATURES_OK, and applied to every offer the shim makes. */
    const struct vs_feature_rule *rules;
    unsigned nrules;
    /* Whether the shim handles a control queue (net with CTRL_VQ). */
    bool has_ctrl_queue;
    /* Events a config change of the back-end raises (gpu: VIRTIO_GPU_EVENT_DISPLAY
     * in events_read). */
    uint32_t change_events;
    /* A write passed on to the back-end carries the whole config space at
     * offset 0, as QEMU sends it (vhost-user-input: vhost-device-input reads
     * select and subsel from bytes 0 and 1 whatever the offset). */
    bool backend_write_whole;
};

/* What a rendering reads. */
struct vs_model_input {
    /* What the operator provisioned (the device's keys). */
    bool speed_set;          /* net speed=/duplex= given */
    uint32_t speed;          /* Mbit/s */
    uint8_t duplex;          /* 0 half, 1 full */
    const char *tag;         /* fs tag=, "" or NULL when not given */
    uint64_t capacity;       /* blk capacity= in bytes, 0 when not given */
    uint8_t mac[6];          /* current MAC */
    uint16_t mtu;            /* current MTU, 0 unknown */
    uint32_t backend_queues; /* virtqueues the back-end serves (net: 2 per pair) */
    bool link_up;
    const uint8_t *backend_config; /* NULL when the back-end has no F_CONFIG */
    uint32_t backend_config_size;
    uint64_t key[VS_MODEL_KEYS]; /* the model keys' values (enum vs_model_key) */
    uint32_t keys_set;           /* bit k: key k given */
    uint32_t events;             /* gpu events_read: events pending for the driver */
};

/* The model keys (model_keys.c). NULL / -1 when unknown. */
const struct vs_model_key_desc *vs_model_key_desc(unsigned key);
int vs_model_key_find(const char *name);
/* A key's value: given, or its default; false when neither. */
bool vs_model_key_value(const struct vs_model_input *in, unsigned key, uint64_t *value);

/* The model of a device type, or NULL when the shim cannot down-convert it
 * without the back-end's config space. */
const struct vs_device_model *vs_model_find(const char *type);
/* A model for any type whose back-end has F_CONFIG: everything forwarded. */
const struct vs_device_model *vs_model_generic(void);

/* Feature bits the model can show, given the back-end's offer and the
 * input (fields it cannot fill hide their gates). Transport bits (30, 26)
 * are kept as the back-end offered them. */
uint64_t vs_model_offer(const struct vs_device_model *m, const struct vs_model_input *in,
                        uint64_t backend_features);
/* Whether a feature set keeps every dependency rule of the model. */
bool vs_model_features_consistent(const struct vs_device_model *m, uint64_t features);
/* An offer with every feature whose required features are missing removed
 * (repeatedly: a removal can break another rule). A device must not offer
 * a feature without the ones it requires (VIRTIO 1.2 5.1.3.1). */
uint64_t vs_model_sanitize(const struct vs_device_model *m, uint64_t features);

/* The features to send to the back-end for a negotiated set. */
uint64_t vs_model_backend_features(const struct vs_device_model *m, uint64_t negotiated,
                                   uint64_t backend_features);
/* Renders the whole config space (size bytes, little-endian); a field
 * whose gate is not in `offered` reads zero (spec 6.1). */
void vs_model_render(const struct vs_device_model *m, const struct vs_model_input *in,
                     uint64_t offered, uint8_t *config, uint32_t size);
/* Whether every byte of [offset, offset+size) belongs to fields with the
 * given property: provisionable with the field offered, or driver-writable
 * with its gate negotiated. */
bool vs_model_range_provisionable(const struct vs_device_model *m, uint32_t offset, uint32_t size,
                                  uint64_t offered);
bool vs_model_range_writable(const struct vs_device_model *m, uint32_t offset, uint32_t size,
                             uint64_t negotiated);
/* What a driver write of [offset, offset+size) does: the one write kind of
 * every field it touches, each with its gate negotiated (offered, for a
 * write_early field); VS_WRITE_NONE when any byte is not writable or the
 * kinds differ. */
enum vs_field_write vs_model_write_kind(const struct vs_device_model *m, uint32_t offset,
                                        uint32_t size, uint64_t negotiated, uint64_t offered);
/* Whether every field [offset, offset+size) touches is write_early. */
bool vs_model_range_early(const struct vs_device_model *m, uint32_t offset, uint32_t size);
/* A write the shim serves itself (VS_WRITE_CLEARS, VS_WRITE_SAME), applied
 * to the input. 0, or -EINVAL when it would change a value the device
 * cannot change (nothing is applied then). */
int vs_model_apply_write(const struct vs_device_model *m, struct vs_model_input *in,
                         uint64_t offered, uint32_t offset, uint32_t size, const uint8_t *data);
/* The part of a driver write (SET_CONFIG flags=0) of [offset, offset + size)
 * that a device in VIRTIO status `status` takes: the bytes of fields a
 * driver may write (write != VS_WRITE_NONE), with FEATURES_OK set and each
 * gate negotiated (offered, for a write_early field); before FEATURES_OK,
 * from ACKNOWLEDGE|DRIVER on, the write_early fields alone (input select and
 * subsel, console emerg_wr: docs/vdpa-user.md SET_CONFIG); nothing with
 * FAILED or DEVICE_NEEDS_RESET set. *span_off and *span_size: from the
 * first such byte to the last (size 0 when there is none). 0, or -EINVAL
 * when a byte that is not writable lies between two that are (one write
 * cannot carry two ranges). Every byte is taken when the span is the range. */
int vs_model_write_span(const struct vs_device_model *m, uint32_t offset, uint32_t size,
                        uint8_t status, uint64_t negotiated, uint64_t offered, uint32_t *span_off,
                        uint32_t *span_size);
/* Whether any field comes from the back-end's config space when it has one. */
bool vs_model_reads_backend(const struct vs_device_model *m);
/* The field at an offset, for logs; NULL when none. */
const struct vs_config_field *vs_model_field_at(const struct vs_device_model *m, uint32_t offset);

/* The first always-present field the shim can neither read from the
 * back-end nor synthesize (e.g. fs `tag` without tag=), or NULL. */
const char *vs_model_missing(const struct vs_device_model *m, const struct vs_model_input *in);
/* The device key that would give it ("tag", "guest-cid"), or NULL when only
 * the back-end's config space can (input). */
const char *vs_model_missing_key(const struct vs_device_model *m, const struct vs_model_input *in);

/* Virtqueues the front-end sees (VDPA_GET_VQS_COUNT). */
uint32_t vs_model_vqs_count(const struct vs_device_model *m, uint32_t backend_queues);

#endif
