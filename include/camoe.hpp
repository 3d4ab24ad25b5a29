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

/* One thread's ranking session (move-only). */
class Session {
  public:
    Session(const Model &model, size_t max_candidates) {
        check(camoe_session_new(model.get(), max_candidates, &s_));
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

  private:
    camoe_session *s_ = nullptr;
};

}  // namespace camoe

#endif
