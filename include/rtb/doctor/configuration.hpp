// Doctor check of the configuration: the problems the configuration loader
// found (given as text), reported as one check.
#pragma once

#include <string>
#include <vector>

#include <fmt/format.h>

#include "rtb/doctor/check.hpp"

namespace rtb::doctor {

/// "configuration": ok without problems; failed listing them all.
/// `source` names where the configuration came from (may be empty).
inline check_result check_configuration(const std::vector<std::string>& problems, const std::string& source = {}) {
    const std::string name = "configuration";
    const std::string from = source.empty() ? std::string() : fmt::format(" in {}", source);
    if (problems.empty()) return check_result::ok(name, fmt::format("no problems{}", from));
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
    return check_result::failed(name,
                                fmt::format("{} problem{}{}: {}", problems.size(), problems.size() == 1 ? "" : "s",
                                            from, all),
                                fmt::format("fix the configuration{} (each problem names the setting)", from));
}

}  // namespace rtb::doctor
