/* check.h: a tiny assertion helper shared by the C and C++ consumers of camoe.h. */
#ifndef CAMOE_FFI_CHECK_H
#define CAMOE_FFI_CHECK_H
#include <stdio.h>
#include <stdlib.h>

static int check_failures = 0;
static int check_passes = 0;

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (cond) {                                                                \
            check_passes++;                                                        \
        } else {                                                                   \
            check_failures++;                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, \
                    __LINE__, #cond, camoe_last_error());                          \
        }                                                                          \
    } while (0)

/* Checks a status and that failures leave a message. */
#define CHECK_STATUS(call, want)                                                   \
    do {                                                                           \
        camoe_status got_ = (call);                                                \
        if (got_ != (want)) {                                                      \
            check_failures++;                                                      \
            fprintf(stderr, "%s:%d: %s returned %s, want %s (last error: %s)\n",   \
                    __FILE__, __LINE__, #call, camoe_status_name(got_),            \
                    camoe_status_name(want), camoe_last_error());                  \
        } else if ((want) != CAMOE_STATUS_OK && camoe_last_error()[0] == '\0') {   \
            check_failures++;                                                      \
            fprintf(stderr, "%s:%d: %s failed without a message\n", __FILE__,      \
                    __LINE__, #call);                                              \
        } else {                                                                   \
            check_passes++;                                                        \
        }                                                                          \
    } while (0)

static inline unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    /* 64-byte aligned so the library may read it in place. */
    size_t cap = ((size_t)n + 63) / 64 * 64;
    unsigned char *buf = (unsigned char *)aligned_alloc(64, cap ? cap : 64);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static inline int check_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, check_passes, check_failures);
    return check_failures == 0 ? 0 : 1;
}
#endif
