// rtb prune: removes runtime images rtb built (found by their labels) that
// are older than a duration or beyond the newest K per lock tag, never one a
// container uses; also build folders that killed runs left behind.
//
// stdout: one line per image removed (or, with --dry-run, that would be):
// "<id>\t<names, comma-separated>\t<reason>"; stderr: a summary.
#include <filesystem>
#include <memory>
#include <string>

#include "cli.hpp"
#include "rtb/policy/build_cache.hpp"
#include "rtb/prune.hpp"
#include "runtime_options.hpp"

namespace rtb::cli {

void add_prune(CLI::App& command, action& run) {
    struct options {
        std::string older_than, keep, host, transport = "docker";
        bool dry_run = false;
    };
    auto o = std::make_shared<options>();
    auto* cmd = &command;
    cmd->add_option("--older-than", o->older_than, "Remove images created longer ago than this (e.g. 7d, 12h)");
    cmd->add_option("--keep", o->keep, "Keep the newest K images per lock tag (the lock-tagged base always stays)");
    cmd->add_flag("--dry-run", o->dry_run, "List what would be removed; remove nothing");
    cmd->add_option("-H,--host", o->host, "The engine: unix:///path or tcp://host:port (default: DOCKER_HOST)");
    cmd->add_option("--transport", o->transport, "docker or podman")->check(CLI::IsMember({"docker", "podman"}));
    cmd->callback([o, &run] {
        run = [o] {
            prune_options po;
            if (!o->older_than.empty())
                po.older_than = std::chrono::duration_cast<std::chrono::seconds>(
                    parse_duration(o->older_than, "--older-than", 100.0 * 365 * 86'400'000));
            if (!o->keep.empty()) po.keep_per_lock = static_cast<std::size_t>(parse_integer(o->keep, "--keep", 0, 1'000'000));
            if (!po.older_than && !po.keep_per_lock)
                throw error(errc::invalid_argument, "say what to prune: --older-than DURATION and/or --keep K");
            docker_engine::options eo;
            if (!o->host.empty()) eo.endpoint = http::parse_docker_host(o->host, {});
            else if (o->transport == "podman") eo.endpoint = podman_endpoint_from_env();
            docker_engine engine(eo);
            const auto decisions = prune_images(engine, po, o->dry_run);
            for (const auto& d : decisions) {
                std::string names;
                for (const auto& n : d.image.names) names += (names.empty() ? "" : ",") + n;
                fmt::print("{}\t{}\t{}\n", d.image.id, names.empty() ? "<untagged>" : names, d.reason);
            }
            std::size_t folders = 0;
            if (!o->dry_run) {
                folders = prune_build_folders(std::filesystem::temp_directory_path(),
                                              po.older_than.value_or(std::chrono::hours(24)));
                engine_layer_cache{}.maintain();  // the engine's own cache is the engine's to prune
            }
            fmt::print(stderr, "rtb: prune: {} {} image(s){}\n", o->dry_run ? "would remove" : "removed", decisions.size(),
                       folders ? fmt::format(", {} stale build folder(s)", folders) : "");
            return ok;
        };
    });
}

}  // namespace rtb::cli
