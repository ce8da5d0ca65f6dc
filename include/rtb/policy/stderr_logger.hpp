// stderr_logger: shows a build to a person. On a terminal: build output and
// step headers scroll, while per-layer pull/push progress bars and a
// current-step line are redrawn in place below them. Elsewhere (a pipe, a
// file, CI logs): plain lines, one per thing that happened, no escape codes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "rtb/concepts.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/policy/detail/progress_view.hpp"
#include "rtb/policy/redactor.hpp"
#include "rtb/stream/event.hpp"

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
    explicit stderr_logger(options o, redactor r = {});
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
    ~stderr_logger();

    /// Whether this logger draws live progress (decided at construction).
    bool terminal() const noexcept { return terminal_; }

    /// Masks `secret` in everything this logger writes.
    void add_secret(std::string_view secret) { redactor_.add_secret(secret); }

    void log(log_level level, std::string_view message);

    void on_event(const build_event& e);

    /// Leaves the live rows on screen as ordinary lines (their final state);
    /// later output starts below them. Called by the destructor.
    void finish();

private:
    void handle(const events::step& s);
    void handle(const events::log_line& l);
    void handle(const events::progress& p);
    void handle(const events::step_done&) {}
    void handle(const events::image_built& i);
    void handle(const events::pushed& p);
    void handle(const events::failure& f);

    void end_of_operation();

    // Once every layer of a pull/push is finished, its rows become ordinary
    // lines and leave the live area.
    void commit_layers_if_done();

    // A permanent line: above the live rows on a terminal.
    void print(std::string_view text);

    void redraw(bool now);

    void erase_live();
    void draw_live();
    // the layer rows, final, as ordinary lines
    void final_layers();

    std::size_t width() const;
    int height() const;

    void write();

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

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/policy/impl/stderr_logger.ipp"
#endif
