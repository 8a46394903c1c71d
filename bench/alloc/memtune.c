/*
 * memtune — the heap_percent / memory_limit trade-off on a synthetic server-like load,
 * measured the way the Go world measures GOGC: reclaim cycles per minute, pause p99, peak
 * RSS and throughput.
 *
 * The load (per run, in one process):
 *  - 2 worker threads ("gRPC threads"), registered with alloc/, each in a loop:
 *    draw a request size (64 B .. 128 KiB, mean ≈ 1.7 KiB), ask alloc_admit for room,
 *    decode-like work in a request arena (fill + checksum, then reset), keep the request
 *    in a sliding window of live requests (the oldest is freed), and append a copy to the
 *    thread's entry cache (the "raft entry cache": kept until the reclaimer trims it),
 *    then alloc_thread_poll(). A refused admission skips the operation, but the oldest
 *    live request still completes (is freed), as in-flight work does in a server.
 *  - the main thread is the node loop: alloc_maybe_reclaim() every millisecond.
 *  - a sampler thread reads /proc/self/statm every 10 ms.
 * The caches register release callbacks that drop their oldest entries, so what stays
 * live after a cycle is about the windows; heap_percent sets how far the caches may grow
 * past that before the next cycle, and memory_limit caps the whole process.
 *
 *   memtune --table [--runs 5] [--seconds 10] [--live-mib 64] [--limit 256MiB]
 *       runs heap_percent 100, 500, and 500 + limit, each --runs times in a fresh process,
 *       and prints the medians; with a limit it checks that no RSS sample exceeds
 *       limit × 1.05.
 *   memtune --heap-percent P [--memory-limit L] [--seconds S] [--live-mib M]
 *       one run; prints a RESULT line.
 */
#include "alloc.h"
#include "common.h"

#include <mimalloc.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKERS      2
#define SAMPLE_NS    (10 * 1000000L)
#define NODE_TICK_NS (1 * 1000000L)
#define MAX_SAMPLES  100000
#define CACHE_KEEP   64 /* entries a cache keeps however hard it is asked */
#define MiB          (1024.0 * 1024.0)

struct options {
    int32_t heap_percent;
    int64_t memory_limit;
    double seconds;
    unsigned live_mib;
    unsigned runs;
    bool table;
    bool trace; /* print heap, goal and RSS every 100 ms to stderr */
    const char *limit_text;
};

/* ------------------------------------------------------------------ the entry cache -- */

struct entry {
    struct entry *next;
    size_t size;
};

struct cache {
    pthread_mutex_t mu;
    struct entry *head, *tail; /* oldest first */
    size_t n;
};

static size_t cache_release(void *arg, size_t wanted)
{
    struct cache *c = arg;
    size_t released = 0;
    pthread_mutex_lock(&c->mu);
    while (released < wanted && c->n > CACHE_KEEP) {
        struct entry *e = c->head;
        c->head = e->next;
        if (c->head == NULL)
            c->tail = NULL;
        c->n--;
        released += mi_usable_size(e); /* what alloc_free credits */
        alloc_free(ALLOC_SUBSYS_RAFT_ENTRY_CACHE, e);
    }
    pthread_mutex_unlock(&c->mu);
    return released;
}

static void cache_append(struct cache *c, struct entry *e)
{
    e->next = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->tail != NULL)
        c->tail->next = e;
    else
        c->head = e;
    c->tail = e;
    c->n++;
    pthread_mutex_unlock(&c->mu);
}

static void cache_clear(struct cache *c)
{
    while (c->head != NULL) {
        struct entry *e = c->head;
        c->head = e->next;
        alloc_free(ALLOC_SUBSYS_RAFT_ENTRY_CACHE, e);
    }
    c->tail = NULL;
    c->n = 0;
}

/* ------------------------------------------------------------------ workers --------- */

struct worker {
    pthread_t tid;
    unsigned id;
    uint64_t rng;
    size_t window_bytes; /* live requests kept by this worker */
    struct cache cache;
    uint64_t ops, refused;
    uint64_t checksum;
};

static atomic_bool stop;

static uint64_t next_rand(uint64_t *s)
{
    /* xorshift64*: deterministic per worker, good enough for sizes */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Request sizes like an etcd server's: mostly small puts, some larger values. */
static size_t draw_size(uint64_t *rng)
{
    uint64_t r = next_rand(rng);
    unsigned bucket = (unsigned)(r % 100);
    uint64_t x = r >> 8;
    if (bucket < 60)
        return 64 + x % 448; /* 64 B .. 512 B */
    if (bucket < 90)
        return 512 + x % 3584; /* .. 4 KiB */
    if (bucket < 99)
        return 4096 + x % 28672; /* .. 32 KiB */
    return 32768 + x % 98304;    /* .. 128 KiB */
}

struct slot {
    void *p;
    size_t size;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char name[16];
    snprintf(name, sizeof(name), "worker-%u", w->id);
    CAIRN_ASSERT(alloc_thread_register(name) == 0);
    struct alloc_arena_config ac = {.subsys = ALLOC_SUBSYS_REQUEST_ARENAS};
    struct alloc_arena *arena = NULL;
    CAIRN_ASSERT(alloc_arena_create(&ac, &arena) == 0);
    /* the window: a ring of live requests, sized by bytes (bounded slot count) */
    size_t n_slots = 1u << 16; /* ≥ window / smallest request in practice: 1 MiB each */
    struct slot *ring = alloc_calloc(ALLOC_SUBSYS_OTHER, n_slots, sizeof(*ring));
    CAIRN_ASSERT(ring != NULL);
    size_t head = 0, tail = 0, live = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        size_t size = draw_size(&w->rng);
        if (alloc_admit(ALLOC_SUBSYS_PROPOSALS, 2 * size) != 0) {
            /* refused (RESOURCE_EXHAUSTED): new work waits, but work in flight still
             * completes, as in a server, so the oldest proposal commits and is freed */
            w->refused++;
            if (tail != head) {
                live -= ring[tail].size;
                alloc_free(ALLOC_SUBSYS_PROPOSALS, ring[tail].p);
                tail = (tail + 1) % n_slots;
            } else {
                sched_yield();
            }
            alloc_thread_poll();
            continue;
        }
        /* decode-like work in the request arena */
        unsigned char *req = alloc_arena_alloc(arena, size);
        CAIRN_ASSERT(req != NULL);
        memset(req, (int)(w->ops & 0xff), size);
        for (size_t i = 0; i < size; i += 64)
            w->checksum += req[i];
        /* the proposal stays live in the window until it "commits" */
        unsigned char *prop = alloc_malloc(ALLOC_SUBSYS_PROPOSALS, size);
        CAIRN_ASSERT(prop != NULL);
        memcpy(prop, req, size);
        ring[head] = (struct slot){prop, size};
        head = (head + 1) % n_slots;
        live += size;
        while (live > w->window_bytes || (head + 1) % n_slots == tail) {
            live -= ring[tail].size;
            alloc_free(ALLOC_SUBSYS_PROPOSALS, ring[tail].p);
            tail = (tail + 1) % n_slots;
        }
        /* and a copy goes to the entry cache, kept until the reclaimer trims it */
        struct entry *e = alloc_malloc(ALLOC_SUBSYS_RAFT_ENTRY_CACHE, sizeof(*e) + size);
        CAIRN_ASSERT(e != NULL);
        e->size = size;
        memcpy(e + 1, req, size);
        cache_append(&w->cache, e);
        alloc_arena_reset(arena);
        w->ops++;
        alloc_thread_poll();
    }
    while (tail != head) {
        alloc_free(ALLOC_SUBSYS_PROPOSALS, ring[tail].p);
        tail = (tail + 1) % n_slots;
    }
    alloc_free(ALLOC_SUBSYS_OTHER, ring);
    alloc_arena_destroy(arena);
    alloc_thread_unregister();
    return NULL;
}

/* ------------------------------------------------------------------ RSS sampler ----- */

struct sampler {
    pthread_t tid;
    uint64_t limit;
    uint64_t max_rss, max_anon;
    uint64_t n, over; /* samples, samples with RSS > limit × 1.05 */
};

static void add_ns(struct timespec *t, long ns)
{
    t->tv_nsec += ns;
    while (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
}

static void *sampler_main(void *arg)
{
    struct sampler *s = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!atomic_load(&stop) && s->n < MAX_SAMPLES) {
        uint64_t rss = 0, anon = 0;
        if (alloc_rss_sample(&rss, &anon) == 0) {
            s->n++;
            if (rss > s->max_rss)
                s->max_rss = rss;
            if (anon > s->max_anon)
                s->max_anon = anon;
            if (s->limit != 0 && (double)rss > (double)s->limit * 1.05)
                s->over++;
        }
        add_ns(&next, SAMPLE_NS); /* absolute deadlines: a steady 10 ms grid */
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
        }
    }
    return NULL;
}

static uint64_t vm_hwm_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (uint64_t)kb * 1024u;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ one run --------- */

static int run_one(const struct options *o)
{
    alloc_set_heap_percent(o->heap_percent);
    alloc_set_memory_limit(o->memory_limit);
    CAIRN_ASSERT(alloc_thread_register("node") == 0);
    static struct worker w[WORKERS];
    for (unsigned i = 0; i < WORKERS; i++) {
        w[i] = (struct worker){.id = i, .rng = 0x9e3779b97f4a7c15ull * (i + 1)};
        w[i].window_bytes = (size_t)o->live_mib * 1024 * 1024 / WORKERS;
        pthread_mutex_init(&w[i].cache.mu, NULL);
        struct alloc_reclaimer r = {.name = "entry-cache",
                                    .subsys = ALLOC_SUBSYS_RAFT_ENTRY_CACHE,
                                    .priority = 10,
                                    .release = cache_release,
                                    .arg = &w[i].cache,
                                    .flags = ALLOC_RELEASE_ANY_THREAD};
        int id = 0;
        CAIRN_ASSERT(alloc_reclaimer_register(&r, &id) == 0);
    }
    struct sampler s = {.limit = o->memory_limit == ALLOC_NO_LIMIT ? 0 : (uint64_t)o->memory_limit};
    CAIRN_ASSERT(pthread_create(&s.tid, NULL, sampler_main, &s) == 0);
    double t0 = now_s();
    for (unsigned i = 0; i < WORKERS; i++)
        CAIRN_ASSERT(pthread_create(&w[i].tid, NULL, worker_main, &w[i]) == 0);
    /* the node loop: a reclaim check between "batches", one per millisecond */
    struct timespec tick = {0, NODE_TICK_NS};
    double next_trace = t0;
    while (now_s() - t0 < o->seconds) {
        alloc_maybe_reclaim();
        alloc_thread_poll();
        if (o->trace && now_s() >= next_trace) {
            struct alloc_stats t;
            alloc_stats_get(&t);
            fprintf(stderr,
                    "t=%.1f heap=%.1f cache=%.1f window=%.1f goal=%.1f rss=%.1f "
                    "cycles=%llu\n",
                    now_s() - t0, (double)t.live_total_bytes / MiB,
                    (double)t.live_bytes[ALLOC_SUBSYS_RAFT_ENTRY_CACHE] / MiB,
                    (double)t.live_bytes[ALLOC_SUBSYS_PROPOSALS] / MiB,
                    t.goal_bytes == UINT64_MAX ? -1.0 : (double)t.goal_bytes / MiB,
                    (double)t.rss_anon_bytes / MiB, (unsigned long long)t.cycles);
            next_trace += 0.1;
        }
        nanosleep(&tick, NULL);
    }
    atomic_store(&stop, true);
    for (unsigned i = 0; i < WORKERS; i++)
        pthread_join(w[i].tid, NULL);
    double elapsed = now_s() - t0;
    pthread_join(s.tid, NULL);
    struct alloc_stats st;
    alloc_stats_get(&st);
    uint64_t ops = 0, refused = 0, sum = 0;
    for (unsigned i = 0; i < WORKERS; i++) {
        ops += w[i].ops;
        refused += w[i].refused;
        sum += w[i].checksum;
        cache_clear(&w[i].cache);
    }
    printf("RESULT ops_per_s=%.0f cycles=%llu cycles_per_min=%.1f p50_ms=%.3f p99_ms=%.3f "
           "max_ms=%.3f peak_rss_mib=%.1f peak_anon_mib=%.1f hwm_mib=%.1f refusals=%llu "
           "samples=%llu over=%llu collects=%llu collect_ms=%.1f released_mib=%.1f "
           "capped=%llu release_share=%.2f elapsed_s=%.2f checksum=%llu\n",
           (double)ops / elapsed, (unsigned long long)st.cycles, (double)st.cycles * 60.0 / elapsed,
           (double)st.pause_p50_ns / 1e6, (double)st.pause_p99_ns / 1e6,
           (double)st.pause_max_ns / 1e6, (double)s.max_rss / MiB, (double)s.max_anon / MiB,
           (double)vm_hwm_bytes() / MiB, (unsigned long long)refused, (unsigned long long)s.n,
           (unsigned long long)s.over, (unsigned long long)st.thread_collects,
           (double)st.thread_collect_ns / 1e6, (double)st.bytes_released / MiB,
           (unsigned long long)st.cpu_capped,
           st.pause_total_ns ? (double)st.pause_release_ns / (double)st.pause_total_ns : 0.0,
           elapsed, (unsigned long long)(sum & 0xff));
    fflush(stdout);
    alloc_thread_unregister();
    return 0;
}

/* ------------------------------------------------------------------ the table ------- */

#define N_FIELDS 13
static const char *const fields[N_FIELDS] = {
    "ops_per_s", "cycles_per_min", "p50_ms",  "p99_ms",   "max_ms", "peak_rss_mib", "hwm_mib",
    "refusals",  "over",           "samples", "collects", "capped", "peak_anon_mib"};

static bool field(const char *line, const char *key, double *out)
{
    char pat[64];
    snprintf(pat, sizeof(pat), " %s=", key);
    const char *p = strstr(line, pat);
    if (p == NULL)
        return false;
    *out = strtod(p + strlen(pat), NULL);
    return true;
}

/* Run this binary once with the given settings; parse its RESULT line into vals. */
static int spawn_run(const struct options *o, const char *pct, const char *limit,
                     double vals[N_FIELDS])
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    char secs[32], live[32];
    snprintf(secs, sizeof(secs), "%g", o->seconds);
    snprintf(live, sizeof(live), "%u", o->live_mib);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        /* -Wwrite-strings: execv wants char *, so copy the literals */
        char a0[] = "memtune", a1[] = "--heap-percent", a3[] = "--memory-limit";
        char a5[] = "--seconds", a7[] = "--live-mib", a2[32], a4[32];
        snprintf(a2, sizeof(a2), "%s", pct);
        snprintf(a4, sizeof(a4), "%s", limit);
        char *argv[] = {a0, a1, a2, a3, a4, a5, secs, a7, live, NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(fds[1]);
    char buf[2048];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(buf) - 1 && (r = read(fds[0], buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    const char *line = strstr(buf, "RESULT");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || line == NULL)
        return -1;
    for (int i = 0; i < N_FIELDS; i++)
        if (!field(line, fields[i], &vals[i]))
            return -1;
    fprintf(stderr, "  %s", line);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int run_table(const struct options *o)
{
    struct {
        const char *label, *pct, *limit;
    } configs[] = {
        {"heap_percent=100", "100", "off"},
        {"heap_percent=500", "500", "off"},
        {"heap_percent=500 + limit", "500", o->limit_text},
    };
    enum { MAX_RUNS = 21 };
    static double vals[3][MAX_RUNS][N_FIELDS];
    unsigned runs = o->runs > MAX_RUNS ? MAX_RUNS : o->runs;
    for (unsigned r = 0; r < runs; r++) {
        for (unsigned c = 0; c < 3; c++) { /* interleaved: drift in machine load is shared */
            fprintf(stderr, "run %u/%u %s\n", r + 1, runs, configs[c].label);
            if (spawn_run(o, configs[c].pct, configs[c].limit, vals[c][r]) != 0) {
                fprintf(stderr, "memtune: a run failed\n");
                return 1;
            }
        }
    }
    int64_t limit = 0;
    CAIRN_ASSERT(alloc_parse_memory_limit(o->limit_text, &limit) == 0);
    printf("\nmemtune: %u worker threads, live window %u MiB, %g s per run, median of %u runs"
           " (limit %s)\n\n",
           WORKERS, o->live_mib, o->seconds, runs, o->limit_text);
    printf("| config | ops/s | cycles/min | pause p50 ms | pause p99 ms | pause max ms | "
           "peak RSS MiB (10 ms samples) | VmHWM MiB | refusals | RSS > 1.05 L |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    bool pass = true;
    for (unsigned c = 0; c < 3; c++) {
        double m[N_FIELDS];
        double col[MAX_RUNS];
        double over_total = 0, samples_total = 0;
        for (int f = 0; f < N_FIELDS; f++) {
            for (unsigned r = 0; r < runs; r++)
                col[r] = vals[c][r][f];
            m[f] = median(col, runs);
        }
        for (unsigned r = 0; r < runs; r++) {
            over_total += vals[c][r][8];
            samples_total += vals[c][r][9];
        }
        char check[96] = "n/a";
        if (c == 2) {
            snprintf(check, sizeof(check), "%.0f of %.0f samples (%s)", over_total, samples_total,
                     over_total == 0 ? "pass" : "FAIL");
            pass = over_total == 0;
        }
        printf("| %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.1f | %.1f | %.0f | %s |\n",
               configs[c].label, m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], check);
    }
    printf("\nlimit L = %.1f MiB, 1.05 L = %.1f MiB: %s\n", (double)limit / MiB,
           (double)limit * 1.05 / MiB, pass ? "PASS" : "FAIL");
    return pass ? 0 : 2;
}

/* ------------------------------------------------------------------ main ------------ */

static void usage(void)
{
    fprintf(stderr, "usage: memtune --table [--runs N] [--seconds S] [--live-mib M] "
                    "[--limit BYTES]\n"
                    "       memtune --heap-percent P [--memory-limit L] [--seconds S] "
                    "[--live-mib M]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct options o = {.heap_percent = 100,
                        .memory_limit = ALLOC_NO_LIMIT,
                        .seconds = 10,
                        .live_mib = 64,
                        .runs = 3,
                        .limit_text = "256MiB"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--table") == 0 || strcmp(a, "--trace") == 0) {
            *(a[2] == 't' && a[3] == 'a' ? &o.table : &o.trace) = true;
            continue;
        }
        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "--heap-percent") == 0) {
            if (alloc_parse_heap_percent(v, &o.heap_percent) != 0)
                usage();
        } else if (strcmp(a, "--memory-limit") == 0) {
            if (alloc_parse_memory_limit(v, &o.memory_limit) != 0)
                usage();
        } else if (strcmp(a, "--limit") == 0) {
            int64_t l = 0;
            if (alloc_parse_memory_limit(v, &l) != 0)
                usage();
            o.limit_text = v;
        } else if (strcmp(a, "--seconds") == 0) {
            o.seconds = atof(v);
        } else if (strcmp(a, "--live-mib") == 0) {
            o.live_mib = (unsigned)atoi(v);
        } else if (strcmp(a, "--runs") == 0) {
            o.runs = (unsigned)atoi(v);
        } else {
            usage();
        }
    }
    if (o.seconds <= 0 || o.live_mib == 0 || o.runs == 0)
        usage();
    return o.table ? run_table(&o) : run_one(&o);
}
