/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: one message from a hostile peer through everything the
 * shim does before a handler sees it: the header decode, the descriptor
 * table, vu_validate_request (both channels) under fuzzed session limits,
 * vu_validate_reply against a fuzzed pending reply, and the trace decoder.
 * Fds really ride along (duplicates of an eventfd, a memfd, a socket, a pipe
 * or /dev/null, chosen by the input, so that the fd-kind checks pass and
 * fail) so that fd ownership is exercised: the harness checks that none is
 * leaked.
 *
 * Input: channel (1 byte), fds (1: count = byte % 9, kind = byte / 9 % 5),
 * negotiated protocol features (le64),
 * ring limit (1), reply kind (1), then the wire bytes: header + payload.
 * tests/fuzz/corpus/fuzz_message holds real conversations in this format
 * (vdpa-probe --listen --raw-dir).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd_util.h"
#include "trace.h"
#include "validate.h"

#define PREFIX 12

static int null_fd = -1;

/* One fd of each kind, made once; messages carry duplicates. /dev/null first
 * (kind 0), as before kinds were chosen. */
enum {
    KIND_COUNT = 5
};
static int kind_fds[KIND_COUNT] = { -1, -1, -1, -1, -1 };

static void make_kind_fds(void)
{
    int sv[2], pp[2];

    kind_fds[0] = null_fd;
    kind_fds[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    kind_fds[2] = memfd_create("fuzz_message", MFD_CLOEXEC);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0)
        kind_fds[3] = sv[0]; /* sv[1] stays open: a live peer */
    if (pipe2(pp, O_CLOEXEC) == 0)
        kind_fds[4] = pp[0];
    for (unsigned i = 0; i < KIND_COUNT; i++)
        if (kind_fds[i] < 0)
            abort();
}

static void fill(struct vu_msg *m, const uint8_t *data, size_t size, unsigned nfds)
{
    int kind_fd = kind_fds[data[1] / (VU_MAX_FDS + 1) % KIND_COUNT];

    vu_hdr_decode(data + PREFIX, &m->hdr);
    memcpy(m->payload.bytes, data + PREFIX + VU_HDR_SIZE, m->hdr.size);
    for (unsigned i = 0; i < VU_MAX_FDS; i++)
        m->fds[i] = -1;
    m->nfds = 0;
    for (unsigned i = 0; i < nfds; i++) {
        int copy = fd_dup_cloexec(kind_fd);
        if (copy >= 0)
            vu_msg_add_fd(m, copy);
    }
    (void)size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vu_session_limits lim = { 0 };
    const struct vu_msg_desc *d;
    struct vu_error err;
    struct vu_pending p = { 0 };
    struct vu_msg m;
    enum vu_channel ch;
    unsigned nfds;
    uint64_t pf;
    char text[1024];
    int lowest_free;

    if (null_fd < 0) {
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        make_kind_fds();
    }
    if (size < PREFIX + VU_HDR_SIZE)
        return 0;
    /* The baseline is taken per input: libFuzzer itself opens fds between
     * inputs (llvm-symbolizer's pipes when it prints a new function). */
    lowest_free = fcntl(null_fd, F_DUPFD_CLOEXEC, 3);
    close(lowest_free);
    ch = data[0] & 1 ? VU_CHAN_BACKEND : VU_CHAN_FRONTEND;
    nfds = data[1] % (VU_MAX_FDS + 1);
    memcpy(&pf, data + 2, sizeof(pf));
    lim.protocol_features = pf;
    lim.offered_features = UINT64_C(1) << VU_F_PROTOCOL_FEATURES;
    lim.features_known = true;
    lim.max_queues = data[10];
    lim.config_size = (uint32_t)data[11] * 2;

    memset(&m, 0, sizeof(m));
    vu_hdr_decode(data + PREFIX, &m.hdr);
    /* the transport delivers nothing larger, and nothing shorter than its header says */
    if (m.hdr.size > VU_MAX_PAYLOAD || m.hdr.size > size - PREFIX - VU_HDR_SIZE)
        return 0;

    /* as a request */
    fill(&m, data, size, nfds);
    if (vu_validate_request(&lim, ch, &m, &d, &err) == 0) {
        /* a valid message is traced and, for a request owing a reply, the
         * relay asks what comes back */
        vs_decode_payload(ch, &m, text, sizeof(text));
        vu_request_expects_reply(&lim, d, &m, &p);
    }
    vu_msg_close_fds(&m); /* what a handler would hand on or close */

    /* as a reply to the same request number */
    fill(&m, data, size, nfds);
    p.request = m.hdr.request;
    p.kind = data[0] & 2 ? VU_PENDING_ACK : VU_PENDING_EXPLICIT;
    p.config_size = data[11];
    p.empty_ok = data[0] & 4;
    if (vu_validate_reply(&p, ch, &m, &err) == 0)
        vs_decode_payload(ch, &m, text, sizeof(text));
    vu_msg_close_fds(&m);

    /* no fd may survive: the lowest free fd is the same after every input */
    int probe = fcntl(null_fd, F_DUPFD_CLOEXEC, 3);
    if (probe != lowest_free) {
        fprintf(stderr, "fd leak: the lowest free fd was %d, now %d\n", lowest_free, probe);
        abort();
    }
    close(probe);
    return 0;
}
