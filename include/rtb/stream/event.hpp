// rtb::build_event: what an engine reports while it pulls, builds and pushes,
// as typed events (decoders in this folder produce them; Loggers consume them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace rtb {

/// How important a log message is.
enum class log_level : std::uint8_t { debug, info, warning, error };

namespace events {

/// A build step began: "Step 3/7 : RUN make" (Docker), "STEP 3/7: RUN make"
/// (Podman), "#5 [3/7] RUN make" (BuildKit).
struct step {
    int index = 0;
    int total = 0;
    std::string instruction;
};

/// One line of build output (without the newline).
struct log_line {
    std::string text;
};

/// Progress of one layer of a pull or push: status "Downloading", "Pushed", ...
struct progress {
    std::string id;
    std::string status;
    std::uint64_t current = 0;
    std::uint64_t total = 0;
};

/// The engine reported the built image's id.
struct image_built {
    std::string id;
};

/// A push finished: tag, manifest digest and size.
struct pushed {
    std::string tag;
    std::string digest;
    std::uint64_t size = 0;
};

/// The engine reported a failure.
struct failure {
    std::optional<int> exit_code;
    std::string message;
};

}  // namespace events

using build_event =
    std::variant<events::step, events::log_line, events::progress, events::image_built, events::pushed, events::failure>;

}  // namespace rtb
