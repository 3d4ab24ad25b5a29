// test_cpp.cpp: a C++17 consumer of camoe.h through camoe.hpp. Usage: test_cpp MODEL.camoe
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "camoe.hpp"
#include "check.h"

template <typename F>
static camoe_status status_of(F &&f) {
    try {
        f();
        return CAMOE_STATUS_OK;
    } catch (const camoe::Error &e) {
        return e.status();
    }
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    static_assert(CAMOE_VERSION_NUMBER == ((CAMOE_VERSION_MAJOR << 16) | (CAMOE_VERSION_MINOR << 8) | CAMOE_VERSION_PATCH));
    CHECK(camoe_abi_version() == CAMOE_VERSION_NUMBER);

    CHECK(status_of([] { camoe::Model::load_file("/nonexistent.camoe"); }) == CAMOE_STATUS_IO);
    std::vector<uint8_t> junk(200, 0xab);
    CHECK(status_of([&] { camoe::Model::load_bytes_copy(junk.data(), junk.size()); }) == CAMOE_STATUS_BAD_MODEL);

    camoe::Model model = camoe::Model::load_file(argv[1]);
    camoe_model_info info = model.info();
    CHECK(info.n_tasks == 7 && info.n_groups == 2 && info.mode == CAMOE_MODE_INT8);
    CHECK(status_of([&] { model.field("nope"); }) == CAMOE_STATUS_INVALID_ARGUMENT);

    // A copy outlives its source: the vector is released right after the load.
    auto file_bytes = [&] {
        FILE *f = std::fopen(argv[1], "rb");
        std::vector<uint8_t> v;
        if (!f) return v;
        std::fseek(f, 0, SEEK_END);
        v.resize(static_cast<size_t>(std::ftell(f)));
        std::fseek(f, 0, SEEK_SET);
        if (std::fread(v.data(), 1, v.size(), f) != v.size()) v.clear();
        std::fclose(f);
        return v;
    };
    std::vector<uint8_t> bytes = file_bytes();
    camoe::Model copied = camoe::Model::load_bytes_copy(bytes.data(), bytes.size());
    std::fill(bytes.begin(), bytes.end(), 0xa5);
    std::vector<uint8_t>().swap(bytes);
    CHECK(copied.info().zero_copy == 0 && copied.info().n_tasks == 7);

    camoe::Session session(model, 3);
    std::vector<camoe_feature> request{camoe::text(model.field("device"), "smart_speaker"),
                                       camoe::text(model.field("app_state"), "background"),
                                       camoe::dense(model.field("session_minutes"), 50.0f)};
    session.set_request(request);
    std::vector<camoe_feature> a{camoe::text(model.field("ad_id"), "a_1"), camoe::dense(model.field("creative_seconds"), 30.0f)};
    std::vector<camoe_feature> b{camoe::id(model.field("ad_id"), 77)};
    std::vector<camoe_candidate> cands{{a.data(), a.size(), model.task("podcast_midroll"), 2.0f},
                                       {b.data(), b.size(), model.task("overlay"), 1.0f}};
    std::vector<float> scores;
    std::vector<uint32_t> order = session.rank(cands, scores);
    CHECK(order.size() == 2 && scores[order[0]] >= scores[order[1]]);

    // The copied model, its source buffer gone, scores exactly like the mapped one.
    camoe::Session from_copy(copied, 3);
    from_copy.set_request(request);
    std::vector<float> copy_scores;
    CHECK(from_copy.rank(cands, copy_scores) == order && copy_scores == scores);

    // Two threads (one worker): the same scores and order; 0 threads is refused.
    {
        camoe::Session threaded(model, 3, 2);
        threaded.set_request(request);
        std::vector<float> threaded_scores;
        CHECK(threaded.rank(cands, threaded_scores) == order && threaded_scores == scores);
        CHECK(status_of([&] { camoe::Session none(model, 3, 0); }) == CAMOE_STATUS_INVALID_ARGUMENT);
    }

    // The same two candidates as columns (text ads with offsets, one missing dense value):
    // the same scores, bit for bit, into caller-owned arrays.
    {
        std::string ad_text = "a_1";
        std::vector<uint32_t> tasks{model.task("podcast_midroll"), model.task("overlay")};
        std::vector<float> bids{2.0f, 1.0f}, seconds{30.0f, 0.0f};
        std::vector<uint64_t> ids{0, 77};
        std::vector<uint8_t> text_missing{0, 1}, id_missing{1, 0}, seconds_missing{0, 1};
        std::vector<uint32_t> offsets{0, 3, 3};
        camoe::Columns batch(tasks, bids);
        // Candidate 0's ad is text, candidate 1's an id: two columns of one field would
        // be "given twice", so each candidate sets the ad in one column and is missing in the other.
        batch.text(model.field("ad_id"), ad_text, offsets, text_missing)
            .dense(model.field("creative_seconds"), seconds, seconds_missing);
        camoe::Columns by_id(tasks, bids);
        by_id.ids(model.field("ad_id"), ids, id_missing);
        float col_scores[2];
        uint32_t col_order[2];
        CHECK(session.rank_columns(batch, col_scores, 2, col_order, 2) == 2);
        CHECK(std::memcmp(&col_scores[0], &scores[0], sizeof(float)) == 0);
        CHECK(session.rank_columns(by_id, col_scores, 2, col_order, 2) == 2);
        CHECK(std::memcmp(&col_scores[1], &scores[1], sizeof(float)) == 0);
        std::vector<uint64_t> three{1, 2, 3};
        camoe::Columns wrong(tasks);
        CHECK(status_of([&] { wrong.ids(model.field("ad_id"), three); }) == CAMOE_STATUS_INVALID_ARGUMENT);
        CHECK(status_of([&] { session.rank_columns(batch, col_scores, 1, col_order, 2); }) == CAMOE_STATUS_CAPACITY);
    }

    // Audio only: the display overlay is not scored.
    camoe_rank_options opts = camoe::rank_options();
    CHECK(opts.struct_size == sizeof opts && opts.eligible_formats == UINT32_MAX);
    opts.eligible_formats = 1u << model.format("audio");
    order = session.rank(cands, scores, &opts);
    CHECK(order.size() == 1 && order[0] == 0 && std::isnan(scores[1]));

    std::vector<camoe_candidate> four(4, cands[0]);
    CHECK(status_of([&] { session.rank(four, scores); }) == CAMOE_STATUS_CAPACITY);
    CHECK(status_of([&] { session.set_request({camoe::dense(model.field("session_minutes"), std::numeric_limits<float>::quiet_NaN())}); }) == CAMOE_STATUS_BAD_FEATURE);
    CHECK(std::strstr(camoe_last_error(), "NaN") != nullptr);
    CHECK(status_of([&] { session.set_request({camoe::text(model.field("ad_id"), "wrong side")}); }) == CAMOE_STATUS_BAD_FEATURE);
    return check_summary("test_cpp");
}
