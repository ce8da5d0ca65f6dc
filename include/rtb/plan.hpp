// The build plan: which image a runtime build starts from and which tags it
// applies, decided from what already exists. A pure function, so every case
// is tested without an engine.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rtb/tags/tag_set.hpp"

namespace rtb {

/// How a runtime image comes to be (OpenHands' BuildFromImageType, plus reuse).
enum class plan_kind {
    reuse,      ///< the source-tagged image exists: nothing to build
    lock,       ///< build on the lock-tagged image: only the source changes
    versioned,  ///< build on the versioned image: dependencies again, system setup skipped
    scratch,    ///< build on the base image: everything
};

constexpr std::string_view to_string(plan_kind k) noexcept {
    switch (k) {
        case plan_kind::reuse: return "reuse";
        case plan_kind::lock: return "lock";
        case plan_kind::versioned: return "versioned";
        case plan_kind::scratch: return "scratch";
    }
    return "?";
}

/// What the engine said exists. Fields after the first `true` are not asked
/// (and not read): a builder may leave them false.
struct existing_images {
    bool source = false;
    bool lock = false;
    bool versioned = false;
};

struct build_plan {
    plan_kind kind = plan_kind::scratch;
    /// The image the Dockerfile builds FROM; empty for reuse.
    std::string from_image;
    /// Full image names to apply to the result; empty for reuse.
    std::vector<std::string> tags_to_apply;
    /// The image the caller gets: always the source-tagged name.
    std::string image;

    friend bool operator==(const build_plan&, const build_plan&) = default;
};

/// Decides the plan:
///  - forced: scratch from the base image, applying all three tags (a forced
///    rebuild moves existing tags to the new image; OpenHands skips tags that
///    exist, which leaves its forced build untagged);
///  - the source image exists: reuse it, build nothing;
///  - the lock image exists: build on it, apply the source tag;
///  - the versioned image exists: build on it, apply source and lock tags;
///  - otherwise: scratch from the base image, apply all three.
/// Only tags that do not exist yet are applied, and the versioned tag only
/// after a scratch build, so images are not layered on top of themselves.
inline build_plan plan_build(const tag_set& tags, std::string_view base_image, const existing_images& exists,
                             bool force) {
    build_plan p;
    p.image = tags.source_image();
    if (force) {
        p.kind = plan_kind::scratch;
        p.from_image = std::string(base_image);
        p.tags_to_apply = {tags.source_image(), tags.lock_image(), tags.versioned_image()};
    } else if (exists.source) {
        p.kind = plan_kind::reuse;
    } else if (exists.lock) {
        p.kind = plan_kind::lock;
        p.from_image = tags.lock_image();
        p.tags_to_apply = {tags.source_image()};
    } else if (exists.versioned) {
        p.kind = plan_kind::versioned;
        p.from_image = tags.versioned_image();
        p.tags_to_apply = {tags.source_image(), tags.lock_image()};
    } else {
        p.kind = plan_kind::scratch;
        p.from_image = std::string(base_image);
        p.tags_to_apply = {tags.source_image(), tags.lock_image(), tags.versioned_image()};
    }
    return p;
}

}  // namespace rtb
