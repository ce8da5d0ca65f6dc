// openhands_tags: the TagStrategy that reproduces OpenHands' runtime image
// tags (runtime_build.py) bit for bit, so rtb finds and reuses images that
// OpenHands built, and OpenHands finds rtb's.
#pragma once

#include <string_view>

#include "rtb/detail/config.hpp"
#include "rtb/hash/hashed_files.hpp"
#include "rtb/hash/path_filter.hpp"
#include "rtb/runtime_spec.hpp"
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
    digest lock_hash(const runtime_spec& spec, hashed_files* record = nullptr) const;

    /// Which source files the source tag covers (OpenHands' Dirhash ignore
    /// patterns), as a PathFilter: a build sends exactly these, so no file
    /// can change the image without changing the tag. Type-erased, so that
    /// holding the strategy or building with it compiles no matcher.
    any_path_filter source_filter(const runtime_spec&) const;

    /// The Dirhash (md5) of the source tree with OpenHands' ignore patterns.
    /// With `record`, the source files' fingerprints, from the same reads.
    digest source_hash(const runtime_spec& spec, hashed_files* record = nullptr) const;

private:
    tag_set compute(const runtime_spec& spec, hashed_files* record) const;

    options options_;
};

}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/tags/impl/openhands_tags.ipp"
#else
// any_tag_strategy's wrapper around openhands_tags is compiled once, by <rtb/src.hpp>.
#include "rtb/any_tag_strategy.hpp"
namespace rtb {
extern template struct any_tag_strategy::model<openhands_tags>;
}  // namespace rtb
#endif
