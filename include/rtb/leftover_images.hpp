// Images a build leaves without a name, and their removal. When a forced or
// superseding build moves a name to the new image, the old one is left
// without a name; a failed build leaves the image of its last step done. If
// nothing uses them, they go at once rather than piling up in the engine.
#pragma once

#include <algorithm>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/build_types.hpp"
#include "rtb/concepts.hpp"
#include "rtb/error.hpp"
#include "rtb/image_labels.hpp"
#include "rtb/stream/event.hpp"

namespace rtb {

/// A name and the id of the image it stood for.
struct named_image {
    std::string name;
    std::string id;
};

/// The images `names` stand for now. A failure to ask only means nothing
/// will be removed later (the build itself reports an unreachable engine).
template <ImageStore S>
std::vector<named_image> images_named(S& store, const std::vector<std::string>& names, std::stop_token stop = {}) {
    std::vector<named_image> found;
    for (const auto& name : names) {
        try {
            if (auto img = store.describe_image(name, stop)) found.push_back({name, img->id});
        } catch (const error&) {
            // nothing to remove then
        }
    }
    return found;
}

/// After a build that applied its names and produced `built_id`: removes
/// each image of `previous` that lost its last name, when rtb built it and
/// nothing uses it (the engine refuses while a container or a newer image
/// does; the image then stays for `rtb prune`). `report(level, message)`
/// hears what was removed or kept; errors are reported, never thrown (the
/// build succeeded).
template <ImageStore S, class Report>
void remove_superseded(S& store, const std::vector<named_image>& previous, const std::string& built_id, Report&& report) {
    auto brief = [](std::string_view id) {
        if (id.starts_with("sha256:")) id.remove_prefix(7);
        return std::string(id.substr(0, 12));
    };
    std::vector<std::string> seen;
    for (const auto& [name, id] : previous) {
        if (id == built_id || std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
        seen.push_back(id);
        try {
            const auto now = store.describe_image(id, {});
            if (!now || !superseded_and_removable(*now, built_id)) continue;
            switch (store.remove_unused_image(id, {})) {
                case image_removal::removed:
                    report(log_level::info, fmt::format("removed {}, which {} named before this build", brief(id), name));
                    break;
                case image_removal::in_use:
                    report(log_level::info, fmt::format("kept {}, which {} named before this build: a container or a "
                                                        "newer image uses it (rtb prune removes it once none does)",
                                                        brief(id), name));
                    break;
                case image_removal::gone:
                    break;
            }
        } catch (const error& e) {
            report(log_level::warning,
                   fmt::format("could not remove {}, which {} named before this build: {}", brief(id), name, e.what()));
        }
    }
}

/// After a failed build: removes the image of its last step done (`step_id`,
/// as the builder printed it), unless it has a name (a cached step of a
/// named image) or something holds it; the untagged steps under it go with
/// it. Returns what happened, for the log ("" when nothing was there);
/// never throws: the build's own error is the one that counts.
template <ImageStore S>
std::string remove_failed_build_step(S& store, std::string_view step_id) noexcept {
    if (step_id.empty()) return {};
    try {
        const auto img = store.describe_image(step_id, {});
        if (!img || has_names(*img)) return {};
        switch (store.remove_unused_image(img->id, {})) {
            case image_removal::removed:
                return fmt::format("removed {}, the failed build's last step", step_id);
            case image_removal::in_use:
                return fmt::format("kept {}, the failed build's last step: it is in use", step_id);
            case image_removal::gone:
                return {};
        }
    } catch (const std::exception& e) {
        return fmt::format("could not remove {}, the failed build's last step: {}", step_id, e.what());
    }
    return {};
}

}  // namespace rtb
