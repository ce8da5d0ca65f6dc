// custom_builder: a runtime builder assembled from two policies of our own and
// three of rtb's, with no change to rtb. Any type that satisfies a concept in
// rtb/concepts.hpp plugs into rtb::basic_builder:
//
//   - collecting_logger (a Logger) writes into a sink the caller owns;
//   - recording_transport<Inner> (a Transport) forwards every call to an inner
//     Transport and records what was asked and what came back.
//
//     custom_builder --source DIR --base-image IMG [--lock FILE]... [--runtime-repo REPO]
//
// Builds the runtime image, builds it again (which reuses it), then prints
// what the logger collected and every call the transport saw.
#include <cstdio>
#include <filesystem>
#include <optional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join

#include <rtb/builder.hpp>
#include <rtb/transport/docker_engine.hpp>
#include <rtb/policy/no_retry.hpp>
#include <rtb/stream/event_text.hpp>
#include <rtb/tags/content_tags.hpp>

namespace {

// ---------------------------------------------------------------- a Logger

/// Appends one line per message and per build event to the caller's vector.
/// It holds a pointer, not the lines: basic_builder keeps its Logger by
/// value, and the lines should end up where the caller can read them.
struct collecting_logger {
    std::vector<std::string>* sink;

    void log(rtb::log_level level, std::string_view message) {
        static constexpr const char* names[] = {"debug", "info", "warning", "error"};
        sink->push_back(fmt::format("[{}] {}", names[static_cast<int>(level)], message));
    }
    void on_event(const rtb::build_event& e) {
        // A build's own output (RUN steps' lines) is noise here; keep steps,
        // the image id and failures.
        if (std::holds_alternative<rtb::events::log_line>(e) || std::holds_alternative<rtb::events::progress>(e))
            return;
        std::string line = "[event] ";
        rtb::append_event_text(line, e);
        sink->push_back(std::move(line));
    }
};
static_assert(rtb::Logger<collecting_logger>);

// ---------------------------------------------------------- a Transport decorator

/// One call a Transport received: e.g. {"image_exists", "local/x:1 (local)", "false"}.
struct transport_call {
    std::string what;
    std::string arguments;
    std::string outcome;  ///< the result, or "error: ..." when the call threw
};

/// The calls, shared by every copy of a recording_transport. basic_builder
/// copies a copyable Transport for each concurrent build (one connection per
/// thread), so the record lives behind a shared_ptr and a mutex.
class call_record {
public:
    void add(transport_call c) {
        std::lock_guard lock(mutex_);
        calls_.push_back(std::move(c));
    }
    std::vector<transport_call> calls() const {
        std::lock_guard lock(mutex_);
        return calls_;
    }

private:
    mutable std::mutex mutex_;
    std::vector<transport_call> calls_;
};

/// Forwards to `Inner` and records every call with its outcome.
template <rtb::Transport Inner>
class recording_transport {
public:
    explicit recording_transport(Inner inner, std::shared_ptr<call_record> record = std::make_shared<call_record>())
        : inner_(std::move(inner)), record_(std::move(record)) {}

    bool image_exists(const rtb::image_ref& ref, rtb::lookup mode) {
        return recorded("image_exists", fmt::format("{} ({})", ref.familiar(), lookup_name(mode)),
                        [&] { return inner_.image_exists(ref, mode); });
    }

    // Templated as the concept asks: the builder hands in its own Logger (a
    // wrapper that feeds a stall watchdog), which goes on to the inner
    // Transport untouched.
    template <rtb::Logger L>
    rtb::build_result build(const rtb::build_request& request, L& logger, std::stop_token stop = {}) {
        return recorded("build", fmt::format("{}", fmt::join(request.tags, " ")),
                        [&] { return inner_.build(request, logger, stop); });
    }

    // The optional capabilities (rtb/concepts.hpp): a decorator forwards each
    // one its inner Transport has, and only those, so wrapping keeps what
    // the builder does with them (the free-space check of the engine's data
    // root, removing superseded images, pushing, the names a service gives).
    std::optional<std::filesystem::path> data_root(std::stop_token stop)
        requires rtb::ReportsStorage<Inner>
    {
        return recorded("data_root", "", [&] { return inner_.data_root(stop); });
    }

    std::optional<rtb::image_summary> describe_image(std::string_view name, std::stop_token stop)
        requires rtb::ImageStore<Inner>
    {
        return recorded("describe_image", std::string(name), [&] { return inner_.describe_image(name, stop); });
    }

    rtb::image_removal remove_unused_image(std::string_view id, std::stop_token stop)
        requires rtb::ImageStore<Inner>
    {
        return recorded("remove_unused_image", std::string(id), [&] { return inner_.remove_unused_image(id, stop); });
    }

    bool in_registry(const rtb::image_ref& ref, std::stop_token stop)
        requires rtb::ImagePublishing<Inner>
    {
        return recorded("in_registry", ref.familiar(), [&] { return inner_.in_registry(ref, stop); });
    }

    template <rtb::Logger L>
        requires rtb::ImagePublishing<Inner>
    rtb::events::pushed push_image(const rtb::image_ref& ref, L& logger, std::stop_token stop) {
        return recorded("push_image", ref.familiar(), [&] { return inner_.push_image(ref, logger, stop); });
    }

    std::string stored_name(const rtb::image_ref& ref, std::stop_token stop)
        requires rtb::ImageNaming<Inner>
    {
        return recorded("stored_name", ref.familiar(), [&] { return std::string(inner_.stored_name(ref, stop)); });
    }

    // A call the builder never makes, offered when the inner Transport has it.
    rtb::server_info info()
        requires requires(Inner& i) { i.info(); }
    {
        return recorded("info", "", [&] { return inner_.info(); });
    }

    Inner& inner() noexcept { return inner_; }

private:
    static std::string_view lookup_name(rtb::lookup mode) {
        switch (mode) {
            case rtb::lookup::local: return "local";
            case rtb::lookup::local_then_pull: return "local, then pull";
            case rtb::lookup::local_then_registry: return "local, then registry";
        }
        return "?";
    }

    // How each result reads in the record.
    static std::string outcome(bool found) { return found ? "true" : "false"; }
    static std::string outcome(const rtb::build_result& r) { return r.image_id; }
    static std::string outcome(const rtb::server_info& i) { return fmt::format("{} {}", i.product, i.version); }
    static std::string outcome(const std::optional<std::filesystem::path>& p) { return p ? p->string() : "none"; }
    static std::string outcome(const std::optional<rtb::image_summary>& i) { return i ? i->id : "none"; }
    static std::string outcome(rtb::image_removal r) { return r == rtb::image_removal::removed ? "removed" : "kept"; }
    static std::string outcome(const std::string& s) { return s; }
    static std::string outcome(const rtb::events::pushed& p) { return p.digest; }

    /// Runs `call` and records its outcome (or its error, which goes on to the caller).
    template <class Call>
    auto recorded(std::string_view what, std::string arguments, Call&& call) {
        transport_call c{std::string(what), std::move(arguments), {}};
        try {
            if constexpr (std::is_void_v<decltype(call())>) {
                call();
                c.outcome = "done";
                record_->add(std::move(c));
            } else {
                auto result = call();
                c.outcome = outcome(result);
                record_->add(std::move(c));
                return result;
            }
        } catch (const std::exception& e) {
            c.outcome = fmt::format("error: {}", e.what());
            record_->add(std::move(c));
            throw;
        }
    }

    Inner inner_;
    std::shared_ptr<call_record> record_;
};
// Decorated, docker_engine keeps every capability it has.
static_assert(rtb::Transport<recording_transport<rtb::docker_engine>> &&
              rtb::ReportsStorage<recording_transport<rtb::docker_engine>> &&
              rtb::ImageStore<recording_transport<rtb::docker_engine>> &&
              rtb::ImagePublishing<recording_transport<rtb::docker_engine>>);

// ---------------------------------------------------------------- the program

/// Ours, composed with rtb's stock cache, retry and tag policies.
using my_builder = rtb::basic_builder<recording_transport<rtb::docker_engine>, rtb::engine_layer_cache, rtb::no_retry,
                                      rtb::content_tags, collecting_logger>;

int usage(const char* program) {
    fmt::print(stderr,
               "usage: {} --source DIR --base-image IMAGE [--lock FILE]... [--runtime-repo REPO] [--engine-min-free BYTES]\n"
               "Builds the runtime image twice (the second time reuses it) on the engine at DOCKER_HOST,\n"
               "then prints what the logger collected and the calls the transport received.\n",
               program);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    rtb::runtime_spec spec;
    rtb::builder_options options;  // --engine-min-free: the free space the engine's data root must have
    spec.runtime_repository = "local/rtb-custom-example";
    spec.runtime_version = rtb::version_string;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        if (i + 1 >= argc) return usage(argv[0]);
        const char* value = argv[++i];
        if (flag == "--source") spec.source_dir = value;
        else if (flag == "--base-image") spec.base_image = value;
        else if (flag == "--lock") spec.lock_files.emplace_back(value);
        else if (flag == "--runtime-repo") spec.runtime_repository = value;
        else if (flag == "--engine-min-free") options.storage.engine_min_free = std::stoull(value);
        else return usage(argv[0]);
    }
    if (spec.source_dir.empty() || spec.base_image.empty()) return usage(argv[0]);

    // Both sinks are ours: they outlive the builder and every copy of its transport.
    std::vector<std::string> lines;
    auto record = std::make_shared<call_record>();
    int status = 0;
    try {
        my_builder builder(recording_transport(rtb::docker_engine{}, record), rtb::engine_layer_cache{},
                           rtb::no_retry{}, rtb::content_tags{}, collecting_logger{&lines}, options);

        // A call the builder does not make goes through the same decorator.
        const auto engine = builder.transport().info();
        fmt::print("engine: {} {} (API {})\n", engine.product, engine.version, engine.api_version);

        for (int round = 1; round <= 2; ++round) {
            const auto image = builder.build_runtime_image(spec);
            fmt::print("build {}: plan {} -> {}{}\n", round, rtb::to_string(image.plan), image.image,
                       image.image_id.empty() ? "" : fmt::format(" ({})", image.image_id));
        }
    } catch (const std::exception& e) {  // rtb::error is one; its message names the input and the remedy
        fmt::print(stderr, "custom_builder: {}\n", e.what());
        status = 1;
    }

    fmt::print("logger collected {} lines:\n", lines.size());
    for (const auto& l : lines) fmt::print("  {}\n", l);
    const auto calls = record->calls();
    fmt::print("transport received {} calls:\n", calls.size());
    for (const auto& c : calls)
        fmt::print("  {}{}{} -> {}\n", c.what, c.arguments.empty() ? "" : " ", c.arguments, c.outcome);
    return status;
}
