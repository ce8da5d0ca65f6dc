// rtb build: the main job. Builds (or reuses) the runtime image for a base
// image, or for every base image of a batch file.
//
// Contract (scripts depend on it): stderr says which plan was taken (reuse, lock,
// versioned, scratch) and where an existing image was found (engine or
// registry); the last line of stdout is the image name; a failed build exits
// 1 with the engine's exit code and the last log lines on stderr; with
// --push, a build that succeeded but whose push failed exits 3; --json
// prints one JSON object instead.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <range/v3/view/transform.hpp>

#include "cli.hpp"
#include "configuration.hpp"
#include "rtb/any_builder.hpp"
#include "rtb/batch.hpp"
#include "rtb/hooks/command_hooks.hpp"
#include "rtb/prune.hpp"
#include "rtb/policy/buildx_local_cache.hpp"
#include "rtb/policy/registry_cache.hpp"
#include "rtb/json_text.hpp"
#include "rtb/text.hpp"
#include "rtb/transport/docker_cli.hpp"
#include "rtb/transport/docker_engine.hpp"
#include "rtb/transport/remote_api.hpp"
#include "runtime_options.hpp"
#include "signals.hpp"

namespace rtb::cli {

namespace {

struct build_options {
    runtime_options runtime;
    std::string transport = "docker";
    std::string host;
    std::string batch_file;
    std::string build_folder;
    // Targets of flags that are configuration keys: their values are read
    // back through the configuration's flag layer, checked there, and used
    // from `settings`.
    std::string timeout, stall_timeout, poll_interval, jobs;
    // --transport cli
    std::string cli_program = "docker";
    std::string cli_mode = "automatic";
    std::string builder;
    std::vector<std::string> cli_args;
    // BuildKit caches
    std::string cache_dir;
    std::string cache_max_age = "7";
    std::string cache_ref;
    bool force = false;
    bool dry_run = false;
    bool json = false;
    bool no_cache = false;
    bool registry = false;
    bool push = false;
    bool quiet = false;
    std::string config_file;
    std::string runtime_image;  ///< --runtime-image (read back through the configuration's flags layer)
    config::settings settings;  ///< the resolved configuration (file < environment < these flags)
};

/// The cache flags as a CachePolicy chosen at run time: --no-cache, a
/// BuildKit cache folder (--cache-dir) and/or a registry cache (--cache-ref),
/// in that order; the engine's layer cache when none is given.
any_cache_policy cache_from_flags(const build_options& o) {
    cache_chain chain;
    if (o.no_cache) chain.add(no_build_cache{});
    if (!o.cache_dir.empty()) {
        buildx_local_cache::options lo;
        lo.directory = std::filesystem::absolute(o.cache_dir);
        lo.max_age = std::chrono::hours(24 * parse_integer(o.cache_max_age, "--cache-max-age", 1, 36500));
        lo.on_pruned = [max_age = lo.max_age, dir = lo.directory](const std::vector<std::string>& removed) {
            fmt::print(stderr, "rtb: pruned {} build cache file(s) older than {} h from {}\n", removed.size(),
                       max_age.count(), printable(dir.native()));
        };
        chain.add(buildx_local_cache(lo));
    }
    if (!o.cache_ref.empty()) chain.add(registry_cache(registry_cache::options{.ref = o.cache_ref}));
    if (chain.policies().empty()) return engine_layer_cache{};
    return chain;
}

/// The base images of a batch file: one per line; blank lines and lines
/// starting with '#' are skipped; surrounding blanks trimmed.
std::vector<std::string> read_batch_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw error(errc::io_error, fmt::format("cannot read batch file {}", printable(path)));
    std::vector<std::string> out;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        const auto first = line.find_first_not_of(" \t\r");
        if (first == std::string::npos || line[first] == '#') continue;
        const auto last = line.find_last_not_of(" \t\r");
        std::string image = line.substr(first, last - first + 1);
        if (image.size() > 4096 || image.find_first_of(" \t") != std::string::npos)
            throw error(errc::invalid_argument,
                        fmt::format("batch file {}, line {}: {} is not one image name", printable(path), number,
                                    printable(image.substr(0, 200))));
        try {
            image_ref::parse(image);
        } catch (const error& e) {
            throw error(errc::invalid_argument,
                        fmt::format("batch file {}, line {}: {}", printable(path), number, e.what()));
        }
        out.push_back(std::move(image));
    }
    if (out.empty()) throw error(errc::invalid_argument, fmt::format("batch file {} lists no base image", printable(path)));
    return out;
}

std::string json_result(const runtime_image& r, std::string_view base) {
    return fmt::format(
        "{{\"image\":{},\"plan\":\"{}\",\"tags\":{},\"seconds\":{:.3f},\"image_id\":{},\"from\":{},\"base_image\":{},"
        "\"dry_run\":{},\"waited\":{},\"found_in\":\"{}\",\"pushed\":{},\"push_seconds\":{:.3f},{}}}",
        json_quote(r.image), to_string(r.plan), json_list(r.tags_applied),
        static_cast<double>(r.timings.total.count()) / 1000.0, json_quote(r.image_id),
        json_quote(r.from_image), json_quote(base), r.dry_run ? "true" : "false",
        r.waited ? "true" : "false", to_string(r.found), json_list(r.tags_pushed),
        static_cast<double>(r.timings.push.count()) / 1000.0, statistics_json(r));
}

/// Where the image a plan rests on was found, for the plan line.
std::string found_text(const runtime_image& r) {
    if (r.found == image_location::none) return {};
    if (r.plan == plan_kind::reuse) return fmt::format("; found in the {}", to_string(r.found));
    return fmt::format("; {} found in the {}", r.from_image, to_string(r.found));
}

/// What --push did.
void print_pushed(const runtime_image& r) {
    if (r.dry_run) return;
    if (r.tags_pushed.empty()) {
        fmt::print(stderr, "rtb: push: nothing to push: the registry has the image\n");
        return;
    }
    fmt::print(stderr, "rtb: pushed {} tag(s) in {:.2f} s: {}\n", r.tags_pushed.size(),
               static_cast<double>(r.timings.push.count()) / 1000.0, fmt::join(r.tags_pushed, ", "));
}

/// One stderr line with where the time went.
void print_phases(const runtime_image& r) {
    const auto s = [](std::chrono::milliseconds d) { return static_cast<double>(d.count()) / 1000.0; };
    const auto& t = r.timings;
    fmt::print(stderr, "rtb: phases: hash {:.2f} s, plan {:.2f} s, context {:.2f} s, build {:.2f} s; {} sent; image cache {}\n",
               s(t.tags), s(t.lookup), s(t.context), s(t.build), format_bytes(r.bytes_sent), r.cache_hit() ? "hit" : "miss");
}

/// The storage check's on_low for storage.on_low = prune: rtb's own images
/// older than storage.prune_older_than go (never one a container uses).
std::function<void(const std::vector<storage_finding>&)> storage_pruner(const build_options& o) {
    if (o.settings.storage.on_low != config::on_low_storage::prune || (o.transport != "docker" && o.transport != "podman"))
        return {};
    return [o](const std::vector<storage_finding>&) {
        docker_engine::options eo;
        if (!o.host.empty()) eo.endpoint = http::parse_docker_host(o.host, {});
        else if (o.transport == "podman") eo.endpoint = podman_endpoint_from_env();
        docker_engine engine(std::move(eo));
        const auto removed = prune_images(engine, {.older_than = o.settings.storage.prune_older_than, .keep_per_lock = {}}, false);
        fmt::print(stderr, "rtb: low on space: pruned {} rtb image(s) older than {}\n", removed.size(),
                   format_duration(o.settings.storage.prune_older_than));
    };
}

/// What a failed build tells the user: the error, then the engine's exit
/// code, the failing step and the log's last lines.
void print_failure(const error& e, std::string_view prefix = {}) {
    print_error(fmt::format("{}{}", prefix, e.what()));
    if (const auto& b = e.build()) {
        if (b->exit_code) fmt::print(stderr, "rtb: exit code {}\n", *b->exit_code);
        if (!b->failing_step.empty()) fmt::print(stderr, "rtb: failing step: {}\n", redacted(b->failing_step));
        if (!b->log_tail.empty()) {
            fmt::print(stderr, "rtb: last build output:\n");
            for (const auto& l : b->log_tail) fmt::print(stderr, "  | {}\n", redacted(l));
        }
    }
}

/// The build, on the Transport and TagStrategy the flags chose (one
/// basic_builder for every choice).
int run_build(const build_options& o, any_transport engine, any_tag_strategy strategy) {
    const auto stop = interrupt_handler::token();

    builder_options bo;
    bo.existence = o.registry ? lookup::local_then_registry : lookup::local;
    bo.push = o.push;
    bo.build_timeout = o.settings.timeout;
    bo.stall_timeout = o.settings.stall_timeout;
    bo.storage.engine_min_free = o.settings.storage.engine_min_free;
    bo.storage.cache_min_free = o.settings.storage.cache_min_free;
    bo.storage.on_low = storage_pruner(o);
    if (!o.runtime.template_file.empty()) bo.context.template_name = o.runtime.template_file;  // errors name the file
    bo.hooks = command_hooks({.pre_build = o.settings.hooks.pre_build,
                              .post_build = o.settings.hooks.post_build,
                              .on_error = o.settings.hooks.on_error,
                              .timeout = o.settings.hooks.timeout,
                              .warn = [](std::string_view w) { print_error(w); }});

    const bool batch = !o.batch_file.empty();
    stderr_logger::options lo;
    lo.show_output = !o.quiet && !batch;                           // a batch's outputs would interleave
    if (batch) lo.mode = stderr_logger::display::plain;
    any_builder builder(
        std::move(engine), cache_from_flags(o), exponential_backoff{}, std::move(strategy), stderr_logger(lo), bo);
    if (!o.dry_run) builder.maintain_cache();  // as OpenHands does: old cache files go before a build

    build_call_options call;
    call.dry_run = o.dry_run;
    call.stop = stop;
    if (!o.build_folder.empty()) {
        if (batch) throw error(errc::invalid_argument, "--build-folder names one folder; it cannot serve a --batch build");
        call.build_folder = o.build_folder;
    }

    if (!batch) {
        const auto spec = [&] {
            auto s = o.runtime.spec(o.runtime.base_image);
            s.force_rebuild = o.force;
            return s;
        }();
        try {
            const auto r = builder.build_runtime_image(spec, call);
            builder.logger().finish();
            fmt::print(stderr, "rtb: plan: {}{} -> {} ({:.2f} s{})\n", to_string(r.plan), r.dry_run ? " (dry run)" : "",
                       r.image, static_cast<double>(r.timings.total.count()) / 1000.0, found_text(r));
            if (!r.cache_hit()) print_phases(r);  // a reuse did nothing worth timing
            if (o.push) print_pushed(r);
            if (o.json) fmt::print("{}\n", json_result(r, spec.base_image));
            else fmt::print("{}\n", r.image);
            return ok;
        } catch (const error& e) {
            builder.logger().finish();
            if (e.value() == errc::push_failed) {
                print_error(e.what());
                return push_failed;
            }
            // A changed source is the build's outcome, like a failed step: status 1
            // (run again to build what the files hold now).
            if (e.value() != errc::build_failed && e.value() != errc::vetoed && e.value() != errc::source_changed)
                throw;
            print_failure(e);
            return negative;
        }
    }

    // A batch: bounded parallelism, shared dedup (one builder), one line per base image.
    const auto bases = read_batch_file(o.batch_file);
    const auto spec_for = [&o](const std::string& base) {
        auto spec = o.runtime.spec(base);
        spec.force_rebuild = o.force;
        return spec;
    };
    batch_options batch_settings;
    batch_settings.jobs = static_cast<std::size_t>(o.settings.workers);  // checked 1..64 with the configuration
    batch_settings.call = call;
    batch_settings.on_ended = [&](std::size_t i, const batch_outcome& out, std::size_t n) {
        if (out.image)
            fmt::print(stderr, "rtb: [{}/{}] {} {}: {} ({:.1f} s)\n", n, bases.size(),
                       out.image->plan == plan_kind::reuse ? "reused" : "built", bases[i], out.image->image,
                       static_cast<double>(out.image->timings.total.count()) / 1000.0);
        else
            print_failure(*out.failure, fmt::format("[{}/{}] failed {}: ", n, bases.size(), bases[i]));
    };
    const auto outcomes = build_each(builder, bases | ranges::views::transform(spec_for), batch_settings);
    if (stop.stop_requested()) throw error(errc::cancelled, "the batch was interrupted");
    std::size_t built = 0, reused = 0, failed = 0, push_failures = 0, pushed = 0;
    for (std::size_t i = 0; i < bases.size(); ++i) {
        const auto& out = outcomes[i];
        if (out.image) {
            (out.image->plan == plan_kind::reuse ? reused : built)++;
            pushed += out.image->tags_pushed.size();
            if (o.json) fmt::print("{}\n", json_result(*out.image, bases[i]));
            else fmt::print("{}\n", out.image->image);
        } else {
            ++failed;
            if (out.failure->value() == errc::push_failed) ++push_failures;
            if (o.json)
                fmt::print("{{\"base_image\":{},\"error\":{},\"code\":\"{}\"}}\n", json_quote(bases[i]),
                           json_quote(redacted(out.failure->what())), to_string(out.failure->value()));
        }
    }
    fmt::print(stderr, "rtb: batch: {} built, {} reused, {} failed of {}{}\n", built, reused, failed, bases.size(),
               o.push ? fmt::format("; {} tag(s) pushed, {} push(es) failed", pushed, push_failures) : "");
    if (failed > push_failures) return negative;
    return failed ? push_failed : ok;
}

template <class Engine>
Engine engine_from_flags(const build_options& o) {
    typename Engine::options eo;
    if (!o.host.empty()) eo.endpoint = http::parse_docker_host(o.host, {});
    return Engine(std::move(eo));
}

/// --transport cli: the client program, its build mode and buildx builder;
/// --host reaches the docker client as DOCKER_HOST.
docker_cli cli_from_flags(const build_options& o) {
    docker_cli::options co;
    co.program = o.cli_program;
    co.mode = parse_cli_build_preference(o.cli_mode);
    co.builder = o.builder;
    co.extra_build_args = o.cli_args;
    if (!o.host.empty()) co.environment.push_back("DOCKER_HOST=" + o.host);
    return docker_cli(std::move(co));
}

/// The Runtime API client for --transport remote: --host is the service's
/// URL, the key comes from RTB_API_KEY (never from the command line, where
/// other users could read it).
remote_api make_remote(const build_options& o) {
    if (o.host.empty())
        throw error(errc::invalid_argument, "--transport remote needs --host http://HOST:PORT (the build service)");
    if (o.settings.api_key.empty())
        throw error(errc::invalid_argument,
                    "RTB_API_KEY is not set: the remote build service needs an API key (RTB_API_KEY, or api_key_file "
                    "in the configuration)");
    remote_api::options ro;
    ro.url = o.host;
    ro.api_key = o.settings.api_key;
    ro.poll_interval = o.settings.poll_interval;
    ro.build_timeout = o.settings.timeout;
    return remote_api(std::move(ro));
}

int run_with_transport(const build_options& o, any_tag_strategy strategy) {
    if (o.transport != "cli") {
        for (const auto& [flag, given] : {std::pair{"--cli", o.cli_program != "docker"},
                                          std::pair{"--cli-mode", o.cli_mode != "automatic"},
                                          std::pair{"--builder", !o.builder.empty()},
                                          std::pair{"--cli-arg", !o.cli_args.empty()},
                                          std::pair{"--cache-dir", !o.cache_dir.empty()},
                                          std::pair{"--cache-ref", !o.cache_ref.empty()}})
            if (given)
                throw error(errc::invalid_argument,
                            fmt::format("{} is for --transport cli (BuildKit through the docker or podman client); "
                                        "--transport {} does not run that client",
                                        flag, o.transport));
    }
    if (o.transport == "docker") return run_build(o, engine_from_flags<docker_engine>(o), std::move(strategy));
    if (o.transport == "podman") return run_build(o, engine_from_flags<podman_engine>(o), std::move(strategy));
    if (o.transport == "cli") return run_build(o, cli_from_flags(o), std::move(strategy));
    if (o.transport == "remote") {
        if (o.push)
            throw error(errc::invalid_argument,
                        "--push is for --transport docker, podman and cli: a build service stores its images in its "
                        "own registry");
        auto remote = make_remote(o);
        // Images are named under the service's registry prefix unless
        // --runtime-repo says otherwise, so the names printed are the
        // service's names.
        build_options named = o;
        if (named.runtime.repo == default_runtime_repository)
            named.runtime.repo = remote.registry_prefix(interrupt_handler::token()) + "/runtime";
        return run_build(named, std::move(remote), std::move(strategy));
    }
    throw error(errc::invalid_argument,
                fmt::format("--transport {} is not available in this build of rtb (docker, podman, cli and remote are)",
                            o.transport));
}

/// The configuration's values into the options the build reads (flags were
/// already a layer of it, so a flag still wins).
void apply_configuration(build_options& o, const config::resolved& conf) {
    const auto& s = conf.values;
    o.settings = s;
    // A --batch on the command line replaces a configured base image.
    const bool base_from_flag = conf.source_of("base_image").type == config::origin::kind::flag;
    if (o.batch_file.empty() || base_from_flag) o.runtime.base_image = s.base_image;
    o.runtime.repo = s.runtime_repository;
    o.runtime.platform = s.platform;
    o.runtime.extra_deps = s.extra_deps;
    o.runtime.build_args.clear();
    for (const auto& [k, v] : s.build_args) o.runtime.build_args.push_back(k + "=" + v);
    o.force = s.force_rebuild;
    o.transport = s.transport;
    o.host = s.host;
    if (o.host.empty() && o.transport == "remote") o.host = s.remote_url;
}

/// runtime_image is set: OpenHands' runtime_container_image, used as it is.
int use_runtime_image(const build_options& o) {
    runtime_image r;
    r.image = o.settings.runtime_image;
    r.plan = plan_kind::reuse;
    r.dry_run = o.dry_run;
    fmt::print(stderr, "rtb: plan: reuse -> {} (runtime_image is set: used as it is, nothing is built)\n", r.image);
    if (o.json) {
        auto json = json_result(r, o.runtime.base_image);
        json.insert(json.size() - 1, ",\"override\":true");  // the same object as a build's, marked
        fmt::print("{}\n", json);
    } else {
        fmt::print("{}\n", r.image);
    }
    return ok;
}

}  // namespace

void add_build(CLI::App& command, action& run) {
    auto o = std::make_shared<build_options>();
    auto* cmd = &command;
    o->runtime.add_to(cmd, false, false);
    cmd->add_option("--transport", o->transport,
                    "docker (the Engine API at DOCKER_HOST), podman (its service), or cli (the docker/podman client "
                    "program: BuildKit, buildx builders), or remote (a Runtime API service at --host; key in RTB_API_KEY)")
        ->check(CLI::IsMember({"docker", "podman", "cli", "remote"}));
    cmd->add_option("--cli", o->cli_program, "--transport cli: the client, docker, podman or a path (default docker)");
    cmd->add_option("--cli-mode", o->cli_mode,
                    "--transport cli: automatic (default: buildx, else built-in BuildKit, else legacy), buildx, "
                    "buildkit or legacy")
        ->check(CLI::IsMember({"automatic", "buildx", "buildkit", "legacy"}));
    cmd->add_option("--builder", o->builder, "--transport cli: the buildx builder (remote, Kubernetes, ...)");
    one_value_each(cmd->add_option("--cli-arg", o->cli_args,
                                   "--transport cli: an argument passed through to the build command (repeatable)"));
    cmd->add_option("--cache-dir", o->cache_dir,
                    "--transport cli: keep BuildKit's cache in DIR (type=local; needs buildx); files older than "
                    "--cache-max-age days are pruned before the build");
    cmd->add_option("--cache-max-age", o->cache_max_age, "Days a --cache-dir file may go unused (default 7)");
    cmd->add_option("--cache-ref", o->cache_ref, "--transport cli: keep BuildKit's cache as image REF in a registry");
    cmd->add_option("-H,--host", o->host,
                    "The engine: unix:///path or tcp://host:port (default: DOCKER_HOST); for --transport remote, "
                    "the service: http://HOST:PORT");
    cmd->add_option("--poll-interval", o->poll_interval,
                    "--transport remote: how often to ask for the build's status (default 30s)");
    cmd->add_flag("--force", o->force, "Build from scratch even if an image exists");
    cmd->add_option("--runtime-image", o->runtime_image,
                    "Use this runtime image as it is and build nothing (OpenHands' runtime_container_image)");
    cmd->add_flag("--dry-run", o->dry_run, "Decide the plan and assemble the context; build nothing");
    cmd->add_flag("--json", o->json, "Print one JSON object: image, plan, tags, seconds, image_id, from");
    cmd->add_flag("--no-cache", o->no_cache, "Run every build step again (the engine's layer cache is not used)");
    cmd->add_flag("--registry", o->registry,
                  "Also look for existing images in their registry (manifest HEAD, no pull); one found only there is "
                  "reused as it is, or built on (the engine pulls it)");
    cmd->add_flag("--push", o->push,
                  "Push the tags a build applied to their registry; for a reuse, push those the registry lacks "
                  "(exit status 3 when only the push failed)");
    cmd->add_flag("--quiet,-q", o->quiet, "Do not print the build's output lines");
    cmd->add_option("--build-folder", o->build_folder, "Write the context to this new or empty folder (kept) and build from it");
    cmd->add_option("--timeout", o->timeout, "Limit for one build, retries included (default 30m)");
    cmd->add_option("--stall-timeout", o->stall_timeout, "Stop a build that prints nothing for this long");
    cmd->add_option("--batch", o->batch_file, "Build for every base image in FILE (one per line, # comments)");
    cmd->add_option("--jobs,-j", o->jobs, "Builds at once in a batch (default 2)");
    add_config_option(cmd, o->config_file);
    cmd->callback([o, cmd, &run] {
        run = [o, cmd] {
            apply_configuration(*o, load_configuration(o->config_file, *cmd));
            if (!o->settings.runtime_image.empty()) return use_runtime_image(*o);
            if (o->batch_file.empty() && o->runtime.base_image.empty())
                throw error(errc::invalid_argument, "--base-image is required (or --batch FILE)");
            if (!o->batch_file.empty() && !o->runtime.base_image.empty())
                throw error(errc::invalid_argument, "--base-image and --batch cannot both be given");
            if (o->runtime.version.empty()) o->runtime.version = version_string;
            if (o->runtime.strategy == "openhands") return run_with_transport(*o, o->runtime.openhands());
            return run_with_transport(*o, o->runtime.content());
        };
    });
}

}  // namespace rtb::cli
