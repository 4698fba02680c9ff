/* SPDX-License-Identifier: MIT */
/*
 * vdpa-probe: the compatibility matrix's measuring tool
 * (compat-matrix/README.md).
 *
 *   --spec TYPE                  the spec columns of a type (lib/proto/matrix.c)
 *   --connect PATH ...           measure a live back-end (a front-end here)
 *   --listen PATH ...            measure a live front-end (a back-end here)
 *   --expect FILE                compare the measured column with a matrix file
 *
 * Exit status: 0 done (and equal with --expect), 1 the records differ from
 * --expect, 2 bad usage, 3 the peer cannot be reached, 4 other failures.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vdpa-probe/probe.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vdpa-probe --spec TYPE\n"
            "       vdpa-probe --connect PATH --type TYPE --column NAME [--expect FILE]\n"
            "       vdpa-probe --listen PATH --type TYPE --column NAME [--idle-ms N]\n"
            "                  [--accept-ms N] [--expect FILE] [--raw-dir DIR]\n"
            "       common: [--output FILE] [--log-level error|warn|info|debug] [--help]\n"
            "Measures a vhost-user peer and prints compat-matrix records (msg, offer, order)\n"
            "for the column NAME, e.g. dpdk-22.11-net_vhost:backend.\n"
            "  --spec TYPE     print the device, config and spec records of TYPE\n"
            "  --connect PATH  act as a front-end toward the back-end listening on PATH\n"
            "  --listen PATH   act as a permissive back-end for one front-end on PATH\n"
            "  --type TYPE     %s\n"
            "  --column NAME   the measured column, <program>-<version>:<role>\n"
            "  --idle-ms N     --listen: end after N ms without a request (default %d)\n"
            "  --accept-ms N   --listen: wait N ms for the front-end (default %d)\n"
            "  --raw-dir DIR   --listen: also write each request the front-end sends to DIR\n"
            "                  in the input format of tests/fuzz/fuzz_message.c (seeds)\n"
            "  --expect FILE   print '- <expected>' / '+ <measured>' for every record of the\n"
            "                  column that differs from FILE; exit 1 when any does\n"
            "  --output FILE   write the records to FILE (default: standard output, unless\n"
            "                  --expect is given)\n"
            "Exit status: 0 ok, 1 differs from --expect, 2 usage, 3 peer unreachable,\n"
            "4 other failure.\n",
            vs_device_type_names(), PROBE_IDLE_MS_DEFAULT, PROBE_ACCEPT_MS_DEFAULT);
}

static int parse_ms(const char *s, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

/* A column name: printable, no blanks (it is one TAB-separated field). */
static bool column_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return false;
    return true;
}

static int bad(const char *what)
{
    fprintf(stderr, "vdpa-probe: %s (see --help)\n", what);
    return -1;
}

enum {
    O_SPEC = 256,
    O_CONNECT,
    O_LISTEN,
    O_TYPE,
    O_COLUMN,
    O_EXPECT,
    O_OUTPUT,
    O_IDLE,
    O_ACCEPT,
    O_LOG,
    O_RAW,
    O_HELP
};

/* What one option sets: the probe's options, --spec's type, --type's. */
struct parsed {
    struct probe_opts *o;
    const char **spec;
    const char *type;
};

/* One option: 0, 1 for --help, -1 for a usage error (said). */
static int set_option(struct parsed *p, int c, const char *arg)
{
    struct probe_opts *o = p->o;
    enum vs_log_level level;

    switch (c) {
    case O_SPEC:
        *p->spec = arg;
        return 0;
    case O_CONNECT:
        o->connect_path = arg;
        return 0;
    case O_LISTEN:
        o->listen_path = arg;
        return 0;
    case O_TYPE:
        p->type = arg;
        return 0;
    case O_COLUMN:
        o->column = arg;
        return 0;
    case O_EXPECT:
        o->expect_path = arg;
        return 0;
    case O_OUTPUT:
        o->output_path = arg;
        return 0;
    case O_RAW:
        o->raw_dir = arg;
        return 0;
    case O_IDLE:
        return parse_ms(arg, &o->idle_ms) ? bad("--idle-ms wants a positive number of milliseconds")
                                          : 0;
    case O_ACCEPT:
        return parse_ms(arg, &o->accept_ms)
                   ? bad("--accept-ms wants a positive number of milliseconds")
                   : 0;
    case O_LOG:
        if (vs_log_level_parse(arg, &level))
            return bad("--log-level is error|warn|info|debug");
        vs_log_set_level(level);
        return 0;
    case O_HELP:
        return 1;
    default:
        return bad("unknown option");
    }
}

/* The options together: 0, or -1 for a usage error (said). */
static int check_options(struct probe_opts *o, const char *spec, const char *type)
{
    if (spec) {
        if (o->connect_path || o->listen_path)
            return bad("--spec goes alone");
        if (!(o->type = vs_device_type_find(spec)))
            return bad("unknown device type");
        return 0;
    }
    if (!o->connect_path == !o->listen_path)
        return bad("give one of --spec, --connect and --listen");
    if (!type || !(o->type = vs_device_type_find(type)))
        return bad("--type names a device type");
    if (!o->column || !column_ok(o->column))
        return bad("--column names the measured column (no blanks)");
    if (o->expect_path && access(o->expect_path, R_OK) != 0)
        return bad("--expect FILE is not readable");
    return 0;
}

/* 0, 1 for --help, -1 for a usage error; *spec is set for --spec. */
static int parse_options(int argc, char **argv, struct probe_opts *o, const char **spec)
{
    static const struct option longopts[] = {
        { "spec", required_argument, NULL, O_SPEC },
        { "connect", required_argument, NULL, O_CONNECT },
        { "listen", required_argument, NULL, O_LISTEN },
        { "type", required_argument, NULL, O_TYPE },
        { "column", required_argument, NULL, O_COLUMN },
        { "expect", required_argument, NULL, O_EXPECT },
        { "output", required_argument, NULL, O_OUTPUT },
        { "idle-ms", required_argument, NULL, O_IDLE },
        { "accept-ms", required_argument, NULL, O_ACCEPT },
        { "raw-dir", required_argument, NULL, O_RAW },
        { "log-level", required_argument, NULL, O_LOG },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    struct parsed p = { .o = o, .spec = spec };
    int c, rc;

    memset(o, 0, sizeof(*o));
    o->idle_ms = PROBE_IDLE_MS_DEFAULT;
    o->accept_ms = PROBE_ACCEPT_MS_DEFAULT;
    *spec = NULL;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
        if ((rc = set_option(&p, c, optarg)) != 0)
            return rc;
    if (optind < argc)
        return bad("unexpected argument");
    return check_options(o, *spec, p.type);
}

static int write_records(const struct probe_opts *o, const struct records *r)
{
    FILE *out;
    int rc;

    if (!o->output_path) {
        rc = rec_write(stdout, r);
        return fflush(stdout) && !rc ? -EIO : rc;
    }
    out = fopen(o->output_path, "we");
    if (!out) {
        rc = -errno;
        vs_err("cannot write %s: %s", o->output_path, strerror(errno));
        return rc;
    }
    rc = rec_write(out, r);
    return fclose(out) && !rc ? -EIO : rc;
}

int main(int argc, char **argv)
{
    static struct records r;
    struct probe_opts o;
    const char *spec;
    int rc;

    vs_log_set_program("vdpa-probe");
    vs_log_set_level(VS_LOG_WARN);
    signal(SIGPIPE, SIG_IGN); /* a peer that goes away is a fact to record */
    rc = parse_options(argc, argv, &o, &spec);
    if (rc > 0) {
        usage(stdout);
        return PROBE_EXIT_OK;
    }
    if (rc < 0)
        return PROBE_EXIT_USAGE;
    if (spec)
        return vs_mx_write_spec(stdout, o.type) || fflush(stdout) ? PROBE_EXIT_ERROR
                                                                  : PROBE_EXIT_OK;

    rec_init(&r, o.type, o.column);
    rc = o.connect_path ? probe_backend(&o, &r) : probe_frontend(&o, &r);
    if (rc == -ENOMEM)
        return PROBE_EXIT_ERROR;
    if (rc)
        return PROBE_EXIT_UNREACHABLE;
    if ((o.output_path || !o.expect_path) && write_records(&o, &r))
        return PROBE_EXIT_ERROR;
    if (!o.expect_path)
        return PROBE_EXIT_OK;
    rc = rec_compare(&r, o.expect_path, stdout);
    if (rc < 0) {
        vs_err("cannot read %s: %s", o.expect_path, strerror(-rc));
        return PROBE_EXIT_ERROR;
    }
    fflush(stdout);
    if (rc)
        fprintf(stderr, "vdpa-probe: column %s differs from %s\n", o.column, o.expect_path);
    return rc ? PROBE_EXIT_DIFFER : PROBE_EXIT_OK;
}
