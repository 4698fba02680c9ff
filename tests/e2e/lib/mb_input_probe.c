/* SPDX-License-Identifier: MIT */
/*
 * A multiboot payload for QEMU (x86, 32-bit protected mode, no paging) that
 * does to a virtio-input device what Linux's virtinput_probe() does to its
 * config space, without a Linux guest: finds the device (PCI 1af4:1052) by
 * configuration mechanism #1, maps nothing (SeaBIOS has assigned the BARs
 * below 4 GiB), sets the status ACKNOWLEDGE, DRIVER, VERSION_1 and
 * FEATURES_OK as the virtio core does before a driver's probe, then for each
 * (select, subsel) writes select, writes subsel and reads size and u, byte
 * by byte, as virtinput_cfg_select() does. Each answer goes to the debug
 * console (port 0x402) as "probe: select S subsel B size N u=TEXT"; the
 * last line is "probe: done" (or "probe: FAIL reason"), then it leaves
 * through isa-debug-exit (port 0xf4). Built by
 * tests/e2e/test_qemu_input_upconv.sh with tests/e2e/lib/multiboot.ld.
 */
#include <stdint.h>

#define MB_MAGIC       0x1BADB002u
#define DEBUGCON       0x402
#define DEBUG_EXIT     0xf4
#define PCI_ADDR       0xcf8
#define PCI_DATA       0xcfc
#define PCI_ENABLE     0x80000000u
#define PCI_SLOTS      32
#define PCI_DEV_SHIFT  11
#define PCI_COMMAND    0x04
#define PCI_CMD_MEM    0x2u
#define PCI_CMD_MASTER 0x4u
#define PCI_BAR0       0x10
#define PCI_BAR_64     0x4u
#define PCI_BAR_MASK   0xfu
#define PCI_CAP_PTR    0x34
#define PCI_CAP_VNDR   0x09 /* virtio's vendor-specific capability */
#define VIRTIO_INPUT   0x10521af4u
#define CAP_COMMON     1
#define CAP_DEVICE     4
#define CMN_DRV_SEL    8  /* driver_feature_select */
#define CMN_DRV_FEAT   12 /* driver_feature */
#define CMN_STATUS     20 /* device_status */
#define ST_ACK         1
#define ST_DRIVER      2
#define ST_FEATURES_OK 8
#define CFG_SELECT     0
#define CFG_SUBSEL     1
#define CFG_SIZE       2
#define CFG_U          8
#define PRINT_MAX      40
#define ID_NAME        1
#define ID_SERIAL      2
#define EV_BITS        0x11
#define EV_KEY         1

__attribute__((section(".multiboot"), used,
               aligned(4))) static const uint32_t multiboot[3] = { MB_MAGIC, 0, -MB_MAGIC };

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static void print(const char *s)
{
    while (*s)
        outb(DEBUGCON, (uint8_t)*s++);
}

static void print_dec(unsigned v)
{
    char buf[12];
    int n = 0;

    do
        buf[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < (int)sizeof(buf));
    while (n)
        outb(DEBUGCON, (uint8_t)buf[--n]);
}

static uint32_t pci_read(uint32_t dev, uint32_t off)
{
    outl(PCI_ADDR, PCI_ENABLE | dev | (off & ~3u));
    return inl(PCI_DATA);
}

static void pci_write(uint32_t dev, uint32_t off, uint32_t v)
{
    outl(PCI_ADDR, PCI_ENABLE | dev | (off & ~3u));
    outl(PCI_DATA, v);
}

static uint8_t pci_read8(uint32_t dev, uint32_t off)
{
    return (uint8_t)(pci_read(dev, off) >> (8 * (off & 3)));
}

static void finish(const char *why)
{
    print(why);
    outb(DEBUG_EXIT, 0);
    for (;;)
        __asm__ volatile("hlt");
}

/* The MMIO address of a virtio capability of `type`, or 0 (absent, or a BAR
 * above 4 GiB, which this payload cannot reach). */
static volatile uint8_t *virtio_cap(uint32_t dev, uint8_t type)
{
    for (uint8_t cap = pci_read8(dev, PCI_CAP_PTR); cap; cap = pci_read8(dev, cap + 1u)) {
        uint8_t bar = pci_read8(dev, cap + 4u);
        uint32_t lo = pci_read(dev, PCI_BAR0 + 4u * bar);
        if (pci_read8(dev, cap) != PCI_CAP_VNDR || pci_read8(dev, cap + 3u) != type)
            continue;
        if ((lo & PCI_BAR_64) && pci_read(dev, PCI_BAR0 + 4u * bar + 4u))
            return 0;
        return (volatile uint8_t *)(uintptr_t)((lo & ~PCI_BAR_MASK) + pci_read(dev, cap + 8u));
    }
    return 0;
}

/* virtinput_cfg_select(), then the union printed. */
static void cfg_select(volatile uint8_t *cfg, uint8_t select, uint8_t subsel)
{
    uint8_t size;

    cfg[CFG_SELECT] = select;
    cfg[CFG_SUBSEL] = subsel;
    size = cfg[CFG_SIZE];
    print("probe: select ");
    print_dec(select);
    print(" subsel ");
    print_dec(subsel);
    print(" size ");
    print_dec(size);
    print(" u=");
    for (unsigned i = 0; i < size && i < PRINT_MAX; i++) {
        uint8_t c = cfg[CFG_U + i];
        outb(DEBUGCON, c >= ' ' && c <= '~' ? c : '.');
    }
    print("\n");
}

void probe_main(void);
void probe_main(void)
{
    volatile uint8_t *common, *cfg;
    uint32_t dev = 0;

    print("probe: start\n");
    while (dev < PCI_SLOTS && pci_read(dev << PCI_DEV_SHIFT, 0) != VIRTIO_INPUT)
        dev++;
    if (dev == PCI_SLOTS)
        finish("probe: FAIL no virtio-input device on bus 0\n");
    dev <<= PCI_DEV_SHIFT;
    pci_write(dev, PCI_COMMAND, pci_read(dev, PCI_COMMAND) | PCI_CMD_MEM | PCI_CMD_MASTER);
    common = virtio_cap(dev, CAP_COMMON);
    cfg = virtio_cap(dev, CAP_DEVICE);
    if (!common || !cfg)
        finish("probe: FAIL no common or device configuration below 4 GiB\n");
    /* the virtio core before drv->probe: reset, ACK, DRIVER, VERSION_1 (bit 32), FEATURES_OK */
    common[CMN_STATUS] = 0;
    common[CMN_STATUS] = ST_ACK;
    common[CMN_STATUS] = ST_ACK | ST_DRIVER;
    *(volatile uint32_t *)(common + CMN_DRV_SEL) = 1;
    *(volatile uint32_t *)(common + CMN_DRV_FEAT) = 1;
    common[CMN_STATUS] = ST_ACK | ST_DRIVER | ST_FEATURES_OK;
    if (!(common[CMN_STATUS] & ST_FEATURES_OK))
        finish("probe: FAIL FEATURES_OK refused\n");
    cfg_select(cfg, ID_NAME, 0);
    cfg_select(cfg, ID_SERIAL, 0);
    cfg_select(cfg, EV_BITS, EV_KEY);
    finish("probe: done\n");
}

__asm__(".section .text\n"
        ".global _start\n"
        "_start:\n"
        "  mov $0x200000, %esp\n"
        "  call probe_main\n"
        "1: hlt\n"
        "  jmp 1b\n");
