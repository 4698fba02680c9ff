/* SPDX-License-Identifier: MIT */
/* Pure wire-format helpers: building and reading message payloads. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "fd_util.h"
#include "vhost_user.h"

void vu_msg_init(struct vu_msg *msg, uint32_t request, uint32_t flags)
{
    msg->hdr.request = request;
    msg->hdr.flags = (flags & ~VU_FLAG_VERSION_MASK) | VU_VERSION;
    msg->hdr.size = 0;
    msg->nfds = 0;
    for (unsigned i = 0; i < VU_MAX_FDS; i++)
        msg->fds[i] = -1;
}

void vu_msg_set_u64(struct vu_msg *msg, uint64_t value)
{
    msg->payload.u64 = value;
    msg->hdr.size = sizeof(uint64_t);
}

void vu_msg_set_state(struct vu_msg *msg, uint32_t index, uint32_t num)
{
    msg->payload.state.index = index;
    msg->payload.state.num = num;
    msg->hdr.size = sizeof(struct vu_vring_state);
}

void vu_msg_set_addr(struct vu_msg *msg, const struct vu_vring_addr *addr)
{
    msg->payload.addr = *addr;
    msg->hdr.size = sizeof(*addr);
}

int vu_msg_set_mem_table(struct vu_msg *msg, const struct vu_mem_region *regions, uint32_t n)
{
    if (n > VU_MAX_MEM_REGIONS)
        return -EINVAL;
    msg->payload.mem.nregions = n;
    msg->payload.mem.padding = 0;
    if (n)
        memcpy(msg->payload.mem.regions, regions, n * sizeof(*regions));
    msg->hdr.size = VU_MEM_TABLE_HDR_SIZE + n * (uint32_t)sizeof(*regions);
    return 0;
}

int vu_msg_set_config(struct vu_msg *msg, uint32_t offset, uint32_t size, uint32_t flags,
                      const void *data)
{
    if (size > VU_MAX_CONFIG_SIZE)
        return -EINVAL;
    msg->payload.config.offset = offset;
    msg->payload.config.size = size;
    msg->payload.config.flags = flags;
    if (data)
        memcpy(msg->payload.config.data, data, size);
    else
        memset(msg->payload.config.data, 0, size);
    msg->hdr.size = VU_CONFIG_HDR_SIZE + size;
    return 0;
}

int vu_msg_set_payload(struct vu_msg *msg, const void *payload, size_t size)
{
    if (size > VU_MAX_PAYLOAD)
        return -EINVAL;
    if (size)
        memcpy(msg->payload.bytes, payload, size);
    msg->hdr.size = (uint32_t)size;
    return 0;
}

int vu_msg_add_fd(struct vu_msg *msg, int fd)
{
    if (msg->nfds >= VU_MAX_FDS)
        return -E2BIG;
    msg->fds[msg->nfds++] = fd;
    return 0;
}

void vu_msg_close_fds(struct vu_msg *msg)
{
    for (unsigned i = 0; i < VU_MAX_FDS; i++)
        fd_close(&msg->fds[i]);
    msg->nfds = 0;
}

void vu_msg_move_fds(struct vu_msg *dst, struct vu_msg *src)
{
    for (unsigned i = 0; i < VU_MAX_FDS; i++)
        dst->fds[i] = fd_take(&src->fds[i]);
    dst->nfds = src->nfds;
    src->nfds = 0;
}

size_t vu_msg_wire_size(const struct vu_msg *msg)
{
    return VU_HDR_SIZE + msg->hdr.size;
}

void vu_hdr_decode(const uint8_t *bytes, struct vu_hdr *hdr)
{
    memcpy(hdr, bytes, VU_HDR_SIZE);
}

void vu_hdr_encode(const struct vu_hdr *hdr, uint8_t *bytes)
{
    memcpy(bytes, hdr, VU_HDR_SIZE);
}

int vu_msg_get_payload(const struct vu_msg *msg, void *payload, size_t size)
{
    if (msg->hdr.size != size)
        return -EBADMSG;
    if (size)
        memcpy(payload, msg->payload.bytes, size);
    return 0;
}

int vu_msg_get_u64(const struct vu_msg *msg, uint64_t *value)
{
    return vu_msg_get_payload(msg, value, sizeof(*value));
}

int vu_msg_get_state(const struct vu_msg *msg, struct vu_vring_state *state)
{
    return vu_msg_get_payload(msg, state, sizeof(*state));
}

int vu_msg_get_addr(const struct vu_msg *msg, struct vu_vring_addr *addr)
{
    return vu_msg_get_payload(msg, addr, sizeof(*addr));
}

int vu_msg_get_mem_table(const struct vu_msg *msg, struct vu_mem_table *mem)
{
    uint32_t n;

    if (msg->hdr.size < VU_MEM_TABLE_HDR_SIZE)
        return -EBADMSG;
    n = msg->payload.mem.nregions;
    if (n > VU_MAX_MEM_REGIONS ||
        msg->hdr.size != VU_MEM_TABLE_HDR_SIZE + n * sizeof(struct vu_mem_region))
        return -EBADMSG;
    memset(mem, 0, sizeof(*mem));
    memcpy(mem, &msg->payload.mem, msg->hdr.size);
    return 0;
}

int vu_msg_get_config(const struct vu_msg *msg, struct vu_config *config)
{
    if (msg->hdr.size < VU_CONFIG_HDR_SIZE)
        return -EBADMSG;
    if (msg->payload.config.size > VU_MAX_CONFIG_SIZE ||
        msg->hdr.size != VU_CONFIG_HDR_SIZE + msg->payload.config.size)
        return -EBADMSG;
    memcpy(config, &msg->payload.config, msg->hdr.size);
    return 0;
}

void vu_msg_make_reply(struct vu_msg *reply, const struct vu_msg *request)
{
    vu_msg_init(reply, request->hdr.request, VU_FLAG_REPLY);
}
