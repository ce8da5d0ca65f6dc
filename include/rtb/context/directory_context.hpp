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
#include "rtb/detail/config.hpp"
#include "rtb/hash/walk_options.hpp"

namespace rtb {

struct directory_context_options {
    dockerignore_options ignore;  ///< dialect, Dockerfile name, extra patterns
    walk_options walk;            ///< threads; on_skip receives sockets, FIFOs, devices
};

/// The build context of directory `dir`. Throws invalid_argument when `dir`
/// is missing or not a directory, or for a malformed .dockerignore (naming
/// the file and line); io_error naming a directory that cannot be read.
RTB_DECL build_context directory_context(const std::filesystem::path& dir, const directory_context_options& options = {});

/// The paths of the context's regular files and symlinks, relative with
/// '/', bytewise sorted.
RTB_DECL std::vector<std::string> context_files(const build_context& context);

}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/context/impl/directory_context.ipp"
#endif
