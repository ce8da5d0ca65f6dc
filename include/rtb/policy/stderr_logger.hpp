// stderr_logger: shows a build to a person. On a terminal: build output and
// step headers scroll, while per-layer pull/push progress bars and a
// current-step line are redrawn in place below them. Elsewhere (a pipe, a
// file, CI logs): plain lines, one per thing that happened, no escape codes.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "rtb/concepts.hpp"
#include "rtb/policy/detail/progress_view.hpp"
#include "rtb/policy/redactor.hpp"
#include "rtb/stream/event.hpp"
#include "rtb/stream/event_text.hpp"

namespace rtb {

class stderr_logger {
public:
    enum class display {
        automatic,  ///< terminal when `out` is a terminal (isatty), else plain
        terminal,   ///< live progress with cursor movement
        plain,      ///< one line per event, no escape codes
    };
    struct options {
        std::FILE* out = stderr;  ///< not owned
        display mode = display::automatic;
        log_level min_level = log_level::info;  ///< log() messages below this are dropped
        bool show_output = true;                ///< print build output lines (log_line events)
        /// Counter-only progress updates redraw at most this often; a new
        /// layer, a status change, a step and any printed line redraw at once.
        std::chrono::milliseconds redraw_interval{100};
        int width = 0;   ///< terminal columns; 0: ask the terminal, then $COLUMNS, then 80
        int height = 0;  ///< terminal rows; 0: ask the terminal, then $LINES, then 24
    };

    stderr_logger() : stderr_logger(options{}) {}
    explicit stderr_logger(options o, redactor r = {}) : options_(std::move(o)), redactor_(std::move(r)) {
        if (!options_.out) options_.out = stderr;
        terminal_ = options_.mode == display::terminal ||
                    (options_.mode == display::automatic && ::isatty(::fileno(options_.out)) == 1);
    }
    stderr_logger(const stderr_logger&) = delete;
    stderr_logger& operator=(const stderr_logger&) = delete;
    /// A moved-from logger writes nothing more.
    stderr_logger(stderr_logger&& o) noexcept
        : options_(o.options_),
          redactor_(std::move(o.redactor_)),
          terminal_(o.terminal_),
          view_(std::move(o.view_)),
          drawn_(std::exchange(o.drawn_, 0)),
          last_draw_(o.last_draw_),
          plain_status_(std::move(o.plain_status_)) {
        o.options_.out = nullptr;
    }
    stderr_logger& operator=(stderr_logger&&) = delete;
    ~stderr_logger() {
        try {
            finish();
        } catch (...) {
        }
    }

    /// Whether this logger draws live progress (decided at construction).
    bool terminal() const noexcept { return terminal_; }

    /// Masks `secret` in everything this logger writes.
    void add_secret(std::string_view secret) { redactor_.add_secret(secret); }

    void log(log_level level, std::string_view message) {
        if (level < options_.min_level) return;
        line_.assign("rtb: ");
        if (level == log_level::warning) line_ += "warning: ";
        else if (level == log_level::error) line_ += "error: ";
        else if (level == log_level::debug) line_ += "debug: ";
        line_ += message;
        print(line_);
    }

    void on_event(const build_event& e) {
        std::visit([this](const auto& ev) { handle(ev); }, e);
    }

    /// Leaves the live rows on screen as ordinary lines (their final state);
    /// later output starts below them. Called by the destructor.
    void finish() {
        if (!options_.out) return;
        if (terminal_ && (drawn_ || !view_.layers().empty())) {
            buf_.clear();
            erase_live();
            final_layers();
            view_.clear();
            write();
        }
        view_.clear();
        plain_status_.clear();
    }

private:
    void handle(const events::step& s) {
        auto text = step_text(s);
        line_.assign("=> ");
        line_ += text;
        if (terminal_) {
            commit_layers_if_done();
            view_.set_step(std::move(text));
        }
        print(line_);
    }
    void handle(const events::log_line& l) {
        if (terminal_) view_.count_line();
        if (options_.show_output) {
            print(l.text);
        } else if (terminal_) {
            redraw(false);
        }
    }
    void handle(const events::progress& p) {
        if (!terminal_) {
            auto& last = plain_status_[p.id];
            if (last == p.status) return;
            last = p.status;
            line_ = p.id;
            line_ += ": ";
            line_ += p.status;
            print(line_);
            return;
        }
        const bool changed = view_.update(p);
        if (changed && view_.all_done()) {
            commit_layers_if_done();
            redraw(true);
        } else {
            redraw(changed);
        }
    }
    void handle(const events::step_done&) {}
    void handle(const events::image_built& i) {
        line_ = "=> image ";
        line_ += i.id;
        end_of_operation();
    }
    void handle(const events::pushed& p) {
        line_ = fmt::format("=> pushed {} {} (size {})", p.tag, p.digest, p.size);
        end_of_operation();
    }
    void handle(const events::failure& f) {
        line_ = "=> failed";
        if (!f.step.empty()) line_ += fmt::format(" at {}", f.step);
        if (f.exit_code) line_ += fmt::format(" (exit code {})", *f.exit_code);
        line_ += ": ";
        line_ += f.message;
        end_of_operation();
    }

    void end_of_operation() {
        if (terminal_) {
            buf_.clear();
            erase_live();
            final_layers();
            view_.clear();
            write();
        }
        plain_status_.clear();
        print(line_);
    }

    // Once every layer of a pull/push is finished, its rows become ordinary
    // lines and leave the live area.
    void commit_layers_if_done() {
        if (view_.layers().empty() || !view_.all_done()) return;
        buf_.clear();
        erase_live();
        final_layers();
        view_.clear_layers();
        write();
    }

    // A permanent line: above the live rows on a terminal.
    void print(std::string_view text) {
        const auto safe = redactor_.apply(text, scratch_);
        buf_.clear();
        if (terminal_) {
            erase_live();
            detail::append_terminal_text(buf_, safe);
            buf_ += '\n';
            draw_live();
        } else {
            detail::append_one_line(buf_, safe);
            buf_ += '\n';
        }
        write();
    }

    void redraw(bool now) {
        const auto t = std::chrono::steady_clock::now();
        if (!now && t - last_draw_ < options_.redraw_interval) return;
        buf_.clear();
        erase_live();
        draw_live();
        write();
    }

    void erase_live() {
        if (drawn_) fmt::format_to(std::back_inserter(buf_), "\r\x1b[{}A\x1b[J", drawn_);
        drawn_ = 0;
    }
    void draw_live() {
        live_.clear();
        drawn_ = view_.render(live_, width(), height() > 2 ? static_cast<std::size_t>(height()) - 2 : 1);
        buf_ += redactor_.apply(live_, scratch_);
        last_draw_ = std::chrono::steady_clock::now();
    }
    // the layer rows, final, as ordinary lines
    void final_layers() {
        live_.clear();
        view_.render_layers_final(live_, width());
        buf_ += redactor_.apply(live_, scratch_);
    }

    std::size_t width() const {
        if (options_.width > 0) return static_cast<std::size_t>(options_.width);
        winsize ws{};
        if (::ioctl(::fileno(options_.out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
        if (const char* c = std::getenv("COLUMNS"); c && std::atoi(c) > 0) return static_cast<std::size_t>(std::atoi(c));
        return 80;
    }
    int height() const {
        if (options_.height > 0) return options_.height;
        winsize ws{};
        if (::ioctl(::fileno(options_.out), TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) return ws.ws_row;
        if (const char* c = std::getenv("LINES"); c && std::atoi(c) > 0) return std::atoi(c);
        return 24;
    }

    void write() {
        if (buf_.empty() || !options_.out) return;
        std::fwrite(buf_.data(), 1, buf_.size(), options_.out);
        std::fflush(options_.out);
    }

    options options_;
    redactor redactor_;
    bool terminal_ = false;
    detail::progress_view view_;
    std::size_t drawn_ = 0;  // live rows currently on screen, above the cursor
    std::chrono::steady_clock::time_point last_draw_{};
    std::unordered_map<std::string, std::string> plain_status_;  // plain mode: last status per layer
    std::string buf_, line_, live_, scratch_;
};
static_assert(Logger<stderr_logger>);

}  // namespace rtb
