// The live part of stderr_logger's terminal display: one row per layer of a
// pull or push (with a bar) and a status row for the current build step.
// Pure state and rendering to a string, so tests check exact output. Internal.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/stream/detail/text_scan.hpp"
#include "rtb/stream/event.hpp"

namespace rtb::detail {

/// Appends `s` for a terminal: control bytes and ANSI escape sequences are
/// dropped (they would move the cursor under the live rows), invalid UTF-8
/// becomes '?', and at most `max_cols` characters are kept (0: no limit).
inline void append_terminal_text(std::string& out, std::string_view s, std::size_t max_cols = 0) {
    std::size_t cols = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (max_cols && cols >= max_cols) return;
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == 0x1b) {  // ESC [ params final  /  ESC x
            if (i + 1 < s.size() && s[i + 1] == '[') {
                i += 2;
                while (i < s.size() && !(s[i] >= 0x40 && s[i] <= 0x7e)) ++i;
            } else {
                ++i;
            }
            continue;
        }
        if (c == '\t') {
            out += ' ';
            ++cols;
            continue;
        }
        if (c < 0x20 || c == 0x7f) continue;
        if (c < 0x80) {
            out += static_cast<char>(c);
            ++cols;
            continue;
        }
        const std::size_t len = (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
        bool ok = len && i + len <= s.size();
        for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
        if (ok) {
            out.append(s.substr(i, len));
            i += len - 1;
        } else {
            out += '?';
        }
        ++cols;
    }
}

/// Columns a sanitised UTF-8 string takes (one per code point).
inline std::size_t columns(std::string_view s) noexcept {
    std::size_t n = 0;
    for (const char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
    return n;
}

/// "20.01MB", "512B": sizes as the Docker CLI prints them (powers of 1000).
inline std::string human_size(std::uint64_t bytes) {
    constexpr const char* units[] = {"B", "kB", "MB", "GB", "TB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        ++u;
    }
    return u == 0 ? fmt::format("{}B", bytes) : fmt::format("{:.4g}{}", v, units[u]);
}

/// Whether a layer status means the layer is finished.
constexpr bool layer_done(std::string_view status) noexcept {
    return status == "Pull complete" || status == "Already exists" || status == "Pushed" ||
           status == "Layer already exists" || status.starts_with("Mounted from") || status == "Download complete (cached)";
}

class progress_view {
public:
    struct layer {
        std::string id;
        std::string status;
        std::uint64_t current = 0;
        std::uint64_t total = 0;
    };

    /// Folds a progress event in. Returns whether a row appeared or changed
    /// status (worth redrawing now), false for a mere counter change.
    bool update(const events::progress& p) {
        for (auto& l : layers_) {
            if (l.id != p.id) continue;
            const bool changed = l.status != p.status;
            if (changed) l.status.assign(p.status);
            l.current = p.current;
            l.total = p.total;
            return changed;
        }
        layers_.push_back({p.id, p.status, p.current, p.total});
        return true;
    }

    /// Every layer row is finished (rows whose id is not a layer id, such as
    /// "Pulling from ..." headers, do not hold this up).
    bool all_done() const noexcept {
        return std::all_of(layers_.begin(), layers_.end(), [](const layer& l) {
            return layer_done(l.status) || !is_hex_id(l.id, l.id.size()) || l.id.size() < 12;
        });
    }

    void set_step(std::string text) {
        step_ = std::move(text);
        step_lines_ = 0;
    }
    void count_line() noexcept { ++step_lines_; }
    void clear_layers() noexcept { layers_.clear(); }
    void clear() noexcept {
        layers_.clear();
        step_.clear();
        step_lines_ = 0;
    }
    const std::vector<layer>& layers() const noexcept { return layers_; }
    bool empty() const noexcept { return layers_.empty() && step_.empty(); }

    /// Appends the layer rows as permanent lines ("<id>: <status>").
    void render_layers_final(std::string& out, std::size_t width) const {
        for (const auto& l : layers_) {
            std::string row = l.id + ": " + l.status;
            append_terminal_text(out, row, width ? width - 1 : 0);
            out += '\n';
        }
    }

    /// Appends the live rows, each ending in '\n', each at most width-1
    /// columns (so nothing wraps), at most `max_rows` rows. Returns the
    /// number of rows.
    std::size_t render(std::string& out, std::size_t width, std::size_t max_rows) const {
        const std::size_t cols = width > 1 ? width - 1 : 79;
        std::size_t rows = 0;
        const std::size_t step_rows = step_.empty() ? 0 : 1;
        const std::size_t budget = max_rows > step_rows ? max_rows - step_rows : 0;
        std::size_t shown = layers_.size();
        if (shown > budget) shown = budget > 0 ? budget - 1 : 0;  // keep a row for "... and N more"
        // newest rows last, as docker does; when too many, show the unfinished ones first
        std::vector<const layer*> order;
        order.reserve(layers_.size());
        for (const auto& l : layers_)
            if (!layer_done(l.status)) order.push_back(&l);
        for (const auto& l : layers_)
            if (layer_done(l.status)) order.push_back(&l);
        if (shown == layers_.size()) {
            order.clear();
            for (const auto& l : layers_) order.push_back(&l);
        }
        for (std::size_t i = 0; i < shown; ++i) {
            std::string row = layer_row(*order[i], cols);
            append_terminal_text(out, row, cols);
            out += '\n';
            ++rows;
        }
        if (shown < layers_.size() && budget > 0) {
            out += fmt::format("... and {} more layers\n", layers_.size() - shown);
            ++rows;
        }
        if (step_rows) {  // "=> [3/6] RUN make ... (1234 lines)": the instruction gives way to the count
            const std::string suffix = step_lines_ ? fmt::format(" ({} lines)", step_lines_) : std::string();
            std::string text;
            append_terminal_text(text, step_);
            const std::size_t room = cols > 3 + suffix.size() + 1 ? cols - 3 - suffix.size() : 1;
            out += "=> ";
            if (columns(text) > room) {
                append_terminal_text(out, text, room - 1);
                out += "\u2026";  // …
            } else {
                out += text;
            }
            out += suffix;
            out += '\n';
            ++rows;
        }
        return rows;
    }

private:
    static std::string layer_row(const layer& l, std::size_t cols) {
        std::string row = fmt::format("{}: {:<18}", l.id, l.status);
        if (l.total > 0 && !layer_done(l.status)) {
            const auto current = std::min(l.current, l.total);
            const auto numbers = fmt::format(" {}/{}", human_size(l.current), human_size(l.total));
            // bar width: what is left, between 10 and 50 cells
            const std::size_t used = row.size() + numbers.size() + 2;
            const std::size_t bar = cols > used + 10 ? std::min<std::size_t>(50, cols - used) : 10;
            const auto filled = static_cast<std::size_t>(static_cast<double>(current) / static_cast<double>(l.total) *
                                                         static_cast<double>(bar));
            row += '[';
            row.append(filled, '=');
            if (filled < bar) {
                row += '>';
                row.append(bar - filled - 1, ' ');
            }
            row += ']';
            row += numbers;
        } else if (l.current > 0 && !layer_done(l.status)) {
            row += ' ' + human_size(l.current);
        }
        while (!row.empty() && row.back() == ' ') row.pop_back();
        return row;
    }

    std::vector<layer> layers_;
    std::string step_;
    std::uint64_t step_lines_ = 0;
};

}  // namespace rtb::detail
