// rtb::build_context: the entries a build sends, gathered without copying a
// byte: a context directory as the docker CLI sends it, or a "virtual"
// context assembled from several trees on disk and files held in memory
// (runtime source + lock files + a rendered Dockerfile). It can be streamed
// as a tar (tar_stream.hpp) or written out as a folder.
#pragma once

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "rtb/context/context_entry.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/hash/hashed_files.hpp"
#include "rtb/hash/path_filter.hpp"
#include "rtb/hash/walk_options.hpp"

namespace rtb {

class build_context {
public:
    build_context() = default;

    /// A context directory exactly as the docker CLI sends it: walk_tree with
    /// `filter` (normally dockerignore::for_context(dir)). Directory entries
    /// are kept as the walk lists them: an excluded directory the walk only
    /// entered for an exception is not listed itself, as in Docker.
    static build_context from_directory(const std::filesystem::path& dir, const any_path_filter& filter,
                                        const walk_options& walk = {});

    /// Adds the entries of the tree at `root` that `filter` keeps, under
    /// `prefix` ("" for the context's top). Symlinks are entries, never followed.
    void add_tree(const std::filesystem::path& root, std::string_view prefix, const any_path_filter& filter,
                  const walk_options& walk = {});

    /// Adds the file at `source` (symlinks followed) as `path`; its execute
    /// bit is kept. Throws when it is missing or not a regular file.
    void add_file(std::string_view path, const std::filesystem::path& source);

    /// Adds `content` as the file `path`.
    void add_bytes(std::string_view path, std::string content, bool executable = false);

    /// Adds a symbolic link `path` -> `target` (stored as given).
    void add_symlink(std::string_view path, std::string target);

    /// Makes every stream of this context check the files it sends against
    /// `record` (what a TagStrategy hashed): a root whose path is a recorded
    /// tree must send exactly its recorded regular files, a file added by
    /// path that is recorded must have its recorded bytes, and every
    /// recorded file must be sent. The tar stream and write_to() check as
    /// they read, and fail with errc::source_changed naming the file before
    /// the archive ends (or the folder is complete). Null: no check.
    void send_as_hashed(std::shared_ptr<const hashed_files> record);

    /// The entries, sorted bytewise by path. Throws invalid_argument when two
    /// entries share a path or an entry sits below a file or a symlink.
    std::shared_ptr<const context_snapshot> snapshot() const;

    const std::vector<context_entry>& entries() const& { return snapshot()->entries; }
    /// On a temporary, a copy: `for (auto& e : directory_context(dir).entries())`
    /// would otherwise walk a vector freed with the temporary (found by ASan).
    std::vector<context_entry> entries() && { return snapshot()->entries; }

    /// Writes the context out as a folder `dir` (created if missing; must be
    /// empty), with the modes the tar would carry (0644/0755 files, 0755
    /// directories), so packing the folder gives the same tar. Checks the
    /// files against what the tags hashed as the tar stream does (the
    /// folder is then incomplete: its owner removes it).
    void write_to(const std::filesystem::path& dir) const;

private:
    static std::string checked_path(std::string_view p);
    void push(context_entry e) { entries_.push_back(std::move(e)); }
    void add_dir(const std::string& p);
    // Directory entries for every parent of `path` (deepest first, stopping
    // at one already added).
    void add_parents(std::string_view path);
    static void check_no_entry_below_leaf(const std::vector<context_entry>& entries);

    std::vector<context_entry> entries_;
    std::vector<context_root> roots_;
    std::shared_ptr<const hashed_files> hashed_;
    bool complete_parents_ = true;
    std::set<std::string, std::less<>> dirs_added_;
    mutable std::shared_ptr<const context_snapshot> snapshot_;
};

}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/context/impl/build_context.ipp"
#endif
