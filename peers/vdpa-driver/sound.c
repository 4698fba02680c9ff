/* SPDX-License-Identifier: MIT */
/*
 * virtio-sound of the reference driver (VIRTIO 1.2, 5.14; the layouts are
 * Linux include/uapi/linux/virtio_snd.h).
 *
 * Rings: 0 controlq, 1 eventq, 2 txq, 3 rxq; controlq and txq are used.
 * Config space (12 bytes): jacks, streams, chmaps (le32 each). No feature is
 * asked for (VIRTIO_SND_F_CTLS of later revisions needs a 16-byte space).
 *
 * A control request is one chain: the device-readable request, then the
 * device-writable response, whose first le32 is the status
 * (VIRTIO_SND_S_OK 0x8000) followed by the items an *_INFO request asked
 * for. The driver queries every item the config space announces:
 *
 *   VIRTIO_SND_R_PCM_INFO    virtio_snd_query_info { hdr.code, start_id,
 *                            count, size } (16 bytes) -> count x
 *                            virtio_snd_pcm_info { hda_fn_nid, features,
 *                            le64 formats, le64 rates, direction,
 *                            channels_min, channels_max, padding[5] } (32)
 *   VIRTIO_SND_R_CHMAP_INFO  -> virtio_snd_chmap_info { hda_fn_nid,
 *                            direction, channels, positions[18] } (24)
 *   VIRTIO_SND_R_JACK_INFO   -> virtio_snd_jack_info (24)
 *
 * and checks each stream: direction OUTPUT (0) or INPUT (1), a non-empty
 * set of known formats (bits 0..24) and rates (bits 0..13), 1 <=
 * channels_min <= channels_max. Then the first output stream plays silence:
 * PCM_SET_PARAMS (virtio_snd_pcm_set_params: pcm_hdr { code, stream_id },
 * buffer_bytes, period_bytes, features, channels, format, rate, padding;
 * 24 bytes), PCM_PREPARE, PCM_START (virtio_snd_pcm_hdr, 8 bytes), PERIODS
 * periods on txq (virtio_snd_pcm_xfer { stream_id }, the samples, then the
 * device-writable virtio_snd_pcm_status { status, latency_bytes }), PCM_STOP,
 * PCM_RELEASE; every status must be VIRTIO_SND_S_OK.
 */
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "vdpa-driver/driver.h"

#define SOUND_DEVICE_ID 25u
#define CTRL_RING       0u
#define TX_RING         2u
#define CFG_JACKS       0
#define CFG_STREAMS     4
#define CFG_CHMAPS      8
#define CFG_SIZE        12u
#define ITEMS_MAX       64u /* more jacks, streams or maps than this is not a sane device */

/* Request codes and statuses (virtio_snd.h). */
#define R_JACK_INFO      1u
#define R_PCM_INFO       0x0100u
#define R_PCM_SET_PARAMS 0x0101u
#define R_PCM_PREPARE    0x0102u
#define R_PCM_RELEASE    0x0103u
#define R_PCM_START      0x0104u
#define R_PCM_STOP       0x0105u
#define R_CHMAP_INFO     0x0200u
#define S_OK             0x8000u
#define D_OUTPUT         0u
#define D_INPUT          1u

/* Item sizes and field offsets. */
#define HDR_SIZE        4u  /* virtio_snd_hdr */
#define QUERY_SIZE      16u /* virtio_snd_query_info */
#define PCM_INFO_SIZE   32u
#define CHMAP_INFO_SIZE 24u
#define JACK_INFO_SIZE  24u
#define PCM_HDR_SIZE    8u /* virtio_snd_pcm_hdr */
#define SET_PARAMS_SIZE 24u
#define XFER_SIZE       4u /* virtio_snd_pcm_xfer */
#define PCM_STATUS_SIZE 8u /* virtio_snd_pcm_status */
#define SP_CHANNELS     20 /* virtio_snd_pcm_set_params */
#define SP_FORMAT       21
#define SP_RATE         22
#define PI_FORMATS      8
#define PI_RATES        16
#define PI_DIRECTION    24
#define PI_CH_MIN       25
#define PI_CH_MAX       26
#define CM_DIRECTION    4
#define CM_CHANNELS     5
#define CHMAP_MAX_SIZE  18u
#define FMT_COUNT       25u /* IMA_ADPCM (0) .. IEC958_SUBFRAME (24) */
#define RATE_COUNT      14u /* 5512 (0) .. 384000 (13) */
#define FMT_S8          3u
#define FMT_U8          4u
#define FMT_S16         5u
#define FMT_U16         6u
#define FMT_S32         17u
#define FMT_U32         18u
#define FMT_FLOAT       19u
#define RATE_48000      7u
#define S16_BYTES       2u
#define PERIOD_FRAMES   256u
#define PERIODS_IN_BUF  4u
#define PERIODS         4u /* periods of silence played */

/* Bytes per sample of the formats the playback may choose (0: not chosen). */
static unsigned sample_bytes(unsigned format)
{
    static const unsigned bytes[FMT_COUNT] = {
        [FMT_S8] = 1,  [FMT_U8] = 1,  [FMT_S16] = 2,  [FMT_U16] = 2,
        [FMT_S32] = 4, [FMT_U32] = 4, [FMT_FLOAT] = 4
    };

    return format < FMT_COUNT ? bytes[format] : 0;
}

static uint64_t sound_features(const struct options *o)
{
    (void)o;
    return 0;
}

static int sound_configure(struct driver *d)
{
    const uint8_t *c = d->config;
    uint32_t jacks = cfg_le32(c + CFG_JACKS), streams = cfg_le32(c + CFG_STREAMS);
    uint32_t chmaps = cfg_le32(c + CFG_CHMAPS);

    if (d->config_size < CFG_SIZE) {
        vs_err("virtio-sound config space is %llu bytes, expected %u",
               (unsigned long long)d->config_size, CFG_SIZE);
        return -1;
    }
    printf("vdpa-driver: config: jacks %u, streams %u, chmaps %u\n", jacks, streams, chmaps);
    if (streams == 0 || streams > ITEMS_MAX || jacks > ITEMS_MAX || chmaps > ITEMS_MAX) {
        vs_err("virtio-sound: %u streams, %u jacks, %u chmaps: want 1..%u streams and at most "
               "%u of the others",
               streams, jacks, chmaps, ITEMS_MAX, ITEMS_MAX);
        return -1;
    }
    return drv_use_ring(d, CTRL_RING) || drv_use_ring(d, TX_RING) ? -1 : 0;
}

static const char *code_name(uint32_t code)
{
    switch (code) {
    case R_JACK_INFO:
        return "JACK_INFO";
    case R_PCM_INFO:
        return "PCM_INFO";
    case R_PCM_SET_PARAMS:
        return "PCM_SET_PARAMS";
    case R_PCM_PREPARE:
        return "PCM_PREPARE";
    case R_PCM_RELEASE:
        return "PCM_RELEASE";
    case R_PCM_START:
        return "PCM_START";
    case R_PCM_STOP:
        return "PCM_STOP";
    case R_CHMAP_INFO:
        return "CHMAP_INFO";
    default:
        return "?";
    }
}

/* One control request `req` (its first le32 is the code) with a response of
 * HDR_SIZE + `extra` bytes into `resp`; 0 when the status is S_OK and the
 * device wrote the whole response. */
static int control(struct driver *d, const uint8_t *req, uint32_t req_len, uint8_t *resp,
                   uint32_t extra)
{
    uint32_t code = cfg_le32(req), status, used;
    uint8_t *out = drv_alloc(d, req_len, 8);
    struct vq_buf b[2];

    if (!out)
        return -1;
    memcpy(out, req, req_len);
    memset(resp, 0xff, HDR_SIZE + extra);
    b[0] = (struct vq_buf){ dma_gpa(&d->mem, out), req_len, false };
    b[1] = (struct vq_buf){ dma_gpa(&d->mem, resp), HDR_SIZE + extra, true };
    if (drv_exchange(d, CTRL_RING, b, 2, &used, code_name(code)))
        return -1;
    status = cfg_le32(resp);
    if (status != S_OK) {
        vs_err("sound: %s: status 0x%x, expected VIRTIO_SND_S_OK (0x%x)", code_name(code), status,
               S_OK);
        return -1;
    }
    if (used < HDR_SIZE + extra) {
        vs_err("sound: %s: the device wrote %u bytes, the response has %u", code_name(code), used,
               HDR_SIZE + extra);
        return -1;
    }
    return 0;
}

/* An *_INFO request for items 0..count-1 of `size` bytes each; the items
 * follow the status in `resp`. */
static int query_info(struct driver *d, uint32_t code, uint32_t count, uint32_t size, uint8_t *resp)
{
    uint8_t q[QUERY_SIZE];
    uint32_t f[4] = { htole32(code), 0, htole32(count), htole32(size) };

    memcpy(q, f, sizeof(q));
    return control(d, q, sizeof(q), resp, count * size);
}

/* A request with virtio_snd_pcm_hdr only (PREPARE, START, STOP, RELEASE). */
static int pcm_simple(struct driver *d, uint32_t code, uint32_t stream)
{
    uint32_t f[2] = { htole32(code), htole32(stream) };
    uint8_t q[PCM_HDR_SIZE], *resp = drv_alloc(d, HDR_SIZE, 4);

    memcpy(q, f, sizeof(q));
    return resp ? control(d, q, sizeof(q), resp, 0) : -1;
}

/* Decodes and checks stream i's virtio_snd_pcm_info at p. */
static int check_stream(unsigned i, const uint8_t *p)
{
    uint64_t formats = cfg_le64(p + PI_FORMATS), rates = cfg_le64(p + PI_RATES);
    unsigned dir = p[PI_DIRECTION], ch_min = p[PI_CH_MIN], ch_max = p[PI_CH_MAX];

    printf("vdpa-driver: sound: stream %u: %s, formats 0x%llx, rates 0x%llx, channels %u..%u\n", i,
           dir == D_OUTPUT  ? "output"
           : dir == D_INPUT ? "input"
                            : "?",
           (unsigned long long)formats, (unsigned long long)rates, ch_min, ch_max);
    if (dir != D_OUTPUT && dir != D_INPUT) {
        vs_err("sound: stream %u: direction %u is neither output (0) nor input (1)", i, dir);
        return -1;
    }
    if (!formats || formats >> FMT_COUNT || !rates || rates >> RATE_COUNT) {
        vs_err("sound: stream %u: formats 0x%llx or rates 0x%llx empty or with unknown bits", i,
               (unsigned long long)formats, (unsigned long long)rates);
        return -1;
    }
    if (ch_min < 1 || ch_min > ch_max) {
        vs_err("sound: stream %u: channels %u..%u", i, ch_min, ch_max);
        return -1;
    }
    return 0;
}

/* Channel maps and jacks: the device answers for every one it announced. */
static int query_maps_and_jacks(struct driver *d, uint32_t chmaps, uint32_t jacks)
{
    uint8_t *resp = drv_alloc(d, HDR_SIZE + ITEMS_MAX * CHMAP_INFO_SIZE, 8);

    if (!resp)
        return -1;
    if (chmaps && query_info(d, R_CHMAP_INFO, chmaps, CHMAP_INFO_SIZE, resp))
        return -1;
    for (uint32_t i = 0; i < chmaps; i++) {
        const uint8_t *m = resp + HDR_SIZE + i * CHMAP_INFO_SIZE;

        printf("vdpa-driver: sound: chmap %u: %s, %u channels\n", i,
               m[CM_DIRECTION] == D_OUTPUT ? "output" : "input", m[CM_CHANNELS]);
        if (m[CM_DIRECTION] > D_INPUT || m[CM_CHANNELS] > CHMAP_MAX_SIZE) {
            vs_err("sound: chmap %u: direction %u, %u channels", i, m[CM_DIRECTION],
                   m[CM_CHANNELS]);
            return -1;
        }
    }
    _Static_assert(JACK_INFO_SIZE <= CHMAP_INFO_SIZE, "one response buffer for both");
    if (jacks && query_info(d, R_JACK_INFO, jacks, JACK_INFO_SIZE, resp))
        return -1;
    return 0;
}

/* The playback parameters for the output stream at p: S16 at 48 kHz when
 * offered, else the lowest offered format this driver knows the size of and
 * the lowest rate; channels_min channels. 0, or -1 when no format fits. */
static int choose_params(const uint8_t *p, unsigned *format, unsigned *rate, unsigned *channels)
{
    uint64_t formats = cfg_le64(p + PI_FORMATS), rates = cfg_le64(p + PI_RATES);

    *format = FMT_COUNT;
    if (formats & (1ull << FMT_S16))
        *format = FMT_S16;
    for (unsigned f = 0; f < FMT_COUNT && *format == FMT_COUNT; f++)
        if (formats & (1ull << f) && sample_bytes(f))
            *format = f;
    *rate = rates & (1ull << RATE_48000) ? RATE_48000 : (unsigned)__builtin_ctzll(rates);
    *channels = p[PI_CH_MIN];
    return *format == FMT_COUNT ? -1 : 0;
}

/* PERIODS periods of silence on txq for `stream`. */
static int play_silence(struct driver *d, uint32_t stream, uint32_t period)
{
    uint8_t *xfer = drv_alloc(d, XFER_SIZE, 4), *pcm = drv_alloc(d, period, 8);
    uint8_t *status = drv_alloc(d, PCM_STATUS_SIZE, 4);
    uint32_t id = htole32(stream), used;

    if (!xfer || !pcm || !status)
        return -1;
    memcpy(xfer, &id, sizeof(id));
    for (unsigned k = 0; k < PERIODS; k++) {
        struct vq_buf b[3] = {
            { dma_gpa(&d->mem, xfer), XFER_SIZE, false },
            { dma_gpa(&d->mem, pcm), period, false },
            { dma_gpa(&d->mem, status), PCM_STATUS_SIZE, true },
        };

        memset(status, 0xff, PCM_STATUS_SIZE);
        if (drv_exchange(d, TX_RING, b, 3, &used, "sound: period on txq"))
            return -1;
        if (cfg_le32(status) != S_OK || used < PCM_STATUS_SIZE) {
            vs_err("sound: period %u: status 0x%x (used %u bytes), expected 0x%x", k,
                   cfg_le32(status), used, S_OK);
            return -1;
        }
    }
    return 0;
}

/* SET_PARAMS, PREPARE, START, silence, STOP, RELEASE on output stream
 * `stream` described by p. */
static int playback(struct driver *d, uint32_t stream, const uint8_t *p)
{
    unsigned format, rate, channels;
    uint32_t period, f[5];
    uint8_t q[SET_PARAMS_SIZE], *resp = drv_alloc(d, HDR_SIZE, 4);

    if (!resp)
        return -1;
    if (choose_params(p, &format, &rate, &channels)) {
        vs_err("sound: stream %u offers no PCM format this driver can size", stream);
        return -1;
    }
    period = PERIOD_FRAMES * channels * sample_bytes(format);
    f[0] = htole32(R_PCM_SET_PARAMS);
    f[1] = htole32(stream);
    f[2] = htole32(period * PERIODS_IN_BUF); /* buffer_bytes */
    f[3] = htole32(period);                  /* period_bytes */
    f[4] = 0;                                /* features */
    memcpy(q, f, sizeof(f));
    q[SP_CHANNELS] = (uint8_t)channels;
    q[SP_FORMAT] = (uint8_t)format;
    q[SP_RATE] = (uint8_t)rate;
    q[SP_RATE + 1] = 0; /* padding */
    if (control(d, q, sizeof(q), resp, 0) || pcm_simple(d, R_PCM_PREPARE, stream) ||
        pcm_simple(d, R_PCM_START, stream) || play_silence(d, stream, period) ||
        pcm_simple(d, R_PCM_STOP, stream) || pcm_simple(d, R_PCM_RELEASE, stream))
        return -1;
    printf("vdpa-driver: sound: stream %u: format %u, rate %u, %u channels: %u periods of %u "
           "bytes played\n",
           stream, format, rate, channels, PERIODS, period);
    return 0;
}

static int sound_run(struct driver *d)
{
    uint32_t jacks = cfg_le32(d->config + CFG_JACKS), streams = cfg_le32(d->config + CFG_STREAMS);
    uint32_t chmaps = cfg_le32(d->config + CFG_CHMAPS), outputs = 0, out_id = 0;
    uint8_t *resp = drv_alloc(d, HDR_SIZE + streams * PCM_INFO_SIZE, 8);

    if (!resp || query_info(d, R_PCM_INFO, streams, PCM_INFO_SIZE, resp))
        return -1;
    for (uint32_t i = 0; i < streams; i++) {
        const uint8_t *p = resp + HDR_SIZE + i * PCM_INFO_SIZE;

        if (check_stream(i, p))
            return -1;
        if (p[PI_DIRECTION] == D_OUTPUT && outputs++ == 0)
            out_id = i;
    }
    if (query_maps_and_jacks(d, chmaps, jacks))
        return -1;
    if (!outputs) {
        snprintf(d->summary, sizeof(d->summary),
                 "sound: %u streams described, status OK; no output stream to play", streams);
        return 0;
    }
    if (playback(d, out_id, resp + HDR_SIZE + out_id * PCM_INFO_SIZE))
        return -1;
    snprintf(d->summary, sizeof(d->summary),
             "sound: %u streams, %u chmaps, %u jacks described; stream %u played %u periods: "
             "all status OK",
             streams, chmaps, jacks, out_id, PERIODS);
    return 0;
}

const struct drv_type drv_type_sound = {
    .name = "sound",
    .device_id = SOUND_DEVICE_ID,
    .features = sound_features,
    .configure = sound_configure,
    .run = sound_run,
};
