// drm_fb CARD FB TOP BOTTOM - the guest side of scenario gpu
// (tests/guest/scenarios/gpu.sh).
//
// Asks the DRM device CARD (/dev/dri/card0) for its resources
// (DRM_IOCTL_MODE_GETRESOURCES: one connector and one CRTC per scanout for
// virtio-gpu), puts the VT in graphics mode (fbcon keeps off the
// framebuffer), then paints the framebuffer device FB (/dev/fb0, the DRM
// driver's fbdev emulation): the upper half of the screen in
// colour TOP, the lower half in BOTTOM (0xRRGGBB, hex), so that the host
// can find both in a screendump. It writes through mmap() and msync()s:
// Linux 6.1's fbdev emulation flushes mapped pages (deferred I/O) to the
// device, but not what write() put in its shadow buffer (for virtio-gpu the
// flush is TRANSFER_TO_HOST_2D and RESOURCE_FLUSH, which the back-end turns
// into a display update for the VMM). Prints on stdout:
//   drm_connectors=N drm_crtcs=N drm_encoders=N
//   fb_xres=X fb_yres=Y fb_bpp=B fb_line=BYTES fb_written=BYTES
// Exit 0 on success, 1 when a step failed (the reason on stderr), 2 usage.
#include <errno.h>
#include <fcntl.h>
#include <linux/fb.h>
#include <linux/kd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

// The DRM UAPI (include/uapi/drm/drm_mode.h, drm.h), which the host's
// headers may lack (libdrm-dev): struct drm_mode_card_res and its ioctl,
// DRM_IOWR(0xA0, struct drm_mode_card_res) with DRM_IOCTL_BASE 'd'.
struct drm_mode_card_res {
    uint64_t fb_id_ptr, crtc_id_ptr, connector_id_ptr, encoder_id_ptr;
    uint32_t count_fbs, count_crtcs, count_connectors, count_encoders;
    uint32_t min_width, max_width, min_height, max_height;
};
_Static_assert(sizeof(struct drm_mode_card_res) == 64, "the UAPI's size");
#define DRM_IOCTL_BASE              'd'
#define DRM_IOCTL_MODE_GETRESOURCES _IOWR(DRM_IOCTL_BASE, 0xA0, struct drm_mode_card_res)

enum {
    BPP_XRGB = 32,
    BYTES_PER_PIXEL = 4,
    COLOUR_MASK = 0xffffff
};

static int drm_resources(const char *card)
{
    struct drm_mode_card_res res;
    int fd = open(card, O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        fprintf(stderr, "open %s: %s\n", card, strerror(errno));
        return 1;
    }
    memset(&res, 0, sizeof(res)); // counts only: every pointer is 0
    if (ioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, &res) < 0) {
        fprintf(stderr, "DRM_IOCTL_MODE_GETRESOURCES: %s\n", strerror(errno));
        close(fd);
        return 1;
    }
    close(fd);
    printf("drm_connectors=%u drm_crtcs=%u drm_encoders=%u\n", res.count_connectors,
           res.count_crtcs, res.count_encoders);
    return 0;
}

// One line of the framebuffer in colour c (XRGB8888, little endian).
static void fill_line(uint8_t *line, uint32_t xres, uint32_t c)
{
    for (uint32_t x = 0; x < xres; x++) {
        line[x * BYTES_PER_PIXEL + 0] = (uint8_t)c;
        line[x * BYTES_PER_PIXEL + 1] = (uint8_t)(c >> 8);
        line[x * BYTES_PER_PIXEL + 2] = (uint8_t)(c >> 16);
        line[x * BYTES_PER_PIXEL + 3] = 0;
    }
}

// The VT in graphics mode (as a display server does): fbcon then draws
// nothing on the framebuffer, not even when it takes the console over
// late (Debian's FRAMEBUFFER_CONSOLE_DEFERRED_TAKEOVER), which clears the
// screen, nor its blinking cursor.
static int vt_graphics(void)
{
    int fd = open("/dev/tty0", O_RDWR | O_CLOEXEC);
    int rc;

    if (fd < 0) {
        fprintf(stderr, "open /dev/tty0: %s\n", strerror(errno));
        return 1;
    }
    rc = ioctl(fd, KDSETMODE, KD_GRAPHICS);
    if (rc < 0)
        fprintf(stderr, "KDSETMODE KD_GRAPHICS: %s\n", strerror(errno));
    close(fd);
    return rc < 0;
}

// Paints the mapped framebuffer and flushes it: the fbdev emulation maps
// its shadow buffer with deferred I/O, and msync() (fb_deferred_io_fsync)
// runs the flush at once: the damage is blitted and the DRM driver told.
static int paint_mapped(int fd, const struct fb_var_screeninfo *var,
                        const struct fb_fix_screeninfo *fix, uint32_t top, uint32_t bottom)
{
    size_t len = (size_t)fix->line_length * var->yres;
    uint8_t *fb;

    if (len > fix->smem_len) {
        fprintf(stderr, "%u lines of %u bytes exceed the %u-byte framebuffer\n", var->yres,
                fix->line_length, fix->smem_len);
        return 1;
    }
    fb = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fb == MAP_FAILED) {
        fprintf(stderr, "mmap: %s\n", strerror(errno));
        return 1;
    }
    for (uint32_t y = 0; y < var->yres; y++)
        fill_line(fb + (size_t)y * fix->line_length, var->xres, y < var->yres / 2 ? top : bottom);
    if (msync(fb, len, MS_SYNC) < 0) {
        fprintf(stderr, "msync: %s\n", strerror(errno));
        munmap(fb, len);
        return 1;
    }
    munmap(fb, len);
    printf("fb_written=%zu\n", len);
    return 0;
}

static int paint(const char *path, uint32_t top, uint32_t bottom)
{
    struct fb_var_screeninfo var;
    struct fb_fix_screeninfo fix;
    int fd = open(path, O_RDWR | O_CLOEXEC), rc = 1;

    if (fd < 0) {
        fprintf(stderr, "open %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (ioctl(fd, FBIOGET_VSCREENINFO, &var) < 0 || ioctl(fd, FBIOGET_FSCREENINFO, &fix) < 0) {
        fprintf(stderr, "FBIOGET_*SCREENINFO: %s\n", strerror(errno));
        goto out;
    }
    printf("fb_xres=%u fb_yres=%u fb_bpp=%u fb_line=%u\n", var.xres, var.yres, var.bits_per_pixel,
           fix.line_length);
    if (var.bits_per_pixel != BPP_XRGB || fix.line_length < var.xres * BYTES_PER_PIXEL) {
        fprintf(stderr, "%s: %u bits per pixel, line of %u bytes: not XRGB8888\n", path,
                var.bits_per_pixel, fix.line_length);
        goto out;
    }
    // The fbdev emulation sets its mode on the CRTCs only when fbcon takes
    // the console over, which Debian defers until text is written to it
    // (FRAMEBUFFER_CONSOLE_DEFERRED_TAKEOVER): the same geometry again,
    // forced, makes drm_fb_helper_set_par do the modeset (else the pixels
    // reach the device but no scanout shows them).
    var.activate = FB_ACTIVATE_NOW | FB_ACTIVATE_FORCE;
    if (ioctl(fd, FBIOPUT_VSCREENINFO, &var) < 0) {
        fprintf(stderr, "FBIOPUT_VSCREENINFO (modeset): %s\n", strerror(errno));
        goto out;
    }
    rc = paint_mapped(fd, &var, &fix, top, bottom);
out:
    close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: drm_fb CARD FB TOP BOTTOM (colours 0xRRGGBB)\n");
        return 2;
    }
    uint32_t top = (uint32_t)strtoul(argv[3], NULL, 16) & COLOUR_MASK;
    uint32_t bottom = (uint32_t)strtoul(argv[4], NULL, 16) & COLOUR_MASK;
    int rc = drm_resources(argv[1]);

    if (!rc)
        rc = vt_graphics();

    fflush(stdout);
    return rc ? rc : paint(argv[2], top, bottom);
}
