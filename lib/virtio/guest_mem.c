/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio/guest_mem.h"

void guest_mem_init(struct guest_mem *mem)
{
    memset(mem, 0, sizeof(*mem));
}

static void unmap_all(struct guest_mem_region *r, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (r[i].map_base)
            munmap(r[i].map_base, r[i].map_len);
}

static int map_one(const struct vu_mem_region *in, int fd, struct guest_mem_region *out)
{
    long page = sysconf(_SC_PAGESIZE);
    uint64_t aligned_off, delta, end;
    struct stat st;
    void *p;

    if (in->memory_size == 0 || in->guest_phys_addr + in->memory_size < in->guest_phys_addr ||
        in->userspace_addr + in->memory_size < in->userspace_addr)
        return -EINVAL;
    /* The region must lie inside its file: touching a mapping beyond the end
     * of a file raises SIGBUS, which a hostile front-end could otherwise
     * trigger at will. Only regular files (memfd, tmpfs, hugetlbfs) have a
     * size to check, so nothing else is accepted. */
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    end = in->mmap_offset + in->memory_size;
    if (end < in->mmap_offset || end > (uint64_t)st.st_size)
        return -EINVAL;

    /* mmap() wants a page-aligned offset; map from the page start and skip
     * the difference. */
    aligned_off = in->mmap_offset & ~(uint64_t)(page - 1);
    delta = in->mmap_offset - aligned_off;
    if (in->memory_size + delta > SIZE_MAX)
        return -EINVAL;
    p = mmap(NULL, (size_t)(in->memory_size + delta), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
             (off_t)aligned_off);
    if (p == MAP_FAILED)
        return -errno;
    out->gpa = in->guest_phys_addr;
    out->uva = in->userspace_addr;
    out->size = in->memory_size;
    out->map_base = p;
    out->map_len = (size_t)(in->memory_size + delta);
    out->host = (uint8_t *)p + delta;
    return 0;
}

int guest_mem_map(struct guest_mem *mem, const struct vu_mem_region *regions, unsigned n,
                  const int *fds)
{
    struct guest_mem fresh;
    int rc;

    if (n > VU_MAX_MEM_REGIONS)
        return -EINVAL;
    guest_mem_init(&fresh);
    for (unsigned i = 0; i < n; i++) {
        rc = map_one(&regions[i], fds[i], &fresh.regions[i]);
        if (rc) {
            unmap_all(fresh.regions, i);
            return rc;
        }
        fresh.nregions = i + 1;
    }
    guest_mem_unmap(mem);
    *mem = fresh;
    return 0;
}

void guest_mem_unmap(struct guest_mem *mem)
{
    unmap_all(mem->regions, mem->nregions);
    guest_mem_init(mem);
}

/* Written so that no sum can overflow: addr - start is compared against the
 * size, then len against what is left. */
static void *lookup(const struct guest_mem *mem, uint64_t addr, uint64_t len, bool uva)
{
    if (len == 0)
        len = 1;
    for (unsigned i = 0; i < mem->nregions; i++) {
        const struct guest_mem_region *r = &mem->regions[i];
        uint64_t start = uva ? r->uva : r->gpa;
        if (addr < start || addr - start >= r->size)
            continue;
        if (len > r->size - (addr - start))
            return NULL;
        return r->host + (addr - start);
    }
    return NULL;
}

void *guest_mem_uva_to_ptr(const struct guest_mem *mem, uint64_t uva, uint64_t len)
{
    return lookup(mem, uva, len, true);
}

void *guest_mem_gpa_to_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
    return lookup(mem, gpa, len, false);
}

int guest_mem_gpa_to_iov(const struct guest_mem *mem, uint64_t gpa, uint64_t len, struct iovec *iov,
                         unsigned *n, unsigned max)
{
    while (len > 0) {
        const struct guest_mem_region *r = NULL;
        for (unsigned i = 0; i < mem->nregions; i++) {
            const struct guest_mem_region *c = &mem->regions[i];
            if (gpa >= c->gpa && gpa - c->gpa < c->size) {
                r = c;
                break;
            }
        }
        if (!r)
            return -EFAULT;
        if (*n >= max)
            return -E2BIG;
        uint64_t off = gpa - r->gpa;
        uint64_t chunk = r->size - off < len ? r->size - off : len;
        iov[*n].iov_base = r->host + off;
        iov[*n].iov_len = (size_t)chunk;
        (*n)++;
        len -= chunk;
        if (gpa + chunk < gpa) /* wrapped: cannot be contiguous memory */
            return len ? -EFAULT : 0;
        gpa += chunk;
    }
    return 0;
}

/* ---- SIGBUS guard ---------------------------------------------------------- */

static sigjmp_buf *volatile guard; /* the innermost guest_mem_guarded, or NULL */
static struct sigaction sigbus_before;

static void on_sigbus(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)info;
    (void)context;
    if (guard)
        siglongjmp(*guard, 1);
    /* Not inside fn: the handling from before, which the faulting access
     * meets again once this returns. */
    sigaction(SIGBUS, &sigbus_before, NULL);
}

int guest_mem_guarded(void (*fn)(void *arg), void *arg)
{
    sigjmp_buf env;
    sigjmp_buf *outer = guard;

    /* The handler is the process's only while fn runs (the outermost call
     * installs it and puts back what was there). */
    if (!outer) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGBUS, &sa, &sigbus_before) < 0)
            return -errno;
    }
    /* The signal mask is saved: siglongjmp from the handler unblocks SIGBUS. */
    if (sigsetjmp(env, 1)) {
        guard = outer;
        if (!outer)
            sigaction(SIGBUS, &sigbus_before, NULL);
        return -EFAULT;
    }
    guard = &env;
    fn(arg);
    guard = outer;
    if (!outer)
        sigaction(SIGBUS, &sigbus_before, NULL);
    return 0;
}
