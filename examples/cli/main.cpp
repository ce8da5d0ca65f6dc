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

    action run;
    add_build(app, run);
    add_hash(app, run);
    add_tags(app, run);
    add_context(app, run);
    add_exists(app, run);
    add_run(app, run);
    add_prune(app, run);
    add_events(app, run);
    add_serve(app, run);
    add_config(app, run);
    add_doctor(app, run);

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
