// Parsing BuildKit's `--progress=plain` output (docker build, docker buildx
// build, buildctl) into the same build_events as the engines' JSON streams,
// chunk by chunk, without regular expressions.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "rtb/error.hpp"
#include "rtb/stream/detail/byte_buffer.hpp"
#include "rtb/stream/detail/sticky_failure.hpp"
#include "rtb/stream/detail/event_slots.hpp"
#include "rtb/stream/detail/newline_finder.hpp"
#include "rtb/stream/detail/step_header.hpp"
#include "rtb/stream/detail/text_scan.hpp"
#include "rtb/stream/event.hpp"
#include "rtb/stream/summary.hpp"

namespace rtb {

struct buildkit_plain_options {
    /// The longest line accepted; a longer one is an error (at most this
    /// much of it is ever buffered).
    std::size_t max_line = std::size_t{16} << 20;
    /// Names the input in error messages.
    std::string source = "BuildKit log";
};

/// Parses BuildKit plain progress output:
///
/// | line                                        | event                                  |
/// | ---                                         | ---                                    |
/// | `#N [stage i/n] INSTRUCTION` (first line of #N) | `step` {i, n, INSTRUCTION, stage, N} |
/// | `#N [internal] load ...`, `#N exporting ...`| `step` {0, 0, name, "", N}             |
/// | `#N 0.123 text`                             | `log_line` {text, N}                   |
/// | `#N other text` (status lines)              | `log_line` {other text, N}             |
/// | `#N DONE 0.1s` / `#N CACHED`                | `step_done`                            |
/// | `#N ERROR: message`                         | `failure` {exit code from the message, message, #N's name} |
/// | `#N sha256:<id> 2.1MB / 27MB 0.3s [done]`   | `progress` (layer download)            |
/// | `#N extracting sha256:<id> [0.5s done]`     | `progress` (layer extraction)          |
/// | `#N writing image sha256:<id> [done]`       | `log_line` + `image_built`             |
/// | `#N sha256:<id>` (vertex digest), a repeated `#N name` | nothing                     |
/// | the closing summary (`------` / ` > [i/n] X:` / `------` / final error) | `failure` if no `#N ERROR` came before, else log lines |
/// | any other line                              | `log_line` {line, 0}                   |
///
/// Lines of the classic builder's text output (`Step N/M : X`, `The command
/// ... returned a non-zero code: N`) and Podman's (`STEP N/M: X`, `Error: ...`)
/// are understood as well. Lines end at '\n' ('\r\n' too); bytes are passed
/// through (a build may print anything; printers sanitise). Only the first
/// failure is reported.
template <EventSink Sink>
class buildkit_plain_parser {
public:
    explicit buildkit_plain_parser(Sink& sink, buildkit_plain_options options = {})
        : sink_(&sink), options_(std::move(options)) {}

    buildkit_plain_parser(const buildkit_plain_parser&) = delete;
    buildkit_plain_parser& operator=(const buildkit_plain_parser&) = delete;

    /// Feeds the next bytes of the log.
    void feed(std::string_view chunk) {
        failure_.run([&] { feed_impl(chunk); });
    }

    /// The log ended: a last line without '\n' is parsed now.
    void finish() {
        failure_.run([&] {
            if (!carry_.empty()) {
                ++line_no_;
                cr_ = std::memchr(carry_.data(), '\r', carry_.size()) != nullptr;
                on_line(carry_.view());
                carry_.clear();
            }
        });
    }

    /// A CURLOPT_WRITEFUNCTION / pipe reader callback; see engine_stream_decoder::curl_write.
    static std::size_t curl_write(char* data, std::size_t size, std::size_t count, void* self) noexcept {
        auto* p = static_cast<buildkit_plain_parser*>(self);
        return detail::curl_feed(*p, p->pending_, data, size * count);
    }
    void rethrow_if_failed() const {
        if (pending_) std::rethrow_exception(pending_);
    }

    const stream_summary& summary() const noexcept { return summary_; }
    std::uint64_t offset() const noexcept { return offset_; }
    std::size_t buffered() const noexcept { return carry_.size(); }
    std::size_t buffer_capacity() const noexcept { return carry_.capacity(); }

private:
    struct vertex {
        bool seen = false;
        std::string name;
    };
    static constexpr int max_vertex = 1 << 20;


    void feed_impl(std::string_view chunk) {
        const char* p = chunk.data();
        const char* const end = p + chunk.size();
        const std::uint64_t base = offset_;
        offset_ += chunk.size();
        if (!carry_.empty()) {
            const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
            const auto n = static_cast<std::size_t>((nl ? nl : end) - p);
            if (carry_.size() + n > options_.max_line) throw_too_long(line_no_ + 1, carry_offset_);
            append_carry(p, n);
            if (!nl) return;
            ++line_no_;
            cr_ = std::memchr(carry_.data(), '\r', carry_.size()) != nullptr;
            on_line(carry_.view());
            carry_.clear();
            p = nl + 1;
        }
        // carriage returns are rare: look for one once per chunk, not per line
        cr_ = std::memchr(p, '\r', static_cast<std::size_t>(end - p)) != nullptr;
        detail::newline_finder newlines(p, end);
        while (p < end) {
            const char* nl = newlines.next();
            if (!nl) {
                carry_offset_ = base + static_cast<std::uint64_t>(p - chunk.data());
                if (static_cast<std::size_t>(end - p) > options_.max_line) throw_too_long(line_no_ + 1, carry_offset_);
                append_carry(p, static_cast<std::size_t>(end - p));
                return;
            }
            const auto len = static_cast<std::size_t>(nl - p);
            ++line_no_;
            if (len > options_.max_line) throw_too_long(line_no_, base + static_cast<std::uint64_t>(p - chunk.data()));
            on_line({p, len});
            p = nl + 1;
        }
    }

    void append_carry(const char* p, std::size_t n) {
        if (carry_.size() + n > carry_.capacity())  // grow geometrically, never past the limit
            carry_.reserve(std::min(options_.max_line, std::max(carry_.size() + n, 2 * carry_.capacity())));
        carry_.append(p, n);
    }

    [[noreturn]] void throw_too_long(std::uint64_t line, std::uint64_t start) const {
        throw error(errc::parse_error, fmt::format("{}: line {} at byte {} is longer than the {} byte limit",
                                                   options_.source, line, start, options_.max_line));
    }

    template <class T>
    void emit() {
        summary_.record(slots_.get<T>());
        sink_->on_event(slots_.event<T>());
    }

    void log(std::string_view text, int vertex) {
        auto& l = slots_.get<events::log_line>();
        detail::set(l.text, cr_ ? detail::terminal_line(text) : text);
        l.vertex = vertex;
        emit<events::log_line>();
    }

    void fail(std::string_view message, std::string_view step) {
        if (summary_.failed()) return;
        auto& f = slots_.get<events::failure>();
        f.message.assign(detail::trim(message));
        f.exit_code = detail::exit_code_in(message);
        f.step.assign(step);
        emit<events::failure>();
    }

    void on_line(std::string_view line) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() >= 2 && line[0] == '#' && detail::is_digit(line[1])) {
            std::size_t i = 1;
            int n = 0;
            while (i < line.size() && i <= 7 && detail::is_digit(line[i])) n = n * 10 + (line[i++] - '0');
            if (n < max_vertex && (i == line.size() || line[i] == ' ')) {
                const auto skip = std::min(i + 1, line.size());
                on_vertex_line(n, std::string_view(line.data() + skip, line.size() - skip));
                return;
            }
        }
        on_top_level(cr_ ? detail::terminal_line(line) : line);
    }

    vertex& vertex_at(int n) {
        if (static_cast<std::size_t>(n) >= vertices_.size()) vertices_.resize(static_cast<std::size_t>(n) + 1);
        return vertices_[static_cast<std::size_t>(n)];
    }

    // "0.123 " at the front: BuildKit's timestamp of a log line.
    static std::optional<std::string_view> after_timestamp(std::string_view s) noexcept {
        std::size_t i = 0;
        while (i < s.size() && detail::is_digit(s[i])) ++i;
        if (i == 0 || i >= s.size() || s[i] != '.') return std::nullopt;
        const auto frac = ++i;
        while (i < s.size() && detail::is_digit(s[i])) ++i;
        if (i == frac) return std::nullopt;
        if (i == s.size()) return std::string_view{};
        if (s[i] != ' ') return std::nullopt;
        return std::string_view(s.data() + i + 1, s.size() - i - 1);
    }

    void on_vertex_line(int n, std::string_view rest) {
        auto& v = vertex_at(n);
        // the common case first: a timestamped log line
        if (!rest.empty() && detail::is_digit(rest[0])) {
            if (const auto text = after_timestamp(rest)) {
                log(*text, n);
                return;
            }
        }
        if (rest == "CACHED" || rest.starts_with("DONE")) {
            auto& d = slots_.get<events::step_done>();
            d.vertex = n;
            d.cached = rest == "CACHED";
            d.seconds.reset();
            if (!d.cached && rest.size() > 5 && rest[4] == ' ' && rest.back() == 's') {
                double s = 0;
                const auto* b = rest.data() + 5;
                const auto* e = rest.data() + rest.size() - 1;
                if (const auto r = std::from_chars(b, e, s, std::chars_format::fixed); r.ec == std::errc{} && r.ptr == e)
                    d.seconds = s;
            }
            if (d.cached || rest == "DONE" || d.seconds) {
                emit<events::step_done>();
                return;
            }
        }
        if (rest.starts_with("ERROR")) {
            auto message = rest.substr(5);
            if (message.starts_with(":")) message.remove_prefix(1);
            fail(detail::trim(message), v.name);
            return;
        }
        if (!v.seen) {
            v.seen = true;
            v.name.assign(rest);
            const auto h = detail::parse_vertex_name(rest);
            auto& s = slots_.get<events::step>();
            s.index = h.index;
            s.total = h.total;
            s.instruction.assign(h.instruction);
            s.stage.assign(h.stage);
            s.vertex = n;
            emit<events::step>();
            return;
        }
        if (rest == v.name) return;  // BuildKit repeats a vertex's name when its output resumes
        if (rest.starts_with("sha256:")) {
            const auto hex = rest.substr(7, 64);
            if (detail::is_hex_id(hex)) {
                if (rest.size() == 71) return;  // the vertex digest
                if (layer_progress(hex, rest.substr(71), false)) return;
            }
        } else if (rest.starts_with("extracting sha256:")) {
            const auto hex = rest.substr(18, 64);
            if (detail::is_hex_id(hex) && layer_progress(hex, rest.substr(82), true)) return;
        }
        log(rest, n);
        if (rest.starts_with("writing image sha256:")) {
            const auto id = rest.substr(14, 71);
            if (detail::is_hex_id(id.substr(7)) && (rest.size() == 85 || rest[85] == ' ')) {
                slots_.get<events::image_built>().id.assign(id);
                emit<events::image_built>();
            }
        }
    }

    // " 2.10MB / 27.15MB 0.3s", " 27.15MB / 27.15MB 1.1s done", " 0.5s done", ""
    bool layer_progress(std::string_view hex, std::string_view tail, bool extracting) {
        auto& p = slots_.get<events::progress>();
        const bool done = tail.ends_with(" done");
        std::uint64_t current = 0, total = 0;
        if (!extracting) {
            // " <cur> / <total> <time>[ done]"
            if (!tail.starts_with(" ")) return false;
            tail.remove_prefix(1);
            const auto slash = tail.find(" / ");
            if (slash == std::string_view::npos) return false;
            const auto cur = detail::parse_human_size(tail.substr(0, slash));
            auto after = tail.substr(slash + 3);
            const auto tot = detail::parse_human_size(after.substr(0, after.find(' ')));
            if (!cur || !tot) return false;
            current = *cur;
            total = *tot;
        } else if (!tail.empty() && !tail.starts_with(" ")) {
            return false;
        }
        detail::set(p.id, hex.substr(0, 12));
        p.status.assign(extracting ? (done ? "Pull complete" : "Extracting") : (done ? "Download complete" : "Downloading"));
        p.current = current;
        p.total = total;
        emit<events::progress>();
        return true;
    }

    void on_top_level(std::string_view line) {
        if (line == "------") {  // BuildKit's error summary box opens or closes
            in_box_ = !in_box_;
            return;
        }
        if (in_box_) {
            if (line.starts_with(" > ") && line.ends_with(":")) box_step_.assign(line.substr(3, line.size() - 4));
            return;  // the box repeats lines already seen
        }
        if (line.empty()) return;
        if (const auto h = detail::parse_step_line(line)) {  // classic builder / Podman text output
            auto& s = slots_.get<events::step>();
            s.index = h->index;
            s.total = h->total;
            s.instruction.assign(h->instruction);
            s.stage.clear();
            s.vertex = 0;
            emit<events::step>();
            return;
        }
        log(line, 0);
        const bool error_line = line.starts_with("ERROR:") || line.starts_with("error:") || line.starts_with("Error:") ||
                                line.starts_with("failed to solve") || line.starts_with("executor failed") ||
                                line.find("returned a non-zero code: ") != std::string_view::npos;
        if (error_line) {
            auto message = line;
            for (std::string_view prefix : {"ERROR:", "error:", "Error:"})
                if (message.starts_with(prefix)) message.remove_prefix(prefix.size());
            fail(detail::trim(message), box_step_.empty() ? std::string_view(summary_.last_step) : box_step_);
        }
    }

    Sink* sink_;
    buildkit_plain_options options_;
    detail::byte_buffer carry_;  // an incomplete line
    std::uint64_t carry_offset_ = 0;
    std::uint64_t offset_ = 0;
    std::uint64_t line_no_ = 0;
    std::vector<vertex> vertices_;
    bool in_box_ = false;
    bool cr_ = true;  // the lines being parsed may hold a '\r' 
    std::string box_step_;
    detail::event_slots slots_;
    stream_summary summary_;
    detail::sticky_failure failure_;
    std::exception_ptr pending_;
};

/// Parses a whole recorded log at once.
template <EventSink Sink>
stream_summary parse_buildkit_plain(std::string_view log, Sink& sink, buildkit_plain_options options = {}) {
    buildkit_plain_parser<Sink> p(sink, std::move(options));
    p.feed(log);
    p.finish();
    return p.summary();
}

}  // namespace rtb
