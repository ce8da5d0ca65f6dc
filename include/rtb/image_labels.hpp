// The labels rtb puts on every image it builds, and the decisions made from
// them: which images are rtb's, and when an image a build took its names
// from may go.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "rtb/build_types.hpp"
#include "rtb/plan.hpp"
#include "rtb/tags/tag_set.hpp"
#include "rtb/version.hpp"

namespace rtb {

/// The labels rtb puts on every image it builds; `rtb prune` finds its images by them.
namespace image_labels {
inline constexpr const char* version = "rtb.version";          ///< the rtb that built it
inline constexpr const char* source_tag = "rtb.source-tag";    ///< the three tags of the build
inline constexpr const char* lock_tag = "rtb.lock-tag";
inline constexpr const char* versioned_tag = "rtb.versioned-tag";
inline constexpr const char* base_image = "rtb.base-image";    ///< the base image as the user wrote it
inline constexpr const char* plan = "rtb.plan";                ///< lock, versioned or scratch
}  // namespace image_labels

/// rtb's labels for an image with `tags` built from `base_image` by `plan`.
inline std::map<std::string, std::string> runtime_image_labels(const tag_set& tags, std::string_view base_image,
                                                               plan_kind plan) {
    return {{image_labels::version, version_string},
            {image_labels::source_tag, tags.source},
            {image_labels::lock_tag, tags.lock},
            {image_labels::versioned_tag, tags.versioned},
            {image_labels::base_image, std::string(base_image)},
            {image_labels::plan, std::string(to_string(plan))}};
}

/// Whether an image carries rtb's labels (rtb built it).
inline bool built_by_rtb(const std::map<std::string, std::string>& labels) {
    return labels.contains(image_labels::source_tag);
}

/// Whether an image has a name left ("<none>:<none>" is none).
inline bool has_names(const image_summary& image) {
    for (const auto& t : image.repo_tags)
        if (!t.empty() && t != "<none>:<none>") return true;
    return false;
}

/// Whether `old`, an image that held one of a build's names before the
/// build, may now be removed: the build moved its names to another image
/// (`built_id`), it has none left, and rtb built it. (Whether a container
/// uses it is the engine's to say: removal without force refuses then.)
inline bool superseded_and_removable(const image_summary& old, std::string_view built_id) {
    return old.id != built_id && !has_names(old) && built_by_rtb(old.labels);
}

}  // namespace rtb
