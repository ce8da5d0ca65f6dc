// rtb::hashed_files: the record a TagStrategy keeps of every file it read
// from disk while computing tags (the source tree's files, the lock files),
// each with the fingerprint of the very bytes it hashed. The build context
// carries it to the stream that sends the files, which checks each file's
// bytes against it as they go out: an image never holds bytes other than the
// ones its tags hashed (docs/builder.md, "What an image holds").
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtb/hash/file_fingerprint.hpp"

namespace rtb {

class hashed_files {
public:
    /// Files below one root, by their '/'-separated path relative to it.
    using file_map = std::map<std::string, file_fingerprint, std::less<>>;

    /// What a tag strategy hashed of a tree beyond its files' bytes, when
    /// its digest covers it: which files have an execute bit, and every
    /// symbolic link with its target as stored (rtb's content tags hash
    /// both; OpenHands' Dirhash neither, so it records no shape).
    struct tree_shape {
        std::set<std::string, std::less<>> executable;          ///< files with an execute bit
        std::map<std::string, std::string, std::less<>> links;  ///< symbolic link -> its target
    };

    /// A tree the tags hashed: the regular files read directly (not through a
    /// symbolic link), which are exactly the regular files a build sends from
    /// it. A context root with the same path must send these files, with
    /// these bytes, and no other regular file; with a shape, the same execute
    /// bits and exactly these symbolic links, with these targets.
    struct tree {
        std::filesystem::path root;  ///< as the spec names it (also in messages)
        file_map files;
        std::optional<tree_shape> shape;
    };

    /// Records the files of the tree at `root` (replacing an earlier record of it).
    void add_tree(std::filesystem::path root, file_map files, std::optional<tree_shape> shape = std::nullopt) {
        for (auto& t : trees_)
            if (t.root == root) {
                t.files = std::move(files);
                t.shape = std::move(shape);
                return;
            }
        trees_.push_back({std::move(root), std::move(files), std::move(shape)});
    }

    /// Records a file named by its path (a lock file), as the spec names it.
    void add_file(const std::filesystem::path& path, file_fingerprint fingerprint) {
        files_[path.string()] = std::move(fingerprint);
    }

    /// The record of the tree at `root` (compared as paths, lexically), or null.
    const tree* find_tree(const std::filesystem::path& root) const noexcept {
        for (const auto& t : trees_)
            if (t.root == root) return &t;
        return nullptr;
    }
    /// The fingerprint of the file named `path`, or null.
    const file_fingerprint* find_file(std::string_view path) const noexcept {
        const auto it = files_.find(path);
        return it == files_.end() ? nullptr : &it->second;
    }

    const std::vector<tree>& trees() const noexcept { return trees_; }
    const file_map& files() const noexcept { return files_; }
    /// How many files are recorded in all.
    std::size_t size() const noexcept {
        std::size_t n = files_.size();
        for (const auto& t : trees_) n += t.files.size();
        return n;
    }
    bool empty() const noexcept { return size() == 0 && link_count() == 0; }
    /// How many symbolic links the trees' shapes record in all.
    std::size_t link_count() const noexcept {
        std::size_t n = 0;
        for (const auto& t : trees_)
            if (t.shape) n += t.shape->links.size();
        return n;
    }

    /// Called by the context stream just before it opens each file it sends
    /// (with the file's path in the context, e.g. "source/app.py"): a point
    /// at which a test can change the file, deterministically, after the
    /// tags were computed and before the file is sent.
    std::function<void(std::string_view context_path)> before_send;

private:
    std::vector<tree> trees_;
    file_map files_;
};

}  // namespace rtb
