// Pruning the images rtb built: the decision is a pure function
// (plan_prune), tested without an engine; prune_images() asks the engine and
// carries it out.
//
// Rules:
//  - only images carrying rtb's labels (image_labels::source_tag) are
//    considered: rtb never removes an image it did not build;
//  - an image a container uses (running or stopped) is never removed;
//  - older_than: images created before now - older_than go;
//  - keep_per_lock: per lock tag (image_labels::lock_tag), the newest K
//    images stay and older ones go, except the image that currently carries
//    the lock tag itself: it is the base every future source-only build
//    starts from (older_than still removes it).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "rtb/detail/config.hpp"
#include "rtb/transport/docker_engine.hpp"

namespace rtb {

struct prune_options {
    std::optional<std::chrono::seconds> older_than;
    std::optional<std::size_t> keep_per_lock;
};

/// One rtb-built image, as prune sees it.
struct prune_candidate {
    std::string id;
    std::vector<std::string> names;  ///< its tags, as the engine lists them
    std::string lock_tag;            ///< image_labels::lock_tag
    std::int64_t created = 0;        ///< seconds since the epoch
    bool in_use = false;             ///< a container uses it
    bool carries_lock_tag = false;   ///< one of `names` ends in ":" + lock_tag
};

struct prune_decision {
    prune_candidate image;
    std::string reason;  ///< "older than 7d", "beyond the newest 3 of lock tag X"
};

/// Which images to remove, oldest first. Throws invalid_argument when no
/// criterion is given (pruning everything is never a default).
RTB_DECL std::vector<prune_decision> plan_prune(std::vector<prune_candidate> images, const prune_options& o,
                                                std::int64_t now);

/// The rtb-built images on `engine`, with whether a container uses each.
RTB_DECL std::vector<prune_candidate> prune_candidates(docker_engine& engine);

/// Carries out prune decisions: removes each image's names (the image goes
/// with its last one), or an image without names by its id. An image that
/// became used, or that another removal took, since the decision is kept or
/// skipped, not an error. Returns the decisions carried out.
RTB_DECL std::vector<prune_decision> remove_pruned(docker_engine& engine, const std::vector<prune_decision>& decisions);

/// Removes what plan_prune() decides (with `dry_run`, only says). Returns
/// what was removed (dry run: what would be).
RTB_DECL std::vector<prune_decision> prune_images(docker_engine& engine, const prune_options& o, bool dry_run,
                                                  std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                                                         std::chrono::system_clock::now().time_since_epoch())
                                                                         .count());

/// Removes build folders (rtb-build-*) under `parent` older than
/// `older_than`, left by runs that were killed; returns how many.
RTB_DECL std::size_t prune_build_folders(const std::filesystem::path& parent, std::chrono::seconds older_than);

}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/impl/prune.ipp"
#endif
