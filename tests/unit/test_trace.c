/* SPDX-License-Identifier: MIT */
/*
 * The decoded trace (shim/trace.c): text lines and JSON lines for real
 * messages (fields named, fds by kind, notes), JSON that parses (checked by
 * a strict JSON parser here, on every request number with random payloads),
 * lines bounded whatever a peer sends, rotation to FILE.1 at --trace-max,
 * reopen after logrotate.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"

#include "msg_table.h"
#include "trace.h"
#include "vhost_user.h"

#define assert_not_contains(hay, needle)                                                           \
    do {                                                                                           \
        const char *hay_ = (hay), *needle_ = (needle);                                             \
        if (strstr(hay_, needle_))                                                                 \
            fail_msg("\"%s\" contains \"%s\"", hay_, needle_);                                     \
    } while (0)

/* ---- a strict JSON parser (RFC 8259), enough to tell valid from not --------- */

struct js {
    const char *p, *end;
    int depth;
};

static bool js_value(struct js *j);

static void js_ws(struct js *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool js_lit(struct js *j, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return false;
    j->p += n;
    return true;
}

static bool js_string(struct js *j)
{
    if (j->p >= j->end || *j->p != '"')
        return false;
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            j->p++;
            if (j->p >= j->end)
                return false;
            if (*j->p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (j->p + i >= j->end || !strchr("0123456789abcdefABCDEF", j->p[i]) ||
                        !j->p[i])
                        return false;
                j->p += 5;
                continue;
            }
            if (!strchr("\"\\/bfnrt", *j->p) || !*j->p)
                return false;
            j->p++;
            continue;
        }
        if (c >= 0x80) {
            /* well-formed UTF-8 */
            size_t n = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
            if (n == 0 || j->p + n > j->end)
                return false;
            for (size_t i = 1; i < n; i++)
                if (((unsigned char)j->p[i] & 0xc0) != 0x80)
                    return false;
            j->p += n;
            continue;
        }
        j->p++;
    }
    if (j->p >= j->end)
        return false;
    j->p++;
    return true;
}

static bool js_number(struct js *j)
{
    const char *s = j->p;

    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p >= j->end)
        return false;
    if (*j->p == '0') {
        j->p++;
    } else if (*j->p >= '1' && *j->p <= '9') {
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    } else {
        return false;
    }
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9')
            return false;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    return j->p > s;
}

static bool js_container(struct js *j, char open, char close, bool object)
{
    if (++j->depth > 32)
        return false;
    j->p++; /* open */
    (void)open;
    js_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        j->depth--;
        return true;
    }
    for (;;) {
        js_ws(j);
        if (object) {
            if (!js_string(j))
                return false;
            js_ws(j);
            if (j->p >= j->end || *j->p != ':')
                return false;
            j->p++;
            js_ws(j);
        }
        if (!js_value(j))
            return false;
        js_ws(j);
        if (j->p >= j->end)
            return false;
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p != close)
            return false;
        j->p++;
        j->depth--;
        return true;
    }
}

static bool js_value(struct js *j)
{
    if (j->p >= j->end)
        return false;
    switch (*j->p) {
    case '{':
        return js_container(j, '{', '}', true);
    case '[':
        return js_container(j, '[', ']', false);
    case '"':
        return js_string(j);
    case 't':
        return js_lit(j, "true");
    case 'f':
        return js_lit(j, "false");
    case 'n':
        return js_lit(j, "null");
    default:
        return js_number(j);
    }
}

/* One JSON object and nothing else (a trailing newline allowed). */
static bool json_valid(const char *s, size_t n)
{
    struct js j = { .p = s, .end = s + n };

    if (n && s[n - 1] == '\n')
        j.end--;
    js_ws(&j);
    if (j.p >= j.end || *j.p != '{' || !js_value(&j))
        return false;
    js_ws(&j);
    return j.p == j.end;
}

static void self_test_json_parser(void **state)
{
    (void)state;
    static const char *const good[] = {
        "{}",
        "{\"a\":1}",
        "{\"a\":[1,2,{\"b\":null}],\"c\":\"x\\\"y\\u00e9\",\"d\":true}",
        "{\"a\":-0.5}",
        "{\"a\":\"\xc3\xa9\"}\n",
    };
    static const char *const bad[] = {
        "",
        "[]",
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{a:1}",
        "{\"a\":01}",
        "{\"a\":\"\x01\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{} {}",
        "{\"a\":tru}",
        "{\"a\":\"\xff\"}",
        "{\"a\":\"unterminated}",
        "{\"a\":[1 2]}",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!json_valid(good[i], strlen(good[i])))
            fail_msg("parser refuses valid %s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (json_valid(bad[i], strlen(bad[i])))
            fail_msg("parser accepts invalid %s", bad[i]);
}

/* ---- helpers ---------------------------------------------------------------- */

static const struct timespec ts0 = { .tv_sec = 1700000000, .tv_nsec = 123456789 };

static size_t line_of(enum vs_trace_format f, enum vu_channel ch, const struct vu_msg *m,
                      const char *dir, const char *note, char *buf, size_t len)
{
    size_t n = vs_trace_format_line(f, &ts0, "vm0-net", dir, ch, m, note, buf, len);

    assert_true(n > 0);
    assert_true(n < len);
    assert_int_equal(strlen(buf), n);
    assert_int_equal(buf[n - 1], '\n');
    assert_ptr_equal(strchr(buf, '\n'), buf + n - 1); /* one line */
    if (f == VS_TRACE_JSON && !json_valid(buf, n))
        fail_msg("not valid JSON: %s", buf);
    return n;
}

static char text[VS_TRACE_LINE_MAX], json[VS_TRACE_LINE_MAX];

static void both(enum vu_channel ch, const struct vu_msg *m, const char *dir, const char *note)
{
    line_of(VS_TRACE_TEXT, ch, m, dir, note, text, sizeof(text));
    line_of(VS_TRACE_JSON, ch, m, dir, note, json, sizeof(json));
}

/* ---- text and JSON lines -------------------------------------------------------- */

static void features_line(void **state)
{
    (void)state;
    struct vu_msg m;
    char hhmmss[64];
    struct tm tm;

    vu_msg_init(&m, VU_REQ_SET_FEATURES, 0);
    vu_msg_set_u64(&m, VU_BIT(32) | VU_BIT(30) | VU_BIT(5) | VU_BIT(0));
    both(VU_CHAN_FRONTEND, &m, "fe->be", NULL);
    localtime_r(&ts0.tv_sec, &tm);
    snprintf(hhmmss, sizeof(hhmmss), "%02d:%02d:%02d.123456 ", tm.tm_hour, tm.tm_min, tm.tm_sec);
    assert_int_equal(strncmp(text, hhmmss, strlen(hhmmss)), 0);
    assert_contains(text, " vm0-net fe->be SET_FEATURES features=0x0000000140000021 "
                          "(PROTOCOL_FEATURES|VERSION_1|device=0x21)\n");
    assert_not_contains(text, "flags="); /* version 1, no flag: nothing to say */
    assert_not_contains(text, "fds=");

    assert_contains(json, "{\"time\":\"2023-11-14T22:13:20.123456Z\",\"device\":\"vm0-net\","
                          "\"dir\":\"fe->be\",\"channel\":\"frontend\","
                          "\"request\":{\"name\":\"SET_FEATURES\",\"number\":2},"
                          "\"flags\":{\"value\":1,\"version\":1,\"reply\":false,"
                          "\"need_reply\":false},\"size\":8,");
    assert_contains(json, "\"payload\":{\"features\":\"0x0000000140000021\","
                          "\"features_names\":[\"PROTOCOL_FEATURES\",\"VERSION_1\","
                          "\"device=0x21\"]}");
    assert_contains(json, "\"fds\":[],\"note\":null}\n");
}

static void protocol_features_and_reply(void **state)
{
    (void)state;
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_GET_PROTOCOL_FEATURES, VU_FLAG_REPLY);
    vu_msg_set_u64(&m,
                   VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_VDPA) | VU_BIT(40));
    both(VU_CHAN_FRONTEND, &m, "be->fe", "PAGEFAULT hidden from the front-end");
    assert_contains(text, "be->fe GET_PROTOCOL_FEATURES reply protocol_features=0x8000010000000009 "
                          "(MQ|REPLY_ACK|bit40|VDPA) -- PAGEFAULT hidden from the front-end\n");
    assert_contains(json, "\"reply\":true");
    assert_contains(json, "\"protocol_features_names\":[\"MQ\",\"REPLY_ACK\",\"bit40\",\"VDPA\"]");
    assert_contains(json, "\"note\":\"PAGEFAULT hidden from the front-end\"}");

    /* a REPLY_ACK answer */
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, VU_FLAG_REPLY);
    vu_msg_set_u64(&m, 0);
    both(VU_CHAN_FRONTEND, &m, "be->fe", NULL);
    assert_contains(text, "SET_MEM_TABLE reply ack=0 (success)\n");
    assert_contains(json, "\"payload\":{\"ack\":0,\"ack_result\":\"success\"}");
    vu_msg_set_u64(&m, EINVAL);
    both(VU_CHAN_FRONTEND, &m, "shim->fe", "refused");
    assert_contains(text, "ack=22 (failure) -- refused");
    assert_contains(json, "\"ack_result\":\"failure\"");

    /* NEED_REPLY and odd flags */
    vu_msg_init(&m, VU_REQ_SET_OWNER, VU_FLAG_NEED_REPLY | 0x100);
    both(VU_CHAN_FRONTEND, &m, "fe->be", NULL);
    assert_contains(text, "SET_OWNER need_reply flags=0x109\n");
    assert_contains(json, "\"need_reply\":true");
    assert_contains(json, "\"value\":265");
}

static void rings_and_status(void **state)
{
    (void)state;
    struct vu_msg m;
    struct vu_vring_addr a = { .index = 1,
                               .flags = 0,
                               .desc_user_addr = 0x7f0000001000,
                               .used_user_addr = 0x7f0000003000,
                               .avail_user_addr = 0x7f0000002000,
                               .log_guest_addr = 0 };

    vu_msg_init(&m, VU_REQ_SET_VRING_NUM, 0);
    vu_msg_set_state(&m, 1, 256);
    both(VU_CHAN_FRONTEND, &m, "fe->be", NULL);
    assert_contains(text, "SET_VRING_NUM index=1 num=256\n");
    assert_contains(json, "\"payload\":{\"index\":1,\"num\":256}");

    vu_msg_init(&m, VU_REQ_GET_VRING_BASE, VU_FLAG_REPLY);
    vu_msg_set_state(&m, 0, 77);
    both(VU_CHAN_FRONTEND, &m, "be->fe", NULL);
    assert_contains(text, "GET_VRING_BASE reply index=0 num=77\n");

    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, 0);
    vu_msg_set_addr(&m, &a);
    both(VU_CHAN_FRONTEND, &m, "fe->be", NULL);
    assert_contains(text, "SET_VRING_ADDR index=1 flags=0x0 desc=0x7f0000001000 "
                          "used=0x7f0000003000 avail=0x7f0000002000 log=0x0\n");
    assert_contains(json, "\"desc\":\"0x7f0000001000\"");

    vu_msg_init(&m, VU_REQ_SET_VRING_KICK, 0);
    vu_msg_set_u64(&m, 2 | VU_VRING_NOFD_MASK);
    both(VU_CHAN_FRONTEND, &m, "fe->be", NULL);
    assert_contains(text, "SET_VRING_KICK index=2 nofd\n");
    assert_contains(json, "\"payload\":{\"index\":2,\"nofd\":true}");

    vu_msg_init(&m, VU_REQ_SET_STATUS, 0);
    vu_msg_set_u64(&m, 0x0f);
    both(VU_CHAN_FRONTEND, &m, "fe->shim", "device model");
    assert_contains(text, "SET_STATUS status=0xf (ACKNOWLEDGE|DRIVER|FEATURES_OK|DRIVER_OK) -- "
                          "device model\n");
    assert_contains(json, "\"status_names\":[\"ACKNOWLEDGE\",\"DRIVER\",\"FEATURES_OK\","
                          "\"DRIVER_OK\"]");
    vu_msg_set_u64(&m, 0);
    both(VU_CHAN_FRONTEND, &m, "fe->shim", NULL);
    assert_contains(text, "SET_STATUS status=0x0 (reset)\n");
}

static void memory_and_config(void **state)
{
    (void)state;
    struct vu_msg m;
    struct vu_mem_region r[2] = {
        { .guest_phys_addr = 0,
          .memory_size = 0xa0000,
          .userspace_addr = 0x7f1200000000,
          .mmap_offset = 0 },
        { .guest_phys_addr = 0x100000,
          .memory_size = 0x3ff00000,
          .userspace_addr = 0x7f1200100000,
          .mmap_offset = 0x100000 },
    };
    uint8_t cfg[64];

    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    assert_int_equal(vu_msg_set_mem_table(&m, r, 2), 0);
    both(VU_CHAN_FRONTEND, &m, "fe->be", NULL);
    assert_contains(text, "SET_MEM_TABLE nregions=2 [gpa=0x0 size=0xa0000 uva=0x7f1200000000 "
                          "off=0x0] [gpa=0x100000 size=0x3ff00000 uva=0x7f1200100000 "
                          "off=0x100000]\n");
    assert_contains(json, "\"payload\":{\"nregions\":2,\"regions\":[{\"gpa\":\"0x0\","
                          "\"size\":\"0xa0000\",\"uva\":\"0x7f1200000000\",\"off\":\"0x0\"},"
                          "{\"gpa\":\"0x100000\"");

    vu_msg_init(&m, VU_REQ_ADD_MEM_REG, 0);
    assert_int_equal(vu_msg_set_payload(&m, &(struct vu_mem_single){ .region = r[1] },
                                        sizeof(struct vu_mem_single)),
                     0);
    both(VU_CHAN_FRONTEND, &m, "fe->be", NULL);
    assert_contains(text, "ADD_MEM_REG gpa=0x100000 size=0x3ff00000 uva=0x7f1200100000 "
                          "off=0x100000\n");

    for (size_t i = 0; i < sizeof(cfg); i++)
        cfg[i] = (uint8_t)i;
    vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
    assert_int_equal(vu_msg_set_config(&m, 0, 8, 0, cfg), 0);
    both(VU_CHAN_FRONTEND, &m, "be->fe", NULL);
    assert_contains(text, "GET_CONFIG reply offset=0 size=8 flags=0x0 data=0001020304050607\n");
    assert_contains(json, "\"data\":\"0001020304050607\"}");
    /* more than 32 bytes: the first 32, marked */
    assert_int_equal(vu_msg_set_config(&m, 0, 64, 0, cfg), 0);
    both(VU_CHAN_FRONTEND, &m, "be->fe", NULL);
    assert_contains(text, "data=000102030405060708090a0b0c0d0e0f"
                          "101112131415161718191a1b1c1d1e1f...\n");
    assert_contains(json, "1e1f\",\"data_truncated\":true}");
}

static void unknown_and_backend_channel(void **state)
{
    (void)state;
    struct vu_msg m;

    vu_msg_init(&m, 999, 0);
    assert_int_equal(vu_msg_set_payload(&m, "\x01\x02\x03", 3), 0);
    both(VU_CHAN_FRONTEND, &m, "fe->shim", "unknown request; refused");
    assert_contains(text, "UNKNOWN(999) bytes=3 data=010203 -- unknown request; refused\n");
    assert_contains(json, "\"request\":{\"name\":\"UNKNOWN\",\"number\":999}");

    vu_msg_init(&m, VU_BREQ_CONFIG_CHANGE_MSG, 0);
    both(VU_CHAN_BACKEND, &m, "be->fe", NULL);
    assert_contains(text, "be->fe backend-channel CONFIG_CHANGE_MSG\n");
    assert_contains(json, "\"channel\":\"backend\"");
}

static void fd_kinds(void **state)
{
    (void)state;
    struct vu_msg m;
    int sv[2], pfd[2];
    int mfd = memfd_create("guest-ram", MFD_CLOEXEC);
    int efd = eventfd(0, EFD_CLOEXEC);
    int ffd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    assert_true(mfd >= 0 && efd >= 0 && ffd >= 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);

    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    assert_int_equal(vu_msg_set_mem_table(&m, &(struct vu_mem_region){ .memory_size = 4096 }, 1),
                     0);
    assert_int_equal(vu_msg_add_fd(&m, mfd), 0);
    assert_int_equal(vu_msg_add_fd(&m, efd), 0);
    assert_int_equal(vu_msg_add_fd(&m, sv[0]), 0);
    assert_int_equal(vu_msg_add_fd(&m, pfd[0]), 0);
    assert_int_equal(vu_msg_add_fd(&m, ffd), 0);
    both(VU_CHAN_FRONTEND, &m, "fe->be", NULL);
    assert_contains(text, " fds=[memfd:guest-ram,eventfd,socket,pipe,chardev:/dev/null]\n");
    assert_contains(json, "\"fds\":[{\"kind\":\"memfd\",\"name\":\"guest-ram\"},"
                          "{\"kind\":\"eventfd\"},{\"kind\":\"socket\"},{\"kind\":\"pipe\"},"
                          "{\"kind\":\"chardev\",\"name\":\"/dev/null\"}]");
    vu_msg_close_fds(&m);
    close(sv[1]);
    close(pfd[1]);
}

static void hostile_fd_name(void **state)
{
    (void)state;
    struct vu_msg m;
    /* a peer names its memfd to break the line: quotes, brackets, blanks,
     * a comma, bytes that are not UTF-8, and a long tail */
    char name[200];
    snprintf(name, sizeof(name), "a\"b]c [d,e\\f\xff\xfe\t%0100d", 7);
    int mfd = memfd_create(name, MFD_CLOEXEC);

    assert_true(mfd >= 0);
    vu_msg_init(&m, VU_REQ_SET_VRING_CALL, 0);
    vu_msg_set_u64(&m, 0);
    assert_int_equal(vu_msg_add_fd(&m, mfd), 0);
    both(VU_CHAN_FRONTEND, &m, "fe->be", NULL);
    /* text: the name is one word that cannot end the fd list */
    assert_contains(text, "fds=[memfd:a\"b_c__d_e\\f");
    assert_contains(text, "...]\n");
    /* JSON: escaped, non-UTF-8 bytes as \u00XX, cut at 64 characters */
    assert_contains(json, "\"name\":\"a\\\"b]c [d,e\\\\f\\u00ff\\u00fe\\t000");
    assert_contains(json, "...\"}]");
    vu_msg_close_fds(&m);
}

static void json_strings(void **state)
{
    (void)state;
    char buf[64];

    assert_int_equal(vs_json_string(buf, sizeof(buf), "plain", 64), 7);
    assert_string_equal(buf, "\"plain\"");
    vs_json_string(buf, sizeof(buf), "q\"b\\n\nt\tc\x01\x7f", 64);
    assert_string_equal(buf, "\"q\\\"b\\\\n\\nt\\tc\\u0001\\u007f\"");
    vs_json_string(buf, sizeof(buf), "\xc3\xa9t\xc3\xa9", 64); /* été: kept as UTF-8 */
    assert_string_equal(buf, "\"\xc3\xa9t\xc3\xa9\"");
    vs_json_string(buf, sizeof(buf), "\xc0\xaf\xed\xa0\x80", 64); /* overlong, surrogate */
    assert_string_equal(buf, "\"\\u00c0\\u00af\\u00ed\\u00a0\\u0080\"");
    vs_json_string(buf, sizeof(buf), "abcdef", 3);
    assert_string_equal(buf, "\"abc...\"");
    /* a buffer too small: still terminated, never overrun */
    memset(buf, 'Z', sizeof(buf));
    size_t n = vs_json_string(buf, 8, "0123456789", 64);
    assert_true(n < 8);
    assert_int_equal(strlen(buf), n);
    assert_int_equal(buf[8], 'Z');
}

/* ---- bounds -------------------------------------------------------------------- */

static void long_note_bounded(void **state)
{
    (void)state;
    struct vu_msg m;
    char *note = malloc(20000);
    char big[VS_TRACE_LINE_MAX];

    assert_non_null(note);
    memset(note, 'n', 19999);
    note[19999] = '\0';
    note[10] = '\n'; /* a line break in a note must not split the line */
    vu_msg_init(&m, VU_REQ_SET_OWNER, 0);
    size_t n = line_of(VS_TRACE_TEXT, VU_CHAN_FRONTEND, &m, "fe->be", note, big, sizeof(big));
    assert_true(n <= VS_TRACE_LINE_MAX);
    assert_contains(big, "-- nnnnnnnnnn nnn");
    n = line_of(VS_TRACE_JSON, VU_CHAN_FRONTEND, &m, "fe->be", note, big, sizeof(big));
    assert_true(n <= VS_TRACE_LINE_MAX);
    assert_contains(big, "\"note\":\"nnnnnnnnnn\\nnnn");
    free(note);

    /* a buffer smaller than the line: text is cut with "...", JSON loses the
     * payload but stays an object that parses */
    struct vu_mem_region r[VU_MAX_MEM_REGIONS];
    for (unsigned i = 0; i < VU_MAX_MEM_REGIONS; i++)
        r[i] = (struct vu_mem_region){ .guest_phys_addr = 0xffffffffffff0000ull - i,
                                       .memory_size = 0xfffffffffff,
                                       .userspace_addr = 0x7fffffffffff,
                                       .mmap_offset = 0xffffffffffff };
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    assert_int_equal(vu_msg_set_mem_table(&m, r, VU_MAX_MEM_REGIONS), 0);
    n = line_of(VS_TRACE_TEXT, VU_CHAN_FRONTEND, &m, "fe->be", NULL, big, 300);
    assert_true(n < 300);
    assert_contains(big, "...\n");
    n = line_of(VS_TRACE_JSON, VU_CHAN_FRONTEND, &m, "fe->be", NULL, big, 400);
    assert_true(n < 400);
    assert_contains(big, "\"truncated\":true}\n");
    /* and the full line fits the real limit */
    n = line_of(VS_TRACE_JSON, VU_CHAN_FRONTEND, &m, "fe->be", NULL, big, sizeof(big));
    assert_not_contains(big, "truncated");
    /* below 64 bytes nothing is written */
    assert_int_equal(vs_trace_format_line(VS_TRACE_TEXT, &ts0, "d", "fe->be", VU_CHAN_FRONTEND, &m,
                                          NULL, big, 63),
                     0);
    assert_string_equal(big, "");
}

/* Every request number of both channels (and some unknown ones), request
 * and reply, with random flags, sizes and payloads: every line is one
 * bounded line, and every JSON line parses. */
static void random_messages_json_valid(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    char buf[VS_TRACE_LINE_MAX];
    struct vu_msg m;
    unsigned lines = 0;

    for (int round = 0; round < 40; round++) {
        for (uint32_t req = 0; req < 64; req++) {
            for (int ch = 0; ch < 2; ch++) {
                for (int fmt = 0; fmt < 2; fmt++) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    vu_msg_init(&m, req == 63 ? (uint32_t)x : req, 0);
                    m.hdr.flags = (x >> 8) & 1 ? (uint32_t)(x >> 16) : 1 | (((x >> 9) & 1) << 2);
                    m.hdr.size = (uint32_t)(x >> 24) % (round < 20 ? 300 : VU_MAX_PAYLOAD + 64);
                    uint64_t y = x;
                    for (size_t i = 0; i < VU_MAX_PAYLOAD; i++) {
                        y = y * 6364136223846793005ull + 1442695040888963407ull;
                        m.payload.bytes[i] = (uint8_t)(y >> 56);
                    }
                    const char *note = (x >> 20) & 1 ? "a \"note\"\twith\\escapes\x01" : NULL;
                    line_of(fmt ? VS_TRACE_JSON : VS_TRACE_TEXT, (enum vu_channel)ch, &m, "fe->be",
                            note, buf, sizeof(buf));
                    lines++;
                }
            }
        }
    }
    assert_int_equal(lines, 40 * 64 * 4);
}

/* ---- the file: rotation, reopen ---------------------------------------------- */

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Every line of path is whole and (for JSON) parses; returns the count. */
static unsigned check_lines(const char *path, bool is_json)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned count = 0;

    assert_non_null(f);
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n')
            fail_msg("%s: line %u is not whole", path, count + 1);
        if (is_json && !json_valid(line, (size_t)n))
            fail_msg("%s: line %u is not JSON: %s", path, count + 1, line);
        count++;
    }
    free(line);
    fclose(f);
    return count;
}

static void rotation(void **state)
{
    (void)state;
    char path[128], old[140];
    struct vu_msg m;
    struct vs_trace *t;

    snprintf(path, sizeof(path), "%s/t.json", scratch_dir);
    snprintf(old, sizeof(old), "%s.1", path);
    t = vs_trace_open_ex(path, VS_TRACE_JSON, VS_TRACE_MAX_MIN);
    assert_non_null(t);
    assert_true(vs_trace_same(t, path, VS_TRACE_JSON, VS_TRACE_MAX_MIN));
    assert_false(vs_trace_same(t, path, VS_TRACE_TEXT, VS_TRACE_MAX_MIN));
    assert_false(vs_trace_same(t, path, VS_TRACE_JSON, 0));
    assert_false(vs_trace_same(t, "/other", VS_TRACE_JSON, VS_TRACE_MAX_MIN));
    assert_false(vs_trace_same(t, NULL, VS_TRACE_JSON, VS_TRACE_MAX_MIN));
    assert_true(vs_trace_same(NULL, NULL, VS_TRACE_TEXT, 0));

    vu_msg_init(&m, VU_REQ_SET_VRING_NUM, 0);
    unsigned written = 0;
    for (uint32_t i = 0; i < 200; i++) {
        vu_msg_set_state(&m, 0, i);
        vs_trace_msg(t, "dev0", "fe->be", VU_CHAN_FRONTEND, &m, NULL);
        written++;
        /* never past the limit, never rotated before it is reached */
        assert_true(file_size(path) <= (off_t)VS_TRACE_MAX_MIN);
    }
    unsigned long rot = vs_trace_rotations(t);
    /* ~270-byte lines, 4 KiB files: 200 lines make a dozen parts */
    assert_true(rot >= 10);
    assert_true(file_size(old) <= (off_t)VS_TRACE_MAX_MIN);
    assert_true(file_size(old) > (off_t)VS_TRACE_MAX_MIN - 600); /* filled before it moved */
    unsigned in_new = check_lines(path, true), in_old = check_lines(old, true);
    assert_true(in_new > 0 && in_old > 0);
    /* no lines lost within the two parts kept: the newest is the last written */
    FILE *f = fopen(path, "r");
    char last[VS_TRACE_LINE_MAX] = "", cur[VS_TRACE_LINE_MAX];
    while (fgets(cur, sizeof(cur), f))
        strcpy(last, cur);
    fclose(f);
    assert_contains(last, "\"num\":199}");
    vs_trace_close(t);

    /* an existing file counts toward the limit when opened again */
    t = vs_trace_open_ex(path, VS_TRACE_JSON, VS_TRACE_MAX_MIN);
    assert_non_null(t);
    off_t before = file_size(path);
    for (int i = 0; i < 20; i++)
        vs_trace_msg(t, "dev0", "fe->be", VU_CHAN_FRONTEND, &m, NULL);
    assert_true(file_size(path) <= (off_t)VS_TRACE_MAX_MIN);
    assert_true(vs_trace_rotations(t) >= 1);
    assert_true(before > 0);
    vs_trace_close(t);

    /* 0: no limit */
    snprintf(path, sizeof(path), "%s/nolimit.txt", scratch_dir);
    t = vs_trace_open_ex(path, VS_TRACE_TEXT, 0);
    assert_non_null(t);
    for (int i = 0; i < 100; i++)
        vs_trace_msg(t, "dev0", "fe->be", VU_CHAN_FRONTEND, &m, NULL);
    assert_int_equal(vs_trace_rotations(t), 0);
    assert_true(file_size(path) > (off_t)VS_TRACE_MAX_MIN);
    assert_int_equal(check_lines(path, false), 100);
    vs_trace_close(t);
}

static void reopen_after_logrotate(void **state)
{
    (void)state;
    char path[128], moved[140];
    struct vu_msg m;
    struct vs_trace *t;

    snprintf(path, sizeof(path), "%s/r.txt", scratch_dir);
    snprintf(moved, sizeof(moved), "%s/r.txt.moved", scratch_dir);
    t = vs_trace_open(path);
    assert_non_null(t);
    vu_msg_init(&m, VU_REQ_SET_OWNER, 0);
    vs_trace_msg(t, "dev0", "fe->be", VU_CHAN_FRONTEND, &m, NULL);
    assert_int_equal(rename(path, moved), 0);
    vs_trace_msg(t, "dev0", "fe->be", VU_CHAN_FRONTEND, &m, "still the old file");
    assert_int_equal(vs_trace_reopen(t), 0);
    vs_trace_msg(t, "dev0", "fe->be", VU_CHAN_FRONTEND, &m, "the new file");
    assert_int_equal(check_lines(moved, false), 2);
    assert_int_equal(check_lines(path, false), 1);
    vs_trace_close(t);

    /* a directory that does not exist: -errno, and the trace is off */
    t = vs_trace_new();
    assert_non_null(t);
    assert_int_equal(vs_trace_configure(t, "/nonexistent/dir/t.txt", VS_TRACE_TEXT, 0), -ENOENT);
    vs_trace_msg(t, "dev0", "fe->be", VU_CHAN_FRONTEND, &m, NULL); /* no crash, nothing */
    /* and configured again, on */
    assert_int_equal(vs_trace_configure(t, path, VS_TRACE_JSON, 0), 0);
    vs_trace_msg(t, "dev0", "fe->be", VU_CHAN_FRONTEND, &m, NULL);
    assert_int_equal(check_lines(path, false), 2);
    /* off */
    assert_int_equal(vs_trace_configure(t, NULL, VS_TRACE_TEXT, 0), 0);
    assert_int_equal(vs_trace_reopen(t), 0);
    vs_trace_msg(t, "dev0", "fe->be", VU_CHAN_FRONTEND, &m, NULL);
    assert_int_equal(check_lines(path, false), 2);
    vs_trace_close(t);
    vs_trace_msg(NULL, "dev0", "fe->be", VU_CHAN_FRONTEND, &m, NULL);
}

/* ---- file safety (issue 14 item 7) ------------------------------------------- */

/* What the shim logs (stderr) while a test runs, into a file. */
struct capture {
    int saved;
    char path[160];
};

static int capture_saved = -1; /* stderr while a capture runs (a failed test restores it) */

static int capture_restore(void **state)
{
    (void)state;
    if (capture_saved >= 0) {
        fflush(stderr);
        dup2(capture_saved, 2);
        close(capture_saved);
        capture_saved = -1;
    }
    return 0;
}

static void capture_begin(struct capture *c, const char *name)
{
    int fd;

    snprintf(c->path, sizeof(c->path), "%s/%s.log", scratch_dir, name);
    fflush(stderr);
    c->saved = capture_saved = dup(2);
    assert_true(c->saved >= 0);
    fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    close(fd);
}

/* The log so far (free it), stderr restored. */
static char *capture_end(struct capture *c)
{
    FILE *f;
    char *got = calloc(1, 65536);

    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    capture_saved = -1;
    assert_non_null(got);
    f = fopen(c->path, "r");
    assert_non_null(f);
    got[fread(got, 1, 65535, f)] = '\0';
    fclose(f);
    fputs(got, stderr); /* still shown with the test's output */
    return got;
}

static unsigned count_of(const char *hay, const char *needle)
{
    unsigned n = 0;

    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void write_text(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(content, f);
    assert_int_equal(fclose(f), 0);
}

static bool has_text(const char *path, const char *content)
{
    char buf[256] = "";
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strcmp(buf, content) == 0;
}

static void trace_lines(struct vs_trace *t, unsigned n)
{
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_SET_VRING_NUM, 0);
    for (unsigned i = 0; i < n; i++) {
        vu_msg_set_state(&m, 0, i);
        vs_trace_msg(t, "dev0", "fe->be", VU_CHAN_FRONTEND, &m, NULL);
    }
}

/* A symbolic link at the trace path is refused (said so), at start and at
 * a reopen (SIGHUP: the trace then stops); its target is never written. A
 * FIFO there is refused without waiting for a reader. A new file is made
 * with mode 0600; an existing one is appended to, as before. */
static void symlink_and_kinds_refused(void **state)
{
    (void)state;
    char path[128], target[128], fifo[128];
    struct capture cap;
    struct vs_trace *t;
    char *log;

    snprintf(path, sizeof(path), "%s/s.txt", scratch_dir);
    snprintf(target, sizeof(target), "%s/precious.txt", scratch_dir);
    snprintf(fifo, sizeof(fifo), "%s/fifo", scratch_dir);
    write_text(target, "precious\n");
    assert_int_equal(symlink(target, path), 0);
    capture_begin(&cap, "symlink");
    t = vs_trace_open(path);
    assert_null(t);
    assert_int_equal(errno, ELOOP);
    /* a dangling link: nothing is created behind it */
    assert_int_equal(unlink(target), 0);
    assert_null(vs_trace_open(path));
    assert_int_equal(access(target, F_OK), -1);
    write_text(target, "precious\n");
    /* a FIFO with no reader, and a character device */
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(10); /* a blocking open would hang here */
    assert_null(vs_trace_open(fifo));
    alarm(0);
    assert_null(vs_trace_open("/dev/null"));
    log = capture_end(&cap);
    assert_int_equal(count_of(log, "is a symbolic link"), 2);
    assert_contains(log, "is a FIFO, not a regular file");
    assert_contains(log, "is a character device, not a regular file");
    free(log);
    assert_true(has_text(target, "precious\n"));

    /* a regular file: created 0600, lines appended to what is there */
    assert_int_equal(unlink(path), 0);
    mode_t old_mask = umask(022);
    t = vs_trace_open(path);
    umask(old_mask);
    assert_non_null(t);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    trace_lines(t, 3);
    vs_trace_close(t);
    t = vs_trace_open(path);
    assert_non_null(t);
    trace_lines(t, 2);
    assert_int_equal(check_lines(path, false), 5);

    /* SIGHUP after a link took the file's place: the trace stops */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink(target, path), 0);
    capture_begin(&cap, "symlink-reopen");
    assert_int_equal(vs_trace_reopen(t), -ELOOP);
    trace_lines(t, 2);
    log = capture_end(&cap);
    assert_contains(log, "is a symbolic link");
    free(log);
    assert_true(has_text(target, "precious\n"));
    vs_trace_close(t);
    unlink(path);
    unlink(target);
    unlink(fifo);
}

/* Rotation when FILE cannot become FILE.1 (FILE.1 is a directory with a
 * file in it): FILE is kept and written on past the limit (the old code
 * truncated it), one warning says why; the rename is tried again after the
 * warning interval, and works once FILE.1 can be replaced. */
static void rotation_rename_fails(void **state)
{
    (void)state;
    char path[128], old[140], inside[160];
    struct capture cap;
    struct vs_trace *t;
    char *log;

    snprintf(path, sizeof(path), "%s/rf.txt", scratch_dir);
    snprintf(old, sizeof(old), "%s.1", path);
    snprintf(inside, sizeof(inside), "%s/keep", old);
    assert_int_equal(mkdir(old, 0700), 0);
    write_text(inside, "x\n");
    t = vs_trace_open_ex(path, VS_TRACE_TEXT, VS_TRACE_MAX_MIN);
    assert_non_null(t);
    vs_trace_set_warn_interval(t, 500);
    capture_begin(&cap, "rename-fails");
    trace_lines(t, 200); /* ~80-byte lines: 4 times the 4 KiB limit */
    log = capture_end(&cap);
    assert_int_equal(check_lines(path, false), 200);
    assert_true(file_size(path) > 2 * (off_t)VS_TRACE_MAX_MIN);
    assert_int_equal(vs_trace_rotations(t), 0);
    assert_int_equal(count_of(log, "cannot move it to"), 1);
    assert_contains(log, "Is a directory");
    free(log);

    /* FILE.1 can go now: the next line past the interval rotates */
    assert_int_equal(unlink(inside), 0);
    assert_int_equal(rmdir(old), 0);
    usleep(600 * 1000);
    trace_lines(t, 1);
    assert_int_equal(vs_trace_rotations(t), 1);
    assert_int_equal(check_lines(old, false), 200);
    assert_int_equal(check_lines(path, false), 1);
    vs_trace_close(t);
    unlink(path);
    unlink(old);
}

/* The file replaced by a link to another file before a rotation whose
 * rename fails: the link's target is not truncated (the old code reopened
 * the path with "w"), the lines go on into the file the trace has open. And
 * when the rename works, the link is what moves to FILE.1, and FILE is a
 * new file of the shim's (O_EXCL): the target is untouched again. */
static void rotation_never_truncates_link_target(void **state)
{
    (void)state;
    char path[128], old[140], inside[160], target[128];
    struct vs_trace *t;
    struct stat st;

    snprintf(path, sizeof(path), "%s/lt.txt", scratch_dir);
    snprintf(old, sizeof(old), "%s.1", path);
    snprintf(inside, sizeof(inside), "%s/keep", old);
    snprintf(target, sizeof(target), "%s/lt-precious.txt", scratch_dir);
    write_text(target, "precious\n");
    t = vs_trace_open_ex(path, VS_TRACE_TEXT, VS_TRACE_MAX_MIN);
    assert_non_null(t);
    vs_trace_set_warn_interval(t, 100);
    trace_lines(t, 5);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(mkdir(old, 0700), 0);
    write_text(inside, "x\n");
    trace_lines(t, 200);
    assert_true(has_text(target, "precious\n"));
    assert_int_equal(vs_trace_rotations(t), 0);

    /* the rename works: the link moves, a new FILE is made */
    assert_int_equal(unlink(inside), 0);
    assert_int_equal(rmdir(old), 0);
    usleep(150 * 1000);
    trace_lines(t, 1);
    assert_int_equal(vs_trace_rotations(t), 1);
    assert_int_equal(lstat(old, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(check_lines(path, false), 1);
    assert_true(has_text(target, "precious\n"));
    vs_trace_close(t);
    unlink(path);
    unlink(old);
    unlink(target);
}

#define FSIZE_LIMIT 8192 /* bytes a child may write to any file (RLIMIT_FSIZE) */

/* In a child whose file-size limit is FSIZE_LIMIT (writes past it fail with
 * EFBIG, SIGXFSZ ignored: a full disk without root): of 400 lines (~80
 * bytes) all but the first ~100 fail, then 5 more after the warning interval, then the limit is
 * lifted and one line is written. Reports on out the lines lost and whether
 * the last one was cut short. */
static void full_disk_child(const char *path, int out)
{
    struct rlimit rl;
    struct vs_trace *t;
    char buf[64];
    unsigned whole = 0;
    int c, last = '\n';
    FILE *f;

    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &rl);
    rlim_t hard = rl.rlim_max;
    rl.rlim_cur = FSIZE_LIMIT;
    if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
        _exit(3);
    t = vs_trace_open_ex(path, VS_TRACE_TEXT, 0);
    if (!t)
        _exit(4);
    vs_trace_set_warn_interval(t, 1000);
    trace_lines(t, 400);
    usleep(1100 * 1000);
    trace_lines(t, 5);
    f = fopen(path, "r");
    while (f && (c = fgetc(f)) != EOF) {
        whole += c == '\n';
        last = c;
    }
    if (f)
        fclose(f);
    rl.rlim_cur = hard;
    if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
        _exit(5);
    trace_lines(t, 1);
    vs_trace_close(t);
    snprintf(buf, sizeof(buf), "lost=%u partial=%d\n", 405 - whole, last != '\n');
    if (write(out, buf, strlen(buf)) < 0)
        _exit(6);
    _exit(0);
}

/* Reads fd to its end within ms into buf: the length, or -1. */
static ssize_t read_all_within(int fd, char *buf, size_t len, int ms)
{
    size_t got = 0;
    struct pollfd p = { .fd = fd, .events = POLLIN };

    while (got < len - 1) {
        if (poll(&p, 1, ms) != 1)
            return -1;
        ssize_t n = read(fd, buf + got, len - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

/* Write errors: the first is logged at once with its reason, the rest are
 * counted and logged at most once per interval, and the recovery once with
 * the number lost. (The old code wrote through stdio with no such report.) */
static void write_errors_reported(void **state)
{
    (void)state;
    char path[128], log[8192], out[64];
    int err_pipe[2], out_pipe[2], status = -1;
    unsigned lost = 0, reported = 0, partial = 0;
    pid_t pid;

    snprintf(path, sizeof(path), "%s/full.txt", scratch_dir);
    assert_int_equal(pipe2(err_pipe, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out_pipe, O_CLOEXEC), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(err_pipe[1], 2);
        full_disk_child(path, out_pipe[1]);
    }
    close(err_pipe[1]);
    close(out_pipe[1]);
    ssize_t nlog = read_all_within(err_pipe[0], log, sizeof(log), 10000);
    ssize_t nout = read_all_within(out_pipe[0], out, sizeof(out), 10000);
    close(err_pipe[0]);
    close(out_pipe[0]);
    if (nlog < 0 || nout < 0)
        kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    fputs(log, stderr);
    assert_true(nlog >= 0 && nout > 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(sscanf(out, "lost=%u partial=%u", &lost, &partial), 2);
    assert_true(lost >= 200);
    assert_int_equal(count_of(log, "write failed (File too large)"), 1);
    assert_int_equal(count_of(log, "writes still fail (File too large)"), 1);
    assert_int_equal(count_of(log, "writing again"), 1);
    assert_non_null(strstr(log, "writing again; "));
    assert_int_equal(sscanf(strstr(log, "writing again; "), "writing again; %u lines", &reported),
                     1);
    assert_int_equal(reported, lost);
    /* a line cut short by the limit is ended before the next one */
    assert_int_equal(check_lines(path, false), 405 - lost + partial + 1);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(self_test_json_parser),
        cmocka_unit_test(features_line),
        cmocka_unit_test(protocol_features_and_reply),
        cmocka_unit_test(rings_and_status),
        cmocka_unit_test(memory_and_config),
        cmocka_unit_test(unknown_and_backend_channel),
        cmocka_unit_test(fd_kinds),
        cmocka_unit_test(hostile_fd_name),
        cmocka_unit_test(json_strings),
        cmocka_unit_test(long_note_bounded),
        cmocka_unit_test(random_messages_json_valid),
        cmocka_unit_test(rotation),
        cmocka_unit_test(reopen_after_logrotate),
        cmocka_unit_test_teardown(symlink_and_kinds_refused, capture_restore),
        cmocka_unit_test_teardown(rotation_rename_fails, capture_restore),
        cmocka_unit_test(rotation_never_truncates_link_target),
        cmocka_unit_test(write_errors_reported),
    };
    return cmocka_run_group_tests(tests, scratch_dir_setup, scratch_dir_teardown);
}
