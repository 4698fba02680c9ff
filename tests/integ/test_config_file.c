/* SPDX-License-Identifier: MIT */
/*
 * --config FILE (shim/config_file.c): the INI reader, on strings and on real
 * files. Every accepted file is checked device by device against the same
 * keys given with --device; every rejected one must name the file and the
 * line, and the reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"
#include "scripted.h"

#include "cli.h"
#include "config_file.h"

#define ERRLEN 1024

/* Options as vs_cli_parse leaves them for a command line with no device. */
static void opts_init(struct vs_options *o)
{
    memset(o, 0, sizeof(*o));
    o->log_level = VS_LOG_INFO;
    o->trace_format = VS_TRACE_TEXT;
    o->trace_max = VS_TRACE_MAX_DEFAULT;
}

static void load_ok(struct vs_options *o, const char *text)
{
    char err[ERRLEN] = "";
    int rc = vs_config_load_string(o, "t.conf", text, err, sizeof(err));

    if (rc)
        fail_msg("vs_config_load_string failed (%d): %s\n--- text:\n%s", rc, err, text);
}

/* text must be refused with "t.conf:LINE:" and every one of the words. */
static void load_bad(const char *text, unsigned line, const char *w1, const char *w2)
{
    struct vs_options o;
    char err[ERRLEN] = "", where[32];
    int rc;

    opts_init(&o);
    rc = vs_config_load_string(&o, "t.conf", text, err, sizeof(err));
    if (rc != -EINVAL)
        fail_msg("expected -EINVAL, got %d (%s)\n--- text:\n%s", rc, err, text);
    if (line) {
        snprintf(where, sizeof(where), "t.conf:%u: ", line);
        if (strncmp(err, where, strlen(where)) != 0)
            fail_msg("error \"%s\" does not begin with \"%s\"", err, where);
    }
    if (w1)
        assert_contains(err, w1);
    if (w2)
        assert_contains(err, w2);
    vs_options_free(&o);
}

/* The device a --device spec gives, to compare with one from the file. */
static struct vs_device_config from_spec(const char *spec, size_t index)
{
    struct vs_device_config d;
    char err[ERRLEN] = "";

    if (vs_device_parse(spec, index, &d, err, sizeof(err)))
        fail_msg("vs_device_parse(%s): %s", spec, err);
    return d;
}

static void two_devices(void **state)
{
    (void)state;
    struct vs_options o;

    opts_init(&o);
    load_ok(&o, "# devices of vm0\n"
                "; a comment too\n"
                "\n"
                "[device vm0-net]\n"
                "type = net\n"
                "frontend = /run/vs/vm0-net.sock\n"
                "backend=/run/dpdk/vhost0.sock\n"
                "  mac =  52:54:00:12:34:56  \n"
                "queue-pairs = 2\r\n"
                "\n"
                "[ device vm0-disk ]\n"
                "\ttype\t=\tblk\n"
                "frontend = /run/vs/vm0-disk.sock\n"
                "backend = /run/qsd/vm0.sock\n"
                "backend-mode = listen\n"
                "socket-mode = 0660\n");
    assert_int_equal(o.ndevices, 2);
    struct vs_device_config want = from_spec("type=net,id=vm0-net,frontend=/run/vs/vm0-net.sock,"
                                             "backend=/run/dpdk/vhost0.sock,"
                                             "mac=52:54:00:12:34:56,queue-pairs=2",
                                             0);
    assert_true(vs_device_config_equal(&o.devices[0], &want));
    want = from_spec("type=blk,id=vm0-disk,frontend=/run/vs/vm0-disk.sock,"
                     "backend=/run/qsd/vm0.sock,backend-mode=listen,socket-mode=0660",
                     1);
    assert_true(vs_device_config_equal(&o.devices[1], &want));
    assert_int_equal(o.devices[1].backend_mode, VS_MODE_LISTEN);
    assert_int_equal(o.devices[1].socket_mode, 0660);
    /* nothing global was set */
    assert_null(o.trace_path);
    assert_int_equal(o.log_level, VS_LOG_INFO);
    vs_options_free(&o);
}

static void value_keeps_commas_and_blanks(void **state)
{
    (void)state;
    struct vs_options o;

    /* a value runs to the end of its line: no ',,' escaping in the file */
    opts_init(&o);
    load_ok(&o, "[device d]\ntype=fs\nfrontend=/tmp/a,b.sock\nbackend=/tmp/c d.sock\n"
                "tag=my tag\n");
    assert_int_equal(o.ndevices, 1);
    assert_string_equal(o.devices[0].frontend, "/tmp/a,b.sock");
    assert_string_equal(o.devices[0].backend, "/tmp/c d.sock");
    assert_string_equal(o.devices[0].tag, "my tag");
    vs_options_free(&o);

    /* no newline at the end of the file */
    opts_init(&o);
    load_ok(&o, "[device d]\ntype=net\nfrontend=/f\nbackend=/b");
    assert_string_equal(o.devices[0].backend, "/b");
    vs_options_free(&o);
}

static void global_settings(void **state)
{
    (void)state;
    struct vs_options o;

    opts_init(&o);
    load_ok(&o, "[global]\n"
                "trace = /var/log/vs.trace\n"
                "trace-format = json\n"
                "trace-max = 8M\n"
                "log-level = debug\n"
                "[device a]\ntype=rng\nfrontend=/f\nbackend=/b\n");
    assert_string_equal(o.trace_path, "/var/log/vs.trace");
    assert_ptr_equal(o.trace_path, o.trace_path_owned); /* a copy: the text is freed */
    assert_int_equal(o.trace_format, VS_TRACE_JSON);
    assert_int_equal(o.trace_max, 8u << 20);
    assert_int_equal(o.log_level, VS_LOG_DEBUG);
    assert_int_equal(o.ndevices, 1);
    vs_options_free(&o);
    assert_null(o.trace_path);
    assert_null(o.trace_path_owned);

    /* [global] may come after the devices */
    opts_init(&o);
    load_ok(&o, "[device a]\ntype=rng\nfrontend=/f\nbackend=/b\n[global]\nlog-level=warn\n");
    assert_int_equal(o.log_level, VS_LOG_WARN);
    vs_options_free(&o);
}

static void command_line_wins(void **state)
{
    (void)state;
    struct vs_options o;
    char err[ERRLEN] = "";
    char *argv[] = { "vdpa-shim",
                     "--config",
                     "t.conf",
                     "--trace=-",
                     "--log-level",
                     "error",
                     "--trace-format=text",
                     "--trace-max=0",
                     "--device",
                     "type=net,id=cli0,frontend=/c0,backend=/c1",
                     NULL };

    assert_int_equal(vs_cli_parse(10, argv, &o, err, sizeof(err)), 0);
    assert_string_equal(o.config_path, "t.conf");
    assert_int_equal(o.ncli_devices, 1);
    load_ok(&o, "[global]\ntrace=/x.trace\nlog-level=debug\ntrace-format=json\ntrace-max=1G\n"
                "[device f0]\ntype=net\nfrontend=/f\nbackend=/b\n");
    assert_string_equal(o.trace_path, "-");
    assert_int_equal(o.log_level, VS_LOG_ERROR);
    assert_int_equal(o.trace_format, VS_TRACE_TEXT);
    assert_int_equal(o.trace_max, 0);
    /* the command line's devices first, then the file's */
    assert_int_equal(o.ndevices, 2);
    assert_string_equal(o.devices[0].id, "cli0");
    assert_string_equal(o.devices[1].id, "f0");
    vs_options_free(&o);

    /* a bad [global] value is refused even when the command line set it */
    char *argv2[] = { "vdpa-shim", "--config", "t.conf", "--log-level", "error", NULL };
    assert_int_equal(vs_cli_parse(5, argv2, &o, err, sizeof(err)), 0);
    assert_int_equal(
        vs_config_load_string(&o, "t.conf", "[global]\nlog-level = loud\n", err, sizeof(err)),
        -EINVAL);
    assert_contains(err, "t.conf:2: ");
    assert_contains(err, "loud");
    vs_options_free(&o);
}

static void clash_with_command_line(void **state)
{
    (void)state;
    struct vs_options o;
    char err[ERRLEN] = "";
    char *argv[] = {
        "vdpa-shim", "--config", "t.conf", "--device", "type=net,id=n0,frontend=/c0,backend=/c1",
        NULL
    };

    assert_int_equal(vs_cli_parse(5, argv, &o, err, sizeof(err)), 0);
    assert_int_equal(vs_config_load_string(&o, "t.conf",
                                           "\n[device n0]\ntype=net\nfrontend=/f\nbackend=/b\n",
                                           err, sizeof(err)),
                     -EINVAL);
    assert_contains(err, "t.conf:2: ");
    assert_contains(err, "n0");
    assert_contains(err, "command line");
    vs_options_free(&o);

    assert_int_equal(vs_cli_parse(5, argv, &o, err, sizeof(err)), 0);
    assert_int_equal(vs_config_load_string(&o, "t.conf",
                                           "[device x]\ntype=net\nfrontend=/f\nbackend=/c1\n", err,
                                           sizeof(err)),
                     -EINVAL);
    assert_contains(err, "t.conf:1: ");
    assert_contains(err, "/c1");
    assert_contains(err, "n0");
    vs_options_free(&o);
}

static void errors_name_file_and_line(void **state)
{
    (void)state;
    /* syntax */
    load_bad("type = net\n", 1, "before any section", "[device NAME]");
    load_bad("\n\n[device a]\ntype net\n", 4, "KEY = VALUE", "type net");
    load_bad("[device a]\n= net\n", 2, "no key", NULL);
    load_bad("[device a\n", 1, "']'", NULL);
    load_bad("[device a] extra\n", 1, "']'", NULL);
    load_bad("[devices a]\n", 1, "unknown section", "[global]");
    load_bad("[device]\n", 1, "needs a name", NULL);
    load_bad("[device   ]\n", 1, "needs a name", NULL);
    load_bad("[global]\n[global]\n", 2, "twice", "line 1");
    /* names */
    load_bad("[device a,b]\ntype=net\n", 1, "a,b", "id");
    load_bad("[device 0123456789012345678901234567890123456789]\n", 1, "id", NULL);
    /* keys and values: the message of the --device parser, with the line */
    load_bad("[device a]\ntype=net\ncolour=red\n", 3, "colour", "known keys");
    load_bad("[device a]\ntype=toaster\n", 2, "toaster", "net");
    load_bad("[device a]\ntype=net\nmtu=5\n", 3, "mtu=5", "68..65535");
    load_bad("[device a]\ntype=net\ntype=blk\n", 3, "twice", "type");
    load_bad("[device a]\nid=b\n", 2, "id", "section");
    load_bad("[device a]\nlog-level=debug\n", 2, "[global]", "log-level");
    load_bad("[device a]\ntrace=/x\n", 2, "[global]", NULL);
    load_bad("[global]\ntype=net\n", 2, "unknown setting", "type");
    load_bad("[global]\ntrace-max=12\n", 2, "trace-max", "64M");
    load_bad("[global]\ntrace-format=xml\n", 2, "xml", "json");
    load_bad("[global]\ntrace=\n", 2, "trace", NULL);
    /* a device's checks that need all its keys point at its section line */
    load_bad("# c\n[device a]\nfrontend=/f\nbackend=/b\n", 2, "type= is required", NULL);
    load_bad("[device a]\ntype=net\nfrontend=/f\n\n", 1, "backend=", "required");
    load_bad("[device a]\ntype=blk\nfrontend=/f\nbackend=/b\nmtu=1500\n", 1, "type=net only", NULL);
    load_bad("[device a]\ntype=net\nfrontend=/s\nbackend=/s\n", 1, "same path", NULL);
    /* ... also when the next section begins */
    load_bad("[device a]\ntype=net\n[device b]\n", 1, "frontend=", NULL);
    /* two devices */
    load_bad("[device a]\ntype=net\nfrontend=/f\nbackend=/b\n"
             "[device a]\ntype=net\nfrontend=/g\nbackend=/c\n",
             5, "twice", "line 1");
    load_bad("[device a]\ntype=net\nfrontend=/f\nbackend=/b\n"
             "[device b]\ntype=net\nfrontend=/b\nbackend=/c\n",
             5, "/b", "line 1");
}

static void long_line(void **state)
{
    (void)state;
    size_t n = VS_CONFIG_LINE_MAX + 64;
    char *text = malloc(n + 32);

    assert_non_null(text);
    strcpy(text, "[device a]\ntype=net\n# ");
    size_t used = strlen(text);
    memset(text + used, 'x', n);
    strcpy(text + used + n, "\n");
    load_bad(text, 3, "longer than", NULL);
    free(text);
}

static void empty_file(void **state)
{
    (void)state;
    struct vs_options o;

    /* no device is not an error for the file (a host may add them by SIGHUP) */
    opts_init(&o);
    load_ok(&o, "");
    assert_int_equal(o.ndevices, 0);
    load_ok(&o, "# nothing yet\n[global]\n");
    assert_int_equal(o.ndevices, 0);
    vs_options_free(&o);
}

/* ---- real files -------------------------------------------------------------- */

static char *write_temp(const char *text, size_t len)
{
    char *path = strdup("/tmp/vs-config-XXXXXX");
    int fd;

    assert_non_null(path);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static void file_load(void **state)
{
    (void)state;
    static const char text[] = "[global]\nlog-level = warn\n"
                               "[device d0]\ntype=net\nfrontend=/f\nbackend=/b\n";
    char *path = write_temp(text, sizeof(text) - 1);
    struct vs_options o;
    char err[ERRLEN] = "";

    opts_init(&o);
    o.config_path = path;
    assert_int_equal(vs_config_load(&o, err, sizeof(err)), 0);
    assert_int_equal(o.ndevices, 1);
    assert_string_equal(o.devices[0].id, "d0");
    assert_int_equal(o.log_level, VS_LOG_WARN);
    vs_options_free(&o);
    unlink(path);
    free(path);
}

static void file_errors(void **state)
{
    (void)state;
    static const char bad[] = "[device d0]\ntype=net\nfrontend=/f\nbackend=/b\nqueue-pairs=0\n";
    static const char nul[] = "[device d0]\ntype=net\0\n";
    struct vs_options o;
    char err[ERRLEN] = "", want[128];
    char *path = write_temp(bad, sizeof(bad) - 1);

    opts_init(&o);
    o.config_path = path;
    assert_int_equal(vs_config_load(&o, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "%s:5: ", path);
    assert_contains(err, want);
    assert_contains(err, "queue-pairs=0");
    vs_options_free(&o);
    unlink(path);
    free(path);

    path = write_temp(nul, sizeof(nul) - 1);
    opts_init(&o);
    o.config_path = path;
    assert_int_equal(vs_config_load(&o, err, sizeof(err)), -EINVAL);
    assert_contains(err, "NUL");
    assert_contains(err, path);
    vs_options_free(&o);
    unlink(path);
    free(path);

    /* a missing file: the errno, and the path */
    opts_init(&o);
    o.config_path = "/nonexistent/vdpa-shim.conf";
    assert_int_equal(vs_config_load(&o, err, sizeof(err)), -ENOENT);
    assert_contains(err, "/nonexistent/vdpa-shim.conf");
    assert_contains(err, "No such file");
    vs_options_free(&o);

    /* a directory */
    opts_init(&o);
    o.config_path = "/tmp";
    assert_int_equal(vs_config_load(&o, err, sizeof(err)), -EISDIR);
    assert_contains(err, "/tmp");
    assert_contains(err, "Is a directory");
    vs_options_free(&o);
}

/* ---- files that are not config files ----------------------------------------- */

#define GUARD_S 10 /* a test that blocks (the old fopen on a FIFO) dies, not hangs */

/* A FIFO where the file should be: refused at once, not waited on (nobody
 * ever opens its other end here). */
static void fifo_refused(void **state)
{
    (void)state;
    char dir[] = "/tmp/vs-config-fifo-XXXXXX", fifo[64], link[64];
    struct vs_options o;
    char err[ERRLEN] = "";

    assert_non_null(mkdtemp(dir));
    snprintf(fifo, sizeof(fifo), "%s/fifo.conf", dir);
    snprintf(link, sizeof(link), "%s/link.conf", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(symlink(fifo, link), 0);
    alarm(GUARD_S);
    opts_init(&o);
    o.config_path = fifo;
    assert_int_equal(vs_config_load(&o, err, sizeof(err)), -EINVAL);
    assert_contains(err, fifo);
    assert_contains(err, "is a FIFO, not a regular file");
    vs_options_free(&o);
    /* through a symbolic link: the check is on what it points to */
    opts_init(&o);
    o.config_path = link;
    assert_int_equal(vs_config_load(&o, err, sizeof(err)), -EINVAL);
    assert_contains(err, "is a FIFO, not a regular file");
    vs_options_free(&o);
    /* a character device */
    opts_init(&o);
    o.config_path = "/dev/null";
    assert_int_equal(vs_config_load(&o, err, sizeof(err)), -EINVAL);
    assert_contains(err, "is a character device, not a regular file");
    vs_options_free(&o);
    alarm(0);
    unlink(link);
    unlink(fifo);
    rmdir(dir);
}

/* A symbolic link to a config file is followed (configuration management
 * links files into /etc): the file behind it is read. */
static void symlink_followed(void **state)
{
    (void)state;
    static const char text[] = "[device d0]\ntype=net\nfrontend=/f\nbackend=/b\n";
    char *path = write_temp(text, sizeof(text) - 1);
    char link[64];
    struct vs_options o;
    char err[ERRLEN] = "";

    snprintf(link, sizeof(link), "%s.link", path);
    assert_int_equal(symlink(path, link), 0);
    opts_init(&o);
    o.config_path = link;
    assert_int_equal(vs_config_load(&o, err, sizeof(err)), 0);
    assert_int_equal(o.ndevices, 1);
    vs_options_free(&o);
    unlink(link);
    unlink(path);
    free(path);
}

/* The size bound: a file of VS_CONFIG_FILE_MAX bytes is read, one byte more
 * is refused before it is read (said so, with the size). */
static void size_bound(void **state)
{
    (void)state;
    struct vs_options o;
    char err[ERRLEN] = "";
    char *path = write_temp("", 0);
    char comment[VS_CONFIG_LINE_MAX];
    FILE *f = fopen(path, "w");
    size_t size = 0;

    assert_non_null(f);
    memset(comment, 'x', sizeof(comment));
    comment[0] = '#';
    comment[sizeof(comment) - 1] = '\n';
    while (size + sizeof(comment) <= VS_CONFIG_FILE_MAX)
        size += fwrite(comment, 1, sizeof(comment), f);
    for (; size < VS_CONFIG_FILE_MAX; size++)
        fputc('\n', f);
    assert_int_equal(fclose(f), 0);
    opts_init(&o);
    o.config_path = path;
    assert_int_equal(vs_config_load(&o, err, sizeof(err)), 0);
    vs_options_free(&o);

    assert_int_equal(truncate(path, (off_t)VS_CONFIG_FILE_MAX + 1), 0);
    opts_init(&o);
    o.config_path = path;
    assert_int_equal(vs_config_load(&o, err, sizeof(err)), -EFBIG);
    assert_contains(err, path);
    assert_contains(err, "larger than 4 MiB");
    vs_options_free(&o);
    unlink(path);
    free(path);
}

/* ---- the real program: a FIFO or a symbolic link where a file was ----------- */

#define WAIT_MS 3000

struct run {
    char dir[64], conf[128], log[128], fe[128], be[128], trace[128], target[128];
    pid_t pid;
    int be_listen;
};

static void run_init(struct run *r)
{
    memset(r, 0, sizeof(*r));
    r->be_listen = -1;
    snprintf(r->dir, sizeof(r->dir), "/tmp/vs-config-run.XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->conf, sizeof(r->conf), "%s/shim.conf", r->dir);
    snprintf(r->log, sizeof(r->log), "%s/shim.log", r->dir);
    snprintf(r->fe, sizeof(r->fe), "%s/fe.sock", r->dir);
    snprintf(r->be, sizeof(r->be), "%s/be.sock", r->dir);
    snprintf(r->trace, sizeof(r->trace), "%s/trace.txt", r->dir);
    snprintf(r->target, sizeof(r->target), "%s/precious.txt", r->dir);
    r->be_listen = vu_listen_unix(r->be, 0600);
    assert_true(r->be_listen >= 0);
}

/* One pass-through device, and the trace when `trace` is set. */
static void run_write_conf(const struct run *r, bool trace)
{
    FILE *f = fopen(r->conf, "w");

    assert_non_null(f);
    if (trace)
        fprintf(f, "[global]\ntrace = %s\n", r->trace);
    fprintf(f, "[device d0]\ntype = net\nfrontend = %s\nbackend = %s\n", r->fe, r->be);
    assert_int_equal(fclose(f), 0);
}

static void run_spawn(struct run *r)
{
    char shim[256];

    snprintf(shim, sizeof(shim), "%s/vdpa-shim", scripted_build_dir());
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        int log = open(r->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (log >= 0)
            dup2(log, 2);
        execl(shim, shim, "--config", r->conf, "--log-level", "debug", (char *)NULL);
        _exit(127);
    }
}

static bool run_log_has(const struct run *r, const char *text)
{
    char buf[16384];
    int fd = open(r->log, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return strstr(buf, text) != NULL;
}

/* Waits up to ms for the log to say text (or for the socket when text is NULL). */
static bool run_wait_for(const struct run *r, const char *text, int ms)
{
    struct stat st;

    for (int waited = 0; waited < ms; waited += 10) {
        if (text ? run_log_has(r, text) : stat(r->fe, &st) == 0)
            return true;
        usleep(10000);
    }
    return false;
}

/* The exit status within ms, or -1 (still running). */
static int run_wait_exit(struct run *r, int ms)
{
    int status;

    for (int waited = 0; waited < ms; waited += 10) {
        if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
            r->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        usleep(10000);
    }
    return -1;
}

/* A front-end connects and GET_FEATURES goes through to the back-end and
 * its reply back, then the front-end leaves, every wait bounded: 0 when the
 * device serves. */
static int run_serves(const struct run *r)
{
    struct pollfd p = { .fd = r->be_listen, .events = POLLIN };
    int fe = vu_connect_unix(r->fe), be = -1, rc = -ETIMEDOUT;
    struct vu_msg m;

    if (fe < 0)
        return fe;
    if (poll(&p, 1, WAIT_MS) == 1 && (be = vu_accept(r->be_listen)) >= 0 &&
        vu_set_nonblocking(be, false) == 0 && send_empty(fe, VU_REQ_GET_FEATURES, 0) == 0 &&
        expect_msg(be, VU_REQ_GET_FEATURES, &m) == 0 &&
        reply_u64(be, VU_REQ_GET_FEATURES, UINT64_C(1) << 32) == 0)
        rc = expect_msg(fe, VU_REQ_GET_FEATURES, &m);
    close(fe);
    /* the session ends with the front-end: the shim hangs up on the back-end
     * (closing ours first would start a replay, which the next call would
     * take for its own connection) */
    if (be >= 0 && rc == 0 && !closed_within(be, WAIT_MS))
        rc = -ETIMEDOUT;
    if (be >= 0)
        close(be);
    return rc;
}

/* SIGTERM, then SIGKILL if it does not go (a shim stuck in a syscall):
 * its exit status, -1 when it had to be killed. Removes the directory. */
static int run_stop(struct run *r)
{
    int status = 0;
    char cmd[256];

    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        status = run_wait_exit(r, WAIT_MS);
        if (status < 0) {
            kill(r->pid, SIGKILL);
            waitpid(r->pid, NULL, 0);
            r->pid = 0;
        }
    }
    if (status != 0 || getenv("VS_TEST_VERBOSE")) {
        snprintf(cmd, sizeof(cmd), "echo '--- shim log:'; cat %s", r->log);
        if (system(cmd) < 0)
            perror("system");
    }
    close(r->be_listen);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
    if (system(cmd) < 0)
        perror("system");
    return status;
}

/* Issue 14 item 6: the config path replaced by a FIFO and SIGHUP. The old
 * code blocked in fopen() for good (every device with it); now the reload
 * is refused, said so, and the device goes on serving. */
static void sighup_fifo_keeps_serving(void **state)
{
    (void)state;
    struct run r;

    run_init(&r);
    run_write_conf(&r, false);
    run_spawn(&r);
    assert_true(run_wait_for(&r, NULL, WAIT_MS));
    assert_int_equal(run_serves(&r), 0);
    assert_int_equal(unlink(r.conf), 0);
    assert_int_equal(mkfifo(r.conf, 0600), 0);
    assert_int_equal(kill(r.pid, SIGHUP), 0);
    bool refused = run_wait_for(&r, "is a FIFO, not a regular file", WAIT_MS);
    bool served = refused && run_serves(&r) == 0;
    bool kept = run_log_has(&r, "nothing changed");
    int status = run_stop(&r);
    assert_true(refused);
    assert_true(served);
    assert_true(kept);
    assert_int_equal(status, 0);
}

/* A FIFO as the config file at start: refused at once, exit status 2. */
static void fifo_config_at_start(void **state)
{
    (void)state;
    struct run r;

    run_init(&r);
    assert_int_equal(mkfifo(r.conf, 0600), 0);
    run_spawn(&r);
    int status = run_wait_exit(&r, WAIT_MS);
    bool said = run_log_has(&r, "is a FIFO, not a regular file");
    run_stop(&r);
    assert_int_equal(status, 2);
    assert_true(said);
}

static void write_target(const struct run *r)
{
    FILE *f = fopen(r->target, "w");

    assert_non_null(f);
    fputs("precious\n", f);
    assert_int_equal(fclose(f), 0);
}

static bool target_intact(const struct run *r)
{
    char buf[64] = "";
    FILE *f = fopen(r->target, "r");
    size_t n;

    if (!f)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strcmp(buf, "precious\n") == 0;
}

/* Issue 14 item 7: a symbolic link at the trace path is refused at start
 * (exit 1, said so) and the file it points to is left alone. */
static void trace_symlink_at_start(void **state)
{
    (void)state;
    struct run r;

    run_init(&r);
    run_write_conf(&r, true);
    write_target(&r);
    assert_int_equal(symlink(r.target, r.trace), 0);
    run_spawn(&r);
    int status = run_wait_exit(&r, WAIT_MS);
    bool said = run_log_has(&r, "is a symbolic link");
    bool intact = target_intact(&r);
    run_stop(&r);
    assert_int_equal(status, 1);
    assert_true(said);
    assert_true(intact);
}

/* ... and one put there before SIGHUP (after logrotate moved the file, say)
 * stops the trace, said so: the link's target gets nothing, and the device
 * goes on serving. */
static void trace_symlink_at_sighup(void **state)
{
    (void)state;
    char moved[160];
    struct run r;

    run_init(&r);
    run_write_conf(&r, true);
    write_target(&r);
    run_spawn(&r);
    assert_true(run_wait_for(&r, NULL, WAIT_MS));
    assert_int_equal(run_serves(&r), 0);
    snprintf(moved, sizeof(moved), "%s.moved", r.trace);
    assert_int_equal(rename(r.trace, moved), 0);
    assert_int_equal(symlink(r.target, r.trace), 0);
    assert_int_equal(kill(r.pid, SIGHUP), 0);
    bool said = run_wait_for(&r, "is a symbolic link", WAIT_MS);
    bool served = said && run_serves(&r) == 0;
    bool intact = target_intact(&r);
    int status = run_stop(&r);
    assert_true(said);
    assert_true(served);
    assert_true(intact);
    assert_int_equal(status, 0);
}

static void reload_equality(void **state)
{
    (void)state;
    struct vs_options a, b;

    /* The same file read twice gives equal devices (what SIGHUP compares);
     * one changed key makes that device differ, and only that one. */
    opts_init(&a);
    opts_init(&b);
    load_ok(&a, "[device x]\ntype=net\nfrontend=/f\nbackend=/b\nmtu=1500\n"
                "[device y]\ntype=blk\nfrontend=/g\nbackend=/c\n");
    load_ok(&b, "[device x]\ntype=net\nfrontend=/f\nbackend=/b\nmtu=9000\n"
                "[device y]\nbackend=/c\nfrontend=/g\ntype=blk\n");
    assert_false(vs_device_config_equal(&a.devices[0], &b.devices[0]));
    assert_true(vs_device_config_equal(&a.devices[1], &b.devices[1]));
    /* the socket-activation fields main sets are not compared */
    b.devices[1].frontend_fd_given = true;
    b.devices[1].frontend_fd = 7;
    assert_true(vs_device_config_equal(&a.devices[1], &b.devices[1]));
    vs_options_free(&a);
    vs_options_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_devices),
        cmocka_unit_test(value_keeps_commas_and_blanks),
        cmocka_unit_test(global_settings),
        cmocka_unit_test(command_line_wins),
        cmocka_unit_test(clash_with_command_line),
        cmocka_unit_test(errors_name_file_and_line),
        cmocka_unit_test(long_line),
        cmocka_unit_test(empty_file),
        cmocka_unit_test(file_load),
        cmocka_unit_test(file_errors),
        cmocka_unit_test(reload_equality),
        cmocka_unit_test(fifo_refused),
        cmocka_unit_test(symlink_followed),
        cmocka_unit_test(size_bound),
        cmocka_unit_test(sighup_fifo_keeps_serving),
        cmocka_unit_test(fifo_config_at_start),
        cmocka_unit_test(trace_symlink_at_start),
        cmocka_unit_test(trace_symlink_at_sighup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
