/* SPDX-License-Identifier: MIT */
/* vdpa-shim: parse the command line, start one relay per device, run the loop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli.h"
#include "log.h"
#include "relay.h"
#include "trace.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

struct shim {
    struct vs_relay **relays;
    size_t nrelays;
    uv_signal_t sigint, sigterm;
};

static void stop_all(struct shim *s)
{
    for (size_t i = 0; i < s->nrelays; i++)
        vs_relay_destroy(s->relays[i]);
    s->nrelays = 0;
    if (!uv_is_closing((uv_handle_t *)&s->sigint)) {
        uv_close((uv_handle_t *)&s->sigint, NULL);
        uv_close((uv_handle_t *)&s->sigterm, NULL);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    vs_info("%s: shutting down", strsignal(signum));
    stop_all(h->data);
}

int main(int argc, char **argv)
{
    struct vs_options opts;
    struct vs_trace *trace = NULL;
    struct shim shim = { 0 };
    uv_loop_t *loop = uv_default_loop();
    char err[512];
    int status = 0;

    if (vs_cli_parse(argc, argv, &opts, err, sizeof(err))) {
        fprintf(stderr, "vdpa-shim: %s\n", err);
        return EXIT_USAGE;
    }
    if (opts.help) {
        vs_cli_usage(stdout);
        vs_options_free(&opts);
        return 0;
    }
    if (opts.version) {
        printf("vdpa-shim %s (vdpa-user protocol v1)\n", VDPA_SHIM_VERSION);
        vs_options_free(&opts);
        return 0;
    }
    vs_log_set_level(opts.log_level);
    signal(SIGPIPE, SIG_IGN);
    if (opts.trace_path) {
        trace = vs_trace_open(opts.trace_path);
        if (!trace) {
            vs_err("cannot open trace file %s: %s", opts.trace_path, strerror(errno));
            vs_options_free(&opts);
            return EXIT_RUNTIME;
        }
    }

    shim.relays = calloc(opts.ndevices, sizeof(*shim.relays));
    uv_signal_init(loop, &shim.sigint);
    uv_signal_init(loop, &shim.sigterm);
    shim.sigint.data = shim.sigterm.data = &shim;
    uv_signal_start(&shim.sigint, on_signal, SIGINT);
    uv_signal_start(&shim.sigterm, on_signal, SIGTERM);

    for (size_t i = 0; shim.relays && i < opts.ndevices; i++) {
        struct vs_relay *r = vs_relay_new(loop, &opts.devices[i], trace);
        if (!r) {
            status = EXIT_RUNTIME;
            break;
        }
        shim.relays[shim.nrelays++] = r;
        if (vs_relay_start(r)) {
            status = EXIT_RUNTIME;
            break;
        }
    }
    if (!shim.relays)
        status = EXIT_RUNTIME;
    if (status)
        stop_all(&shim);

    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    free(shim.relays);
    vs_trace_close(trace);
    vs_options_free(&opts);
    return status;
}
