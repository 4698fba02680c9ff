/* SPDX-License-Identifier: MIT */
/*
 * gpioctl: the Linux GPIO character device (uAPI v2) for the test guest
 * (busybox has no gpio tools).
 *
 *   gpioctl CHIP info
 *       GPIO_GET_CHIPINFO_IOCTL and GPIO_V2_GET_LINEINFO_IOCTL of every line:
 *         gpio_chip=NAME gpio_label=LABEL gpio_lines=N
 *         gpio_names=NAME0,NAME1,...        ("-" for a line without a name)
 *   gpioctl CHIP set LINE V1 [V2 ...]
 *       LINE requested as an output with the value V1 (GPIO_V2_GET_LINE_IOCTL),
 *       read back (GPIO_V2_LINE_GET_VALUES_IOCTL); each further value set
 *       (GPIO_V2_LINE_SET_VALUES_IOCTL) and read back; then the line's info
 *       while it is held; the line is released when the program exits:
 *         gpio_step=K set=V read=R          one per value
 *         gpio_held=LINE used=0|1 output=0|1 consumer=NAME
 *         gpio_line=LINE gpio_sets=V1,V2 gpio_reads=R1,R2
 * Labels and names have spaces, commas and '=' replaced by '_'.
 * Exit status: 0 done (every value read back as set), 1 a value read back
 * differently, 2 a usage or ioctl error (the reason on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define EXIT_MISMATCH 1
#define EXIT_ERROR    2
#define MAX_VALUES    16
#define CONSUMER      "vstest"

/* sanitize: spaces, commas and '=' of a kernel string made '_' (one RESULT word). */
static const char *sanitize(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == ' ' || *p == ',' || *p == '=')
            *p = '_';
    return *s ? s : "-";
}

static int line_info(int fd, unsigned line, struct gpio_v2_line_info *li)
{
    memset(li, 0, sizeof(*li));
    li->offset = line;
    if (ioctl(fd, GPIO_V2_GET_LINEINFO_IOCTL, li) < 0) {
        fprintf(stderr, "gpioctl: GPIO_V2_GET_LINEINFO_IOCTL %u: %s\n", line, strerror(errno));
        return -errno;
    }
    return 0;
}

static int chip_info(int fd, struct gpiochip_info *ci)
{
    memset(ci, 0, sizeof(*ci));
    if (ioctl(fd, GPIO_GET_CHIPINFO_IOCTL, ci) < 0) {
        fprintf(stderr, "gpioctl: GPIO_GET_CHIPINFO_IOCTL: %s\n", strerror(errno));
        return -errno;
    }
    return 0;
}

static int cmd_info(int fd)
{
    struct gpiochip_info ci;
    struct gpio_v2_line_info li;

    if (chip_info(fd, &ci) < 0)
        return EXIT_ERROR;
    printf("gpio_chip=%s ", sanitize(ci.name));
    printf("gpio_label=%s gpio_lines=%u\n", sanitize(ci.label), ci.lines);
    printf("gpio_names=");
    for (unsigned i = 0; i < ci.lines; i++) {
        if (line_info(fd, i, &li) < 0)
            return EXIT_ERROR;
        printf("%s%s", i ? "," : "", sanitize(li.name));
    }
    printf("\n");
    return 0;
}

/* request_output: LINE held as an output with VALUE; the line's fd or -errno. */
static int request_output(int fd, unsigned line, unsigned value)
{
    struct gpio_v2_line_request req;

    memset(&req, 0, sizeof(req));
    req.offsets[0] = line;
    req.num_lines = 1;
    snprintf(req.consumer, sizeof(req.consumer), "%s", CONSUMER);
    req.config.flags = GPIO_V2_LINE_FLAG_OUTPUT;
    req.config.num_attrs = 1;
    req.config.attrs[0].attr.id = GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES;
    req.config.attrs[0].attr.values = value ? 1 : 0;
    req.config.attrs[0].mask = 1;
    if (ioctl(fd, GPIO_V2_GET_LINE_IOCTL, &req) < 0) {
        fprintf(stderr, "gpioctl: GPIO_V2_GET_LINE_IOCTL %u: %s\n", line, strerror(errno));
        return -errno;
    }
    return req.fd;
}

static int set_value(int lfd, unsigned value)
{
    struct gpio_v2_line_values v = { .bits = value ? 1 : 0, .mask = 1 };

    if (ioctl(lfd, GPIO_V2_LINE_SET_VALUES_IOCTL, &v) < 0) {
        fprintf(stderr, "gpioctl: GPIO_V2_LINE_SET_VALUES_IOCTL: %s\n", strerror(errno));
        return -errno;
    }
    return 0;
}

/* get_value: the line's value (0 or 1) or -errno. */
static int get_value(int lfd)
{
    struct gpio_v2_line_values v = { .bits = 0, .mask = 1 };

    if (ioctl(lfd, GPIO_V2_LINE_GET_VALUES_IOCTL, &v) < 0) {
        fprintf(stderr, "gpioctl: GPIO_V2_LINE_GET_VALUES_IOCTL: %s\n", strerror(errno));
        return -errno;
    }
    return (int)(v.bits & 1);
}

static void print_list(const char *key, const unsigned *v, int n)
{
    printf(" %s=", key);
    for (int i = 0; i < n; i++)
        printf("%s%u", i ? "," : "", v[i]);
}

static int cmd_set(int fd, unsigned line, const unsigned *sets, int n)
{
    unsigned reads[MAX_VALUES];
    struct gpio_v2_line_info li;
    int lfd, r, rc = 0;

    lfd = request_output(fd, line, sets[0]);
    if (lfd < 0)
        return EXIT_ERROR;
    for (int i = 0; i < n; i++) {
        if (i > 0 && set_value(lfd, sets[i]) < 0)
            goto err;
        r = get_value(lfd);
        if (r < 0)
            goto err;
        reads[i] = (unsigned)r;
        printf("gpio_step=%d set=%u read=%u\n", i + 1, sets[i], reads[i]);
        if (reads[i] != sets[i])
            rc = EXIT_MISMATCH;
    }
    if (line_info(fd, line, &li) < 0)
        goto err;
    printf("gpio_held=%u used=%d output=%d consumer=%s\n", line,
           (li.flags & GPIO_V2_LINE_FLAG_USED) != 0, (li.flags & GPIO_V2_LINE_FLAG_OUTPUT) != 0,
           sanitize(li.consumer));
    printf("gpio_line=%u", line);
    print_list("gpio_sets", sets, n);
    print_list("gpio_reads", reads, n);
    printf("\n");
    close(lfd);
    return rc;
err:
    close(lfd);
    return EXIT_ERROR;
}

static int usage(void)
{
    fprintf(stderr, "usage: gpioctl CHIP info | gpioctl CHIP set LINE V1 [V2 ...]\n");
    return EXIT_ERROR;
}

int main(int argc, char **argv)
{
    unsigned sets[MAX_VALUES];
    int fd, rc, n;

    if (argc < 3)
        return usage();
    if (strcmp(argv[2], "set") == 0 && (argc < 5 || argc - 4 > MAX_VALUES))
        return usage();
    fd = open(argv[1], O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "gpioctl: %s: %s\n", argv[1], strerror(errno));
        return EXIT_ERROR;
    }
    if (strcmp(argv[2], "info") == 0) {
        rc = cmd_info(fd);
    } else if (strcmp(argv[2], "set") == 0) {
        n = argc - 4;
        for (int i = 0; i < n; i++)
            sets[i] = strtoul(argv[4 + i], NULL, 0) ? 1 : 0;
        rc = cmd_set(fd, (unsigned)strtoul(argv[3], NULL, 0), sets, n);
    } else {
        rc = usage();
    }
    close(fd);
    return rc;
}
