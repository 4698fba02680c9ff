/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "own_sock.h"

/* The answer to one exact unix_diag request: a header, the message and a
 * few attributes (the peer attribute is a u32). */
#define VS_DIAG_BUF 1024
/* "any socket cookie" (inet_diag.h's INET_DIAG_NOCOOKIE) */
#define VS_DIAG_NOCOOKIE (~0U)

static struct vs_own_sock *own_head;
static unsigned own_count;

int vs_own_sock_add(struct vs_own_sock *e, int fd)
{
    struct stat st;

    if (e->linked)
        return 0;
    if (fstat(fd, &st) < 0)
        return -errno;
    e->ino = st.st_ino;
    e->prev = NULL;
    e->next = own_head;
    if (own_head)
        own_head->prev = e;
    own_head = e;
    e->linked = true;
    own_count++;
    return 0;
}

void vs_own_sock_remove(struct vs_own_sock *e)
{
    if (!e->linked)
        return;
    if (e->prev)
        e->prev->next = e->next;
    else
        own_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
    e->linked = false;
    own_count--;
}

unsigned vs_own_sock_count(void)
{
    return own_count;
}

static bool registered(ino_t ino)
{
    for (const struct vs_own_sock *e = own_head; e; e = e->next)
        if (e->ino == ino)
            return true;
    return false;
}

/* Reads the answer of an exact request; the kernel queues it before
 * send() returns, so nothing here waits. */
static int diag_answer(int nl, uint32_t *peer)
{
    union {
        struct nlmsghdr h;
        char bytes[VS_DIAG_BUF];
    } buf;
    ssize_t n = recv(nl, &buf, sizeof(buf), MSG_DONTWAIT);
    struct nlmsghdr *h = &buf.h;

    if (n < 0)
        return -errno;
    if (!NLMSG_OK(h, (size_t)n))
        return -EPROTO;
    if (h->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(h);
        return h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error ? e->error : -EPROTO;
    }
    if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
        h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
        return -EPROTO;
    *peer = 0; /* not connected: no peer attribute */
    int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(struct unix_diag_msg)));
    for (struct rtattr *a = (struct rtattr *)((char *)NLMSG_DATA(h) + sizeof(struct unix_diag_msg));
         RTA_OK(a, len); a = RTA_NEXT(a, len))
        if (a->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(a) >= sizeof(uint32_t))
            memcpy(peer, RTA_DATA(a), sizeof(*peer));
    return 0;
}

/* The inode of the socket at the other end of unix socket `ino`; 0 when
 * it has none. -errno when sock_diag cannot say. */
static int diag_peer(ino_t ino, uint32_t *peer)
{
    struct {
        struct nlmsghdr h;
        struct unix_diag_req r;
    } req = {
        .h = { .nlmsg_len = sizeof(req),
               .nlmsg_type = SOCK_DIAG_BY_FAMILY,
               .nlmsg_flags = NLM_F_REQUEST },
        .r = { .sdiag_family = AF_UNIX,
               .udiag_states = UINT32_MAX,
               .udiag_ino = (uint32_t)ino,
               .udiag_show = UDIAG_SHOW_PEER,
               .udiag_cookie = { VS_DIAG_NOCOOKIE, VS_DIAG_NOCOOKIE } },
    };
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG);
    int rc;

    if (nl < 0)
        return -errno;
    rc = sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0
             ? -errno
             : diag_answer(nl, peer);
    close(nl);
    return rc;
}

/* Without sock_diag: is the process at the other end this one? */
static int peercred_self(int fd)
{
    static bool told;
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (!told) {
        vs_warn("sock_diag (unix_diag) is not available: a socket a peer sends is refused when "
                "its other end is this process (SO_PEERCRED), a weaker check; load the "
                "unix_diag module for the exact one");
        told = true;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return errno == ENOTCONN ? 0 : -errno;
    return cred.pid == getpid();
}

int vs_own_sock_is_peer(int fd)
{
    struct stat st;
    uint32_t peer = 0;
    int domain = 0, rc;
    socklen_t len = sizeof(domain);

    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISSOCK(st.st_mode))
        return 0;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
        return -errno;
    if (domain != AF_UNIX)
        return 0; /* the shim's own connections are all unix sockets */
    rc = diag_peer(st.st_ino, &peer);
    if (rc < 0) /* ENOENT here: no unix_diag handler in the kernel */
        return peercred_self(fd);
    return peer && registered((ino_t)peer);
}
