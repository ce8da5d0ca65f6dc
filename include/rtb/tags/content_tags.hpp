// content_tags: the same three tag levels as OpenHands, computed from rtb's
// fast tree digest and XXH3-128, for users not tied to OpenHands' tags.
#pragma once

#include <optional>
#include <string>

#include "rtb/context/dockerignore.hpp"
#include "rtb/hash/file_hash.hpp"
#include "rtb/hash/hashed_files.hpp"
#include "rtb/hash/tree_digest.hpp"
#include "rtb/runtime_spec.hpp"
#include "rtb/tags/extra_inputs.hpp"
#include "rtb/tags/tag_rules.hpp"
#include "rtb/tags/tag_set.hpp"

namespace rtb {

/// Tags from content digests:
///  - versioned: `rtb_v{V}_{base image spelled}` (as OpenHands spells it);
///  - lock: `rtb_v{V}_{b36(XXH3-128 of the base image, each lock file's
///    content digest and every extra input)}`;
///  - source: `{lock}_{b36(fast tree digest of the source)}`, over exactly
///    the files a build sends: the source's own .dockerignore applies.
/// Unlike openhands_tags, every input is always hashed.
class content_tags {
public:
    struct options {
        unsigned jobs = 0;
        bool use_stat_cache = false;
    };

    content_tags() = default;
    explicit content_tags(options o) : options_(o) {}

    static constexpr std::string_view prefix = "rtb_v";

    tag_set tags(const runtime_spec& spec) const { return compute(spec, nullptr); }

    /// The same tags, recording every file read (the lock files, the source
    /// tree's files) with the fingerprint of the bytes hashed (RecordsHashedFiles).
    tag_set tags(const runtime_spec& spec, hashed_files& record) const { return compute(spec, &record); }

    /// With `record`, each lock file's fingerprint (its content digest is XXH3-128 already).
    digest lock_hash(const runtime_spec& spec, hashed_files* record = nullptr) const {
        any_hasher h(hash_algorithm::xxh3_128);
        auto field = [&](std::string_view name, std::string_view value) { tags::feed_field(h, name, value); };
        field("rtb-content-lock-v1", "");
        field("base_image", spec.base_image);
        if (!spec.enable_browser) field("enable_browser", "false");  // absent when true: earlier tags stay valid
        for (const auto& f : spec.lock_files) {
            detail::unique_fd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
            if (!fd) detail::throw_io("read lock file", f.string());
            const auto [d, fingerprint] = hash_fd_fingerprinted(fd.get(), hash_algorithm::xxh3_128, f.string());
            if (record) record->add_file(f, fingerprint);
            field("lock_file", std::string_view(reinterpret_cast<const char*>(d.bytes().data()), d.size()));
        }
        tags::feed_extra_inputs(h, spec);
        return h.finish();
    }

    /// Which source files the source tag covers: the source's .dockerignore.
    dockerignore source_filter(const runtime_spec& spec) const { return dockerignore::for_context(spec.source_dir); }

    /// With `record`, the fingerprints of the source files sent as regular
    /// files, which of them are executable, and the symbolic links.
    digest source_hash(const runtime_spec& spec, hashed_files* record = nullptr) const {
        tree_digest_options o;
        o.jobs = options_.jobs;
        hashed_files::file_map files;
        hashed_files::tree_shape shape;  // this digest covers execute bits and links: the context must match them
        if (record) {
            o.record = &files;
            o.record_shape = &shape;
        }
        std::optional<stat_cache> cache;
        if (options_.use_stat_cache) {
            const auto scope = tree_digest_scope(spec.source_dir, o.algorithm);
            cache.emplace(stat_cache::default_file(scope), scope);
            o.cache = &*cache;
        }
        const digest d = tree_digest(spec.source_dir, source_filter(spec), o);
        if (cache) {
            try {
                cache->save();
            } catch (const error&) {
                // only an accelerator
            }
        }
        if (record) record->add_tree(spec.source_dir, std::move(files), std::move(shape));
        return d;
    }

private:
    tag_set compute(const runtime_spec& spec, hashed_files* record) const {
        tag_set t;
        t.repository = spec.runtime_repository;
        t.versioned = tags::versioned_tag(prefix, spec.runtime_version, spec.base_image);
        t.lock = tags::lock_tag(prefix, spec.runtime_version, lock_hash(spec, record));
        t.source = tags::source_tag(t.lock, source_hash(spec, record));
        return t;
    }

    options options_;
};

}  // namespace rtb
