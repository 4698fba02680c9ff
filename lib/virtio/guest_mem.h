/* SPDX-License-Identifier: MIT */
/*
 * Guest memory as a back-end sees it: the regions of a vhost-user memory
 * table, each mmap()ed from the fd that came with it, and bounds-checked
 * translation of front-end addresses to local pointers.
 *
 * Two address spaces reach a back-end:
 *  - ring addresses in SET_VRING_ADDR are front-end *user* addresses (the
 *    VMM's virtual addresses, `userspace_addr` in the table);
 *  - buffer addresses in descriptors are *guest-physical* addresses
 *    (`guest_phys_addr`), since the guest driver wrote them.
 * Every translation checks that [addr, addr + len) lies inside mapped memory:
 * all of these numbers come from an untrusted front-end or guest.
 */
#ifndef PEERS_GUEST_MEM_H
#define PEERS_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vhost_user.h"

struct guest_mem_region {
    uint64_t gpa; /* guest-physical start */
    uint64_t uva; /* front-end user address of the start */
    uint64_t size;
    uint8_t *host;  /* local address of the start */
    void *map_base; /* what mmap() returned (page aligned) */
    size_t map_len;
};

struct guest_mem {
    struct guest_mem_region regions[VU_MAX_MEM_REGIONS];
    unsigned nregions;
};

void guest_mem_init(struct guest_mem *mem);

/* Maps a whole memory table. On success the old mappings of *mem are
 * released and replaced; on failure *mem is unchanged (all or nothing, so a
 * bad SET_MEM_TABLE leaves the device with the table it had). The fds are
 * not closed: the caller owns them (a mapping outlives its fd).
 * Returns 0, -EINVAL (region does not fit its file, not a regular file,
 * sizes overflow) or -errno from fstat/mmap. */
int guest_mem_map(struct guest_mem *mem, const struct vu_mem_region *regions, unsigned n,
                  const int *fds);

/* Unmaps everything; *mem becomes empty. */
void guest_mem_unmap(struct guest_mem *mem);

/* Local pointer for [addr, addr + len) when it lies inside one region, else
 * NULL. len 0 is treated as 1 (the address itself must be mapped). */
void *guest_mem_uva_to_ptr(const struct guest_mem *mem, uint64_t uva, uint64_t len);
void *guest_mem_gpa_to_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Translates a guest-physical buffer that may span adjacent regions into
 * iovecs appended at iov[*n] (at most max in total). Returns 0, -EFAULT when
 * part of the buffer is not guest memory, -E2BIG when iov is full. A zero
 * length buffer adds nothing. */
int guest_mem_gpa_to_iov(const struct guest_mem *mem, uint64_t gpa, uint64_t len, struct iovec *iov,
                         unsigned *n, unsigned max);

/* The size check of guest_mem_map holds when the table comes; the front-end
 * can shrink the file behind a region afterwards (ftruncate of its memfd),
 * and touching a page past the new end raises SIGBUS, which would end the
 * whole process. Runs fn(arg) so that a SIGBUS inside it returns here
 * instead: 0, or -EFAULT when guest memory went away under fn (which was
 * cut short: its caller must treat what fn worked on as broken). For one
 * thread (the shim's loop); calls may nest. A SIGBUS outside is handled as
 * it was before the first call. */
int guest_mem_guarded(void (*fn)(void *arg), void *arg);

#endif
