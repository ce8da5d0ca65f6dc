// rolling_logger: keeps the last N lines of a build's output (10 by default,
// as OpenHands' RollingLogger) and the failure the engine reported, so a
// failed build's error can show what happened.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/concepts.hpp"
#include "rtb/error.hpp"
#include "rtb/policy/redactor.hpp"
#include "rtb/stream/event.hpp"

namespace rtb {

/// Keeps the last `max_lines` lines: build output (log_line), step headers
/// (as step_text()) and rtb's own warnings and errors. Layer progress is not
/// kept. Storing a line reuses the memory of the line it replaces, so a long
/// build costs no allocation per line. Secrets are masked when lines are read
/// out (lines(), failure_report(), build_error()).
class rolling_logger {
public:
    explicit rolling_logger(std::size_t max_lines = 10, redactor r = {}) : ring_(max_lines), redactor_(std::move(r)) {}

    void log(log_level level, std::string_view message) {
        if (level < log_level::warning) return;
        auto& slot = next_slot();
        slot.assign(level == log_level::warning ? "warning: " : "error: ");
        slot.append(message);
    }

    void on_event(const build_event& e) {
        if (const auto* l = std::get_if<events::log_line>(&e)) {
            next_slot().assign(l->text);
        } else if (const auto* s = std::get_if<events::step>(&e)) {
            next_slot() = step_text(*s);
            step_ = step_text(*s);
        } else if (const auto* f = std::get_if<events::failure>(&e)) {
            if (!failure_) failure_ = *f;
        }
    }

    /// Masks `secret` in everything read out of this logger.
    void add_secret(std::string_view secret) { redactor_.add_secret(secret); }

    /// The kept lines, oldest first, secrets masked.
    std::vector<std::string> lines() const {
        std::vector<std::string> out;
        out.reserve(count_);
        const auto n = ring_.size();
        for (std::size_t i = 0; i < count_; ++i) out.push_back(redactor_(ring_[(next_ + n - count_ + i) % n]));
        return out;
    }
    std::size_t max_lines() const noexcept { return ring_.size(); }

    /// Whether the stream reported a failure.
    bool failed() const noexcept { return failure_.has_value(); }

    /// What a failed build leaves for the error: the engine's exit code, the
    /// failing step (the engine's, else the last step that began) and the tail.
    build_failure failure_report() const {
        build_failure r;
        if (failure_) r.exit_code = failure_->exit_code;
        r.failing_step = redactor_(failure_ && !failure_->step.empty() ? failure_->step : step_);
        r.log_tail = lines();
        return r;
    }

    /// The build_failed error for the failure seen, with failure_report()
    /// attached: "build failed at [2/2] RUN make (exit code 2): <engine message>".
    error build_error() const {
        const auto report = failure_report();
        std::string message = "build failed";
        if (!report.failing_step.empty()) message += fmt::format(" at {}", report.failing_step);
        if (report.exit_code) message += fmt::format(" (exit code {})", *report.exit_code);
        if (failure_ && !failure_->message.empty()) message += fmt::format(": {}", redactor_(failure_->message));
        error e(errc::build_failed, std::move(message));
        e.with_build_failure(report);
        return e;
    }

    /// Forgets lines, step and failure (a new build begins).
    void clear() noexcept {
        count_ = 0;
        next_ = 0;
        step_.clear();
        failure_.reset();
    }

private:
    std::string& next_slot() {
        static thread_local std::string discard;
        if (ring_.empty()) return discard;
        auto& slot = ring_[next_];
        next_ = (next_ + 1) % ring_.size();
        if (count_ < ring_.size()) ++count_;
        return slot;
    }

    std::vector<std::string> ring_;
    std::size_t next_ = 0;
    std::size_t count_ = 0;
    std::string step_;
    std::optional<events::failure> failure_;
    redactor redactor_;
};
static_assert(Logger<rolling_logger>);

}  // namespace rtb
