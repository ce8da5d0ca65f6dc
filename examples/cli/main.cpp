// rtb: builds and reuses runtime images for agent sandboxes.
#include <cstdio>
#include <exception>

#include "cli.hpp"
#include "rtb/version.hpp"

int main(int argc, char** argv) {
    using namespace rtb::cli;
    CLI::App app{"rtb: build and reuse runtime images for agent sandboxes"};
    app.name("rtb");
    app.set_version_flag("--version", std::string("rtb ") + rtb::version_string);
    app.require_subcommand(1);
    app.fallthrough(false);

    action run;
    add_hash(app, run);
    add_tags(app, run);
    add_events(app, run);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);  // prints help, version or the usage error
        return code == 0 ? ok : failure;
    }
    try {
        return run ? run() : failure;
    } catch (const rtb::error& e) {
        print_error(e.what());
        return e.value() == rtb::errc::cancelled ? interrupted : failure;
    } catch (const std::exception& e) {
        print_error(fmt::format("internal error: {}", e.what()));
        return failure;
    }
}
