// Small allocation-free scanners shared by the stream decoders: numbers,
// hex ids, line clean-up, exit codes in engine messages, error excerpts.
// Internal; every function is a pure function over a string_view.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstring>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "rtb/text.hpp"

namespace rtb::detail {

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_lower_hex(char c) noexcept { return is_digit(c) || (c >= 'a' && c <= 'f'); }

/// Reads a non-negative decimal int of at most 9 digits at the front of `s`,
/// consuming it. nullopt (and `s` untouched) if there is none.
constexpr std::optional<int> take_int(std::string_view& s) noexcept {
    std::size_t n = 0;
    int v = 0;
    while (n < s.size() && n < 9 && is_digit(s[n])) v = v * 10 + (s[n++] - '0');
    if (n == 0 || (n < s.size() && is_digit(s[n]))) return std::nullopt;
    s.remove_prefix(n);
    return v;
}

/// Whether `s` is exactly `n` lowercase hex digits.
constexpr bool is_hex_id(std::string_view s, std::size_t n = 64) noexcept {
    return s.size() == n && std::all_of(s.begin(), s.end(), is_lower_hex);
}

/// A line as a terminal would show it: without a trailing '\r', and only the
/// part after the last carriage return when the program rewrote the line.
inline std::string_view terminal_line(std::string_view s) noexcept {
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
    // almost no line has a '\r': look forward with memchr (vectorised) before
    // searching backwards byte by byte
    if (s.empty() || !std::memchr(s.data(), '\r', s.size())) return s;
    return s.substr(s.rfind('\r') + 1);
}

constexpr std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

/// The exit code an engine's failure message states, if any. Recognises the
/// wordings of the engines rtb talks to, and takes the last one in the text:
///   Docker classic builder  "... returned a non-zero code: 3"
///   Podman / Go os/exec     "... exit status 3"
///   BuildKit                "... exit code: 3"
constexpr std::optional<int> exit_code_in(std::string_view message) noexcept {
    constexpr std::string_view markers[] = {"returned a non-zero code: ", "exit status ", "exit code: "};
    std::optional<int> best;
    std::size_t best_pos = 0;
    for (const auto marker : markers) {
        for (std::size_t pos = message.rfind(marker); pos != std::string_view::npos;
             pos = pos == 0 ? std::string_view::npos : message.rfind(marker, pos - 1)) {
            auto rest = message.substr(pos + marker.size());
            if (const auto code = take_int(rest)) {
                if (!best || pos > best_pos) {
                    best = code;
                    best_pos = pos;
                }
                break;
            }
        }
    }
    return best;
}

/// A decimal size as BuildKit and the Docker CLI print it ("27.15MB",
/// "512B", "1.2kB", "3GiB") in bytes; nullopt if it is not one.
inline std::optional<std::uint64_t> parse_human_size(std::string_view s) noexcept {
    double v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::fixed);
    if (ec != std::errc{} || v < 0) return std::nullopt;
    const std::string_view unit(p, static_cast<std::size_t>(s.data() + s.size() - p));
    double mult = 0;
    if (unit == "B") mult = 1;
    else if (unit == "kB" || unit == "KB") mult = 1e3;
    else if (unit == "MB") mult = 1e6;
    else if (unit == "GB") mult = 1e9;
    else if (unit == "TB") mult = 1e12;
    else if (unit == "KiB") mult = 1024.0;
    else if (unit == "MiB") mult = 1024.0 * 1024;
    else if (unit == "GiB") mult = 1024.0 * 1024 * 1024;
    else return std::nullopt;
    const double bytes = v * mult + 0.5;
    if (bytes >= 1.8e19) return std::nullopt;
    return static_cast<std::uint64_t>(bytes);
}

using rtb::excerpt;  // rtb/text.hpp


}  // namespace rtb::detail
