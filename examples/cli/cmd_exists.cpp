// rtb exists: whether an image exists, in the engine (default), then pulled
// (--pull, OpenHands' way), then asked of its registry without pulling
// (--registry), or in the registry alone (--registry-only, no engine).
// Exit status 0: exists, 1: does not, 2: error, 130: interrupted.
#include <memory>
#include <string>
#include <vector>

#include "cli.hpp"
#include "configuration.hpp"
#include "rtb/policy/exponential_backoff.hpp"
#include "rtb/policy/retry.hpp"
#include "rtb/transport/docker_engine.hpp"
#include "rtb/transport/registry.hpp"
#include "rtb/transport/remote_api.hpp"
#include "signals.hpp"

namespace rtb::cli {

void add_exists(CLI::App& command, action& run) {
    struct options {
        std::string image;
        std::string host;
        std::string transport = "docker";
        bool pull = false;
        bool registry = false;
        bool registry_only = false;
        std::vector<std::string> insecure;
        bool verbose = false;
    };
    auto o = std::make_shared<options>();
    auto* cmd = &command;
    cmd->add_option("IMAGE", o->image, "The image reference, e.g. ghcr.io/org/runtime:tag")->required();
    cmd->add_option("--host,-H", o->host, "The engine, as DOCKER_HOST: unix:///path or tcp://host:port")
        ->envname("DOCKER_HOST");
    auto* pull = cmd->add_flag("--pull", o->pull, "Pull the image when the engine lacks it (slow for big images)");
    auto* reg = cmd->add_flag("--registry", o->registry,
                              "Ask the image's registry when the engine lacks it (a manifest HEAD; never pulls)");
    auto* only = cmd->add_flag("--registry-only", o->registry_only, "Ask the registry alone; no engine needed");
    pull->excludes(reg)->excludes(only);
    reg->excludes(only);
    one_value_each(cmd->add_option("--insecure-registry", o->insecure,
                                   "A registry (host[:port]) to reach over plain HTTP (repeatable; loopback always is)"));
    cmd->add_flag("--verbose,-v", o->verbose, "Say on stderr where the answer came from");
    cmd->add_option("--transport", o->transport,
                    "docker (the engine; default) or remote (a Runtime API service at --host http://HOST:PORT, "
                    "key in RTB_API_KEY)")
        ->check(CLI::IsMember({"docker", "remote"}));

    cmd->callback([o, &run] {
        run = [o] {
            const auto ref = image_ref::parse(o->image);
            const auto stop = interrupt_handler::token();
            auto say_retry = [](int attempt, const error& e, std::chrono::milliseconds delay) {
                print_error(fmt::format("attempt {} failed: {}; retrying in {} ms", attempt, e.what(), delay.count()));
            };

            registry_client::options ro;
            ro.insecure_registries = o->insecure;
            ro.on_retry = say_retry;

            if (o->transport == "remote") {
                if (o->pull || o->registry || o->registry_only)
                    throw error(errc::invalid_argument,
                                "--pull, --registry and --registry-only do not apply to --transport remote "
                                "(the service has one image store)");
                if (!o->host.starts_with("http://") && !o->host.starts_with("https://"))
                    throw error(errc::invalid_argument,
                                "--transport remote needs --host http://HOST:PORT (the build service)");
                const auto key = api_key_from_environment();
                if (key.empty())
                    throw error(errc::invalid_argument,
                                "RTB_API_KEY is not set: the remote build service needs an API key (RTB_API_KEY, or "
                                "RTB_API_KEY_FILE naming a file that holds it)");
                remote_api::options ro;
                ro.url = o->host;
                ro.api_key = key;
                remote_api service(std::move(ro));
                const auto info = service.image_info(o->image, stop);
                if (o->verbose) {
                    if (info.exists)
                        print_error(fmt::format("{}: exists on {} as {}{}{}", o->image, service.where(),
                                                service.service_name(o->image, stop),
                                                info.upload_time ? ", uploaded " + *info.upload_time : "",
                                                info.image_size_bytes ? fmt::format(", {} bytes", *info.image_size_bytes) : ""));
                    else
                        print_error(fmt::format("{}: not on {}", o->image, service.where()));
                }
                return info.exists ? ok : negative;
            }

            if (o->registry_only) {
                registry_client client(ro);
                const auto m = client.resolve(ref, stop);
                if (o->verbose) {
                    if (m) print_error(fmt::format("{}: in its registry as {} ({})", ref.str(), m->digest, m->media_type));
                    else print_error(fmt::format("{}: not in its registry", ref.str()));
                }
                return m ? ok : negative;
            }

            docker_engine::options eo;
            if (!o->host.empty()) {
                const std::string host = o->host;
                eo.endpoint = http::endpoint_from_env([host](const char* name) -> const char* {
                    if (std::string_view(name) == "DOCKER_HOST") return host.c_str();
                    return std::getenv(name);
                });
            }
            // One retry loop around the whole lookup (engine and registry):
            // the registry client itself tries once.
            exponential_backoff::options once;
            once.max_attempts = 1;
            ro.retry = exponential_backoff(once);
            eo.registry = make_registry_lookup(ro);
            docker_engine engine(eo);
            const lookup mode = o->pull ? lookup::local_then_pull
                                : o->registry ? lookup::local_then_registry
                                              : lookup::local;
            // Retried when the engine is briefly unreachable (restarting), or
            // the registry behind it answers 429/502/503/504 or drops out.
            exponential_backoff policy;
            const bool found = retry(
                policy, stop,
                [&](int) {
                    return engine.image_exists(ref, mode, {}, stop);
                },
                say_retry);
            if (o->verbose) print_error(fmt::format("{}: {}", ref.str(), found ? "exists" : "does not exist"));
            return found ? ok : negative;
        };
    });
}

}  // namespace rtb::cli
