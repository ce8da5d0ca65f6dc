// The pure rules behind runtime image tags: base-36 shortening of digests and
// the versioned tag's spelling of a base image (OpenHands' rules, plus what
// keeps every tag valid).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/error.hpp"
#include "rtb/hash/digest.hpp"
#include "rtb/image_ref.hpp"

namespace rtb::tags {

inline constexpr std::size_t max_tag_length = 128;
/// OpenHands keeps the last 96 characters of the spelled base image.
inline constexpr std::size_t versioned_base_length = 96;
/// At most this many base-36 digits of a digest go into a tag.
inline constexpr std::size_t short_hash_digits = 16;

/// OpenHands' truncate_hash: the digest read as one big-endian integer,
/// written in base 36 (0-9a-z) least significant digit first, at most
/// `max_digits` digits. A zero value gives "".
inline std::string base36_shorten(std::span<const std::uint8_t> big_endian, std::size_t max_digits = short_hash_digits) {
    static constexpr char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::vector<std::uint8_t> value(big_endian.begin(), big_endian.end());
    std::string out;
    auto is_zero = [&] {
        for (auto b : value)
            if (b) return false;
        return true;
    };
    while (out.size() < max_digits && !is_zero()) {
        unsigned remainder = 0;
        for (auto& b : value) {  // long division by 36, most significant byte first
            const unsigned cur = (remainder << 8) | b;
            b = static_cast<std::uint8_t>(cur / 36);
            remainder = cur % 36;
        }
        out.push_back(alphabet[remainder]);
    }
    return out;
}

inline std::string base36_shorten(const digest& d, std::size_t max_digits = short_hash_digits) {
    return base36_shorten(d.bytes(), max_digits);
}

/// Checks a runtime version for use inside tags.
inline void check_version(std::string_view version) {
    if (version.empty()) throw error(errc::invalid_argument, "the runtime version is empty");
    for (char c : version) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                        c == '.' || c == '-';
        if (!ok)
            throw error(errc::invalid_argument,
                        fmt::format("runtime version {} may only contain letters, digits, '_', '.' and '-'",
                                    detail::ref::quote(version)));
    }
    // room for "oh_v{V}_" + 16 + "_" + 16
    if (version.size() > max_tag_length - 6 - 2 * short_hash_digits - 1)
        throw error(errc::invalid_argument,
                    fmt::format("runtime version is {} characters long; at most {} fit in a tag", version.size(),
                                max_tag_length - 6 - 2 * short_hash_digits - 1));
}

/// OpenHands' get_tag_for_versioned_image: '/' -> "_s_", ':' -> "_t_",
/// lowercase, the last 96 characters. rtb's additions keep the tag valid:
/// '@' (a digest reference) -> "_a_", any other character outside
/// [a-z0-9_.-] -> '-', and the result is cut (from the left) to `room`.
inline std::string spell_base_image(std::string_view base_image, std::size_t room = versioned_base_length) {
    std::string s;
    s.reserve(base_image.size() + 16);
    for (char c : base_image) {
        if (c == '/') s += "_s_";
        else if (c == ':') s += "_t_";
        else if (c == '@') s += "_a_";
        else if (c >= 'A' && c <= 'Z') s += static_cast<char>(c - 'A' + 'a');
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-') s += c;
        else s += '-';
    }
    const std::size_t keep = std::min(room, versioned_base_length);
    if (s.size() > keep) s.erase(0, s.size() - keep);
    return s;
}

/// `{prefix}{version}_{spelled base image}`, at most 128 characters.
inline std::string versioned_tag(std::string_view prefix, std::string_view version, std::string_view base_image) {
    check_version(version);
    const std::string head = fmt::format("{}{}_", prefix, version);
    return head + spell_base_image(base_image, max_tag_length - head.size());
}

/// `{prefix}{version}_{short lock hash}`.
inline std::string lock_tag(std::string_view prefix, std::string_view version, const digest& lock_hash) {
    check_version(version);
    return fmt::format("{}{}_{}", prefix, version, base36_shorten(lock_hash));
}

/// `{lock tag}_{short source hash}`.
inline std::string source_tag(std::string_view lock, const digest& source_hash) {
    return fmt::format("{}_{}", lock, base36_shorten(source_hash));
}

}  // namespace rtb::tags
