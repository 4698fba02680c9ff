/* SPDX-License-Identifier: MIT */
/*
 * evread DEVICE COUNT TIMEOUT_MS: reads struct input_event records from an
 * evdev node (/dev/input/eventN) until COUNT key presses (EV_KEY, value 1)
 * came or TIMEOUT_MS passed, and prints one line:
 *   codes=C1,C2,... releases=R syns=S others=O
 * (the press codes in the order they came; releases are EV_KEY value 0,
 * syns EV_SYN records, others anything else, key repeats included).
 * Exit status: 0 with COUNT presses, 1 on the time-out (the line is still
 * printed), 2 on a usage or I/O error.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CODES 256
#define MS_PER_S  1000L
#define NS_PER_MS 1000000L

struct tally {
    unsigned codes[MAX_CODES];
    unsigned presses, releases, syns, others;
};

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * MS_PER_S + ts.tv_nsec / NS_PER_MS;
}

static void count(struct tally *t, const struct input_event *e)
{
    if (e->type == EV_KEY && e->value == 1) {
        if (t->presses < MAX_CODES)
            t->codes[t->presses] = e->code;
        t->presses++;
    } else if (e->type == EV_KEY && e->value == 0) {
        t->releases++;
    } else if (e->type == EV_SYN) {
        t->syns++;
    } else {
        t->others++;
    }
}

static void print(const struct tally *t)
{
    printf("codes=");
    for (unsigned i = 0; i < t->presses && i < MAX_CODES; i++)
        printf("%s%u", i ? "," : "", t->codes[i]);
    printf(" releases=%u syns=%u others=%u\n", t->releases, t->syns, t->others);
}

int main(int argc, char **argv)
{
    struct tally t;
    long deadline;
    unsigned want;
    int fd;

    if (argc != 4) {
        fprintf(stderr, "usage: evread DEVICE COUNT TIMEOUT_MS\n");
        return 2;
    }
    want = (unsigned)strtoul(argv[2], NULL, 0);
    deadline = now_ms() + strtol(argv[3], NULL, 0);
    fd = open(argv[1], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "evread: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    memset(&t, 0, sizeof(t));
    while (t.presses < want) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        struct input_event ev[64];
        long left = deadline - now_ms();
        ssize_t n;
        if (left <= 0)
            break;
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
            break;
        n = read(fd, ev, sizeof(ev));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0 || n % (ssize_t)sizeof(ev[0])) {
            fprintf(stderr, "evread: read: %s\n", n < 0 ? strerror(errno) : "short record");
            close(fd);
            return 2;
        }
        for (ssize_t i = 0; i < n / (ssize_t)sizeof(ev[0]); i++)
            count(&t, &ev[i]);
    }
    close(fd);
    print(&t);
    return t.presses >= want ? 0 : 1;
}
