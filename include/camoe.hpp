/* camoe.hpp: a header-only C++17 wrapper over camoe.h: RAII handles and exceptions.
 * The C header stays the contract; this file only adds ownership and error types. */
#ifndef CAMOE_HPP
#define CAMOE_HPP

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "camoe.h"

namespace camoe {

/* A failed call: its status and the library's message. */
class Error : public std::runtime_error {
  public:
    Error(camoe_status status, const char *message)
        : std::runtime_error(std::string(camoe_status_name(status)) + ": " + message), status_(status) {}
    camoe_status status() const noexcept { return status_; }

  private:
    camoe_status status_;
};

inline void check(camoe_status s) {
    if (s != CAMOE_STATUS_OK) throw Error(s, camoe_last_error());
}

/* A shared, immutable model (move-only handle). */
class Model {
  public:
    static Model load_file(const std::string &path) {
        camoe_model *m = nullptr;
        check(camoe_model_load_file(path.c_str(), &m));
        return Model(m);
    }
    /* Copies the bytes: the buffer may be freed as soon as this returns. */
    static Model load_bytes_copy(const uint8_t *data, size_t len) {
        camoe_model *m = nullptr;
        check(camoe_model_load_bytes_copy(data, len, &m));
        return Model(m);
    }
    /* Reads the bytes in place: `data` must be 16-byte aligned and stay valid and
     * unchanged until this model and every Session on it are destroyed. */
    static Model load_bytes_borrowed(const uint8_t *data, size_t len) {
        camoe_model *m = nullptr;
        check(camoe_model_load_bytes_borrowed(data, len, &m));
        return Model(m);
    }
    Model(Model &&o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
    Model &operator=(Model &&o) noexcept {
        std::swap(m_, o.m_);
        return *this;
    }
    Model(const Model &) = delete;
    Model &operator=(const Model &) = delete;
    ~Model() { camoe_model_free(&m_); }

    camoe_model_info info() const {
        camoe_model_info i{};
        check(camoe_model_get_info(m_, &i));
        return i;
    }
    uint32_t field(std::string_view name) const {
        uint32_t i = 0;
        check(camoe_model_field_index(m_, name.data(), name.size(), &i));
        return i;
    }
    uint32_t task(std::string_view name) const {
        uint32_t i = 0;
        check(camoe_model_task_index(m_, name.data(), name.size(), &i));
        return i;
    }
    uint32_t format(std::string_view name) const {
        uint32_t i = 0;
        check(camoe_model_format_index(m_, name.data(), name.size(), &i));
        return i;
    }
    const camoe_model *get() const noexcept { return m_; }

  private:
    explicit Model(camoe_model *m) : m_(m) {}
    camoe_model *m_;
};

/* Default options of this header's layout (struct_size set). */
inline camoe_rank_options rank_options() {
    camoe_rank_options o{};
    o.struct_size = sizeof o;
    check(camoe_rank_options_default(&o));
    return o;
}

/* Builders for features; string views must outlive the call that uses them. */
inline camoe_feature text(uint32_t field, std::string_view s) {
    camoe_feature f{};
    f.field = field;
    f.kind = CAMOE_VALUE_STR;
    f.text = s.data();
    f.text_len = s.size();
    return f;
}
inline camoe_feature id(uint32_t field, uint64_t v) {
    camoe_feature f{};
    f.field = field;
    f.kind = CAMOE_VALUE_ID;
    f.id = v;
    return f;
}
inline camoe_feature dense(uint32_t field, float v) {
    camoe_feature f{};
    f.field = field;
    f.kind = CAMOE_VALUE_DENSE;
    f.dense = v;
    return f;
}

/* A non-owning view of a contiguous array (a std::span stand-in for C++17). */
template <class T>
struct view {
    const T *data = nullptr;
    size_t size = 0;
    view() = default;
    view(const T *d, size_t n) : data(d), size(n) {}
    view(const std::vector<T> &v) : data(v.data()), size(v.size()) {}
    template <size_t N>
    view(const T (&a)[N]) : data(a), size(N) {}
};

/* A columnar batch of candidates: views into the caller's arrays (which must outlive
 * the rank_columns call), one column per candidate field. Lengths are checked here:
 * a column that does not hold one value per candidate throws INVALID_ARGUMENT. */
class Columns {
  public:
    explicit Columns(view<uint32_t> tasks, view<float> bids = {}) : tasks_(tasks), bids_(bids) {
        if (bids.data && bids.size != tasks.size) mismatch("bids", bids.size, tasks.size);
    }
    Columns &ids(uint32_t field, view<uint64_t> v, view<uint8_t> missing = {}) {
        camoe_column &c = add(field, CAMOE_VALUE_ID, v.size, missing);
        c.ids = v.data;
        return *this;
    }
    Columns &dense(uint32_t field, view<float> v, view<uint8_t> missing = {}) {
        camoe_column &c = add(field, CAMOE_VALUE_DENSE, v.size, missing);
        c.dense = v.data;
        return *this;
    }
    /* Candidate i's text is bytes[offsets[i] .. offsets[i + 1]] (n + 1 offsets). */
    Columns &text(uint32_t field, std::string_view bytes, view<uint32_t> offsets, view<uint8_t> missing = {}) {
        camoe_column &c = add(field, CAMOE_VALUE_STR, offsets.size == 0 ? 0 : offsets.size - 1, missing);
        c.text = bytes.data();
        c.text_len = bytes.size();
        c.text_offsets = offsets.data;
        return *this;
    }
    size_t size() const noexcept { return tasks_.size; }
    camoe_candidate_columns get() const {
        camoe_candidate_columns b{};
        b.struct_size = sizeof b;
        b.n = tasks_.size;
        b.tasks = tasks_.data;
        b.bids = bids_.data;
        b.columns = cols_.data();
        b.n_columns = cols_.size();
        return b;
    }

  private:
    [[noreturn]] static void mismatch(const char *what, size_t got, size_t want) {
        std::string m = std::string(what) + " holds " + std::to_string(got) + " values for " +
                        std::to_string(want) + " candidates";
        throw Error(CAMOE_STATUS_INVALID_ARGUMENT, m.c_str());
    }
    camoe_column &add(uint32_t field, int32_t kind, size_t n, view<uint8_t> missing) {
        if (n != tasks_.size) mismatch("a column", n, tasks_.size);
        if (missing.data && missing.size != tasks_.size) mismatch("missing flags", missing.size, tasks_.size);
        camoe_column c{};
        c.field = field;
        c.kind = kind;
        c.missing = missing.data;
        cols_.push_back(c);
        return cols_.back();
    }
    view<uint32_t> tasks_;
    view<float> bids_;
    std::vector<camoe_column> cols_;
};

/* A ranking session for one calling thread (move-only). */
class Session {
  public:
    Session(const Model &model, size_t max_candidates) {
        check(camoe_session_new(model.get(), max_candidates, &s_));
    }
    /* A session ranking on `threads` threads (the caller's and threads - 1 workers it owns). */
    Session(const Model &model, size_t max_candidates, uint32_t threads) {
        camoe_session_options o;
        o.struct_size = sizeof o;
        check(camoe_session_options_default(&o));
        o.max_candidates = max_candidates;
        o.threads = threads;
        check(camoe_session_new_with_options(model.get(), &o, &s_));
    }
    Session(Session &&o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;
    ~Session() { camoe_session_free(&s_); }

    void set_request(const std::vector<camoe_feature> &features) {
        check(camoe_session_set_request(s_, features.data(), features.size()));
    }
    /* Scores into `scores` (resized to the candidate count); returns the order. */
    std::vector<uint32_t> rank(const std::vector<camoe_candidate> &candidates, std::vector<float> &scores,
                               const camoe_rank_options *options = nullptr) {
        scores.resize(candidates.size());
        std::vector<uint32_t> order(candidates.size());
        size_t n = 0;
        check(camoe_session_rank(s_, candidates.data(), candidates.size(), options, scores.data(),
                                 order.data(), order.size(), &n));
        order.resize(n);
        return order;
    }

    /* Ranks a columnar batch into caller-owned arrays (no allocation): scores needs one
     * slot per candidate; returns how many indices were written to order. */
    size_t rank_columns(const Columns &batch, float *scores, size_t scores_len, uint32_t *order, size_t order_cap,
                        const camoe_rank_options *options = nullptr) {
        if (scores_len < batch.size())
            throw Error(CAMOE_STATUS_CAPACITY, "scores holds fewer values than the batch has candidates");
        camoe_candidate_columns b = batch.get();
        size_t n = 0;
        check(camoe_session_rank_columns(s_, &b, options, scores, order, order_cap, &n));
        return n;
    }

  private:
    camoe_session *s_ = nullptr;
};

}  // namespace camoe

#endif
