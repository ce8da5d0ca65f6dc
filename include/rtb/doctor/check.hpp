// What one doctor check found: a name, a status (ok, warning, failed, or
// skipped with its reason), what was found, and for anything not ok what to
// do about it. Plus how a list of them adds up: ready to build or not.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtb::doctor {

/// ok: fine. warning: a build can run, but something will bite later or in
/// another mode. failed: a build would fail. skipped: not checked (the
/// detail says why: not applicable, or something it depends on failed).
enum class check_status { ok, warning, failed, skipped };

constexpr std::string_view to_string(check_status s) noexcept {
    switch (s) {
        case check_status::ok: return "ok";
        case check_status::warning: return "warning";
        case check_status::failed: return "failed";
        case check_status::skipped: return "skipped";
    }
    return "unknown";
}

/// One check's finding.
struct check_result {
    std::string name;    ///< "engine", "registry 127.0.0.1:5000", "cache directory"
    check_status status = check_status::ok;
    std::string detail;  ///< what was found (for skipped: why it was not checked)
    std::string remedy;  ///< what to do; empty when ok

    static check_result ok(std::string name, std::string detail) {
        return {std::move(name), check_status::ok, std::move(detail), {}};
    }
    static check_result warning(std::string name, std::string detail, std::string remedy) {
        return {std::move(name), check_status::warning, std::move(detail), std::move(remedy)};
    }
    static check_result failed(std::string name, std::string detail, std::string remedy) {
        return {std::move(name), check_status::failed, std::move(detail), std::move(remedy)};
    }
    static check_result skipped(std::string name, std::string reason) {
        return {std::move(name), check_status::skipped, std::move(reason), {}};
    }
};

/// Whether this machine can build: no check failed (warnings and skips do
/// not stop a build).
inline bool ready(const std::vector<check_result>& checks) noexcept {
    for (const auto& c : checks)
        if (c.status == check_status::failed) return false;
    return true;
}

/// How many checks have status `s`.
inline std::size_t count(const std::vector<check_result>& checks, check_status s) noexcept {
    std::size_t n = 0;
    for (const auto& c : checks)
        if (c.status == s) ++n;
    return n;
}

/// The exit status of `rtb doctor` for these checks: 0 ready, 1 not.
/// (2, a usage error, never comes from the checks themselves.)
inline int exit_status(const std::vector<check_result>& checks) noexcept { return ready(checks) ? 0 : 1; }

}  // namespace rtb::doctor
