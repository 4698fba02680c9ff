/* SPDX-License-Identifier: MIT */
/*
 * bringup: control-plane latency, direct versus through the shim.
 *
 *   bringup --case NAME,net|blk,RINGS,DIRECT_SOCKET,SHIM_SOCKET [--case ...]
 *           [--reps N] [--warmup N] [--settle-ms N] [--floor N] [--raw FILE]
 *           [--scripted-backend PATH] [--steps FILE]
 *
 * For each repetition and each case, a scripted legacy front-end (bench.h)
 * brings the device up once on the back-end's own socket and once on the
 * shim's front-end socket, in alternating order, timing first message to
 * DRIVER_OK's ack. After each repetition it times --floor round trips of the
 * same small message against an echo process: the cost of one extra
 * unix-socket round trip, measured under the same load as the bring-ups.
 *
 * --scripted-backend starts the scripted back-end of bench.h listening on
 * PATH for the run (for where no real back-end is wanted, e.g. the smoke
 * test); a case names PATH as its direct socket and the shim's back-end.
 *
 * --steps FILE: per request type, the median time direct and through the
 * shim and the median added ("step ..." lines): where the added time goes.
 *
 * Prints one "case ..." line per case and one "floor ..." line, as key=value
 * pairs (tests/bench/run.sh reads them); with --raw, every sample as TSV.
 * Exit status: 0, 1 when a case failed (its line says why), 2 on usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "msg_table.h"

#define MAX_CASES       8
#define MAX_FAILURES    3 /* a case is abandoned after this many failed bring-ups */
#define STEP_TIMEOUT_MS 5000

enum {
    DIRECT,
    SHIM
};
static const char *const path_names[] = { "direct", "shim" };

struct bcase {
    char name[32];
    enum bench_kind kind;
    unsigned rings;
    const char *sock[2];
    uint64_t *ns[2];      /* per repetition */
    unsigned n;           /* repetitions measured */
    unsigned msgs, rts;   /* of the first bring-up (direct) */
    uint64_t *step_ns[2]; /* [rep * BENCH_MAX_STEPS + step] */
    uint32_t step_req[BENCH_MAX_STEPS];
    bool mismatch; /* a bring-up took another number of steps */
    unsigned failures;
    char error[200];
};

static void usage(void)
{
    fprintf(stderr,
            "usage: bringup --case NAME,net|blk,RINGS,DIRECT_SOCKET,SHIM_SOCKET [--case ...]\n"
            "               [--reps N] [--warmup N] [--settle-ms N] [--floor N] [--raw FILE]\n"
            "               [--scripted-backend PATH] [--steps FILE]\n");
    exit(2);
}

static int parse_case(char *spec, struct bcase *c, unsigned reps)
{
    char *f[5];
    unsigned i = 0;

    for (char *save = NULL, *t = strtok_r(spec, ",", &save); t && i < 5;
         t = strtok_r(NULL, ",", &save))
        f[i++] = t;
    if (i != 5 || strlen(f[0]) >= sizeof(c->name))
        return -EINVAL;
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", f[0]);
    if (strcmp(f[1], "net") == 0)
        c->kind = BENCH_NET;
    else if (strcmp(f[1], "blk") == 0)
        c->kind = BENCH_BLK;
    else
        return -EINVAL;
    c->rings = (unsigned)strtoul(f[2], NULL, 10);
    if (c->rings == 0 || c->rings > BENCH_MAX_RINGS)
        return -EINVAL;
    c->sock[DIRECT] = f[3];
    c->sock[SHIM] = f[4];
    c->ns[DIRECT] = calloc(reps, sizeof(uint64_t));
    c->ns[SHIM] = calloc(reps, sizeof(uint64_t));
    c->step_ns[DIRECT] = calloc((size_t)reps * BENCH_MAX_STEPS, sizeof(uint64_t));
    c->step_ns[SHIM] = calloc((size_t)reps * BENCH_MAX_STEPS, sizeof(uint64_t));
    return c->ns[DIRECT] && c->ns[SHIM] && c->step_ns[DIRECT] && c->step_ns[SHIM] ? 0 : -ENOMEM;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* A back-end between sessions may refuse for a moment: retry briefly. */
static int connect_retry(const char *path)
{
    int fd = -ENOENT;

    for (int i = 0; i < 2000; i++) {
        fd = vu_connect_unix(path);
        if (fd >= 0 || (fd != -ECONNREFUSED && fd != -ENOENT && fd != -EAGAIN))
            break;
        sleep_ms(1);
    }
    return fd;
}

/* One bring-up; 0 and the time in *ns, or -errno with c->error. The time
 * of each request goes to steps[] (BENCH_MAX_STEPS) when not NULL. */
static int one(struct bcase *c, int path, const struct bench_res *res, uint64_t *ns,
               uint64_t *steps)
{
    struct bench_fe f;
    int fd = connect_retry(c->sock[path]), rc;

    if (fd < 0) {
        snprintf(c->error, sizeof(c->error), "%s: cannot connect to %s: %s", path_names[path],
                 c->sock[path], strerror(-fd));
        return fd;
    }
    bench_fe_init(&f, c->kind, c->rings, res);
    rc = bench_bringup_blocking(fd, &f, ns, STEP_TIMEOUT_MS);
    close(fd);
    if (rc) {
        snprintf(c->error, sizeof(c->error), "%s: %s", path_names[path], f.error);
    } else if (path == DIRECT && c->msgs == 0) {
        c->msgs = f.sent;
        c->rts = f.round_trips;
        memcpy(c->step_req, f.step_req, sizeof(c->step_req));
    } else if (f.sent != c->msgs || f.round_trips != c->rts) {
        c->mismatch = true;
    }
    if (rc == 0 && steps)
        memcpy(steps, f.step_ns, sizeof(f.step_ns));
    bench_fe_reset(&f);
    return rc;
}

/* Per request type: how many a bring-up sends, the median time of one
 * direct and through the shim, and the median added (paired by repetition
 * and position). One "step ..." line each. */
static void report_steps(struct bcase *c, FILE *out)
{
    uint64_t *v = calloc(c->n, sizeof(uint64_t));
    double *dv = calloc((size_t)c->n * BENCH_MAX_STEPS, sizeof(double));
    bool seen[BENCH_MAX_STEPS] = { false };
    unsigned steps = c->msgs < BENCH_MAX_STEPS ? c->msgs : BENCH_MAX_STEPS;

    if (!v || !dv)
        goto out;
    for (unsigned k = 0; k < steps; k++) {
        uint32_t req = c->step_req[k];
        unsigned count = 0, nd = 0;
        double med[2];
        if (seen[k])
            continue;
        for (int path = 0; path < 2; path++) {
            size_t nv = 0;
            /* one sample per repetition: the mean over this request type */
            for (unsigned i = 0; i < c->n; i++) {
                uint64_t sum = 0;
                count = 0;
                for (unsigned j = k; j < steps; j++)
                    if (c->step_req[j] == req) {
                        sum += c->step_ns[path][(size_t)i * BENCH_MAX_STEPS + j];
                        count++;
                    }
                v[nv++] = sum / (count ? count : 1);
            }
            med[path] = bench_median_u64(v, nv);
        }
        for (unsigned j = k; j < steps; j++)
            if (c->step_req[j] == req) {
                seen[j] = true;
                for (unsigned i = 0; i < c->n; i++)
                    dv[nd++] = (double)c->step_ns[SHIM][(size_t)i * BENCH_MAX_STEPS + j] -
                               (double)c->step_ns[DIRECT][(size_t)i * BENCH_MAX_STEPS + j];
            }
        fprintf(out, "step case=%s req=%s count=%u direct_us=%.1f shim_us=%.1f added_us=%.1f\n",
                c->name, vu_request_name(VU_CHAN_FRONTEND, req), count, med[DIRECT] / 1000.0,
                med[SHIM] / 1000.0, bench_median_dbl(dv, nd) / 1000.0);
    }
out:
    free(v);
    free(dv);
}

static void report(struct bcase *c, FILE *raw, FILE *steps)
{
    double d, s, pd, added_paired;
    double *diff = calloc(c->n ? c->n : 1, sizeof(double));

    if (raw)
        for (unsigned i = 0; i < c->n; i++)
            fprintf(raw, "%s\t%u\t%llu\t%llu\n", c->name, i, (unsigned long long)c->ns[DIRECT][i],
                    (unsigned long long)c->ns[SHIM][i]);
    for (unsigned i = 0; diff && i < c->n; i++)
        diff[i] = (double)c->ns[SHIM][i] - (double)c->ns[DIRECT][i];
    added_paired = diff ? bench_median_dbl(diff, c->n) / 1000.0 : 0;
    free(diff);
    d = bench_median_u64(c->ns[DIRECT], c->n) / 1000.0;
    s = bench_median_u64(c->ns[SHIM], c->n) / 1000.0;
    pd = bench_pct_sorted_u64(c->ns[DIRECT], c->n, 90) / 1000.0;
    printf("case name=%s type=%s rings=%u reps=%u failures=%u msgs=%u round_trips=%u "
           "direct_us=%.1f shim_us=%.1f direct_p90_us=%.1f shim_p90_us=%.1f added_us=%.1f "
           "added_per_rt_us=%.2f added_per_msg_us=%.2f ratio=%.3f steps_differ=%d",
           c->name, c->kind == BENCH_NET ? "net" : "blk", c->rings, c->n, c->failures, c->msgs,
           c->rts, d, s, pd, bench_pct_sorted_u64(c->ns[SHIM], c->n, 90) / 1000.0, added_paired,
           c->rts ? added_paired / c->rts : 0, c->msgs ? added_paired / c->msgs : 0,
           d > 0 ? s / d : 0, c->mismatch);
    if (c->error[0])
        printf(" error=\"%s\"", c->error);
    printf("\n");
    if (steps && c->n && !c->mismatch)
        report_steps(c, steps);
}

int main(int argc, char **argv)
{
    struct bcase cases[MAX_CASES];
    char *specs[MAX_CASES];
    unsigned ncases = 0, reps = 200, warmup = 5, settle_ms = 10, floor_n = 50;
    const char *raw_path = NULL, *serve_path = NULL, *steps_path = NULL;
    FILE *steps_out = NULL;
    pid_t serve_pid = 0;
    struct bench_res res;
    struct bench_echo echo;
    uint64_t *floor;
    size_t nfloor = 0;
    FILE *raw = NULL;
    int status = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        if (strcmp(a, "--case") == 0 && ncases < MAX_CASES)
            specs[ncases++] = argv[++i];
        else if (strcmp(a, "--reps") == 0)
            reps = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(a, "--warmup") == 0)
            warmup = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(a, "--settle-ms") == 0)
            settle_ms = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(a, "--floor") == 0)
            floor_n = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(a, "--raw") == 0)
            raw_path = argv[++i];
        else if (strcmp(a, "--steps") == 0)
            steps_path = argv[++i];
        else if (strcmp(a, "--scripted-backend") == 0)
            serve_path = argv[++i];
        else
            usage();
    }
    if (ncases == 0 || reps == 0 || floor_n == 0)
        usage();
    for (unsigned i = 0; i < ncases; i++)
        if (parse_case(specs[i], &cases[i], reps)) {
            fprintf(stderr, "bringup: bad --case %s\n", specs[i]);
            usage();
        }
    signal(SIGPIPE, SIG_IGN);
    if (serve_path) {
        int rc = bench_be_serve_start(serve_path, &serve_pid);
        if (rc) {
            fprintf(stderr, "bringup: cannot serve on %s: %s\n", serve_path, strerror(-rc));
            return 1;
        }
    }
    floor = calloc((size_t)reps * floor_n, sizeof(*floor));
    if (!floor || bench_res_init(&res) || bench_echo_start(&echo)) {
        fprintf(stderr, "bringup: cannot set up: %s\n", strerror(errno));
        return 1;
    }

    for (unsigned rep = 0; rep < warmup + reps; rep++) {
        bool measured = rep >= warmup;
        for (unsigned k = 0; k < ncases; k++) {
            struct bcase *c = &cases[k];
            uint64_t ns[2];
            int rc = 0;
            if (c->failures >= MAX_FAILURES)
                continue;
            /* alternate which path goes first, so neither always follows the other */
            for (int j = 0; j < 2 && rc == 0; j++) {
                int path = (rep + (unsigned)j) % 2 ? SHIM : DIRECT;
                rc = one(c, path, &res, &ns[path],
                         measured ? c->step_ns[path] + (size_t)c->n * BENCH_MAX_STEPS : NULL);
                sleep_ms(settle_ms);
            }
            if (rc) {
                c->failures++;
                fprintf(stderr, "bringup: %s, repetition %u: %s\n", c->name, rep, c->error);
                continue;
            }
            if (measured) {
                c->ns[DIRECT][c->n] = ns[DIRECT];
                c->ns[SHIM][c->n] = ns[SHIM];
                c->n++;
            }
        }
        if (measured) {
            if (bench_echo_measure(&echo, floor + nfloor, floor_n) == 0)
                nfloor += floor_n;
        }
    }

    if (raw_path) {
        raw = fopen(raw_path, "we");
        if (raw)
            fprintf(raw, "case\trep\tdirect_ns\tshim_ns\n");
    }
    if (steps_path)
        steps_out = fopen(steps_path, "we");
    for (unsigned k = 0; k < ncases; k++) {
        report(&cases[k], raw, steps_out);
        if (cases[k].failures >= MAX_FAILURES || cases[k].n == 0)
            status = 1;
    }
    {
        double med = bench_median_u64(floor, nfloor);
        printf("floor samples=%zu rtt_us=%.2f rtt_p10_us=%.2f rtt_p90_us=%.2f\n", nfloor,
               med / 1000.0, bench_pct_sorted_u64(floor, nfloor, 10) / 1000.0,
               bench_pct_sorted_u64(floor, nfloor, 90) / 1000.0);
    }
    if (raw)
        fclose(raw);
    if (steps_out)
        fclose(steps_out);
    bench_echo_stop(&echo);
    if (serve_path)
        bench_be_serve_stop(serve_pid, serve_path);
    bench_res_close(&res);
    for (unsigned k = 0; k < ncases; k++) {
        free(cases[k].ns[DIRECT]);
        free(cases[k].ns[SHIM]);
        free(cases[k].step_ns[DIRECT]);
        free(cases[k].step_ns[SHIM]);
    }
    free(floor);
    return status;
}
