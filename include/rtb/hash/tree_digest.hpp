// rtb's fast tree digest: one digest over a canonical manifest of the entries
// a build would send, with file contents hashed in parallel on every core.
// Independent of mtime, owner, umask, locale and directory order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "rtb/detail/parallel.hpp"
#include "rtb/hash/detail/cached_file_hash.hpp"
#include "rtb/hash/file_hash.hpp"
#include "rtb/hash/hashed_files.hpp"
#include "rtb/hash/stat_cache.hpp"
#include "rtb/hash/tree_walk.hpp"

namespace rtb {

struct tree_digest_options {
    /// Hashes file contents and the manifest. XXH3-128 is the fast default;
    /// sha256 gives a cryptographic digest.
    hash_algorithm algorithm = hash_algorithm::xxh3_128;
    unsigned jobs = 0;               ///< 0: every core
    stat_cache* cache = nullptr;     ///< optional; scope it with tree_digest_scope()
    skip_handler on_skip;            ///< sockets, FIFOs, devices
    /// Optional: receives the fingerprint of every regular file hashed, by
    /// relative path (from the same read as its digest; with xxh3_128 the
    /// digest is the fingerprint's).
    hashed_files::file_map* record = nullptr;
    /// Optional: receives what else the digest covers (execute bits, links).
    hashed_files::tree_shape* record_shape = nullptr;
};

/// The manifest: for each entry, in bytewise path order,
///   kind (1 byte: 'd', 'f', 'l'), executable (1 byte: 0/1),
///   path length (u32 LE), path bytes,
///   payload length (u32 LE), payload (content digest for files, link
///   target for symlinks, nothing for directories).
/// Only a file's executable bit counts, as in git: umask differences between
/// checkouts do not change the digest (the context tar normalizes modes the
/// same way).
template <PathFilter F>
digest tree_digest(const std::filesystem::path& root, const F& filter, const tree_digest_options& options = {});

inline digest tree_digest(const std::filesystem::path& root, const tree_digest_options& options = {}) {
    return tree_digest(root, include_everything{}, options);
}

/// The stat-cache scope string for a tree digest of `root` (canonical) with `a`.
inline std::string tree_digest_scope(const std::filesystem::path& root, hash_algorithm a) {
    std::error_code ec;
    auto canonical = std::filesystem::weakly_canonical(root, ec);
    return fmt::format("rtb-tree-digest\n{}\n{}", ec ? root.string() : canonical.string(), to_string(a));
}

// ---------------------------------------------------------------------------

namespace detail {
inline void append_u32(std::string& out, std::size_t v) {
    const auto x = static_cast<std::uint32_t>(v);
    const char b[4] = {static_cast<char>(x & 0xff), static_cast<char>((x >> 8) & 0xff),
                       static_cast<char>((x >> 16) & 0xff), static_cast<char>((x >> 24) & 0xff)};
    out.append(b, 4);
}
}  // namespace detail

template <PathFilter F>
digest tree_digest(const std::filesystem::path& root, const F& filter, const tree_digest_options& options) {
    const std::string root_display = root.string();
    // Files are hashed by the walk's workers as they find them, relative to the
    // open directory; the stat cache answers for files it knows unchanged.
    const bool record = options.record != nullptr;
    const auto entries = walk_tree(root, filter, walk_options{options.jobs, options.on_skip},
                                   [&](tree_entry& e, int dir_fd, const char* name) {
                                       e.content = detail::cached_file_digest(
                                           dir_fd, name, root_display + "/" + e.path, /*nofollow=*/true,
                                           options.algorithm, options.cache, e.path, &e.stamp,
                                           record ? &e.fingerprint : nullptr);
                                   });
    if (record)
        for (const auto& e : entries)
            if (e.kind == entry_kind::file) options.record->insert_or_assign(e.path, e.fingerprint);
    if (options.record_shape)
        for (const auto& e : entries) {
            if (e.kind == entry_kind::file && e.executable()) options.record_shape->executable.insert(e.path);
            if (e.kind == entry_kind::symlink) options.record_shape->links.insert_or_assign(e.path, e.link_target);
        }

    std::string manifest;
    manifest.reserve(entries.size() * 64);
    for (const auto& e : entries) {
        manifest.push_back(static_cast<char>(e.kind));
        manifest.push_back(e.kind == entry_kind::file && e.executable() ? '\1' : '\0');
        detail::append_u32(manifest, e.path.size());
        manifest.append(e.path);
        switch (e.kind) {
            case entry_kind::file: {
                const auto b = e.content.bytes();
                detail::append_u32(manifest, b.size());
                manifest.append(reinterpret_cast<const char*>(b.data()), b.size());
                break;
            }
            case entry_kind::symlink:
                detail::append_u32(manifest, e.link_target.size());
                manifest.append(e.link_target);
                break;
            case entry_kind::directory:
                detail::append_u32(manifest, 0);
                break;
        }
    }
    return hash_bytes(options.algorithm, manifest);
}

}  // namespace rtb
