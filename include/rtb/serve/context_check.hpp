// Checking an uploaded build context before anything builds from it: the
// service receives a tar (gzip-compressed or not) from a client it does not
// trust. Every entry is checked (no absolute paths, no "..", no links out of
// the root however they chain, nothing written through a link, no devices,
// no sparse files, bounded counts and sizes, gzip bombs cut off by the bytes
// they expand to, and the size limit counted on what the clean tar will
// hold), and a clean tar of the checked entries is written, so the engine
// only ever sees what was checked.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/context/byte_source.hpp"
#include "rtb/context/tar_stream.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/serve/context_tree.hpp"

namespace rtb::serve {

/// Limits for one uploaded context.
struct context_limits {
    std::uint64_t max_entries = 100'000;
    /// Both the tar's size once decompressed (headers and contents: a gzip
    /// bomb stops here, however well it compresses) and the contents the
    /// clean tar will hold, counted from each entry's size before it is
    /// copied (what is written, not what was sent).
    std::uint64_t max_bytes = std::uint64_t{2} << 30;
    std::size_t max_path = 4096;
    /// The Dockerfile is kept in memory for the checks that read it.
    std::size_t max_dockerfile = std::size_t{1} << 20;
};

/// What a checked context held.
struct context_summary {
    std::uint64_t entries = 0;
    std::uint64_t content_bytes = 0;  ///< regular files' contents (what the clean tar holds)
    std::uint64_t tar_bytes = 0;      ///< the decompressed input
    std::string dockerfile;           ///< the top-level Dockerfile's text
};

/// Where a clean tar's bytes go.
using byte_sink = std::function<void(std::string_view)>;

/// Reads the context tar (gzip or plain) from `input`, checks it, and writes a
/// clean tar (pax, owners 0, set-id bits dropped) to `out`. Throws
/// invalid_argument naming `what`, the entry and the rule:
/// "uploaded context: entry 3 '../etc/passwd' escapes the context root".
/// A context must hold a Dockerfile at its top.
template <ByteSource S>
context_summary check_context(S& input, const byte_sink& out, const context_limits& limits = {},
                              std::string_view what = "uploaded context");

/// The path an entry name stands for inside the context ("./a//b/" -> "a/b";
/// "." -> ""), or std::nullopt when it is absolute or leaves the root.
inline std::optional<std::string> context_relative_path(std::string_view name);

/// Whether a symbolic link at `link_path` pointing at `target` stays inside
/// the root when followed (lexically; an absolute target never does).
inline bool link_stays_inside(std::string_view link_path, std::string_view target);

// ---------------------------------------------------------------------------

namespace detail {

/// Splits on '/', drops "" and "." components; std::nullopt on a "..".
inline std::optional<std::vector<std::string_view>> clean_components(std::string_view p) {
    std::vector<std::string_view> parts;
    while (!p.empty()) {
        const auto slash = p.find('/');
        const auto part = p.substr(0, slash);
        if (part == "..") return std::nullopt;
        if (!part.empty() && part != ".") parts.push_back(part);
        if (slash == std::string_view::npos) break;
        p.remove_prefix(slash + 1);
    }
    return parts;
}

/// The input of libarchive: pulls compressed bytes from a ByteSource and
/// inflates them (gzip, several members allowed) or passes a plain tar
/// through, counting the bytes produced against the limit.
template <ByteSource S>
class inflating_reader {
public:
    inflating_reader(S& source, std::uint64_t limit) : source_(source), limit_(limit) {
        in_.resize(64 * 1024);
        out_.resize(256 * 1024);
    }
    ~inflating_reader() {
        if (inflating_) inflateEnd(&z_);
    }
    inflating_reader(const inflating_reader&) = delete;
    inflating_reader& operator=(const inflating_reader&) = delete;

    /// The next decompressed bytes; empty at the end. Throws invalid_argument.
    std::string_view next() {
        if (!started_) start();
        if (!gzip_) {
            const std::size_t n = pending_.empty() ? source_.read(as_bytes(out_)) : take_pending();
            return count(n);
        }
        while (true) {
            if (z_.avail_in == 0 && !eof_) refill();
            if (z_.avail_in == 0 && eof_) {
                if (!member_done_) fail_input("the gzip stream is truncated");
                return {};
            }
            if (member_done_) {  // another member follows
                if (inflateReset(&z_) != Z_OK) fail_input("cannot restart gzip decoding");
                member_done_ = false;
            }
            z_.next_out = reinterpret_cast<Bytef*>(out_.data());
            z_.avail_out = static_cast<uInt>(out_.size());
            const int r = inflate(&z_, Z_NO_FLUSH);
            if (r == Z_STREAM_END) member_done_ = true;
            else if (r != Z_OK && r != Z_BUF_ERROR)
                fail_input(fmt::format("the gzip data is corrupt ({})", z_.msg ? z_.msg : "inflate failed"));
            const std::size_t n = out_.size() - z_.avail_out;
            if (n > 0) return count(n);
            if (r == Z_BUF_ERROR && z_.avail_in > 0) fail_input("the gzip data is corrupt");
        }
    }
    std::uint64_t produced() const noexcept { return produced_; }
    /// Set when next() failed inside a libarchive callback.
    std::optional<error> failure;

private:
    static std::span<std::byte> as_bytes(std::string& s) { return {reinterpret_cast<std::byte*>(s.data()), s.size()}; }
    void start() {
        started_ = true;
        // Peek at two bytes to tell gzip (1f 8b) from a plain tar.
        std::size_t have = 0;
        while (have < 2) {
            const auto n = source_.read(as_bytes(in_).subspan(have, 2 - have));
            if (n == 0) break;
            have += n;
        }
        if (have == 2 && static_cast<unsigned char>(in_[0]) == 0x1f && static_cast<unsigned char>(in_[1]) == 0x8b) {
            gzip_ = true;
            z_ = {};
            if (inflateInit2(&z_, 15 + 16) != Z_OK) throw error(errc::io_error, "zlib: cannot start decoding");
            inflating_ = true;
            z_.next_in = reinterpret_cast<Bytef*>(in_.data());
            z_.avail_in = 2;
        } else {
            pending_.assign(in_.data(), have);
            if (have < 2) eof_ = true;
        }
    }
    void refill() {
        if (z_.avail_in > 0 || eof_) return;
        const auto n = source_.read(as_bytes(in_));
        if (n == 0) eof_ = true;
        z_.next_in = reinterpret_cast<Bytef*>(in_.data());
        z_.avail_in = static_cast<uInt>(n);
        // Bytes after a finished member that are not another member: zlib
        // reports them as an error on the next inflate().
    }
    std::size_t take_pending() {
        const std::size_t n = pending_.size();
        std::memcpy(out_.data(), pending_.data(), n);
        pending_.clear();
        return n;
    }
    std::string_view count(std::size_t n) {
        produced_ += n;
        if (produced_ > limit_)
            throw error(errc::invalid_argument,
                        fmt::format("expands to more than {} bytes (the limit for a context; a gzip or tar bomb?)", limit_));
        return {out_.data(), n};
    }
    [[noreturn]] void fail_input(std::string_view why) { throw error(errc::invalid_argument, std::string(why)); }

    S& source_;
    std::uint64_t limit_;
    std::string in_, out_, pending_;
    z_stream z_{};
    bool started_ = false, gzip_ = false, inflating_ = false, eof_ = false, member_done_ = false;
    std::uint64_t produced_ = 0;
};

struct archive_read_deleter {
    void operator()(struct archive* a) const noexcept { archive_read_free(a); }
};
struct archive_write_deleter {
    void operator()(struct archive* a) const noexcept { archive_write_free(a); }
};
struct archive_entry_deleter {
    void operator()(struct archive_entry* e) const noexcept { archive_entry_free(e); }
};

}  // namespace detail

inline std::optional<std::string> context_relative_path(std::string_view name) {
    if (name.starts_with('/')) return std::nullopt;
    const auto parts = detail::clean_components(name);
    if (!parts) return std::nullopt;
    std::string out;
    for (const auto p : *parts) {
        if (!out.empty()) out += '/';
        out.append(p);
    }
    return out;
}

inline bool link_stays_inside(std::string_view link_path, std::string_view target) {
    if (target.empty() || target.starts_with('/')) return false;
    // Walk from the link's directory; the depth must never go below the root.
    long depth = 0;
    auto count = [&depth](std::string_view p, bool allow_up) {
        while (!p.empty()) {
            const auto slash = p.find('/');
            const auto part = p.substr(0, slash);
            if (part == "..") {
                if (!allow_up || --depth < 0) return false;
            } else if (!part.empty() && part != ".") {
                ++depth;
            }
            if (slash == std::string_view::npos) break;
            p.remove_prefix(slash + 1);
        }
        return true;
    };
    const auto dir_end = link_path.rfind('/');
    if (dir_end != std::string_view::npos && !count(link_path.substr(0, dir_end), false)) return false;
    return count(target, true);
}

template <ByteSource S>
context_summary check_context(S& input, const byte_sink& out, const context_limits& limits, std::string_view what) {
    using rtb::detail::printable;
    rtb::detail::utf8_locale_scope locale;
    detail::inflating_reader<S> reader(input, limits.max_bytes);
    context_summary summary;

    // The callbacks' states outlive the archives (declared first, destroyed
    // last): freeing a writer flushes through its callback, also while an
    // exception unwinds.
    struct read_state {
        detail::inflating_reader<S>* reader;
        std::string_view last;
    } rs{&reader, {}};
    struct write_state {
        const byte_sink* out;
        std::exception_ptr failure;  // the sink's, rethrown once libarchive returns
        bool discard = false;        // a refused context: its tar's trailer goes nowhere
    } ws{&out, {}};
    std::unique_ptr<struct archive, detail::archive_read_deleter> in(archive_read_new());
    std::unique_ptr<struct archive, detail::archive_write_deleter> w(archive_write_new());
    if (!in || !w) throw error(errc::io_error, "libarchive: out of memory");
    struct discard_on_unwind {
        write_state& state;
        int pending = std::uncaught_exceptions();
        ~discard_on_unwind() {
            if (std::uncaught_exceptions() > pending) state.discard = true;
        }
    } discard_guard{ws};
    archive_read_support_format_tar(in.get());
    archive_read_support_filter_none(in.get());

    // No exception may cross libarchive's C frames: each callback catches and
    // reports failure, and the error is thrown again on our side.
    auto read_cb = [](struct archive* a, void* self, const void** buffer) -> la_ssize_t {
        auto* st = static_cast<read_state*>(self);
        try {
            st->last = st->reader->next();
        } catch (const error& e) {
            st->reader->failure = e;
            archive_set_error(a, EINVAL, "%s", e.what());
            return -1;
        } catch (const std::exception& e) {
            st->reader->failure = error(errc::io_error, e.what());
            archive_set_error(a, EIO, "%s", e.what());
            return -1;
        }
        *buffer = st->last.data();
        return static_cast<la_ssize_t>(st->last.size());
    };
    auto fail = [&](std::string_view why) -> void {
        throw error(errc::invalid_argument, fmt::format("{}: {}", what, why));
    };
    // A libarchive failure: ours (limits, gzip) if the reader threw, else
    // libarchive's own words (truncated, not a tar).
    auto fail_read = [&](std::string_view doing) -> void {
        if (reader.failure) fail(reader.failure->what());
        const char* m = archive_error_string(in.get());
        fail(fmt::format("{}: {}", doing, m ? m : "not a valid tar archive"));
    };
    if (archive_read_open(in.get(), &rs, nullptr, read_cb, nullptr) != ARCHIVE_OK) fail_read("cannot read it as a tar archive");

    auto write_cb = [](struct archive*, void* self, const void* data, std::size_t n) -> la_ssize_t {
        auto* st = static_cast<write_state*>(self);
        if (st->discard) return static_cast<la_ssize_t>(n);
        try {
            st->out->operator()(std::string_view(static_cast<const char*>(data), n));
        } catch (...) {
            // Reported as written: a failed write would leave libarchive in
            // its fatal state, where freeing the writer leaks its buffers
            // (found by LSan). The error is thrown once libarchive returns.
            st->failure = std::current_exception();
            st->discard = true;
        }
        return static_cast<la_ssize_t>(n);
    };
    auto check_sink = [&] {
        if (ws.failure) std::rethrow_exception(ws.failure);
    };
    auto fail_write = [&](std::string_view doing) -> void {
        check_sink();
        const char* m = archive_error_string(w.get());
        throw error(errc::io_error, fmt::format("{}: {}: {}", what, doing, m ? m : "libarchive failed"));
    };
    archive_write_set_format_pax_restricted(w.get());
    archive_write_set_bytes_per_block(w.get(), 0);
    if (archive_write_open2(w.get(), &ws, nullptr, write_cb, nullptr, nullptr) != ARCHIVE_OK)
        fail_write("cannot start the clean tar");

    std::set<std::string, std::less<>> files;  // regular files seen: hard link targets
    context_tree tree;                          // what unpacking will make, links judged on it
    bool has_dockerfile = false;
    std::string buffer(256 * 1024, '\0');
    for (std::uint64_t index = 1;; ++index) {
        struct archive_entry* e = nullptr;
        const int r = archive_read_next_header(in.get(), &e);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) fail_read(fmt::format("entry {}", index));
        const char* raw_name = archive_entry_pathname(e);
        const std::string name = raw_name ? raw_name : "";
        const auto where = fmt::format("entry {} {}", index, printable(name.substr(0, 300)));
        if (index > limits.max_entries)
            fail(fmt::format("more than {} entries (the limit for a context; a tar bomb?)", limits.max_entries));
        if (name.empty()) fail(fmt::format("{} has an empty name", where));
        if (name.size() > limits.max_path) fail(fmt::format("{} has a name longer than {} bytes", where, limits.max_path));
        if (name.starts_with('/')) fail(fmt::format("{} is an absolute path", where));
        const auto path = context_relative_path(name);
        if (!path) fail(fmt::format("{} escapes the context root", where));
        const auto type = archive_entry_filetype(e);
        const char* hardlink = archive_entry_hardlink(e);
        if (path->empty()) {
            if (type != AE_IFDIR || hardlink) fail(fmt::format("{} names the context root but is not a directory", where));
            continue;  // "." itself: nothing to write
        }
        // A sparse file's header claims its expanded size while the upload
        // holds only its data blocks (3 GiB from a few hundred bytes); no
        // docker client sends one.
        if (archive_entry_sparse_count(e) > 0)
            fail(fmt::format("{} is a sparse file; a context holds plain files (no docker client sends sparse "
                             "entries)",
                             where));
        const auto node = hardlink || type == AE_IFREG ? context_tree::kind::file
                          : type == AE_IFLNK          ? context_tree::kind::symlink
                                                      : context_tree::kind::directory;
        if (hardlink || type == AE_IFREG || type == AE_IFDIR || type == AE_IFLNK) {
            const char* target = type == AE_IFLNK ? archive_entry_symlink(e) : nullptr;
            if (const auto why = tree.add(*path, node, target ? target : "", index)) fail(fmt::format("{} {}", where, *why));
        }
        if (*path == "Dockerfile" && (hardlink || type != AE_IFREG))
            fail(fmt::format("{} is the Dockerfile but not a regular file (a link would make the engine read "
                             "another file than the one checked)",
                             where));
        std::unique_ptr<struct archive_entry, detail::archive_entry_deleter> clean(archive_entry_new2(w.get()));
        archive_entry_copy_pathname(clean.get(), path->c_str());
        archive_entry_set_mtime(clean.get(), archive_entry_mtime(e), 0);
        archive_entry_set_uid(clean.get(), 0);
        archive_entry_set_gid(clean.get(), 0);
        archive_entry_set_perm(clean.get(), archive_entry_perm(e) & 0777);
        std::int64_t size = 0;
        if (hardlink) {
            const auto target = context_relative_path(hardlink);
            if (!target || std::string_view(hardlink).starts_with('/'))
                fail(fmt::format("{} is a hard link to {}, outside the context root", where, printable(hardlink)));
            if (!files.count(*target))
                fail(fmt::format("{} is a hard link to {}, which is not an earlier file of the context", where,
                                 printable(hardlink)));
            archive_entry_set_filetype(clean.get(), AE_IFREG);
            archive_entry_copy_hardlink(clean.get(), target->c_str());
        } else if (type == AE_IFREG) {
            size = archive_entry_size(e);
            if (size < 0) fail(fmt::format("{} has a negative size", where));
            // Counted before a byte is copied: what the clean tar will hold.
            if (static_cast<std::uint64_t>(size) > limits.max_bytes - std::min(limits.max_bytes, summary.content_bytes))
                fail(fmt::format("{} ({} bytes) would make the context larger than {} bytes (the limit for a "
                                 "context; a tar bomb?)",
                                 where, size, limits.max_bytes));
            if (*path == "Dockerfile" && static_cast<std::uint64_t>(size) > limits.max_dockerfile)
                fail(fmt::format("{} is a Dockerfile of {} bytes; at most {} are accepted", where, size,
                                 limits.max_dockerfile));
            archive_entry_set_filetype(clean.get(), AE_IFREG);
            files.insert(*path);
            if (*path == "Dockerfile") has_dockerfile = true;
        } else if (type == AE_IFDIR) {
            archive_entry_set_filetype(clean.get(), AE_IFDIR);
        } else if (type == AE_IFLNK) {
            const char* target = archive_entry_symlink(e);
            if (!target || !link_stays_inside(*path, target))
                fail(fmt::format("{} is a symbolic link to {}, outside the context root", where,
                                 printable(target ? target : "")));
            archive_entry_set_filetype(clean.get(), AE_IFLNK);
            archive_entry_copy_symlink(clean.get(), target);
        } else {
            fail(fmt::format("{} is a device, FIFO or socket; a context holds files, directories and links only", where));
        }
        archive_entry_set_size(clean.get(), size);
        if (archive_write_header(w.get(), clean.get()) < ARCHIVE_WARN) fail_write(fmt::format("cannot write {}", where));
        check_sink();
        std::int64_t copied = 0;
        while (size > 0) {
            const auto n = archive_read_data(in.get(), buffer.data(), buffer.size());
            if (n < 0) fail_read(fmt::format("{} (its contents)", where));
            if (n == 0) break;
            if (copied + n > size) fail(fmt::format("{} holds more than its {} bytes", where, size));
            if (archive_write_data(w.get(), buffer.data(), static_cast<std::size_t>(n)) != n)
                fail_write(fmt::format("cannot write {}", where));
            check_sink();
            if (*path == "Dockerfile") summary.dockerfile.append(buffer.data(), static_cast<std::size_t>(n));
            copied += n;
        }
        if (copied != size) fail(fmt::format("{} is truncated ({} of {} bytes)", where, copied, size));
        summary.content_bytes += static_cast<std::uint64_t>(size);
        ++summary.entries;
    }
    if (!has_dockerfile) fail("there is no Dockerfile at the top of the context");
    // Chains of links, judged once every link is known (a link may lead
    // through one that comes later in the tar).
    if (const auto out = tree.escaping_link())
        fail(fmt::format("entry {} {} is a symbolic link that {} when followed", out->index,
                         printable(out->path.substr(0, 300)), out->why));
    if (archive_write_close(w.get()) != ARCHIVE_OK) fail_write("cannot finish the clean tar");
    check_sink();
    summary.tar_bytes = reader.produced();
    return summary;
}

}  // namespace rtb::serve
