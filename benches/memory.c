/* memory.c: load time and memory cost of ranking 1000 candidates through the C ABI.
 * Prints the time of the process's first camoe_model_load_file (or, with "mapped" as
 * the second argument, camoe_model_load_file_mapped), the median over 50 loads (file in
 * the page cache), and the process's peak resident set (VmHWM) before loading and after
 * ranking, so the growth is what camoe itself costs. The first load in a fresh process
 * (page faults of a new heap, cold caches) is what an app pays at start: take the median
 * over processes, e.g. for i in $(seq 20); do /tmp/memory FILE | grep first; done.
 *   cargo build --release --lib
 *   cc -O2 -Iinclude benches/memory.c -Ltarget/release -lcamoe -Wl,-rpath,$PWD/target/release -o /tmp/memory
 *   /tmp/memory models/camoe-demo.camoe [mapped] */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "camoe.h"

static long hwm_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "models/random-demo.camoe";
    int mapped = argc > 2 && strcmp(argv[2], "mapped") == 0;
    enum { N = 1000, LOADS = 50 };
    /* Everything the caller owns is allocated and touched before the first reading. */
    static camoe_feature feats[N][3];
    static camoe_candidate cands[N];
    static float scores[N];
    static uint32_t order[N];
    long before = hwm_kb();

    double t[LOADS], first = 0;
    camoe_model *m = NULL;
    for (int i = 0; i < LOADS; i++) {
        double t0 = now_us();
        camoe_status st = mapped ? camoe_model_load_file_mapped(path, &m) : camoe_model_load_file(path, &m);
        if (st != CAMOE_STATUS_OK) {
            fprintf(stderr, "%s\n", camoe_last_error());
            return 1;
        }
        t[i] = now_us() - t0;
        if (i == 0) first = t[0];
        if (i + 1 < LOADS) camoe_model_free(&m);
    }
    qsort(t, LOADS, sizeof t[0], cmp);
    camoe_model_info info;
    camoe_model_get_info(m, &info);

    uint32_t ad, cat, task;
    camoe_model_field_index(m, "ad_id", 5, &ad);
    camoe_model_field_index(m, "ad_category", 11, &cat);
    camoe_model_task_index(m, "podcast_midroll", 15, &task);
    camoe_session *s = NULL;
    camoe_session_new(m, N, &s);
    camoe_session_set_request(s, NULL, 0);
    for (int i = 0; i < N; i++) {
        memset(feats[i], 0, sizeof feats[i]);
        feats[i][0].field = ad, feats[i][0].kind = CAMOE_VALUE_ID, feats[i][0].id = 1000u + (uint64_t)i;
        feats[i][1].field = cat, feats[i][1].kind = CAMOE_VALUE_ID, feats[i][1].id = (uint64_t)(i % 40);
        feats[i][2].field = cat, feats[i][2].kind = CAMOE_VALUE_MISSING;
        cands[i].features = feats[i];
        cands[i].n_features = 2;
        cands[i].task = task;
        cands[i].bid = 1.0f;
    }
    size_t n = 0;
    if (camoe_session_rank(s, cands, N, NULL, scores, order, N, &n) != CAMOE_STATUS_OK) {
        fprintf(stderr, "%s\n", camoe_last_error());
        return 1;
    }
    long after = hwm_kb();
    printf("model file: %llu bytes; first %s load in this process: %.0f us\n",
           (unsigned long long)info.file_size, mapped ? "mapped" : "read", first);
    printf("%s load (median of %d): %.0f us (min %.0f, max %.0f)\n", mapped ? "mapped" : "read",
           LOADS, t[LOADS / 2], t[0], t[LOADS - 1]);
    printf("peak RSS before load: %ld KB; after ranking %d: %ld KB; growth %ld KB "
           "(model file %llu KB + %ld KB)\n",
           before, N, after, after - before, (unsigned long long)info.file_size / 1024,
           after - before - (long)(info.file_size / 1024));
    camoe_session_free(&s);
    camoe_model_free(&m);
    return 0;
}
