// A context directory as the docker CLI sends it: the tree walked with its
// .dockerignore (Dockerfile and .dockerignore always kept), symlinks as links,
// sockets, FIFOs and devices left out with a warning. `rtb context ls` and
// `rtb context pack` are this.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "rtb/context/build_context.hpp"
#include "rtb/context/dockerignore.hpp"
#include "rtb/hash/tree_walk.hpp"

namespace rtb {

struct directory_context_options {
    dockerignore_options ignore;  ///< dialect, Dockerfile name, extra patterns
    walk_options walk;            ///< threads; on_skip receives sockets, FIFOs, devices
};

/// The build context of directory `dir`. Throws invalid_argument when `dir`
/// is missing or not a directory, or for a malformed .dockerignore (naming
/// the file and line); io_error naming a directory that cannot be read.
inline build_context directory_context(const std::filesystem::path& dir, const directory_context_options& options = {}) {
    return build_context::from_directory(dir, dockerignore::for_context(dir, options.ignore), options.walk);
}

/// The paths of the context's regular files and symlinks, relative with
/// '/', bytewise sorted.
inline std::vector<std::string> context_files(const build_context& context) {
    std::vector<std::string> out;
    for (const auto& e : context.entries())
        if (e.kind != entry_kind::directory) out.push_back(e.path);
    return out;
}

}  // namespace rtb
