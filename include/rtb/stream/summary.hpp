// stream_summary: what a whole engine stream came to (the image it built or
// pushed, the failure it reported), kept by every decoder as events pass.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>

#include "rtb/stream/event.hpp"

namespace rtb {

struct stream_summary {
    std::string image_id;                    ///< the last image_built id; empty if none
    std::optional<events::pushed> push;      ///< the last push result
    std::optional<events::failure> failure;  ///< the first failure reported
    std::string last_step;                   ///< step_text() of the last step that began
    std::uint64_t event_count = 0;           ///< events emitted
    std::uint64_t log_lines = 0;             ///< log_line events among them

    bool failed() const noexcept { return failure.has_value(); }

    /// Folds one event in, knowing its kind at compile time (the decoders' hot path).
    template <class T>
    void record(const T& e) {
        ++event_count;
        if constexpr (std::is_same_v<T, events::log_line>) {
            ++log_lines;
        } else if constexpr (std::is_same_v<T, events::step>) {
            last_step = step_text(e);
        } else if constexpr (std::is_same_v<T, events::image_built>) {
            image_id = e.id;
        } else if constexpr (std::is_same_v<T, events::pushed>) {
            push = e;
        } else if constexpr (std::is_same_v<T, events::failure>) {
            if (!failure) failure = e;
        }
    }

    /// Folds one event in.
    void record(const build_event& e) {
        ++event_count;
        if (std::holds_alternative<events::log_line>(e)) {
            ++log_lines;
        } else if (const auto* s = std::get_if<events::step>(&e)) {
            last_step = step_text(*s);
        } else if (const auto* i = std::get_if<events::image_built>(&e)) {
            image_id = i->id;
        } else if (const auto* p = std::get_if<events::pushed>(&e)) {
            push = *p;
        } else if (const auto* f = std::get_if<events::failure>(&e)) {
            if (!failure) failure = *f;
        }
    }
};

}  // namespace rtb
