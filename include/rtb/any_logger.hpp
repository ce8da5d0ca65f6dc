// any_logger: any Logger, chosen at run time (plain lines, JSON lines, live
// progress), so one basic_builder instantiation serves every choice.
#pragma once

#include <concepts>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

#include "rtb/concepts.hpp"
#include "rtb/policy/null_logger.hpp"
#include "rtb/stream/event.hpp"

namespace rtb {

/// Any Logger (move-only; the builder holds one and calls it under a lock).
class any_logger {
public:
    any_logger() : any_logger(null_logger{}) {}
    template <Logger L>
        requires(!std::same_as<std::remove_cvref_t<L>, any_logger>)
    any_logger(L logger) : held_(std::make_unique<model<L>>(std::move(logger))) {}

    void log(log_level level, std::string_view message) { held_->log(level, message); }
    void on_event(const build_event& e) { held_->on_event(e); }

    /// The held logger when it is an L (to call what only it offers).
    template <class L>
    L* target() noexcept {
        auto* m = dynamic_cast<model<L>*>(held_.get());
        return m ? &m->logger : nullptr;
    }

private:
    struct concept_ {
        virtual ~concept_() = default;
        virtual void log(log_level level, std::string_view message) = 0;
        virtual void on_event(const build_event& e) = 0;
    };
    template <class L>
    struct model final : concept_ {
        explicit model(L l) : logger(std::move(l)) {}
        void log(log_level level, std::string_view message) override { logger.log(level, message); }
        void on_event(const build_event& e) override { logger.on_event(e); }
        L logger;
    };
    std::unique_ptr<concept_> held_;
};

static_assert(Logger<any_logger>);

}  // namespace rtb
