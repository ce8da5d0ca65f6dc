// How doctor findings are shown: one line per check with an indented remedy
// and a summary line (for people), or one JSON object (for scripts):
// {"checks":[{"name","status","detail","remedy"}...],"ready":bool}.
#pragma once

#include <string>
#include <vector>

#include <fmt/format.h>

#include "rtb/detail/json_writer.hpp"
#include "rtb/doctor/check.hpp"

namespace rtb::doctor {

/// "ok      ", "warning ", "FAILED  ", "skipped ": the status column.
inline std::string status_column(check_status s) {
    switch (s) {
        case check_status::ok: return "ok      ";
        case check_status::warning: return "warning ";
        case check_status::failed: return "FAILED  ";
        case check_status::skipped: return "skipped ";
    }
    return "?       ";
}

/// "ready to build: 6 ok, 1 warning, 2 skipped" or
/// "not ready to build: 1 failed (engine), 5 ok, ...".
inline std::string summary_line(const std::vector<check_result>& checks) {
    std::string failed_names;
    for (const auto& c : checks)
        if (c.status == check_status::failed) failed_names += (failed_names.empty() ? "" : ", ") + c.name;
    const auto n_failed = count(checks, check_status::failed), n_ok = count(checks, check_status::ok),
               n_warn = count(checks, check_status::warning), n_skip = count(checks, check_status::skipped);
    std::string counts = fmt::format("{} ok, {} warning{}, {} skipped", n_ok, n_warn, n_warn == 1 ? "" : "s", n_skip);
    if (n_failed == 0) return fmt::format("ready to build: {}", counts);
    return fmt::format("not ready to build: {} failed ({}), {}", n_failed, failed_names, counts);
}

/// One line per check, `STATUS  name: detail`, then `        remedy: ...`
/// for anything with a remedy; the summary line last.
inline std::string render_text(const std::vector<check_result>& checks) {
    std::string out;
    for (const auto& c : checks) {
        out += fmt::format("{}{}: {}\n", status_column(c.status), c.name, c.detail);
        if (!c.remedy.empty() && c.status != check_status::ok) out += fmt::format("        remedy: {}\n", c.remedy);
    }
    out += summary_line(checks) + "\n";
    return out;
}

/// The findings as one JSON object (one line, no trailing newline).
inline std::string render_json(const std::vector<check_result>& checks) {
    using detail::json_quote;
    std::string out = "{\"checks\":[";
    bool first = true;
    for (const auto& c : checks) {
        if (!first) out += ',';
        first = false;
        out += fmt::format("{{\"name\":{},\"status\":{},\"detail\":{},\"remedy\":{}}}", json_quote(c.name),
                           json_quote(to_string(c.status)), json_quote(c.detail), json_quote(c.remedy));
    }
    out += fmt::format("],\"ready\":{}}}", ready(checks) ? "true" : "false");
    return out;
}

}  // namespace rtb::doctor
