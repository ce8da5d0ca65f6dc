// Request bytes as they may appear in rtb serve's log: a client controls the
// path, the method and form fields, so anything it sent is escaped before it
// reaches a log line (no CR, LF, ESC or other control byte: no forged lines,
// no terminal escapes) and cut to a bounded length. Nothing is %-decoded:
// "%0a" in a path is shown as the three characters it is. Pure.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace rtb::serve {

/// `s` with every byte outside printable ASCII (0x20..0x7e) written as
/// `\xNN` and `\` as `\\`; longer than `max` bytes: the first `max` bytes,
/// then "...(N bytes)". The result is printable ASCII only.
inline std::string log_escape(std::string_view s, std::size_t max = 200) {
    std::string out;
    const auto shown = s.substr(0, max);
    out.reserve(shown.size() + 16);
    for (const char ch : shown) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '\\') out += "\\\\";
        else if (c < 0x20 || c > 0x7e) out += fmt::format("\\x{:02x}", c);
        else out += ch;
    }
    if (s.size() > max) out += fmt::format("...({} bytes)", s.size());
    return out;
}

/// A whole log line made safe: control bytes and bytes >= 0x7f escaped as
/// in log_escape (a backslash is kept: the parts that came from a request
/// were escaped already). The last guard before a line is written.
inline std::string log_line_safe(std::string_view line) {
    std::string out;
    out.reserve(line.size());
    for (const char ch : line) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c > 0x7e) out += fmt::format("\\x{:02x}", c);
        else out += ch;
    }
    return out;
}

}  // namespace rtb::serve
