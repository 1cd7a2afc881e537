/*
 * The two passes of the decode 64 KiB row, without any library: each 65 550-byte frame
 * (a 14-byte header and a 64 KiB payload) is read as the comparison's driver reads it (a
 * 64 KiB copy, then the last 14 bytes) into one reused buffer, and its payload is unmasked
 * in place. 512 frames, 33.5 MB of input, read in turn; 20 passes a measurement.
 *
 *   gcc -O2 -march=native -o /tmp/copy_unmask benches/compare/copy_unmask.c
 *   /tmp/copy_unmask MODE
 *
 * MODE: 0 copy only; 1 copy, then unmask front to back (AVX-512); 2 copy, then unmask back to
 * front; 3 copy with AVX-512 stores instead of glibc's memcpy, then unmask; 4 copy, then
 * ~1 us of arithmetic; 5 copy, then unmask another 64 KiB buffer that stays in cache; 6 and
 * 7 read the frame in 16 KiB or 8 KiB pieces, each unmasked right after its copy (in L1);
 * 8 the copy and the unmask fused (AVX-512 loads, XOR, stores), as `handle_read` does; 9 the
 * same, asking for the destination's lines 2 KiB ahead (prefetchw); 10 fused with AVX2.
 * Prints ns per frame for the buffer at several offsets in a cache line. Needs AVX-512F.
 * See NOTES.md (2026-12-05) for what it showed.
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FRAME 65550
#define PAYLOAD 65536
#define FRAMES 512
#define PASSES 20

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

__attribute__((noinline)) static void unmask(uint8_t *p, size_t n, uint32_t key) {
    __m512i k = _mm512_set1_epi32((int)key);
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        _mm512_storeu_si512(p + i, _mm512_xor_si512(_mm512_loadu_si512(p + i), k));
    for (; i < n; i++) p[i] ^= (uint8_t)(key >> (8 * (i & 3)));
}

__attribute__((noinline)) static void unmask_back(uint8_t *p, size_t n, uint32_t key) {
    __m512i k = _mm512_set1_epi32((int)key);
    size_t i = n;
    while (i >= 64) {
        i -= 64;
        _mm512_storeu_si512(p + i, _mm512_xor_si512(_mm512_loadu_si512(p + i), k));
    }
    for (size_t j = 0; j < i; j++) p[j] ^= (uint8_t)(key >> (8 * (j & 3)));
}

__attribute__((noinline)) static void copy512(uint8_t *d, const uint8_t *s, size_t n) {
    size_t i = 0;
    for (; i + 64 <= n; i += 64) _mm512_storeu_si512(d + i, _mm512_loadu_si512(s + i));
    for (; i < n; i++) d[i] = s[i];
}

/* The fused copy and unmask; with `prefetch`, asking for the destination 2 KiB ahead. */
__attribute__((noinline)) static void copy_unmask(uint8_t *d, const uint8_t *s, size_t n,
                                                   uint32_t key, int prefetch) {
    __m512i k = _mm512_set1_epi32((int)key);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        if (prefetch) _mm_prefetch((const char *)(d + i + 2048), _MM_HINT_ET0);
        _mm512_storeu_si512(d + i, _mm512_xor_si512(_mm512_loadu_si512(s + i), k));
    }
    for (; i < n; i++) d[i] = s[i] ^ (uint8_t)(key >> (8 * (i & 3)));
}

__attribute__((noinline)) static void copy_unmask256(uint8_t *d, const uint8_t *s, size_t n,
                                                      uint32_t key) {
    __m256i k = _mm256_set1_epi32((int)key);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(s + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(s + i + 32));
        _mm256_storeu_si256((__m256i *)(d + i), _mm256_xor_si256(a, k));
        _mm256_storeu_si256((__m256i *)(d + i + 32), _mm256_xor_si256(b, k));
    }
    for (; i < n; i++) d[i] = s[i] ^ (uint8_t)(key >> (8 * (i & 3)));
}

int main(int argc, char **argv) {
    int mode = argc > 1 ? atoi(argv[1]) : 1;
    uint8_t *src = aligned_alloc(4096, (size_t)FRAME * FRAMES + 4096);
    uint8_t *big = aligned_alloc(4096, 1 << 20);
    if (!src || !big) return 1;
    for (size_t i = 0; i < (size_t)FRAME * FRAMES; i++) src[i] = (uint8_t)(i * 7);
    memset(big, 0, 1 << 20);
    const int offsets[] = {0, 16, 32, 48, 14, 62};
    volatile uint8_t sink = 0;
    for (int rep = 0; rep < 3; rep++) {
        for (size_t o = 0; o < sizeof offsets / sizeof offsets[0]; o++) {
            uint8_t *dst = big + 4096 + offsets[o];
            double t0 = now();
            for (int pass = 0; pass < PASSES; pass++) {
                for (int f = 0; f < FRAMES; f++) {
                    const uint8_t *s = src + (size_t)f * FRAME;
                    if (mode == 6 || mode == 7) {
                        size_t piece = mode == 6 ? 16384 : 8192;
                        memcpy(dst, s, 14);
                        for (size_t at = 14; at < FRAME; at += piece) {
                            size_t n = FRAME - at < piece ? FRAME - at : piece;
                            memcpy(dst + at, s + at, n);
                            unmask(dst + at, n, 0x12345678u);
                        }
                        sink += dst[14];
                        continue;
                    }
                    if (mode == 8 || mode == 9 || mode == 10) {
                        memcpy(dst, s, 14);
                        if (mode == 8) copy_unmask(dst + 14, s + 14, PAYLOAD, 0x12345678u, 0);
                        if (mode == 9) copy_unmask(dst + 14, s + 14, PAYLOAD, 0x12345678u, 1);
                        if (mode == 10) copy_unmask256(dst + 14, s + 14, PAYLOAD, 0x12345678u);
                        sink += dst[14];
                        continue;
                    }
                    if (mode == 3) copy512(dst, s, PAYLOAD);
                    else memcpy(dst, s, PAYLOAD);
                    memcpy(dst + PAYLOAD, s + PAYLOAD, FRAME - PAYLOAD);
                    if (mode == 1 || mode == 3) unmask(dst + 14, PAYLOAD, 0x12345678u);
                    if (mode == 2) unmask_back(dst + 14, PAYLOAD, 0x12345678u);
                    if (mode == 4) {
                        uint64_t a = sink;
                        for (int j = 0; j < 1500; j++) a = a * 6364136223846793005ull + 1;
                        sink += (uint8_t)a;
                    }
                    if (mode == 5) unmask(big + 200000, PAYLOAD, 0x12345678u);
                    sink += dst[14];
                }
            }
            double t = now() - t0;
            printf("mode %d offset %2d: %.0f ns a frame\n", mode, offsets[o],
                   t * 1e9 / (PASSES * FRAMES));
        }
    }
    return 0;
}
