// rtb: builds and reuses runtime images for agent sandboxes.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "cli.hpp"
#include "signals.hpp"
#include "rtb/policy/known_secrets.hpp"
#include "rtb/version.hpp"

int main(int argc, char** argv) {
    using namespace rtb::cli;
    CLI::App app{"rtb: build and reuse runtime images for agent sandboxes"};
    app.name("rtb");
    app.set_version_flag("--version", std::string("rtb ") + rtb::version_string);
    app.require_subcommand(1);
    app.fallthrough(false);

    // The subcommands, named and described here in the order help lists them; each
    // add_* function registers its options and action on its own.
    const auto subcommand = [&app](const char* name, const char* description) -> CLI::App& {
        return *app.add_subcommand(name, description);
    };
    action run;
    add_build(subcommand("build", "Build or reuse a runtime image; prints its name as the last line"), run);
    add_hash(subcommand("hash", "Print the digest of a directory tree (lowercase hex)"), run);
    add_tags(subcommand("tags", "Print a runtime image's tags: source, lock, versioned (one per line)"), run);
    add_context(subcommand("context", "What a build sends: list, pack, assemble build contexts"), run);
    add_exists(subcommand("exists", "Whether an image exists: exit status 0 if it does, 1 if not, 2 on an error"), run);
    add_run(subcommand("run", "Start a runtime image as a sandbox container (docker run's spelling)"), run);
    add_prune(subcommand("prune", "Remove rtb-built images by age or beyond the newest K per lock tag"), run);
    add_events(subcommand("events", "Decode an engine stream (Docker/Podman JSON) or a BuildKit plain log into "
                                    "events, one per line"),
               run);
    add_serve(subcommand("serve", "Run the Runtime API build service (POST /build, GET /build_status, ..., "
                                  "GET /metrics)"),
              run);
    add_config(subcommand("config", "Show or check the configuration (file < RTB_* variables < flags)"), run);
    add_doctor(subcommand("doctor", "Check whether this machine can build: engine, registries, disk, cache; exit "
                                    "status 1 if not"),
               run);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);  // prints help, version or the usage error
        return code == 0 ? ok : failure;
    }
    // Ctrl-C (SIGINT), SIGTERM and SIGHUP stop the running operation through
    // interrupt_handler::token(); it cleans up and unwinds, and rtb exits
    // 128 + the signal (130 for Ctrl-C).
    // The API key is a secret rtb handles: masked wherever it would show.
    if (const char* key = std::getenv("RTB_API_KEY")) rtb::remember_secret(key);
    interrupt_handler interrupts;
    int status = failure;
    try {
        status = run ? run() : failure;
    } catch (const rtb::error& e) {
        if (!interrupt_handler::signal()) print_error(e.what());
        status = e.value() == rtb::errc::cancelled ? interrupted : failure;
    } catch (const std::exception& e) {
        print_error(fmt::format("internal error: {}", e.what()));
        status = failure;
    }
    if (interrupt_handler::signal()) {
        print_error("interrupted");
        return interrupt_handler::exit_status();
    }
    return status;
}
