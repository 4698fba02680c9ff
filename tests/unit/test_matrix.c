/* SPDX-License-Identifier: MIT */
/*
 * The compatibility matrix's spec columns and file format (lib/proto/matrix.c):
 * values derived for each role and type, the written file read back, and
 * the loader's errors.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "matrix.h"

static const struct vu_msg_desc *fe(uint32_t req)
{
    return vu_msg_desc_lookup(VU_CHAN_FRONTEND, req);
}

static enum vs_mx_value spec(const char *type, enum vs_mx_role role, uint32_t req)
{
    return vs_mx_spec_value(vs_device_type_find(type), role, fe(req));
}

static void spec_rules(void **state)
{
    (void)state;
    /* the core life cycle: every role of every type */
    assert_int_equal(spec("gpio", VS_MX_LEGACY_FE, VU_REQ_SET_VRING_ADDR), VS_MX_REQUIRED);
    /* memory arrives by SET_MEM_TABLE or, with CONFIGURE_MEM_SLOTS, ADD_MEM_REG */
    assert_int_equal(spec("blk", VS_MX_LEGACY_FE, VU_REQ_SET_MEM_TABLE), VS_MX_OPTIONAL);
    assert_int_equal(spec("blk", VS_MX_LEGACY_FE, VU_REQ_ADD_MEM_REG), VS_MX_OPTIONAL);
    assert_int_equal(spec("net", VS_MX_VDPA_BE, VU_REQ_SET_VRING_KICK), VS_MX_REQUIRED);
    /* config space: QEMU reads it from blk back-ends, owns it for net */
    assert_int_equal(spec("blk", VS_MX_LEGACY_FE, VU_REQ_GET_CONFIG), VS_MX_REQUIRED);
    assert_int_equal(spec("net", VS_MX_LEGACY_FE, VU_REQ_GET_CONFIG), VS_MX_OPTIONAL);
    assert_int_equal(spec("rng", VS_MX_LEGACY_FE, VU_REQ_GET_CONFIG), VS_MX_NEVER);
    assert_int_equal(spec("net", VS_MX_VDPA_FE, VU_REQ_GET_CONFIG), VS_MX_REQUIRED);
    assert_int_equal(spec("rng", VS_MX_VDPA_FE, VU_REQ_GET_CONFIG), VS_MX_NEVER);
    /* net-only requests, and what vdpa-user forbids */
    assert_int_equal(spec("net", VS_MX_LEGACY_FE, VU_REQ_NET_SET_MTU), VS_MX_OPTIONAL);
    assert_int_equal(spec("blk", VS_MX_LEGACY_FE, VU_REQ_NET_SET_MTU), VS_MX_NEVER);
    assert_int_equal(spec("net", VS_MX_VDPA_FE, VU_REQ_NET_SET_MTU), VS_MX_FORBIDDEN);
    assert_int_equal(spec("blk", VS_MX_VDPA_BE, VU_REQ_GET_QUEUE_NUM), VS_MX_FORBIDDEN);
    assert_int_equal(spec("blk", VS_MX_VDPA_BE, VU_REQ_RESET_OWNER), VS_MX_FORBIDDEN);
    assert_int_equal(spec("net", VS_MX_VDPA_FE, VU_REQ_SEND_RARP), VS_MX_OPTIONAL);
    assert_int_equal(spec("fs", VS_MX_VDPA_FE, VU_REQ_SEND_RARP), VS_MX_NEVER);
    /* vdpa-user's own requests: never in legacy; required of every back-end */
    assert_int_equal(spec("net", VS_MX_LEGACY_BE, VU_REQ_VDPA_GET_DEVICE_ID), VS_MX_NEVER);
    assert_int_equal(spec("net", VS_MX_VDPA_FE, VU_REQ_VDPA_GET_DEVICE_ID), VS_MX_REQUIRED);
    assert_int_equal(spec("net", VS_MX_VDPA_FE, VU_REQ_VDPA_SUSPEND), VS_MX_OPTIONAL);
    assert_int_equal(spec("net", VS_MX_VDPA_BE, VU_REQ_VDPA_SUSPEND), VS_MX_REQUIRED);
    assert_int_equal(spec("net", VS_MX_VDPA_FE, VU_REQ_SET_STATUS), VS_MX_REQUIRED);
    assert_int_equal(spec("net", VS_MX_LEGACY_FE, VU_REQ_SET_STATUS), VS_MX_OPTIONAL);
    /* the back-end channel */
    assert_int_equal(
        vs_mx_spec_value(vs_device_type_find("blk"), VS_MX_LEGACY_BE,
                         vu_msg_desc_lookup(VU_CHAN_BACKEND, VU_BREQ_CONFIG_CHANGE_MSG)),
        VS_MX_OPTIONAL);
    assert_int_equal(
        vs_mx_spec_value(vs_device_type_find("blk"), VS_MX_VDPA_BE,
                         vu_msg_desc_lookup(VU_CHAN_BACKEND, VU_BREQ_CONFIG_CHANGE_MSG)),
        VS_MX_FORBIDDEN);
    /* every row of every role of every type has a value */
    static const char *const types[] = { "net",   "blk",   "console", "rng", "scsi", "gpu",
                                         "input", "vsock", "sound",   "fs",  "i2c",  "gpio" };
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
        for (int r = 0; r < VS_MX_ROLES; r++)
            for (int ch = 0; ch < 2; ch++)
                for (size_t i = 0; i < vu_msg_desc_count((enum vu_channel)ch); i++)
                    assert_int_not_equal(vs_mx_spec_value(vs_device_type_find(types[t]),
                                                          (enum vs_mx_role)r,
                                                          vu_msg_desc_at((enum vu_channel)ch, i)),
                                         VS_MX_NONE);
}

/* Writes type's spec file to a temporary path (returned, caller unlinks). */
static char *write_spec(const char *type)
{
    static char path[64];
    int fd;
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/vdpa-matrix-test.XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(vs_mx_write_spec(f, vs_device_type_find(type)), 0);
    assert_int_equal(fclose(f), 0);
    return path;
}

static void written_file_reads_back(void **state)
{
    const struct vs_device_type *net = vs_device_type_find("net");
    struct vs_matrix m;
    char err[256] = "", *path;
    char cmd[300];

    (void)state;
    path = write_spec("net");
    assert_int_equal(vs_mx_load(path, net, &m, err, sizeof(err)), 0);
    for (int r = 0; r < VS_MX_ROLES; r++)
        for (int ch = 0; ch < 2; ch++)
            for (size_t i = 0; i < vu_msg_desc_count((enum vu_channel)ch); i++) {
                const struct vu_msg_desc *d = vu_msg_desc_at((enum vu_channel)ch, i);
                assert_int_equal(vs_mx_get(&m, (enum vs_mx_role)r, (enum vu_channel)ch, d->request),
                                 vs_mx_spec_value(net, (enum vs_mx_role)r, d));
            }
    /* the config layout and the device record are there */
    snprintf(cmd, sizeof(cmd),
             "grep -q '^device\tnet\t1\t24\t' %s && grep -q '^config\t10\t2\tmtu\t3$' %s", path,
             path);
    assert_int_equal(system(cmd), 0);
    /* another type's device is refused, naming both */
    assert_int_equal(vs_mx_load(path, vs_device_type_find("blk"), &m, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "type net"));
    assert_non_null(strstr(err, "type=blk"));
    unlink(path);
}

static void bad_records(void **state)
{
    const struct vs_device_type *blk = vs_device_type_find("blk");
    struct vs_matrix m;
    char err[256] = "", path[] = "/tmp/vdpa-matrix-bad.XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");

    (void)state;
    fputs(
        "# comment\ndevice\tblk\t2\t72\t1\nmsg\tspec:legacy-frontend\tfe\tGET_FEATURES\tmaybe\tspec\n",
        f);
    fclose(f);
    assert_int_equal(vs_mx_load(path, blk, &m, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ":3: bad msg record"));
    f = fopen(path, "w");
    fputs("msg\tspec:legacy-frontend\tfe\tGET_FEATURES\trequired\tspec\n", f);
    fclose(f);
    assert_int_equal(vs_mx_load(path, blk, &m, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "no device record"));
    f = fopen(path, "w");
    fputs("device\tblk\t2\t72\t1\nmsg\tspec:legacy-frontend\tfe\tNO_SUCH_REQUEST\trequired\tspec\n",
          f);
    fclose(f);
    assert_int_equal(vs_mx_load(path, blk, &m, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "NO_SUCH_REQUEST"));
    unlink(path);
    assert_int_equal(vs_mx_load("/nonexistent/blk.tsv", blk, &m, err, sizeof(err)), -ENOENT);
}

/* A FIFO (no writer) at a check= path is refused at once: opening it for
 * reading would block the whole shim (issue 14). The alarm fails a hang. */
static void fifo_refused(void **state)
{
    const struct vs_device_type *blk = vs_device_type_find("blk");
    struct vs_matrix m;
    char err[256] = "", dir[] = "/tmp/vdpa-matrix-fifo.XXXXXX", path[64];

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/blk.tsv", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(10);
    assert_int_equal(vs_mx_load(path, blk, &m, err, sizeof(err)), -EINVAL);
    alarm(0);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_rules),
        cmocka_unit_test(written_file_reads_back),
        cmocka_unit_test(bad_records),
        cmocka_unit_test(fifo_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
