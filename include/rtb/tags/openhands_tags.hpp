// openhands_tags: the TagStrategy that reproduces OpenHands' runtime image
// tags (runtime_build.py) bit for bit, so rtb finds and reuses images that
// OpenHands built, and OpenHands finds rtb's.
#pragma once

#include <optional>
#include <string>

#include "rtb/hash/dirhash.hpp"
#include "rtb/hash/file_hash.hpp"
#include "rtb/hash/hashed_files.hpp"
#include "rtb/runtime_spec.hpp"
#include "rtb/tags/extra_inputs.hpp"
#include "rtb/tags/tag_rules.hpp"
#include "rtb/tags/tag_set.hpp"

namespace rtb {

/// OpenHands' three tags:
///  - versioned: `oh_v{V}_{base image spelled}` (tags::spell_base_image);
///  - lock: `oh_v{V}_{b36(md5(base image bytes as given, then each lock
///    file's bytes in order))}`;
///  - source: `{lock}_{b36(Dirhash md5 of the source, ignoring .*/,
///    __pycache__/, *.pyc)}`.
/// Divergences (documented in docs/tags.md): extra inputs are mixed into the
/// lock hash when given; characters invalid in a tag are replaced; a long
/// version shortens the spelled base image so the tag stays within 128.
class openhands_tags {
public:
    struct options {
        unsigned jobs = 0;          ///< threads for the source hash; 0: every core
        bool use_stat_cache = false;  ///< cache file digests under stat_cache::default_directory()
    };

    openhands_tags() = default;
    explicit openhands_tags(options o) : options_(o) {}

    static constexpr std::string_view prefix = "oh_v";

    tag_set tags(const runtime_spec& spec) const { return compute(spec, nullptr); }

    /// The same tags, recording every file read (the lock files, the source
    /// tree's files) with the fingerprint of the bytes hashed (RecordsHashedFiles).
    tag_set tags(const runtime_spec& spec, hashed_files& record) const { return compute(spec, &record); }

    /// md5 over the base image, the browser flag, the lock files and any
    /// extra inputs. OpenHands hashes the string "False" after the base image
    /// when the browser is disabled (spec.enable_browser). With `record`,
    /// each lock file's fingerprint is taken from the same read.
    digest lock_hash(const runtime_spec& spec, hashed_files* record = nullptr) const {
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

    /// Which source files the source tag covers, as a PathFilter: a build
    /// sends exactly these, so no file can change the image without changing
    /// the tag.
    dirhash_filter source_filter(const runtime_spec&) const { return dirhash_filter(dirhash_options::openhands()); }

    /// The Dirhash (md5) of the source tree with OpenHands' ignore patterns.
    /// With `record`, the source files' fingerprints, from the same reads.
    digest source_hash(const runtime_spec& spec, hashed_files* record = nullptr) const {
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
