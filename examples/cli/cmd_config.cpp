// rtb config show: the effective configuration, every key with the source
// of its value (default, file:line:column, environment variable, flag),
// secrets masked. rtb config check: exit 0 when the configuration is valid.
#include <memory>
#include <string>

#include "cli.hpp"
#include "configuration.hpp"
#include "key_help.hpp"
#include "rtb/config/show.hpp"

namespace rtb::cli {

namespace {

/// The flags `rtb build` takes for configuration keys, so `rtb config show
/// --timeout 5m` shows what `rtb build --timeout 5m` would use.
void add_key_flags(CLI::App* cmd, std::map<std::string, std::vector<std::string>>& values,
                   std::map<std::string, bool>& switches) {
    for (const auto& k : config::keys()) {
        if (k.flag.empty()) continue;
        const std::string flag(k.flag);
        if (k.name == "force_rebuild") cmd->add_flag(flag, switches[flag], std::string(key_help(k.name)));
        else if (k.name == "build_args")
            one_value_each(cmd->add_option(flag, values[flag], std::string(key_help(k.name))));
        else cmd->add_option(flag, values[flag], std::string(key_help(k.name)))->expected(1);
    }
}

}  // namespace

void add_config(CLI::App& command, action& run) {
    auto* cmd = &command;
    cmd->require_subcommand(1);

    struct show_options {
        std::string file;
        bool json = false;
        std::map<std::string, std::vector<std::string>> values;
        std::map<std::string, bool> switches;
    };
    auto o = std::make_shared<show_options>();
    auto* show = cmd->add_subcommand("show", "Print every key, its value (secrets masked) and where it came from");
    add_config_option(show, o->file);
    show->add_flag("--json", o->json, "One JSON object: {key: {value, source, where}}");
    add_key_flags(show, o->values, o->switches);
    show->callback([o, show, &run] {
        run = [o, show] {
            const auto r = load_configuration(o->file, *show);
            fmt::print("{}", o->json ? config::show_json(r) + "\n" : config::show_text(r));
            return ok;
        };
    });

    auto c = std::make_shared<std::string>();
    auto* check = cmd->add_subcommand("check", "Exit 0 when the configuration is valid; else list every problem");
    add_config_option(check, *c);
    check->callback([c, check, &run] {
        run = [c, check] {
            (void)load_configuration(*c, *check);
            fmt::print(stderr, "rtb: configuration is valid\n");
            return ok;
        };
    });
}

}  // namespace rtb::cli
