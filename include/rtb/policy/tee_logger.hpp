// tee_logger: hands every message and event to several loggers in turn, e.g.
// what a person sees (stderr_logger) and what an error report keeps
// (rolling_logger).
#pragma once

#include <cstddef>
#include <string_view>
#include <tuple>
#include <utility>

#include "rtb/concepts.hpp"
#include "rtb/stream/event.hpp"

namespace rtb {

/// A Logger that can be told secrets to mask (every stock logger can).
template <class L>
concept SecretMaskingLogger = Logger<L> && requires(L& l, std::string_view secret) { l.add_secret(secret); };

/// Holds its loggers by value, in order; get<I>() reaches one.
template <Logger... Ls>
class tee_logger {
public:
    tee_logger() = default;
    explicit tee_logger(Ls... loggers) : loggers_(std::move(loggers)...) {}

    void log(log_level level, std::string_view message) {
        std::apply([&](auto&... l) { (l.log(level, message), ...); }, loggers_);
    }
    void on_event(const build_event& e) {
        std::apply([&](auto&... l) { (l.on_event(e), ...); }, loggers_);
    }
    /// Available when every logger can mask secrets.
    void add_secret(std::string_view secret)
        requires(SecretMaskingLogger<Ls> && ...)
    {
        std::apply([&](auto&... l) { (l.add_secret(secret), ...); }, loggers_);
    }

    template <std::size_t I>
    auto& get() noexcept {
        return std::get<I>(loggers_);
    }
    template <class L>
    L& get() noexcept {
        return std::get<L>(loggers_);
    }

private:
    std::tuple<Ls...> loggers_;
};

}  // namespace rtb
