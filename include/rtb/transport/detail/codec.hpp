// Small text codecs the transports need: base64 (standard and URL-safe),
// URL percent-encoding, and HTTP dates (RFC 9110 section 5.6.7). Internal;
// pure functions, no I/O.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtb::detail {

/// Base64 of `data`; `url_safe` uses '-' and '_' (RFC 4648 section 5), as
/// Docker's X-Registry-Auth does. Always padded.
inline std::string base64_encode(std::string_view data, bool url_safe = false) {
    static constexpr char std_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static constexpr char url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char* a = url_safe ? url_alphabet : std_alphabet;
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        const auto v = (std::uint32_t{static_cast<unsigned char>(data[i])} << 16) |
                       (std::uint32_t{static_cast<unsigned char>(data[i + 1])} << 8) |
                       std::uint32_t{static_cast<unsigned char>(data[i + 2])};
        out += a[(v >> 18) & 63];
        out += a[(v >> 12) & 63];
        out += a[(v >> 6) & 63];
        out += a[v & 63];
    }
    if (const auto rest = data.size() - i; rest > 0) {
        std::uint32_t v = std::uint32_t{static_cast<unsigned char>(data[i])} << 16;
        if (rest == 2) v |= std::uint32_t{static_cast<unsigned char>(data[i + 1])} << 8;
        out += a[(v >> 18) & 63];
        out += a[(v >> 12) & 63];
        out += rest == 2 ? a[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

/// Decodes base64, standard or URL-safe alphabet, padding optional.
/// Returns std::nullopt for anything else (stray characters, bad length).
inline std::optional<std::string> base64_decode(std::string_view text) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+' || c == '-') return 62;
        if (c == '/' || c == '_') return 63;
        return -1;
    };
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    if (text.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        const int v = value(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    return out;
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for query
/// values and path segments.
inline std::string url_encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

/// Like url_encode, but keeps '/' and ':' (image names in a request path:
/// "/images/127.0.0.1:5000/app/json"), and '@' for digests.
inline std::string url_encode_path(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    std::size_t start = 0;
    for (std::size_t i = 0; i <= s.size(); ++i) {
        if (i == s.size() || s[i] == '/' || s[i] == ':' || s[i] == '@') {
            out += url_encode(s.substr(start, i - start));
            if (i < s.size()) out += s[i];
            start = i + 1;
        }
    }
    return out;
}

namespace http_date {

inline std::optional<int> month_index(std::string_view m) {
    static constexpr std::array<std::string_view, 12> names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == m) return static_cast<int>(i) + 1;
    return std::nullopt;
}

/// Reads exactly `n` digits at `pos`.
inline std::optional<int> digits(std::string_view s, std::size_t pos, std::size_t n) {
    if (pos + n > s.size()) return std::nullopt;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') return std::nullopt;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/// "HH:MM:SS" at `pos`.
inline std::optional<std::chrono::seconds> time_of_day(std::string_view s, std::size_t pos) {
    const auto h = digits(s, pos, 2), m = digits(s, pos + 3, 2), sec = digits(s, pos + 6, 2);
    if (!h || !m || !sec || s[pos + 2] != ':' || s[pos + 5] != ':') return std::nullopt;
    if (*h > 23 || *m > 59 || *sec > 60) return std::nullopt;
    return std::chrono::hours(*h) + std::chrono::minutes(*m) + std::chrono::seconds(*sec);
}

inline std::optional<std::chrono::sys_seconds> make(int y, int mon, int d, std::chrono::seconds tod) {
    const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(mon)),
                                          std::chrono::day(static_cast<unsigned>(d))};
    if (!ymd.ok()) return std::nullopt;
    return std::chrono::sys_days(ymd) + tod;
}

}  // namespace http_date

/// Parses an HTTP-date in any of the three forms RFC 9110 requires recipients
/// to accept: IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850
/// "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994".
/// The weekday name is not checked against the date.
inline std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view s) {
    using namespace http_date;
    if (s.size() > 64) return std::nullopt;
    const auto comma = s.find(',');
    if (comma == 3 && s.size() == 29) {  // IMF-fixdate
        if (s.substr(4, 1) != " " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s.substr(25) != " GMT")
            return std::nullopt;
        const auto d = digits(s, 5, 2), y = digits(s, 12, 4);
        const auto mon = month_index(s.substr(8, 3));
        const auto tod = time_of_day(s, 17);
        if (!d || !y || !mon || !tod) return std::nullopt;
        return make(*y, *mon, *d, *tod);
    }
    if (comma != std::string_view::npos && comma >= 6 && comma <= 9) {  // RFC 850
        const auto rest = s.substr(comma + 1);  // " 06-Nov-94 08:49:37 GMT"
        if (rest.size() != 23 || rest[0] != ' ' || rest[3] != '-' || rest[7] != '-' || rest[10] != ' ' ||
            rest.substr(19) != " GMT")
            return std::nullopt;
        const auto d = digits(rest, 1, 2), yy = digits(rest, 8, 2);
        const auto mon = month_index(rest.substr(4, 3));
        const auto tod = time_of_day(rest, 11);
        if (!d || !yy || !mon || !tod) return std::nullopt;
        // RFC 9110: a two-digit year more than 50 years in the future is in the past century.
        return make(*yy < 70 ? 2000 + *yy : 1900 + *yy, *mon, *d, *tod);
    }
    if (comma == std::string_view::npos && s.size() == 24 && s[3] == ' ' && s[7] == ' ' && s[10] == ' ' &&
        s[19] == ' ') {  // asctime
        const auto mon = month_index(s.substr(4, 3));
        const auto d = s[8] == ' ' ? digits(s, 9, 1) : digits(s, 8, 2);
        const auto tod = time_of_day(s, 11);
        const auto y = digits(s, 20, 4);
        if (!d || !y || !mon || !tod) return std::nullopt;
        return make(*y, *mon, *d, *tod);
    }
    return std::nullopt;
}

}  // namespace rtb::detail
