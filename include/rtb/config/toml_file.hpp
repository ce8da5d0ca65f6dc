// The configuration file: TOML read by toml++ (a maintained parser; link
// with dependency('tomlplusplus')). Values keep their TOML types and their
// line and column, so a bad value is reported where it is written.
//
//     base_image = "python:3.12-slim"
//     timeout = "45m"
//     [build_args]
//     PIP_INDEX_URL = "http://127.0.0.1:3141/simple"
//     [storage]
//     engine_min_free = "5GiB"
//     [hooks]
//     pre_build = ["/usr/local/bin/check-quota", "--strict"]
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "rtb/config/layer.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"

namespace rtb::config {

/// A configuration file larger than this is refused unread (it is not one).
inline constexpr std::size_t max_config_file = std::size_t{1} << 20;

namespace detail {

inline origin at(const std::string& file, const toml::source_region& r) {
    return {origin::kind::file, fmt::format("{}:{}:{}", file, r.begin.line, r.begin.column), r.begin.line,
            r.begin.column};
}

inline error file_error(const origin& where, std::string_view key, std::string_view why) {
    return error(errc::invalid_argument, fmt::format("{}: {} {}", where.describe(), key, why));
}

/// One TOML value as a raw_value; `key` for messages.
inline raw_value convert(const toml::node& n, const std::string& key, const std::string& file, const origin& where) {
    if (const auto* s = n.as_string()) return s->get();
    if (const auto* i = n.as_integer()) return i->get();
    if (const auto* b = n.as_boolean()) return b->get();
    if (const auto* a = n.as_array()) {
        std::vector<std::string> out;
        for (const auto& item : *a) {
            const auto* s = item.as_string();
            if (!s) throw file_error(where, key, "is a list with an item that is not a string");
            out.push_back(s->get());
        }
        return out;
    }
    if (const auto* t = n.as_table()) {
        std::map<std::string, std::string> out;
        for (const auto& [k, v] : *t) {
            const auto* s = v.as_string();
            if (!s)
                throw file_error(at(file, v.source()),
                                 key + "." + std::string(k.str()), "is not a string (write it in quotes)");
            out.emplace(std::string(k.str()), s->get());
        }
        return out;
    }
    throw file_error(where, key, "is a number with a fraction or a date; no key takes one");
}

}  // namespace detail

/// The entries of TOML text `text` (named `file` in messages). The tables
/// [storage] and [hooks] hold dotted keys; [build_args] is one table value.
/// Throws invalid_argument naming file:line:column for malformed TOML and
/// for values no key can take; unknown keys are left to resolve(), which
/// names them with a suggestion.
inline layer parse_toml(std::string_view text, const std::string& file) {
    if (text.size() > max_config_file)
        throw error(errc::invalid_argument,
                    fmt::format("configuration file {} is {} bytes; a configuration file is at most {} bytes",
                                rtb::detail::printable(file), text.size(), max_config_file));
    toml::table root;
    try {
        root = toml::parse(text, file);
    } catch (const toml::parse_error& e) {
        throw error(errc::invalid_argument,
                    fmt::format("{}: not valid TOML: {}", detail::at(file, e.source()).describe(), e.description()));
    }
    layer out;
    for (const auto& [k, v] : root) {
        const std::string name(k.str());
        const auto where = detail::at(file, v.source());
        const auto* table = v.as_table();
        if (table && name != "build_args") {
            // [storage], [hooks], and any other table (its keys then show up as unknown).
            for (const auto& [k2, v2] : *table) {
                const std::string dotted = name + "." + std::string(k2.str());
                const auto where2 = detail::at(file, v2.source());
                out[dotted] = {detail::convert(v2, dotted, file, where2), where2};
            }
            if (table->empty()) out[name] = {std::map<std::string, std::string>{}, where};
            continue;
        }
        out[name] = {detail::convert(v, name, file, where), where};
    }
    return out;
}

/// The entries of the file at `path`. Throws io_error when it cannot be
/// read, invalid_argument as parse_toml() does.
inline layer read_toml_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::error_code ec;
    if (!in || std::filesystem::is_directory(path, ec))
        throw error(errc::io_error, fmt::format("cannot read configuration file {}", rtb::detail::printable(path.string())));
    std::string text(max_config_file + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    return parse_toml(text, path.string());
}

/// The file rtb reads when none is named: $RTB_CONFIG, else
/// $XDG_CONFIG_HOME/rtb/config.toml (or ~/.config/rtb/config.toml) when it
/// exists. std::nullopt: no file.
inline std::optional<std::filesystem::path> default_config_file() {
    namespace fs = std::filesystem;
    if (const char* c = std::getenv("RTB_CONFIG"); c && *c) return fs::path(c);
    fs::path p;
    if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) p = fs::path(x) / "rtb" / "config.toml";
    else if (const char* h = std::getenv("HOME"); h && *h) p = fs::path(h) / ".config" / "rtb" / "config.toml";
    std::error_code ec;
    if (!p.empty() && fs::is_regular_file(p, ec)) return p;
    return std::nullopt;
}

}  // namespace rtb::config
