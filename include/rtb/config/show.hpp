// The effective configuration as `rtb config show` prints it: every key, its
// value (secrets masked) and where the value came from.
#pragma once

#include <string>

#include <fmt/format.h>

#include "rtb/config/keys.hpp"
#include "rtb/config/resolve.hpp"
#include "rtb/detail/json_writer.hpp"

namespace rtb::config {

/// One line per key: `name = value  # source`, aligned.
inline std::string show_text(const resolved& r) {
    std::string out;
    for (const auto& k : keys())
        out += fmt::format("{:<25} = {:<40} # {}\n", k.name, k.show(r.values), r.source_of(k.name).describe());
    return out;
}

/// {"name": {"value": "...", "source": "file|env|flag|default", "where": "..."}, ...}
inline std::string show_json(const resolved& r) {
    std::string out = "{";
    for (const auto& k : keys()) {
        const auto from = r.source_of(k.name);
        static constexpr const char* kinds[] = {"default", "file", "env", "flag"};
        out += fmt::format("{}{}:{{\"value\":{},\"source\":\"{}\",\"where\":{}}}", out.size() > 1 ? "," : "",
                           rtb::detail::json_quote(k.name), rtb::detail::json_quote(k.show(r.values)),
                           kinds[static_cast<int>(from.type)], rtb::detail::json_quote(from.where));
    }
    return out + "}";
}

}  // namespace rtb::config
