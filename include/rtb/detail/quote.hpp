// User input quoted for error messages, in a header of its own: messages
// about any input use it, and most of them need nothing else of
// rtb/image_ref.hpp, where it was first written.
#pragma once

#include <string>
#include <string_view>

#include <fmt/core.h>

namespace rtb::detail::ref {

/// Printable form of user input for error messages (control bytes escaped).
inline std::string quote(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + '"';
}

}  // namespace rtb::detail::ref
