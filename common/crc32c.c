/* CRC-32C: the crc32 instruction of SSE4.2 where present, else a byte-at-a-time table. */
#include "crc32c.h"

#include "common.h"

#include <pthread.h>
#include <string.h>

#define CRC32C_POLY 0x82F63B78u /* Castagnoli, reflected */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC32C_HAVE_HW 1
__attribute__((target("sse4.2"))) static uint32_t crc_hw_update(uint32_t crc, const uint8_t *p,
                                                                size_t n)
{
    uint64_t c = crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, sizeof(v)); /* unaligned-safe */
        c = __builtin_ia32_crc32di(c, v);
    }
    uint32_t c32 = (uint32_t)c;
    for (; n > 0; n--, p++)
        c32 = __builtin_ia32_crc32qi(c32, *p);
    return c32;
}
#endif

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc_table[i] = c;
    }
#ifdef CRC32C_HAVE_HW
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

uint32_t cairn_crc32c_table(uint32_t crc, const void *p, size_t n)
{
    CAIRN_ASSERT(p != NULL || n == 0);
    pthread_once(&crc_once, crc_init);
    CAIRN_ASSERT(crc_table[128] == CRC32C_POLY); /* 0x80 reaches the top bit: the poly */
    const uint8_t *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ b[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

uint32_t cairn_crc32c(uint32_t crc, const void *p, size_t n)
{
    CAIRN_ASSERT(p != NULL || n == 0);
    pthread_once(&crc_once, crc_init);
#ifdef CRC32C_HAVE_HW
    if (crc_hw)
        return ~crc_hw_update(~crc, p, n);
#endif
    return cairn_crc32c_table(crc, p, n);
}
