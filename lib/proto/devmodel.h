/* SPDX-License-Identifier: MIT */
/*
 * Device models for down-conversion: what the shim must add to a legacy
 * vhost-user back-end so that a vdpa-user front-end sees the whole VIRTIO
 * device (docs/vdpa-user.md section 6). One file per device type
 * (model_net.c, model_blk.c, model_fs.c), each a declarative description of
 * its config space plus its feature rules; model.c renders them. Pure: no
 * I/O, no session state.
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
};

struct vs_config_field {
    const char *name;
    uint16_t offset, size;
    int8_t gate;                 /* feature bit the field belongs to; -1: always present */
    enum vs_field_source source; /* when the shim synthesizes the field */
    uint32_t value;              /* VS_SRC_CONST */
    bool from_backend;           /* read from the back-end's GET_CONFIG when it has F_CONFIG */
    bool provisionable;          /* SET_CONFIG flags=1 (before FEATURES_OK) */
    bool driver_writable;        /* SET_CONFIG flags=0 with the gate negotiated */
    bool shim_offers;            /* the shim offers the gate when it knows the value,
                                  whether or not the back-end does (net mtu=) */
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
};

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
/* The field at an offset, for logs; NULL when none. */
const struct vs_config_field *vs_model_field_at(const struct vs_device_model *m, uint32_t offset);

/* The first always-present field the shim can neither read from the
 * back-end nor synthesize (e.g. fs `tag` without tag=), or NULL. */
const char *vs_model_missing(const struct vs_device_model *m, const struct vs_model_input *in);

/* Virtqueues the front-end sees (VDPA_GET_VQS_COUNT). */
uint32_t vs_model_vqs_count(const struct vs_device_model *m, uint32_t backend_queues);

#endif
