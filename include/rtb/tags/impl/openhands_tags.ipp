// openhands_tags's member functions (rtb/tags/openhands_tags.hpp): included by that
// header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION), so a unit that only holds the strategy (every
// builder alias does) parses none of the Dirhash or the hashers.
#pragma once

#include <cerrno>
#include <cstdint>
#include <optional>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include "rtb/detail/config.hpp"
#include "rtb/hash/dirhash.hpp"
#include "rtb/hash/file_hash.hpp"
#include "rtb/tags/extra_inputs.hpp"
#include "rtb/tags/openhands_tags.hpp"
#include "rtb/tags/tag_rules.hpp"

namespace rtb {

RTB_DECL digest openhands_tags::lock_hash(const runtime_spec& spec, hashed_files* record) const {
    any_hasher h(hash_algorithm::md5);
    h.update(spec.base_image);
    if (!spec.enable_browser) h.update("False");
    std::optional<xxh3_128_hasher> x;
    if (record) x.emplace();
    for (const auto& f : spec.lock_files) {
        detail::unique_fd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) detail::throw_io("read lock file", f.string());
        const auto buffer = detail::thread_read_buffer();
        std::uint64_t size = 0;
        while (true) {
            const auto n = ::read(fd.get(), buffer.data(), buffer.size());
            if (n < 0) {
                if (errno == EINTR) continue;
                detail::throw_io("read lock file", f.string());
            }
            if (n == 0) break;
            h.update(buffer.first(static_cast<std::size_t>(n)));
            if (x) x->update(buffer.first(static_cast<std::size_t>(n)));
            size += static_cast<std::uint64_t>(n);
        }
        if (record) record->add_file(f, {size, x->finish()});
    }
    tags::feed_extra_inputs(h, spec);
    return h.finish();
}

RTB_DECL any_path_filter openhands_tags::source_filter(const runtime_spec&) const {
    return dirhash_filter(dirhash_options::openhands());
}

RTB_DECL digest openhands_tags::source_hash(const runtime_spec& spec, hashed_files* record) const {
    auto o = dirhash_options::openhands();
    o.jobs = options_.jobs;
    hashed_files::file_map files;
    if (record) o.record = &files;
    std::optional<stat_cache> cache;
    if (options_.use_stat_cache) {
        const auto scope = dirhash_scope(spec.source_dir, o.algorithm);
        cache.emplace(stat_cache::default_file(scope), scope);
        o.cache = &*cache;
    }
    const digest d = dirhash(spec.source_dir, o);
    if (cache) {
        try {
            cache->save();
        } catch (const error&) {
            // the cache only saves time; an unwritable cache directory must not fail a build
        }
    }
    if (record) record->add_tree(spec.source_dir, std::move(files));
    return d;
}

RTB_DECL tag_set openhands_tags::compute(const runtime_spec& spec, hashed_files* record) const {
    tag_set t;
    t.repository = spec.runtime_repository;
    t.versioned = tags::versioned_tag(prefix, spec.runtime_version, spec.base_image);
    t.lock = tags::lock_tag(prefix, spec.runtime_version, lock_hash(spec, record));
    t.source = tags::source_tag(t.lock, source_hash(spec, record));
    return t;
}

}  // namespace rtb
