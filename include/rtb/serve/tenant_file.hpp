// rtb serve's key file in its TOML form, which names tenants and the image
// name prefixes each may build and tag under (toml++; link with
// dependency('tomlplusplus')), and load_api_keys(), which reads either form:
//
//     # keys.toml (chmod 600)
//     [tenants.alice]
//     keys = ["alice-0123456789abcdef"]
//     prefixes = ["local/rtb/alice", "registry.example.com/alice"]   # default: "<registry prefix>/alice"
//     metrics = true                                                 # may scrape GET /metrics (default false)
//
//     [tenants.bob]
//     keys = ["bob-0123456789abcdef", "bob-ci-0123456789abcdef"]
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "rtb/error.hpp"
#include "rtb/serve/api_keys.hpp"
#include "rtb/serve/key_file.hpp"

namespace rtb::serve {

/// Keys and tenants from the TOML form (`display` names the file in
/// messages, with line and column). Unknown tables and keys are refused (a
/// misspelt "prefix" must not silently give the default); keys are never
/// quoted back.
inline api_keys parse_tenant_file(std::string_view text, std::string_view display, std::string_view registry_prefix);

/// Reads `path` with read_key_file() (owner-only, bounded) and parses it:
/// the TOML form when the name ends in ".toml", else one key per line.
inline api_keys load_api_keys(const std::string& path, std::string_view registry_prefix);

// ---------------------------------------------------------------------------

inline api_keys parse_tenant_file(std::string_view text, std::string_view display, std::string_view registry_prefix) {
    const std::string file(display);
    auto at = [&](const toml::source_region& r) { return fmt::format("{}:{}:{}", file, r.begin.line, r.begin.column); };
    toml::table root;
    try {
        root = toml::parse(text, file);
    } catch (const toml::parse_error& e) {
        throw error(errc::invalid_argument, fmt::format("{}: not valid TOML: {}", at(e.source()), e.description()));
    }
    std::vector<api_keys::tenant_entry> out;
    for (const auto& [k, v] : root) {
        if (k.str() != "tenants" || !v.is_table())
            throw error(errc::invalid_argument,
                        fmt::format("{}: unknown key '{}'; the file holds [tenants.NAME] tables", at(v.source()),
                                    log_escape(k.str(), 80)));
        for (const auto& [name, node] : *v.as_table()) {
            const auto* t = node.as_table();
            if (!t)
                throw error(errc::invalid_argument,
                            fmt::format("{}: tenants.{} is not a table ([tenants.{}] with keys = [...])",
                                        at(node.source()), log_escape(name.str(), 80), log_escape(name.str(), 80)));
            api_keys::tenant_entry entry;
            entry.tenant.name = std::string(name.str());
            entry.tenant.metrics = false;
            bool prefixes_given = false;
            for (const auto& [field, value] : *t) {
                const auto where = at(value.source());
                auto strings = [&](std::string_view what) {
                    const auto* a = value.as_array();
                    if (!a) throw error(errc::invalid_argument, fmt::format("{}: {} is a list of strings", where, what));
                    std::vector<std::pair<std::string, int>> items;
                    for (const auto& item : *a) {
                        const auto* s = item.as_string();
                        if (!s)
                            throw error(errc::invalid_argument,
                                        fmt::format("{}: {} holds an item that is not a string", at(item.source()), what));
                        items.emplace_back(s->get(), static_cast<int>(item.source().begin.line));
                    }
                    return items;
                };
                if (field.str() == "keys") {
                    for (auto& [key, line] : strings("keys")) entry.keys.push_back({std::move(key), line});
                } else if (field.str() == "prefixes") {
                    prefixes_given = true;
                    for (auto& [prefix, line] : strings("prefixes")) entry.tenant.prefixes.push_back(std::move(prefix));
                } else if (field.str() == "metrics") {
                    const auto* b = value.as_boolean();
                    if (!b) throw error(errc::invalid_argument, fmt::format("{}: metrics is true or false", where));
                    entry.tenant.metrics = b->get();
                } else {
                    throw error(errc::invalid_argument,
                                fmt::format("{}: unknown key '{}' for tenant {} (keys, prefixes, metrics)", where,
                                            log_escape(field.str(), 80), log_escape(name.str(), 80)));
                }
            }
            if (!prefixes_given) entry.tenant.prefixes = {default_prefix(registry_prefix, entry.tenant.name)};
            out.push_back(std::move(entry));
        }
    }
    return api_keys::from_tenants(std::move(out), display);
}

inline api_keys load_api_keys(const std::string& path, std::string_view registry_prefix) {
    const auto text = read_key_file(path);
    const auto display = fmt::format("the API key file {}", rtb::detail::printable(path));
    if (path.ends_with(".toml")) return parse_tenant_file(text, path, registry_prefix);
    return api_keys::parse(text, display, registry_prefix);
}

}  // namespace rtb::serve
