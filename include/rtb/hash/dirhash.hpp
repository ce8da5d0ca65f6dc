// The Dirhash Standard 0.1 (entry properties name+data), bit-identical to
// dirhash-python, which OpenHands uses (md5) to hash its runtime source.
// Files are hashed in parallel; an optional stat cache skips unchanged files.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include "rtb/detail/parallel.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/hash/file_hash.hpp"
#include "rtb/hash/gitwildmatch.hpp"
#include "rtb/hash/stat_cache.hpp"

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

namespace detail::dirhash_impl {

struct dir_node {
    std::string name;
    std::vector<dir_node> dirs;
    std::vector<std::size_t> files;  // indices into scan::files
};

struct file_ref {
    std::string relative;  // '/'-joined path from the root
    std::string name;
};

class scan {
public:
    scan(std::string root_display, const dirhash_options& o) : root_display_(std::move(root_display)) {
        // get_match_patterns: match + ['!' + p for p in ignore], de-duplicated in order.
        std::vector<std::string> patterns;
        auto add = [&](std::string p) {
            if (std::find(patterns.begin(), patterns.end(), p) == patterns.end()) patterns.push_back(std::move(p));
        };
        for (const auto& m : o.match) add(m);
        for (const auto& i : o.ignore) add("!" + i);
        // scantree skips pathspec entirely for exactly ("*",).
        match_all_ = patterns.size() == 1 && patterns[0] == "*";
        if (!match_all_) spec_ = gitwildmatch_spec(patterns);
    }

    std::vector<file_ref> files;

    dir_node run(int root_fd) {
        struct stat st {};
        if (::fstat(root_fd, &st) != 0) throw_io("stat", root_display_);
        std::vector<std::pair<dev_t, ino_t>> parents{{st.st_dev, st.st_ino}};
        return walk(root_fd, "", "", parents, 0);
    }

private:
    bool included(std::string_view relative) const {
        return match_all_ || spec_.match(gitwildmatch_pattern::decode_path(relative));
    }

    std::string display(std::string_view relative) const {
        return relative.empty() ? root_display_ : root_display_ + "/" + std::string(relative);
    }

    dir_node walk(int dir_fd, std::string name, const std::string& relative,
                  std::vector<std::pair<dev_t, ino_t>>& parents, int depth) {
        if (depth > 4096) throw error(errc::invalid_argument, fmt::format("{}: directory nesting is too deep",
                                                                          printable(display(relative))));
        dir_node node{std::move(name), {}, {}};
        auto dir = dir_stream::open_at(dir_fd, ".", true);
        if (!dir) throw_io("read directory", display(relative));
        struct child {
            std::string name;
            bool is_dir;
            bool is_symlink;
        };
        std::vector<child> children;
        while (const dirent* e = dir.next()) {
            const std::string child_name = e->d_name;
            bool is_symlink = e->d_type == DT_LNK, is_dir = e->d_type == DT_DIR, is_file = e->d_type == DT_REG;
            if (e->d_type == DT_UNKNOWN || is_symlink) {
                struct stat lst {};
                if (::fstatat(dir.fd(), e->d_name, &lst, AT_SYMLINK_NOFOLLOW) != 0) continue;
                is_symlink = S_ISLNK(lst.st_mode);
                is_dir = S_ISDIR(lst.st_mode);
                is_file = S_ISREG(lst.st_mode);
                if (is_symlink) {
                    // DirEntry.is_dir()/is_file() follow the link; an error reads as "no".
                    struct stat target {};
                    is_dir = is_file = false;
                    if (::fstatat(dir.fd(), e->d_name, &target, 0) == 0) {
                        is_dir = S_ISDIR(target.st_mode);
                        is_file = S_ISREG(target.st_mode);
                    }
                }
            }
            if (is_dir) {
                children.push_back({child_name, true, is_symlink});
            } else if (is_file) {
                children.push_back({child_name, false, is_symlink});
            }
            // anything else (a broken link, a socket, a FIFO, a device) is neither a file nor a directory
        }
        if (errno != 0) throw_io("read directory", display(relative));

        for (auto& c : children) {
            std::string child_rel = join_rel(relative, c.name);
            if (!c.is_dir) {
                if (included(child_rel)) {
                    node.files.push_back(files.size());
                    files.push_back({std::move(child_rel), std::move(c.name)});
                }
                continue;
            }
            unique_fd sub(::openat(dir.fd(), c.name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            if (!sub) throw_io("open directory", display(child_rel));
            struct stat st {};
            if (::fstat(sub.get(), &st) != 0) throw_io("stat", display(child_rel));
            const std::pair<dev_t, ino_t> id{st.st_dev, st.st_ino};
            if (c.is_symlink && std::find(parents.begin(), parents.end(), id) != parents.end())
                throw error(errc::invalid_argument,
                            fmt::format("cyclic symbolic link {}: it points to a directory that contains it",
                                        printable(display(child_rel))));
            parents.push_back(id);
            dir_node sub_node = walk(sub.get(), std::move(c.name), child_rel, parents, depth + 1);
            parents.pop_back();
            if (!sub_node.dirs.empty() || !sub_node.files.empty()) node.dirs.push_back(std::move(sub_node));
        }
        return node;
    }

    std::string root_display_;
    bool match_all_ = true;
    gitwildmatch_spec spec_;
};

}  // namespace detail::dirhash_impl

inline digest dirhash(const std::filesystem::path& root, const dirhash_options& options) {
    using namespace detail::dirhash_impl;
    const std::string root_display = root.string();
    struct stat st {};
    if (::stat(root.c_str(), &st) != 0)
        throw error(errc::invalid_argument, fmt::format("{}: no such directory", detail::printable(root_display)));
    if (!S_ISDIR(st.st_mode))
        throw error(errc::invalid_argument, fmt::format("{}: is not a directory", detail::printable(root_display)));
    detail::unique_fd root_fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root_fd) detail::throw_io("open directory", root_display);

    scan s(root_display, options);
    const dir_node tree = s.run(root_fd.get());
    if (tree.dirs.empty() && tree.files.empty())
        throw error(errc::invalid_argument,
                    fmt::format("{}: nothing to hash (the directory is empty or every file is ignored)",
                                detail::printable(root_display)));

    // Hash every included file, in parallel, skipping those the stat cache vouches for.
    std::vector<std::string> file_hex(s.files.size());
    detail::parallel_for(s.files.size(), options.jobs, [&](std::size_t i) {
        const auto& f = s.files[i];
        const std::string display = root_display + "/" + f.relative;
        if (!options.cache) {
            file_hex[i] = hash_file_at(root_fd.get(), f.relative.c_str(), options.algorithm, display).hex();
            return;
        }
        struct stat fst {};
        if (::fstatat(root_fd.get(), f.relative.c_str(), &fst, 0) != 0) detail::throw_io("stat", display);
        const auto stamp = file_stamp::of(fst);
        auto d = options.cache->lookup(f.relative, stamp);
        if (!d) d = hash_file_at(root_fd.get(), f.relative.c_str(), options.algorithm, display);
        options.cache->record(f.relative, stamp, *d);
        file_hex[i] = d->hex();
    });

    // Descriptors, bottom up: entry = sorted "name:value" properties joined by
    // NUL; directory = sorted entries joined by two NULs; dirhash = hex(hash).
    std::function<digest(const dir_node&)> hash_dir = [&](const dir_node& node) {
        std::vector<std::string> entries;
        entries.reserve(node.dirs.size() + node.files.size());
        for (const auto& d : node.dirs) {
            std::string e = "dirhash:" + hash_dir(d).hex();
            e.append(1, '\0').append("name:").append(d.name);
            entries.push_back(std::move(e));
        }
        for (const auto i : node.files) {
            std::string e = "data:" + file_hex[i];
            e.append(1, '\0').append("name:").append(s.files[i].name);
            entries.push_back(std::move(e));
        }
        std::sort(entries.begin(), entries.end());
        any_hasher h(options.algorithm);
        for (std::size_t i = 0; i < entries.size(); ++i) {
            if (i) h.update(std::string_view("\0\0", 2));
            h.update(entries[i]);
        }
        return h.finish();
    };
    return hash_dir(tree);
}

}  // namespace rtb
