/* SPDX-License-Identifier: MIT */
/*
 * The measured columns of the compatibility matrix
 * (lib/proto/matrix_measured.c): the committed files load whole, a
 * back-end is matched by its offers and a front-end by the order of its
 * first requests (one column, several, none), the column cap, and the
 * loader's errors.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "matrix.h"

#define TOO_MANY_COLUMNS (VS_MX_MAX_COLUMNS + 6)

/* Large: kept off the stack. */
static struct vs_matrix mx;

static const char *const types[] = { "net",   "blk",   "console", "rng", "scsi", "gpu", "input",
                                     "vsock", "sound", "fs",      "i2c", "gpio", "scmi" };

static void load(const char *type)
{
    char path[64], err[300] = "";

    snprintf(path, sizeof(path), "compat-matrix/%s.tsv", type);
    if (vs_mx_load(path, vs_device_type_find(type), &mx, err, sizeof(err)) != 0)
        fail_msg("%s", err);
}

/* The distinct measured column names of a file, counted here without the
 * loader: every column of a msg, offer or order record not named spec:. */
static unsigned count_columns(const char *path)
{
    static char names[VS_MX_MAX_COLUMNS * 2][VS_MX_NAME_MAX];
    unsigned n = 0;
    char line[512];
    FILE *f = fopen(path, "r");

    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        char *kind = strtok(line, "\t\n"), *col = strtok(NULL, "\t\n");
        unsigned i;
        if (!kind || !col || strncmp(col, "spec:", 5) == 0 ||
            (strcmp(kind, "msg") && strcmp(kind, "offer") && strcmp(kind, "order")))
            continue;
        for (i = 0; i < n && strcmp(names[i], col); i++)
            ;
        if (i == n && n < VS_MX_MAX_COLUMNS * 2)
            snprintf(names[n++], VS_MX_NAME_MAX, "%s", col);
    }
    fclose(f);
    return n;
}

static void committed_files_load_whole(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        char path[64];
        snprintf(path, sizeof(path), "compat-matrix/%s.tsv", types[t]);
        load(types[t]);
        assert_int_equal(mx.ncols, count_columns(path));
        assert_int_equal(mx.dropped, 0);
        /* the spec columns are still there */
        assert_int_equal(vs_mx_get(&mx, VS_MX_LEGACY_FE, VU_CHAN_FRONTEND, VU_REQ_GET_FEATURES),
                         VS_MX_REQUIRED);
    }
}

static vs_mx_set offers(uint64_t features, uint64_t pf, int queue_num, int config_size)
{
    struct vs_mx_offers o = { .known = 1u << VS_MX_OFFER_FEATURES | 1u << VS_MX_OFFER_PROTOCOL };

    o.v[VS_MX_OFFER_FEATURES] = features;
    o.v[VS_MX_OFFER_PROTOCOL] = pf;
    if (queue_num >= 0) {
        o.known |= 1u << VS_MX_OFFER_QUEUE_NUM;
        o.v[VS_MX_OFFER_QUEUE_NUM] = (uint64_t)queue_num;
    }
    if (config_size >= 0) {
        o.known |= 1u << VS_MX_OFFER_CONFIG_SIZE;
        o.v[VS_MX_OFFER_CONFIG_SIZE] = (uint64_t)config_size;
    }
    return vs_mx_match_offers(&mx, &o);
}

static void names_equal(vs_mx_set s, bool bare, const char *expected)
{
    char buf[400];

    vs_mx_names(&mx, s, bare, buf, sizeof(buf));
    assert_string_equal(buf, expected);
}

/* net: the three DPDK net_vhost versions offer the same bits; the
 * reference back-end others. */
static void net_backends_by_offers(void **state)
{
    vs_mx_set dpdk, partial;
    struct vs_mx_offers only_features = { .known = 1u << VS_MX_OFFER_FEATURES };

    (void)state;
    load("net");
    dpdk = offers(0xd7c66e7cbULL, 0x10cbf, -1, -1);
    assert_int_equal(vs_mx_count(dpdk), 3);
    names_equal(dpdk, true, "dpdk-20.11-net_vhost, dpdk-22.11-net_vhost, dpdk-24.11-net_vhost");
    /* the queue number they recorded agrees; another does not */
    assert_int_equal(offers(0xd7c66e7cbULL, 0x10cbf, 128, -1), dpdk);
    assert_int_equal(offers(0xd7c66e7cbULL, 0x10cbf, 64, -1), 0);
    /* a column without a config-size record is not excluded by one */
    assert_int_equal(offers(0xd7c66e7cbULL, 0x10cbf, -1, 24), dpdk);
    /* one bit different: none */
    assert_int_equal(offers(0xd7c66e7cbULL ^ 1, 0x10cbf, -1, -1), 0);
    /* the reference vdpa-user back-end, alone */
    names_equal(offers(0x140010020ULL, 0x8000000000010229ULL, -1, -1), false,
                "vdpa-backend:backend");
    /* without both offers known, nothing matches */
    only_features.v[VS_MX_OFFER_FEATURES] = 0xd7c66e7cbULL;
    partial = vs_mx_match_offers(&mx, &only_features);
    assert_int_equal(partial, 0);
    /* what dpdk-22.11-net_vhost did with requests */
    assert_int_equal(
        vs_mx_with(&mx, dpdk, VU_CHAN_FRONTEND, VU_REQ_VDPA_GET_DEVICE_ID, 1u << VS_MX_DISCONNECT),
        dpdk);
    assert_int_equal(
        vs_mx_with(&mx, dpdk, VU_CHAN_FRONTEND, VU_REQ_SET_OWNER, 1u << VS_MX_ANSWERED), dpdk);
    assert_int_equal(vs_mx_with(&mx, dpdk, VU_CHAN_FRONTEND, VU_REQ_SET_OWNER, 1u << VS_MX_REFUSED),
                     0);
}

/* blk: qemu-storage-daemon 5.2 by its protocol features alone; 7.2 and
 * 10.0 offer the same and differ by config size. */
static void blk_backends_by_offers(void **state)
{
    (void)state;
    load("blk");
    names_equal(offers(0x175007e46ULL, 0x9f2b, -1, -1), true, "qemu-storage-daemon-5.2");
    names_equal(offers(0x175007e46ULL, 0x8f2b, -1, -1), true,
                "qemu-storage-daemon-10.0, qemu-storage-daemon-7.2");
    names_equal(offers(0x175007e46ULL, 0x8f2b, 1, 60), true, "qemu-storage-daemon-7.2");
    names_equal(offers(0x175007e46ULL, 0x8f2b, 1, 72), true, "qemu-storage-daemon-10.0");
    assert_int_equal(offers(0x175007e46ULL, 0x8f2b, 2, -1), 0);
}

static vs_mx_set order(const uint32_t *requests, unsigned n)
{
    uint8_t rows[VS_MX_ROWS];

    for (unsigned i = 0; i < n; i++)
        rows[i] = (uint8_t)vs_mx_row(VU_CHAN_FRONTEND, requests[i]);
    return vs_mx_match_order(&mx, rows, n);
}

static void net_frontends_by_order(void **state)
{
    static const uint32_t qemu[] = {
        VU_REQ_GET_FEATURES,     VU_REQ_GET_PROTOCOL_FEATURES, VU_REQ_SET_PROTOCOL_FEATURES,
        VU_REQ_GET_QUEUE_NUM,    VU_REQ_GET_MAX_MEM_SLOTS,     VU_REQ_SET_BACKEND_REQ_FD,
        VU_REQ_SET_OWNER,        VU_REQ_SET_VRING_CALL,        VU_REQ_SET_VRING_ERR,
        VU_REQ_SET_VRING_ENABLE,
    };
    static const uint32_t dpdk[] = { VU_REQ_SET_OWNER, VU_REQ_GET_FEATURES };
    static const uint32_t other[] = { VU_REQ_GET_PROTOCOL_FEATURES };
    vs_mx_set s;

    (void)state;
    load("net");
    /* the first request already tells QEMU from DPDK */
    s = order(qemu, 1);
    names_equal(s, true, "qemu-10.0, qemu-5.2, qemu-7.2");
    assert_int_equal(vs_mx_order_max(&mx, s), 10);
    /* QEMU 5.2 recorded 8 requests, all as 7.2 and 10.0 sent them */
    assert_int_equal(order(qemu, 10), s);
    s = order(dpdk, 2);
    names_equal(s, false,
                "dpdk-20.11-virtio-user:frontend, dpdk-22.11-virtio-user:frontend, "
                "dpdk-24.11-virtio-user:frontend");
    assert_int_equal(vs_mx_order_max(&mx, s), 15);
    assert_int_equal(order(other, 1), 0);
    /* no request yet: every front-end column with an order */
    assert_int_equal(order(NULL, 0), vs_mx_columns(&mx, VS_MX_SIDE_FRONTEND));
}

/* Writes `text` after a blk device record to a temporary file (returned). */
static char *fixture(const char *text)
{
    static char path[64];
    FILE *f;
    int fd;

    snprintf(path, sizeof(path), "/tmp/vdpa-mxcol-test.XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fprintf(f, "device\tblk\t2\t60\t1\n%s", text);
    assert_int_equal(fclose(f), 0);
    return path;
}

static int load_fixture(const char *text, char *err, size_t len)
{
    char *path = fixture(text);
    int rc = vs_mx_load(path, vs_device_type_find("blk"), &mx, err, len);

    unlink(path);
    return rc;
}

static void fixture_unique_and_none(void **state)
{
    char err[300] = "";
    static const uint32_t a[] = { VU_REQ_GET_FEATURES, VU_REQ_SET_OWNER };
    static const uint32_t b[] = { VU_REQ_GET_FEATURES, VU_REQ_GET_PROTOCOL_FEATURES };

    (void)state;
    assert_int_equal(load_fixture("msg\tone-1.0:backend\tfe\tSET_OWNER\trefused\tprobe\n"
                                  "offer\tone-1.0:backend\tfeatures\t0x100000000\tprobe\n"
                                  "offer\tone-1.0:backend\tprotocol-features\t0x1\tprobe\n"
                                  "offer\tone-1.0:backend\tstatus\tanswered\tprobe\n"
                                  "offer\ttwo-2.0:backend\tfeatures\t0x100000000\tprobe\n"
                                  "offer\ttwo-2.0:backend\tprotocol-features\t0x3\tprobe\n"
                                  "order\tfa-1:frontend\t1\tGET_FEATURES\tprobe\n"
                                  "order\tfa-1:frontend\t2\tSET_OWNER\tprobe\n"
                                  "order\tfb-1:frontend\t1\tGET_FEATURES\tprobe\n"
                                  "order\tfb-1:frontend\t2\tGET_PROTOCOL_FEATURES\tprobe\n"
                                  "note\tfb-1:frontend\tneeds-kvm\tno\tprobe\n",
                                  err, sizeof(err)),
                     0);
    assert_int_equal(mx.ncols, 4);
    names_equal(offers(UINT64_C(0x100000000), 1, -1, -1), false, "one-1.0:backend");
    names_equal(offers(UINT64_C(0x100000000), 3, -1, -1), false, "two-2.0:backend");
    assert_int_equal(offers(UINT64_C(0x100000000), 7, -1, -1), 0);
    names_equal(order(a, 2), true, "fa-1");
    names_equal(order(b, 2), true, "fb-1");
    names_equal(order(a, 1), true, "fa-1, fb-1");
    names_equal(vs_mx_columns(&mx, VS_MX_SIDE_BACKEND), true, "one-1.0, two-2.0");
    assert_int_equal(vs_mx_get(&mx, VS_MX_LEGACY_FE, VU_CHAN_FRONTEND, VU_REQ_SET_OWNER),
                     VS_MX_NONE);
    assert_int_equal(vs_mx_with(&mx, vs_mx_columns(&mx, VS_MX_SIDE_BACKEND), VU_CHAN_FRONTEND,
                                VU_REQ_SET_OWNER, VS_MX_RECEIVED),
                     1);
}

static void column_cap(void **state)
{
    static char text[TOO_MANY_COLUMNS * 64];
    char err[300] = "", buf[40];
    size_t used = 0;

    (void)state;
    for (int i = 0; i < TOO_MANY_COLUMNS; i++)
        used += (size_t)snprintf(text + used, sizeof(text) - used,
                                 "msg\tprog-%d:backend\tfe\tSET_OWNER\tanswered\tprobe\n", i);
    assert_int_equal(load_fixture(text, err, sizeof(err)), 0);
    assert_int_equal(mx.ncols, VS_MX_MAX_COLUMNS);
    assert_int_equal(mx.dropped, TOO_MANY_COLUMNS - VS_MX_MAX_COLUMNS);
    assert_int_equal(vs_mx_count(vs_mx_columns(&mx, VS_MX_SIDE_BACKEND)), VS_MX_MAX_COLUMNS);
    /* a list cut short says so */
    vs_mx_names(&mx, vs_mx_columns(&mx, VS_MX_SIDE_BACKEND), true, buf, sizeof(buf));
    assert_int_equal(strlen(buf), sizeof(buf) - 1);
    assert_string_equal(buf + sizeof(buf) - 4, "...");
}

static void bad_measured_records(void **state)
{
    static const struct {
        const char *record, *reason;
    } bad[] = {
        { "msg\tno-role-1.0\tfe\tSET_OWNER\tanswered\tprobe\n", ":2: bad msg record: column" },
        { "msg\tx-1:backend\tfe\tNO_SUCH\tanswered\tprobe\n", ":2: bad msg record (column x-1" },
        { "msg\tx-1:backend\tfe\tSET_OWNER\tmaybe\tprobe\n", ":2: bad msg record" },
        { "msg\tx-1:backend\tup\tSET_OWNER\tanswered\tprobe\n", ":2: bad msg record" },
        { "offer\tx-1:backend\tfeatures\t0xzz\tprobe\n", ":2: bad offer record" },
        { "order\tx-1:frontend\t0\tSET_OWNER\tprobe\n", ":2: bad order record" },
        { "order\tx-1:frontend\t1\tNO_SUCH\tprobe\n", ":2: bad order record" },
    };
    char err[300];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(load_fixture(bad[i].record, err, sizeof(err)), -EINVAL);
        if (!strstr(err, bad[i].reason))
            fail_msg("%s: got \"%s\"", bad[i].record, err);
    }
    /* other offer kinds and notes are accepted and not kept */
    assert_int_equal(load_fixture("offer\tx-1:backend\tstatus\trefused\tprobe\n"
                                  "note\tx-1:backend\tcommand\tPATH --x\tsetup\n",
                                  err, sizeof(err)),
                     0);
    assert_int_equal(mx.col[0].offers.known, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(committed_files_load_whole), cmocka_unit_test(net_backends_by_offers),
        cmocka_unit_test(blk_backends_by_offers),     cmocka_unit_test(net_frontends_by_order),
        cmocka_unit_test(fixture_unique_and_none),    cmocka_unit_test(column_cap),
        cmocka_unit_test(bad_measured_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
