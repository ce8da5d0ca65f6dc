// Walking a tree the way a build context sees it: symlinks are entries (never
// followed), a PathFilter decides what is left out, directories are read in
// parallel. Shared by the fast tree digest and the build context.
#pragma once

#include <algorithm>
#include <atomic>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rtb/detail/parallel.hpp"
#include "rtb/detail/work_queue.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/hash/entry_kind.hpp"
#include "rtb/hash/file_fingerprint.hpp"
#include "rtb/hash/gitwildmatch.hpp"
#include "rtb/hash/path_filter.hpp"
#include "rtb/hash/stat_cache.hpp"
#include "rtb/hash/walk_options.hpp"

namespace rtb {

/// Leaves out what gitignore-style patterns match (a directory is tested as
/// "dir/"); `!` patterns bring entries back.
class ignore_patterns {
public:
    ignore_patterns() = default;
    explicit ignore_patterns(std::span<const std::string> patterns)
        : spec_(patterns),
          has_exceptions_(std::any_of(spec_.patterns().begin(), spec_.patterns().end(),
                                      [](const auto& p) { return !p.include(); })) {}
    bool excluded(std::string_view path, bool is_dir) const {
        if (spec_.empty()) return false;
        return is_dir ? spec_.match(std::string(path) + "/") : spec_.match(path);
    }
    bool may_include_below(std::string_view) const noexcept { return has_exceptions_; }

private:
    gitwildmatch_spec spec_;
    bool has_exceptions_ = false;
};

static_assert(PathFilter<include_everything> && PathFilter<ignore_patterns>);

/// One entry found by walk_tree.
struct tree_entry {
    std::string path;         ///< relative, '/'-separated
    entry_kind kind;
    std::uint32_t mode;       ///< st_mode permission bits
    file_stamp stamp;         ///< from lstat
    std::string link_target;  ///< for symlinks
    digest content;           ///< for files, when the walk's visitor computed it
    file_fingerprint fingerprint;  ///< for files, when the visitor recorded one (hashed_files)

    bool executable() const noexcept { return (mode & 0111) != 0; }
};

/// Does nothing with the files a walk finds.
struct no_file_visit {
    void operator()(tree_entry&, int, const char*) const noexcept {}
};

/// Lists `root`'s entries (not root itself), sorted bytewise by path.
/// `visit(entry, dir_fd, name)` is called for every kept regular file, on the
/// worker thread that found it, with the directory still open: a digest can
/// read the file there without resolving its path again.
/// Throws invalid_argument when root is missing or not a directory, io_error
/// naming the path when a directory cannot be read.
template <PathFilter F, class Visit = no_file_visit>
std::vector<tree_entry> walk_tree(const std::filesystem::path& root, const F& filter, const walk_options& options = {},
                                  Visit&& visit = {});

// ---------------------------------------------------------------------------

namespace detail {

inline unique_fd open_root_dir(const std::filesystem::path& root) {
    struct stat st {};
    if (::stat(root.c_str(), &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            throw error(errc::invalid_argument, fmt::format("{}: no such directory", printable(root.string())));
        throw_io("stat", root.string());
    }
    if (!S_ISDIR(st.st_mode))
        throw error(errc::invalid_argument, fmt::format("{}: is not a directory", printable(root.string())));
    unique_fd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) throw_io("open directory", root.string());
    return fd;
}

}  // namespace detail

template <PathFilter F, class Visit>
std::vector<tree_entry> walk_tree(const std::filesystem::path& root, const F& filter, const walk_options& options,
                                  Visit&& visit) {
    const std::string root_display = root.string();
    const detail::unique_fd root_fd = detail::open_root_dir(root);
    const unsigned jobs = options.jobs ? options.jobs : detail::default_jobs();

    std::mutex found_mutex, skip_mutex;
    std::vector<tree_entry> all;
    const auto display = [&](std::string_view p) {
        return p.empty() ? root_display : root_display + "/" + std::string(p);
    };

    auto read_dir = [&](const std::string& rel, detail::work_queue<std::string>& queue) {
        auto dir = detail::dir_stream::open_at(root_fd.get(), rel.empty() ? "." : rel.c_str());
        if (!dir) detail::throw_io("read directory", display(rel));
        std::vector<tree_entry> out;
        while (const dirent* e = dir.next()) {
            std::string path = detail::join_rel(rel, e->d_name);
            struct stat st {};
            if (::fstatat(dir.fd(), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT) continue;  // removed while we walked
                detail::throw_io("stat", display(path));
            }
            entry_kind kind;
            if (S_ISDIR(st.st_mode)) kind = entry_kind::directory;
            else if (S_ISREG(st.st_mode)) kind = entry_kind::file;
            else if (S_ISLNK(st.st_mode)) kind = entry_kind::symlink;
            else {
                if (!filter.excluded(path, false) && options.on_skip) {
                    std::lock_guard lock(skip_mutex);
                    options.on_skip(path, S_ISSOCK(st.st_mode)  ? "a socket"
                                          : S_ISFIFO(st.st_mode) ? "a FIFO"
                                                                 : "a device");
                }
                continue;
            }
            const bool is_dir = kind == entry_kind::directory;
            if (filter.excluded(path, is_dir)) {
                if (is_dir && filter.may_include_below(path)) queue.push(std::move(path));
                continue;
            }
            if (is_dir) queue.push(path);
            tree_entry& entry = out.emplace_back(
                tree_entry{std::move(path), kind, static_cast<std::uint32_t>(st.st_mode & 07777), file_stamp::of(st), {}, {}, {}});
            if (kind == entry_kind::symlink) {
                std::string target(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 256), '\0');
                while (true) {
                    const auto n = ::readlinkat(dir.fd(), e->d_name, target.data(), target.size());
                    if (n < 0) detail::throw_io("read symbolic link", display(entry.path));
                    if (static_cast<std::size_t>(n) < target.size()) {
                        target.resize(static_cast<std::size_t>(n));
                        break;
                    }
                    target.resize(target.size() * 2);
                }
                entry.link_target = std::move(target);
            } else if (kind == entry_kind::file) {
                visit(entry, dir.fd(), e->d_name);
            }
        }
        if (errno != 0) detail::throw_io("read directory", display(rel));
        std::lock_guard lock(found_mutex);
        if (all.empty()) all = std::move(out);
        else std::move(out.begin(), out.end(), std::back_inserter(all));
    };

    detail::work_queue<std::string> queue;
    queue.push("");
    queue.run(jobs, read_dir);
    std::sort(all.begin(), all.end(), [](const tree_entry& a, const tree_entry& b) { return a.path < b.path; });
    return all;
}

}  // namespace rtb
