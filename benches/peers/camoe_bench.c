/* camoe_bench: times camoe through its C ABI the way an SDK calls it, for the peer
 * comparison (benches/peers/run.sh).
 *
 *   camoe_bench MODEL.camoe REQUESTS.txt LABEL [--batches 1,10,50] [--seconds S]
 *               [--scores-out FILE]
 *
 * REQUESTS.txt is written by the peers-dump example: `R v...` per request (request
 * fields in schema order), then `C task v...` per candidate (candidate fields);
 * values are decimal u64 ids (CAMOE_VALUE_ID), floats (CAMOE_VALUE_DENSE) or `-`
 * (CAMOE_VALUE_MISSING).
 *
 * Per iteration: camoe_session_set_request(request 0) + camoe_session_rank(its first
 * B candidates), default options. After a warm-up, iterations are timed one by one
 * for about S seconds per batch size (at least 15); the median is printed as a CSV
 * line `LABEL,B,median_us,p10_us,p90_us,iterations`.
 *
 * --scores-out writes every request's pCTRs (all its candidates ranked in one call)
 * as little-endian f32, for the parity check against the Rust API. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "camoe.h"

/* Present in newer libraries; declared weak so the bench links against either. */
extern const char *camoe_kernel_info(void) __attribute__((weak));

#define CHECK(call)                                                                    \
    do {                                                                               \
        camoe_status st_ = (call);                                                     \
        if (st_ != CAMOE_STATUS_OK) {                                                  \
            fprintf(stderr, "camoe_bench: %s failed: %s: %s\n", #call,                 \
                    camoe_status_name(st_), camoe_last_error());                       \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

typedef struct {
    camoe_feature *req;
    size_t n_req;
    camoe_candidate *cands;
    camoe_feature *cand_feats;
    size_t n_cands;
} request;

static void die(const char *msg) {
    fprintf(stderr, "camoe_bench: %s\n", msg);
    exit(1);
}

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Parses one value token for field `f` into `out`. */
static void parse_value(const char *tok, uint32_t f, const camoe_field_info *info, camoe_feature *out) {
    memset(out, 0, sizeof *out);
    out->field = f;
    if (strcmp(tok, "-") == 0) {
        out->kind = CAMOE_VALUE_MISSING;
    } else if (info->kind == CAMOE_FIELD_DENSE) {
        out->kind = CAMOE_VALUE_DENSE;
        out->dense = strtof(tok, NULL);
    } else {
        out->kind = CAMOE_VALUE_ID;
        errno = 0;
        out->id = strtoull(tok, NULL, 10);
        if (errno) die("bad id in the requests file");
    }
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL.camoe REQUESTS.txt LABEL [--batches 1,10] [--seconds S] [--scores-out F]\n", argv[0]);
        return 2;
    }
    const char *model_path = argv[1], *req_path = argv[2], *label = argv[3];
    const char *batches_s = "1,10,50,200,1000", *scores_out = NULL;
    double seconds = 0.6;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--batches") == 0) batches_s = argv[i + 1];
        else if (strcmp(argv[i], "--seconds") == 0) seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--scores-out") == 0) scores_out = argv[i + 1];
        else die("unknown option");
    }

    camoe_model *model = NULL;
    CHECK(camoe_model_load_file(model_path, &model));
    camoe_model_info mi;
    CHECK(camoe_model_get_info(model, &mi));
    camoe_field_info *fields = calloc(mi.n_fields, sizeof *fields);
    uint32_t *req_fields = calloc(mi.n_fields, sizeof *req_fields), *cand_fields = calloc(mi.n_fields, sizeof *cand_fields);
    size_t nrf = 0, ncf = 0;
    for (uint32_t f = 0; f < mi.n_fields; f++) {
        CHECK(camoe_model_field(model, f, &fields[f]));
        if (fields[f].side == CAMOE_SIDE_REQUEST) req_fields[nrf++] = f;
        else cand_fields[ncf++] = f;
    }

    /* Read the requests. */
    FILE *fp = fopen(req_path, "r");
    if (!fp) die("cannot open the requests file");
    request *reqs = NULL;
    size_t n_reqs = 0, cap_reqs = 0, cap_c = 0;
    char *line = NULL;
    size_t line_cap = 0;
    while (getline(&line, &line_cap, fp) > 0) {
        if (line[0] == '#' || line[0] == '\n') continue;
        char *save = NULL, *tok = strtok_r(line, " \n", &save);
        if (strcmp(tok, "R") == 0) {
            if (n_reqs == cap_reqs) {
                cap_reqs = cap_reqs ? 2 * cap_reqs : 8;
                reqs = realloc(reqs, cap_reqs * sizeof *reqs);
            }
            request *r = &reqs[n_reqs++];
            memset(r, 0, sizeof *r);
            r->req = calloc(nrf ? nrf : 1, sizeof *r->req);
            for (size_t k = 0; k < nrf; k++) {
                tok = strtok_r(NULL, " \n", &save);
                if (!tok) die("short request line");
                parse_value(tok, req_fields[k], &fields[req_fields[k]], &r->req[k]);
            }
            r->n_req = nrf;
            cap_c = 0;
        } else if (strcmp(tok, "C") == 0) {
            if (!n_reqs) die("candidate before any request");
            request *r = &reqs[n_reqs - 1];
            if (r->n_cands == cap_c) {
                cap_c = cap_c ? 2 * cap_c : 64;
                r->cands = realloc(r->cands, cap_c * sizeof *r->cands);
                r->cand_feats = realloc(r->cand_feats, cap_c * (ncf ? ncf : 1) * sizeof *r->cand_feats);
            }
            camoe_candidate *c = &r->cands[r->n_cands];
            camoe_feature *cf = &r->cand_feats[r->n_cands * ncf];
            tok = strtok_r(NULL, " \n", &save);
            if (!tok) die("short candidate line");
            c->task = (uint32_t)strtoul(tok, NULL, 10);
            c->bid = 1.0f;
            c->n_features = ncf;
            for (size_t k = 0; k < ncf; k++) {
                tok = strtok_r(NULL, " \n", &save);
                if (!tok) die("short candidate line");
                parse_value(tok, cand_fields[k], &fields[cand_fields[k]], &cf[k]);
            }
            r->n_cands++;
        } else {
            die("bad line in the requests file");
        }
    }
    free(line);
    fclose(fp);
    if (!n_reqs) die("no requests");
    size_t max_c = 0;
    for (size_t i = 0; i < n_reqs; i++) {
        for (size_t c = 0; c < reqs[i].n_cands; c++) reqs[i].cands[c].features = &reqs[i].cand_feats[c * ncf];
        if (reqs[i].n_cands > max_c) max_c = reqs[i].n_cands;
    }

    camoe_session *session = NULL;
    CHECK(camoe_session_new(model, max_c, &session));
    float *scores = malloc(max_c * sizeof *scores);
    uint32_t *order = malloc(max_c * sizeof *order);
    size_t n_order = 0;
    fprintf(stderr, "camoe_bench %s: %s, mode %d, kernels: %s\n", label, model_path, mi.mode,
            camoe_kernel_info ? camoe_kernel_info() : "(camoe_kernel_info not in this library)");

    if (scores_out) {
        FILE *so = fopen(scores_out, "wb");
        if (!so) die("cannot open --scores-out");
        for (size_t i = 0; i < n_reqs; i++) {
            CHECK(camoe_session_set_request(session, reqs[i].req, reqs[i].n_req));
            CHECK(camoe_session_rank(session, reqs[i].cands, reqs[i].n_cands, NULL, scores, order, max_c, &n_order));
            fwrite(scores, sizeof *scores, reqs[i].n_cands, so);
        }
        fclose(so);
    }

    /* Time request 0 with its first B candidates. */
    const request *r = &reqs[0];
    char *bs = strdup(batches_s), *save = NULL;
    size_t cap_t = 1 << 20;
    double *t = malloc(cap_t * sizeof *t);
    for (char *tok = strtok_r(bs, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t b = strtoul(tok, NULL, 10);
        if (b == 0 || b > r->n_cands) die("batch size out of range");
        double warm_end = now_us() + 0.25e6 * seconds;
        long warm = 0;
        while (now_us() < warm_end || warm < 5) {
            CHECK(camoe_session_set_request(session, r->req, r->n_req));
            CHECK(camoe_session_rank(session, r->cands, b, NULL, scores, order, max_c, &n_order));
            warm++;
        }
        size_t n = 0;
        double end = now_us() + 1e6 * seconds;
        while ((now_us() < end || n < 15) && n < cap_t) {
            double t0 = now_us();
            camoe_status s1 = camoe_session_set_request(session, r->req, r->n_req);
            camoe_status s2 = camoe_session_rank(session, r->cands, b, NULL, scores, order, max_c, &n_order);
            t[n++] = now_us() - t0;
            if (s1 != CAMOE_STATUS_OK || s2 != CAMOE_STATUS_OK) die(camoe_last_error());
        }
        qsort(t, n, sizeof *t, cmp_double);
        printf("%s,%zu,%.3f,%.3f,%.3f,%zu\n", label, b, t[n / 2], t[n / 10], t[(n * 9) / 10], n);
        fflush(stdout);
    }
    free(bs);
    free(t);
    free(scores);
    free(order);
    camoe_session_free(&session);
    camoe_model_free(&model);
    for (size_t i = 0; i < n_reqs; i++) {
        free(reqs[i].req);
        free(reqs[i].cands);
        free(reqs[i].cand_feats);
    }
    free(reqs);
    free(fields);
    free(req_fields);
    free(cand_fields);
    return 0;
}
