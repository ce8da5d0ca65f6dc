// How the runtime context is assembled (rtb/context/runtime_context.hpp), in
// a header of its own: builder_options holds one without needing the
// context's code.
#pragma once

#include <map>
#include <string>

#include "rtb/context/dockerignore_dialect.hpp"
#include "rtb/hash/walk_options.hpp"

namespace rtb {

/// How runtime_build_context() reads the source and writes the Dockerfile.
struct runtime_context_options {
    /// How the runtime source's .dockerignore is read.
    dockerignore_dialect dialect = dockerignore_dialect::moby;
    /// A name for a custom template in errors (e.g. its file name).
    std::string template_name = "custom template";
    walk_options walk;
    /// Labels for the image, written as one LABEL instruction at the end of
    /// the rendered Dockerfile (append_label_instruction): one build step
    /// on every engine, where build parameters cost dockerd's classic
    /// builder and Podman a step per label. The tags never see this line:
    /// they hash the template, not the rendered text.
    std::map<std::string, std::string> labels;
};

}  // namespace rtb
