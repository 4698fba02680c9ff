/* netq - the queue pairs of a network interface, for the test guest (busybox
 * has no ethtool). Static, no dependencies.
 *
 *   netq IFACE channels        prints "max=M combined=C" (ETHTOOL_GCHANNELS)
 *   netq IFACE channels N      sets N combined channels (ETHTOOL_SCHANNELS;
 *                              virtio_net sends VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET
 *                              on its control queue), then prints as above
 *   netq IFACE stats PART      prints "NAME=VALUE" for every driver statistic
 *                              (ETHTOOL_GSTATS) whose name contains PART
 *                              (virtio_net: rx_queue_K_packets,
 *                              tx_queue_K_packets, ...)
 * Exit status: 0 done, 1 the kernel refused, 2 bad usage. */
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    EXIT_REFUSED = 1,
    EXIT_USAGE = 2,
    MAX_STATS = 4096
};

static int ethtool(int fd, const char *ifc, void *cmd)
{
    struct ifreq ifr;

    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifc);
    ifr.ifr_data = cmd;
    return ioctl(fd, SIOCETHTOOL, &ifr) == 0 ? 0 : -errno;
}

static int channels(int fd, const char *ifc, const char *want)
{
    struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
    int rc = ethtool(fd, ifc, &ch);

    if (rc == 0 && want != NULL) {
        ch.cmd = ETHTOOL_SCHANNELS;
        ch.combined_count = (uint32_t)strtoul(want, NULL, 10);
        rc = ethtool(fd, ifc, &ch);
        if (rc == 0) {
            ch.cmd = ETHTOOL_GCHANNELS;
            rc = ethtool(fd, ifc, &ch);
        }
    }
    if (rc != 0) {
        fprintf(stderr, "netq: %s channels: %s\n", ifc, strerror(-rc));
        return EXIT_REFUSED;
    }
    printf("max=%u combined=%u\n", ch.max_combined, ch.combined_count);
    return 0;
}

/* stat_count: how many statistics the driver has (ETHTOOL_GSSET_INFO). */
static int stat_count(int fd, const char *ifc, uint32_t *n)
{
    struct {
        struct ethtool_sset_info hdr;
        uint32_t len;
    } info = { .hdr = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ULL << ETH_SS_STATS } };
    int rc = ethtool(fd, ifc, &info);

    if (rc == 0 && info.hdr.sset_mask == 0)
        rc = -EOPNOTSUPP;
    *n = info.len;
    return rc;
}

static int stats(int fd, const char *ifc, const char *part)
{
    struct ethtool_gstrings *names = NULL;
    struct ethtool_stats *vals = NULL;
    uint32_t n = 0;
    int rc = stat_count(fd, ifc, &n);

    if (rc == 0 && n > MAX_STATS)
        rc = -E2BIG;
    if (rc == 0) {
        names = calloc(1, sizeof(*names) + (size_t)n * ETH_GSTRING_LEN);
        vals = calloc(1, sizeof(*vals) + (size_t)n * sizeof(uint64_t));
        rc = names != NULL && vals != NULL ? 0 : -ENOMEM;
    }
    if (rc == 0) {
        *names = (struct ethtool_gstrings){ .cmd = ETHTOOL_GSTRINGS,
                                            .string_set = ETH_SS_STATS,
                                            .len = n };
        *vals = (struct ethtool_stats){ .cmd = ETHTOOL_GSTATS, .n_stats = n };
        rc = ethtool(fd, ifc, names);
    }
    if (rc == 0)
        rc = ethtool(fd, ifc, vals);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        char name[ETH_GSTRING_LEN + 1] = { 0 };

        memcpy(name, names->data + (size_t)i * ETH_GSTRING_LEN, ETH_GSTRING_LEN);
        if (strstr(name, part) != NULL)
            printf("%s=%llu\n", name, (unsigned long long)vals->data[i]);
    }
    free(names);
    free(vals);
    if (rc != 0) {
        fprintf(stderr, "netq: %s stats: %s\n", ifc, strerror(-rc));
        return EXIT_REFUSED;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int fd, rc;

    if (argc < 3 || argc > 4 || strlen(argv[1]) >= IFNAMSIZ ||
        (strcmp(argv[2], "channels") != 0 && strcmp(argv[2], "stats") != 0)) {
        fprintf(stderr, "usage: netq IFACE channels [N] | netq IFACE stats PART\n");
        return EXIT_USAGE;
    }
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("netq: socket");
        return EXIT_REFUSED;
    }
    if (strcmp(argv[2], "channels") == 0)
        rc = channels(fd, argv[1], argc == 4 ? argv[3] : NULL);
    else
        rc = argc == 4 ? stats(fd, argv[1], argv[3]) : EXIT_USAGE;
    close(fd);
    return rc;
}
