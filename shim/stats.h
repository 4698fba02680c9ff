/* SPDX-License-Identifier: MIT */
/* A device's counters (vs_relay_get_stats, relay.h). */
#ifndef VDPA_SHIM_STATS_H
#define VDPA_SHIM_STATS_H

/* Counters, for tests and the benchmark. */
struct vs_relay_stats {
    unsigned long sessions;  /* front-end connections served */
    unsigned long forwarded; /* messages forwarded, all channels */
    unsigned long rejected;  /* messages refused at the boundary */
};

#endif
