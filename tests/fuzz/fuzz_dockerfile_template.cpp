// Dockerfile templates are user files: rendering one fails only with
// rtb::error (naming line and column), never with a crash or a hang.
#include "rtb/context/dockerfile_template.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    rtb::fuzz::steering in(data, size);
    const auto plan = in.byte() % 3;
    const auto parts = in.parts();
    rtb::template_inputs inputs;
    inputs.base_image = "local/busybox:1";
    inputs.plan = plan == 0 ? rtb::plan_kind::scratch : plan == 1 ? rtb::plan_kind::versioned : rtb::plan_kind::lock;
    inputs.lock_files = {"poetry.lock"};
    if (parts.size() > 2) inputs.vars.emplace(std::string(parts[1]), std::string(parts[2]));
    if (parts.size() > 3) inputs.extra_deps = std::string(parts[3]);
    try {
        (void)rtb::render_dockerfile(parts[0], "Dockerfile.j2", inputs);
    } catch (const rtb::error&) {
    }
    return 0;
}
