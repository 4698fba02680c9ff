/* SPDX-License-Identifier: MIT */
/*
 * The shim's own connected sockets, and whether a socket a peer sends is
 * connected to one of them.
 *
 * A peer that sends the shim a duplicate of its own connection to the shim
 * (say, its main socket as SET_BACKEND_REQ_FD) and exits would leave that
 * connection open for as long as the shim holds the copy: the shim would
 * never see the hang-up and the session would never end. Every connection
 * whose other end a peer holds is registered here; a received socket whose
 * peer is one of them is refused.
 *
 * The check asks the kernel for the received socket's peer (sock_diag,
 * NETLINK_SOCK_DIAG with UDIAG_SHOW_PEER). Where sock_diag is unavailable
 * (no unix_diag module) it falls back to SO_PEERCRED: a socket whose peer is
 * this process is refused (weaker: it cannot tell which of its sockets).
 */
#ifndef VDPA_SHIM_OWN_SOCK_H
#define VDPA_SHIM_OWN_SOCK_H

#include <stdbool.h>
#include <sys/types.h>

/* Embedded in what owns the socket (struct vs_conn). */
struct vs_own_sock {
    ino_t ino;
    bool linked;
    struct vs_own_sock *prev, *next;
};

/* Registers the socket fd (its inode); 0 or -errno (fstat failed). */
int vs_own_sock_add(struct vs_own_sock *e, int fd);
/* Forgets it (idempotent; a never-added entry is fine when zeroed). */
void vs_own_sock_remove(struct vs_own_sock *e);
/* 1 when fd is a unix socket connected to a registered socket (or, without
 * sock_diag, to this process), 0 when not (or not a socket), -errno when
 * it cannot be told. */
int vs_own_sock_is_peer(int fd);
/* Number registered (tests, the log). */
unsigned vs_own_sock_count(void);

#endif
