// A downstream unit that picks its policies at run time, as the rtb program
// does: any_builder over the stock transports, cache policies and tag
// strategies. Compiled separately, the type-erasing wrappers around those
// policies come from librtb (each policy's header declares its wrapper
// extern), so this unit compiles none of their code; the test checks that
// it links, runs, and defines none of the wrappers' member functions.
//
//     run_time_choice TRANSPORT STRATEGY CACHE
//       TRANSPORT: engine, podman, cli or remote; STRATEGY: openhands or
//       content; CACHE: layers, local or registry
// prints what the builder holds and the name a transport would store an
// image under. Nothing is built and no engine is asked.
#include <chrono>
#include <cstdio>
#include <exception>
#include <string_view>

#include <rtb/any_builder.hpp>
#include <rtb/policy/buildx_local_cache.hpp>
#include <rtb/policy/registry_cache.hpp>
#include <rtb/tags/content_tags.hpp>
#include <rtb/tags/openhands_tags.hpp>
#include <rtb/transport/docker_cli.hpp>
#include <rtb/transport/docker_engine.hpp>
#include <rtb/transport/remote_api.hpp>

namespace {

rtb::any_transport transport_named(std::string_view name) {
    if (name == "engine" || name == "podman") {
        // A socket that does not exist: constructing a Transport asks no engine.
        rtb::docker_engine::options o;
        o.endpoint = rtb::http::endpoint::unix_socket("/nonexistent/engine.sock");
        if (name == "engine") return rtb::docker_engine(o);
        return rtb::podman_engine(o);
    }
    if (name == "cli") {
        rtb::docker_cli::options o;
        o.program = "/nonexistent/docker";
        return rtb::docker_cli(o);
    }
    if (name == "remote") {
        rtb::remote_api::options o;
        o.url = "http://127.0.0.1:9";
        o.api_key = "k";
        return rtb::remote_api(o);
    }
    throw rtb::error(rtb::errc::invalid_argument, "unknown transport");
}

rtb::any_tag_strategy strategy_named(std::string_view name) {
    if (name == "openhands") return rtb::openhands_tags{};
    if (name == "content") return rtb::content_tags{};
    throw rtb::error(rtb::errc::invalid_argument, "unknown tag strategy");
}

rtb::any_cache_policy cache_named(std::string_view name, const char* folder) {
    if (name == "layers") return rtb::engine_layer_cache{};
    if (name == "local") {
        rtb::buildx_local_cache::options o;
        o.directory = folder;
        o.max_age = std::chrono::hours(24);
        return rtb::buildx_local_cache(o);
    }
    if (name == "registry") {
        rtb::registry_cache::options o;
        o.ref = "127.0.0.1:5000/cache:rtb";
        return rtb::registry_cache(o);
    }
    throw rtb::error(rtb::errc::invalid_argument, "unknown cache policy");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s TRANSPORT STRATEGY CACHE CACHE_DIR\n", argv[0]);
        return 2;
    }
    try {
        auto transport = transport_named(argv[1]);
        const auto ref = rtb::image_ref::parse("local/runtime:tag1");
        // Through the wrapper's virtual functions, defined in librtb.
        const bool publishes = transport.publishes();
        std::printf("publishes %s\n", publishes ? "yes" : "no");
        if (std::string_view(argv[1]) != "remote")  // the service would be asked for its registry prefix
            std::printf("stored as %s\n", transport.stored_name(ref, {}).c_str());
        rtb::any_builder builder(std::move(transport), cache_named(argv[3], argv[4]), rtb::exponential_backoff{},
                                 strategy_named(argv[2]), rtb::stderr_logger{});
        std::printf("builder ready\n");
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "run_time_choice: %s\n", e.what());
        return 1;
    }
}
