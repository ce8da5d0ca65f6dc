// rtb::runtime_spec: everything that shapes a runtime image. A TagStrategy
// turns it into tags; every field that changes the image changes a tag.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>

#include "rtb/context/jinja_options.hpp"
#include "rtb/detail/quote.hpp"
#include "rtb/error.hpp"

namespace rtb {

/// The OpenHands runtime repository, the default home of runtime images.
inline constexpr const char* default_runtime_repository = "ghcr.io/openhands/runtime";

struct runtime_spec {
    /// The base image, exactly as the user wrote it (OpenHands hashes these bytes).
    std::string base_image;
    /// The runtime's source tree (OpenHands: the `openhands` package folder).
    std::filesystem::path source_dir;
    /// Dependency lock files (OpenHands: pyproject.toml, poetry.lock), in order.
    std::vector<std::filesystem::path> lock_files;
    /// The runtime's version (OpenHands' `oh_version`), part of every tag.
    std::string runtime_version;
    /// Where runtime images live.
    std::string runtime_repository = default_runtime_repository;

    // Inputs OpenHands does not hash. rtb mixes each into the lock hash when
    // it is given, so changing one can never silently reuse a stale image.
    std::string extra_deps;                         ///< extra packages installed in the image
    std::map<std::string, std::string> build_args;  ///< --build-arg values
    std::string platform;                           ///< e.g. linux/amd64
    std::optional<std::string> dockerfile_template; ///< a custom template's text (Jinja2)
    std::map<std::string, std::string> template_vars;
    /// How a custom template is rendered: Jinja2's switches, Jinja2's (and
    /// OpenHands') defaults. Those that change the text are hashed when set.
    jinja::options template_options;

    /// OpenHands' enable_browser: the templates' variable of that name; false
    /// enters the lock hash as OpenHands hashes it.
    bool enable_browser = true;

    bool force_rebuild = false;  ///< build from scratch whatever exists
};

/// Checks a target platform as engines accept it: `os[/arch[/variant]]`,
/// each part lowercase [a-z0-9_.-], at most 64 bytes in all ("linux/amd64",
/// "linux/arm64/v8"). It goes into a tag hash and onto an engine's or a
/// CLI's command line, so anything else is refused here, by name.
inline void check_platform(std::string_view platform) {
    auto bad = [&](std::string_view why) {
        throw error(errc::invalid_argument,
                    fmt::format("invalid platform {}: {} (expected os[/arch[/variant]], e.g. linux/amd64)",
                                detail::ref::quote(platform.substr(0, 80)), why));
    };
    if (platform.empty()) bad("it is empty");
    if (platform.size() > 64) bad(fmt::format("it is {} bytes long; at most 64 are allowed", platform.size()));
    std::size_t parts = 1;
    std::size_t part_length = 0;
    for (char c : platform) {
        if (c == '/') {
            if (part_length == 0) bad("a part is empty");
            ++parts;
            part_length = 0;
            continue;
        }
        const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
        if (!ok) bad(c >= 'A' && c <= 'Z' ? "it must be lowercase" : "it holds a character outside [a-z0-9_.-/]");
        ++part_length;
    }
    if (part_length == 0) bad("a part is empty");
    if (parts > 3) bad("it has more than three parts");
}

}  // namespace rtb
