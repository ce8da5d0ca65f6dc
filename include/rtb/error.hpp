// rtb::error: the one exception type rtb throws, with an error code that says
// what kind of failure it is and whether trying again can help.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace rtb {

/// What went wrong, coarsely: callers branch on this, users read the message.
enum class errc {
    invalid_argument = 1,  ///< the caller's input is wrong (a reference, a pattern, a flag)
    not_found,             ///< an image, a file or a build does not exist
    unauthorized,          ///< credentials missing or refused (HTTP 401/403)
    rate_limited,          ///< HTTP 429; see error::retry_after()
    server_error,          ///< HTTP 5xx or an engine-side failure that is not the build's fault
    connection_failed,     ///< could not reach the engine, registry or service
    timeout,               ///< a deadline passed or a stream stalled
    cancelled,             ///< a stop was requested
    build_failed,          ///< the build itself failed; see error::build()
    unsupported_version,   ///< the engine or client is too old or lacks a feature
    io_error,              ///< reading or writing local files failed
    parse_error,           ///< malformed data from a peer or a file
    vetoed,                ///< a pre-build hook refused the build (build_hooks::pre_build)
    push_failed,           ///< the image was built (or reused) and is tagged locally, but pushing it failed
    /// A file the tags hashed changed, appeared or disappeared before the
    /// build sent it: the build was stopped before any tag was applied.
    /// Building again at once (with fresh tags) is the remedy.
    source_changed,
};

/// The category of rtb::errc, so rtb errors compose with std::error_code.
inline const std::error_category& rtb_category() noexcept {
    struct category final : std::error_category {
        const char* name() const noexcept override { return "rtb"; }
        std::string message(int v) const override {
            switch (static_cast<errc>(v)) {
                case errc::invalid_argument: return "invalid argument";
                case errc::not_found: return "not found";
                case errc::unauthorized: return "unauthorized";
                case errc::rate_limited: return "rate limited";
                case errc::server_error: return "server error";
                case errc::connection_failed: return "connection failed";
                case errc::timeout: return "timeout";
                case errc::cancelled: return "cancelled";
                case errc::build_failed: return "build failed";
                case errc::unsupported_version: return "unsupported version";
                case errc::io_error: return "i/o error";
                case errc::parse_error: return "parse error";
                case errc::vetoed: return "vetoed";
                case errc::push_failed: return "push failed";
                case errc::source_changed: return "source changed during the build";
            }
            return "unknown rtb error";
        }
    };
    static const category instance;
    return instance;
}

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), rtb_category()};
}

/// The short name of a code ("build_failed"), for JSON output and logs.
constexpr std::string_view to_string(errc e) noexcept {
    switch (e) {
        case errc::invalid_argument: return "invalid_argument";
        case errc::not_found: return "not_found";
        case errc::unauthorized: return "unauthorized";
        case errc::rate_limited: return "rate_limited";
        case errc::server_error: return "server_error";
        case errc::connection_failed: return "connection_failed";
        case errc::timeout: return "timeout";
        case errc::cancelled: return "cancelled";
        case errc::build_failed: return "build_failed";
        case errc::unsupported_version: return "unsupported_version";
        case errc::io_error: return "io_error";
        case errc::parse_error: return "parse_error";
        case errc::vetoed: return "vetoed";
        case errc::push_failed: return "push_failed";
        case errc::source_changed: return "source_changed";
    }
    return "unknown";
}

/// What a failed build leaves behind for the person reading the error.
struct build_failure {
    std::optional<int> exit_code;       ///< the failing step's exit code, when the engine says
    std::string failing_step;           ///< e.g. "Step 4/6 : RUN make" or "[3/5] RUN make"
    std::vector<std::string> log_tail;  ///< the last lines of the build log
};

/// The exception rtb throws. `what()` is the whole human-readable message and
/// names the input that was wrong; `code()` classifies it.
class error : public std::system_error {
public:
    error(errc code, std::string message)
        : std::system_error(make_error_code(code)),
          state_(std::make_shared<state>(state{std::move(message), {}, {}, {}})) {}

    const char* what() const noexcept override { return state_->message.c_str(); }
    errc value() const noexcept { return static_cast<errc>(code().value()); }

    /// The HTTP status behind this error, when it came from an HTTP answer.
    std::optional<int> http_status() const noexcept { return state_->http_status; }
    error& with_http_status(int status) {
        mutate().http_status = status;
        return *this;
    }

    /// How long the peer asked us to wait (Retry-After), when it did.
    std::optional<std::chrono::milliseconds> retry_after() const noexcept { return state_->retry_after; }
    error& with_retry_after(std::chrono::milliseconds d) {
        mutate().retry_after = d;
        return *this;
    }

    /// Details of a failed build (exit code, failing step, log tail).
    const std::optional<build_failure>& build() const noexcept { return state_->build; }
    error& with_build_failure(build_failure f) {
        mutate().build = std::move(f);
        return *this;
    }

    /// The same error (code, status, build details) with "`context`: "
    /// before its message, unless the message already starts with it.
    error with_context(std::string_view context) const {
        error e(*this);
        if (!std::string_view(e.state_->message).starts_with(context))
            e.mutate().message = std::string(context) + ": " + e.state_->message;
        return e;
    }

    /// Whether trying the same operation again may succeed: lost connections,
    /// timeouts, 429 and the 502/503/504 family. Never validation errors,
    /// 401/403/404, or build failures.
    bool retryable() const noexcept {
        switch (value()) {
            case errc::connection_failed:
            case errc::timeout:
            case errc::rate_limited:
                return true;
            case errc::server_error: {
                const auto s = http_status();
                return s && (*s == 502 || *s == 503 || *s == 504);
            }
            default:
                return false;
        }
    }

private:
    struct state {
        std::string message;
        std::optional<int> http_status;
        std::optional<std::chrono::milliseconds> retry_after;
        std::optional<build_failure> build;
    };
    // Shared so copying an exception never throws; copied on write.
    state& mutate() {
        if (state_.use_count() > 1) state_ = std::make_shared<state>(*state_);
        return *state_;
    }
    std::shared_ptr<state> state_;
};

}  // namespace rtb

template <>
struct std::is_error_code_enum<rtb::errc> : std::true_type {};
