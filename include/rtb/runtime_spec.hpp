// rtb::runtime_spec: everything that shapes a runtime image. A TagStrategy
// turns it into tags; every field that changes the image changes a tag.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

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
    std::optional<std::string> dockerfile_template; ///< a custom template's text
    std::map<std::string, std::string> template_vars;

    bool force_rebuild = false;  ///< build from scratch whatever exists
};

}  // namespace rtb
