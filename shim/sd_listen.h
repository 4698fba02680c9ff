/* SPDX-License-Identifier: MIT */
/*
 * systemd integration without libsystemd: socket activation (the
 * sd_listen_fds protocol: LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES, fds from 3)
 * and readiness notification (sd_notify: a datagram to $NOTIFY_SOCKET).
 *
 * Each inherited fd must be a listening AF_UNIX stream socket; the shim uses
 * it for the device whose socket path (getsockname) is the fd's path, or
 * whose id is the fd's name (FileDescriptorName=). The pool keeps the fds for
 * the whole run: a device that is restarted or added on reload gets the same
 * listening socket again, and the shim never unlinks a path it did not bind.
 */
#ifndef VDPA_SHIM_SD_LISTEN_H
#define VDPA_SHIM_SD_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define VS_LISTEN_FDS_START 3
#define VS_LISTEN_FDS_MAX   4096

struct vs_listen_fd {
    int fd;
    char name[256]; /* from LISTEN_FDNAMES, "" when none */
    char path[108]; /* the socket's path (getsockname), "" when not AF_UNIX */
    bool usable;    /* a listening AF_UNIX stream socket */
    unsigned users; /* devices using it now */
};

struct vs_listen_fds {
    struct vs_listen_fd *fds;
    size_t n;
};

/* The protocol, from explicit values (tests): pid, fds and names are the
 * environment's strings (NULL when unset), self the process id, first the
 * first fd. Fills out (empty when the variables are not for this process).
 * 0, or -EINVAL with the reason in err (bad values). */
int vs_listen_fds_parse(const char *pid, const char *fds, const char *names, pid_t self, int first,
                        struct vs_listen_fds *out, char *err, size_t errlen);
/* From the environment; unsets the three variables (children must not see
 * them) and marks the fds close-on-exec and non-blocking. */
int vs_listen_fds_from_env(struct vs_listen_fds *out, char *err, size_t errlen);
/* The inherited socket for a device: its path is `path`, or its name is `id`
 * (NULL: any name). Returns the pool's entry or NULL. */
struct vs_listen_fd *vs_listen_fds_find(struct vs_listen_fds *l, const char *path, const char *id);
/* Closes every fd and frees the pool. */
void vs_listen_fds_free(struct vs_listen_fds *l);

/* sd_notify: sends state ("READY=1", "RELOADING=1", "STOPPING=1", ...) to
 * $NOTIFY_SOCKET when set. 1 sent, 0 not under systemd, -errno. */
int vs_sd_notify(const char *state);

#endif
