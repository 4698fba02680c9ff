/* SPDX-License-Identifier: MIT */
/*
 * lib/base/peer_fd.c: the kind of every fd a peer could send is probed
 * right; eventfd signal/drain never block, whatever the counter holds and
 * whatever a hostile peer does to the shared file description's flags
 * (O_NONBLOCK flipped in a tight loop, signal+consume raced) meanwhile; a
 * wrong kind is refused without any I/O on it.
 *
 * A call that blocked would hang the binary: alarm() kills it first
 * (run-unit.sh counts that as a failure).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"
#include "peer_fd.h"

#define ARRAY_SIZE(a)       (sizeof(a) / sizeof((a)[0]))
#define EVENTFD_MAX         0xfffffffffffffffeull /* the largest count an eventfd holds */
#define CALL_BOUND_NS       (100ull * 1000 * 1000 * test_time_scale()) /* one call, worst case */
#define RACE_CALLS          4000u /* signal and drain calls under attack */
#define RACE_TOTAL_BOUND_NS (20ull * 1000 * 1000 * 1000 * test_time_scale())
#define BINARY_DEADLINE_S   240 /* a blocked call kills the binary */
#define PIPE_BYTES          3
#define GUARD_SIGNAL_OFFSET 4 /* peer_fd.h: SIGRTMIN + 4 */

/* ---- interposed system calls ------------------------------------------------
 * The window the guard timer covers (a peer filling the counter between the
 * poll that says "room" and the write) is a few hundred nanoseconds wide. To
 * hit it every time, this binary's poll() can lie (every fd ready) and its
 * preadv2() can answer EOPNOTSUPP as old kernels do for eventfd: peer_fd.c,
 * linked statically, calls these. */
static atomic_bool poll_lies, nowait_refused;

/* glibc declares poll's array write-only (for _FORTIFY_SOURCE); this one reads
 * the events asked for. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000L };

    if (atomic_load(&poll_lies)) {
        for (nfds_t i = 0; i < n; i++)
            fds[i].revents = fds[i].events;
        return (int)n;
    }
    return ppoll(fds, n, timeout < 0 ? NULL : &ts, NULL);
}

ssize_t preadv2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags)
{
    if (atomic_load(&nowait_refused) && (flags & RWF_NOWAIT)) {
        errno = EOPNOTSUPP;
        return -1;
    }
    return syscall(SYS_preadv2, fd, iov, iovcnt, (long)offset, 0L, flags);
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);

    assert_true(fl >= 0);
    assert_int_equal(fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK), 0);
}

/* An eventfd's counter read behind peer_fd's back (O_NONBLOCK read). */
static uint64_t raw_count(int fd)
{
    uint64_t v = 0;
    int fl = fcntl(fd, F_GETFL);

    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
        v = 0;
    fcntl(fd, F_SETFL, fl);
    return v;
}

static void raw_add(int fd, uint64_t v)
{
    assert_int_equal(write(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
}

/* ---- kinds ---------------------------------------------------------------- */

struct kind_case {
    const char *what;
    int fd;
    enum peer_fd_kind want;
};

static void check_kinds(const struct kind_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enum peer_fd_kind got;

        assert_true(c[i].fd >= 0);
        got = peer_fd_kind(c[i].fd);
        if (got != c[i].want)
            fail_msg("%s: probed as %s, expected %s", c[i].what, peer_fd_kind_name(got),
                     peer_fd_kind_name(c[i].want));
        close(c[i].fd);
    }
}

static void test_kinds(void **state)
{
    char dir[] = "/tmp/test_peer_fd.XXXXXX", fifo[sizeof(dir) + 8], file[sizeof(dir) + 8];
    int sv[2], pp[2], ev = eventfd(0, EFD_CLOEXEC);
    char evpath[64];
    sigset_t none;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
    snprintf(file, sizeof(file), "%s/file", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
    snprintf(evpath, sizeof(evpath), "/proc/self/fd/%d", ev);
    sigemptyset(&none);
    const struct kind_case cases[] = {
        { "eventfd", ev, PEER_FD_EVENTFD },
        { "semaphore eventfd", eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK), PEER_FD_EVENTFD },
        { "memfd", memfd_create("peer_fd", MFD_CLOEXEC), PEER_FD_MEMORY },
        { "regular file", open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600), PEER_FD_MEMORY },
        { "socket", sv[0], PEER_FD_SOCKET },
        { "socket (other end)", sv[1], PEER_FD_SOCKET },
        { "pipe read end", pp[0], PEER_FD_PIPE },
        { "pipe write end", pp[1], PEER_FD_PIPE },
        { "FIFO", open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC), PEER_FD_PIPE },
        { "directory", open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), PEER_FD_DIRECTORY },
        { "O_PATH file", open(file, O_PATH | O_CLOEXEC), PEER_FD_OPATH },
        { "O_PATH of an eventfd", open(evpath, O_PATH | O_CLOEXEC), PEER_FD_OPATH },
        { "/dev/null", open("/dev/null", O_RDWR | O_CLOEXEC), PEER_FD_CHARDEV },
        { "timerfd", timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC), PEER_FD_OTHER },
        { "signalfd", signalfd(-1, &none, SFD_CLOEXEC), PEER_FD_OTHER },
        { "epoll", epoll_create1(EPOLL_CLOEXEC), PEER_FD_OTHER },
    };
    check_kinds(cases, ARRAY_SIZE(cases));

    int closed = eventfd(0, 0);
    close(closed);
    assert_int_equal(peer_fd_kind(closed), PEER_FD_BAD);
    assert_int_equal(peer_fd_kind(-1), PEER_FD_BAD);
    unlink(fifo);
    unlink(file);
    rmdir(dir);
}

static void test_kind_names(void **state)
{
    (void)state;
    for (int a = PEER_FD_BAD; a <= PEER_FD_OTHER; a++) {
        assert_true(strlen(peer_fd_kind_name((enum peer_fd_kind)a)) > 0);
        for (int b = PEER_FD_BAD; b < a; b++)
            assert_string_not_equal(peer_fd_kind_name((enum peer_fd_kind)a),
                                    peer_fd_kind_name((enum peer_fd_kind)b));
    }
}

/* ---- signal and drain on well-behaved eventfds ----------------------------- */

static void test_signal_and_drain(void **state)
{
    int fd = eventfd(0, EFD_CLOEXEC); /* blocking, as a peer may leave it */
    uint64_t count = 99;

    (void)state;
    assert_int_equal(peer_fd_signal(fd), 0);
    assert_int_equal(peer_fd_signal(fd), 0);
    assert_int_equal(peer_fd_drain(fd, &count), 0);
    assert_int_equal(count, 2);
    assert_int_equal(peer_fd_drain(fd, &count), 0); /* empty and blocking: at once */
    assert_int_equal(count, 0);
    close(fd);
}

/* A saturated counter: -EAGAIN at once, counter untouched, whether the file
 * is blocking or not. */
static void test_signal_saturated(void **state)
{
    (void)state;
    for (int nonblock = 0; nonblock <= 1; nonblock++) {
        int fd = eventfd(0, EFD_CLOEXEC);
        uint64_t t0;

        set_nonblock(fd, true);
        raw_add(fd, EVENTFD_MAX);
        set_nonblock(fd, nonblock);
        t0 = now_ns();
        assert_int_equal(peer_fd_signal(fd), -EAGAIN);
        assert_true(now_ns() - t0 < CALL_BOUND_NS);
        assert_true(raw_count(fd) == EVENTFD_MAX);
        close(fd);
    }
}

static void test_drain_empty_blocking(void **state)
{
    int fd = eventfd(0, EFD_CLOEXEC);
    uint64_t count = 7, t0 = now_ns();

    (void)state;
    set_nonblock(fd, false);
    assert_int_equal(peer_fd_drain(fd, &count), 0);
    assert_int_equal(count, 0);
    assert_true(now_ns() - t0 < CALL_BOUND_NS);
    close(fd);
}

/* ---- wrong kinds: refused, no I/O ----------------------------------------- */

static void test_wrong_kind_no_io(void **state)
{
    int pp[2], sv[2], mfd = memfd_create("peer_fd", MFD_CLOEXEC), avail = -1;
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC), closed;
    uint64_t count = 5;
    struct stat st;

    (void)state;
    assert_int_equal(pipe2(pp, O_CLOEXEC), 0); /* blocking: a read would hang */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    closed = eventfd(0, 0); /* the highest fd: nothing below reuses its number */
    close(closed);
    assert_int_equal(write(pp[1], "abc", PIPE_BYTES), PIPE_BYTES);
    const int wrong[] = { pp[0], pp[1], sv[0], mfd, tfd };
    for (size_t i = 0; i < ARRAY_SIZE(wrong); i++) {
        assert_int_equal(peer_fd_signal(wrong[i]), -EINVAL);
        assert_int_equal(peer_fd_drain(wrong[i], &count), -EINVAL);
        assert_int_equal(count, 0);
    }
    assert_int_equal(ioctl(pp[0], FIONREAD, &avail), 0);
    assert_int_equal(avail, PIPE_BYTES); /* neither read nor written */
    assert_int_equal(ioctl(sv[1], FIONREAD, &avail), 0);
    assert_int_equal(avail, 0);
    assert_int_equal(fstat(mfd, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(peer_fd_signal(closed), -EBADF);
    assert_int_equal(peer_fd_signal(-1), -EBADF);
    assert_int_equal(peer_fd_drain(closed, &count), -EBADF);
    close(pp[0]);
    close(pp[1]);
    close(sv[0]);
    close(sv[1]);
    close(mfd);
    close(tfd);
}

/* ---- a hostile peer at work on the shared description ---------------------- */

struct attack {
    int fd;
    atomic_bool stop;
};

/* Clears and sets O_NONBLOCK as fast as it can. */
static void *flipper(void *arg)
{
    struct attack *a = arg;
    int fl = fcntl(a->fd, F_GETFL);

    while (!atomic_load(&a->stop)) {
        fcntl(a->fd, F_SETFL, fl & ~O_NONBLOCK);
        fcntl(a->fd, F_SETFL, fl | O_NONBLOCK);
    }
    return NULL;
}

/* Fills the counter to saturation and empties it again with plain,
 * possibly blocking, reads and writes (the peer may block itself). */
static void *racer(void *arg)
{
    struct attack *a = arg;
    uint64_t v;

    while (!atomic_load(&a->stop)) {
        v = EVENTFD_MAX;
        if (write(a->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
            break;
        if (read(a->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
            break;
        v = 1;
        if (write(a->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
            break;
    }
    return NULL;
}

/* Ends the attack: the racer may sit in a blocking read or write, which a
 * write of 1 or a read releases. */
static void stop_attack(struct attack *a, pthread_t *threads, size_t n)
{
    uint64_t deadline = now_ns() + CALL_BOUND_NS * 50;

    atomic_store(&a->stop, true);
    for (size_t i = 0; i < n; i++) {
        struct timespec ts = { 0, 0 };
        int rc;
        do {
            uint64_t v = 1;
            set_nonblock(a->fd, true);
            if (read(a->fd, &v, sizeof(v)) < 0) {
                /* empty: a blocked read is released by the write below */
            }
            v = 1;
            if (write(a->fd, &v, sizeof(v)) < 0) {
                /* full: the read above released a blocked write */
            }
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            rc = pthread_timedjoin_np(threads[i], NULL, &ts);
        } while (rc == ETIMEDOUT && now_ns() < deadline);
        assert_int_equal(rc, 0);
    }
}

static void test_hostile_peer(void **state)
{
    struct attack a = { .fd = eventfd(0, EFD_CLOEXEC) };
    pthread_t threads[2];
    uint64_t worst = 0, start = now_ns(), count;
    unsigned refused = 0, delivered = 0;

    (void)state;
    assert_true(a.fd >= 0);
    atomic_init(&a.stop, false);
    assert_int_equal(pthread_create(&threads[0], NULL, flipper, &a), 0);
    assert_int_equal(pthread_create(&threads[1], NULL, racer, &a), 0);
    for (unsigned i = 0; i < RACE_CALLS; i++) {
        uint64_t t0 = now_ns(), dt;
        int rc = (i & 1) ? peer_fd_drain(a.fd, &count) : peer_fd_signal(a.fd);

        dt = now_ns() - t0;
        worst = dt > worst ? dt : worst;
        assert_true(rc == 0 || rc == -EAGAIN);
        if (rc == -EAGAIN)
            refused++;
        else if (!(i & 1))
            delivered++;
    }
    stop_attack(&a, threads, ARRAY_SIZE(threads));
    print_message("hostile peer: %u calls, worst %.3f ms, total %.1f ms, %u signals "
                  "delivered, %u refused\n",
                  RACE_CALLS, (double)worst / 1e6, (double)(now_ns() - start) / 1e6, delivered,
                  refused);
    assert_true(worst < CALL_BOUND_NS);
    assert_true(now_ns() - start < RACE_TOTAL_BOUND_NS);
    close(a.fd);
}

/* ---- threads, fork, a blocked guard signal ---------------------------------- */

static void *signal_saturated(void *arg)
{
    int fd = *(int *)arg;

    for (int i = 0; i < 3; i++)
        if (peer_fd_signal(fd) != -EAGAIN)
            return (void *)1;
    return NULL;
}

/* Each thread gets its own guard; threads come and go. */
static void test_threads(void **state)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    void *res;

    (void)state;
    raw_add(fd, EVENTFD_MAX);
    set_nonblock(fd, false);
    for (int i = 0; i < 8; i++) {
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, signal_saturated, &fd), 0);
        assert_int_equal(pthread_join(t, &res), 0);
        assert_null(res);
    }
    close(fd);
}

/* A child forked after the parent's guard exists makes its own. */
static void test_fork(void **state)
{
    int fd = eventfd(0, EFD_CLOEXEC), status = -1;
    uint64_t count;
    pid_t pid;

    (void)state;
    assert_int_equal(peer_fd_signal(fd), 0); /* the parent's guard exists */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(peer_fd_signal(fd) == 0 && peer_fd_signal(fd) == 0 ? 0 : 1);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(peer_fd_drain(fd, &count), 0);
    assert_int_equal(count, 3);
    close(fd);
}

/* A caller that blocks the guard signal still gets a bounded call, and its
 * mask back. */
static void test_guard_signal_blocked(void **state)
{
    struct attack a = { .fd = eventfd(0, EFD_CLOEXEC) };
    pthread_t threads[2];
    sigset_t set, now;
    uint64_t worst = 0;

    (void)state;
    atomic_init(&a.stop, false);
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + GUARD_SIGNAL_OFFSET);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
    assert_int_equal(pthread_create(&threads[0], NULL, flipper, &a), 0);
    assert_int_equal(pthread_create(&threads[1], NULL, racer, &a), 0);
    for (unsigned i = 0; i < RACE_CALLS / 4; i++) {
        uint64_t t0 = now_ns();
        int rc = peer_fd_signal(a.fd);
        assert_true(rc == 0 || rc == -EAGAIN);
        worst = now_ns() - t0 > worst ? now_ns() - t0 : worst;
    }
    stop_attack(&a, threads, ARRAY_SIZE(threads));
    assert_true(worst < CALL_BOUND_NS);
    assert_int_equal(pthread_sigmask(SIG_UNBLOCK, &set, &now), 0);
    assert_true(sigismember(&now, SIGRTMIN + GUARD_SIGNAL_OFFSET));
    close(a.fd);
}

/* ---- the guard itself: a read or write that does block is interrupted ------- */

/* poll() says there is room, the counter is saturated: the write blocks and
 * the guard interrupts it, with the guard signal blocked by the caller or not. */
static void test_guard_interrupts_write(void **state)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    sigset_t set;

    (void)state;
    raw_add(fd, EVENTFD_MAX);
    set_nonblock(fd, false);
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + GUARD_SIGNAL_OFFSET);
    atomic_store(&poll_lies, true);
    for (int blocked = 0; blocked <= 1; blocked++) {
        uint64_t t0 = now_ns();
        assert_int_equal(pthread_sigmask(blocked ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL), 0);
        assert_int_equal(peer_fd_signal(fd), -EAGAIN);
        assert_true(now_ns() - t0 < CALL_BOUND_NS);
    }
    atomic_store(&poll_lies, false);
    assert_int_equal(pthread_sigmask(SIG_UNBLOCK, &set, NULL), 0);
    assert_true(raw_count(fd) == EVENTFD_MAX);
    close(fd);
}

/* A kernel without RWF_NOWAIT for eventfd: the drain falls back to a guarded
 * read, which still returns at once on an empty, blocking eventfd even when
 * poll() claims it is readable. Last: the fallback is sticky. */
static void test_drain_fallback(void **state)
{
    int fd = eventfd(0, EFD_CLOEXEC);
    uint64_t count = 9, t0;

    (void)state;
    atomic_store(&nowait_refused, true);
    raw_add(fd, 3);
    assert_int_equal(peer_fd_drain(fd, &count), 0);
    assert_int_equal(count, 3);
    assert_int_equal(peer_fd_drain(fd, &count), 0);
    assert_int_equal(count, 0);
    atomic_store(&poll_lies, true);
    t0 = now_ns();
    assert_int_equal(peer_fd_drain(fd, &count), 0);
    assert_int_equal(count, 0);
    assert_true(now_ns() - t0 < CALL_BOUND_NS);
    atomic_store(&poll_lies, false);
    atomic_store(&nowait_refused, false);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_signal_and_drain),
        cmocka_unit_test(test_signal_saturated),
        cmocka_unit_test(test_drain_empty_blocking),
        cmocka_unit_test(test_wrong_kind_no_io),
        cmocka_unit_test(test_hostile_peer),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_fork),
        cmocka_unit_test(test_guard_signal_blocked),
        cmocka_unit_test(test_guard_interrupts_write),
        cmocka_unit_test(test_drain_fallback),
    };

    alarm(BINARY_DEADLINE_S);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
