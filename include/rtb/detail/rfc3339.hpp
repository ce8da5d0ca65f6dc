// RFC 3339 time stamps as engines write them: dockerd's and Podman's image
// inspect answers give `Created` as "2026-11-29T10:00:00.123456789Z" or with
// a numeric offset ("...+01:00"); the Runtime API answers UTC seconds
// ("2026-11-29T09:00:00Z"). Pure; internal.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace rtb::detail {

/// A point in time: seconds since the Unix epoch (UTC) and nanoseconds.
struct rfc3339_time {
    std::int64_t seconds = 0;
    std::int32_t nanos = 0;
    friend bool operator==(const rfc3339_time&, const rfc3339_time&) = default;
};

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`: 't' and 'z'
/// accepted as RFC 3339 allows, 1 to 9 fraction digits, leap second 60
/// allowed, days checked against the month (and leap years). std::nullopt
/// for anything else, the integer Unix times of the list endpoints included.
inline std::optional<rfc3339_time> parse_rfc3339(std::string_view t);

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (years 0 to 9999).
inline std::string format_rfc3339_utc(std::int64_t seconds);

// ---------------------------------------------------------------------------

namespace rfc3339_detail {

// Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil).
constexpr std::int64_t days_from_civil(int y, int m, int d) noexcept {
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const int yoe = y - era * 400;
    const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return std::int64_t{era} * 146097 + doe - 719468;
}

constexpr int days_in_month(int y, int m) noexcept {
    constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

inline bool digits(std::string_view t, std::size_t at, std::size_t len, int& out) {
    if (at + len > t.size()) return false;
    for (std::size_t k = at; k < at + len; ++k)
        if (t[k] < '0' || t[k] > '9') return false;
    return std::from_chars(t.data() + at, t.data() + at + len, out).ec == std::errc{};
}

}  // namespace rfc3339_detail

inline std::optional<rfc3339_time> parse_rfc3339(std::string_view t) {
    using namespace rfc3339_detail;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    if (t.size() < 20 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't') || t[13] != ':' || t[16] != ':')
        return std::nullopt;
    if (!digits(t, 0, 4, y) || !digits(t, 5, 2, mo) || !digits(t, 8, 2, d) || !digits(t, 11, 2, h) ||
        !digits(t, 14, 2, mi) || !digits(t, 17, 2, s))
        return std::nullopt;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60) return std::nullopt;
    rfc3339_time out;
    std::size_t at = 19;
    if (t[at] == '.') {
        const std::size_t start = ++at;
        while (at < t.size() && t[at] >= '0' && t[at] <= '9') ++at;
        const std::size_t n = at - start;
        if (n == 0 || n > 9) return std::nullopt;
        int frac = 0;
        if (!digits(t, start, n, frac)) return std::nullopt;
        for (std::size_t k = n; k < 9; ++k) frac *= 10;
        out.nanos = frac;
    }
    int offset = 0;  // seconds east of UTC
    const auto zone = t.substr(at);
    if (zone == "Z" || zone == "z") {
        offset = 0;
    } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
        int oh = 0, om = 0;
        if (!digits(zone, 1, 2, oh) || !digits(zone, 4, 2, om) || oh > 23 || om > 59) return std::nullopt;
        offset = (oh * 3600 + om * 60) * (zone[0] == '-' ? -1 : 1);
    } else {
        return std::nullopt;
    }
    out.seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset;
    return out;
}

inline std::string format_rfc3339_utc(std::int64_t seconds) {
    std::int64_t days = seconds / 86400, rest = seconds % 86400;
    if (rest < 0) {
        rest += 86400;
        --days;
    }
    // civil_from_days (Howard Hinnant)
    days += 719468;
    const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const std::int64_t doe = days - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t y = yoe + era * 400 + (m <= 2);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", y, m, d, rest / 3600, rest / 60 % 60, rest % 60);
}

}  // namespace rtb::detail
