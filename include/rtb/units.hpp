// Sizes and durations as people write them in flags and configuration
// ("2GiB", "30m") and read them in messages ("1.5 GiB").
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace rtb {

/// "1.5 GiB", "512 MiB", "0 B": sizes as people read them.
inline std::string format_bytes(std::uint64_t n) {
    constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = static_cast<double>(n);
    int u = 0;
    while (v >= 1024 && u < 6) v /= 1024, ++u;
    if (u == 0) return fmt::format("{} B", n);
    return v < 10 ? fmt::format("{:.1f} {}", v, units[u]) : fmt::format("{:.0f} {}", v, units[u]);
}

/// A size as written in configuration and flags: a whole number with an
/// optional unit B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB, P.., E.. (all powers of
/// 1024, as disk tools mean them). std::nullopt when it is not one.
inline std::optional<std::uint64_t> parse_byte_size(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    std::uint64_t n = 0;
    if (i == 0 || std::from_chars(text.data(), text.data() + i, n).ec != std::errc{}) return std::nullopt;
    auto unit = text.substr(i);
    while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
    struct unit_shift {
        std::string_view name;
        int shift;
    };
    static constexpr unit_shift units[] = {{"", 0},   {"B", 0},   {"K", 10},  {"KB", 10}, {"KiB", 10},
                                           {"M", 20}, {"MB", 20}, {"MiB", 20}, {"G", 30}, {"GB", 30},
                                           {"GiB", 30}, {"T", 40}, {"TB", 40}, {"TiB", 40},
                                           {"P", 50}, {"PB", 50}, {"PiB", 50}, {"E", 60}, {"EB", 60}, {"EiB", 60}};
    int shift = -1;
    for (const auto& u : units)
        if (unit == u.name) shift = u.shift;
    if (shift < 0 || (shift > 0 && n > (UINT64_MAX >> shift))) return std::nullopt;
    return n << shift;
}

/// A duration: a number with ms, s, m, h or d ("500ms", "2s", "1.5m", "7d"),
/// at most `max_ms`. std::nullopt when it is not one.
inline std::optional<std::chrono::milliseconds> parse_duration(std::string_view text,
                                                               double max_ms = 7 * 24 * 3'600'000.0) {
    std::size_t i = 0;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    const auto number = text.substr(0, i), unit = text.substr(i);
    double scale = 0;
    if (unit == "ms") scale = 1;
    else if (unit == "s") scale = 1000;
    else if (unit == "m") scale = 60'000;
    else if (unit == "h") scale = 3'600'000;
    else if (unit == "d") scale = 86'400'000;
    double v = 0;
    const auto r = std::from_chars(number.data(), number.data() + number.size(), v);
    if (number.empty() || scale == 0 || r.ec != std::errc{} || r.ptr != number.data() + number.size() ||
        v * scale > max_ms)
        return std::nullopt;
    return std::chrono::milliseconds(static_cast<std::int64_t>(v * scale));
}

/// What parse_duration() accepts, for error messages.
inline std::string duration_form(double max_ms = 7 * 24 * 3'600'000.0) {
    return fmt::format("a duration such as 500ms, 2s, 1.5m or 3d (at most {} days)",
                       static_cast<long long>(max_ms / 86'400'000.0));
}

/// "90 s", "30 m", "1.5 h": a duration as people read it.
inline std::string format_duration(std::chrono::milliseconds d) {
    const auto ms = d.count();
    if (ms % 86'400'000 == 0 && ms > 0) return fmt::format("{}d", ms / 86'400'000);
    if (ms % 3'600'000 == 0 && ms > 0) return fmt::format("{}h", ms / 3'600'000);
    if (ms % 60'000 == 0 && ms > 0) return fmt::format("{}m", ms / 60'000);
    if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
    return fmt::format("{}ms", ms);
}

}  // namespace rtb
