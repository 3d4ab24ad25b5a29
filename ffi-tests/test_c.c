/* test_c.c: a C11 consumer of camoe.h: loads the demo model, reads its info, ranks a
 * request, and walks every error path. Usage: test_c MODEL.camoe */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "camoe.h"
#include "check.h"

/* Defined in tu2.c: proves the header compiles in a second translation unit. */
uint32_t second_unit_version(void);

static uint32_t field(const camoe_model *m, const char *name) {
    uint32_t i = UINT32_MAX;
    CHECK_STATUS(camoe_model_field_index(m, name, strlen(name), &i), CAMOE_STATUS_OK);
    return i;
}

static camoe_feature text(uint32_t f, const char *s) {
    camoe_feature x;
    memset(&x, 0, sizeof x);
    x.field = f;
    x.kind = CAMOE_VALUE_STR;
    x.text = s;
    x.text_len = strlen(s);
    return x;
}

static camoe_feature dense(uint32_t f, float v) {
    camoe_feature x;
    memset(&x, 0, sizeof x);
    x.field = f;
    x.kind = CAMOE_VALUE_DENSE;
    x.dense = v;
    return x;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.camoe\n", argv[0]);
        return 2;
    }
    CHECK(camoe_abi_version() == CAMOE_VERSION_NUMBER);
    CHECK(second_unit_version() == camoe_abi_version());

    camoe_model *m = NULL;
    CHECK_STATUS(camoe_model_load_file("/nonexistent/x.camoe", &m), CAMOE_STATUS_IO);
    CHECK(m == NULL);
    CHECK(strstr(camoe_last_error(), "/nonexistent/x.camoe") != NULL);
    CHECK_STATUS(camoe_model_load_file(NULL, &m), CAMOE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(camoe_model_load_file(argv[1], NULL), CAMOE_STATUS_NULL_ARGUMENT);

    /* Corrupt bytes: a flipped byte fails the checksum; a truncated file is refused. */
    size_t len = 0;
    unsigned char *bytes = read_file(argv[1], &len);
    CHECK(bytes != NULL && len > 1000);
    if (!bytes) return check_summary("test_c");
    bytes[len / 2] ^= 0x01;
    CHECK_STATUS(camoe_model_load_bytes_borrowed(bytes, len, &m), CAMOE_STATUS_CHECKSUM);
    bytes[len / 2] ^= 0x01;
    CHECK_STATUS(camoe_model_load_bytes_copy(bytes, len - 1, &m), CAMOE_STATUS_BAD_MODEL);
    CHECK_STATUS(camoe_model_load_bytes_copy(NULL, 5, &m), CAMOE_STATUS_NULL_ARGUMENT);
    /* A borrowed buffer must be 16-byte aligned: one byte in is refused, not copied. */
    CHECK_STATUS(camoe_model_load_bytes_borrowed(bytes + 1, len - 1, &m), CAMOE_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(camoe_last_error(), "16-byte") != NULL);
    CHECK(m == NULL);

    /* A copy owns its bytes: the caller's buffer is overwritten and freed right after
     * the load (the sanitizer build catches any later read of it). */
    unsigned char *scratch = (unsigned char *)malloc(len);
    CHECK(scratch != NULL);
    if (!scratch) return check_summary("test_c");
    memcpy(scratch, bytes, len);
    camoe_model *copied = NULL;
    CHECK_STATUS(camoe_model_load_bytes_copy(scratch, len, &copied), CAMOE_STATUS_OK);
    memset(scratch, 0xa5, len);
    free(scratch);

    /* Borrowed in place (the buffer is aligned and outlives the model) and from the path. */
    camoe_model *from_bytes = NULL;
    CHECK_STATUS(camoe_model_load_bytes_borrowed(bytes, len, &from_bytes), CAMOE_STATUS_OK);
    CHECK_STATUS(camoe_model_load_file(argv[1], &m), CAMOE_STATUS_OK);
    camoe_model *mapped = NULL;
    CHECK_STATUS(camoe_model_load_file_mapped(argv[1], &mapped), CAMOE_STATUS_OK);
    camoe_model_info info, info2, info3, info4;
    CHECK_STATUS(camoe_model_get_info(m, &info), CAMOE_STATUS_OK);
    CHECK_STATUS(camoe_model_get_info(from_bytes, &info2), CAMOE_STATUS_OK);
    CHECK_STATUS(camoe_model_get_info(copied, &info3), CAMOE_STATUS_OK);
    CHECK_STATUS(camoe_model_get_info(mapped, &info4), CAMOE_STATUS_OK);
    /* A file is read into memory unless mapped on request; a borrowed buffer is in place. */
    CHECK(info.zero_copy == 0 && info2.zero_copy == 1 && info3.zero_copy == 0 && info4.zero_copy == 1);
    camoe_model_free(&mapped);

    /* Identity: name, versions and content hash (the file's last 8 bytes). */
    camoe_model_identity id;
    memset(&id, 0, sizeof id);
    id.struct_size = sizeof id;
    CHECK_STATUS(camoe_model_get_identity(m, &id), CAMOE_STATUS_OK);
    CHECK(id.name_len == 10 && memcmp(id.name, "camoe-demo", 10) == 0);
    CHECK(id.format_version == 2 && id.writer_version == CAMOE_VERSION_NUMBER);
    uint64_t stored = 0;
    for (int i = 7; i >= 0; i--) stored = (stored << 8) | bytes[len - 8 + (size_t)i];
    CHECK(id.content_hash == stored);
    id.struct_size = 0;
    CHECK_STATUS(camoe_model_get_identity(m, &id), CAMOE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(camoe_model_get_identity(NULL, &id), CAMOE_STATUS_NULL_ARGUMENT);

    /* Ed25519: RFC 8032 section 7.1 TEST 3 verifies; a flipped bit or a short key does not. */
    {
        static const uint8_t key[32] = {
            0xfc, 0x51, 0xcd, 0x8e, 0x62, 0x18, 0xa1, 0xa3, 0x8d, 0xa4, 0x7e, 0xd0, 0x02, 0x30, 0xf0, 0x58,
            0x08, 0x16, 0xed, 0x13, 0xba, 0x33, 0x03, 0xac, 0x5d, 0xeb, 0x91, 0x15, 0x48, 0x90, 0x80, 0x25};
        uint8_t sig[64] = {
            0x62, 0x91, 0xd6, 0x57, 0xde, 0xec, 0x24, 0x02, 0x48, 0x27, 0xe6, 0x9c, 0x3a, 0xbe, 0x01, 0xa3,
            0x0c, 0xe5, 0x48, 0xa2, 0x84, 0x74, 0x3a, 0x44, 0x5e, 0x36, 0x80, 0xd7, 0xdb, 0x5a, 0xc3, 0xac,
            0x18, 0xff, 0x9b, 0x53, 0x8d, 0x16, 0xf2, 0x90, 0xae, 0x67, 0xf7, 0x60, 0x98, 0x4d, 0xc6, 0x59,
            0x4a, 0x7c, 0x15, 0xe9, 0x71, 0x6e, 0xd2, 0x8d, 0xc0, 0x27, 0xbe, 0xce, 0xea, 0x1e, 0xc4, 0x0a};
        static const uint8_t msg[2] = {0xaf, 0x82};
        CHECK_STATUS(camoe_verify_signature(msg, 2, sig, 64, key, 32), CAMOE_STATUS_OK);
        CHECK_STATUS(camoe_verify_signature(msg, 1, sig, 64, key, 32), CAMOE_STATUS_SIGNATURE);
        sig[10] ^= 1;
        CHECK_STATUS(camoe_verify_signature(msg, 2, sig, 64, key, 32), CAMOE_STATUS_SIGNATURE);
        CHECK_STATUS(camoe_verify_signature(msg, 2, sig, 64, key, 31), CAMOE_STATUS_INVALID_ARGUMENT);
        CHECK_STATUS(camoe_verify_signature(msg, 2, NULL, 64, key, 32), CAMOE_STATUS_NULL_ARGUMENT);
        CHECK_STATUS(camoe_model_load_file_signed(argv[1], sig, 64, key, 32, &mapped), CAMOE_STATUS_SIGNATURE);
        CHECK(mapped == NULL);
    }
    CHECK(info.n_fields == 16 && info.n_tasks == 7 && info.n_groups == 2 && info.n_formats == 3);
    CHECK(info.file_size == len && info.mode == CAMOE_MODE_INT8 && info.n_experts == 8);
    CHECK_STATUS(camoe_model_get_info(NULL, &info), CAMOE_STATUS_NULL_ARGUMENT);
    printf("model: %u fields (%u request, %u candidate), %u tasks, %u groups, %u experts, "
           "x0 %u, %llu bytes, %llu MAC/candidate\n",
           info.n_fields, info.n_request_fields, info.n_candidate_fields, info.n_tasks,
           info.n_groups, info.n_experts, info.x0_width, (unsigned long long)info.file_size,
           (unsigned long long)info.macs_per_candidate);
    for (uint32_t i = 0; i < info.n_fields; i++) {
        camoe_field_info fi;
        CHECK_STATUS(camoe_model_field(m, i, &fi), CAMOE_STATUS_OK);
        CHECK(field(m, "user_id") == 0 || fi.name_len > 0);
    }
    camoe_field_info fi;
    CHECK_STATUS(camoe_model_field(m, 999, &fi), CAMOE_STATUS_INVALID_ARGUMENT);

    uint32_t unknown = 7;
    CHECK_STATUS(camoe_model_field_index(m, "no_such_field", 13, &unknown), CAMOE_STATUS_INVALID_ARGUMENT);
    CHECK(unknown == 7);
    CHECK(strstr(camoe_last_error(), "no_such_field") != NULL);

    uint32_t audio = 0, video_task = 0, music = 0;
    CHECK_STATUS(camoe_model_format_index(m, "audio", 5, &audio), CAMOE_STATUS_OK);
    CHECK_STATUS(camoe_model_task_index(m, "video_takeover", 14, &video_task), CAMOE_STATUS_OK);
    CHECK_STATUS(camoe_model_task_index(m, "music_audio_break", 17, &music), CAMOE_STATUS_OK);

    camoe_session *s = NULL;
    CHECK_STATUS(camoe_session_new(m, 4, &s), CAMOE_STATUS_OK);
    /* The model may be released before the session: the session keeps it alive. */
    camoe_model_free(&m);
    CHECK(m == NULL);
    camoe_model_free(&m);
    camoe_model_free(NULL);

    camoe_feature req[4];
    req[0] = text(field(from_bytes, "device"), "phone");
    req[1] = text(field(from_bytes, "app_state"), "locked");
    req[2] = text(field(from_bytes, "genre"), "indie");
    req[3] = dense(field(from_bytes, "session_minutes"), 34.0f);
    CHECK_STATUS(camoe_session_set_request(s, req, 4), CAMOE_STATUS_OK);

    uint32_t ad = field(from_bytes, "ad_id");
    camoe_feature ads[4][1];
    camoe_candidate cands[5];
    for (int i = 0; i < 4; i++) {
        memset(&ads[i][0], 0, sizeof ads[i][0]);
        ads[i][0].field = ad;
        ads[i][0].kind = CAMOE_VALUE_ID;
        ads[i][0].id = 1000u + (uint64_t)i;
        cands[i].features = ads[i];
        cands[i].n_features = 1;
        cands[i].task = i == 2 ? video_task : music;
        cands[i].bid = 1.0f + (float)i;
    }
    cands[4] = cands[0];

    float scores[5] = {0};
    uint32_t order[5] = {0};
    size_t n_order = 99;
    CHECK_STATUS(camoe_session_rank(s, cands, 4, NULL, scores, order, 4, &n_order), CAMOE_STATUS_OK);
    CHECK(n_order == 4);
    for (size_t i = 0; i + 1 < n_order; i++) CHECK(scores[order[i]] >= scores[order[i + 1]]);
    for (int i = 0; i < 4; i++) CHECK(scores[i] > 0.0f && scores[i] < 1.0f);
    printf("ranked:");
    for (size_t i = 0; i < n_order; i++) printf(" #%u (p=%.4f)", order[i], (double)scores[order[i]]);
    printf("\n");

    /* The same candidates as columns: the same scores, bit for bit. */
    {
        uint64_t ids[4];
        uint32_t tasks[4];
        float bids[4], col_scores[4];
        uint32_t col_order[4];
        size_t n_col = 0;
        for (int i = 0; i < 4; i++) {
            ids[i] = cands[i].features[0].id;
            tasks[i] = cands[i].task;
            bids[i] = cands[i].bid;
        }
        camoe_column col;
        memset(&col, 0, sizeof col);
        col.field = ad;
        col.kind = CAMOE_VALUE_ID;
        col.ids = ids;
        camoe_candidate_columns batch;
        memset(&batch, 0, sizeof batch);
        batch.struct_size = sizeof batch;
        batch.n = 4;
        batch.tasks = tasks;
        batch.bids = bids;
        batch.columns = &col;
        batch.n_columns = 1;
        CHECK_STATUS(camoe_session_rank_columns(s, &batch, NULL, col_scores, col_order, 4, &n_col), CAMOE_STATUS_OK);
        CHECK(n_col == 4 && memcmp(col_scores, scores, sizeof col_scores) == 0);
        CHECK(memcmp(col_order, order, sizeof col_order) == 0);
        /* Text columns: offsets that decrease are a shape error; a NULL column array a NULL argument. */
        static const char text_bytes[] = "abcdef";
        uint32_t offsets[5] = {0, 2, 1, 3, 4};
        col.kind = CAMOE_VALUE_STR;
        col.text = text_bytes;
        col.text_len = 6;
        col.text_offsets = offsets;
        CHECK_STATUS(camoe_session_rank_columns(s, &batch, NULL, col_scores, col_order, 4, &n_col),
                     CAMOE_STATUS_INVALID_ARGUMENT);
        col.kind = 42;
        CHECK_STATUS(camoe_session_rank_columns(s, &batch, NULL, col_scores, col_order, 4, &n_col),
                     CAMOE_STATUS_INVALID_ARGUMENT);
        col.kind = CAMOE_VALUE_ID;
        col.ids = NULL;
        CHECK_STATUS(camoe_session_rank_columns(s, &batch, NULL, col_scores, col_order, 4, &n_col),
                     CAMOE_STATUS_NULL_ARGUMENT);
        col.ids = ids;
        batch.struct_size = 4;
        CHECK_STATUS(camoe_session_rank_columns(s, &batch, NULL, col_scores, col_order, 4, &n_col),
                     CAMOE_STATUS_INVALID_ARGUMENT);
        CHECK_STATUS(camoe_session_rank_columns(s, NULL, NULL, col_scores, col_order, 4, &n_col),
                     CAMOE_STATUS_NULL_ARGUMENT);
        batch.struct_size = sizeof batch;
        bids[1] = -1.0f;
        CHECK_STATUS(camoe_session_rank_columns(s, &batch, NULL, col_scores, col_order, 4, &n_col),
                     CAMOE_STATUS_BAD_FEATURE);
        CHECK(strstr(camoe_last_error(), "candidate 1") != NULL);
    }

    /* The copied model scores like the mapped one, after its source buffer was freed. */
    {
        camoe_session *cs = NULL;
        float copied_scores[4] = {0};
        uint32_t copied_order[4] = {0};
        size_t n_copied = 0;
        CHECK_STATUS(camoe_session_new(copied, 4, &cs), CAMOE_STATUS_OK);
        CHECK_STATUS(camoe_session_set_request(cs, req, 4), CAMOE_STATUS_OK);
        CHECK_STATUS(camoe_session_rank(cs, cands, 4, NULL, copied_scores, copied_order, 4, &n_copied),
                     CAMOE_STATUS_OK);
        CHECK(n_copied == 4 && memcmp(copied_scores, scores, sizeof copied_scores) == 0);
        camoe_session_free(&cs);
        /* Sessions with worker threads rank the same bits (64 candidates, so that every
         * thread gets rows); freed with their workers idle. */
        {
            enum { MANY = 64 };
            camoe_candidate many[MANY];
            float one[MANY], threaded[MANY];
            uint32_t one_order[MANY], threaded_order[MANY];
            size_t n_one = 0, n_threaded = 0;
            for (int i = 0; i < MANY; i++) many[i] = cands[i % 4];
            camoe_session_options so;
            memset(&so, 0xff, sizeof so);
            so.struct_size = sizeof so;
            CHECK_STATUS(camoe_session_options_default(&so), CAMOE_STATUS_OK);
            CHECK(so.struct_size == sizeof so && so.threads == 1 && so.max_candidates == 256);
            so.max_candidates = MANY;
            for (uint32_t threads = 1; threads <= 4; threads++) {
                camoe_session *ts = NULL;
                so.threads = threads;
                CHECK_STATUS(camoe_session_new_with_options(copied, &so, &ts), CAMOE_STATUS_OK);
                CHECK_STATUS(camoe_session_set_request(ts, req, 4), CAMOE_STATUS_OK);
                CHECK_STATUS(camoe_session_rank(ts, many, MANY, NULL, threaded, threaded_order, MANY, &n_threaded),
                             CAMOE_STATUS_OK);
                CHECK(n_threaded == MANY);
                if (threads == 1) {
                    memcpy(one, threaded, sizeof one);
                    memcpy(one_order, threaded_order, sizeof one_order);
                    n_one = n_threaded;
                    CHECK(memcmp(one, scores, 4 * sizeof(float)) == 0);
                }
                CHECK(n_threaded == n_one && memcmp(threaded, one, sizeof one) == 0);
                CHECK(memcmp(threaded_order, one_order, sizeof one_order) == 0);
                camoe_session_free(&ts);
                CHECK(ts == NULL);
            }
            camoe_session *ts = NULL;
            so.threads = 0;
            CHECK_STATUS(camoe_session_new_with_options(copied, &so, &ts), CAMOE_STATUS_INVALID_ARGUMENT);
            CHECK(ts == NULL && strstr(camoe_last_error(), "threads") != NULL);
        }
        camoe_model_free(&copied);
        CHECK(copied == NULL);
    }

    /* Screen off: only audio is eligible; top-2 by expected value. */
    camoe_rank_options opts;
    memset(&opts, 0xff, sizeof opts);
    opts.struct_size = sizeof opts;
    CHECK_STATUS(camoe_rank_options_default(&opts), CAMOE_STATUS_OK);
    CHECK(opts.struct_size == sizeof opts);
    CHECK(opts.eligible_formats == UINT32_MAX && opts.top_k == 0 && opts.expert_top_k == 0);
    opts.eligible_formats = 1u << audio;
    opts.top_k = 2;
    opts.objective = CAMOE_OBJECTIVE_EXPECTED_VALUE;
    CHECK_STATUS(camoe_session_rank(s, cands, 4, &opts, scores, order, 4, &n_order), CAMOE_STATUS_OK);
    CHECK(n_order == 2 && isnan(scores[2]) && order[0] != 2 && order[1] != 2);

    /* An older caller's smaller options struct (the first layout, without expert_top_k):
     * the missing field takes its default even though the bytes after it say otherwise. */
    float all_experts[4], one_expert[4], v1_scores[4];
    camoe_rank_options masked;
    masked.struct_size = sizeof masked;
    CHECK_STATUS(camoe_rank_options_default(&masked), CAMOE_STATUS_OK);
    CHECK_STATUS(camoe_session_rank(s, cands, 4, &masked, all_experts, order, 4, &n_order), CAMOE_STATUS_OK);
    masked.expert_top_k = 1;
    CHECK_STATUS(camoe_session_rank(s, cands, 4, &masked, one_expert, order, 4, &n_order), CAMOE_STATUS_OK);
    CHECK(memcmp(all_experts, one_expert, sizeof all_experts) != 0);
    masked.struct_size = (uint32_t)offsetof(camoe_rank_options, expert_top_k);
    CHECK_STATUS(camoe_session_rank(s, cands, 4, &masked, v1_scores, order, 4, &n_order), CAMOE_STATUS_OK);
    CHECK(memcmp(all_experts, v1_scores, sizeof all_experts) == 0);
    /* Defaults for a v1 struct write only its 16 bytes. */
    CHECK_STATUS(camoe_rank_options_default(&masked), CAMOE_STATUS_OK);
    CHECK(masked.expert_top_k == 1);
    masked.struct_size = 8;
    CHECK_STATUS(camoe_session_rank(s, cands, 4, &masked, v1_scores, order, 4, &n_order), CAMOE_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(camoe_last_error(), "struct_size") != NULL);
    CHECK_STATUS(camoe_rank_options_default(&masked), CAMOE_STATUS_INVALID_ARGUMENT);

    /* Error paths. */
    CHECK_STATUS(camoe_session_rank(s, cands, 5, NULL, scores, order, 5, &n_order), CAMOE_STATUS_CAPACITY);
    CHECK_STATUS(camoe_session_rank(NULL, cands, 4, NULL, scores, order, 4, &n_order), CAMOE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(camoe_session_rank(s, cands, 4, NULL, NULL, order, 4, &n_order), CAMOE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(camoe_session_rank(s, cands, 4, NULL, scores, order, 4, NULL), CAMOE_STATUS_NULL_ARGUMENT);
    camoe_feature nan_req = dense(field(from_bytes, "session_minutes"), NAN);
    CHECK_STATUS(camoe_session_set_request(s, &nan_req, 1), CAMOE_STATUS_BAD_FEATURE);
    CHECK(strstr(camoe_last_error(), "NaN") != NULL);
    camoe_feature bad_field = text(4242, "x");
    CHECK_STATUS(camoe_session_set_request(s, &bad_field, 1), CAMOE_STATUS_BAD_FEATURE);
    CHECK_STATUS(camoe_session_set_request(s, NULL, 2), CAMOE_STATUS_NULL_ARGUMENT);
    /* A failed set_request keeps the previous request: the ranking is unchanged. */
    {
        float again[4];
        CHECK_STATUS(camoe_session_rank(s, cands, 4, NULL, again, order, 4, &n_order), CAMOE_STATUS_OK);
        CHECK(memcmp(again, all_experts, sizeof again) == 0);
    }

    camoe_session_free(&s);
    CHECK(s == NULL);
    camoe_session_free(&s);
    camoe_session_free(NULL);
    camoe_model_free(&from_bytes);
    free(bytes);
    return check_summary("test_c");
}
