// The rtb program's side of configuration: --config, the flags layer read
// back from CLI11, and loading file < environment < flags.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "rtb/config/resolve.hpp"

namespace rtb::cli {

/// --config FILE on `cmd`.
void add_config_option(CLI::App* cmd, std::string& path);

/// The flags of `cmd` that were given and are configuration keys.
config::layer flags_layer(const CLI::App& cmd);

/// The configuration for `cmd`: the file (--config, else the default one),
/// the environment, then the flags given. Throws invalid_argument listing
/// every problem; io_error when the named file cannot be read.
config::resolved load_configuration(const std::string& config_file, const CLI::App& cmd,
                                    bool throw_on_problems = true);

/// The remote service's key as `rtb build` finds it without a file:
/// RTB_API_KEY, else the file RTB_API_KEY_FILE names. Empty: none.
std::string api_key_from_environment();

}  // namespace rtb::cli
