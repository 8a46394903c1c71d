/*
 * crc32c.h — CRC-32C (Castagnoli), the checksum etcd uses for HashKV and `snapshot status`.
 *
 * Promises: one implementation for every module; the SSE4.2 crc32 instruction when the CPU
 * has it (checked once at run time), a table otherwise, with identical results.
 * Never: allocates.
 */
#ifndef CAIRN_CRC32C_H
#define CAIRN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Chained: crc = cairn_crc32c(crc, p, n), starting from 0. p may be NULL when n is 0. */
uint32_t cairn_crc32c(uint32_t crc, const void *p, size_t n);

/* The table path alone (tests compare it with the hardware path). */
uint32_t cairn_crc32c_table(uint32_t crc, const void *p, size_t n);

#endif /* CAIRN_CRC32C_H */
