// The environment layer: each key's RTB_* variable (config/keys.hpp), read
// through a lookup function so tests pass a table instead of the process's
// environment.
#pragma once

#include <cstdlib>
#include <functional>
#include <string>

#include "rtb/config/keys.hpp"
#include "rtb/config/layer.hpp"

namespace rtb::config {

/// Looks a variable up; nullptr when it is not set.
using env_lookup = std::function<const char*(const char*)>;

/// The entries set in the environment. An empty variable counts as unset
/// (`RTB_TIMEOUT= rtb build` is how shells unset one for a command).
inline layer read_environment(const env_lookup& getenv = [](const char* n) { return std::getenv(n); }) {
    layer out;
    for (const auto& k : keys()) {
        if (k.env.empty()) continue;
        const std::string name(k.env);
        if (const char* v = getenv(name.c_str()); v && *v)
            out[std::string(k.name)] = {std::string(v), {origin::kind::environment, name}};
    }
    return out;
}

}  // namespace rtb::config
