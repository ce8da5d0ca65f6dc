// The deterministic context tar, as a pull-style ByteSource: same entries and
// content give the same bytes whatever the mtimes, owners, umask, creation
// order or locale. Written by libarchive (POSIX pax, ustar headers with PAX
// extended headers only where a name or value needs one).
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <charconv>
#include <clocale>
#include <cstdint>
#include <cstdlib>
#include <locale.h>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "rtb/context/build_context.hpp"
#include "rtb/context/byte_source.hpp"
#include "rtb/context/detail/sent_files_check.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"

namespace rtb {

struct tar_options {
    /// Every entry's modification time (seconds since the epoch).
    std::int64_t mtime = 0;

    /// mtime from SOURCE_DATE_EPOCH when set (reproducible-builds.org's
    /// convention), else 0. Throws invalid_argument for a value that is not
    /// a non-negative number of seconds.
    static tar_options from_environment() {
        tar_options o;
        if (const char* v = std::getenv("SOURCE_DATE_EPOCH"); v && *v) {
            const std::string_view s(v);
            std::int64_t t = 0;
            const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), t);
            if (ec != std::errc() || p != s.data() + s.size() || t < 0 || t > 077777777777)
                throw error(errc::invalid_argument,
                            fmt::format("SOURCE_DATE_EPOCH={} is not a number of seconds since 1970 (0 to 8589934591)",
                                        detail::printable(s)));
            o.mtime = t;
        }
        return o;
    }
};

/// Streams a build context as a tar:
///  - entries in bytewise path order, directories before their contents;
///  - regular files 0644, or 0755 when any execute bit was set; directories
///    0755; symlinks 0777 with their target as stored;
///  - uid/gid 0, no user or group names, mtime from tar_options, no atime,
///    ctime, xattrs or hard links (each file is sent whole);
///  - ustar headers; a PAX extended header for names or link targets over
///    ustar's limits or not ASCII (in UTF-8, or marked binary when a name is
///    not valid UTF-8), and for sizes of 8 GiB or more.
/// Reads files only as the consumer pulls: memory stays bounded by one
/// read chunk whatever the context's size. Throws io_error naming a file that
/// cannot be read or that changes size while it is being packed.
///
/// When the context carries what the tags hashed (build_context::
/// send_as_hashed), each file's bytes are checked as they are read (size,
/// XXH3-128), and a file changed, added or removed since throws
/// errc::source_changed. The check of a file ends before the stream hands
/// out its last bytes, and the check that no hashed file is missing before
/// the archive's end: a consumer never receives a complete archive holding
/// a changed file. A consumer that stops on the error (and aborts its
/// upload) leaves the engine with a truncated context, which it refuses.
class tar_stream {
public:
    explicit tar_stream(const build_context& context, tar_options options = tar_options::from_environment())
        : tar_stream(context.snapshot(), options) {}
    tar_stream(std::shared_ptr<const context_snapshot> snapshot, tar_options options);

    tar_stream(tar_stream&&) noexcept = default;
    tar_stream& operator=(tar_stream&&) noexcept = default;

    std::size_t read(std::span<std::byte> buf);

    /// Bytes handed out so far.
    std::uint64_t position() const noexcept { return state_->out_total; }

private:
    static constexpr std::size_t chunk = 256 * 1024;
    struct state {
        std::shared_ptr<const context_snapshot> snap;
        tar_options options;
        struct archive_deleter {
            void operator()(struct archive* a) const noexcept { archive_write_free(a); }
        };
        std::unique_ptr<struct archive, archive_deleter> archive;
        detail::byte_fifo out;
        std::size_t next = 0;            // next entry to start
        detail::unique_fd file;          // the file being copied
        std::uint64_t remaining = 0;     // its bytes still to copy
        std::size_t file_entry = 0;
        std::unique_ptr<char[]> buffer;
        std::optional<detail::sent_files_check> check;  // built with the snapshot
        bool finished = false;
        bool failed = false;
        std::uint64_t out_total = 0;
        // libarchive may still write (end-of-entry padding) while it is
        // freed: free it while the output buffer is alive.
        ~state() { archive.reset(); }
    };
    void step();
    [[noreturn]] void fail_archive(std::string_view what);
    std::unique_ptr<state> state_;
};
static_assert(ByteSource<tar_stream>);

// ---------------------------------------------------------------------------

namespace detail {

/// Runs libarchive calls under the C.UTF-8 locale on this thread only, so
/// its name conversions (and hence the bytes) never depend on the caller's
/// locale. The process-wide locale is left alone.
class utf8_locale_scope {
public:
    utf8_locale_scope() {
        static const locale_t utf8 = [] {
            for (const char* name : {"C.UTF-8", "C.utf8", "en_US.UTF-8"})
                if (locale_t l = ::newlocale(LC_ALL_MASK, name, static_cast<locale_t>(nullptr))) return l;
            return static_cast<locale_t>(nullptr);
        }();
        if (!utf8)
            throw error(errc::unsupported_version,
                        "no UTF-8 locale (C.UTF-8) is available: rtb needs one to write tar names deterministically");
        old_ = ::uselocale(utf8);
    }
    ~utf8_locale_scope() { ::uselocale(old_); }
    utf8_locale_scope(const utf8_locale_scope&) = delete;
    utf8_locale_scope& operator=(const utf8_locale_scope&) = delete;

private:
    locale_t old_;
};

}  // namespace detail

inline tar_stream::tar_stream(std::shared_ptr<const context_snapshot> snapshot, tar_options options)
    : state_(std::make_unique<state>()) {
    state_->snap = std::move(snapshot);
    state_->check.emplace(*state_->snap);
    state_->options = options;
    state_->buffer = std::make_unique_for_overwrite<char[]>(chunk + 1);
    detail::utf8_locale_scope locale;
    state_->archive.reset(archive_write_new());
    struct archive* a = state_->archive.get();
    if (!a) throw error(errc::io_error, "libarchive: out of memory");
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK) fail_archive("select the pax format");
    // No blocking: the stream ends right after the two zero end blocks.
    if (archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK) fail_archive("set the block size");
    auto write_cb = [](struct archive*, void* self, const void* data, std::size_t n) -> la_ssize_t {
        auto* s = static_cast<state*>(self);
        s->out.append(data, n);
        return static_cast<la_ssize_t>(n);
    };
    if (archive_write_open2(a, state_.get(), nullptr, write_cb, nullptr, nullptr) != ARCHIVE_OK)
        fail_archive("open the archive");
}

inline void tar_stream::fail_archive(std::string_view what) {
    const char* msg = state_->archive ? archive_error_string(state_->archive.get()) : nullptr;
    throw error(errc::io_error, fmt::format("libarchive: cannot {}: {}", what, msg ? msg : "unknown error"));
}

inline std::size_t tar_stream::read(std::span<std::byte> buf) {
    if (buf.empty()) return 0;
    if (state_->failed) throw error(errc::io_error, "the context tar stream failed earlier and cannot continue");
    try {
        while (state_->out.empty() && !state_->finished) step();
    } catch (...) {
        state_->failed = true;
        throw;
    }
    const auto n = state_->out.take(buf);
    state_->out_total += n;
    return n;
}

inline void tar_stream::step() {
    state& s = *state_;
    const auto& entries = s.snap->entries;
    detail::utf8_locale_scope locale;
    struct archive* a = s.archive.get();

    if (s.file) {  // copy the next chunk of the current file
        const auto& e = entries[s.file_entry];
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, s.remaining + 1));
        ssize_t n;
        do n = ::read(s.file.get(), s.buffer.get(), want);
        while (n < 0 && errno == EINTR);
        if (n < 0) detail::throw_io("read", detail::context_file_display(*s.snap, e));
        if (static_cast<std::uint64_t>(n) > s.remaining || (n == 0 && s.remaining > 0)) {
            s.check->changed_while_sent(e);
            throw error(errc::io_error, fmt::format("{} changed size while it was being packed",
                                                    detail::printable(detail::context_file_display(*s.snap, e))));
        }
        s.check->update(std::as_bytes(std::span(s.buffer.get(), static_cast<std::size_t>(n))));
        if (n > 0 && archive_write_data(a, s.buffer.get(), static_cast<std::size_t>(n)) != n)
            fail_archive("write data");
        s.remaining -= static_cast<std::uint64_t>(n);
        // Asking for one byte more than is left tells growth from the end
        // without an extra read for most files: a short read that leaves
        // nothing to copy is the end. The file is checked here, in the step
        // that wrote its last bytes: they are not handed out unless it passes.
        if (s.remaining == 0 && static_cast<std::size_t>(n) < want) {
            s.file.reset();
            s.check->finish_file();
        }
        return;
    }
    if (s.next == entries.size()) {
        s.check->finish_all();  // before the end blocks: no complete archive without every hashed file
        if (archive_write_close(a) != ARCHIVE_OK) fail_archive("finish the archive");
        s.finished = true;
        return;
    }

    const auto& e = entries[s.next];
    const std::size_t index = s.next++;
    struct entry_deleter {
        void operator()(struct archive_entry* x) const noexcept { archive_entry_free(x); }
    };
    std::unique_ptr<struct archive_entry, entry_deleter> h(archive_entry_new2(a));
    if (!h) throw error(errc::io_error, "libarchive: out of memory");
    archive_entry_copy_pathname(h.get(), e.path.c_str());
    archive_entry_set_mtime(h.get(), static_cast<time_t>(s.options.mtime), 0);
    archive_entry_set_uid(h.get(), 0);
    archive_entry_set_gid(h.get(), 0);
    std::uint64_t size = 0;
    std::string_view bytes;
    switch (e.kind) {
        case entry_kind::directory:
            archive_entry_set_filetype(h.get(), AE_IFDIR);
            archive_entry_set_perm(h.get(), 0755);
            break;
        case entry_kind::symlink:
            s.check->link(e);
            archive_entry_set_filetype(h.get(), AE_IFLNK);
            archive_entry_set_perm(h.get(), 0777);
            archive_entry_copy_symlink(h.get(), e.link_target.c_str());
            break;
        case entry_kind::file:
            archive_entry_set_filetype(h.get(), AE_IFREG);
            archive_entry_set_perm(h.get(), e.executable ? 0755 : 0644);
            if (e.from == content_from::memory) {
                bytes = *e.bytes;
                size = bytes.size();
            } else {
                struct stat st {};
                s.check->before_open(e);
                try {
                    s.file = detail::open_context_file(*s.snap, e, st);
                } catch (const error&) {
                    s.check->open_failed(e);
                    throw;
                }
                s.file_entry = index;
                size = static_cast<std::uint64_t>(st.st_size);
                s.remaining = size;
                s.check->start(e, size);
                ::posix_fadvise(s.file.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
            }
            break;
    }
    archive_entry_set_size(h.get(), static_cast<la_int64_t>(size));
    const int r = archive_write_header(a, h.get());
    // ARCHIVE_WARN: a name that is not valid UTF-8 was written as binary (hdrcharset=BINARY).
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) fail_archive(fmt::format("write the header of {}", detail::printable(e.path)));
    if (!bytes.empty() && archive_write_data(a, bytes.data(), bytes.size()) != static_cast<la_ssize_t>(bytes.size()))
        fail_archive("write data");
}

}  // namespace rtb
