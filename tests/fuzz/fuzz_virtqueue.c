/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the device side of a split virtqueue (lib/virtio,
 * linked into the shim for the down-converted control queue) over guest
 * memory the fuzzer writes: descriptor tables, chains, indirect tables,
 * avail indices. Every chain popped must lie inside guest memory.
 * Input: log2 of the ring size (1 byte), indirect allowed (1), start index
 * (le16), then the guest memory image (up to 64 KiB, the rest zero).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtqueue.h"

#define MEM_SIZE  65536u
#define GUEST_UVA 0x7f0000000000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t mem_bytes[MEM_SIZE] __attribute__((aligned(4096)));
    static struct vq_chain chain;
    struct guest_mem mem;
    struct vq_device vq;
    unsigned num;
    uint16_t base;
    uint64_t avail, used;

    if (size < 4)
        return 0;
    num = 1u << (data[0] % 9); /* 1 .. 256 */
    memcpy(&base, data + 2, 2);
    memset(mem_bytes, 0, sizeof(mem_bytes));
    memcpy(mem_bytes, data + 4, size - 4 < MEM_SIZE ? size - 4 : MEM_SIZE);
    guest_mem_init(&mem);
    mem.regions[0] = (struct guest_mem_region){
        .gpa = 0, .uva = GUEST_UVA, .size = MEM_SIZE, .host = mem_bytes
    };
    mem.nregions = 1;
    avail = GUEST_UVA + 16u * num;
    used = (avail + 6 + 2u * num + 3) & ~3ull;
    if (vq_device_attach(&vq, &mem, num, GUEST_UVA, avail, used, base))
        return 0;
    vq.indirect_ok = data[1] & 1;
    for (unsigned i = 0; i <= num; i++) {
        int rc = vq_device_pop(&vq, &chain);
        if (rc <= 0)
            break;
        for (unsigned s = 0; s < chain.n_out + chain.n_in; s++) {
            const uint8_t *p = chain.iov[s].iov_base;
            if (p < mem_bytes || p + chain.iov[s].iov_len > mem_bytes + MEM_SIZE)
                abort(); /* a segment outside guest memory */
        }
        vq_device_push(&vq, chain.head, (uint32_t)chain.in_len);
    }
    return 0;
}
