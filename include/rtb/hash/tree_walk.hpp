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
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/hash/gitwildmatch.hpp"
#include "rtb/hash/stat_cache.hpp"

namespace rtb {

/// PathFilter: decides which entries a walk keeps. Paths are relative to the
/// root, '/'-separated, without a leading "./".
///  - `excluded(path, is_dir)`: leave this entry out.
///  - `may_include_below(dir)`: for an excluded directory, whether an
///    exception could still bring back something inside it (then the walk
///    descends, without listing the directory itself, as Docker does).
template <class F>
concept PathFilter = requires(const F& f, std::string_view path, bool is_dir) {
    { f.excluded(path, is_dir) } -> std::convertible_to<bool>;
    { f.may_include_below(path) } -> std::convertible_to<bool>;
};

/// Keeps everything.
struct include_everything {
    constexpr bool excluded(std::string_view, bool) const noexcept { return false; }
    constexpr bool may_include_below(std::string_view) const noexcept { return false; }
};

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

/// What an entry of a tree is.
enum class entry_kind : char { directory = 'd', file = 'f', symlink = 'l' };

/// One entry found by walk_tree.
struct tree_entry {
    std::string path;         ///< relative, '/'-separated
    entry_kind kind;
    std::uint32_t mode;       ///< st_mode permission bits
    file_stamp stamp;         ///< from lstat
    std::string link_target;  ///< for symlinks

    bool executable() const noexcept { return (mode & 0111) != 0; }
};

/// How a walk reports entries it leaves out for a reason other than the filter
/// (sockets, FIFOs, devices): the path and why.
using skip_handler = std::function<void(std::string_view path, std::string_view why)>;

struct walk_options {
    unsigned jobs = 0;     ///< 0: every core
    skip_handler on_skip;  ///< null: skip silently
};

/// Lists `root`'s entries (not root itself), sorted bytewise by path.
/// Throws invalid_argument when root is missing or not a directory, io_error
/// naming the path when a directory cannot be read.
template <PathFilter F>
std::vector<tree_entry> walk_tree(const std::filesystem::path& root, const F& filter, const walk_options& options = {});

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

/// A work queue of directories that knows when every worker is idle.
class dir_queue {
public:
    void push(std::string dir) {
        {
            std::lock_guard lock(m_);
            q_.push_back(std::move(dir));
        }
        cv_.notify_one();
    }
    /// Blocks for the next directory; false when the walk is over.
    bool pop(std::string& out) {
        std::unique_lock lock(m_);
        --busy_;
        if (busy_ == 0 && q_.empty()) cv_.notify_all();
        cv_.wait(lock, [&] { return !q_.empty() || busy_ == 0 || stop_; });
        if (stop_ || q_.empty()) return false;
        out = std::move(q_.front());
        q_.pop_front();
        ++busy_;
        return true;
    }
    void stop() {
        {
            std::lock_guard lock(m_);
            stop_ = true;
        }
        cv_.notify_all();
    }
    explicit dir_queue(int workers) : busy_(workers) {}

private:
    std::mutex m_;
    std::condition_variable cv_;
    std::deque<std::string> q_;
    int busy_;
    bool stop_ = false;
};

}  // namespace detail

template <PathFilter F>
std::vector<tree_entry> walk_tree(const std::filesystem::path& root, const F& filter, const walk_options& options) {
    const std::string root_display = root.string();
    const detail::unique_fd root_fd = detail::open_root_dir(root);
    const unsigned jobs = options.jobs ? options.jobs : detail::default_jobs();

    std::vector<std::vector<tree_entry>> found(jobs);
    std::mutex skip_mutex;
    detail::dir_queue queue(static_cast<int>(jobs));
    std::exception_ptr failure;
    std::mutex failure_mutex;

    auto read_dir = [&](const std::string& rel, std::vector<tree_entry>& out) {
        const auto display = [&](std::string_view p) { return root_display + "/" + std::string(p); };
        auto dir = detail::dir_stream::open_at(root_fd.get(), rel.empty() ? "." : rel.c_str());
        if (!dir) detail::throw_io("read directory", rel.empty() ? root_display : display(rel));
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
            tree_entry entry{path, kind, static_cast<std::uint32_t>(st.st_mode & 07777), file_stamp::of(st), {}};
            if (kind == entry_kind::symlink) {
                std::string target(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 256), '\0');
                while (true) {
                    const auto n = ::readlinkat(dir.fd(), e->d_name, target.data(), target.size());
                    if (n < 0) detail::throw_io("read symbolic link", display(path));
                    if (static_cast<std::size_t>(n) < target.size()) {
                        target.resize(static_cast<std::size_t>(n));
                        break;
                    }
                    target.resize(target.size() * 2);
                }
                entry.link_target = std::move(target);
            }
            out.push_back(std::move(entry));
            if (is_dir) queue.push(std::move(path));
        }
        if (errno != 0) detail::throw_io("read directory", rel.empty() ? root_display : display(rel));
    };

    auto worker = [&](unsigned index) {
        try {
            std::string rel;
            while (queue.pop(rel)) read_dir(rel, found[index]);
        } catch (...) {
            {
                std::lock_guard lock(failure_mutex);
                if (!failure) failure = std::current_exception();
            }
            queue.stop();
        }
    };
    queue.push("");
    {
        std::vector<std::jthread> pool;
        for (unsigned t = 1; t < jobs; ++t) pool.emplace_back(worker, t);
        worker(0);
    }
    if (failure) std::rethrow_exception(failure);

    std::vector<tree_entry> all;
    std::size_t total = 0;
    for (const auto& v : found) total += v.size();
    all.reserve(total);
    for (auto& v : found) std::move(v.begin(), v.end(), std::back_inserter(all));
    std::sort(all.begin(), all.end(), [](const tree_entry& a, const tree_entry& b) { return a.path < b.path; });
    return all;
}

}  // namespace rtb
