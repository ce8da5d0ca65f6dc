// Showing untrusted text to a person: a path, a name or a line from an
// engine, a file or a request, quoted, with control bytes and invalid UTF-8
// escaped, so nothing it holds can forge a line of output or a terminal
// sequence.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace rtb {

/// A path or name as it can be shown to a person: printable ASCII and UTF-8
/// kept, control bytes and invalid bytes escaped, quoted.
inline std::string printable(std::string_view s) {
    std::string out = "'";
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\'' || c == '\\') { out += '\\'; out += static_cast<char>(c); }
        else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
        else if (c < 0x80) out += static_cast<char>(c);
        else {
            // keep a well-formed UTF-8 sequence, escape anything else
            std::size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
            bool ok = len && i + len <= s.size();
            for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 0x2;
            if (ok) { out.append(s.substr(i, len)); i += len - 1; }
            else out += fmt::format("\\x{:02x}", c);
        }
    }
    return out + "'";
}

/// The start of `line` as it can be shown in an error message: at most
/// `max` bytes, control and invalid bytes escaped, quoted, with the number of
/// bytes left out.
inline std::string excerpt(std::string_view line, std::size_t max = 72) {
    std::string out = "'";
    const auto shown = line.substr(0, max);
    for (std::size_t i = 0; i < shown.size(); ++i) {
        const auto c = static_cast<unsigned char>(shown[i]);
        if (c == '\'' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else if (c >= 0x80) {
            // keep a complete, well-formed UTF-8 sequence; escape anything else
            const std::size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
            bool ok = len && i + len <= shown.size();
            for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(shown[i + k]) >> 6) == 0x2;
            if (ok) {
                out.append(shown.substr(i, len));
                i += len - 1;
            } else {
                out += fmt::format("\\x{:02x}", c);
            }
        } else {
            out += fmt::format("\\x{:02x}", c);
        }
    }
    out += '\'';
    if (line.size() > max) out += fmt::format(" (+{} more bytes)", line.size() - max);
    return out;
}

}  // namespace rtb
