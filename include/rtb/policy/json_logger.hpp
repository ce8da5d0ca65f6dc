// json_logger: one JSON object per line for every event and message, for
// programs that watch a build (CI, dashboards). Secrets are masked.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "rtb/concepts.hpp"
#include "rtb/detail/json_writer.hpp"
#include "rtb/policy/redactor.hpp"
#include "rtb/stream/event.hpp"
#include "rtb/stream/event_text.hpp"

namespace rtb {

/// Writes `{"event":"<kind>",...}\n` per event (append_event_json()) and
/// `{"event":"message","level":"info","message":"..."}\n` per log() call.
/// Every string an engine or caller supplied passes through the redactor.
class json_logger {
public:
    struct options {
        std::FILE* out = stderr;        ///< not owned
        log_level min_level = log_level::info;
        bool flush_each_line = true;    ///< for live readers; off for bulk conversion
    };

    json_logger() : json_logger(options{}) {}
    explicit json_logger(options o, redactor r = {}) : options_(o), redactor_(std::move(r)) {
        if (!options_.out) options_.out = stderr;
    }

    void add_secret(std::string_view secret) { redactor_.add_secret(secret); }

    void log(log_level level, std::string_view message) {
        if (level < options_.min_level) return;
        constexpr std::string_view names[] = {"debug", "info", "warning", "error"};
        buf_.assign("{\"event\":\"message\",\"level\":\"");
        buf_ += names[static_cast<int>(level)];
        buf_ += "\",\"message\":";
        buf_ += detail::json_quote(redactor_.apply(message, scratch_));
        buf_ += "}\n";
        write();
    }

    void on_event(const build_event& e) {
        buf_.clear();
        append_event_json(buf_, e, [this](std::string_view s) { return redactor_.apply(s, scratch_); });
        buf_ += '\n';
        write();
    }

    void flush() { std::fflush(options_.out); }

private:
    void write() {
        std::fwrite(buf_.data(), 1, buf_.size(), options_.out);
        if (options_.flush_each_line) std::fflush(options_.out);
    }

    options options_;
    redactor redactor_;
    std::string buf_, scratch_;
};
static_assert(Logger<json_logger>);

}  // namespace rtb
