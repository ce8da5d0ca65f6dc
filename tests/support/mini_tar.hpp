// A minimal ustar writer for tests that need a small build context (regular
// files only), and a body reader that streams it in small pieces. The real
// context packer is rtb/context's.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>

#include <fmt/format.h>

namespace rtb::test {

/// A tar of `files` (path -> content), mode 0644, mtime 0, owner 0.
inline std::string mini_tar(const std::map<std::string, std::string>& files) {
    std::string out;
    for (const auto& [path, content] : files) {
        char h[512] = {};
        std::memcpy(h, path.data(), std::min<std::size_t>(path.size(), 99));
        std::memcpy(h + 100, "0000644", 7);
        std::memcpy(h + 108, "0000000", 7);
        std::memcpy(h + 116, "0000000", 7);
        const auto size = fmt::format("{:011o}", content.size());
        std::memcpy(h + 124, size.data(), 11);
        std::memcpy(h + 136, "00000000000", 11);
        h[156] = '0';
        std::memcpy(h + 257, "ustar", 6);
        std::memcpy(h + 263, "00", 2);
        std::memset(h + 148, ' ', 8);
        unsigned sum = 0;
        for (unsigned char c : h) sum += c;
        const auto chk = fmt::format("{:06o}", sum);
        std::memcpy(h + 148, chk.data(), 6);
        h[154] = '\0';
        h[155] = ' ';
        out.append(h, 512);
        out += content;
        out.append((512 - content.size() % 512) % 512, '\0');
    }
    out.append(1024, '\0');
    return out;
}

/// A body reader over `bytes`, at most `piece` bytes a call.
inline auto reader_over(std::string bytes, std::size_t piece = 4096) {
    auto state = std::make_shared<std::pair<std::string, std::size_t>>(std::move(bytes), 0);
    return [state, piece](std::span<std::byte> buf) -> std::size_t {
        auto& [data, at] = *state;
        const auto n = std::min({buf.size(), piece, data.size() - at});
        std::memcpy(buf.data(), data.data() + at, n);
        at += n;
        return n;
    };
}

}  // namespace rtb::test
