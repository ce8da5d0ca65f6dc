// redacting_logger<L>: gives any Logger secret masking. Messages and every
// string of every event pass through a redactor before L sees them, so a
// user's logger that knows nothing about secrets never receives one.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "rtb/concepts.hpp"
#include "rtb/policy/redactor.hpp"
#include "rtb/stream/event.hpp"

namespace rtb {

template <Logger L>
class redacting_logger {
public:
    redacting_logger() = default;
    explicit redacting_logger(L inner, redactor r = {}) : inner_(std::move(inner)), redactor_(std::move(r)) {}

    void add_secret(std::string_view secret) { redactor_.add_secret(secret); }

    void log(log_level level, std::string_view message) { inner_.log(level, redactor_.apply(message, scratch_)); }

    void on_event(const build_event& e) {
        // copy only when something is masked; the common case forwards `e` as is
        bool dirty = false;
        std::visit([&](const auto& ev) { visit_strings(ev, [&](const std::string& s) { dirty = dirty || masks(s); }); }, e);
        if (!dirty) {
            inner_.on_event(e);
            return;
        }
        build_event copy = e;
        std::visit([&](auto& ev) { visit_strings(ev, [&](std::string& s) { s = redactor_(s); }); }, copy);
        inner_.on_event(copy);
    }

    L& inner() noexcept { return inner_; }
    const L& inner() const noexcept { return inner_; }

private:
    bool masks(std::string_view s) {
        return redactor_.apply(s, scratch_).data() != s.data();
    }
    template <class Ev, class F>
    static void visit_strings(Ev& ev, F&& f) {
        using T = std::remove_const_t<Ev>;
        if constexpr (std::is_same_v<T, events::step>) {
            f(ev.instruction);
            f(ev.stage);
        } else if constexpr (std::is_same_v<T, events::log_line>) {
            f(ev.text);
        } else if constexpr (std::is_same_v<T, events::progress>) {
            f(ev.id);
            f(ev.status);
        } else if constexpr (std::is_same_v<T, events::image_built>) {
            f(ev.id);
        } else if constexpr (std::is_same_v<T, events::pushed>) {
            f(ev.tag);
            f(ev.digest);
        } else if constexpr (std::is_same_v<T, events::failure>) {
            f(ev.message);
            f(ev.step);
        }
    }

    L inner_;
    redactor redactor_;
    std::string scratch_;
};

}  // namespace rtb
