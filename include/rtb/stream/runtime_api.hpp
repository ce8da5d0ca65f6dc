// Decoding the answers of the remote Runtime API (OpenHands' build service):
// POST /build, GET /build_status, GET /image_exists, GET /registry_prefix.
// Answers come from the network: everything is checked, nothing is trusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <simdjson.h>

#include "rtb/error.hpp"
#include "rtb/stream/detail/ondemand.hpp"
#include "rtb/stream/detail/text_scan.hpp"

namespace rtb {

/// The state of a remote build, as GET /build_status names it (the Google
/// Cloud Build vocabulary OpenHands' service uses).
enum class remote_build_state {
    pending,         ///< "PENDING"
    queued,          ///< "QUEUED"
    working,         ///< "WORKING" (also accepted: "RUNNING")
    success,         ///< "SUCCESS": `image` names the built image
    failure,         ///< "FAILURE": the build itself failed
    internal_error,  ///< "INTERNAL_ERROR": the service failed
    timeout,         ///< "TIMEOUT": the build ran longer than the service allows
    cancelled,       ///< "CANCELLED"
    expired,         ///< "EXPIRED": it waited in the queue too long, never ran
};

/// The answer of GET /build_status?build_id=...
struct remote_build_status {
    remote_build_state state = remote_build_state::pending;
    std::string image;     ///< set (and checked) when state is success
    std::string image_id;  ///< the built image's id, when the service gives one (rtb serve: "image_id")
    std::string error;     ///< the service's message, when it gave one

    /// Whether polling can stop.
    bool finished() const noexcept {
        return state != remote_build_state::pending && state != remote_build_state::queued &&
               state != remote_build_state::working;
    }
};

/// The answer of GET /image_exists?image=...
struct remote_image_info {
    bool exists = false;
    std::optional<std::string> upload_time;          ///< as the service wrote it (ISO 8601 or epoch seconds)
    std::optional<std::uint64_t> image_size_bytes;
};

/// The wire name of a state ("SUCCESS").
constexpr std::string_view to_string(remote_build_state s) noexcept {
    switch (s) {
        case remote_build_state::pending: return "PENDING";
        case remote_build_state::queued: return "QUEUED";
        case remote_build_state::working: return "WORKING";
        case remote_build_state::success: return "SUCCESS";
        case remote_build_state::failure: return "FAILURE";
        case remote_build_state::internal_error: return "INTERNAL_ERROR";
        case remote_build_state::timeout: return "TIMEOUT";
        case remote_build_state::cancelled: return "CANCELLED";
        case remote_build_state::expired: return "EXPIRED";
    }
    return "UNKNOWN";
}

/// Answers larger than this are refused before parsing.
inline constexpr std::size_t max_runtime_api_answer = std::size_t{1} << 20;

/// POST /build -> {"build_id": "..."}: the build id (non-empty, at most 256
/// bytes, printable ASCII without spaces).
inline std::string parse_build_id(std::string_view body);

/// GET /build_status -> {"status": S, "image": "...", "error": "..."}.
/// An unknown status is a parse_error (never "keep polling" forever);
/// SUCCESS without an image is one too.
inline remote_build_status parse_build_status(std::string_view body);

/// GET /image_exists -> {"exists": bool, "image": {"upload_time": ..., "image_size_bytes": N}}.
inline remote_image_info parse_image_exists(std::string_view body);

/// GET /registry_prefix -> {"registry_prefix": "..."}: non-empty, printable,
/// no whitespace, at most 255 bytes.
inline std::string parse_registry_prefix(std::string_view body);

/// The error a finished, unsuccessful build is reported as:
/// FAILURE -> build_failed; TIMEOUT -> build_failed (running it again would
/// time out again); EXPIRED -> timeout (retryable: it never ran);
/// INTERNAL_ERROR -> server_error; CANCELLED -> cancelled.
inline error remote_build_error(const remote_build_status& status, std::string_view build_id);

// ---------------------------------------------------------------------------

namespace detail {

/// Parses one Runtime API answer and walks its root object's fields.
class api_answer {
public:
    api_answer(std::string_view endpoint, std::string_view body) : endpoint_(endpoint), body_(body) {
        if (body.size() > max_runtime_api_answer)
            fail(fmt::format("the answer is {} bytes, more than the {} byte limit", body.size(), max_runtime_api_answer));
        json_ = simdjson::padded_string(body);
    }

    /// Calls on_field(std::string_view key, simdjson::ondemand::value&) for
    /// each field; it returns an error_code. Duplicate keys are refused.
    template <class F>
    void fields(F&& on_field) {
        simdjson::ondemand::document doc;
        simdjson::ondemand::object root;
        auto e = parser_.iterate(json_).get(doc);
        if (!e) e = doc.get_object().get(root);
        if (e) fail(simdjson::error_message(e));
        std::string seen = "\n";
        for (auto field_result : root) {
            simdjson::ondemand::field field;
            std::string_view key;
            if (!e) e = std::move(field_result).get(field);
            if (!e) e = field.unescaped_key().get(key);
            if (e) fail(simdjson::error_message(e));
            const auto marker = fmt::format("\n{}\n", key);
            if (seen.find(marker) != std::string::npos) fail(fmt::format("the field {} appears twice", excerpt(key)));
            seen.append(key).push_back('\n');
            if ((e = on_field(key, field.value()))) fail(fmt::format("field {}: {}", excerpt(key), simdjson::error_message(e)));
        }
        if (!ondemand_access::at_end(doc)) fail("unexpected content after the JSON document");
    }

    [[noreturn]] void fail(std::string_view why) const {
        throw error(errc::parse_error,
                    fmt::format("remote build service: malformed answer to {}: {} in {}", endpoint_, why, excerpt(body_, 120)));
    }

private:
    std::string_view endpoint_;
    std::string_view body_;
    simdjson::padded_string json_;
    simdjson::ondemand::parser parser_;
};

/// printable ASCII without spaces, 1..max bytes
constexpr bool is_token(std::string_view s, std::size_t max) noexcept {
    if (s.empty() || s.size() > max) return false;
    for (const char c : s)
        if (c <= 0x20 || c >= 0x7f) return false;
    return true;
}

}  // namespace detail

inline std::string parse_build_id(std::string_view body) {
    detail::api_answer a("POST /build", body);
    std::optional<std::string_view> id;
    a.fields([&](std::string_view key, simdjson::ondemand::value& v) -> simdjson::error_code {
        if (key != "build_id") return simdjson::SUCCESS;
        std::string_view s;
        if (auto e = v.get_string().get(s)) return e;
        id = s;
        return simdjson::SUCCESS;
    });
    if (!id) a.fail("'build_id' is missing");
    if (!detail::is_token(*id, 256)) a.fail(fmt::format("'build_id' {} is not a usable id", detail::excerpt(*id)));
    return std::string(*id);
}

inline remote_build_status parse_build_status(std::string_view body) {
    detail::api_answer a("GET /build_status", body);
    std::optional<std::string_view> status;
    std::string_view image, image_id, message;
    a.fields([&](std::string_view key, simdjson::ondemand::value& v) -> simdjson::error_code {
        std::string_view s;
        if (key == "status" || key == "image" || key == "image_id" || key == "error") {
            bool is_null = false;
            if (auto e = v.is_null().get(is_null)) return e;
            if (is_null) return key == "status" ? simdjson::INCORRECT_TYPE : simdjson::SUCCESS;
            if (auto e = v.get_string().get(s)) return e;
        }
        if (key == "status") status = s;
        else if (key == "image") image = s;
        else if (key == "image_id") image_id = s;
        else if (key == "error") message = s;
        return simdjson::SUCCESS;
    });
    if (!status) a.fail("'status' is missing");
    remote_build_status r;
    using S = remote_build_state;
    constexpr std::pair<std::string_view, S> names[] = {
        {"PENDING", S::pending},     {"QUEUED", S::queued},       {"WORKING", S::working},
        {"RUNNING", S::working},     {"SUCCESS", S::success},     {"FAILURE", S::failure},
        {"INTERNAL_ERROR", S::internal_error}, {"TIMEOUT", S::timeout}, {"CANCELLED", S::cancelled},
        {"EXPIRED", S::expired}};
    bool known = false;
    for (const auto& [name, state] : names) {
        if (*status == name) {
            r.state = state;
            known = true;
        }
    }
    if (!known) a.fail(fmt::format("unknown build status {}", detail::excerpt(*status)));
    if (r.state == S::success) {
        if (!detail::is_token(image, 512)) a.fail(fmt::format("status SUCCESS with an unusable image {}", detail::excerpt(image)));
        r.image = image;
        // An id is "sha256:" and 64 hex digits; anything else is not one and is dropped.
        if (image_id.size() == 71 && image_id.starts_with("sha256:") &&
            image_id.find_first_not_of("0123456789abcdef", 7) == std::string_view::npos)
            r.image_id = image_id;
    }
    r.error = message;
    return r;
}

inline remote_image_info parse_image_exists(std::string_view body) {
    detail::api_answer a("GET /image_exists", body);
    std::optional<bool> exists;
    remote_image_info r;
    a.fields([&](std::string_view key, simdjson::ondemand::value& v) -> simdjson::error_code {
        if (key == "exists") {
            bool b = false;
            if (auto e = v.get_bool().get(b)) return e;
            exists = b;
        } else if (key == "image") {
            bool is_null = false;
            if (auto e = v.is_null().get(is_null)) return e;
            if (is_null) return simdjson::SUCCESS;
            simdjson::ondemand::object o;
            if (auto e = v.get_object().get(o)) return e;
            for (auto f : o) {
                simdjson::ondemand::field field;
                std::string_view k;
                if (auto e = std::move(f).get(field)) return e;
                if (auto e = field.unescaped_key().get(k)) return e;
                auto fv = field.value();
                simdjson::ondemand::json_type t;
                if (auto e = fv.type().get(t)) return e;
                if (t == simdjson::ondemand::json_type::null) continue;
                if (k == "upload_time") {
                    if (t == simdjson::ondemand::json_type::string) {
                        std::string_view s;
                        if (auto e = fv.get_string().get(s)) return e;
                        if (s.size() > 64) return simdjson::INCORRECT_TYPE;
                        r.upload_time = std::string(s);
                    } else if (t == simdjson::ondemand::json_type::number) {
                        const std::string_view raw = detail::trim(fv.raw_json_token());
                        double d = 0;
                        if (auto e = fv.get_double().get(d)) return e;
                        r.upload_time = std::string(raw);
                    } else {
                        return simdjson::INCORRECT_TYPE;
                    }
                } else if (k == "image_size_bytes") {
                    std::uint64_t n = 0;
                    if (auto e = fv.get_uint64().get(n)) return e;
                    r.image_size_bytes = n;
                }
            }
        }
        return simdjson::SUCCESS;
    });
    if (!exists) a.fail("'exists' is missing");
    r.exists = *exists;
    return r;
}

inline std::string parse_registry_prefix(std::string_view body) {
    detail::api_answer a("GET /registry_prefix", body);
    std::optional<std::string_view> prefix;
    a.fields([&](std::string_view key, simdjson::ondemand::value& v) -> simdjson::error_code {
        if (key != "registry_prefix") return simdjson::SUCCESS;
        std::string_view s;
        if (auto e = v.get_string().get(s)) return e;
        prefix = s;
        return simdjson::SUCCESS;
    });
    if (!prefix) a.fail("'registry_prefix' is missing");
    if (!detail::is_token(*prefix, 255)) a.fail(fmt::format("'registry_prefix' {} is not a registry name", detail::excerpt(*prefix)));
    return std::string(*prefix);
}

inline error remote_build_error(const remote_build_status& s, std::string_view build_id) {
    const auto what = s.error.empty() ? fmt::format("the build ended with status {}", to_string(s.state)) : s.error;
    const auto message = fmt::format("remote build {} {}: {}", build_id, to_string(s.state), what);
    switch (s.state) {
        case remote_build_state::failure:
        case remote_build_state::timeout: {
            error e(errc::build_failed, message);
            e.with_build_failure({detail::exit_code_in(s.error), {}, {}});
            return e;
        }
        case remote_build_state::expired: return error(errc::timeout, message);
        case remote_build_state::internal_error: return error(errc::server_error, message);
        case remote_build_state::cancelled: return error(errc::cancelled, message);
        default:
            return error(errc::invalid_argument,
                         fmt::format("remote build {} has not failed (status {})", build_id, to_string(s.state)));
    }
}

}  // namespace rtb
