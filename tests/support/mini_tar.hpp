// A minimal ustar writer for tests that need a small build context or a
// hostile tar (any entry type, links, a lying size), and a body reader that streams it in small pieces. The real
// context packer is rtb/context's.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <map>
#include <memory>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace rtb::test {

/// A header block with its checksum written, then `data` padded to 512-byte blocks.
inline std::string finished_entry(char (&h)[512], std::string_view data) {
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    const auto chk = fmt::format("{:06o}", sum);
    std::memcpy(h + 148, chk.data(), 6);
    h[154] = '\0';
    std::string out(h, 512);
    out += data;
    out.append((512 - data.size() % 512) % 512, '\0');
    return out;
}

/// One ustar header + content; `type` '0' file, '1' hard link, '2' symlink,
/// '3' char device, '5' directory, '6' FIFO.
inline std::string tar_entry(std::string_view name, char type = '0', std::string_view content = {},
                             std::string_view link = {}, std::uint64_t declared_size = UINT64_MAX) {
    char h[512] = {};
    if (!name.empty()) std::copy_n(name.begin(), std::min<std::size_t>(name.size(), 100), h);
    std::memcpy(h + 100, "0000644", 7);
    std::memcpy(h + 108, "0000000", 7);
    std::memcpy(h + 116, "0000000", 7);
    const auto size = fmt::format("{:011o}", declared_size == UINT64_MAX ? content.size() : declared_size);
    std::memcpy(h + 124, size.data(), std::min<std::size_t>(size.size(), 11));
    std::memcpy(h + 136, "00000000000", 11);
    h[156] = type;
    if (!link.empty()) std::copy_n(link.begin(), std::min<std::size_t>(link.size(), 100), h + 157);
    std::memcpy(h + 257, "ustar", 6);
    std::memcpy(h + 263, "00", 2);
    return finished_entry(h, content);
}

/// An old-GNU sparse entry (type 'S'): `data` stored once, at `offset`, in
/// a file whose expanded size is `real_size` (the rest are holes). What GNU
/// tar --sparse writes; a few hundred bytes can claim gigabytes.
inline std::string gnu_sparse_entry(std::string_view name, std::uint64_t real_size, std::uint64_t offset,
                                    std::string_view data) {
    char h[512] = {};
    std::copy_n(name.begin(), std::min<std::size_t>(name.size(), 100), h);
    std::memcpy(h + 100, "0000644", 7);
    std::memcpy(h + 108, "0000000", 7);
    std::memcpy(h + 116, "0000000", 7);
    const auto size = fmt::format("{:011o}", data.size());
    std::memcpy(h + 124, size.data(), 11);
    std::memcpy(h + 136, "00000000000", 11);
    h[156] = 'S';
    std::memcpy(h + 257, "ustar  ", 8);  // the old GNU magic and version
    const auto off = fmt::format("{:011o}", offset), num = fmt::format("{:011o}", data.size());
    std::memcpy(h + 386, off.data(), 11);   // sparse map, first entry: offset ...
    std::memcpy(h + 398, num.data(), 11);   // ... and bytes
    const auto real = fmt::format("{:011o}", real_size);
    std::memcpy(h + 483, real.data(), 11);  // the expanded size
    return finished_entry(h, data);
}

/// A tar of `files` (path -> content), mode 0644, mtime 0, owner 0.
inline std::string mini_tar(const std::map<std::string, std::string>& files) {
    std::string out;
    for (const auto& [path, content] : files) out += tar_entry(path, '0', content);
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
