/* SPDX-License-Identifier: MIT */
/*
 * I/O on fds a peer shares with us (peer_fd.h): the probe of an fd's kind,
 * and eventfd signal/drain that never block whatever the peer does to the
 * shared file description's flags.
 *
 * The guard: a POSIX timer per thread (CLOCK_MONOTONIC, SIGEV_THREAD_ID to
 * that thread) whose real-time signal has an empty handler installed without
 * SA_RESTART. It is armed around the one read or write that could block,
 * with a first expiry and a repeating interval of PEER_FD_GUARD_NS, so that
 * an expiry that comes before the system call starts is followed by another
 * that interrupts it (EINTR). It is disarmed right after; a signal generated
 * before the disarm is delivered when that system call returns, so none is
 * left pending to interrupt anything else.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "peer_fd.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid /* glibc < 2.38 does not name it */
#endif

/* The guard signal: a real-time signal above the ones glibc reserves
 * (SIGRTMIN already skips those). Nothing else in the project uses it. */
#define PEER_FD_SIGNAL_OFFSET 4
/* First expiry and interval of the guard timer. An eventfd read or write
 * that does not block takes well under a microsecond; one that blocks is
 * interrupted within two intervals. */
#define PEER_FD_GUARD_NS 1000000L
/* Room for "/proc/self/fd/<int>" and for an anon inode's name. */
#define PEER_FD_PATH_MAX 64

static const char anon_prefix[] = "anon_inode:";
static const char eventfd_name[] = "anon_inode:[eventfd]";

/* ---- Kind ---------------------------------------------------------------- */

/* What an fd whose inode has no file type (an anon inode), or a regular file
 * whose name may still say it is one, is. /proc/self/fd/N names anon inodes
 * "anon_inode:[<class>]"; a file reachable by a path reads as an absolute path
 * (memfd: "/memfd:NAME (deleted)"), never with that prefix. */
static enum peer_fd_kind anon_kind(int fd, bool regular)
{
    char path[PEER_FD_PATH_MAX], name[PEER_FD_PATH_MAX];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, name, sizeof(name) - 1);
    if (n < 0) /* no /proc: an anon inode of unknown class */
        return regular ? PEER_FD_MEMORY : PEER_FD_OTHER;
    name[n] = '\0';
    if (strcmp(name, eventfd_name) == 0)
        return PEER_FD_EVENTFD;
    if (strncmp(name, anon_prefix, sizeof(anon_prefix) - 1) == 0 || !regular)
        return PEER_FD_OTHER;
    return PEER_FD_MEMORY;
}

enum peer_fd_kind peer_fd_kind(int fd)
{
    struct stat st;
    int flags;

    if (fd < 0)
        return PEER_FD_BAD;
    flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return PEER_FD_BAD;
    if (flags & O_PATH)
        return PEER_FD_OPATH;
    if (fstat(fd, &st) < 0)
        return PEER_FD_BAD;
    switch (st.st_mode & S_IFMT) {
    case 0:
        return anon_kind(fd, false);
    case S_IFREG:
        return anon_kind(fd, true);
    case S_IFSOCK:
        return PEER_FD_SOCKET;
    case S_IFIFO:
        return PEER_FD_PIPE;
    case S_IFCHR:
        return PEER_FD_CHARDEV;
    case S_IFDIR:
        return PEER_FD_DIRECTORY;
    default:
        return PEER_FD_OTHER;
    }
}

const char *peer_fd_kind_name(enum peer_fd_kind kind)
{
    switch (kind) {
    case PEER_FD_BAD:
        return "not an open fd";
    case PEER_FD_EVENTFD:
        return "an eventfd";
    case PEER_FD_MEMORY:
        return "a regular file or memfd";
    case PEER_FD_SOCKET:
        return "a socket";
    case PEER_FD_PIPE:
        return "a pipe or FIFO";
    case PEER_FD_CHARDEV:
        return "a character device";
    case PEER_FD_DIRECTORY:
        return "a directory";
    case PEER_FD_OPATH:
        return "an O_PATH fd";
    case PEER_FD_OTHER:
        break;
    }
    return "another kind of fd (anon inode or block device)";
}

/* ---- The guard timer ----------------------------------------------------- */

struct guard {
    timer_t id;
};

static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static int guard_init_rc;
static pthread_key_t guard_key; /* a thread's struct guard, deleted at thread exit */
static _Thread_local struct guard *guard_mine;

static int guard_signal(void)
{
    return SIGRTMIN + PEER_FD_SIGNAL_OFFSET;
}

static void on_guard_signal(int sig)
{
    (void)sig; /* only there to interrupt a system call */
}

static void guard_free(void *p)
{
    struct guard *g = p;

    timer_delete(g->id);
    free(g);
}

/* A forked child has no timers: its (only) thread makes a new one. */
static void guard_after_fork(void)
{
    free(guard_mine);
    guard_mine = NULL;
    pthread_setspecific(guard_key, NULL);
}

static void guard_init(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_guard_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the interrupted call must fail */
    if (sigaction(guard_signal(), &sa, NULL) < 0) {
        guard_init_rc = -errno;
        return;
    }
    guard_init_rc = -pthread_key_create(&guard_key, guard_free);
    if (!guard_init_rc)
        guard_init_rc = -pthread_atfork(NULL, NULL, guard_after_fork);
}

/* The calling thread's timer, created on first use. 0 or -errno. */
static int guard_get(timer_t *id)
{
    struct sigevent sev;
    struct guard *g;

    pthread_once(&guard_once, guard_init);
    if (guard_init_rc)
        return guard_init_rc;
    if (guard_mine) {
        *id = guard_mine->id;
        return 0;
    }
    g = calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = guard_signal();
    sev.sigev_notify_thread_id = gettid();
    if (timer_create(CLOCK_MONOTONIC, &sev, &g->id) < 0) {
        int e = -errno;
        free(g);
        return e;
    }
    if (pthread_setspecific(guard_key, g) != 0) {
        guard_free(g);
        return -ENOMEM;
    }
    guard_mine = g;
    *id = g->id;
    return 0;
}

/* One 8-byte read or write of fd that returns within about two guard
 * intervals whatever the file's flags: 0, -EAGAIN (it would block or was
 * interrupted), or another -errno. The guard signal is unblocked for the
 * call if the thread had it blocked. */
static int guarded_rw(int fd, uint64_t *value, bool write_it)
{
    const struct itimerspec on = { { 0, PEER_FD_GUARD_NS }, { 0, PEER_FD_GUARD_NS } };
    const struct itimerspec off = { { 0, 0 }, { 0, 0 } };
    sigset_t sig, before;
    timer_t id = (timer_t)0;
    ssize_t n;
    int rc = guard_get(&id), e;

    if (rc)
        return rc;
    sigemptyset(&sig);
    sigaddset(&sig, guard_signal());
    rc = -pthread_sigmask(SIG_UNBLOCK, &sig, &before);
    if (rc)
        return rc;
    if (timer_settime(id, 0, &on, NULL) < 0) {
        rc = -errno;
    } else {
        n = write_it ? write(fd, value, sizeof(*value)) : read(fd, value, sizeof(*value));
        e = errno;
        timer_settime(id, 0, &off, NULL); /* cannot fail: id is this thread's live timer */
        if (n == (ssize_t)sizeof(*value))
            rc = 0;
        else if (n >= 0)
            rc = -EIO; /* an eventfd moves exactly 8 bytes */
        else
            rc = e == EINTR || e == EWOULDBLOCK ? -EAGAIN : -e;
    }
    if (sigismember(&before, guard_signal()))
        pthread_sigmask(SIG_BLOCK, &sig, NULL);
    return rc;
}

/* ---- Signal and drain ---------------------------------------------------- */

static int check_eventfd(int fd)
{
    enum peer_fd_kind kind = peer_fd_kind(fd);

    if (kind == PEER_FD_BAD)
        return -EBADF;
    return kind == PEER_FD_EVENTFD ? 0 : -EINVAL;
}

/* Whether fd is ready for `events` right now (never waits). */
static int ready_now(int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    int n = poll(&p, 1, 0);

    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    return n > 0 && (p.revents & events);
}

int peer_fd_signal(int fd)
{
    int rc = check_eventfd(fd);

    return rc ? rc : peer_fd_signal_eventfd(fd);
}

int peer_fd_signal_eventfd(int fd)
{
    uint64_t one = 1;
    int rc;

    if (fd < 0)
        return -EBADF;
    /* A saturated counter is refused without a write; the guard covers the
     * peer filling it between the poll and the write. */
    rc = ready_now(fd, POLLOUT);
    if (rc <= 0)
        return rc < 0 ? rc : -EAGAIN;
    return guarded_rw(fd, &one, true);
}

/* Set once the kernel refused RWF_NOWAIT on an eventfd (kernels before 5.x
 * where eventfd had no read_iter); from then on reads use the guard. */
static int nowait_unsupported;

static int drain_guarded(int fd, uint64_t *count)
{
    int rc = ready_now(fd, POLLIN);

    if (rc <= 0)
        return rc;
    rc = guarded_rw(fd, count, false);
    if (rc == -EAGAIN) {
        *count = 0; /* the peer consumed it first */
        return 0;
    }
    return rc;
}

int peer_fd_drain(int fd, uint64_t *count)
{
    int rc = check_eventfd(fd);

    *count = 0;
    return rc ? rc : peer_fd_drain_eventfd(fd, count);
}

int peer_fd_drain_eventfd(int fd, uint64_t *count)
{
    uint64_t v = 0;
    struct iovec iov = { .iov_base = &v, .iov_len = sizeof(v) };
    ssize_t n;

    *count = 0;
    if (fd < 0)
        return -EBADF;
    if (__atomic_load_n(&nowait_unsupported, __ATOMIC_RELAXED))
        return drain_guarded(fd, count);
    n = preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
    if (n == (ssize_t)sizeof(v)) {
        *count = v;
        return 0;
    }
    if (n >= 0)
        return -EIO;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    if (errno == EOPNOTSUPP) {
        __atomic_store_n(&nowait_unsupported, 1, __ATOMIC_RELAXED);
        return drain_guarded(fd, count);
    }
    return -errno;
}
