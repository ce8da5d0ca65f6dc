// content_tags: the same three tag levels as OpenHands, computed from rtb's
// fast tree digest and XXH3-128, for users not tied to OpenHands' tags.
#pragma once

#include <string_view>

#include "rtb/detail/config.hpp"
#include "rtb/hash/hashed_files.hpp"
#include "rtb/hash/path_filter.hpp"
#include "rtb/runtime_spec.hpp"
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
    digest lock_hash(const runtime_spec& spec, hashed_files* record = nullptr) const;

    /// Which source files the source tag covers: the source's .dockerignore,
    /// type-erased (holding the strategy or building with it compiles no
    /// matcher).
    any_path_filter source_filter(const runtime_spec& spec) const;

    /// With `record`, the fingerprints of the source files sent as regular
    /// files, which of them are executable, and the symbolic links.
    digest source_hash(const runtime_spec& spec, hashed_files* record = nullptr) const;

private:
    tag_set compute(const runtime_spec& spec, hashed_files* record) const;

    options options_;
};

}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/tags/impl/content_tags.ipp"
#else
// any_tag_strategy's wrapper around content_tags is compiled once, by <rtb/src.hpp>.
#include "rtb/any_tag_strategy.hpp"
namespace rtb {
extern template struct any_tag_strategy::model<content_tags>;
}  // namespace rtb
#endif
