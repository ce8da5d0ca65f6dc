// Query parameters of a request-target ("build_id=b-...&x=1"), decoded as
// form-urlencoded text (%XX and '+'). Only the query is ever decoded: header
// values and the path reach rtb serve as they were sent. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rtb::serve {

/// The value of query parameter `name` in `query`, decoded, or
/// std::nullopt. The first one counts; a '%' not followed by two hex
/// digits stays as it is.
inline std::optional<std::string> query_param(std::string_view query, std::string_view name) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    auto decode = [&](std::string_view s) {
        std::string out;
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] == '+') out += ' ';
            else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
                out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
                i += 2;
            } else {
                out += s[i];
            }
        }
        return out;
    };
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        const auto eq = pair.find('=');
        if (decode(pair.substr(0, eq)) != name) continue;
        return eq == std::string_view::npos ? std::string() : decode(pair.substr(eq + 1));
    }
    return std::nullopt;
}

}  // namespace rtb::serve
