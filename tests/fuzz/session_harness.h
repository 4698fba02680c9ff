/* SPDX-License-Identifier: MIT */
/*
 * A whole session of the shim, driven by bytes: the relay (shim/relay.c) on
 * its own libuv loop in this process, a front-end and a back-end played by
 * the harness over real sockets, with real fds of every kind (a guest-memory
 * memfd the input fills, eventfds for kicks and calls, socketpairs for the
 * back-end channel, and whatever else the input puts in an fd slot). Whatever
 * the input, the session goes through the same code as in the shim:
 * validation, pass-through, up-conversion (a legacy front-end and a vdpa-user
 * back-end), down-conversion (a vdpa-user front-end and a legacy back-end,
 * with the virtio-net control queue served from the guest memory the input
 * writes).
 *
 * Used by tests/fuzz/fuzz_session.c (libFuzzer) and by the regression tests
 * (tests/unit/test_regressions.c) that replay what it found, in the normal
 * build. Header-only, static functions, so each binary stays one file; the
 * one exception is clock_gettime (below), so include this header in one
 * file of a program only.
 *
 * Time: the process's monotonic clock is the harness's. clock_gettime is
 * defined here for the monotonic clocks (libuv's loop time comes from it);
 * it stands still unless op 14 moves it. So the relay's timers (reply-timeout=,
 * set to FZ_REPLY_TIMEOUT, and the back-off of its reconnections) fire when
 * the input says and at no other time: an input does the same on every run
 * however slow the machine, and nothing sleeps.
 *
 * Input:
 *   byte 0      device: bits 0-1 type (net, blk, fs, net), bit 2 mac= and
 *               mtu=, bit 3 queue-pairs=2 / num-queues=2, bit 4 blk
 *               capacity= / fs tag=, bits 5-6 guest memory 16 KiB << n
 *   bytes 1-20  the back-end's persona, for op 5: features (le64),
 *               protocol features (le64), GET_QUEUE_NUM, VDPA_GET_DEVICE_ID,
 *               VDPA_GET_VQS_COUNT, VDPA_GET_CONFIG_SIZE (a byte each)
 *   then ops, at most FZ_MAX_OPS, each an op byte (taken modulo 16):
 *     0-3  a message from the front-end (main socket), the back-end (main),
 *          the front-end's end of the back-end channel, the back-end's end:
 *          the fd byte, the 12-byte header, the payload (header.size bytes,
 *          or what is left of the input). The fd byte: bits 0-3 the fd count
 *          (modulo 11), bits 4-7 their kind (enum fz_kind: 0 the right kind;
 *          15: a byte per fd follows the fd byte, that fd's kind modulo 15).
 *          The right kind is the guest memfd for memory requests, a
 *          socketpair end for SET_BACKEND_REQ_FD (the harness keeps the
 *          other as the channel) and for other socket slots, an eventfd
 *          otherwise. The first fd of a front-end's SET_VRING_KICK and
 *          SET_VRING_CALL is kept (ops 8 and 13), and that of any message
 *          (op 13).
 *     4    the back-end answers the oldest request it owes an answer with a
 *          value (le64), in the shape the table gives the reply; a reply
 *          that carries an fd takes its kind from bits 56-59 of the value
 *     5    the back-end answers everything it owes, as its persona would,
 *          until the shim asks nothing more
 *     6    the front-end answers the oldest back-end-channel request it owes
 *          an answer (a byte: the ack value)
 *     7    writes guest memory: offset (le16, modulo the size), length (a
 *          byte), the bytes
 *     8    kicks the ring (a byte) through the kick fd the front-end gave
 *     9    the back-end signals the config-call eventfd the shim gave it
 *    10    closes a peer's socket (a byte, modulo 4: as ops 0-3); a peer's
 *          main socket closes with the copies of it the peer holds, as when
 *          it exits
 *    11    a front-end connects again (after the session ended)
 *    12    the front-end resizes its guest memory file (a byte: the new size
 *          in 4 KiB pages, modulo the pages it had plus one), as a hostile
 *          front-end may after the shim mapped it
 *    13    a peer plays with an fd it shares with the shim (the same open
 *          file description): a byte, bits 0-1 what (enum fz_flip: clears
 *          O_NONBLOCK, sets it, saturates it: an eventfd's counter to
 *          2^64-2, a pipe or socket filled; drains it), bits 2-4 which fd
 *          (enum fz_target), then a byte: the ring, for kick and call fds
 *    14    time passes (a byte, modulo 8: FZ_STEP_MS), then the loop runs
 *          with UV_RUN_NOWAIT, so the timers due fire: a silent peer meets
 *          reply-timeout=
 *    15    raw bytes on a peer's socket, no fds: a byte (the side, modulo 4
 *          as ops 0-3), a count (modulo 64), the bytes; e.g. half a header,
 *          then silence
 *   Between ops the loop runs until neither the shim nor the harness has
 *   anything to do, and whatever the shim sent to either peer is read (a
 *   request owing an answer is noted); after an op the loop cannot see
 *   (fz_op_inert) it had nothing to do before and still has not.
 *
 * At the end every socket and every fd the harness made is closed, the relay
 * destroyed and the loop (one for every input, as in the shim) run until it
 * has no handle left; then the process must hold exactly the fds it held
 * before the input. fz_session_run returns
 * 0, or -1 after printing what was left behind (the fuzzer aborts on it, a
 * regression test fails).
 */
#ifndef VDPA_SHIM_FUZZ_SESSION_HARNESS_H
#define VDPA_SHIM_FUZZ_SESSION_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "../unit/fdcount.h"
#include "cli.h"
#include "fd_util.h"
#include "log.h"
#include "msg_table.h"
#include "relay.h"
#include "transport.h"
#include "peer_fd.h"

#define FZ_HEADER        21
#define FZ_MAX_OPS       256
#define FZ_MAX_OWED      128
#define FZ_SEND_FDS      10
#define FZ_OPS           16
#define FZ_MAX_EXTRA     64                    /* other ends of pipes and socketpairs kept */
#define FZ_REPLY_TIMEOUT "5ms"                 /* reply-timeout= of every device */
#define FZ_SMALL_FILE    4096                  /* size of the memfds and files the input sends */
#define FZ_PIPE_SIZE     4096                  /* capacity of its pipes (the least Linux gives) */
#define FZ_EVENTFD_FULL  0xfffffffffffffffeull /* an eventfd counter that takes nothing more */
#define FZ_FILL_MAX      256                   /* writes (or reads) that fill (or drain) an fd */
#define FZ_PUMP_ROUNDS   64
#define FZ_RAW_MAX       64
#define FZ_NS_PER_MS     1000000ull
#define FZ_DIRENT_BUF    4096

/* The clock of the harness, in nanoseconds: the real monotonic clock when
 * first read, then moved by op 14 only. */
static uint64_t fz_clock_ns;

int clock_gettime(clockid_t id, struct timespec *ts)
{
    if (id == CLOCK_MONOTONIC || id == CLOCK_MONOTONIC_COARSE || id == CLOCK_MONOTONIC_RAW ||
        id == CLOCK_BOOTTIME) {
        if (fz_clock_ns == 0) {
            struct timespec now;
            if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &now) < 0)
                return -1;
            fz_clock_ns = (uint64_t)now.tv_sec * 1000 * FZ_NS_PER_MS + (uint64_t)now.tv_nsec;
        }
        ts->tv_sec = (time_t)(fz_clock_ns / (1000 * FZ_NS_PER_MS));
        ts->tv_nsec = (long)(fz_clock_ns % (1000 * FZ_NS_PER_MS));
        return 0;
    }
    return (int)syscall(SYS_clock_gettime, id, ts);
}

/* Op 14: how far time moves (ms). The fourth step passes FZ_REPLY_TIMEOUT
 * (the first, a quarter of it, the warning); the last ones the relay's
 * reconnection back-off (100 ms doubling to 2 s). */
static const unsigned FZ_STEP_MS[] = { 1, 2, 4, 6, 8, 100, 1000, 3000 };

enum {
    FZ_FE,
    FZ_BE,
    FZ_FE_CHAN,
    FZ_BE_CHAN,
    FZ_SIDES
};

/* What the input puts in an fd slot (the fd byte's bits 4-7). */
enum fz_kind {
    FZ_K_RIGHT,        /* what the slot wants (the guest memory, a channel, an eventfd) */
    FZ_K_EVENTFD,      /* an eventfd at 0, blocking */
    FZ_K_EVENTFD_FULL, /* an eventfd at FZ_EVENTFD_FULL, blocking */
    FZ_K_MEMFD,        /* a new memfd of FZ_SMALL_FILE bytes */
    FZ_K_FILE,         /* a regular file (unlinked) of FZ_SMALL_FILE bytes */
    FZ_K_PIPE_R,       /* the read end of an empty pipe */
    FZ_K_PIPE_W,       /* the write end of an empty pipe */
    FZ_K_PIPE_W_FULL,  /* the write end of a full pipe, blocking */
    FZ_K_PIPE_R_FULL,  /* the read end of a full pipe */
    FZ_K_SOCKETPAIR,   /* one end of a socketpair (the harness keeps the other) */
    FZ_K_OWN_SOCKET,   /* a dup of the sending peer's own main socket */
    FZ_K_DIRECTORY,
    FZ_K_OPATH, /* a directory opened with O_PATH */
    FZ_K_DEVNULL,
    FZ_K_SHIM_CONN, /* a new connection to the shim's front-end socket */
    FZ_K_MIXED,     /* (fd byte only) a kind byte per fd follows */
};
#define FZ_KINDS FZ_K_MIXED

/* Op 13: what a peer does to an fd it shares with the shim. */
enum fz_flip {
    FZ_BLOCKING,
    FZ_NONBLOCKING,
    FZ_SATURATE,
    FZ_DRAIN
};
/* Op 13: which fd. */
enum fz_target {
    FZ_T_KICK,        /* the kick fd the front-end gave for the ring */
    FZ_T_CALL,        /* its call fd for the ring */
    FZ_T_CONFIG_CALL, /* the config-call eventfd the shim gave the back-end */
    FZ_T_LAST_SENT,   /* the first fd of the last message of the input that had one */
    FZ_T_CHANNEL,     /* the shim's end of the front-end's back-end channel */
    FZ_T_BE_GOT,      /* the first fd of the last message the shim sent the back-end */
    FZ_T_BE_CHANNEL,  /* the back-end's end of its channel */
    FZ_T_ALL,
};

struct fz_owed {
    uint32_t request, index, cfg_offset, cfg_size;
};

struct fz_persona {
    uint64_t features, protocol_features;
    uint8_t queues, device_id, vqs, config_size;
};

struct fz_session {
    uv_loop_t *loop; /* fz_loop, once the relay may be on it */
    struct vs_relay *relay;
    struct vs_device_config cfg;
    int sock[FZ_SIDES]; /* the harness's ends, -1 when closed */
    struct vu_rx rx[FZ_SIDES];
    int guest; /* guest memory (memfd) */
    size_t guest_size;
    int kick[VU_MAX_QUEUES]; /* the front-end's kick fds (dups) */
    int call[VU_MAX_QUEUES]; /* and call fds; -1 between inputs */
    unsigned rings;          /* kick[] and call[] beyond this are -1 */
    int config_call;         /* the eventfd the shim gave the back-end */
    int last_sent;           /* FZ_T_LAST_SENT (a dup) */
    int chan_shim_end;       /* FZ_T_CHANNEL (a dup) */
    int be_got;              /* FZ_T_BE_GOT (a dup) */
    int extra[FZ_MAX_EXTRA]; /* other ends of what the input sent */
    unsigned nextra;
    struct fz_owed be_owed[FZ_MAX_OWED]; /* requests the back-end must answer */
    unsigned be_head, be_count;
    uint32_t chan_owed[FZ_MAX_OWED]; /* back-end-channel requests the front-end must answer */
    unsigned chan_head, chan_count;
    uint8_t be_status;   /* what the shim last wrote to SET_STATUS */
    uint64_t fe_status;  /* the last GET_STATUS answer the front-end got */
    unsigned fe_hangups; /* times the shim closed the front-end's socket */
    bool settled;        /* the last fz_pump ended with nothing left to do */
    struct fz_persona persona;
};

/* Per process: a directory for the sockets, the front-end's listening
 * socket (the relay gets a dup of it, as by socket activation: nothing is
 * bound per input), the back-end's (the relay connects to it), and fds the
 * input's fd kinds are dups of. */
static char fz_dir[64];
static int fz_be_listen = -1, fz_fe_listen = -1;
static int fz_dir_fd = -1, fz_opath_fd = -1, fz_null_fd = -1;
/* /proc/self/fd, open for good: fz_fdcount lists it again from the start
 * instead of opening it per count. */
static int fz_proc_fd = -1;
/* One libuv loop for every input, as the shim has one loop for every
 * session: each input's relay is created on it and destroyed, and the loop
 * must be left without a handle (fz_teardown), so nothing of one input
 * reaches the next. */
static uv_loop_t fz_loop;
static bool fz_loop_open;

static void fz_cleanup_dir(void)
{
    char path[128];

    fd_close(&fz_be_listen);
    fd_close(&fz_fe_listen);
    fd_close(&fz_dir_fd);
    fd_close(&fz_opath_fd);
    fd_close(&fz_null_fd);
    fd_close(&fz_proc_fd);
    if (fz_loop_open && uv_loop_close(&fz_loop) == 0)
        fz_loop_open = false;
    snprintf(path, sizeof(path), "%s/be.sock", fz_dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/fe.sock", fz_dir);
    unlink(path);
    rmdir(fz_dir);
}

/* A directory on tmpfs when there is one (O_TMPFILE files are cheap there). */
static int fz_make_dir(void)
{
    snprintf(fz_dir, sizeof(fz_dir), "/dev/shm/vdpa-shim-fuzz.XXXXXX");
    if (mkdtemp(fz_dir))
        return 0;
    snprintf(fz_dir, sizeof(fz_dir), "/tmp/vdpa-shim-fuzz.XXXXXX");
    return mkdtemp(fz_dir) ? 0 : -errno;
}

static int fz_listen(const char *name, int *fd)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/%s", fz_dir, name);
    *fd = vu_listen_unix(path, 0600);
    return *fd < 0 ? *fd : 0;
}

/* 0 once the per-process state is there; -errno when it cannot be. */
static int fz_init_once(void)
{
    static int state = 1; /* 1: not tried yet */
    const char *level = getenv("FZ_SESSION_LOG");
    enum vs_log_level lv = VS_LOG_ERROR;
    int rc;

    if (state <= 0)
        return state;
    state = -EIO;
    signal(SIGPIPE, SIG_IGN);
    /* the loop's fds (epoll, and libuv's signal pipes, process-wide and
     * per loop) are there before every input: not the shim's */
    rc = uv_loop_init(&fz_loop);
    if (rc)
        return state = rc;
    fz_loop_open = true;
    if (level && vs_log_level_parse(level, &lv) == 0)
        vs_log_set_level(lv);
    else
        vs_log_set_level(VS_LOG_ERROR);
    rc = fz_make_dir();
    if (rc)
        return state = rc;
    atexit(fz_cleanup_dir);
    if ((rc = fz_listen("be.sock", &fz_be_listen)) || (rc = fz_listen("fe.sock", &fz_fe_listen)))
        return state = rc;
    fz_dir_fd = open(fz_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    fz_opath_fd = open(fz_dir, O_PATH | O_CLOEXEC);
    fz_null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    fz_proc_fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fz_dir_fd < 0 || fz_opath_fd < 0 || fz_null_fd < 0 || fz_proc_fd < 0)
        return state = -errno;
    return state = 0;
}

/* The reference config space the persona answers GET_CONFIG from: a net
 * layout (mac, status, pairs, mtu 1500) that reads as a large blk capacity. */
static uint8_t fz_config_byte(uint32_t i)
{
    static const uint8_t net[] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
                                   0x01, 0x00, 0x01, 0x00, 0xdc, 0x05 };

    return i < sizeof(net) ? net[i] : (uint8_t)(i * 7);
}

static uint64_t fz_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* A copy for an fd slot: -1 (not -errno) when it cannot be made. */
static int fz_dup(int fd)
{
    int copy = fd_dup_cloexec(fd);

    return copy < 0 ? -1 : copy;
}

/* Keeps the other end of what the input sent until the session ends (so a
 * pipe or socketpair end the shim holds is not hung up); closes it when
 * there is no room left. */
static void fz_keep(struct fz_session *s, int fd)
{
    if (fd < 0)
        return;
    if (s->nextra < FZ_MAX_EXTRA)
        s->extra[s->nextra++] = fd;
    else
        close(fd);
}

static int fz_set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0)
        return -errno;
    fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
    return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

/* One read or write on an fd of any kind that never blocks the harness:
 * O_NONBLOCK is set for the call and put back (the shim does not run
 * meanwhile, so it cannot tell). */
static ssize_t fz_io(int fd, void *buf, size_t len, bool write_it)
{
    int fl = fcntl(fd, F_GETFL), err;
    ssize_t n;

    if (fl < 0)
        return -1;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    n = write_it ? write(fd, buf, len) : read(fd, buf, len);
    err = errno;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl) < 0) {
        /* O_PATH and the like: nothing was changed either */
    }
    errno = err;
    return n;
}

static void fz_signal(int fd)
{
    uint64_t one = 1;

    if (fd >= 0 && fz_io(fd, &one, sizeof(one), true) < 0) {
        /* a full counter, or not an eventfd: the shim copes */
    }
}

/* Op 13's saturate: an eventfd to FZ_EVENTFD_FULL, a pipe or socket filled. */
static void fz_saturate(int fd)
{
    static uint8_t junk[FZ_PIPE_SIZE];
    enum peer_fd_kind k = peer_fd_kind(fd);
    uint64_t v;

    if (k == PEER_FD_EVENTFD) {
        if (fz_io(fd, &v, sizeof(v), false) < 0) {
            /* it was 0 */
        }
        v = FZ_EVENTFD_FULL;
        if (fz_io(fd, &v, sizeof(v), true) < 0) {
            /* cannot happen on a counter just read to 0 */
        }
    } else if (k == PEER_FD_PIPE || k == PEER_FD_SOCKET) {
        memset(junk, 0xff, sizeof(junk));
        for (int i = 0; i < FZ_FILL_MAX && fz_io(fd, junk, sizeof(junk), true) > 0; i++) {
        }
    }
}

/* Op 13's drain: reads what an eventfd, pipe or socket holds. */
static void fz_drain_fd(int fd)
{
    static uint8_t sink[FZ_PIPE_SIZE];
    enum peer_fd_kind k = peer_fd_kind(fd);

    if (k != PEER_FD_EVENTFD && k != PEER_FD_PIPE && k != PEER_FD_SOCKET)
        return;
    for (int i = 0; i < FZ_FILL_MAX && fz_io(fd, sink, sizeof(sink), false) > 0; i++) {
    }
}

static void fz_flip(int fd, enum fz_flip what)
{
    if (fd < 0)
        return;
    switch (what) {
    case FZ_BLOCKING:
    case FZ_NONBLOCKING:
        if (fz_set_nonblock(fd, what == FZ_NONBLOCKING)) {
            /* an O_PATH fd has no flags to change */
        }
        break;
    case FZ_SATURATE:
        fz_saturate(fd);
        break;
    case FZ_DRAIN:
        fz_drain_fd(fd);
        break;
    }
}

/* Op 13. */
static void fz_op_flip(struct fz_session *s, uint8_t what, uint8_t ring)
{
    int *fds[] = { &s->kick[ring],    &s->call[ring], &s->config_call,     &s->last_sent,
                   &s->chan_shim_end, &s->be_got,     &s->sock[FZ_BE_CHAN] };
    unsigned target = (what >> 2) & 7;

    for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (target == FZ_T_ALL || target == i)
            fz_flip(*fds[i], (enum fz_flip)(what & 3));
}

static void fz_close_side(struct fz_session *s, int side)
{
    fd_close(&s->sock[side]);
    vu_rx_clear(&s->rx[side]);
    vu_rx_init(&s->rx[side]);
    if (side == FZ_BE)
        s->be_head = s->be_count = 0;
    if (side == FZ_FE_CHAN)
        s->chan_head = s->chan_count = 0;
}

/* Closes *slot when it is the same socket as st (a dup the input made of a
 * peer's own socket). */
static void fz_close_if_same(int *slot, const struct stat *st)
{
    struct stat o;

    if (*slot >= 0 && fstat(*slot, &o) == 0 && o.st_dev == st->st_dev && o.st_ino == st->st_ino)
        fd_close(slot);
}

/* Op 10: a peer exits. Its main socket closes, and with it every copy of
 * that socket the peer itself holds (an input may have made some: fd kind
 * FZ_K_OWN_SOCKET), as when the process dies; copies the other peer got
 * through the shim stay. */
static void fz_peer_exits(struct fz_session *s, int side)
{
    struct stat st;

    if ((side == FZ_FE || side == FZ_BE) && s->sock[side] >= 0 && fstat(s->sock[side], &st) == 0) {
        fz_close_if_same(&s->last_sent, &st);
        if (side == FZ_FE) {
            for (unsigned i = 0; i < s->rings; i++) {
                fz_close_if_same(&s->kick[i], &st);
                fz_close_if_same(&s->call[i], &st);
            }
            fz_close_if_same(&s->chan_shim_end, &st);
        } else {
            fz_close_if_same(&s->be_got, &st);
            fz_close_if_same(&s->config_call, &st);
        }
    }
    fz_close_side(s, side);
}

/* ---- the fds an input sends -------------------------------------------------- */

/* A pipe end; the harness keeps the other. full: filled to FZ_PIPE_SIZE.
 * The end given is blocking. */
static int fz_pipe_end(struct fz_session *s, bool write_end, bool full)
{
    static const uint8_t zeros[FZ_PIPE_SIZE];
    int p[2];

    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    if (full) {
        if (fcntl(p[1], F_SETPIPE_SZ, FZ_PIPE_SIZE) < 0) {
            /* a larger pipe takes longer to fill; no matter */
        }
        for (int i = 0; i < FZ_FILL_MAX && write(p[1], zeros, sizeof(zeros)) > 0; i++) {
        }
    }
    fz_keep(s, p[write_end ? 0 : 1]);
    if (fz_set_nonblock(p[write_end ? 1 : 0], false)) {
        /* stays non-blocking */
    }
    return p[write_end ? 1 : 0];
}

/* One end of a new socketpair. As the front-end's SET_BACKEND_REQ_FD
 * (channel true) the other end becomes its back-end channel; otherwise the
 * harness keeps it. */
static int fz_socketpair(struct fz_session *s, bool channel)
{
    int pair[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        return -1;
    if (channel) {
        fz_close_side(s, FZ_FE_CHAN);
        s->sock[FZ_FE_CHAN] = pair[0];
        vu_set_nonblocking(pair[0], true);
        fd_replace(&s->chan_shim_end, fz_dup(pair[1]));
    } else {
        fz_keep(s, pair[0]);
    }
    return pair[1];
}

/* The kind of fd a message wants, as the harness serves it: memory, a
 * socket, or an eventfd (for every other slot). */
static enum vu_fd_kind fz_wanted(int side, uint32_t req)
{
    const struct vu_msg_desc *d;
    enum vu_fd_kind k;

    if (side == FZ_FE &&
        (req == VU_REQ_SET_MEM_TABLE || req == VU_REQ_ADD_MEM_REG || req == VU_REQ_REM_MEM_REG ||
         req == VU_REQ_SET_LOG_BASE || req == VU_REQ_SET_INFLIGHT_FD))
        return VU_FDK_MEMORY;
    d = vu_msg_desc_lookup(side == FZ_FE || side == FZ_BE ? VU_CHAN_FRONTEND : VU_CHAN_BACKEND,
                           req);
    if (!d)
        return VU_FDK_EVENTFD;
    /* the back-end on its main socket and the front-end on the channel answer */
    k = side == FZ_BE || side == FZ_FE_CHAN ? d->reply_fd_kind : d->fd_kind;
    return k == VU_FDK_MEMORY || k == VU_FDK_SOCKET ? k : VU_FDK_EVENTFD;
}

static int fz_right_fd(struct fz_session *s, int side, uint32_t req)
{
    switch (fz_wanted(side, req)) {
    case VU_FDK_MEMORY:
        return fz_dup(s->guest);
    case VU_FDK_SOCKET:
        return fz_socketpair(s, side == FZ_FE && req == VU_REQ_SET_BACKEND_REQ_FD);
    default:
        return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    }
}

static int fz_small_file(bool memfd)
{
    int fd = memfd ? memfd_create("fuzz", MFD_CLOEXEC)
                   : open(fz_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd >= 0 && ftruncate(fd, FZ_SMALL_FILE) < 0)
        fd_close(&fd);
    return fd;
}

static int fz_eventfd(bool full)
{
    uint64_t v = FZ_EVENTFD_FULL;
    int fd = eventfd(0, EFD_CLOEXEC);

    if (fd >= 0 && full && fz_io(fd, &v, sizeof(v), true) < 0)
        fd_close(&fd);
    return fd;
}

/* A new fd of the kind the input chose for a slot of message req from side;
 * -1 when it cannot be made. */
static int fz_make_fd(struct fz_session *s, int side, uint32_t req, enum fz_kind kind)
{
    switch (kind) {
    case FZ_K_EVENTFD:
        return fz_eventfd(false);
    case FZ_K_EVENTFD_FULL:
        return fz_eventfd(true);
    case FZ_K_MEMFD:
        return fz_small_file(true);
    case FZ_K_FILE:
        return fz_small_file(false);
    case FZ_K_PIPE_R:
        return fz_pipe_end(s, false, false);
    case FZ_K_PIPE_W:
        return fz_pipe_end(s, true, false);
    case FZ_K_PIPE_W_FULL:
        return fz_pipe_end(s, true, true);
    case FZ_K_PIPE_R_FULL:
        return fz_pipe_end(s, false, true);
    case FZ_K_SOCKETPAIR:
        return fz_socketpair(s, false);
    case FZ_K_OWN_SOCKET:
        return fz_dup(s->sock[side == FZ_FE || side == FZ_FE_CHAN ? FZ_FE : FZ_BE]);
    case FZ_K_DIRECTORY:
        return fz_dup(fz_dir_fd);
    case FZ_K_OPATH:
        return fz_dup(fz_opath_fd);
    case FZ_K_DEVNULL:
        return fz_dup(fz_null_fd);
    case FZ_K_SHIM_CONN:
        return vu_connect_unix_nonblock(s->cfg.frontend);
    default:
        return fz_right_fd(s, side, req);
    }
}

/* The fds of a message (op 0-3): nfds slots of one kind, or (kind
 * FZ_K_MIXED) each of the kind its byte in sel gives. Returns how many
 * distinct fds were made: fds[0..made) are the harness's to close (one kind:
 * the same fd fills every slot). 0 when none could be made. */
static unsigned fz_make_fds(struct fz_session *s, int side, uint32_t req, unsigned kind,
                            const uint8_t *sel, unsigned nfds, int *fds)
{
    unsigned made = kind == FZ_K_MIXED ? nfds : (nfds ? 1 : 0);

    for (unsigned i = 0; i < made; i++) {
        fds[i] = fz_make_fd(s, side, req,
                            (enum fz_kind)(kind == FZ_K_MIXED ? sel[i] % FZ_KINDS : kind));
        if (fds[i] < 0)
            fds[i] = fz_dup(fz_null_fd);
        if (fds[i] < 0) {
            while (i > 0)
                close(fds[--i]);
            return 0;
        }
    }
    for (unsigned i = made; i < nfds; i++)
        fds[i] = fds[0];
    return made;
}

/* ---- what the shim sends ------------------------------------------------------ */

/* A message the shim sent to the back-end: note what it must answer and
 * keep the fds the back-end uses later. */
static void fz_backend_got(struct fz_session *s, struct vu_msg *m)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, m->hdr.request);

    if (m->nfds)
        fd_replace(&s->be_got, fz_dup(m->fds[0]));
    switch (m->hdr.request) {
    case VU_REQ_SET_BACKEND_REQ_FD:
        if (m->nfds) {
            fz_close_side(s, FZ_BE_CHAN);
            s->sock[FZ_BE_CHAN] = m->fds[0];
            vu_set_nonblocking(m->fds[0], true);
            m->fds[0] = -1;
        }
        break;
    case VU_REQ_VDPA_SET_CONFIG_CALL:
        if (m->nfds) {
            fd_replace(&s->config_call, m->fds[0]);
            m->fds[0] = -1;
        }
        break;
    case VU_REQ_SET_STATUS:
        s->be_status = (uint8_t)m->payload.u64;
        break;
    default:
        break;
    }
    if (d && (d->reply == VU_REPLY_ALWAYS || (m->hdr.flags & VU_FLAG_NEED_REPLY)) &&
        s->be_count < FZ_MAX_OWED) {
        struct fz_owed *o = &s->be_owed[(s->be_head + s->be_count++) % FZ_MAX_OWED];
        o->request = m->hdr.request;
        o->index = m->payload.state.index;
        o->cfg_offset = m->payload.config.offset;
        o->cfg_size = m->payload.config.size;
    }
}

/* Reads what the shim sent on one side; true when anything came. */
static bool fz_read_side(struct fz_session *s, int side)
{
    bool any = false;

    for (int n = 0; s->sock[side] >= 0 && n < 256; n++) {
        struct vu_msg m;
        int rc = vu_recv(s->sock[side], &s->rx[side], &m);

        if (rc == 0)
            break;
        any = true;
        if (rc < 0) {
            s->fe_hangups += side == FZ_FE && rc == -ECONNRESET;
            fz_close_side(s, side);
            break;
        }
        if (side == FZ_BE)
            fz_backend_got(s, &m);
        else if (side == FZ_FE && m.hdr.request == VU_REQ_GET_STATUS && m.hdr.size == 8)
            s->fe_status = m.payload.u64;
        else if (side == FZ_FE_CHAN && (m.hdr.flags & VU_FLAG_NEED_REPLY) &&
                 s->chan_count < FZ_MAX_OWED)
            s->chan_owed[(s->chan_head + s->chan_count++) % FZ_MAX_OWED] = m.hdr.request;
        vu_msg_close_fds(&m);
    }
    return any;
}

/* Nothing for the loop to do now: no due timer, no pending callback, and
 * (backend_ready: what a poll of its epoll fd said) no event waiting. */
static bool fz_loop_quiet(struct fz_session *s, bool backend_ready)
{
    if (!uv_loop_alive(s->loop))
        return true;
    return !backend_ready && uv_backend_timeout(s->loop) != 0;
}

static bool fz_backend_ready(struct fz_session *s)
{
    struct pollfd p = { .fd = uv_backend_fd(s->loop), .events = POLLIN };

    return poll(&p, 1, 0) > 0;
}

/* Reads what the shim sent to every peer: one poll tells which sockets have
 * something (and whether the loop has events waiting). True when all is
 * settled: nothing left to read and the loop quiet (fz_loop_quiet). */
static bool fz_settled(struct fz_session *s)
{
    struct pollfd pf[FZ_SIDES + 2];
    int side_of[FZ_SIDES + 2], n = 0;
    bool any = false, accepted = false;

    for (int side = 0; side < FZ_SIDES; side++) {
        if (s->sock[side] >= 0) {
            pf[n] = (struct pollfd){ .fd = s->sock[side], .events = POLLIN };
            side_of[n++] = side;
        }
    }
    if (s->sock[FZ_BE] < 0) {
        pf[n] = (struct pollfd){ .fd = fz_be_listen, .events = POLLIN };
        side_of[n++] = FZ_SIDES;
    }
    pf[n] = (struct pollfd){ .fd = uv_backend_fd(s->loop), .events = POLLIN };
    side_of[n++] = -1;
    if (poll(pf, (nfds_t)n, 0) <= 0)
        return fz_loop_quiet(s, false);
    for (int i = 0; i < n; i++) {
        if (side_of[i] == FZ_SIDES && pf[i].revents) {
            int fd = accept4(fz_be_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0) {
                fz_close_side(s, FZ_BE);
                s->sock[FZ_BE] = fd;
                any = accepted = true;
            }
        }
    }
    for (int i = 0; i < n; i++)
        if (side_of[i] >= 0 && side_of[i] < FZ_SIDES && pf[i].revents)
            any |= fz_read_side(s, side_of[i]);
    /* a back-end just accepted may have been sent something already */
    if (accepted)
        any |= fz_read_side(s, FZ_BE);
    /* what the harness read may have woken the loop (a socket the shim
     * waits to write on): look again */
    return fz_loop_quiet(s, any ? fz_backend_ready(s) : pf[n - 1].revents != 0);
}

/* Runs the loop until neither the shim nor the harness has anything to do. */
static void fz_pump(struct fz_session *s)
{
    s->settled = false;
    for (int i = 0; i < FZ_PUMP_ROUNDS && !s->settled; i++) {
        uv_run(s->loop, UV_RUN_NOWAIT);
        s->settled = fz_settled(s);
    }
}

/* Writes buf on a peer's socket with fds on its first byte; waits for the
 * shim (running the loop) while the socket is full, then gives up. */
static void fz_send(struct fz_session *s, int side, const uint8_t *buf, size_t len, const int *fds,
                    unsigned nfds)
{
    size_t off = 0;
    int tries = 0;

    while (off < len && s->sock[side] >= 0) {
        struct iovec iov = { .iov_base = (void *)(buf + off), .iov_len = len - off };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        union {
            char buf[CMSG_SPACE(sizeof(int) * FZ_SEND_FDS)];
            struct cmsghdr align;
        } u;
        ssize_t n;

        if (off == 0 && nfds) {
            struct cmsghdr *c;
            memset(&u, 0, sizeof(u));
            mh.msg_control = u.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
        }
        n = sendmsg(s->sock[side], &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && tries++ < 4) {
            fz_pump(s);
        } else {
            return;
        }
    }
}

/* Ops 0-3: one message as the input spells it, with real fds. */
static size_t fz_op_message(struct fz_session *s, int side, const uint8_t *p, size_t left)
{
    struct vu_hdr hdr;
    unsigned nfds, kind, made;
    size_t len, sel, room;
    int fds[FZ_SEND_FDS];

    if (left < 1)
        return left;
    nfds = (p[0] & 15) % (FZ_SEND_FDS + 1);
    kind = p[0] >> 4;
    sel = kind == FZ_K_MIXED ? nfds : 0;
    if (left < 1 + sel + VU_HDR_SIZE)
        return left;
    vu_hdr_decode(p + 1 + sel, &hdr);
    room = left - 1 - sel - VU_HDR_SIZE;
    len = VU_HDR_SIZE + (hdr.size < room ? hdr.size : room);
    made = fz_make_fds(s, side, hdr.request, kind, p + 1, nfds, fds);
    if (!made)
        nfds = 0;
    if (nfds) {
        fd_replace(&s->last_sent, fz_dup(fds[0]));
        if (side == FZ_FE && len >= VU_HDR_SIZE + 8 &&
            (hdr.request == VU_REQ_SET_VRING_KICK || hdr.request == VU_REQ_SET_VRING_CALL)) {
            unsigned ring = p[1 + sel + VU_HDR_SIZE];
            if (ring >= s->rings)
                s->rings = ring + 1;
            fd_replace(hdr.request == VU_REQ_SET_VRING_KICK ? &s->kick[ring] : &s->call[ring],
                       fz_dup(fds[0]));
        }
    }
    fz_send(s, side, p + 1 + sel, len, fds, nfds);
    for (unsigned i = 0; i < made; i++)
        close(fds[i]);
    return 1 + sel + len;
}

/* The value of a reply the persona gives. */
static uint64_t fz_persona_value(const struct fz_session *s, uint32_t request)
{
    switch (request) {
    case VU_REQ_GET_FEATURES:
        return s->persona.features;
    case VU_REQ_GET_PROTOCOL_FEATURES:
        return s->persona.protocol_features;
    case VU_REQ_GET_QUEUE_NUM:
        return s->persona.queues;
    case VU_REQ_VDPA_GET_DEVICE_ID:
        return s->persona.device_id;
    case VU_REQ_VDPA_GET_VQS_COUNT:
        return s->persona.vqs;
    case VU_REQ_VDPA_GET_CONFIG_SIZE:
        return s->persona.config_size;
    case VU_REQ_VDPA_GET_VRING_NUM:
        return 256;
    case VU_REQ_GET_MAX_MEM_SLOTS:
        return VU_MAX_MEM_REGIONS;
    case VU_REQ_GET_STATUS:
        return s->be_status;
    default:
        return 0;
    }
}

/* GET_CONFIG's answer: the reference config space, or with the value given
 * (op 4) its bytes xor-ed, and with bit 63 another size (bits 0-8). */
static void fz_config_reply(struct vu_msg *m, const struct fz_owed *o, uint64_t v, bool persona)
{
    uint32_t size = !persona && (v >> 63) ? (uint32_t)(v & 0x1ff) : o->cfg_size;
    struct vu_config *c = &m->payload.config;

    if (size > VU_MAX_CONFIG_SIZE)
        size = VU_MAX_CONFIG_SIZE;
    c->offset = o->cfg_offset;
    c->size = size;
    c->flags = 0;
    for (uint32_t i = 0; i < size; i++)
        c->data[i] = fz_config_byte(o->cfg_offset + i) ^ (persona ? 0 : (uint8_t)v);
    m->hdr.size = VU_CONFIG_HDR_SIZE + size;
}

/* Op 4 (persona false: the value as given) and op 5: the back-end answers
 * its oldest owed request in the shape the table gives the reply. */
static void fz_backend_answer(struct fz_session *s, uint64_t v, bool persona)
{
    struct fz_owed o = s->be_owed[s->be_head];
    const struct vu_msg_desc *d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, o.request);
    struct vu_msg m;
    uint8_t wire[VU_HDR_SIZE + VU_MAX_PAYLOAD];

    s->be_head = (s->be_head + 1) % FZ_MAX_OWED;
    s->be_count--;
    if (persona)
        v = fz_persona_value(s, o.request);
    vu_msg_init(&m, o.request, VU_FLAG_REPLY);
    if (d && d->reply == VU_REPLY_ALWAYS && o.request == VU_REQ_GET_VRING_BASE) {
        vu_msg_set_state(&m, o.index, (uint32_t)v);
    } else if (d && d->reply == VU_REPLY_ALWAYS && o.request == VU_REQ_GET_CONFIG) {
        fz_config_reply(&m, &o, v, persona);
    } else if (d && d->reply == VU_REPLY_ALWAYS) {
        m.hdr.size = d->reply_size.min;
        memset(m.payload.bytes, 0, m.hdr.size);
        memcpy(m.payload.bytes, &v, m.hdr.size < 8 ? m.hdr.size : 8);
        if (d->reply_fds == VU_FDS_ONE) {
            unsigned kind = persona ? FZ_K_RIGHT : (unsigned)(v >> 56) & 15;
            int fd = fz_make_fd(s, FZ_BE, o.request,
                                kind == FZ_K_MIXED ? FZ_K_RIGHT : (enum fz_kind)kind);
            if (fd >= 0 && vu_msg_add_fd(&m, fd) < 0)
                close(fd);
        }
    } else {
        vu_msg_set_u64(&m, v);
    }
    vu_hdr_encode(&m.hdr, wire);
    memcpy(wire + VU_HDR_SIZE, m.payload.bytes, m.hdr.size);
    fz_send(s, FZ_BE, wire, VU_HDR_SIZE + m.hdr.size, m.fds, m.nfds);
    vu_msg_close_fds(&m);
}

/* Op 6: the front-end acks the oldest back-end-channel request. */
static void fz_channel_answer(struct fz_session *s, uint8_t v)
{
    struct vu_msg m;
    uint8_t wire[VU_HDR_SIZE + 8];

    vu_msg_init(&m, s->chan_owed[s->chan_head], VU_FLAG_REPLY);
    vu_msg_set_u64(&m, v);
    s->chan_head = (s->chan_head + 1) % FZ_MAX_OWED;
    s->chan_count--;
    vu_hdr_encode(&m.hdr, wire);
    memcpy(wire + VU_HDR_SIZE, m.payload.bytes, 8);
    fz_send(s, FZ_FE_CHAN, wire, sizeof(wire), NULL, 0);
}

static int fz_connect_frontend(struct fz_session *s)
{
    if (s->sock[FZ_FE] >= 0)
        return 0;
    /* non-blocking from the start (one system call, not three) */
    s->sock[FZ_FE] = vu_connect_unix_nonblock(s->cfg.frontend);
    if (s->sock[FZ_FE] < 0)
        return s->sock[FZ_FE];
    fz_pump(s);
    return 0;
}

static void fz_init_state(struct fz_session *s, const uint8_t *h)
{
    memset(s, 0, offsetof(struct fz_session, rx));
    for (int i = 0; i < FZ_SIDES; i++) {
        s->sock[i] = -1;
        vu_rx_init(&s->rx[i]);
    }
    s->config_call = s->last_sent = s->chan_shim_end = s->be_got = s->guest = -1;
    s->nextra = 0;
    s->be_head = s->be_count = s->chan_head = s->chan_count = 0;
    s->be_status = 0;
    s->fe_status = 0;
    s->fe_hangups = 0;
    s->settled = false;
    s->persona.features = fz_le64(h + 1);
    s->persona.protocol_features = fz_le64(h + 9);
    s->persona.queues = h[17];
    s->persona.device_id = h[18];
    s->persona.vqs = h[19];
    s->persona.config_size = h[20];
}

/* The state kept from one input to the next (the receive buffers are
 * large): its kick and call slots are -1 until an input fills them, and
 * again after fz_close_all. NULL when out of memory. */
static struct fz_session *fz_session_new(void)
{
    struct fz_session *s = malloc(sizeof(*s));

    if (!s)
        return NULL;
    for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
        s->kick[i] = s->call[i] = -1;
    s->rings = 0;
    return s;
}

#define FZ_DEVICE_BITS 0x1f /* the bits of byte 0 that make the device= spec */

/* The device= the input's byte 0 asks for, parsed once per spec: a copy of
 * the parse of the first input with those bits. */
static int fz_device(uint8_t h0, struct vs_device_config *cfg)
{
    static struct vs_device_config parsed[FZ_DEVICE_BITS + 1];
    static bool done[FZ_DEVICE_BITS + 1];
    static const char *const types[] = { "net", "blk", "fs", "net" };
    const char *type = types[h0 & 3];
    char spec[512], err[256], keys[128] = "";
    unsigned k = h0 & FZ_DEVICE_BITS;
    int rc;

    if (done[k]) {
        *cfg = parsed[k];
        return 0;
    }
    if (h0 & 4 && strcmp(type, "net") == 0)
        strcat(keys, ",mac=02:00:00:aa:bb:cc,mtu=1400");
    if (h0 & 8)
        strcat(keys, strcmp(type, "net") == 0 ? ",queue-pairs=2" : ",num-queues=2");
    if (h0 & 16 && strcmp(type, "blk") == 0)
        strcat(keys, ",capacity=1G");
    if (h0 & 16 && strcmp(type, "fs") == 0)
        strcat(keys, ",tag=fuzz");
    snprintf(spec, sizeof(spec),
             "type=%s,frontend=%s/fe.sock,backend=%s/be.sock,reply-timeout=%s%s", type, fz_dir,
             fz_dir, FZ_REPLY_TIMEOUT, keys);
    rc = vs_device_parse(spec, 0, &parsed[k], err, sizeof(err));
    if (rc) {
        fprintf(stderr, "fuzz_session: %s: %s\n", spec, err);
        return rc;
    }
    done[k] = true;
    *cfg = parsed[k];
    return 0;
}

static int fz_setup(struct fz_session *s, const uint8_t *h)
{
    int rc;

    fz_init_state(s, h);
    rc = fz_device(h[0], &s->cfg);
    if (rc)
        return rc;
    /* the front-end's listening socket, passed in (socket activation) */
    s->cfg.frontend_fd = fz_dup(fz_fe_listen);
    s->cfg.frontend_fd_given = s->cfg.frontend_fd >= 0;

    s->guest_size = (size_t)16384 << ((h[0] >> 5) & 3);
    s->guest = memfd_create("guest", MFD_CLOEXEC);
    if (s->guest < 0 || ftruncate(s->guest, (off_t)s->guest_size) < 0)
        return -errno;
    s->loop = &fz_loop;
    s->relay = vs_relay_new(s->loop, &s->cfg, NULL);
    if (!s->relay) {
        fd_close(&s->cfg.frontend_fd);
        s->cfg.frontend_fd_given = false;
        return -ENOMEM;
    }
    rc = vs_relay_start(s->relay);
    if (rc)
        return rc;
    return fz_connect_frontend(s);
}

static void fz_count_handle(uv_handle_t *h, void *arg)
{
    (void)h;
    ++*(int *)arg;
}

/* What a regression test looks at after a session. */
struct fz_outcome {
    struct vs_relay_stats stats; /* sessions served, messages forwarded and refused */
    uint64_t fe_status;          /* the last GET_STATUS answer the front-end got */
    unsigned fe_hangups;         /* times the shim closed the front-end's socket */
};

/* Connections made to a listening socket that nobody took. */
static void fz_refuse_pending(int listen_fd)
{
    for (int fd; (fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0;)
        close(fd);
}

static void fz_close_all(struct fz_session *s)
{
    for (int i = 0; i < FZ_SIDES; i++)
        fz_close_side(s, i);
    for (unsigned i = 0; i < s->rings; i++) {
        fd_close(&s->kick[i]);
        fd_close(&s->call[i]);
    }
    s->rings = 0;
    fd_close(&s->config_call);
    fd_close(&s->last_sent);
    fd_close(&s->chan_shim_end);
    fd_close(&s->be_got);
    while (s->nextra)
        close(s->extra[--s->nextra]);
    fd_close(&s->guest);
}

/* Closes every peer, destroys the relay, runs the loop until it is empty.
 * -1 when a libuv handle outlives the relay. */
static int fz_teardown(struct fz_session *s, struct fz_outcome *out)
{
    int rc = 0;

    if (s->relay)
        vs_relay_get_stats(s->relay, &out->stats);
    out->fe_status = s->fe_status;
    out->fe_hangups = s->fe_hangups;
    fz_close_all(s);
    if (s->loop) {
        int n = 0;

        uv_run(s->loop, UV_RUN_NOWAIT);
        vs_relay_destroy(s->relay);
        s->relay = NULL;
        for (int i = 0; i < 100 && uv_loop_alive(s->loop); i++)
            uv_run(s->loop, UV_RUN_NOWAIT);
        /* what uv_loop_close would refuse to close: a handle (uv_walk
         * shows those of the loop's users, not libuv's own) or a request */
        uv_walk(s->loop, fz_count_handle, &n);
        if (n || uv_loop_alive(s->loop)) {
            fprintf(stderr,
                    "fuzz_session: %d libuv handle(s) left after the relay was "
                    "destroyed%s\n",
                    n, uv_loop_alive(s->loop) ? ", the loop still alive" : "");
            rc = -1;
        }
    } else if (s->cfg.frontend_fd_given) {
        fd_close(&s->cfg.frontend_fd);
    }
    fz_refuse_pending(fz_be_listen);
    fz_refuse_pending(fz_fe_listen);
    return rc;
}

/* Op 7: the front-end writes its guest memory. */
static size_t fz_op_guest_write(struct fz_session *s, const uint8_t *p, size_t left)
{
    size_t off, len;

    if (left < 3)
        return left;
    off = (size_t)(p[0] | p[1] << 8) % s->guest_size;
    len = p[2] < left - 3 ? p[2] : left - 3;
    if (len > s->guest_size - off)
        len = s->guest_size - off;
    if (pwrite(s->guest, p + 3, len, (off_t)off) < 0) {
        /* nothing to do: the memory stays as it was */
    }
    return 3 + (size_t)p[2] < left ? 3 + (size_t)p[2] : left;
}

/* Op 15: raw bytes on a peer's socket. */
static size_t fz_op_raw(struct fz_session *s, const uint8_t *p, size_t left)
{
    size_t n;

    if (left < 2)
        return left;
    n = p[1] % FZ_RAW_MAX;
    if (n > left - 2)
        n = left - 2;
    fz_send(s, p[0] % FZ_SIDES, p + 2, n, NULL, 0);
    return 2 + n;
}

/* Op 4. */
static size_t fz_op_answer(struct fz_session *s, const uint8_t *p, size_t left)
{
    if (left < 8)
        return left;
    if (s->be_count)
        fz_backend_answer(s, fz_le64(p), false);
    return 8;
}

/* Op 5. */
static void fz_op_answer_all(struct fz_session *s)
{
    for (int i = 0; i < 64 && s->be_count; i++) {
        while (s->be_count)
            fz_backend_answer(s, 0, true);
        fz_pump(s);
    }
}

/* Whether op (about to run on p, left bytes) changes nothing the shim's
 * loop can see: no fd of the shim's becomes ready, no timer becomes due
 * (the clock stands still), no connection comes. After a pump that settled,
 * a pump after such an op would run the loop once and find it settled
 * again, so fz_session_run skips it. Any op not listed here is pumped. */
static bool fz_op_inert(const struct fz_session *s, unsigned op, const uint8_t *p, size_t left)
{
    switch (op) {
    case 4:
        return left < 8 || !s->be_count;
    case 5:
        return !s->be_count;
    case 6:
        return !left || !s->chan_count;
    case 7:
        return true; /* guest memory: the shim reads it on a kick */
    case 8:
        return !left || s->kick[p[0]] < 0;
    case 9:
        return s->config_call < 0;
    case 11:
        return s->sock[FZ_FE] >= 0;
    case 12:
        return true; /* the memfd's size: no event either */
    default:
        return false;
    }
}

/* Runs one op; returns the input bytes it took after the op byte. */
static size_t fz_op(struct fz_session *s, unsigned op, const uint8_t *p, size_t left)
{
    switch (op) {
    case 0:
    case 1:
    case 2:
    case 3:
        return fz_op_message(s, (int)op, p, left);
    case 4:
        return fz_op_answer(s, p, left);
    case 5:
        fz_op_answer_all(s);
        return 0;
    case 6:
        if (left && s->chan_count)
            fz_channel_answer(s, p[0]);
        return left ? 1 : 0;
    case 7:
        return fz_op_guest_write(s, p, left);
    case 8:
        if (left)
            fz_signal(s->kick[p[0]]);
        return left ? 1 : 0;
    case 9:
        fz_signal(s->config_call);
        return 0;
    case 10:
        if (left)
            fz_peer_exits(s, p[0] % FZ_SIDES);
        return left ? 1 : 0;
    case 11:
        fz_connect_frontend(s);
        return 0;
    case 12:
        if (left && ftruncate(s->guest, (off_t)(p[0] % (s->guest_size / 4096 + 1)) * 4096)) {
            /* the size stays */
        }
        return left ? 1 : 0;
    case 13:
        if (left >= 2)
            fz_op_flip(s, p[0], p[1]);
        return left >= 2 ? 2 : left;
    case 14:
        if (left)
            fz_clock_ns += FZ_STEP_MS[p[0] % (sizeof(FZ_STEP_MS) / sizeof(FZ_STEP_MS[0]))] *
                           FZ_NS_PER_MS;
        return left ? 1 : 0;
    default:
        return fz_op_raw(s, p, left);
    }
}

/* The number of fds this process has open, as fdcount() (../unit/fdcount.h)
 * counts them (not the one listing them), without opendir: its buffer,
 * malloc-ed per call, cost each input fresh pages under ASan's quarantine.
 * /proc/self/fd is opened once (fz_proc_fd) and listed again from its
 * start: the kernel lists the fd table as it is at each getdents64. -1
 * when it cannot be read. */
static int fz_fdcount(void)
{
    union {
        char bytes[FZ_DIRENT_BUF];
        struct dirent64 align;
    } buf;
    int n = 0;
    long got;

    if (fz_proc_fd < 0 || lseek(fz_proc_fd, 0, SEEK_SET) != 0)
        return -1;
    while ((got = syscall(SYS_getdents64, fz_proc_fd, buf.bytes, sizeof(buf.bytes))) > 0) {
        for (long off = 0; off < got;) {
            const struct dirent64 *e = (const struct dirent64 *)(buf.bytes + off);
            if (e->d_name[0] != '.' && atoi(e->d_name) != fz_proc_fd)
                n++;
            off += e->d_reclen;
        }
    }
    return got < 0 ? -1 : n;
}

/* Runs one input. 0, or -1 when the shim left an fd or a handle behind (or
 * the harness cannot start). out (may be NULL): what the session came to. */
static int fz_session_run(const uint8_t *data, size_t size, struct fz_outcome *out)
{
    static struct fz_session *s;
    struct fz_outcome ignored;
    const uint8_t *p = data + FZ_HEADER;
    size_t left;
    int fds_before, fds_after, rc;

    if (!out)
        out = &ignored;
    memset(out, 0, sizeof(*out));
    rc = fz_init_once();
    if (rc < 0) {
        fprintf(stderr, "fuzz_session: cannot set up the harness: %s\n", strerror(-rc));
        return -1;
    }
    if (size < FZ_HEADER)
        return 0;
    /* the session state is large (receive buffers): not on the stack, and
     * kept for the next input */
    if (!s && !(s = fz_session_new()))
        return 0;
    fds_before = fz_fdcount();
    if (fz_setup(s, data) == 0) {
        left = size - FZ_HEADER;
        for (int ops = 0; left > 0 && ops < FZ_MAX_OPS; ops++) {
            unsigned op = p[0] % FZ_OPS;
            bool inert = s->settled && fz_op_inert(s, op, p + 1, left - 1);
            size_t used = fz_op(s, op, p + 1, left - 1);

            p += 1 + used;
            left -= 1 + used;
            if (!inert)
                fz_pump(s);
        }
    }
    rc = fz_teardown(s, out);
    fds_after = fz_fdcount();
    if (fds_after != fds_before) {
        fprintf(stderr, "fuzz_session: %d fds open after the input, %d before\n", fds_after,
                fds_before);
        fdcount_dump("after the input");
        rc = -1;
    }
    return rc;
}

#endif
