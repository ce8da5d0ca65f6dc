// Layers to settings: defaults < file < environment < flags, each value
// checked against its key. Every problem is collected (a user fixes a file
// once, not once per run), each naming where the value came from, the key
// and what is allowed.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "rtb/config/keys.hpp"
#include "rtb/config/layer.hpp"
#include "rtb/config/settings.hpp"
#include "rtb/error.hpp"
#include "rtb/policy/known_secrets.hpp"

namespace rtb::config {

/// The effective configuration and where each value came from.
struct resolved {
    settings values;
    std::map<std::string, origin> sources;  ///< by key; a key absent here has its default
    std::vector<std::string> problems;      ///< empty: valid

    /// Where `key`'s value came from.
    origin source_of(std::string_view key) const {
        const auto it = sources.find(std::string(key));
        return it == sources.end() ? origin{} : it->second;
    }
    /// Throws invalid_argument listing every problem, when there is one.
    void check() const {
        if (problems.empty()) return;
        std::string all;
        for (const auto& p : problems) {
        if (!all.empty()) all += "\n  ";
        all += p;
    }
        throw error(errc::invalid_argument,
                    problems.size() == 1 ? fmt::format("configuration: {}", all)
                                         : fmt::format("configuration has {} problems:\n  {}", problems.size(), all));
    }
};

/// "file rtb.toml:3:1: timeout: \"soon\" is not allowed; timeout takes a duration such as 90s, 30m or 2h"
inline std::string problem_text(const origin& from, std::string_view key_name, std::string_view why,
                                std::string_view allowed) {
    return fmt::format("{}: {} {}; {} takes {}", from.describe(), key_name, why, key_name, allowed);
}

/// Applies `layers` in order over the defaults (later layers win).
inline resolved resolve(const std::vector<layer>& layers) {
    resolved out;
    for (const auto& l : layers) {
        // In the order they were written, so problems read top to bottom.
        std::vector<std::pair<const std::string*, const entry*>> in_order;
        for (const auto& kv : l) in_order.emplace_back(&kv.first, &kv.second);
        std::stable_sort(in_order.begin(), in_order.end(), [](const auto& a, const auto& b) {
            return std::pair(a.second->from.line, a.second->from.column) < std::pair(b.second->from.line, b.second->from.column);
        });
        for (const auto& [name_ptr, entry_ptr] : in_order) {
            const auto& name = *name_ptr;
            const auto& e = *entry_ptr;
            const key* k = find_key(name);
            if (!k) {
                const auto near = closest_key(name);
                out.problems.push_back(fmt::format("{}: unknown key {}{}", e.from.describe(), detail::quoted(name),
                                                   near ? fmt::format(" (did you mean {}?)", *near) : std::string()));
                continue;
            }
            if (k->name == "api_key" && e.from.type == origin::kind::file) {
                out.problems.push_back(fmt::format(
                    "{}: api_key does not belong in a configuration file (files get committed and shown); "
                    "put the key in a file of its own and name it with api_key_file, or set RTB_API_KEY",
                    e.from.describe()));
                continue;
            }
            try {
                k->store(out.values, e.value);
                out.sources[std::string(k->name)] = e.from;
                if (k->name == "api_key_file") out.sources["api_key"] = e.from;  // the key came with the file
            } catch (const bad_value& b) {
                out.problems.push_back(problem_text(e.from, k->name, b.why, k->allowed));
            }
        }
    }
    if (!out.values.api_key.empty()) remember_secret(out.values.api_key);
    return out;
}

}  // namespace rtb::config
