// Doctor check of the local clock against a server's (a registry's HTTP
// Date header): registry tokens and TLS certificates are checked against
// it, so a clock far off makes logins and pulls fail in confusing ways.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "rtb/doctor/check.hpp"

namespace rtb::doctor {

/// When a skew warns and when it fails.
struct clock_limits {
    std::chrono::seconds warn_after{60};
    std::chrono::seconds fail_after{300};
};

/// "clock": the skew between `server_time` (what `against` said, to the
/// second) and `local_time` (the local clock when the answer came).
/// |skew| > warn_after: warning; > fail_after: failed; none said: skipped.
inline check_result check_clock_skew(std::string_view against, std::optional<std::chrono::sys_seconds> server_time,
                                     std::chrono::system_clock::time_point local_time, clock_limits limits = {}) {
    const std::string name = "clock";
    if (!server_time)
        return check_result::skipped(name, fmt::format("{} sent no usable Date header to compare with", against));
    const auto local = std::chrono::floor<std::chrono::seconds>(local_time);
    const std::int64_t skew = (*server_time - local).count();  // > 0: the local clock is behind
    const std::int64_t size = skew < 0 ? -skew : skew;
    const auto where = size <= 1 ? fmt::format("in step with {}'s (within 1 s)", against)
                                 : fmt::format("{} s {} {}'s", size, skew > 0 ? "behind" : "ahead of", against);
    const std::string detail = "the local clock is " + where;
    const std::string remedy =
        "synchronise the clock (timedatectl set-ntp true, or chrony/ntpd): registry tokens and TLS certificates "
        "are checked against it";
    if (size > limits.fail_after.count())
        return check_result::failed(name, fmt::format("{}: more than {} s off, tokens are refused", detail,
                                                      limits.fail_after.count()),
                                    remedy);
    if (size > limits.warn_after.count())
        return check_result::warning(name, fmt::format("{}: more than {} s off, short-lived tokens may be refused",
                                                       detail, limits.warn_after.count()),
                                     remedy);
    return check_result::ok(name, detail);
}

}  // namespace rtb::doctor
