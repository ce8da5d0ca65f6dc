// content_tags's member functions (rtb/tags/content_tags.hpp): included by that
// header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION), so a unit that only holds the strategy (every
// builder alias does) parses none of the tree digest or the .dockerignore matcher.
#pragma once

#include <optional>
#include <utility>

#include <fcntl.h>

#include "rtb/context/dockerignore.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/hash/file_hash.hpp"
#include "rtb/hash/tree_digest.hpp"
#include "rtb/tags/content_tags.hpp"
#include "rtb/tags/extra_inputs.hpp"
#include "rtb/tags/tag_rules.hpp"

namespace rtb {

RTB_DECL digest content_tags::lock_hash(const runtime_spec& spec, hashed_files* record) const {
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

RTB_DECL any_path_filter content_tags::source_filter(const runtime_spec& spec) const {
    return dockerignore::for_context(spec.source_dir);
}

RTB_DECL digest content_tags::source_hash(const runtime_spec& spec, hashed_files* record) const {
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
    const digest d = tree_digest(spec.source_dir, dockerignore::for_context(spec.source_dir), o);  // source_filter()'s matcher, not type-erased
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

RTB_DECL tag_set content_tags::compute(const runtime_spec& spec, hashed_files* record) const {
    tag_set t;
    t.repository = spec.runtime_repository;
    t.versioned = tags::versioned_tag(prefix, spec.runtime_version, spec.base_image);
    t.lock = tags::lock_tag(prefix, spec.runtime_version, lock_hash(spec, record));
    t.source = tags::source_tag(t.lock, source_hash(spec, record));
    return t;
}

}  // namespace rtb
