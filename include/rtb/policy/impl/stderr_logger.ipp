// stderr_logger's member functions (rtb/policy/stderr_logger.hpp): included
// by that header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION), so a unit that only constructs the logger
// (every builder does) compiles none of its drawing.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string_view>
#include <variant>

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "rtb/detail/config.hpp"
#include "rtb/policy/stderr_logger.hpp"
#include "rtb/stream/event_text.hpp"

namespace rtb {

RTB_DECL stderr_logger::stderr_logger(options o, redactor r) : options_(std::move(o)), redactor_(std::move(r)) {
    if (!options_.out) options_.out = stderr;
    terminal_ = options_.mode == display::terminal ||
                (options_.mode == display::automatic && ::isatty(::fileno(options_.out)) == 1);
}

RTB_DECL stderr_logger::~stderr_logger() {
    try {
        finish();
    } catch (...) {
    }
}

RTB_DECL void stderr_logger::log(log_level level, std::string_view message) {
    if (level < options_.min_level) return;
    line_.assign("rtb: ");
    if (level == log_level::warning) line_ += "warning: ";
    else if (level == log_level::error) line_ += "error: ";
    else if (level == log_level::debug) line_ += "debug: ";
    line_ += message;
    print(line_);
}

RTB_DECL void stderr_logger::on_event(const build_event& e) {
    std::visit([this](const auto& ev) { handle(ev); }, e);
}

RTB_DECL void stderr_logger::finish() {
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

RTB_DECL void stderr_logger::handle(const events::step& s) {
    auto text = step_text(s);
    line_.assign("=> ");
    line_ += text;
    if (terminal_) {
        commit_layers_if_done();
        view_.set_step(std::move(text));
    }
    print(line_);
}

RTB_DECL void stderr_logger::handle(const events::log_line& l) {
    if (terminal_) view_.count_line();
    if (options_.show_output) {
        print(l.text);
    } else if (terminal_) {
        redraw(false);
    }
}

RTB_DECL void stderr_logger::handle(const events::progress& p) {
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

RTB_DECL void stderr_logger::handle(const events::image_built& i) {
    line_ = "=> image ";
    line_ += i.id;
    end_of_operation();
}

RTB_DECL void stderr_logger::handle(const events::pushed& p) {
    line_ = fmt::format("=> pushed {} {} (size {})", p.tag, p.digest, p.size);
    end_of_operation();
}

RTB_DECL void stderr_logger::handle(const events::failure& f) {
    line_ = "=> failed";
    if (!f.step.empty()) line_ += fmt::format(" at {}", f.step);
    if (f.exit_code) line_ += fmt::format(" (exit code {})", *f.exit_code);
    line_ += ": ";
    line_ += f.message;
    end_of_operation();
}

RTB_DECL void stderr_logger::end_of_operation() {
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

RTB_DECL void stderr_logger::commit_layers_if_done() {
    if (view_.layers().empty() || !view_.all_done()) return;
    buf_.clear();
    erase_live();
    final_layers();
    view_.clear_layers();
    write();
}

RTB_DECL void stderr_logger::print(std::string_view text) {
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

RTB_DECL void stderr_logger::redraw(bool now) {
    const auto t = std::chrono::steady_clock::now();
    if (!now && t - last_draw_ < options_.redraw_interval) return;
    buf_.clear();
    erase_live();
    draw_live();
    write();
}

RTB_DECL void stderr_logger::erase_live() {
    if (drawn_) fmt::format_to(std::back_inserter(buf_), "\r\x1b[{}A\x1b[J", drawn_);
    drawn_ = 0;
}

RTB_DECL void stderr_logger::draw_live() {
    live_.clear();
    drawn_ = view_.render(live_, width(), height() > 2 ? static_cast<std::size_t>(height()) - 2 : 1);
    buf_ += redactor_.apply(live_, scratch_);
    last_draw_ = std::chrono::steady_clock::now();
}

RTB_DECL void stderr_logger::final_layers() {
    live_.clear();
    view_.render_layers_final(live_, width());
    buf_ += redactor_.apply(live_, scratch_);
}

RTB_DECL std::size_t stderr_logger::width() const {
    if (options_.width > 0) return static_cast<std::size_t>(options_.width);
    winsize ws{};
    if (::ioctl(::fileno(options_.out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    if (const char* c = std::getenv("COLUMNS"); c && std::atoi(c) > 0) return static_cast<std::size_t>(std::atoi(c));
    return 80;
}

RTB_DECL int stderr_logger::height() const {
    if (options_.height > 0) return options_.height;
    winsize ws{};
    if (::ioctl(::fileno(options_.out), TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) return ws.ws_row;
    if (const char* c = std::getenv("LINES"); c && std::atoi(c) > 0) return std::atoi(c);
    return 24;
}

RTB_DECL void stderr_logger::write() {
    if (buf_.empty() || !options_.out) return;
    std::fwrite(buf_.data(), 1, buf_.size(), options_.out);
    std::fflush(options_.out);
}

}  // namespace rtb
