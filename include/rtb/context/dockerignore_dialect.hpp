// Which docker client's .dockerignore rules to follow, apart from the
// matcher (rtb/context/dockerignore.hpp): option structs name it.
#pragma once

namespace rtb {

/// Which docker client's rules to follow. They differ only on unusual
/// patterns (see docs/context.md).
enum class dockerignore_dialect {
    /// moby/patternmatcher as the docker CLI uses it since 23.0 (and 20.10
    /// never did): regexp metacharacters escaped, exact/prefix/suffix fast
    /// paths, every parent directory checked. The default.
    moby,
    /// Docker 20.10's pkg/fileutils (Debian 12's docker.io): only `.` and `$`
    /// escaped (so `+ ( ) | { }` act as regexp operators), every pattern a
    /// regexp, and a parent directory checked only at the pattern's depth.
    docker_20_10,
};

}  // namespace rtb
