// Decoding a container's output as the Engine API sends it (GET
// /containers/{id}/logs, attach): for a container without a TTY, frames of
// an 8-byte header (stream: 1 stdout, 2 stderr, 3 the engine's own error;
// three zero bytes; the payload's length, big-endian) and the payload;
// with a TTY, the bytes as they are. Then the bytes cut into lines per
// stream. Both dockerd and Podman's compat API frame this way.
#pragma once

#include <array>
#include <chrono>
#include <charconv>
#include <deque>
#include <compare>
#include <optional>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"

namespace rtb {

/// Which of a container's streams some output came from.
enum class std_stream : std::uint8_t { in = 0, out = 1, err = 2 };

/// Splits the multiplexed stream into (stream, bytes) pieces as they arrive;
/// a frame's payload may come in several pieces. Never holds a frame whole:
/// a header claiming 4 GiB costs nothing until the bytes arrive.
class mux_decoder {
public:
    /// `tty`: the container has a TTY; there are no frames and every byte is stdout.
    explicit mux_decoder(bool tty = false) : tty_(tty) {}

    /// Feeds the next chunk (split anywhere); `sink(std_stream, std::string_view)`
    /// gets each payload piece. Throws parse_error on a header that is not
    /// one (the container has a TTY but was decoded as framed, or garbage),
    /// and server_error for a stream-3 frame: the engine's own error, sent
    /// in the middle of the logs.
    template <class Sink>
    void feed(std::string_view chunk, Sink&& sink) {
        if (tty_) {
            if (!chunk.empty()) emit(sink, std_stream::out, chunk, false);
            return;
        }
        while (!chunk.empty()) {
            if (remaining_ == 0) {
                const auto take = std::min(chunk.size(), header_.size() - header_len_);
                for (std::size_t i = 0; i < take; ++i) header_[header_len_++] = static_cast<unsigned char>(chunk[i]);
                chunk.remove_prefix(take);
                if (header_len_ < header_.size()) return;
                header_len_ = 0;
                start_frame();
                frame_start_ = true;
                if (remaining_ == 0) {
                    if (stream_ != 3) emit(sink, static_cast<std_stream>(stream_), {}, true);  // an empty entry
                    frame_start_ = false;
                    end_frame();
                }
                continue;
            }
            const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), remaining_));
            const auto piece = chunk.substr(0, take);
            chunk.remove_prefix(take);
            remaining_ -= take;
            if (stream_ == 3) {
                if (engine_error_.size() < 4096) engine_error_.append(piece.substr(0, 4096 - engine_error_.size()));
            } else {
                emit(sink, static_cast<std_stream>(stream_), piece, frame_start_);
            }
            frame_start_ = false;
            if (remaining_ == 0) end_frame();
        }
    }

    /// The stream ended: throws parse_error if it ended inside a frame.
    void finish() const {
        if (header_len_ != 0 || remaining_ != 0)
            throw error(errc::parse_error,
                        fmt::format("the container's log stream ended inside a frame ({} of 8 header bytes, {} payload "
                                    "bytes missing)",
                                    header_len_, remaining_));
    }

    /// Frames decoded so far (for tests and diagnostics).
    std::uint64_t frames() const noexcept { return frames_; }

private:
    /// Sinks take (stream, bytes), or (stream, bytes, first piece of a frame).
    template <class Sink>
    static void emit(Sink& sink, std_stream st, std::string_view piece, bool frame_start) {
        if constexpr (std::is_invocable_v<Sink&, std_stream, std::string_view, bool>) {
            sink(st, piece, frame_start);
        } else if (!piece.empty()) {
            sink(st, piece);
        }
    }

    void start_frame() {
        const auto s = header_[0];
        if (s > 3 || header_[1] != 0 || header_[2] != 0 || header_[3] != 0)
            throw error(errc::parse_error,
                        fmt::format("the container's log stream has an invalid frame header {:02x} {:02x} {:02x} {:02x} "
                                    "(is it a TTY container read as framed?)",
                                    header_[0], header_[1], header_[2], header_[3]));
        stream_ = s;
        remaining_ = (std::uint32_t{header_[4]} << 24) | (std::uint32_t{header_[5]} << 16) |
                     (std::uint32_t{header_[6]} << 8) | std::uint32_t{header_[7]};
        ++frames_;
    }
    void end_frame() {
        if (stream_ == 3) {
            std::string msg;
            msg.swap(engine_error_);
            while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
            throw error(errc::server_error, fmt::format("the engine reported an error in the log stream: {}",
                                                        detail::ref::quote(msg)));
        }
    }

    bool tty_;
    std::array<unsigned char, 8> header_{};
    std::size_t header_len_ = 0;
    std::uint64_t remaining_ = 0;
    std::uint8_t stream_ = 1;
    std::uint64_t frames_ = 0;
    bool frame_start_ = false;
    std::string engine_error_;
};

/// Cuts each stream's bytes into lines (without "\n" or "\r\n"). A line
/// longer than max_line comes out in max_line pieces, so a stream without
/// newlines cannot grow memory without bound.
class line_splitter {
public:
    static constexpr std::size_t default_max_line = std::size_t{1} << 20;
    explicit line_splitter(std::size_t max_line = default_max_line) : max_(max_line ? max_line : 1) {}

    /// `sink(std_stream, std::string_view line)` gets each complete line.
    template <class Sink>
    void feed(std_stream s, std::string_view bytes, Sink&& sink) {
        auto& pending = pending_[static_cast<std::size_t>(s) % 3];
        while (!bytes.empty()) {
            const auto nl = bytes.find('\n');
            const auto part = bytes.substr(0, nl);
            if (pending.size() + part.size() > max_) {
                const auto room = max_ - pending.size();
                pending.append(part.substr(0, room));
                sink(s, std::string_view(pending));
                pending.clear();
                bytes.remove_prefix(room);
                continue;
            }
            if (nl == std::string_view::npos) {
                pending.append(part);
                return;
            }
            if (pending.empty()) {
                emit(s, part, sink);
            } else {
                pending.append(part);
                emit(s, pending, sink);
                pending.clear();
            }
            bytes.remove_prefix(nl + 1);
        }
    }

    /// The stream ended: what is left of each stream without a final newline.
    template <class Sink>
    void finish(Sink&& sink) {
        for (std::size_t i = 0; i < pending_.size(); ++i) {
            if (pending_[i].empty()) continue;
            std::string last;
            last.swap(pending_[i]);
            emit(static_cast<std_stream>(i), last, sink);
        }
    }

private:
    template <class Sink>
    static void emit(std_stream s, std::string_view line, Sink& sink) {
        if (line.ends_with('\r')) line.remove_suffix(1);
        sink(s, line);
    }

    std::size_t max_;
    std::array<std::string, 3> pending_;
};

/// When a log entry was written, as the engine stamps it (timestamps=1).
struct log_time {
    std::int64_t seconds = 0;  ///< since the Unix epoch, UTC
    std::int32_t nanos = 0;
    friend auto operator<=>(const log_time&, const log_time&) = default;
};

/// Parses "2026-11-29T07:05:10.835807300Z" (RFC 3339, UTC, 0 to 9 fraction
/// digits: dockerd writes 9, Podman 4.3 none). std::nullopt otherwise.
inline std::optional<log_time> parse_log_time(std::string_view t) {
    auto num = [&](std::size_t at, std::size_t len, int& out) {
        if (at + len > t.size()) return false;
        for (std::size_t k = at; k < at + len; ++k)
            if (t[k] < '0' || t[k] > '9') return false;
        const auto r = std::from_chars(t.data() + at, t.data() + at + len, out);
        return r.ec == std::errc{} && r.ptr == t.data() + at + len;
    };
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    if (t.size() < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' || t.back() != 'Z')
        return std::nullopt;
    if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) || !num(17, 2, sec))
        return std::nullopt;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
    log_time out;
    const auto frac = t.substr(19, t.size() - 20);
    if (!frac.empty()) {
        if (frac[0] != '.' || frac.size() < 2 || frac.size() > 10) return std::nullopt;
        int n = 0;
        if (!num(20, frac.size() - 1, n)) return std::nullopt;
        for (std::size_t k = frac.size() - 1; k < 9; ++k) n *= 10;
        out.nanos = n;
    }
    // days from the civil date (Howard Hinnant's algorithm)
    const int yy = y - (mo <= 2);
    const int era = (yy >= 0 ? yy : yy - 399) / 400;
    const int yoe = yy - era * 400;
    const int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    const std::int64_t days = std::int64_t{era} * 146097 + doe - 719468;
    out.seconds = days * 86400 + h * 3600 + mi * 60 + sec;
    return out;
}

/// Splits the "TIMESTAMP " prefix off each frame of a timestamps=1 log
/// stream (one log entry per frame): `sink(std_stream, log_time, bytes,
/// bool entry_start)` gets the entry's pieces without it.
class timestamp_stripper {
public:
    template <class Sink>
    void feed(std_stream st, std::string_view piece, bool frame_start, Sink&& sink) {
        if (frame_start) {
            head_.clear();
            in_head_ = true;
        }
        if (in_head_) {
            const auto sp = piece.find(' ');
            head_.append(piece.substr(0, sp));
            if (head_.size() > 40)
                throw error(errc::parse_error, fmt::format("a timestamped log entry starts with {}, not a timestamp",
                                                           detail::ref::quote(head_.substr(0, 40))));
            if (sp == std::string_view::npos) return;
            const auto t = parse_log_time(head_);
            if (!t)
                throw error(errc::parse_error, fmt::format("a timestamped log entry starts with {}, not a timestamp",
                                                           detail::ref::quote(head_)));
            current_ = *t;
            in_head_ = false;
            piece.remove_prefix(sp + 1);
            sink(st, current_, piece, true);
            return;
        }
        if (!piece.empty()) sink(st, current_, piece, false);
    }

private:
    std::string head_;
    bool in_head_ = false;
    log_time current_;
};

/// What a catch-up read passes on. A follower that ended early has passed
/// on a prefix of the engine's log (its last entry perhaps only in part); a
/// second read of the entries stamped at or after since() returns, in the
/// same order, those of that prefix stamped then, followed by what the
/// follower missed. So the first entries of the catch-up that match the
/// follower's recent entries, in order, are skipped (a part-passed one only
/// as far as it went), and everything after is passed on: no byte twice,
/// none lost, whatever the order of the stamps (dockerd stamps stdout and
/// stderr on separate threads, so its log is not in stamp order).
///
/// Entries the follower saw more than `margin` + 1 s before its latest stamp
/// are forgotten (they precede since()), so memory holds only the last
/// seconds of output. What the follower missed must be stamped within
/// `margin` of the latest entry it saw, which the engines' write delay keeps.
class log_catch_up {
public:
    /// already_passed()'s answer for an entry passed on whole.
    static constexpr std::size_t whole = static_cast<std::size_t>(-1);

    explicit log_catch_up(std::chrono::seconds margin = std::chrono::seconds(2)) : margin_(margin.count()) {}

    /// An entry the follower began to pass on (call at each entry's start).
    void followed(std_stream st, log_time t) {
        if (!latest_ || *latest_ < t) latest_ = t;
        recent_.push_back({st, t, 0});
        const log_time keep_from{latest_->seconds - margin_ - 1, latest_->nanos};
        while (recent_.size() > 1 && recent_.front().at < keep_from) recent_.pop_front();
    }

    /// Bytes of the current entry the follower passed on.
    void followed_bytes(std::size_t n) {
        if (!recent_.empty()) recent_.back().bytes += n;
    }

    /// The `since` (whole seconds) of the catch-up read; std::nullopt when
    /// the follower saw nothing (then read everything).
    std::optional<std::int64_t> since() const {
        if (!latest_) return std::nullopt;
        return latest_->seconds - margin_;
    }

    /// Starts matching the catch-up read against what was followed.
    /// `follow_had_tail`: the follower started at a tail limit, so the
    /// catch-up (which has none) may first return entries the follower was
    /// never meant to show; those are skipped until its entries are matched.
    void begin_catch_up(bool follow_had_tail = false) {
        skip_unmatched_ = follow_had_tail;
        expected_.clear();
        if (const auto s = since())
            for (std::size_t i = 0; i < recent_.size(); ++i)
                if (recent_[i].at.seconds >= *s) {
                    expected_.push_back(recent_[i]);
                    // Only the follower's last entry can have been cut short.
                    if (i + 1 < recent_.size()) expected_.back().bytes = whole;
                }
        matched_ = 0;
    }

    /// How many bytes of a catch-up entry the follower passed on already
    /// (call at each entry's start): 0 for a new entry, `whole` for one it
    /// passed on whole, else the part it passed on before it was cut.
    std::size_t already_passed(std_stream st, log_time t) {
        if (matched_ < expected_.size()) {
            const auto& e = expected_[matched_];
            if (e.stream == st && e.at == t) {
                ++matched_;
                return e.bytes;
            }
            if (skip_unmatched_) return whole;  // before the tail the follower started at
            matched_ = expected_.size();  // once something new came, everything after it is new
        }
        return 0;
    }

private:
    struct entry {
        std_stream stream;
        log_time at;
        std::size_t bytes;  ///< passed on by the follower
    };
    std::int64_t margin_;
    std::optional<log_time> latest_;
    std::deque<entry> recent_;
    std::vector<entry> expected_;
    std::size_t matched_ = 0;
    bool skip_unmatched_ = false;
};

}  // namespace rtb
