// The rtb program's side of configuration (configuration.hpp).
#include "configuration.hpp"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rtb/config/environment.hpp"
#include "rtb/config/keys.hpp"
#include "rtb/config/toml_file.hpp"
#include "runtime_options.hpp"

namespace rtb::cli {

void add_config_option(CLI::App* cmd, std::string& path) {
    cmd->add_option("--config", path,
                    "The configuration file (TOML; default: $RTB_CONFIG, else ~/.config/rtb/config.toml when it "
                    "exists); environment variables RTB_* override it, flags override both");
}

config::layer flags_layer(const CLI::App& cmd) {
    config::layer out;
    for (const auto& k : config::keys()) {
        if (k.flag.empty()) continue;
        const CLI::Option* o = nullptr;
        try {
            o = cmd.get_option(std::string(k.flag));
        } catch (const CLI::OptionNotFound&) {
            continue;
        }
        if (o->count() == 0) continue;
        const config::origin from{config::origin::kind::flag, std::string(k.flag)};
        const auto& given = o->results();
        if (k.name == "build_args") {
            std::map<std::string, std::string> table;
            for (const auto& kv : given) {
                auto [name, value] = runtime_options::assignment(kv, k.flag, "KEY=VALUE");
                table[std::move(name)] = std::move(value);
            }
            out[std::string(k.name)] = {std::move(table), from};
        } else if (o->get_expected_min() == 0) {  // a flag without a value: --force
            out[std::string(k.name)] = {true, from};
        } else {
            out[std::string(k.name)] = {given.empty() ? std::string() : given.back(), from};
        }
    }
    return out;
}

config::resolved load_configuration(const std::string& config_file, const CLI::App& cmd,
                                    bool throw_on_problems) {
    std::vector<config::layer> layers;
    std::optional<std::filesystem::path> file;
    if (!config_file.empty()) file = config_file;
    else file = config::default_config_file();
    if (file) layers.push_back(config::read_toml_file(*file));
    layers.push_back(config::read_environment());
    layers.push_back(flags_layer(cmd));
    auto r = config::resolve(layers);
    if (throw_on_problems) r.check();
    // rtb's cache (locks, the stat cache) follows the configuration.
    if (!r.values.cache_dir.empty()) ::setenv("RTB_CACHE_DIR", r.values.cache_dir.c_str(), 1);
    return r;
}

std::string api_key_from_environment() {
    auto env = config::read_environment();
    std::erase_if(env, [](const auto& kv) { return kv.first != "api_key" && kv.first != "api_key_file"; });
    const auto r = config::resolve({env});
    r.check();
    return r.values.api_key;
}

}  // namespace rtb::cli
