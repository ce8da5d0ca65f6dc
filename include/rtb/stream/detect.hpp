// Telling an engine's JSON stream from a BuildKit plain log by its first
// bytes, for tools that accept either (`rtb events`).
#pragma once

#include <string_view>

#include "rtb/stream/detail/text_scan.hpp"

namespace rtb {

enum class stream_format {
    undecided,       ///< only whitespace so far: read more (at the end: empty input)
    engine_json,     ///< a Docker/Podman JSON message stream
    buildkit_plain,  ///< BuildKit --progress=plain (or classic builder text) output
    unknown,         ///< neither
};

/// Decides from the start of a stream: the first non-blank byte '{' means
/// JSON; a first line "#<digit>..." (BuildKit), "Step <digit>" / "STEP
/// <digit>" (classic builder, Podman), "Sending build context" or
/// "DEPRECATED:" means a plain log. `head` should hold a whole first line
/// when there is one; with only part of it the answer may be undecided.
constexpr stream_format detect_stream_format(std::string_view head) noexcept {
    std::size_t i = 0;
    if (head.starts_with("\xef\xbb\xbf")) i = 3;  // a UTF-8 byte order mark
    while (i < head.size() && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n')) ++i;
    if (i == head.size()) return stream_format::undecided;
    const auto rest = head.substr(i);
    if (rest[0] == '{') return stream_format::engine_json;
    auto digit_at = [&](std::size_t k) { return k < rest.size() && detail::is_digit(rest[k]); };
    if (rest[0] == '#') return rest.size() < 2 ? stream_format::undecided : digit_at(1) ? stream_format::buildkit_plain : stream_format::unknown;
    constexpr std::string_view prefixes[] = {"Step ", "STEP ", "Sending build context", "DEPRECATED:"};
    for (const auto p : prefixes) {
        if (rest.size() < p.size()) {
            if (p.starts_with(rest)) return stream_format::undecided;
            continue;
        }
        if (!rest.starts_with(p)) continue;
        if (p.back() != ' ' || digit_at(p.size())) return stream_format::buildkit_plain;
        if (rest.size() == p.size()) return stream_format::undecided;
    }
    return stream_format::unknown;
}

}  // namespace rtb
