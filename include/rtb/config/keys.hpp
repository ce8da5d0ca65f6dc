// Every configuration key once: its name in the file, its RTB_* variable, its
// flag, what it accepts, and how a value is checked and stored. The file,
// environment and flag layers, validation and `rtb config show` all read
// this one table, so they cannot disagree. (A program's help text for the
// flags is the program's: the rtb program keeps its own.)
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/config/layer.hpp"
#include "rtb/config/settings.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/runtime_spec.hpp"
#include "rtb/units.hpp"

namespace rtb::config {

/// A value that does not fit its key: what is wrong, in words.
struct bad_value {
    std::string why;
};

/// One configuration key.
struct key {
    std::string_view name;     ///< in the file: "timeout", "storage.on_low"
    std::string_view env;      ///< its RTB_* variable; empty: none
    std::string_view flag;     ///< its flag on `rtb build` and `rtb config show`; empty: none
    std::string_view allowed;  ///< what it accepts, as errors say it
    bool secret = false;       ///< masked wherever it is shown
    /// Checks `v` and stores it; throws bad_value.
    void (*store)(settings&, const raw_value& v);
    /// The value as `rtb config show` prints it.
    std::string (*show)(const settings&);
};

namespace detail {

inline const char* kind_name(const raw_value& v) {
    switch (v.index()) {
        case 0: return "a string";
        case 1: return "an integer";
        case 2: return "a boolean";
        case 3: return "a list";
        default: return "a table";
    }
}

inline const std::string& text(const raw_value& v) {
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
    throw bad_value{fmt::format("is {}, not a string", kind_name(v))};
}

/// Printable and of a sane length: configuration text ends up in commands,
/// labels and messages.
inline const std::string& plain_text(const raw_value& v, std::size_t max = 4096) {
    const auto& s = text(v);
    if (s.size() > max) throw bad_value{fmt::format("is {} bytes long; at most {} are allowed", s.size(), max)};
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) throw bad_value{"contains a control character"};
    return s;
}

inline std::string image(const raw_value& v) {
    const auto& s = plain_text(v);
    try {
        image_ref::parse(s);
    } catch (const error& e) {
        throw bad_value{e.what()};
    }
    return s;
}

inline std::string one_of(const raw_value& v, std::initializer_list<std::string_view> allowed) {
    const auto& s = plain_text(v);
    for (auto a : allowed)
        if (s == a) return s;
    throw bad_value{fmt::format("is {}", rtb::detail::printable(s))};
}

inline bool boolean(const raw_value& v) {
    if (const auto* b = std::get_if<bool>(&v)) return *b;
    const auto& s = text(v);  // a variable or a flag
    if (s == "true" || s == "1" || s == "yes") return true;
    if (s == "false" || s == "0" || s == "no" || s.empty()) return false;
    throw bad_value{fmt::format("is {}", rtb::detail::printable(s))};
}

inline std::int64_t integer(const raw_value& v, std::int64_t min, std::int64_t max) {
    std::int64_t n = 0;
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
        n = *i;
    } else {
        const auto& s = text(v);
        const auto r = std::from_chars(s.data(), s.data() + s.size(), n);
        if (s.empty() || r.ec != std::errc{} || r.ptr != s.data() + s.size())
            throw bad_value{fmt::format("is {}", rtb::detail::printable(s))};
    }
    if (n < min || n > max) throw bad_value{fmt::format("is {}", n)};
    return n;
}

inline std::chrono::milliseconds duration(const raw_value& v, double max_ms = 7 * 24 * 3'600'000.0) {
    if (std::holds_alternative<std::int64_t>(v))
        throw bad_value{"is a bare number; write the unit (\"90s\", \"30m\")"};
    const auto& s = plain_text(v, 64);
    const auto d = parse_duration(s, max_ms);
    if (!d) throw bad_value{fmt::format("is {}", rtb::detail::printable(s))};
    return *d;
}

inline std::uint64_t size(const raw_value& v) {
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
        if (*i < 0) throw bad_value{fmt::format("is {}", *i)};
        return static_cast<std::uint64_t>(*i);
    }
    const auto& s = plain_text(v, 64);
    const auto n = parse_byte_size(s);
    if (!n) throw bad_value{fmt::format("is {}", rtb::detail::printable(s))};
    return *n;
}

/// A command: a list of strings, the program first (never a shell line:
/// no quoting rules to get wrong, nothing a value can inject).
inline std::vector<std::string> command(const raw_value& v) {
    const auto* l = std::get_if<std::vector<std::string>>(&v);
    if (!l) throw bad_value{fmt::format("is {}, not a list of strings", kind_name(v))};
    if (l->empty() || l->front().empty()) throw bad_value{"names no program (the list's first item)"};
    if (l->size() > 256) throw bad_value{"has more than 256 arguments"};
    for (const auto& a : *l) plain_text(raw_value(a));
    return *l;
}

inline std::map<std::string, std::string> string_table(const raw_value& v) {
    const auto* t = std::get_if<std::map<std::string, std::string>>(&v);
    if (!t) throw bad_value{fmt::format("is {}, not a table of strings", kind_name(v))};
    if (t->size() > 1024) throw bad_value{"has more than 1024 entries"};
    for (const auto& [k, val] : *t) {
        if (k.empty() || k.find_first_of("= \t") != std::string::npos)
            throw bad_value{fmt::format("has the name {}, which is not a build argument name", rtb::detail::printable(k))};
        plain_text(raw_value(val));
    }
    return *t;
}

inline std::string endpoint(const raw_value& v, std::initializer_list<std::string_view> schemes) {
    const auto& s = plain_text(v, 2048);
    for (auto scheme : schemes)
        if (s.starts_with(scheme) && s.size() > scheme.size()) return s;
    throw bad_value{fmt::format("is {}", rtb::detail::printable(s))};
}

inline std::string quoted(std::string_view s) { return s.empty() ? "(not set)" : rtb::detail::printable(s); }

inline std::string list(const std::vector<std::string>& l) {
    if (l.empty()) return "(not set)";
    std::string out = "[";
    for (const auto& a : l) {
        if (out.size() > 1) out += ", ";
        out += rtb::detail::printable(a);
    }
    return out + "]";
}

inline std::string table(const std::map<std::string, std::string>& t) {
    if (t.empty()) return "(not set)";
    std::string out = "{";
    for (const auto& [k, v] : t) {
        if (out.size() > 1) out += ", ";
        out += k + " = " + rtb::detail::printable(v);
    }
    return out + "}";
}

/// Reads an API key file: one line, at most 4 KiB, trailing newline dropped.
inline std::string read_key_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw bad_value{fmt::format("names {}, which cannot be read", rtb::detail::printable(p.string()))};
    std::string key(4097, '\0');
    in.read(key.data(), static_cast<std::streamsize>(key.size()));
    key.resize(static_cast<std::size_t>(in.gcount()));
    if (key.size() > 4096) throw bad_value{fmt::format("names {}, which is larger than 4 KiB", rtb::detail::printable(p.string()))};
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
    if (key.empty() || key.find_first_of("\n\r") != std::string::npos)
        throw bad_value{fmt::format("names {}, which does not hold one key on one line", rtb::detail::printable(p.string()))};
    return key;
}

}  // namespace detail

/// The table. Order is the order `rtb config show` prints.
inline const std::vector<key>& keys() {
    namespace d = detail;
    static const std::vector<key> table = {
        {"base_image", "RTB_BASE_IMAGE", "--base-image", "an image reference such as python:3.12-slim",
         false, [](settings& s, const raw_value& v) { s.base_image = d::image(v); },
         [](const settings& s) { return d::quoted(s.base_image); }},
        {"runtime_image", "RTB_RUNTIME_IMAGE", "--runtime-image", "an image reference",
         false, [](settings& s, const raw_value& v) { s.runtime_image = d::image(v); },
         [](const settings& s) { return d::quoted(s.runtime_image); }},
        {"runtime_repository", "RTB_RUNTIME_REPOSITORY", "--runtime-repo", "an image repository such as ghcr.io/org/runtime",
         false, [](settings& s, const raw_value& v) { s.runtime_repository = d::image(v); },
         [](const settings& s) { return d::quoted(s.runtime_repository); }},
        {"platform", "RTB_PLATFORM", "--platform", "os/arch[/variant], such as linux/amd64",
         false, [](settings& s, const raw_value& v) {
             const auto& p = d::plain_text(v, 64);
             try {
                 check_platform(p);
             } catch (const error& e) {
                 throw bad_value{e.what()};
             }
             s.platform = p;
         },
         [](const settings& s) { return d::quoted(s.platform); }},
        {"extra_deps", "RTB_EXTRA_DEPS", "--extra-deps", "text (installed in the image; hashed)",
         false, [](settings& s, const raw_value& v) { s.extra_deps = d::plain_text(v); },
         [](const settings& s) { return d::quoted(s.extra_deps); }},
        {"build_args", "", "--build-arg", "a table of NAME = \"value\" strings (flags: NAME=VALUE, repeatable)",
         false, [](settings& s, const raw_value& v) {
             for (auto& kv : d::string_table(v)) s.build_args[kv.first] = kv.second;  // later sources add and override
         },
         [](const settings& s) { return d::table(s.build_args); }},
        {"force_rebuild", "RTB_FORCE_REBUILD", "--force", "true or false",
         false, [](settings& s, const raw_value& v) { s.force_rebuild = d::boolean(v); },
         [](const settings& s) { return std::string(s.force_rebuild ? "true" : "false"); }},
        {"transport", "RTB_TRANSPORT", "--transport", "docker, podman, cli or remote",
         false, [](settings& s, const raw_value& v) { s.transport = d::one_of(v, {"docker", "podman", "cli", "remote"}); },
         [](const settings& s) { return s.transport; }},
        {"host", "RTB_HOST", "--host", "unix:///path, tcp://host:port, ssh://... or http(s)://host:port",
         false, [](settings& s, const raw_value& v) {
             s.host = d::endpoint(v, {"unix://", "tcp://", "ssh://", "http://", "https://", "npipe://"});
         },
         [](const settings& s) { return d::quoted(s.host); }},
        {"remote_url", "RTB_REMOTE_URL", "", "http://host:port or https://host:port",
         false, [](settings& s, const raw_value& v) { s.remote_url = d::endpoint(v, {"http://", "https://"}); },
         [](const settings& s) { return d::quoted(s.remote_url); }},
        {"api_key_file", "RTB_API_KEY_FILE", "", "a file holding the key on one line",
         false, [](settings& s, const raw_value& v) {
             s.api_key_file = d::plain_text(v);
             s.api_key = d::read_key_file(s.api_key_file);
         },
         [](const settings& s) { return d::quoted(s.api_key_file.string()); }},
        {"api_key", "RTB_API_KEY", "", "set only in the environment (or through api_key_file)",
         true, [](settings& s, const raw_value& v) {
             const auto& k = d::plain_text(v);
             if (k.empty()) throw bad_value{"is empty"};
             s.api_key = k;
         },
         [](const settings& s) { return std::string(s.api_key.empty() ? "(not set)" : "********"); }},
        {"timeout", "RTB_TIMEOUT", "--timeout", "a duration such as 90s, 30m or 2h (at most 7d)",
         false, [](settings& s, const raw_value& v) { s.timeout = d::duration(v); },
         [](const settings& s) { return format_duration(s.timeout); }},
        {"stall_timeout", "RTB_STALL_TIMEOUT", "--stall-timeout", "a duration such as 5m",
         false, [](settings& s, const raw_value& v) { s.stall_timeout = d::duration(v); },
         [](const settings& s) { return s.stall_timeout ? format_duration(*s.stall_timeout) : "(not set)"; }},
        {"poll_interval", "RTB_POLL_INTERVAL", "--poll-interval", "a positive duration such as 30s",
         false, [](settings& s, const raw_value& v) {
             const auto p = d::duration(v);
             if (p.count() <= 0) throw bad_value{"is zero"};
             s.poll_interval = p;
         },
         [](const settings& s) { return format_duration(s.poll_interval); }},
        {"cache_dir", "RTB_CACHE_DIR", "", "a folder",
         false, [](settings& s, const raw_value& v) {
             const auto& p = d::plain_text(v);
             if (p.empty()) throw bad_value{"is empty"};
             s.cache_dir = p;
         },
         [](const settings& s) { return d::quoted(s.cache_dir.string()); }},
        {"workers", "RTB_WORKERS", "--jobs", "a whole number from 1 to 64",
         false, [](settings& s, const raw_value& v) { s.workers = static_cast<int>(d::integer(v, 1, 64)); },
         [](const settings& s) { return std::to_string(s.workers); }},
        {"storage.engine_min_free", "RTB_STORAGE_ENGINE_MIN_FREE", "", "a size such as 2GiB or 500M (0: not checked)",
         false, [](settings& s, const raw_value& v) { s.storage.engine_min_free = d::size(v); },
         [](const settings& s) { return format_bytes(s.storage.engine_min_free); }},
        {"storage.cache_min_free", "RTB_STORAGE_CACHE_MIN_FREE", "", "a size such as 100MiB (0: not checked)",
         false, [](settings& s, const raw_value& v) { s.storage.cache_min_free = d::size(v); },
         [](const settings& s) { return format_bytes(s.storage.cache_min_free); }},
        {"storage.on_low", "RTB_STORAGE_ON_LOW", "", "fail or prune",
         false, [](settings& s, const raw_value& v) {
             s.storage.on_low = d::one_of(v, {"fail", "prune"}) == "prune" ? on_low_storage::prune : on_low_storage::fail;
         },
         [](const settings& s) { return std::string(s.storage.on_low == on_low_storage::prune ? "prune" : "fail"); }},
        {"storage.prune_older_than", "RTB_STORAGE_PRUNE_OLDER_THAN", "", "a duration such as 7d or 90d",
         false, [](settings& s, const raw_value& v) {
             s.storage.prune_older_than =
                 std::chrono::duration_cast<std::chrono::seconds>(d::duration(v, 100.0 * 365 * 86'400'000));
         },
         [](const settings& s) { return format_duration(s.storage.prune_older_than); }},
        {"hooks.pre_build", "", "", "a command as a list: [\"program\", \"arg\", ...]",
         false, [](settings& s, const raw_value& v) { s.hooks.pre_build = d::command(v); },
         [](const settings& s) { return d::list(s.hooks.pre_build); }},
        {"hooks.post_build", "", "", "a command as a list",
         false, [](settings& s, const raw_value& v) { s.hooks.post_build = d::command(v); },
         [](const settings& s) { return d::list(s.hooks.post_build); }},
        {"hooks.on_error", "", "", "a command as a list",
         false, [](settings& s, const raw_value& v) { s.hooks.on_error = d::command(v); },
         [](const settings& s) { return d::list(s.hooks.on_error); }},
        {"hooks.timeout", "RTB_HOOKS_TIMEOUT", "", "a duration such as 60s",
         false, [](settings& s, const raw_value& v) { s.hooks.timeout = d::duration(v); },
         [](const settings& s) { return format_duration(s.hooks.timeout); }},
    };
    return table;
}

/// The key named `name`, or nullptr.
inline const key* find_key(std::string_view name) {
    for (const auto& k : keys())
        if (k.name == name) return &k;
    return nullptr;
}

/// The known key closest to a misspelt one (edit distance at most 3, or a
/// key it begins), for "did you mean ...?".
inline std::optional<std::string_view> closest_key(std::string_view name) {
    std::optional<std::string_view> best;
    std::size_t best_distance = 4;
    for (const auto& k : keys()) {
        const auto& a = name;
        const auto& b = k.name;
        if (a.size() > 64) break;
        std::vector<std::size_t> row(b.size() + 1);
        for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
        for (std::size_t i = 1; i <= a.size(); ++i) {
            std::size_t diagonal = row[0];
            row[0] = i;
            for (std::size_t j = 1; j <= b.size(); ++j) {
                const std::size_t up = row[j];
                row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
                diagonal = up;
            }
        }
        std::size_t distance = row[b.size()];
        if (a.size() >= 4 && b.starts_with(a)) distance = std::min<std::size_t>(distance, 1);  // a key cut short
        if (distance < best_distance) best_distance = distance, best = b;
    }
    return best;
}

}  // namespace rtb::config
