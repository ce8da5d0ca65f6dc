// Writing JSON text: string quoting (RFC 8259) and lists of strings, for
// rtb's --json output, the json_logger and hooks' input. Reading JSON is
// simdjson's job.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "rtb/detail/ascii_scan.hpp"

namespace rtb {

/// Appends `s` as a JSON string literal. Invalid UTF-8 bytes become U+FFFD,
/// so the output is always valid JSON whatever a file name or engine sent.
inline void append_json_quoted(std::string& out, std::string_view s);

/// `s` as a JSON string literal (append_json_quoted into a new string).
inline std::string json_quote(std::string_view s) {
    std::string out;
    append_json_quoted(out, s);
    return out;
}

namespace detail {
/// The bytes a JSON string can hold as they are: printable ASCII but the
/// quote and the backslash. Everything else takes the careful path.
inline constexpr auto json_plain_bytes = [] {
    std::array<bool, 256> t{};
    for (unsigned c = 0x20; c < 0x7f; ++c) t[c] = true;
    t['"'] = t['\\'] = false;
    return t;
}();
}  // namespace detail

inline void append_json_quoted(std::string& out, std::string_view s) {
    out.reserve(out.size() + s.size() + 2);
    out += '"';
    // runs of plain bytes are copied whole: most engine text is plain ASCII
    for (std::size_t i = 0; i < s.size(); ++i) {
        std::size_t run = i + detail::printable_run(s.data() + i, s.data() + s.size(), '"', '\\');
        out.append(s.data() + i, run - i);
        if (run == s.size()) break;
        i = run;
        const auto c = static_cast<unsigned char>(s[i]);
        switch (c) {
            case '"': out += "\\\""; continue;
            case '\\': out += "\\\\"; continue;
            case '\n': out += "\\n"; continue;
            case '\r': out += "\\r"; continue;
            case '\t': out += "\\t"; continue;
            case '\b': out += "\\b"; continue;
            case '\f': out += "\\f"; continue;
            default: break;
        }
        if (c < 0x20 || c == 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            out.append(esc, 6);
        } else {
            std::size_t len = (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
            bool ok = len && i + len <= s.size();
            char32_t cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
            for (std::size_t k = 1; ok && k < len; ++k) {
                const auto cont = static_cast<unsigned char>(s[i + k]);
                ok = (cont & 0xc0) == 0x80;
                cp = (cp << 6) | (cont & 0x3f);
            }
            if (ok) ok = !(len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) && !(len == 4 && (cp < 0x10000 || cp > 0x10ffff));
            if (ok) {
                out.append(s.substr(i, len));
                i += len - 1;
            } else {
                out += "\\ufffd";
            }
        }
    }
    out += '"';
}

/// `items` as a JSON array of strings.
inline std::string json_list(const std::vector<std::string>& items) {
    std::string out = "[";
    for (const auto& i : items) {
        if (out.size() > 1) out += ',';
        out += json_quote(i);
    }
    return out + "]";
}

}  // namespace rtb
