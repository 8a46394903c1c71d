/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the hash etcdctl snapshot status
 * prints. A byte-at-a-time table: status walks a file once, speed is not the point. */
#include "bolt.h"
#include "common.h"

#include <pthread.h>

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t bolt_crc32c(uint32_t crc, const void *p, size_t n)
{
    CAIRN_ASSERT(p != NULL || n == 0);
    pthread_once(&crc_once, crc_table_init);
    CAIRN_ASSERT(crc_table[128] == 0x82F63B78u); /* 0x80 reaches the top bit: the poly */
    const uint8_t *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ b[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}
