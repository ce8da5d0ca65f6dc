// Where a local engine keeps its data, remembered between rtb processes.
//
// Asking costs a GET /info, which Podman answers slowly (a third of a second
// here: it gathers storage statistics), and every `rtb build` asks it again
// for its storage check. The answer belongs to one engine process, and an
// engine that restarts (perhaps with another data root) creates its socket
// again: a new inode and change time. So an answer is kept for the socket's
// identity (device, inode, change time) and path, and is only reused while
// the same socket file is there.
//
// The file is hostile input like any other: read with a bound, every field
// checked, anything odd ignored (the engine is then asked again). Writing is
// best effort (a temp file renamed over the old one): it only saves time.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rtb/detail/posix.hpp"

namespace rtb::detail {

/// The identity of a unix socket file: a restarted engine makes a new one.
struct socket_identity {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::int64_t ctime_ns = 0;
    friend bool operator==(const socket_identity&, const socket_identity&) = default;
};

/// The identity of the socket at `path`, or nothing when it is not a socket.
inline std::optional<socket_identity> identify_socket(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return std::nullopt;
    return socket_identity{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                           static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec};
}

/// One remembered answer.
struct engine_root_entry {
    std::string socket;
    socket_identity id;
    std::filesystem::path root;
};

/// The memo's format: a header line, then per entry five fields, each ended
/// by a NUL byte (paths may hold any other byte): device, inode, change time
/// (decimal), the socket's path, the data root (absolute).
inline constexpr std::string_view engine_root_memo_header = "rtb engine data roots 1\n";
inline constexpr std::size_t engine_root_memo_max_bytes = 64 * 1024;
inline constexpr std::size_t engine_root_memo_max_entries = 32;

/// The entries of a memo's text; an empty list for anything malformed. Pure.
inline std::vector<engine_root_entry> parse_engine_root_memo(std::string_view text) {
    std::vector<engine_root_entry> out;
    if (text.size() > engine_root_memo_max_bytes || !text.starts_with(engine_root_memo_header)) return {};
    text.remove_prefix(engine_root_memo_header.size());
    auto field = [&](std::string_view& f) {
        const auto end = text.find('\0');
        if (end == std::string_view::npos) return false;
        f = text.substr(0, end);
        text.remove_prefix(end + 1);
        return true;
    };
    auto number = [](std::string_view f, auto& value) {
        const auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), value);
        return ec == std::errc{} && p == f.data() + f.size() && !f.empty();
    };
    while (!text.empty()) {
        std::string_view dev, ino, ctime, socket, root;
        engine_root_entry e;
        if (!field(dev) || !field(ino) || !field(ctime) || !field(socket) || !field(root)) return {};
        if (!number(dev, e.id.device) || !number(ino, e.id.inode) || !number(ctime, e.id.ctime_ns)) return {};
        if (socket.empty() || root.empty() || root.front() != '/') return {};
        e.socket = std::string(socket);
        e.root = std::filesystem::path(std::string(root));
        out.push_back(std::move(e));
        if (out.size() > engine_root_memo_max_entries) return {};
    }
    return out;
}

/// A memo's text for `entries` (the last engine_root_memo_max_entries). Pure.
inline std::string format_engine_root_memo(const std::vector<engine_root_entry>& entries) {
    std::string out(engine_root_memo_header);
    const std::size_t first =
        entries.size() > engine_root_memo_max_entries ? entries.size() - engine_root_memo_max_entries : 0;
    for (std::size_t i = first; i < entries.size(); ++i) {
        const auto& e = entries[i];
        for (const auto& f : {std::to_string(e.id.device), std::to_string(e.id.inode), std::to_string(e.id.ctime_ns),
                              e.socket, e.root.string()}) {
            out += f;
            out += '\0';
        }
    }
    return out;
}

/// The memo file's entries (none when it is missing, too large or malformed).
inline std::vector<engine_root_entry> read_engine_root_memo(const std::filesystem::path& file) {
    const unique_fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<std::uint64_t>(st.st_size) > engine_root_memo_max_bytes)
        return {};
    std::string text(static_cast<std::size_t>(st.st_size) + 1, '\0');  // one more: a file that grew is refused
    std::size_t got = 0;
    while (got < text.size()) {
        const auto n = ::read(fd.get(), text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    if (got > static_cast<std::size_t>(st.st_size)) return {};
    text.resize(got);
    return parse_engine_root_memo(text);
}

/// The remembered data root of the engine on `socket`, while its socket is the
/// one the answer came through.
inline std::optional<std::filesystem::path> remembered_engine_root(const std::filesystem::path& file,
                                                                   const std::string& socket,
                                                                   const socket_identity& id) {
    for (const auto& e : read_engine_root_memo(file))
        if (e.socket == socket && e.id == id) return e.root;
    return std::nullopt;
}

/// Remembers `root` for the engine on `socket` (replacing what was kept for
/// that socket). Best effort: a failure leaves the memo as it was.
inline void remember_engine_root(const std::filesystem::path& file, const std::string& socket,
                                 const socket_identity& id, const std::filesystem::path& root) noexcept {
    try {
        if (socket.find('\0') != std::string::npos || root.string().find('\0') != std::string::npos) return;
        auto entries = read_engine_root_memo(file);
        std::erase_if(entries, [&](const engine_root_entry& e) { return e.socket == socket; });
        entries.push_back({socket, id, root});
        const std::string text = format_engine_root_memo(entries);
        std::error_code ec;
        std::filesystem::create_directories(file.parent_path(), ec);
        static std::atomic<unsigned> writes{0};  // a name of its own per writer, threads included
        const std::string tmp = file.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(++writes);
        {
            const unique_fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644));
            if (!out) return;
            if (write_all(out.get(), text.data(), text.size()) != 0) {
                ::unlink(tmp.c_str());
                return;
            }
        }
        if (::rename(tmp.c_str(), file.c_str()) != 0) ::unlink(tmp.c_str());
    } catch (...) {
        // only an accelerator
    }
}

}  // namespace rtb::detail
