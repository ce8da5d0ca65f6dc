// rtb doctor: whether this machine can build, check by check (engine, API
// version, BuildKit, Podman, registries and credentials, clock, disk space,
// cache directory, configuration), each with a remedy when not ok.
// Exit status 0: ready (only ok, warnings, skips), 1: a check failed,
// 2: a usage error.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cli.hpp"
#include "configuration.hpp"
#include "doctor_flags.hpp"
#include "rtb/config/toml_file.hpp"
#include "rtb/doctor/doctor.hpp"
#include "signals.hpp"

namespace rtb::cli {

namespace {

/// The checks as rtb may print them: every field redacted.
std::vector<doctor::check_result> shown(std::vector<doctor::check_result> checks) {
    for (auto& c : checks) {
        c.name = redacted(c.name);
        c.detail = redacted(c.detail);
        c.remedy = redacted(c.remedy);
    }
    return checks;
}

/// The configuration's part of the options (flags then win). A configuration
/// that does not load is itself a finding, not an error: the other checks
/// still run on the defaults.
doctor::doctor_options from_configuration(const std::string& file, const CLI::App& cmd) {
    doctor::doctor_options base;
    config::resolved conf;
    try {
        conf = load_configuration(file, cmd, false);
    } catch (const error& e) {
        conf.problems.push_back(e.what());
    }
    const auto& s = conf.problems.empty() ? conf.values : config::settings{};
    base.config_problems = conf.problems;
    base.config_source = file.empty() ? config::default_config_file().value_or("").string() : file;
    base.transport = doctor::parse_transport(s.transport);
    base.host = s.transport == "remote" && s.host.empty() ? s.remote_url : s.host;
    base.api_key = s.api_key;
    // The runtime repository's registry, when the configuration names one
    // on purpose ("127.0.0.1:5000/rt"; not the default's public registry,
    // nor Docker Hub for a bare "local/rt").
    const auto first = s.runtime_repository.substr(0, s.runtime_repository.find('/'));
    const bool names_registry = s.runtime_repository.find('/') != std::string::npos &&
                                (first.find_first_of(".:") != std::string::npos || first == "localhost");
    if (conf.source_of("runtime_repository").type != config::origin::kind::defaults && names_registry)
        base.registries = {image_ref::parse(s.runtime_repository).registry()};
    base.cache_dir = s.cache_dir;
    base.engine_min_free = s.storage.engine_min_free;
    base.cache_min_free = s.storage.cache_min_free;
    return base;
}

}  // namespace

void add_doctor(CLI::App& command, action& run) {
    auto f = std::make_shared<doctor_flags>();
    auto* cmd = &command;
    cmd->add_option("--transport", f->transport,
                    "docker (default), podman, cli (the docker/podman client) or remote (a Runtime API service)")
        ->check(CLI::IsMember({"docker", "podman", "cli", "remote"}));
    cmd->add_option("-H,--host", f->host,
                    "The engine: unix:///path or tcp://host:port (default: DOCKER_HOST); for --transport remote, "
                    "the service's http://HOST:PORT");
    cmd->add_option("--cli", f->cli_program, "The docker client asked about buildx (and --transport cli's client)");
    one_value_each(cmd->add_option("--registry", f->registries,
                                   "A registry to check, host[:port] (repeatable): reachable, credentials, clock"));
    one_value_each(cmd->add_option("--insecure-registry", f->insecure_registries,
                                   "A registry (host[:port]) to reach over plain HTTP (repeatable; loopback always is)"));
    cmd->add_option("--cache-dir", f->cache_dir, "rtb's cache directory (default: RTB_CACHE_DIR, ~/.cache/rtb)");
    cmd->add_option("--engine-min-free", f->engine_min_free,
                    "Free space wanted where the engine keeps its data, e.g. 1G (default 1 GiB; 0: not checked)");
    cmd->add_option("--cache-min-free", f->cache_min_free,
                    "Free space wanted in the cache directory, e.g. 100M (default 100 MiB; 0: not checked)");
    cmd->add_flag("--json", f->json, "Print one JSON object: {checks:[{name,status,detail,remedy}], ready}");

    auto config_file = std::make_shared<std::string>();
    add_config_option(cmd, *config_file);

    cmd->callback([f, config_file, cmd, &run] {
        run = [f, config_file, cmd] {
            const auto options = doctor_options_from(*f, from_configuration(*config_file, *cmd));
            const auto checks = shown(doctor::run_doctor(options, interrupt_handler::token()));
            if (f->json)
                fmt::print("{}\n", doctor::render_json(checks));
            else
                fmt::print("{}", doctor::render_text(checks));
            std::fflush(stdout);
            return doctor::ready(checks) ? ok : negative;
        };
    });
}

}  // namespace rtb::cli
