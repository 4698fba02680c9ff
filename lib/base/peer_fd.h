/* SPDX-License-Identifier: MIT */
/*
 * I/O on file descriptions a peer shares with us: the one place where the
 * shim (and the reference peers) read or write an fd another process also
 * holds (kick/call/err/config-call eventfds).
 *
 * Never trust such an fd: it may be of another kind than the protocol says,
 * shared with the peer, and the peer can clear O_NONBLOCK on the shared
 * file description at any moment, so setting O_NONBLOCK ourselves proves
 * nothing. These helpers never block, whatever the peer does:
 *  - reads use preadv2(RWF_NOWAIT), which the kernel honours per call for
 *    eventfd whatever the file's flags;
 *  - writes (the kernel has no per-call non-blocking write for eventfd) are
 *    made under an interval timer of the calling thread whose signal
 *    interrupts a write that blocks (no SA_RESTART), after a poll that says
 *    the counter has room; a write that would block is the peer's fault.
 *    The guard timer is one per thread (created on first use, deleted when
 *    the thread exits) and its signal, SIGRTMIN + 4, is reserved: its
 *    handler is installed once, without SA_RESTART, and must not be replaced.
 *
 * A full or saturated fd means the peer is misbehaving: callers log it once
 * and end that session; they never wait.
 *
 * Fd ownership: none of these functions takes or closes fd.
 */
#ifndef VDPA_PEER_FD_H
#define VDPA_PEER_FD_H

#include <stdbool.h>
#include <stdint.h>

enum peer_fd_kind {
    PEER_FD_BAD = 0, /* not an open fd */
    PEER_FD_EVENTFD, /* anon_inode:[eventfd] */
    PEER_FD_MEMORY,  /* a regular file: memfd, hugetlbfs or tmpfs file, a disk file */
    PEER_FD_SOCKET,
    PEER_FD_PIPE,    /* a FIFO or pipe */
    PEER_FD_CHARDEV, /* a character device (e.g. a VFIO device) */
    PEER_FD_DIRECTORY,
    PEER_FD_OPATH, /* opened with O_PATH: no I/O, no mmap */
    PEER_FD_OTHER, /* another anon inode (timerfd, signalfd, dma-buf, ...) or a block device */
};

/* What fd is, probed without any I/O on it (fcntl(F_GETFL), fstat and, for
 * anon inodes, the name /proc/self/fd gives). PEER_FD_BAD when it is not open.
 * Without /proc an anon inode is PEER_FD_OTHER (so never an eventfd). */
enum peer_fd_kind peer_fd_kind(int fd);
/* The kind with its article, for messages: "an eventfd", "a socket", ... */
const char *peer_fd_kind_name(enum peer_fd_kind kind);

/* Adds 1 to an eventfd's counter. 0; -EAGAIN when the counter is saturated
 * (the peer filled it: misbehaving); -EINVAL when fd is not an eventfd;
 * -EBADF for fd < 0 or closed. Never blocks. */
int peer_fd_signal(int fd);

/* Reads and clears an eventfd's counter into *count (0 when it was 0).
 * 0 or -errno (-EINVAL when fd is not an eventfd). Never blocks. */
int peer_fd_drain(int fd, uint64_t *count);

/* The same for an fd the caller already knows is an eventfd (its kind was
 * checked where it was received: the validator's fd-kind column): no kind
 * probe per call, for a data path that signals per buffer. Never block. */
int peer_fd_signal_eventfd(int fd);
int peer_fd_drain_eventfd(int fd, uint64_t *count);

#endif
