// Pruning's functions (rtb/prune.hpp): included by that header (header-only)
// or compiled once by <rtb/src.hpp> (RTB_SEPARATE_COMPILATION).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "rtb/detail/config.hpp"
#include "rtb/image_labels.hpp"
#include "rtb/error.hpp"
#include "rtb/sandbox/container_list.hpp"
#include "rtb/prune.hpp"
#include "rtb/transport/docker_engine.hpp"

namespace rtb {

RTB_DECL std::vector<prune_decision> plan_prune(std::vector<prune_candidate> images, const prune_options& o,
                                                std::int64_t now) {
    if (!o.older_than && !o.keep_per_lock)
        throw error(errc::invalid_argument, "prune needs a criterion: an age (older than) or a number to keep per lock tag");
    // Newest first; ties by id so the decision does not depend on listing order.
    std::sort(images.begin(), images.end(), [](const prune_candidate& a, const prune_candidate& b) {
        return a.created != b.created ? a.created > b.created : a.id < b.id;
    });
    std::vector<prune_decision> out;
    std::map<std::string, std::size_t> seen_per_lock;
    for (auto& img : images) {
        const std::size_t rank = seen_per_lock[img.lock_tag]++;  // 0 = the newest of its lock tag
        if (img.in_use) continue;
        std::string reason;
        if (o.older_than && img.created < now - o.older_than->count())
            reason = fmt::format("older than {} s", o.older_than->count());
        else if (o.keep_per_lock && rank >= *o.keep_per_lock && !img.carries_lock_tag)
            reason = fmt::format("beyond the newest {} of lock tag {}", *o.keep_per_lock, img.lock_tag);
        if (!reason.empty()) out.push_back({std::move(img), std::move(reason)});
    }
    std::reverse(out.begin(), out.end());
    return out;
}

RTB_DECL std::vector<prune_candidate> prune_candidates(docker_engine& engine) {
    std::set<std::string> used;
    for (const auto& c : list_containers(engine)) {
        if (!c.image_id.empty()) used.insert(c.image_id);
        if (!c.image.empty()) used.insert(c.image);
    }
    std::vector<prune_candidate> out;
    for (auto& img : engine.images({image_labels::source_tag})) {
        prune_candidate c;
        c.id = img.id;
        c.created = img.created;
        const auto lock = img.labels.find(image_labels::lock_tag);
        if (lock != img.labels.end()) c.lock_tag = lock->second;
        for (auto& name : img.repo_tags) {
            if (name == "<none>:<none>") continue;
            if (!c.lock_tag.empty() && name.ends_with(":" + c.lock_tag)) c.carries_lock_tag = true;
            if (used.contains(name)) c.in_use = true;
            c.names.push_back(std::move(name));
        }
        c.in_use = c.in_use || used.contains(img.id);
        out.push_back(std::move(c));
    }
    return out;
}

RTB_DECL std::vector<prune_decision> remove_pruned(docker_engine& engine, const std::vector<prune_decision>& decisions) {
    std::vector<prune_decision> done;
    for (const auto& d : decisions) {
        try {
            if (d.image.names.empty()) {
                if (engine.remove_unused_image(d.image.id) == image_removal::in_use) continue;
            } else {
                for (const auto& name : d.image.names) engine.remove(image_ref::parse(name));
            }
            done.push_back(d);
        } catch (const error& e) {
            if (e.http_status() != 409) throw;  // 409: in use (or a child's parent) since we looked: keep it
        }
    }
    return done;
}

RTB_DECL std::vector<prune_decision> prune_images(docker_engine& engine, const prune_options& o, bool dry_run,
                                                  std::int64_t now) {
    auto decisions = plan_prune(prune_candidates(engine), o, now);
    if (dry_run) return decisions;
    return remove_pruned(engine, decisions);
}

RTB_DECL std::size_t prune_build_folders(const std::filesystem::path& parent, std::chrono::seconds older_than) {
    namespace fs = std::filesystem;
    std::size_t removed = 0;
    std::error_code ec;
    const auto limit = fs::file_time_type::clock::now() - older_than;
    for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
        const auto name = it->path().filename().string();
        if (!name.starts_with("rtb-build-") || !it->is_directory(ec) || it->is_symlink(ec)) continue;
        if (it->last_write_time(ec) >= limit || ec) continue;
        fs::remove_all(it->path(), ec);
        if (!ec) ++removed;
    }
    return removed;
}

}  // namespace rtb
