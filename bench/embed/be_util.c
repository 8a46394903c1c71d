/* bench_embed helpers: histogram, keys and values, the fdatasync counter, RSS, temp dirs. */
#include "bench_embed.h"

#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- latency histogram ---- */

static size_t bucket_of(uint64_t ns)
{
    if (ns < 2 * BE_HIST_SUB)
        return (size_t)ns;
    int msb = 63 - __builtin_clzll(ns);
    int e = msb - 5; /* (ns >> e) is in [32, 64) */
    size_t i = (size_t)e * BE_HIST_SUB + (size_t)(ns >> e);
    return i < BE_HIST_BUCKETS ? i : BE_HIST_BUCKETS - 1;
}

/* The middle of bucket i, in ns. */
static double bucket_mid_ns(size_t i)
{
    if (i < 2 * BE_HIST_SUB)
        return (double)i;
    size_t e = i / BE_HIST_SUB - 1;
    double lo = (double)((uint64_t)(i % BE_HIST_SUB + BE_HIST_SUB) << e);
    return lo + (double)(1ULL << e) / 2;
}

void be_hist_add(struct be_hist *h, uint64_t ns, uint64_t weight)
{
    CAIRN_ASSERT(h != NULL);
    size_t i = bucket_of(ns);
    CAIRN_ASSERT(i < BE_HIST_BUCKETS);
    h->b[i] += weight;
    h->n += weight;
}

void be_hist_merge(struct be_hist *into, const struct be_hist *from)
{
    CAIRN_ASSERT(into != NULL && from != NULL);
    for (size_t i = 0; i < BE_HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->n += from->n;
}

double be_hist_quantile_us(const struct be_hist *h, double q)
{
    CAIRN_ASSERT(q > 0 && q < 1);
    if (h->n == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->n) + 1, seen = 0;
    if (want > h->n)
        want = h->n;
    for (size_t i = 0; i < BE_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want)
            return bucket_mid_ns(i) / 1000.0;
    }
    CAIRN_ASSERT(0 && "histogram count does not match its buckets");
    return 0;
}

/* ---- time, keys, values ---- */

double be_now_s(void)
{
    return (double)be_now_ns() / 1e9;
}

uint64_t be_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void be_key(uint64_t i, char out[BE_KEY_BYTES])
{
    CAIRN_ASSERT(i < (1ULL << 60));
    /* multiplying by an odd constant is a bijection modulo 2^60 */
    uint64_t x = (i * 0x9E3779B97F4A7C15ULL) & ((1ULL << 60) - 1);
    static const char hex[] = "0123456789abcdef";
    out[0] = 'k';
    for (int d = BE_KEY_BYTES - 1; d >= 1; d--) {
        out[d] = hex[x & 15];
        x >>= 4;
    }
    CAIRN_ASSERT(x == 0);
}

void be_value(uint64_t i, uint8_t *out, size_t value_bytes)
{
    CAIRN_ASSERT(out != NULL || value_bytes == 0);
    for (size_t j = 0; j < value_bytes; j++)
        out[j] = (uint8_t)('a' + (i + j) % 26);
    if (value_bytes >= sizeof(i))
        memcpy(out, &i, sizeof(i));
}

int be_value_ok(uint64_t i, const uint8_t *v, size_t len, size_t value_bytes)
{
    if (len != value_bytes || (len > 0 && v == NULL))
        return 0;
    if (len >= sizeof(i)) {
        uint64_t got;
        memcpy(&got, v, sizeof(got));
        return got == i;
    }
    return len == 0 || v[0] == (uint8_t)('a' + i % 26);
}

uint64_t be_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

/* ---- the sync counter ----
 * LMDB (0.9.24, default flags) makes a write commit durable with one fdatasync of the data
 * file, then writes the meta page through an O_DSYNC descriptor. Defining fdatasync here
 * makes liblmdb.so's calls bind to this one (the executable comes first in symbol lookup),
 * so every commit of cairn's store and of the raw LMDB phases is counted the same way.
 * bench_embed.c checks the count against the LMDB transaction id of cairn's data file. */
static atomic_uint_fast64_t g_syncs;

int fdatasync(int fd)
{
    atomic_fetch_add_explicit(&g_syncs, 1, memory_order_relaxed);
    return (int)syscall(SYS_fdatasync, fd);
}

uint64_t be_syncs(void)
{
    return atomic_load(&g_syncs);
}

/* ---- CPU, RSS ---- */

struct be_cpu be_cpu_now(void)
{
    struct rusage ru;
    CAIRN_ASSERT(getrusage(RUSAGE_SELF, &ru) == 0);
    struct be_cpu c = {(double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
                       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6};
    return c;
}

void be_cpu_per_op(const struct be_cpu *start, uint64_t ops, struct be_result *out)
{
    CAIRN_ASSERT(start != NULL && out != NULL);
    struct be_cpu now = be_cpu_now();
    double n = (double)(ops ? ops : 1);
    out->usr_us_per_op = (now.usr_s - start->usr_s) * 1e6 / n;
    out->sys_us_per_op = (now.sys_s - start->sys_s) * 1e6 / n;
}

static uint64_t status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    uint64_t kb = 0;
    size_t flen = strlen(field);
    for (int i = 0; i < 200 && fgets(line, sizeof(line), f); i++) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            kb = strtoull(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

uint64_t be_disk_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f)
        return 0;
    char line[128];
    uint64_t n = 0;
    for (int i = 0; i < 16 && fgets(line, sizeof(line), f); i++) {
        if (strncmp(line, "write_bytes:", 12) == 0) {
            n = strtoull(line + 12, NULL, 10);
            break;
        }
    }
    fclose(f);
    return n;
}

/* Resident anonymous bytes: statm's resident minus its shared (file-backed) pages. */
static uint64_t anon_bytes(void)
{
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0)
        return 0;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    unsigned long long size, resident, shared;
    if (sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) != 3 || shared > resident)
        return 0;
    return (uint64_t)(resident - shared) * (uint64_t)sysconf(_SC_PAGESIZE);
}

static struct {
    pthread_t thread;
    atomic_int run;
    atomic_uint_fast64_t anon_peak;
} g_mem;

static void anon_note(void)
{
    uint64_t a = anon_bytes(), p = atomic_load(&g_mem.anon_peak);
    while (a > p && !atomic_compare_exchange_weak(&g_mem.anon_peak, &p, a))
        ;
}

static void *sampler(void *arg)
{
    (void)arg;
    /* bounded by be_mem_stop (and, as a backstop, a day of samples) */
    for (long i = 0; atomic_load(&g_mem.run) && i < 24L * 3600 * 100; i++) {
        anon_note();
        struct timespec d = {0, 10 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    return NULL;
}

void be_mem_start(void)
{
    CAIRN_ASSERT(!atomic_load(&g_mem.run));
    atomic_store(&g_mem.run, 1);
    if (pthread_create(&g_mem.thread, NULL, sampler, NULL) != 0)
        be_die("pthread_create (memory sampler)");
}

void be_mem_stop(void)
{
    CAIRN_ASSERT(atomic_load(&g_mem.run));
    atomic_store(&g_mem.run, 0);
    pthread_join(g_mem.thread, NULL);
}

void be_mem_begin(struct be_result *out)
{
    CAIRN_ASSERT(out != NULL);
    /* "5" resets VmHWM to the current RSS (Linux 4.0+); without it the peak is cumulative */
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    if (fd >= 0) {
        if (write(fd, "5", 1) != 1)
            fprintf(stderr, "bench_embed: could not reset the RSS peak\n");
        close(fd);
    }
    atomic_store(&g_mem.anon_peak, 0);
    anon_note();
    out->rss_start_bytes = status_kb("VmRSS") * 1024;
}

void be_mem_end(struct be_result *out)
{
    CAIRN_ASSERT(out != NULL);
    anon_note();
    out->anon_peak_bytes = atomic_load(&g_mem.anon_peak);
    /* VmHWM is brought up to date lazily: the peak is at least what was seen */
    out->rss_peak_bytes = status_kb("VmHWM") * 1024;
    if (out->rss_peak_bytes < out->rss_start_bytes)
        out->rss_peak_bytes = out->rss_start_bytes;
}

/* ---- temp dirs, errors ---- */

char *be_mkdtemp(const char *base, const char *tag)
{
    size_t n = strlen(base) + strlen(tag) + 64;
    char *p = malloc(n);
    CAIRN_ASSERT(p != NULL);
    snprintf(p, n, "%s/cairn-bench-embed-%s-XXXXXX", base, tag);
    if (mkdtemp(p) == NULL)
        be_die("cannot create a directory under %s", base);
    return p;
}

void be_rmtree(char *dir)
{
    CAIRN_ASSERT(dir != NULL && strstr(dir, "cairn-bench-embed-") != NULL);
    size_t n = strlen(dir) + 32;
    char *cmd = malloc(n);
    CAIRN_ASSERT(cmd != NULL);
    snprintf(cmd, n, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_embed: could not remove %s\n", dir);
    free(cmd);
    free(dir);
}

void be_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_embed: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}
