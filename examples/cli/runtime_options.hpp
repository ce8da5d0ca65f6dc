// The options that describe a runtime image, shared by `rtb tags` and
// `rtb build` so both hash exactly the same spec; and small value parsers.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli.hpp"
#include "rtb/context/jinja_options.hpp"
#include "rtb/error.hpp"
#include "rtb/resources.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/runtime_spec.hpp"
#include "rtb/tags/content_tags.hpp"
#include "rtb/tags/openhands_tags.hpp"
#include "rtb/units.hpp"
#include "files.hpp"
#include "rtb/text.hpp"

namespace rtb::cli {

/// How a --template is rendered: Jinja2's Environment switches (off by
/// default, as in Jinja2 and OpenHands) and StrictUndefined. Shared by `rtb
/// tags`, `rtb build` and `rtb context runtime`.
struct template_flags {
    bool trim_blocks = false;
    bool lstrip_blocks = false;
    bool keep_trailing_newline = false;
    bool strict_undefined = false;

    void add_to(CLI::App* cmd);

    /// The options for `template_file`; the switches need a --template (the
    /// default template has its own).
    jinja::options options(const std::string& template_file) const;
};

struct runtime_options {
    std::string strategy = "openhands";
    std::string version;
    std::string base_image;
    std::string source;
    std::vector<std::string> locks;
    std::string repo = default_runtime_repository;
    std::string extra_deps;
    std::vector<std::string> build_args;
    std::string platform;
    std::string template_file;
    std::vector<std::string> vars;
    bool no_stat_cache = false;
    bool no_browser = false;
    template_flags template_switches;

    /// Registers the options on `cmd`. `version_required`: `rtb tags` needs
    /// --oh-version; `rtb build` defaults it to rtb's own version.
    void add_to(CLI::App* cmd, bool version_required, bool base_image_required = true);

    /// The spec for `base` (the --base-image, or one line of a batch file).
    runtime_spec spec(const std::string& base) const;

    openhands_tags openhands() const {
        return openhands_tags({.jobs = 0, .use_stat_cache = !no_stat_cache});
    }
    content_tags content() const { return content_tags({.jobs = 0, .use_stat_cache = !no_stat_cache}); }

    static std::pair<std::string, std::string> assignment(const std::string& kv, std::string_view option,
                                                          std::string_view form);

    static std::string read_text_file(const std::string& path, std::string_view what);
};

/// A whole number for `option` (--pids-limit 100, --jobs 4).
std::int64_t parse_integer(std::string_view text, std::string_view option, std::int64_t min, std::int64_t max);

/// A duration for `option`: a number with ms, s, m, h or d ("500ms", "2s", "1.5m", "7d").
std::chrono::milliseconds parse_duration(std::string_view text, std::string_view option,
                                         double max_ms = 7 * 24 * 3'600'000.0);

}  // namespace rtb::cli
