// any_transport: any Transport, chosen at run time. A program that picks the
// engine or service from a flag (as the rtb program does) instantiates one
// basic_builder<any_transport, ...> instead of one per Transport, as Asio's
// any_io_executor stands for any executor. The optional capabilities
// (ReportsStorage, ImageStore, ImagePublishing, ImageNaming) are always
// there and answer as the held Transport would, or as if it lacked them.
#pragma once

#include <concepts>
#include <filesystem>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "rtb/build_types.hpp"
#include "rtb/concepts.hpp"
#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/stream/event.hpp"

namespace rtb {

/// A Logger by reference, its type erased: what any_transport hands the
/// Transport it holds. It does not own the Logger, which must outlive it.
class logger_ref {
public:
    template <Logger L>
        requires(!std::same_as<std::remove_cvref_t<L>, logger_ref>)
    explicit logger_ref(L& logger) noexcept
        : target_(&logger),
          log_([](void* l, log_level level, std::string_view m) { static_cast<L*>(l)->log(level, m); }),
          event_([](void* l, const build_event& e) { static_cast<L*>(l)->on_event(e); }) {}

    void log(log_level level, std::string_view message) { log_(target_, level, message); }
    void on_event(const build_event& e) { event_(target_, e); }

private:
    void* target_;
    void (*log_)(void*, log_level, std::string_view);
    void (*event_)(void*, const build_event&);
};

/// Any copyable Transport. Copies copy the held Transport (as basic_builder
/// copies its Transport for each concurrent build).
class any_transport {
public:
    template <Transport T>
        requires(!std::same_as<std::remove_cvref_t<T>, any_transport> && std::copy_constructible<T>)
    any_transport(T transport) : held_(std::make_unique<model<T>>(std::move(transport))) {}

    any_transport(const any_transport& o) : held_(o.held_->clone()) {}
    any_transport(any_transport&&) noexcept = default;
    any_transport& operator=(const any_transport& o) {
        if (this != &o) held_ = o.held_->clone();
        return *this;
    }
    any_transport& operator=(any_transport&&) noexcept = default;

    /// Transport.
    bool image_exists(const image_ref& ref, lookup mode) { return held_->image_exists(ref, mode); }
    template <Logger L>
    build_result build(const build_request& request, L& logger, std::stop_token stop = {}) {
        logger_ref ref(logger);
        return held_->build(request, ref, stop);
    }

    /// ReportsStorage: the held Transport's answer, or std::nullopt when it cannot say.
    std::optional<std::filesystem::path> data_root(std::stop_token stop = {}) { return held_->data_root(stop); }

    /// ImageStore: std::nullopt when the held Transport keeps no images it can describe.
    std::optional<image_summary> describe_image(std::string_view name_or_id, std::stop_token stop = {}) {
        return held_->describe_image(name_or_id, stop);
    }
    /// ImageStore: throws errc::unsupported_version when the held Transport
    /// cannot remove images (describe_image() never found one there).
    image_removal remove_unused_image(std::string_view id, std::stop_token stop = {}) {
        return held_->remove_unused_image(id, stop);
    }

    /// ImagePublishing: whether the held Transport can push (publishes());
    /// in_registry() and push_image() throw errc::unsupported_version when
    /// it cannot.
    bool publishes() const noexcept { return held_->publishes(); }
    bool in_registry(const image_ref& ref, std::stop_token stop = {}) { return held_->in_registry(ref, stop); }
    template <Logger L>
    events::pushed push_image(const image_ref& ref, L& logger, std::stop_token stop = {}) {
        logger_ref lr(logger);
        return held_->push_image(ref, lr, stop);
    }

    /// ImageNaming: the held Transport's name for `ref`, or `ref` as it is.
    std::string stored_name(const image_ref& ref, std::stop_token stop = {}) { return held_->stored_name(ref, stop); }

    /// The held Transport when it is a T (as std::function::target).
    template <class T>
    T* target() noexcept {
        auto* m = dynamic_cast<model<T>*>(held_.get());
        return m ? &m->transport : nullptr;
    }

private:
    struct concept_ {
        virtual ~concept_() = default;
        virtual std::unique_ptr<concept_> clone() const = 0;
        virtual bool image_exists(const image_ref& ref, lookup mode) = 0;
        virtual build_result build(const build_request& request, logger_ref& logger, std::stop_token stop) = 0;
        virtual std::optional<std::filesystem::path> data_root(std::stop_token stop) = 0;
        virtual std::optional<image_summary> describe_image(std::string_view name, std::stop_token stop) = 0;
        virtual image_removal remove_unused_image(std::string_view id, std::stop_token stop) = 0;
        virtual std::string stored_name(const image_ref& ref, std::stop_token stop) = 0;
        virtual bool publishes() const noexcept = 0;
        virtual bool in_registry(const image_ref& ref, std::stop_token stop) = 0;
        virtual events::pushed push_image(const image_ref& ref, logger_ref& logger, std::stop_token stop) = 0;
    };

    template <class T>
    struct model final : concept_ {
        explicit model(T t) : transport(std::move(t)) {}
        std::unique_ptr<concept_> clone() const override { return std::make_unique<model>(transport); }
        bool image_exists(const image_ref& ref, lookup mode) override { return transport.image_exists(ref, mode); }
        build_result build(const build_request& request, logger_ref& logger, std::stop_token stop) override {
            return transport.build(request, logger, stop);
        }
        std::optional<std::filesystem::path> data_root(std::stop_token stop) override {
            if constexpr (ReportsStorage<T>) return transport.data_root(stop);
            else return std::nullopt;
        }
        std::optional<image_summary> describe_image(std::string_view name, std::stop_token stop) override {
            if constexpr (ImageStore<T>) return transport.describe_image(name, stop);
            else return std::nullopt;
        }
        image_removal remove_unused_image(std::string_view id, std::stop_token stop) override {
            if constexpr (ImageStore<T>) {
                return transport.remove_unused_image(id, stop);
            } else {
                (void)stop;
                throw error(errc::unsupported_version,
                            fmt::format("this transport keeps no images it can remove (asked to remove {})", id));
            }
        }
        bool publishes() const noexcept override { return ImagePublishing<T>; }
        bool in_registry(const image_ref& ref, std::stop_token stop) override {
            if constexpr (ImagePublishing<T>) {
                return transport.in_registry(ref, stop);
            } else {
                (void)stop;
                throw error(errc::unsupported_version,
                            fmt::format("this transport cannot ask a registry directly (asked about {})", ref.str()));
            }
        }
        events::pushed push_image(const image_ref& ref, logger_ref& logger, std::stop_token stop) override {
            if constexpr (ImagePublishing<T>) {
                return transport.push_image(ref, logger, stop);
            } else {
                (void)logger;
                (void)stop;
                throw error(errc::unsupported_version,
                            fmt::format("this transport cannot push images (asked to push {})", ref.str()));
            }
        }
        std::string stored_name(const image_ref& ref, std::stop_token stop) override {
            if constexpr (ImageNaming<T>) return std::string(transport.stored_name(ref, stop));
            else return ref.str();
        }
        T transport;
    };

    std::unique_ptr<concept_> held_;
};

static_assert(Transport<any_transport> && ReportsStorage<any_transport> && ImageStore<any_transport> &&
              ImagePublishing<any_transport> && ImageNaming<any_transport> && std::copy_constructible<any_transport>);

}  // namespace rtb
