// openhands_tags: the TagStrategy that reproduces OpenHands' runtime image
// tags (runtime_build.py) bit for bit, so rtb finds and reuses images that
// OpenHands built, and OpenHands finds rtb's.
#pragma once

#include <optional>
#include <string>

#include "rtb/hash/dirhash.hpp"
#include "rtb/hash/file_hash.hpp"
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

    tag_set tags(const runtime_spec& spec) const {
        tag_set t;
        t.repository = spec.runtime_repository;
        t.versioned = tags::versioned_tag(prefix, spec.runtime_version, spec.base_image);
        t.lock = tags::lock_tag(prefix, spec.runtime_version, lock_hash(spec));
        t.source = tags::source_tag(t.lock, source_hash(spec));
        return t;
    }

    /// md5 over the base image, the browser flag, the lock files and any
    /// extra inputs. OpenHands hashes the string "False" after the base image
    /// when the browser is disabled (spec.enable_browser).
    digest lock_hash(const runtime_spec& spec) const {
        any_hasher h(hash_algorithm::md5);
        h.update(spec.base_image);
        if (!spec.enable_browser) h.update("False");
        for (const auto& f : spec.lock_files) {
            detail::unique_fd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
            if (!fd) detail::throw_io("read lock file", f.string());
            const auto buffer = detail::thread_read_buffer();
            while (true) {
                const auto n = ::read(fd.get(), buffer.data(), buffer.size());
                if (n < 0) {
                    if (errno == EINTR) continue;
                    detail::throw_io("read lock file", f.string());
                }
                if (n == 0) break;
                h.update(buffer.first(static_cast<std::size_t>(n)));
            }
        }
        tags::feed_extra_inputs(h, spec);
        return h.finish();
    }

    /// Which source files the source tag covers, as a PathFilter: a build
    /// sends exactly these, so no file can change the image without changing
    /// the tag.
    dirhash_filter source_filter(const runtime_spec&) const { return dirhash_filter(dirhash_options::openhands()); }

    /// The Dirhash (md5) of the source tree with OpenHands' ignore patterns.
    digest source_hash(const runtime_spec& spec) const {
        auto o = dirhash_options::openhands();
        o.jobs = options_.jobs;
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
        return d;
    }

private:
    options options_;
};

}  // namespace rtb
