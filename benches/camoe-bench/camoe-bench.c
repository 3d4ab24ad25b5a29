/* camoe-bench: the device benchmark of camoe, built from include/camoe.h alone: load time, first rank, per-batch latency, throughput and peak RSS, as a table or JSON.
 *
 *   camoe-bench MODEL.camoe [flags]        (camoe-bench --help lists the flags)
 *
 * One timed iteration is what an app does per ad request: camoe_session_set_request
 * (the request-side precompute) then camoe_session_rank of B candidates. Candidates
 * come from the model's own schema (seeded random values for every field, random
 * tasks and bids) or from a request file in camoe-rank's format. With --threads N,
 * N sessions on one shared model rank concurrently, each on its own pthread; the
 * latencies of all threads are pooled and candidates/s counts every thread's work.
 *
 * Build: benches/camoe-bench/Makefile (shared or static libcamoe, gcc or
 * aarch64-linux-gnu-gcc). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "camoe.h"

#define MAX_BATCHES 32
#define MAX_BATCH 1048576 /* the library's max_candidates */
#define MIN_TIMED_ITERATIONS 5

static const char USAGE[] =
    "usage: camoe-bench MODEL.camoe [flags]\n"
    "  --batches B,B,..     candidates per rank call (default 1,10,50,200,1000)\n"
    "  --seed S             generate the request and candidates from the model's schema\n"
    "                       with this seed (default 1)\n"
    "  --requests FILE      read them instead from FILE in camoe-rank's format (request\n"
    "                       and candidate lines; the first request is timed, its\n"
    "                       candidates repeated to fill a batch)\n"
    "  --seconds S          time each batch size for S seconds (default 1) ...\n"
    "  --iterations N       ... or for N iterations per thread\n"
    "  --warmup N           untimed iterations per batch size and thread (default 20)\n"
    "  --threads N          N sessions ranking at once on N threads, one model (default 1)\n"
    "  --intra-threads N    threads inside each rank call (the session's own workers;\n"
    "                       camoe_session_new_with_options; default 1)\n"
    "  --tier T             kernel tier cap, as CAMOE_KERNEL_TIER=T (scalar, avx2, avxvnni,\n"
    "                       avx512vnni, neon, dotprod, i8mm); one this CPU cannot run is an\n"
    "                       error\n"
    "  --expert-top-k K     mix only each candidate's K best experts (default 0 = all)\n"
    "  --load-repeats N     loads after the first, for the median load time (default 5)\n"
    "  --mapped             load with camoe_model_load_file_mapped instead of reading\n"
    "  --scores-out FILE    write every request's pCTRs (all its candidates in one call,\n"
    "                       with --expert-top-k) as little-endian f32\n"
    "  --samples-out FILE   write every timed iteration as CSV: batch,thread,us\n"
    "  --json               print JSON instead of the table\n"
    "  -h, --help           print this and exit\n";

/* ---- errors: one line on stderr, then exit ---- */

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("camoe-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* The library's last error on this thread, newlines folded so a report stays on one
 * line. Writes to the caller's buffer: worker threads call it at once. */
static const char *last_error_line(char *buf, size_t cap) {
    const char *s = camoe_last_error();
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) buf[i] = (s[i] == '\n' || s[i] == '\r') ? ' ' : s[i];
    buf[i] = 0;
    return buf;
}

static void check(camoe_status st, const char *what) {
    char buf[512];
    if (st != CAMOE_STATUS_OK) die("%s: %s: %s", what, camoe_status_name(st), last_error_line(buf, sizeof buf));
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) die("out of memory");
    return p;
}

static void *xrealloc(void *p, size_t size) {
    p = realloc(p, size ? size : 1);
    if (!p) die("out of memory");
    return p;
}

/* ---- flags ---- */

typedef struct {
    const char *model_path, *requests_path, *scores_out, *samples_out, *tier;
    size_t batches[MAX_BATCHES];
    size_t n_batches;
    uint64_t seed;
    double seconds;
    uint64_t iterations; /* 0 = time by seconds */
    uint64_t warmup, threads, intra_threads, expert_top_k, load_repeats;
    int json, mapped;
} config;

static uint64_t parse_uint(const char *flag, const char *s, uint64_t min, uint64_t max) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
        die("%s %s: expected a whole number in %llu..%llu", flag, s, (unsigned long long)min,
            (unsigned long long)max);
    return (uint64_t)v;
}

static void parse_batches(config *c, const char *s) {
    char *copy = strdup(s), *save = NULL;
    if (!copy) die("out of memory");
    c->n_batches = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (c->n_batches == MAX_BATCHES) die("--batches: at most %d sizes", MAX_BATCHES);
        c->batches[c->n_batches++] = (size_t)parse_uint("--batches", tok, 1, MAX_BATCH);
    }
    if (c->n_batches == 0) die("--batches %s: expected sizes such as 1,10,50", s);
    free(copy);
}

static void parse_flags(config *c, int argc, char **argv) {
    memset(c, 0, sizeof *c);
    parse_batches(c, "1,10,50,200,1000");
    c->seed = 1;
    c->seconds = 1.0;
    c->warmup = 20;
    c->threads = 1;
    c->intra_threads = 1;
    c->load_repeats = 5;
    int seconds_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(USAGE, stdout);
            exit(0);
        }
        if (strcmp(a, "--json") == 0) { c->json = 1; continue; }
        if (strcmp(a, "--mapped") == 0) { c->mapped = 1; continue; }
        if (a[0] != '-') {
            if (c->model_path) die("unexpected argument %s: takes one MODEL.camoe", a);
            c->model_path = a;
            continue;
        }
        static const char *const valued[] = {"--batches", "--seed", "--requests", "--seconds", "--iterations",
                                             "--warmup", "--threads", "--intra-threads", "--tier",
                                             "--expert-top-k", "--load-repeats", "--scores-out",
                                             "--samples-out"};
        int known = 0;
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) known |= strcmp(a, valued[k]) == 0;
        if (!known) die("unknown flag %s (camoe-bench --help lists the flags)", a);
        if (i + 1 >= argc) die("%s needs a value", a);
        const char *v = argv[++i];
        if (strcmp(a, "--batches") == 0) parse_batches(c, v);
        else if (strcmp(a, "--seed") == 0) c->seed = parse_uint(a, v, 0, UINT64_MAX);
        else if (strcmp(a, "--requests") == 0) c->requests_path = v;
        else if (strcmp(a, "--iterations") == 0) c->iterations = parse_uint(a, v, 1, UINT64_C(1) << 40);
        else if (strcmp(a, "--warmup") == 0) c->warmup = parse_uint(a, v, 0, UINT64_C(1) << 40);
        else if (strcmp(a, "--threads") == 0) c->threads = parse_uint(a, v, 1, 1024);
        else if (strcmp(a, "--intra-threads") == 0) c->intra_threads = parse_uint(a, v, 1, 1024);
        else if (strcmp(a, "--tier") == 0) c->tier = v;
        else if (strcmp(a, "--expert-top-k") == 0) c->expert_top_k = parse_uint(a, v, 0, UINT32_MAX);
        else if (strcmp(a, "--load-repeats") == 0) c->load_repeats = parse_uint(a, v, 0, 100000);
        else if (strcmp(a, "--scores-out") == 0) c->scores_out = v;
        else if (strcmp(a, "--samples-out") == 0) c->samples_out = v;
        else { /* --seconds */
            char *end = NULL;
            seconds_given = 1;
            c->seconds = strtod(v, &end);
            if (end == v || *end || !(c->seconds > 0) || c->seconds > 1e6)
                die("--seconds %s: expected a positive number of seconds", v);
        }
    }
    if (c->iterations && seconds_given) die("give --seconds or --iterations, not both");
    if (!c->model_path) die("no model given (usage: camoe-bench MODEL.camoe [flags]; --help lists the flags)");
}

/* ---- clocks, memory ---- */

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* Peak resident set size so far (VmHWM, kB), or -1 where /proc does not report it. */
static long vm_hwm_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* ---- the workload: requests with their candidates ---- */

typedef struct {
    camoe_feature *features;
    size_t n_features;
    camoe_candidate *candidates;
    size_t n_candidates, cap_candidates;
} request;

typedef struct {
    request *requests;
    size_t n_requests;
    char *text;                /* the request file, which STR values point into */
    camoe_feature **feature_blocks; /* every allocated feature array, to free */
    size_t n_blocks;
    const camoe_candidate *batch; /* max-batch candidates: the timed request's, repeated */
} workload;

static camoe_feature *new_features(workload *w, size_t n) {
    w->feature_blocks = xrealloc(w->feature_blocks, (w->n_blocks + 1) * sizeof *w->feature_blocks);
    return w->feature_blocks[w->n_blocks++] = xcalloc(n, sizeof(camoe_feature));
}

static request *new_request(workload *w) {
    w->requests = xrealloc(w->requests, (w->n_requests + 1) * sizeof *w->requests);
    request *r = &w->requests[w->n_requests++];
    memset(r, 0, sizeof *r);
    return r;
}

static camoe_candidate *new_candidate(request *r) {
    if (r->n_candidates == r->cap_candidates) {
        r->cap_candidates = r->cap_candidates ? 2 * r->cap_candidates : 16;
        r->candidates = xrealloc(r->candidates, r->cap_candidates * sizeof *r->candidates);
    }
    camoe_candidate *c = &r->candidates[r->n_candidates++];
    memset(c, 0, sizeof *c);
    return c;
}

/* SplitMix64: a small seeded generator, so a seed names the same workload everywhere. */
static uint64_t next_u64(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static float uniform(uint64_t *state, float lo, float hi) {
    return lo + (hi - lo) * (float)(next_u64(state) >> 40) / (float)(UINT64_C(1) << 24);
}

/* One value for each field of `side`, written to `out`: a random id for a categorical
 * field, a value in [-3, 3) for a dense one (the model normalizes and clips it). */
static void generate_features(camoe_feature *out, const camoe_field_info *fields, uint32_t n_fields, int32_t side,
                              uint64_t *rng) {
    for (uint32_t f = 0; f < n_fields; f++) {
        if (fields[f].side != side) continue;
        out->field = f;
        if (fields[f].kind == CAMOE_FIELD_DENSE) {
            out->kind = CAMOE_VALUE_DENSE;
            out->dense = uniform(rng, -3.0f, 3.0f);
        } else {
            out->kind = CAMOE_VALUE_ID;
            out->id = next_u64(rng);
        }
        out++;
    }
}

/* One request and `n_candidates` candidates with random tasks and bids. */
static void generate(workload *w, const camoe_model_info *mi, const camoe_field_info *fields, uint64_t seed,
                     size_t n_candidates) {
    if (mi->n_tasks == 0) die("the model has no tasks: nothing to rank");
    uint64_t rng = seed;
    request *r = new_request(w);
    r->n_features = mi->n_request_fields;
    r->features = new_features(w, r->n_features);
    generate_features(r->features, fields, mi->n_fields, CAMOE_SIDE_REQUEST, &rng);
    size_t per = mi->n_candidate_fields;
    camoe_feature *block = new_features(w, n_candidates * per);
    for (size_t i = 0; i < n_candidates; i++) {
        camoe_candidate *c = new_candidate(r);
        generate_features(&block[i * per], fields, mi->n_fields, CAMOE_SIDE_CANDIDATE, &rng);
        c->features = &block[i * per];
        c->n_features = per;
        c->task = (uint32_t)(next_u64(&rng) % mi->n_tasks);
        c->bid = uniform(&rng, 0.1f, 5.0f);
    }
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die("%s: %s", path, strerror(errno));
    size_t len = 0, cap = 1 << 16, got;
    char *buf = xcalloc(cap, 1);
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) buf = xrealloc(buf, cap *= 2);
    }
    if (ferror(f)) die("%s: read error", path);
    fclose(f);
    buf[len] = 0;
    return buf;
}

/* Reads camoe-rank's request format: `request field=value ...` and
 * `candidate task=NAME bid=X field=value ...` lines, `#` to the end of a line a
 * comment. Categorical values are hashed text (CAMOE_VALUE_STR), as camoe-rank does; a
 * field left out follows its missing policy. Each request line starts a request; the
 * candidates before the first one belong to it. */
static void read_requests(workload *w, const camoe_model *model, const camoe_field_info *fields, const char *path) {
    w->text = read_all(path);
    char *save_line = NULL;
    size_t line_no = 0;
    int have_request = 0;
    for (char *p = w->text, *nl; p; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl) *nl = 0;
        line_no++;
        char *hash = strchr(p, '#');
        if (hash) *hash = 0;
        char *word = strtok_r(p, " \t\r", &save_line);
        if (!word) continue;
        int is_request = strcmp(word, "request") == 0;
        if (!is_request && strcmp(word, "candidate") != 0)
            die("%s: line %zu: starts with \"%s\", expected request or candidate", path, line_no, word);
        size_t n_words = 0;
        char *words[1024];
        while ((word = strtok_r(NULL, " \t\r", &save_line))) {
            if (n_words == sizeof words / sizeof *words) die("%s: line %zu: too many values", path, line_no);
            words[n_words++] = word;
        }
        camoe_feature *feats = new_features(w, n_words);
        size_t n_feats = 0;
        camoe_candidate cand = {.bid = 0.0f};
        int have_task = 0;
        for (size_t k = 0; k < n_words; k++) {
            char *eq = strchr(words[k], '=');
            if (!eq) die("%s: line %zu: \"%s\" is not field=value", path, line_no, words[k]);
            *eq = 0;
            const char *key = words[k], *val = eq + 1;
            char *end = NULL;
            if (strcmp(key, "task") == 0) {
                if (camoe_model_task_index(model, val, strlen(val), &cand.task) != CAMOE_STATUS_OK)
                    die("%s: line %zu: unknown task \"%s\"", path, line_no, val);
                have_task = 1;
            } else if (strcmp(key, "bid") == 0) {
                cand.bid = strtof(val, &end);
                if (end == val || *end) die("%s: line %zu: bid \"%s\" is not a number", path, line_no, val);
            } else {
                camoe_feature *f = &feats[n_feats++];
                if (camoe_model_field_index(model, key, strlen(key), &f->field) != CAMOE_STATUS_OK)
                    die("%s: line %zu: unknown field \"%s\"", path, line_no, key);
                if (fields[f->field].kind == CAMOE_FIELD_DENSE) {
                    f->kind = CAMOE_VALUE_DENSE;
                    f->dense = strtof(val, &end);
                    if (end == val || *end) die("%s: line %zu: %s=\"%s\" is not a number", path, line_no, key, val);
                } else {
                    f->kind = CAMOE_VALUE_STR;
                    f->text = val;
                    f->text_len = strlen(val);
                }
            }
        }
        /* Candidates before the first request line made the first request already. */
        request *r = (w->n_requests && !(is_request && have_request)) ? &w->requests[w->n_requests - 1]
                                                                     : new_request(w);
        if (is_request) {
            have_request = 1;
            r->features = feats;
            r->n_features = n_feats;
        } else {
            if (!have_task) die("%s: line %zu: a candidate has no task=", path, line_no);
            cand.features = feats;
            cand.n_features = n_feats;
            *new_candidate(r) = cand;
        }
    }
    if (!have_request) die("%s: no request line", path);
    if (w->requests[0].n_candidates == 0) die("%s: the first request has no candidates", path);
}

/* The timed batch: the first request's candidates, repeated up to the largest batch. */
static void fill_batch(workload *w, size_t max_batch) {
    const request *r = &w->requests[0];
    camoe_candidate *b = xcalloc(max_batch, sizeof *b);
    for (size_t i = 0; i < max_batch; i++) b[i] = r->candidates[i % r->n_candidates];
    w->batch = b;
}

static void free_workload(workload *w) {
    for (size_t i = 0; i < w->n_blocks; i++) free(w->feature_blocks[i]);
    for (size_t i = 0; i < w->n_requests; i++) free(w->requests[i].candidates);
    free(w->feature_blocks);
    free(w->requests);
    free((void *)w->batch);
    free(w->text);
}

/* ---- sessions and the timed loop ---- */

static camoe_session *open_session(const camoe_model *model, size_t capacity, uint64_t intra_threads) {
    camoe_session *s = NULL;
    camoe_session_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    check(camoe_session_options_default(&o), "camoe_session_options_default");
    o.max_candidates = capacity;
    o.threads = (uint32_t)intra_threads;
    check(camoe_session_new_with_options(model, &o, &s), "camoe_session_new_with_options");
    return s;
}

typedef struct {
    const config *cfg;
    const workload *w;
    const camoe_rank_options *options;
    camoe_session *session;
    float *scores;
    uint32_t *order;
    pthread_barrier_t *start;
    size_t batch;
    float *times; /* per-iteration µs; float keeps the bench's own share of the peak RSS small */
    size_t n_times, cap_times;
    double t_begin, t_end;
    char error[1024];
} worker;

/* One iteration: the request-side precompute, then ranking B candidates. */
static camoe_status rank_once(worker *k) {
    const request *r = &k->w->requests[0];
    size_t n_order = 0;
    camoe_status st = camoe_session_set_request(k->session, r->features, r->n_features);
    if (st != CAMOE_STATUS_OK) return st;
    return camoe_session_rank(k->session, k->w->batch, k->batch, k->options, k->scores, k->order, k->batch,
                              &n_order);
}

static void record_error(worker *k, camoe_status st) {
    char buf[512];
    snprintf(k->error, sizeof k->error, "rank (B=%zu): %s: %s", k->batch, camoe_status_name(st),
             last_error_line(buf, sizeof buf));
}

static void *run_batch(void *arg) {
    worker *k = arg;
    camoe_status st = CAMOE_STATUS_OK;
    for (uint64_t i = 0; i < k->cfg->warmup && st == CAMOE_STATUS_OK; i++) st = rank_once(k);
    /* Every thread waits here, even a failed one, so the others are not left blocked. */
    pthread_barrier_wait(k->start);
    if (st != CAMOE_STATUS_OK) {
        record_error(k, st);
        return NULL;
    }
    k->n_times = 0;
    k->t_begin = now_us();
    double deadline = k->t_begin + k->cfg->seconds * 1e6;
    for (;;) {
        if (k->cfg->iterations ? k->n_times >= k->cfg->iterations
                               : (k->n_times >= MIN_TIMED_ITERATIONS && now_us() >= deadline))
            break;
        if (k->n_times == k->cap_times) {
            k->cap_times = k->cap_times ? 2 * k->cap_times : 4096;
            float *t = realloc(k->times, k->cap_times * sizeof *t);
            if (!t) {
                snprintf(k->error, sizeof k->error, "out of memory");
                return NULL;
            }
            k->times = t;
        }
        double t0 = now_us();
        st = rank_once(k);
        double t1 = now_us();
        if (st != CAMOE_STATUS_OK) {
            record_error(k, st);
            return NULL;
        }
        k->times[k->n_times++] = (float)(t1 - t0);
    }
    k->t_end = now_us();
    return NULL;
}

typedef struct {
    size_t batch, iterations;
    double mean, std, min, p10, p50, p90, p99, max, candidates_per_s;
} batch_stats;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentiles of all workers' samples, each worker's already sorted: one
 * merge walk instead of a pooled copy, which would add to the peak RSS reported. */
static void percentiles(const worker *workers, size_t n_workers, size_t n, const double *p, double *out, size_t n_p) {
    size_t *at = xcalloc(n_workers, sizeof *at), next = 0;
    for (size_t pos = 0; pos < n && next < n_p; pos++) {
        size_t best = n_workers;
        for (size_t w = 0; w < n_workers; w++)
            if (at[w] < workers[w].n_times &&
                (best == n_workers || workers[w].times[at[w]] < workers[best].times[at[best]]))
                best = w;
        float v = workers[best].times[at[best]++];
        for (; next < n_p; next++) {
            size_t rank = (size_t)ceil(p[next] / 100.0 * (double)n);
            if ((rank ? rank - 1 : 0) != pos) break;
            out[next] = v;
        }
    }
    free(at);
}

/* Each worker's samples (sorted by now) as `batch,thread,us` lines. */
static void write_samples(FILE *f, const worker *workers, size_t n_workers, size_t batch) {
    for (size_t i = 0; i < n_workers; i++)
        for (size_t t = 0; t < workers[i].n_times; t++)
            fprintf(f, "%zu,%zu,%.9g\n", batch, i, (double)workers[i].times[t]);
}

static batch_stats time_batch(worker *workers, size_t n_workers, size_t batch, FILE *samples) {
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n_workers);
    pthread_t *tids = xcalloc(n_workers, sizeof *tids);
    for (size_t i = 0; i < n_workers; i++) {
        workers[i].batch = batch;
        workers[i].start = &start;
        workers[i].error[0] = 0;
        int e = pthread_create(&tids[i], NULL, run_batch, &workers[i]);
        if (e) die("pthread_create: %s", strerror(e));
    }
    for (size_t i = 0; i < n_workers; i++) pthread_join(tids[i], NULL);
    pthread_barrier_destroy(&start);
    free(tids);
    for (size_t i = 0; i < n_workers; i++)
        if (workers[i].error[0]) die("%s", workers[i].error);

    size_t n = 0;
    double begin = workers[0].t_begin, end = workers[0].t_end;
    for (size_t i = 0; i < n_workers; i++) {
        n += workers[i].n_times;
        if (workers[i].t_begin < begin) begin = workers[i].t_begin;
        if (workers[i].t_end > end) end = workers[i].t_end;
    }
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n_workers; i++) {
        qsort(workers[i].times, workers[i].n_times, sizeof *workers[i].times, cmp_float);
        for (size_t t = 0; t < workers[i].n_times; t++) sum += workers[i].times[t];
    }
    double mean = sum / (double)n;
    for (size_t i = 0; i < n_workers; i++)
        for (size_t t = 0; t < workers[i].n_times; t++) sq += (workers[i].times[t] - mean) * (workers[i].times[t] - mean);
    /* min, p10, p50, p90, p99, max: ascending, as the merge walk needs. */
    const double p[] = {0, 10, 50, 90, 99, 100};
    double q[6];
    percentiles(workers, n_workers, n, p, q, 6);
    if (samples) write_samples(samples, workers, n_workers, batch);
    batch_stats s = {
        .batch = batch,
        .iterations = n,
        .mean = mean,
        .std = n > 1 ? sqrt(sq / (double)(n - 1)) : 0.0,
        .min = q[0],
        .p10 = q[1],
        .p50 = q[2],
        .p90 = q[3],
        .p99 = q[4],
        .max = q[5],
        .candidates_per_s = end > begin ? (double)n * (double)batch / ((end - begin) / 1e6) : 0.0,
    };
    return s;
}

/* ---- loading ---- */

static camoe_status load(const config *c, camoe_model **out) {
    return c->mapped ? camoe_model_load_file_mapped(c->model_path, out) : camoe_model_load_file(c->model_path, out);
}

/* Median µs of `repeats` load + free cycles (the file is then in the page cache). */
static double repeated_load_us(const config *c) {
    if (c->load_repeats == 0) return NAN;
    double *t = xcalloc(c->load_repeats, sizeof *t);
    for (uint64_t i = 0; i < c->load_repeats; i++) {
        camoe_model *m = NULL;
        double t0 = now_us();
        check(load(c, &m), c->model_path);
        t[i] = now_us() - t0;
        camoe_model_free(&m);
    }
    qsort(t, c->load_repeats, sizeof *t, cmp_double);
    double median = c->load_repeats % 2 ? t[c->load_repeats / 2]
                                        : (t[c->load_repeats / 2 - 1] + t[c->load_repeats / 2]) / 2;
    free(t);
    return median;
}

static void write_scores(const config *c, const workload *w, camoe_session *s, const camoe_rank_options *options,
                         size_t capacity) {
    FILE *f = fopen(c->scores_out, "wb");
    if (!f) die("--scores-out %s: %s", c->scores_out, strerror(errno));
    float *scores = xcalloc(capacity, sizeof *scores);
    uint32_t *order = xcalloc(capacity, sizeof *order);
    for (size_t i = 0; i < w->n_requests; i++) {
        const request *r = &w->requests[i];
        size_t n_order = 0;
        check(camoe_session_set_request(s, r->features, r->n_features), "set_request (--scores-out)");
        check(camoe_session_rank(s, r->candidates, r->n_candidates, options, scores, order, capacity, &n_order),
              "rank (--scores-out)");
        /* The file is little-endian f32: every target camoe supports is little-endian. */
        if (fwrite(scores, sizeof *scores, r->n_candidates, f) != r->n_candidates)
            die("--scores-out %s: write error", c->scores_out);
    }
    if (fclose(f)) die("--scores-out %s: write error", c->scores_out);
    free(scores);
    free(order);
}

/* ---- output ---- */

typedef struct {
    char library_version[32], header_version[32], name[256], tier[64];
    const char *kernel_info, *mode;
    camoe_model_info info;
    double load_first_us, load_median_us, session_us, first_rank_us;
    long hwm_start_kb, hwm_loaded_kb, hwm_end_kb;
    batch_stats stats[MAX_BATCHES];
} report;

static void json_string(const char *s, size_t len) {
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch == '\n') fputs("\\n", stdout);
        else if (ch == '\t') fputs("\\t", stdout);
        else if (ch < 0x20 || ch == 0x7f) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

/* Each writes `before` (separator and key), then the value or null. */
static void put_str(const char *before, const char *s) {
    fputs(before, stdout);
    if (s) json_string(s, strlen(s));
    else fputs("null", stdout);
}

/* JSON has no NaN: a number that was not measured is null. */
static void put_num(const char *before, double v) {
    fputs(before, stdout);
    if (isfinite(v)) printf("%.3f", v);
    else fputs("null", stdout);
}

static void put_uint(const char *before, uint64_t v, int present) {
    fputs(before, stdout);
    if (present) printf("%llu", (unsigned long long)v);
    else fputs("null", stdout);
}

static void print_json(const config *c, const report *r) {
    const camoe_model_info *mi = &r->info;
    put_str("{\n  \"tool\": ", "camoe-bench");
    put_str(",\n  \"library_version\": ", r->library_version);
    put_str(",\n  \"header_version\": ", r->header_version);
    put_str(",\n  \"kernel_tier\": ", r->tier);
    put_str(",\n  \"kernel_info\": ", r->kernel_info);
    put_str(",\n  \"model\": {\"path\": ", c->model_path);
    put_str(", \"name\": ", r->name);
    put_str(", \"mode\": ", r->mode);
    put_uint(", \"file_size\": ", mi->file_size, 1);
    put_uint(", \"fields\": ", mi->n_fields, 1);
    put_uint(", \"tasks\": ", mi->n_tasks, 1);
    put_uint(", \"experts\": ", mi->n_experts, 1);
    put_uint(", \"parameters\": ", mi->parameter_count, 1);
    put_uint(", \"macs_per_candidate\": ", mi->macs_per_candidate, 1);
    put_str("},\n  \"settings\": {\"input\": ", c->requests_path ? "requests" : "generated");
    put_str(", \"requests_file\": ", c->requests_path);
    put_uint(", \"seed\": ", c->seed, !c->requests_path);
    put_num(", \"seconds\": ", c->iterations ? NAN : c->seconds);
    put_uint(", \"iterations\": ", c->iterations, c->iterations != 0);
    put_uint(", \"warmup\": ", c->warmup, 1);
    put_uint(", \"threads\": ", c->threads, 1);
    put_uint(", \"intra_threads\": ", c->intra_threads, 1);
    put_uint(", \"expert_top_k\": ", c->expert_top_k, 1);
    put_str(", \"tier\": ", c->tier);
    put_str(", \"load\": ", c->mapped ? "mapped" : "read");
    put_str(", \"timed\": ", "set_request + rank");
    put_num("},\n  \"load_first_us\": ", r->load_first_us);
    put_num(",\n  \"load_median_us\": ", r->load_median_us);
    put_uint(",\n  \"load_repeats\": ", c->load_repeats, 1);
    put_num(",\n  \"session_new_us\": ", r->session_us);
    put_num(",\n  \"first_rank_us\": ", r->first_rank_us);
    put_uint(",\n  \"first_rank_batch\": ", c->batches[0], 1);
    put_uint(",\n  \"vm_hwm_kb\": {\"start\": ", (uint64_t)r->hwm_start_kb, r->hwm_start_kb >= 0);
    put_uint(", \"loaded\": ", (uint64_t)r->hwm_loaded_kb, r->hwm_loaded_kb >= 0);
    put_uint(", \"end\": ", (uint64_t)r->hwm_end_kb, r->hwm_end_kb >= 0);
    fputs("},\n  \"batches\": [", stdout);
    for (size_t i = 0; i < c->n_batches; i++) {
        const batch_stats *s = &r->stats[i];
        put_uint(i ? ",\n    {\"batch\": " : "\n    {\"batch\": ", s->batch, 1);
        put_uint(", \"iterations\": ", s->iterations, 1);
        const char *const keys[] = {", \"mean_us\": ", ", \"std_us\": ", ", \"min_us\": ", ", \"p10_us\": ",
                                    ", \"p50_us\": ", ", \"p90_us\": ", ", \"p99_us\": ", ", \"max_us\": ",
                                    ", \"candidates_per_s\": "};
        const double vals[] = {s->mean, s->std, s->min, s->p10, s->p50, s->p90, s->p99, s->max, s->candidates_per_s};
        for (size_t k = 0; k < sizeof vals / sizeof *vals; k++) put_num(keys[k], vals[k]);
        putchar('}');
    }
    fputs("\n  ]\n}\n", stdout);
}

static void print_mb(const char *label, long kb) {
    if (kb >= 0) printf("%s %.1f MB", label, (double)kb / 1024.0);
    else printf("%s n/a", label);
}

static void print_table(const config *c, const report *r) {
    const camoe_model_info *mi = &r->info;
    printf("camoe-bench: libcamoe %s (header %s)\n", r->library_version, r->header_version);
    printf("model   %s: %s, %s, %llu bytes, %u fields, %u tasks, %u experts, %llu MACs/candidate\n", c->model_path,
           r->name, r->mode, (unsigned long long)mi->file_size, mi->n_fields, mi->n_tasks, mi->n_experts,
           (unsigned long long)mi->macs_per_candidate);
    printf("kernels %s\n", r->kernel_info);
    if (c->requests_path) printf("input   %s (first request timed)", c->requests_path);
    else printf("input   generated from the schema, seed %llu", (unsigned long long)c->seed);
    printf("; %llu thread(s), %llu intra-rank thread(s), expert top-k %llu%s\n", (unsigned long long)c->threads,
           (unsigned long long)c->intra_threads, (unsigned long long)c->expert_top_k,
           c->expert_top_k ? "" : " (all)");
    printf("load    first %.1f us", r->load_first_us);
    if (c->load_repeats) printf(", median of %llu more %.1f us", (unsigned long long)c->load_repeats, r->load_median_us);
    printf(" (%s); session %.1f us; first rank (B=%zu) %.1f us\n", c->mapped ? "mapped" : "read", r->session_us,
           c->batches[0], r->first_rank_us);
    print_mb("peak RSS (VmHWM):", r->hwm_start_kb);
    print_mb(" at start,", r->hwm_loaded_kb);
    print_mb(" after load and sessions,", r->hwm_end_kb);
    printf(" at end\n");
    printf("timed   set_request + rank per iteration; ");
    if (c->iterations) printf("%llu iterations", (unsigned long long)c->iterations);
    else printf("%g s", c->seconds);
    printf(" per batch size and thread after %llu warm-up; times in us\n", (unsigned long long)c->warmup);
    printf("%7s %9s %10s %9s %10s %10s %10s %10s %13s\n", "batch", "iters", "mean", "std", "p50", "p90", "p99", "max",
           "cand/s");
    for (size_t i = 0; i < c->n_batches; i++) {
        const batch_stats *s = &r->stats[i];
        printf("%7zu %9zu %10.1f %9.1f %10.1f %10.1f %10.1f %10.1f %13.0f\n", s->batch, s->iterations, s->mean, s->std,
               s->p50, s->p90, s->p99, s->max, s->candidates_per_s);
    }
}

static const char *mode_name(int32_t mode) {
    switch (mode) {
    case CAMOE_MODE_F32: return "f32";
    case CAMOE_MODE_F16: return "f16";
    case CAMOE_MODE_INT8: return "int8";
    case CAMOE_MODE_MIXED: return "mixed";
    default: return "unknown";
    }
}

static void version_string(char *out, size_t cap, uint32_t v) {
    snprintf(out, cap, "%u.%u.%u", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
}

int main(int argc, char **argv) {
    config c;
    parse_flags(&c, argc, argv);
    report r;
    memset(&r, 0, sizeof r);
    r.hwm_start_kb = vm_hwm_kb();
    /* The library reads the tier cap once, on first use: set it before any camoe call. */
    if (c.tier && setenv("CAMOE_KERNEL_TIER", c.tier, 1)) die("setenv: %s", strerror(errno));
    version_string(r.library_version, sizeof r.library_version, camoe_abi_version());
    version_string(r.header_version, sizeof r.header_version, CAMOE_VERSION_NUMBER);

    camoe_model *model = NULL;
    double t0 = now_us();
    check(load(&c, &model), c.model_path);
    r.load_first_us = now_us() - t0;
    check(camoe_model_get_info(model, &r.info), "camoe_model_get_info");
    r.mode = mode_name(r.info.mode);
    camoe_model_identity id;
    memset(&id, 0, sizeof id);
    id.struct_size = sizeof id;
    check(camoe_model_get_identity(model, &id), "camoe_model_get_identity");
    snprintf(r.name, sizeof r.name, "%.*s", (int)(id.name_len < 200 ? id.name_len : 200), id.name);

    camoe_field_info *fields = xcalloc(r.info.n_fields, sizeof *fields);
    for (uint32_t f = 0; f < r.info.n_fields; f++) check(camoe_model_field(model, f, &fields[f]), "camoe_model_field");
    size_t max_batch = 0;
    for (size_t i = 0; i < c.n_batches; i++)
        if (c.batches[i] > max_batch) max_batch = c.batches[i];
    workload w;
    memset(&w, 0, sizeof w);
    if (c.requests_path) read_requests(&w, model, fields, c.requests_path);
    else generate(&w, &r.info, fields, c.seed, max_batch);
    fill_batch(&w, max_batch);
    size_t capacity = max_batch;
    for (size_t i = 0; i < w.n_requests; i++)
        if (w.requests[i].n_candidates > capacity) capacity = w.requests[i].n_candidates;
    if (capacity > MAX_BATCH) die("a request has %zu candidates, more than %d", capacity, MAX_BATCH);

    camoe_rank_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    check(camoe_rank_options_default(&options), "camoe_rank_options_default");
    options.expert_top_k = (uint32_t)c.expert_top_k;

    worker *workers = xcalloc(c.threads, sizeof *workers);
    t0 = now_us();
    workers[0].session = open_session(model, capacity, c.intra_threads);
    r.session_us = now_us() - t0;
    r.kernel_info = camoe_kernel_info();
    const char *tier = strstr(r.kernel_info, "tier=");
    snprintf(r.tier, sizeof r.tier, "%.*s", tier ? (int)strcspn(tier + 5, " ") : 0, tier ? tier + 5 : "");
    /* A cap this CPU cannot run (another architecture's tier, or features it lacks) leaves
     * the library on another tier: timing that under the asked-for name would mislead. */
    if (c.tier && strcmp(r.tier, c.tier) != 0)
        die("--tier %s: this CPU cannot run it; the library would run tier %s", c.tier, r.tier);
    for (size_t i = 0; i < c.threads; i++) {
        worker *k = &workers[i];
        if (i) k->session = open_session(model, capacity, c.intra_threads);
        k->cfg = &c;
        k->w = &w;
        k->options = &options;
        k->scores = xcalloc(capacity, sizeof *k->scores);
        k->order = xcalloc(capacity, sizeof *k->order);
    }
    r.hwm_loaded_kb = vm_hwm_kb();

    workers[0].batch = c.batches[0];
    t0 = now_us();
    camoe_status st = rank_once(&workers[0]);
    r.first_rank_us = now_us() - t0;
    check(st, "first rank");
    if (c.scores_out) write_scores(&c, &w, workers[0].session, &options, capacity);

    FILE *samples = NULL;
    if (c.samples_out && !(samples = fopen(c.samples_out, "w")))
        die("--samples-out %s: %s", c.samples_out, strerror(errno));
    if (samples) fputs("batch,thread,us\n", samples);
    for (size_t i = 0; i < c.n_batches; i++) r.stats[i] = time_batch(workers, c.threads, c.batches[i], samples);
    if (samples && fclose(samples)) die("--samples-out %s: write error", c.samples_out);
    r.hwm_end_kb = vm_hwm_kb();
    /* After the last peak reading: a repeated load holds a second copy of the model. */
    r.load_median_us = repeated_load_us(&c);
    if (c.json) print_json(&c, &r);
    else print_table(&c, &r);
    if (fflush(stdout) || ferror(stdout)) die("write error on stdout");

    for (size_t i = 0; i < c.threads; i++) {
        camoe_session_free(&workers[i].session);
        free(workers[i].scores);
        free(workers[i].order);
        free(workers[i].times);
    }
    free(workers);
    free_workload(&w);
    free(fields);
    camoe_model_free(&model);
    return 0;
}
