/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: whole sessions. The relay runs on a libuv loop in this
 * process; the input plays the front-end and the back-end, message by
 * message on either socket and either end of the back-end channel, with
 * real fds of every kind in every fd slot, guest memory it writes and kicks;
 * peers flip O_NONBLOCK on the fds they share with the shim, saturate or
 * drain them, go silent while time passes (the harness's own clock, past
 * reply-timeout=) or leave half a message. Which translation runs follows
 * from what the two sides say: pass-through, up-conversion (a legacy
 * front-end acking protocol features of a back-end offering F_VDPA) or
 * down-conversion (a vdpa-user front-end over a legacy back-end, whose
 * virtio-net control queue the shim serves from the fuzzed guest memory).
 * The input format is in session_harness.h. An fd or a libuv handle left
 * behind after the session aborts; leaks of memory are LeakSanitizer's.
 */
#include <stdlib.h>

#include "session_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fz_session_run(data, size, NULL) != 0)
        abort();
    return 0;
}
