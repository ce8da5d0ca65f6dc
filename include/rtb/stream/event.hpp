// rtb::build_event: what an engine reports while it pulls, builds and pushes,
// as typed events. The decoders in this folder produce them (Docker/Podman JSON
// streams, BuildKit plain logs); Loggers consume them. docs/events.md maps each
// engine's output to these types.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace rtb {

/// How important a log message is.
enum class log_level : std::uint8_t { debug, info, warning, error };

namespace events {

/// A build step (BuildKit: a vertex) began.
///   Docker  "Step 3/7 : RUN make"        -> {3, 7, "RUN make"}
///   Podman  "STEP 3/7: RUN make"         -> {3, 7, "RUN make"}
///   BuildKit "#9 [builder 3/7] RUN make" -> {3, 7, "RUN make", "builder", 9}
///   BuildKit "#5 [internal] load build context" -> {0, 0, "[internal] load build context", "", 5}
struct step {
    int index = 0;            ///< 1-based; 0 when the engine does not number it
    int total = 0;            ///< 0 when unknown
    std::string instruction;  ///< the Dockerfile instruction (or the vertex name when unnumbered)
    std::string stage;        ///< BuildKit stage name ("builder"), empty otherwise
    int vertex = 0;           ///< BuildKit vertex number (#N); 0 for Docker and Podman
    bool operator==(const step&) const = default;
};

/// One line of build output, without its line terminator. A line the engine
/// rewrote with carriage returns keeps only its last segment (what a terminal shows).
struct log_line {
    std::string text;
    int vertex = 0;  ///< BuildKit vertex the line belongs to; 0 otherwise
    bool operator==(const log_line&) const = default;
};

/// Progress of one layer of a pull or push ("Downloading", "Pull complete",
/// "Pushed", ...), or another engine status that names an id.
struct progress {
    std::string id;      ///< the layer's short id (or what the engine put in "id")
    std::string status;  ///< the engine's words
    std::uint64_t current = 0;
    std::uint64_t total = 0;  ///< 0 when unknown
    bool operator==(const progress&) const = default;
};

/// A BuildKit vertex finished ("#7 DONE 0.1s", "#4 CACHED").
struct step_done {
    int vertex = 0;
    bool cached = false;
    std::optional<double> seconds;  ///< as printed by BuildKit (0.1 s resolution)
    bool operator==(const step_done&) const = default;
};

/// The engine reported the built image's id ("sha256:<64 hex>").
struct image_built {
    std::string id;
    bool operator==(const image_built&) const = default;
};

/// A push finished: tag, manifest digest and manifest size.
struct pushed {
    std::string tag;
    std::string digest;
    std::uint64_t size = 0;
    bool operator==(const pushed&) const = default;
};

/// The engine reported a failure (a failing RUN, a missing base image, ...).
struct failure {
    std::optional<int> exit_code;  ///< the failing command's exit status, when the engine says it
    std::string message;           ///< the engine's message, without a trailing newline
    std::string step;              ///< the failing step as step_text() renders it; empty when unknown
    bool operator==(const failure&) const = default;
};

}  // namespace events

/// One event. Decoders hand events to a sink by const reference; an event's
/// strings are owned, so a sink may copy and keep it.
using build_event = std::variant<events::step, events::log_line, events::progress, events::step_done,
                                 events::image_built, events::pushed, events::failure>;

/// Anything that receives events: every Logger is one. Decoders are templates
/// over their sink so a call costs no more than a function call.
template <class S>
concept EventSink = requires(S& s, const build_event& e) { s.on_event(e); };

/// The stable short name of an event kind, as `rtb events` and the
/// json_logger print it: step, log, progress, step_done, image, pushed, failure.
constexpr std::string_view event_kind(const build_event& e) noexcept {
    constexpr std::string_view names[] = {"step", "log", "progress", "step_done", "image", "pushed", "failure"};
    static_assert(std::size(names) == std::variant_size_v<build_event>);
    return names[e.index()];
}

/// A step as one line, the same for every engine: "[3/7] RUN make",
/// "[builder 3/7] RUN make", "[3] RUN make" (no total), or the bare
/// instruction when the step is unnumbered.
inline std::string step_text(const events::step& s) {
    if (s.index <= 0) return s.instruction;
    std::string out = "[";
    if (!s.stage.empty()) out.append(s.stage).push_back(' ');
    out += std::to_string(s.index);
    if (s.total > 0) out.append("/").append(std::to_string(s.total));
    out.append("] ").append(s.instruction);
    return out;
}

}  // namespace rtb
