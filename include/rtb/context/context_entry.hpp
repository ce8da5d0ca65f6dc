// The entries of a build context as streams read them: where each file's
// bytes come from (a tree on disk, a named file, memory), the open roots,
// and the immutable, sorted snapshot shared by the streams.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/hash/entry_kind.hpp"
#include "rtb/hash/hashed_files.hpp"

namespace rtb {

/// Where a context file's bytes come from.
enum class content_from : std::uint8_t {
    none,    ///< directories, and symlinks added by name
    tree,    ///< below one of the context's roots: a file (opened without following links) or a symlink
    file,    ///< a file named by the caller (a lock file; links followed)
    memory,  ///< bytes held by the context (a rendered Dockerfile)
};

/// One entry of a build context.
struct context_entry {
    std::string path;  ///< in the context: relative, '/'-separated, cleaned
    entry_kind kind = entry_kind::file;
    bool executable = false;  ///< files: any execute bit at the source (the tar writes 0755, else 0644)
    std::string link_target;  ///< symlinks: the target, as stored

    content_from from = content_from::none;
    std::size_t root = 0;                      ///< tree: index into roots()
    std::string source;                        ///< tree: path below the root; file: the file's path
    std::shared_ptr<const std::string> bytes;  ///< memory
};

/// A root a tree entry's file is read from: its path (for messages) and an
/// open directory descriptor (so a changed working directory does not matter).
struct context_root {
    std::filesystem::path path;
    std::shared_ptr<detail::unique_fd> fd;
};

/// An immutable, sorted view of a build context, shared by the streams
/// reading it.
struct context_snapshot {
    std::vector<context_entry> entries;  ///< sorted bytewise by path
    std::vector<context_root> roots;
    /// What the tags hashed, when the context must send exactly that (see
    /// build_context::send_as_hashed); null: files are sent as they are.
    std::shared_ptr<const hashed_files> hashed;
};

// ---------------------------------------------------------------------------

namespace detail {

/// Opens a context file for reading: below its root without following
/// links, or the named file. Fills `st`. Throws io_error naming the file.
inline unique_fd open_context_file(const context_snapshot& s, const context_entry& e, struct stat& st) {
    unique_fd fd;
    std::string display;
    if (e.from == content_from::tree) {
        const auto& root = s.roots[e.root];
        display = root.path.string() + "/" + e.source;
        fd = unique_fd(::openat(root.fd->get(), e.source.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW));
    } else {
        display = e.source;
        fd = unique_fd(::open(e.source.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    }
    if (!fd) throw_io("open", display);
    if (::fstat(fd.get(), &st) != 0) throw_io("stat", display);
    if (!S_ISREG(st.st_mode))
        throw error(errc::io_error, fmt::format("{} is no longer a regular file", printable(display)));
    return fd;
}

inline std::string context_file_display(const context_snapshot& s, const context_entry& e) {
    if (e.from == content_from::tree) return s.roots[e.root].path.string() + "/" + e.source;
    if (e.from == content_from::file) return e.source;
    return "(in memory) " + e.path;
}

}  // namespace detail

}  // namespace rtb
