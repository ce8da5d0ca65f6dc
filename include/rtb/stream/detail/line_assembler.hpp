// Turns text that arrives in pieces (the "stream" values of an engine's JSON
// stream: several lines, or part of one) into whole lines. Internal.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

#include "rtb/stream/detail/text_scan.hpp"

namespace rtb::detail {

class line_assembler {
public:
    explicit line_assembler(std::size_t max_line) : max_(max_line ? max_line : 1) {}

    /// Calls on_line(std::string_view) for every line `text` completes, with
    /// terminal_line() applied. A tail without '\n' is kept for the next
    /// push(); a pending line longer than max_line is emitted in max_line pieces.
    template <class F>
    void push(std::string_view text, F&& on_line) {
        // carriage returns are rare: when `text` has none, its lines need no clean-up
        if (!std::memchr(text.data(), '\r', text.size())) {
            push_plain(text, on_line);
            return;
        }
        while (!text.empty()) {
            const auto* nl = static_cast<const char*>(std::memchr(text.data(), '\n', text.size()));
            if (!nl) {
                keep(text, on_line);
                return;
            }
            const auto piece = text.substr(0, static_cast<std::size_t>(nl - text.data()));
            text.remove_prefix(piece.size() + 1);
            if (carry_.empty() && piece.size() <= max_) {
                if (!piece.empty() || !split_) on_line(terminal_line(piece));  // not the end of a split line
                split_ = false;
            } else {
                keep(piece, on_line);
                if (!carry_.empty() || !split_) on_line(terminal_line(carry_));
                carry_.clear();
                split_ = false;
            }
        }
    }

    template <class F>
    void push_plain(std::string_view text, F& on_line) {
        while (!text.empty()) {
            const auto* nl = static_cast<const char*>(std::memchr(text.data(), '\n', text.size()));
            if (!nl) {
                keep(text, on_line);
                return;
            }
            const auto n = static_cast<std::size_t>(nl - text.data());
            if (carry_.empty() && n <= max_) {
                if (n || !split_) on_line(text.substr(0, n));
                split_ = false;
            } else {
                keep(text.substr(0, n), on_line);
                if (!carry_.empty() || !split_) on_line(terminal_line(carry_));
                carry_.clear();
                split_ = false;
            }
            text.remove_prefix(n + 1);
        }
    }

    /// Emits the pending partial line, if any, as a line.
    template <class F>
    void flush(F&& on_line) {
        if (carry_.empty()) return;
        on_line(terminal_line(carry_));
        carry_.clear();
        split_ = false;
    }

    bool pending() const noexcept { return !carry_.empty(); }

private:
    template <class F>
    void keep(std::string_view text, F& on_line) {
        while (carry_.size() + text.size() > max_) {
            const auto take = max_ - carry_.size();
            carry_.append(text.substr(0, take));
            text.remove_prefix(take);
            on_line(terminal_line(carry_));
            carry_.clear();
            split_ = true;
        }
        if (!text.empty()) split_ = false;
        carry_.append(text);
    }

    std::string carry_;
    std::size_t max_;
    bool split_ = false;  // the last thing emitted was a forced split of an over-long line
};

}  // namespace rtb::detail
