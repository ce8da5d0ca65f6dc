// Recognising the lines that start a build step, in each engine's wording.
// Internal; pure functions returning views into the line.
#pragma once

#include <optional>
#include <string_view>

#include "rtb/stream/detail/text_scan.hpp"

namespace rtb::detail {

struct step_header {
    int index = 0;
    int total = 0;  ///< 0 when the engine gives none
    std::string_view stage;
    std::string_view instruction;
};

/// "Step 3/7 : RUN make" (Docker's classic builder), "STEP 3/7: RUN make"
/// (Podman/Buildah), "STEP 3: RUN make" (older Buildah). nullopt otherwise.
constexpr std::optional<step_header> parse_step_line(std::string_view line) noexcept {
    const bool docker = line.starts_with("Step ");
    if (!docker && !line.starts_with("STEP ")) return std::nullopt;
    auto rest = line.substr(5);
    step_header h;
    const auto index = take_int(rest);
    if (!index) return std::nullopt;
    h.index = *index;
    if (rest.starts_with("/")) {
        rest.remove_prefix(1);
        const auto total = take_int(rest);
        if (!total) return std::nullopt;
        h.total = *total;
    } else if (docker) {
        return std::nullopt;  // Docker always prints N/M
    }
    if (docker ? !rest.starts_with(" : ") : !rest.starts_with(": ")) return std::nullopt;
    h.instruction = rest.substr(docker ? 3 : 2);
    return h;
}

/// A BuildKit vertex name: "[2/5] COPY a /a", "[builder 3/7] RUN make",
/// "[linux/amd64 builder 3/7] RUN make" are numbered steps; anything else
/// ("[internal] load build context", "exporting to image") is an unnumbered
/// step whose instruction is the whole name.
constexpr step_header parse_vertex_name(std::string_view name) noexcept {
    step_header h;
    h.instruction = name;
    if (!name.starts_with("[")) return h;
    const auto close = name.find("] ");
    if (close == std::string_view::npos) return h;
    const auto inside = name.substr(1, close - 1);
    const auto space = inside.rfind(' ');
    auto counter = space == std::string_view::npos ? inside : inside.substr(space + 1);
    const auto index = take_int(counter);
    if (!index || !counter.starts_with("/")) return h;
    counter.remove_prefix(1);
    const auto total = take_int(counter);
    if (!total || !counter.empty()) return h;
    h.index = *index;
    h.total = *total;
    h.stage = space == std::string_view::npos ? std::string_view{} : inside.substr(0, space);
    h.instruction = name.substr(close + 2);
    return h;
}

}  // namespace rtb::detail
