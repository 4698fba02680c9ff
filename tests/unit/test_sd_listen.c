/* SPDX-License-Identifier: MIT */
/*
 * systemd integration (shim/sd_listen.c, and the journal prefix of
 * lib/proto/log.c): the LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES protocol on real
 * sockets, lookup by path and by name, sd_notify datagrams, and log lines
 * carrying their syslog priority when stderr is the journal.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"

#include "log.h"
#include "sd_listen.h"

#define ERRLEN 256
#define FIRST  200 /* where the tests put "inherited" fds */

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

/* A unix socket of type at scratch_dir/name, listening when listen_too; moved to fd
 * `at`. */
static void unix_socket_at(int at, int type, const char *name, bool listen_too)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", scratch_dir, name);
    unlink(sa.sun_path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    if (listen_too)
        assert_int_equal(listen(fd, 4), 0);
    if (fd == at) /* the lowest free fd was already the one wanted */
        return;
    assert_false(fd_open(at));
    assert_int_equal(dup2(fd, at), at);
    close(fd);
}

static void parse_values(void **state)
{
    (void)state;
    struct vs_listen_fds l;
    char err[ERRLEN] = "";

    /* not set, or set for another process: nothing, and no error */
    assert_int_equal(vs_listen_fds_parse(NULL, NULL, NULL, 42, FIRST, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 0);
    assert_null(l.fds);
    assert_int_equal(vs_listen_fds_parse("42", NULL, NULL, 42, FIRST, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(vs_listen_fds_parse("41", "2", NULL, 42, FIRST, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(vs_listen_fds_parse("42", "0", NULL, 42, FIRST, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 0);

    /* bad values are errors that name the variable */
    assert_int_equal(vs_listen_fds_parse("x42", "1", NULL, 42, FIRST, &l, err, sizeof(err)),
                     -EINVAL);
    assert_contains(err, "LISTEN_PID=x42");
    assert_int_equal(vs_listen_fds_parse("-42", "1", NULL, 42, FIRST, &l, err, sizeof(err)),
                     -EINVAL);
    assert_contains(err, "LISTEN_PID");
    assert_int_equal(vs_listen_fds_parse("42", "two", NULL, 42, FIRST, &l, err, sizeof(err)),
                     -EINVAL);
    assert_contains(err, "LISTEN_FDS=two");
    assert_int_equal(vs_listen_fds_parse("42", "1x", NULL, 42, FIRST, &l, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(vs_listen_fds_parse("42", "100000", NULL, 42, FIRST, &l, err, sizeof(err)),
                     -EINVAL);
    assert_contains(err, "LISTEN_FDS=100000");
    assert_null(l.fds);
}

static void inherited_sockets(void **state)
{
    (void)state;
    struct vs_listen_fds l;
    char err[ERRLEN] = "", path[128];
    int pipefd[2];

    unix_socket_at(FIRST, SOCK_STREAM, "vm0.sock", true);       /* usable */
    unix_socket_at(FIRST + 1, SOCK_STREAM, "idle.sock", false); /* not listening */
    unix_socket_at(FIRST + 2, SOCK_DGRAM, "dgram.sock", false); /* not a stream */
    assert_int_equal(pipe(pipefd), 0);                          /* not a socket */
    assert_int_equal(dup2(pipefd[0], FIRST + 3), FIRST + 3);
    close(pipefd[0]);
    close(pipefd[1]);
    unix_socket_at(FIRST + 4, SOCK_STREAM, "vm1.sock", true); /* usable, named */

    assert_int_equal(
        vs_listen_fds_parse("42", "5", "a:b::d:vm1-net", 42, FIRST, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(l.fds[i].fd, FIRST + i);
    assert_true(l.fds[0].usable);
    assert_false(l.fds[1].usable);
    assert_false(l.fds[2].usable);
    assert_false(l.fds[3].usable);
    assert_true(l.fds[4].usable);
    snprintf(path, sizeof(path), "%s/vm0.sock", scratch_dir);
    assert_string_equal(l.fds[0].path, path);
    assert_string_equal(l.fds[3].path, "");
    assert_string_equal(l.fds[0].name, "a");
    assert_string_equal(l.fds[1].name, "b");
    assert_string_equal(l.fds[2].name, "");
    assert_string_equal(l.fds[3].name, "d");
    assert_string_equal(l.fds[4].name, "vm1-net");

    /* by path first; by name (the device's id) only for a usable socket */
    assert_ptr_equal(vs_listen_fds_find(&l, path, NULL), &l.fds[0]);
    assert_ptr_equal(vs_listen_fds_find(&l, "/elsewhere.sock", "vm1-net"), &l.fds[4]);
    assert_null(vs_listen_fds_find(&l, "/elsewhere.sock", NULL));
    assert_null(vs_listen_fds_find(&l, "/elsewhere.sock", "b")); /* b is not listening */
    snprintf(path, sizeof(path), "%s/idle.sock", scratch_dir);
    assert_null(vs_listen_fds_find(&l, path, NULL));

    vs_listen_fds_free(&l);
    assert_int_equal(l.n, 0);
    assert_null(l.fds);
    for (int i = 0; i < 5; i++)
        assert_false(fd_open(FIRST + i));
}

/* The environment: only for this pid; the variables are removed; the fds
 * become close-on-exec and non-blocking. fds from 3, as systemd passes them. */
static void from_environment(void **state)
{
    (void)state;
    struct vs_listen_fds l;
    char err[ERRLEN] = "", pid[32];
    int saved[2];

    /* whatever is at 3 and 4 is kept aside and put back */
    for (int i = 0; i < 2; i++) {
        saved[i] = fd_open(3 + i) ? fcntl(3 + i, F_DUPFD_CLOEXEC, 500) : -1;
        if (saved[i] >= 0)
            close(3 + i);
    }
    unix_socket_at(3, SOCK_STREAM, "env0.sock", true);
    unix_socket_at(4, SOCK_STREAM, "env1.sock", true);
    assert_int_equal(fcntl(3, F_SETFD, 0), 0); /* as inherited: no CLOEXEC */

    snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "2", 1);
    assert_int_equal(vs_listen_fds_from_env(&l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 0); /* another process's */
    assert_null(getenv("LISTEN_PID"));
    assert_null(getenv("LISTEN_FDS"));
    assert_true(fd_open(3) && fd_open(4)); /* not ours to close */

    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "2", 1);
    setenv("LISTEN_FDNAMES", "vm0:vm1", 1);
    assert_int_equal(vs_listen_fds_from_env(&l, err, sizeof(err)), 0);
    assert_null(getenv("LISTEN_PID"));
    assert_null(getenv("LISTEN_FDS"));
    assert_null(getenv("LISTEN_FDNAMES"));
    assert_int_equal(l.n, 2);
    assert_true(l.fds[0].usable && l.fds[1].usable);
    assert_string_equal(l.fds[1].name, "vm1");
    for (int i = 0; i < 2; i++) {
        assert_true(fcntl(3 + i, F_GETFD) & FD_CLOEXEC);
        assert_true(fcntl(3 + i, F_GETFL) & O_NONBLOCK);
    }
    vs_listen_fds_free(&l);

    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "-1", 1);
    assert_int_equal(vs_listen_fds_from_env(&l, err, sizeof(err)), -EINVAL);
    assert_contains(err, "LISTEN_FDS=-1");
    assert_null(getenv("LISTEN_FDS"));

    for (int i = 0; i < 2; i++) {
        if (saved[i] >= 0) {
            dup2(saved[i], 3 + i);
            close(saved[i]);
        }
    }
}

static void notify(void **state)
{
    (void)state;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char buf[64];
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ssize_t n;

    assert_true(fd >= 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", scratch_dir);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);

    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(vs_sd_notify("READY=1"), 0);
    setenv("NOTIFY_SOCKET", sa.sun_path, 1);
    assert_int_equal(vs_sd_notify("READY=1"), 1);
    n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    assert_int_equal(n, 7);
    buf[n] = '\0';
    assert_string_equal(buf, "READY=1");
    assert_int_equal(vs_sd_notify("STOPPING=1"), 1);
    n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    assert_int_equal(n, 10);
    close(fd);

    /* the abstract namespace, as systemd may use */
    char abstract[64];
    snprintf(abstract, sizeof(abstract), "@vs-sdl-test-%d", (int)getpid());
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path + 1, abstract + 1, strlen(abstract) - 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(abstract))),
                     0);
    setenv("NOTIFY_SOCKET", abstract, 1);
    assert_int_equal(vs_sd_notify("RELOADING=1"), 1);
    n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    assert_int_equal(n, 11);
    close(fd);

    /* nobody listening, a relative path */
    setenv("NOTIFY_SOCKET", "/nonexistent/notify", 1);
    assert_int_equal(vs_sd_notify("READY=1"), -ENOENT);
    setenv("NOTIFY_SOCKET", "relative", 1);
    assert_int_equal(vs_sd_notify("READY=1"), -EINVAL);
    unsetenv("NOTIFY_SOCKET");
}

/* Under systemd, JOURNAL_STREAM names stderr's device and inode: every log
 * line then begins with its syslog priority. */
static void journal_prefix(void **state)
{
    (void)state;
    char path[128], env[64], text[512] = "";
    struct stat st;
    int saved = dup(2), fd;

    snprintf(path, sizeof(path), "%s/stderr", scratch_dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0 && saved >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(dup2(fd, 2), 2);
    close(fd);

    vs_log_set_level(VS_LOG_DEBUG);
    setenv("JOURNAL_STREAM", "1:2", 1); /* another stream */
    vs_log_detect_journal();
    vs_info("plain");
    snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", env, 1);
    vs_log_detect_journal();
    vs_err("e %d", 1);
    vs_warn("w");
    vs_info("i");
    vs_debug("d");
    unsetenv("JOURNAL_STREAM");
    vs_log_detect_journal();
    vs_log_set_level(VS_LOG_INFO);
    vs_debug("not shown");

    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_string_equal(text, "vdpa-shim: info: plain\n"
                              "<3>vdpa-shim: error: e 1\n"
                              "<4>vdpa-shim: warn: w\n"
                              "<6>vdpa-shim: info: i\n"
                              "<7>vdpa-shim: debug: d\n");
}

/* A message longer than a log line is cut, still one line. */
static void long_log_line(void **state)
{
    (void)state;
    char path[128], *big = malloc(5000), text[4096];
    int saved = dup(2), fd;

    assert_non_null(big);
    memset(big, 'x', 4999);
    big[4999] = '\0';
    snprintf(path, sizeof(path), "%s/stderr2", scratch_dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0 && saved >= 0);
    dup2(fd, 2);
    close(fd);
    vs_warn("%s", big);
    vs_warn("after");
    dup2(saved, 2);
    close(saved);
    free(big);

    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(text, sizeof(text), f));
    size_t n = strlen(text);
    assert_true(n <= 2048 && n > 2000);
    assert_int_equal(text[n - 1], '\n');
    assert_non_null(fgets(text, sizeof(text), f));
    assert_string_equal(text, "vdpa-shim: warn: after\n");
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_values),     cmocka_unit_test(inherited_sockets),
        cmocka_unit_test(from_environment), cmocka_unit_test(notify),
        cmocka_unit_test(journal_prefix),   cmocka_unit_test(long_log_line),
    };
    return cmocka_run_group_tests(tests, scratch_dir_setup, scratch_dir_teardown);
}
