/* SPDX-License-Identifier: MIT */
/*
 * i2cxfer DEV ADDR LEN [REG]: one I2C_RDWR transfer on an i2c-dev node
 * (/dev/i2c-N; busybox's i2c tools use SMBus calls, not I2C_RDWR): a read of
 * LEN bytes from the 7-bit address ADDR, preceded, with REG, by a one-byte
 * write of REG in the same transfer (a register read: two messages, a
 * repeated start). The read buffer is filled with FILL_BYTE first, so bytes
 * the adapter did not write are seen. Prints one line:
 *   i2c_addr=0x20 i2c_funcs=0x... i2c_msgs=2 i2c_rc=0 i2c_done=2 i2c_bytes=00,00,...
 *   i2c_addr=0x21 i2c_funcs=0x... i2c_msgs=1 i2c_rc=-1 i2c_done=0
 *   i2c_addr=0x21 i2c_funcs=0x... i2c_msgs=1 i2c_rc=-1 i2c_errno=EIO
 * (i2c_funcs: the adapter's I2C_FUNCS; i2c_msgs the messages sent, i2c_done
 * those the adapter did: I2C_RDWR returns that count, so a transfer the
 * adapter refused can "succeed" with fewer; i2c_errno when the ioctl
 * itself failed). Exit status: 0 every message done, 1 the transfer failed
 * (fewer messages done, or an error), 2 a usage or open error.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/i2c-dev.h>
#include <linux/i2c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define EXIT_XFER_FAILED 1
#define EXIT_ERROR       2
#define MAX_LEN          64
#define FILL_BYTE        0xa5
#define ADDR_7BIT_MAX    0x7f

static const char *errno_name(int e)
{
    switch (e) {
    case EIO:
        return "EIO";
    case ENXIO:
        return "ENXIO";
    case EREMOTEIO:
        return "EREMOTEIO";
    case ETIMEDOUT:
        return "ETIMEDOUT";
    case EOPNOTSUPP:
        return "EOPNOTSUPP";
    case EINVAL:
        return "EINVAL";
    case EAGAIN:
        return "EAGAIN";
    case ENOMEM:
        return "ENOMEM";
    default:
        return "other";
    }
}

/* transfer: the I2C_RDWR; the number of messages done (i2c_transfer's
 * count: a message the adapter refused stops the transfer, and the ioctl
 * still succeeds with fewer messages) or -errno. */
static int transfer(int fd, unsigned addr, unsigned char *reg, unsigned char *buf, unsigned len)
{
    struct i2c_msg msgs[2];
    struct i2c_rdwr_ioctl_data data = { .msgs = msgs, .nmsgs = 0 };
    int done;

    if (reg) {
        msgs[data.nmsgs].addr = (__u16)addr;
        msgs[data.nmsgs].flags = 0;
        msgs[data.nmsgs].len = 1;
        msgs[data.nmsgs].buf = reg;
        data.nmsgs++;
    }
    msgs[data.nmsgs].addr = (__u16)addr;
    msgs[data.nmsgs].flags = I2C_M_RD;
    msgs[data.nmsgs].len = (__u16)len;
    msgs[data.nmsgs].buf = buf;
    data.nmsgs++;
    printf(" i2c_msgs=%u", data.nmsgs);
    done = ioctl(fd, I2C_RDWR, &data);
    return done < 0 ? -errno : done;
}

int main(int argc, char **argv)
{
    unsigned char buf[MAX_LEN], reg;
    unsigned long funcs = 0;
    unsigned addr, len;
    int fd, rc, nmsgs;

    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: i2cxfer DEV ADDR LEN [REG]\n");
        return EXIT_ERROR;
    }
    addr = (unsigned)strtoul(argv[2], NULL, 0);
    len = (unsigned)strtoul(argv[3], NULL, 0);
    if (addr > ADDR_7BIT_MAX || len == 0 || len > MAX_LEN) {
        fprintf(stderr, "i2cxfer: address 0..0x7f and length 1..%d\n", MAX_LEN);
        return EXIT_ERROR;
    }
    reg = (unsigned char)strtoul(argc == 5 ? argv[4] : "0", NULL, 0);
    fd = open(argv[1], O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "i2cxfer: %s: %s\n", argv[1], strerror(errno));
        return EXIT_ERROR;
    }
    if (ioctl(fd, I2C_FUNCS, &funcs) < 0)
        fprintf(stderr, "i2cxfer: I2C_FUNCS: %s\n", strerror(errno));
    memset(buf, FILL_BYTE, sizeof(buf));
    printf("i2c_addr=0x%02x i2c_funcs=0x%lx", addr, funcs);
    nmsgs = argc == 5 ? 2 : 1;
    rc = transfer(fd, addr, argc == 5 ? &reg : NULL, buf, len);
    close(fd);
    if (rc < 0) {
        printf(" i2c_rc=-1 i2c_errno=%s\n", errno_name(-rc));
        return EXIT_XFER_FAILED;
    }
    if (rc != nmsgs) {
        printf(" i2c_rc=-1 i2c_done=%d\n", rc);
        return EXIT_XFER_FAILED;
    }
    printf(" i2c_rc=0 i2c_done=%d i2c_bytes=", rc);
    for (unsigned i = 0; i < len; i++)
        printf("%s%02x", i ? "," : "", buf[i]);
    printf("\n");
    return 0;
}
