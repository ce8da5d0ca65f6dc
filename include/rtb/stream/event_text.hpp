// Events as text: one line per event for people (`rtb events`), and one JSON
// object per event for programs (`rtb events --json`, json_logger).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include <fmt/format.h>

#include "rtb/detail/json_writer.hpp"
#include "rtb/stream/event.hpp"

namespace rtb {

namespace detail {
/// Appends `s` keeping it on one line: control bytes become \xNN (tab stays),
/// invalid UTF-8 bytes become \xNN, everything else is kept.
/// (Runs of printable ASCII and tabs, most of any log, are copied whole.)
inline void append_one_line(std::string& out, std::string_view s) {
    static constexpr auto kept = [] {
        std::array<bool, 256> t{};
        for (unsigned c = 0x20; c < 0x7f; ++c) t[c] = true;
        t['\t'] = true;
        return t;
    }();
    for (std::size_t i = 0; i < s.size(); ++i) {
        std::size_t run = i;
        while (run < s.size()) {  // printable ASCII 8 bytes at a time, tabs one by one
            run += printable_run(s.data() + run, s.data() + s.size(), 0, 0);
            if (run == s.size() || !kept[static_cast<unsigned char>(s[run])]) break;
            ++run;
        }
        out.append(s.data() + i, run - i);
        if (run == s.size()) break;
        i = run;
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            const std::size_t len = (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
            bool ok = len && i + len <= s.size();
            for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
            if (ok) {
                out.append(s.substr(i, len));
                i += len - 1;
                continue;
            }
        }
        static constexpr char hex[] = "0123456789abcdef";
        const char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
        out.append(esc, 4);
    }
}

struct identity_text {
    std::string_view operator()(std::string_view s) const noexcept { return s; }
};
}  // namespace detail

/// One line (without '\n') saying what happened, for people:
///   step [2/6] COPY blob1 /blob1        log #7 compiling module 0
///   progress 6f4926d64fd8 Downloading 229376/20006291
///   step_done #7 0.1s                   step_done #4 cached
///   image sha256:...                    pushed fixture sha256:... 1158
///   failure exit 3 at [2/2] RUN x: The command ... returned a non-zero code: 3
/// `text` filters every engine-supplied string (e.g. a redactor).
template <class TextFilter = detail::identity_text>
void append_event_text(std::string& out, const build_event& e, TextFilter&& text = {}) {
    auto vertex = [&](int v) {  // "#N " for a BuildKit vertex
        if (!v) return;
        out += '#';
        detail::append_decimal(out, v);
        out += ' ';
    };
    out.append(event_kind(e));
    out += ' ';
    std::visit(
        [&](const auto& ev) {
            using T = std::decay_t<decltype(ev)>;
            if constexpr (std::is_same_v<T, events::step>) {
                vertex(ev.vertex);
                detail::append_one_line(out, text(step_text(ev)));
            } else if constexpr (std::is_same_v<T, events::log_line>) {
                vertex(ev.vertex);
                detail::append_one_line(out, text(ev.text));
            } else if constexpr (std::is_same_v<T, events::progress>) {
                detail::append_one_line(out, text(ev.id));
                out += ' ';
                detail::append_one_line(out, text(ev.status));
                if (ev.current || ev.total) {
                    out += ' ';
                    detail::append_decimal(out, ev.current);
                    out += '/';
                    detail::append_decimal(out, ev.total);
                }
            } else if constexpr (std::is_same_v<T, events::step_done>) {
                out += '#';
                detail::append_decimal(out, ev.vertex);
                if (ev.cached) out += " cached";
                if (ev.seconds) fmt::format_to(std::back_inserter(out), " {:.1f}s", *ev.seconds);
            } else if constexpr (std::is_same_v<T, events::image_built>) {
                detail::append_one_line(out, text(ev.id));
            } else if constexpr (std::is_same_v<T, events::pushed>) {
                detail::append_one_line(out, text(ev.tag));
                out += ' ';
                detail::append_one_line(out, text(ev.digest));
                out += ' ';
                detail::append_decimal(out, ev.size);
            } else if constexpr (std::is_same_v<T, events::failure>) {
                if (ev.exit_code) {
                    out += "exit ";
                    detail::append_decimal(out, *ev.exit_code);
                    out += ' ';
                }
                if (!ev.step.empty()) {
                    out += "at ";
                    detail::append_one_line(out, text(ev.step));
                    out += ": ";
                }
                detail::append_one_line(out, text(ev.message));
            }
        },
        e);
}

/// One JSON object (no newline) with "event" naming the kind, e.g.
///   {"event":"step","index":2,"total":6,"instruction":"COPY blob1 /blob1","stage":"","vertex":0}
///   {"event":"failure","exit_code":3,"message":"...","step":"[2/2] RUN x"}
/// Field names are those of the event structs; an unknown exit code is null.
template <class TextFilter = detail::identity_text>
void append_event_json(std::string& out, const build_event& e, TextFilter&& text = {}) {
    // plain appends: fmt's parsing of a format string per field was most of
    // the cost of writing an event
    auto key = [&](std::string_view name) {
        out += ",\"";
        out += name;
        out += "\":";
    };
    auto str = [&](std::string_view name, std::string_view v) {
        key(name);
        detail::append_json_quoted(out, text(v));
    };
    auto num = [&](std::string_view name, auto v) {
        key(name);
        detail::append_decimal(out, v);
    };
    out += "{\"event\":\"";
    out += event_kind(e);
    out += '"';
    std::visit(
        [&](const auto& ev) {
            using T = std::decay_t<decltype(ev)>;
            if constexpr (std::is_same_v<T, events::step>) {
                num("index", ev.index);
                num("total", ev.total);
                str("instruction", ev.instruction);
                str("stage", ev.stage);
                num("vertex", ev.vertex);
            } else if constexpr (std::is_same_v<T, events::log_line>) {
                str("text", ev.text);
                num("vertex", ev.vertex);
            } else if constexpr (std::is_same_v<T, events::progress>) {
                str("id", ev.id);
                str("status", ev.status);
                num("current", ev.current);
                num("total", ev.total);
            } else if constexpr (std::is_same_v<T, events::step_done>) {
                num("vertex", ev.vertex);
                out += ev.cached ? ",\"cached\":true" : ",\"cached\":false";
                if (ev.seconds) fmt::format_to(std::back_inserter(out), ",\"seconds\":{}", *ev.seconds);
                else out += ",\"seconds\":null";
            } else if constexpr (std::is_same_v<T, events::image_built>) {
                str("id", ev.id);
            } else if constexpr (std::is_same_v<T, events::pushed>) {
                str("tag", ev.tag);
                str("digest", ev.digest);
                num("size", ev.size);
            } else if constexpr (std::is_same_v<T, events::failure>) {
                if (ev.exit_code) num("exit_code", *ev.exit_code);
                else out += ",\"exit_code\":null";
                str("message", ev.message);
                str("step", ev.step);
            }
        },
        e);
    out += '}';
}

}  // namespace rtb
