// The Dirhash Standard 0.1 (entry properties name+data), bit-identical to
// dirhash-python, which OpenHands uses (md5) to hash its runtime source.
// Files are hashed in parallel; an optional stat cache skips unchanged files.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include "rtb/detail/parallel.hpp"
#include "rtb/detail/work_queue.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/hash/detail/cached_file_hash.hpp"
#include "rtb/hash/file_hash.hpp"
#include "rtb/hash/gitwildmatch.hpp"
#include "rtb/hash/hashed_files.hpp"
#include "rtb/hash/stat_cache.hpp"
#include "rtb/hash/tree_walk.hpp"

namespace rtb {

/// Options of a Dirhash computation. Defaults are the standard's defaults;
/// `openhands()` gives the ones OpenHands uses for its source hash.
struct dirhash_options {
    hash_algorithm algorithm = hash_algorithm::md5;
    /// Gitignore-style patterns a file's relative path must match ("*": all).
    std::vector<std::string> match{"*"};
    /// Gitignore-style patterns of files to leave out (dirhash's `ignore=`).
    std::vector<std::string> ignore;
    /// Worker threads for file hashing; 0 uses every core.
    unsigned jobs = 0;
    /// Optional stat cache (for this tree and algorithm).
    stat_cache* cache = nullptr;
    /// Optional: receives the fingerprint of every file hashed that is read
    /// directly (not through a symbolic link), by relative path: the files a
    /// build context sends from this tree as regular files. Computed in the
    /// same read as the digest.
    hashed_files::file_map* record = nullptr;

    /// `dirhash(dir, "md5", ignore=[".*/", "__pycache__/", "*.pyc"])`.
    static dirhash_options openhands() {
        dirhash_options o;
        o.ignore = {".*/", "__pycache__/", "*.pyc"};
        return o;
    }
};

/// Computes the Dirhash of `root` (its `.hex()` is what dirhash-python returns).
///
/// As dirhash-python (0.2, with pathspec and scantree): symlinks to files and
/// directories are followed (the name is the link's, the content the
/// target's); broken links, links that cannot be resolved and special files
/// are left out; directories with nothing included are left out; a link to a
/// directory already on the current path is an error; patterns are matched
/// against each file's path relative to `root`.
///
/// Divergence: dirhash-python fails on names that are not valid UTF-8; rtb
/// hashes their bytes as they are.
///
/// Throws rtb::error: invalid_argument (root missing or not a directory, a bad
/// pattern, nothing to hash, a cyclic link) or io_error naming the path.
digest dirhash(const std::filesystem::path& root, const dirhash_options& options = {});

/// The stat-cache scope string for a Dirhash of `root` (canonical) with `a`.
inline std::string dirhash_scope(const std::filesystem::path& root, hash_algorithm a) {
    std::error_code ec;
    const auto canonical = std::filesystem::weakly_canonical(root, ec);
    return fmt::format("rtb-dirhash\n{}\n{}", ec ? root.string() : canonical.string(), to_string(a));
}

// ---------------------------------------------------------------------------

/// Which files a Dirhash includes: the patterns as dirhash-python builds
/// them (match + ['!' + p for p in ignore], de-duplicated in order; scantree
/// skips pathspec for exactly ("*",)), matched on the relative path.
class dirhash_filter {
public:
    explicit dirhash_filter(const dirhash_options& o) {
        std::vector<std::string> patterns;
        auto add = [&](std::string p) {
            if (std::find(patterns.begin(), patterns.end(), p) == patterns.end()) patterns.push_back(std::move(p));
        };
        for (const auto& m : o.match) add(m);
        for (const auto& i : o.ignore) add("!" + i);
        match_all_ = patterns.size() == 1 && patterns[0] == "*";
        if (!match_all_) spec_ = gitwildmatch_spec(patterns);
    }
    bool included(std::string_view relative) const {
        return match_all_ || spec_.match(gitwildmatch_pattern::decode_path(relative));
    }

    // As a PathFilter: files (and symlinks) kept as the Dirhash keeps them;
    // every directory walked but left out as an entry, so a build context
    // gets a kept file's parents and no directory the Dirhash leaves out.
    bool excluded(std::string_view path, bool is_dir) const { return is_dir || !included(path); }
    bool may_include_below(std::string_view) const noexcept { return true; }

private:
    bool match_all_ = true;
    gitwildmatch_spec spec_;
};

static_assert(PathFilter<dirhash_filter>);

namespace detail::dirhash_impl {

struct file_item {
    std::string name;
    digest value;
    file_fingerprint fingerprint;  // when recorded
    std::string recorded_path;     // the relative path, when recorded
};

struct dir_node {
    std::string name;
    std::vector<std::unique_ptr<dir_node>> dirs;
    std::vector<file_item> files;
};

/// The directories between the root and a directory (for cyclic-link checks).
struct ancestor {
    dev_t dev;
    ino_t ino;
    std::shared_ptr<const ancestor> parent;
};

struct dir_task {
    dir_node* node = nullptr;
    std::string relative;  // reopened from the root when taken: queued tasks hold no descriptors
    std::shared_ptr<const ancestor> chain;  // includes this directory
    int depth = 0;
    bool via_link = false;  // this directory or one above it was reached through a symbolic link
};

/// Reads one directory as scantree does, hashes the included files in it, and
/// queues its subdirectories.
inline void scan_dir(int root_fd, dir_task& task, work_queue<dir_task>& queue, const dirhash_filter& filter,
                     const dirhash_options& o, const std::string& root_display) {
    const auto display = [&](std::string_view rel) {
        return rel.empty() ? root_display : root_display + "/" + std::string(rel);
    };
    if (task.depth > 4096)
        throw error(errc::invalid_argument,
                    fmt::format("{}: directory nesting is too deep", printable(display(task.relative))));
    auto dir = dir_stream::open_at(root_fd, task.relative.empty() ? "." : task.relative.c_str(), true);
    if (!dir) throw_io("read directory", display(task.relative));
    while (const dirent* e = dir.next()) {
        const char* name = e->d_name;
        bool is_symlink = e->d_type == DT_LNK, is_dir = e->d_type == DT_DIR, is_file = e->d_type == DT_REG;
        if (e->d_type == DT_UNKNOWN || is_symlink) {
            struct stat lst {};
            if (::fstatat(dir.fd(), name, &lst, AT_SYMLINK_NOFOLLOW) != 0) continue;
            is_symlink = S_ISLNK(lst.st_mode);
            is_dir = S_ISDIR(lst.st_mode);
            is_file = S_ISREG(lst.st_mode);
            if (is_symlink) {
                // DirEntry.is_dir()/is_file() follow the link; an error reads as "no".
                struct stat target {};
                is_dir = is_file = false;
                if (::fstatat(dir.fd(), name, &target, 0) == 0) {
                    is_dir = S_ISDIR(target.st_mode);
                    is_file = S_ISREG(target.st_mode);
                }
            }
        }
        // anything else (a broken link, a socket, a FIFO, a device) is neither a file nor a directory
        if (!is_dir && !is_file) continue;
        std::string rel = join_rel(task.relative, name);
        if (is_file) {
            if (!filter.included(rel)) continue;
            // A file reached through a link is sent as the link, not as these bytes: not recorded.
            const bool record = o.record && !task.via_link && !is_symlink;
            file_item item{name, {}, {}, {}};
            std::optional<file_stamp> stamp;
            if (o.cache) {
                struct stat st {};
                if (::fstatat(dir.fd(), name, &st, 0) != 0) throw_io("stat", display(rel));
                stamp = file_stamp::of(st);
            }
            item.value = cached_file_digest(dir.fd(), name, display(rel), false, o.algorithm, o.cache, rel,
                                            stamp ? &*stamp : nullptr, record ? &item.fingerprint : nullptr);
            if (record) item.recorded_path = std::move(rel);
            task.node->files.push_back(std::move(item));
            continue;
        }
        struct stat st {};
        if (::fstatat(dir.fd(), name, &st, 0) != 0) throw_io("stat", display(rel));
        if (is_symlink)
            for (const ancestor* a = task.chain.get(); a; a = a->parent.get())
                if (a->dev == st.st_dev && a->ino == st.st_ino)
                    throw error(errc::invalid_argument,
                                fmt::format("cyclic symbolic link {}: it points to a directory that contains it",
                                            printable(display(rel))));
        auto& child = task.node->dirs.emplace_back(std::make_unique<dir_node>(dir_node{name, {}, {}}));
        queue.push(dir_task{child.get(), std::move(rel),
                            std::make_shared<const ancestor>(ancestor{st.st_dev, st.st_ino, task.chain}),
                            task.depth + 1, task.via_link || is_symlink});
    }
    if (errno != 0) throw_io("read directory", display(task.relative));
}

/// Moves the recorded files below `node` to `out`.
inline void collect_recorded(dir_node& node, hashed_files::file_map& out) {
    for (auto& f : node.files)
        if (!f.recorded_path.empty()) out.insert_or_assign(std::move(f.recorded_path), f.fingerprint);
    for (auto& d : node.dirs) collect_recorded(*d, out);
}

/// Removes directories with nothing included (recursively); true if `node` is empty.
inline bool prune_empty(dir_node& node) {
    std::erase_if(node.dirs, [](const std::unique_ptr<dir_node>& d) { return prune_empty(*d); });
    return node.dirs.empty() && node.files.empty();
}

/// Entry = sorted "name:value" properties joined by NUL; directory = sorted
/// entries joined by two NULs; dirhash = the digest of that.
inline digest hash_dir(const dir_node& node, hash_algorithm algorithm) {
    std::vector<std::string> entries;
    entries.reserve(node.dirs.size() + node.files.size());
    for (const auto& d : node.dirs) {
        std::string e = "dirhash:";
        e.append(hash_dir(*d, algorithm).hex()).append(1, '\0').append("name:").append(d->name);
        entries.push_back(std::move(e));
    }
    for (const auto& f : node.files) {
        std::string e = "data:";
        e.append(f.value.hex()).append(1, '\0').append("name:").append(f.name);
        entries.push_back(std::move(e));
    }
    std::sort(entries.begin(), entries.end());
    any_hasher h(algorithm);
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (i) h.update(std::string_view("\0\0", 2));
        h.update(entries[i]);
    }
    return h.finish();
}

}  // namespace detail::dirhash_impl

inline digest dirhash(const std::filesystem::path& root, const dirhash_options& options) {
    using namespace detail::dirhash_impl;
    const std::string root_display = root.string();
    const detail::unique_fd root_fd = detail::open_root_dir(root);
    struct stat st {};
    if (::fstat(root_fd.get(), &st) != 0) detail::throw_io("stat", root_display);

    const dirhash_filter filter(options);
    dir_node tree;
    detail::work_queue<dir_task> queue;
    queue.push(dir_task{&tree, "", std::make_shared<const ancestor>(ancestor{st.st_dev, st.st_ino, nullptr}), 0});
    queue.run(options.jobs, [&](dir_task& task, detail::work_queue<dir_task>& q) {
        scan_dir(root_fd.get(), task, q, filter, options, root_display);
    });
    if (options.record) collect_recorded(tree, *options.record);
    if (prune_empty(tree))
        throw error(errc::invalid_argument,
                    fmt::format("{}: nothing to hash (the directory is empty or every file is ignored)",
                                detail::printable(root_display)));
    return hash_dir(tree, options.algorithm);
}

}  // namespace rtb
