// The build context of a runtime image: the rendered Dockerfile, the lock
// files under lock/ and the runtime source under source/ (filtered by the
// source's own .dockerignore, as the tags hash it). Either streamed straight
// into a tar with no copy, or written to a temporary build folder that is
// removed on every path.
#pragma once

#include <filesystem>
#include <string_view>
#include <utility>

#include "rtb/context/build_context.hpp"
#include "rtb/context/runtime_context_options.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/hash/path_filter.hpp"
#include "rtb/plan.hpp"
#include "rtb/runtime_spec.hpp"

namespace rtb {

/// Assembles the context that builds `spec` with plan `plan` on image
/// `from_image` (the base image for scratch, the versioned or lock image
/// otherwise; build_plan::from_image): "Dockerfile" rendered from spec.dockerfile_template (or the
/// default template) with spec.template_vars and spec.template_options, "lock/<name>" for each lock
/// file, and "source/..." for the source tree. Throws invalid_argument for
/// two lock files with the same name or a template problem.
///
/// `source_filter` decides which source entries are sent; a builder passes
/// its TagStrategy's, so the tags hash exactly what the image receives. The
/// default is the source's own .dockerignore.
RTB_DECL build_context runtime_build_context(const runtime_spec& spec, plan_kind plan, std::string_view from_image,
                                             const any_path_filter& source_filter,
                                             const runtime_context_options& options = {});

/// The same, sending the source as its own .dockerignore says.
RTB_DECL build_context runtime_build_context(const runtime_spec& spec, plan_kind plan, std::string_view from_image,
                                             const runtime_context_options& options = {});

/// The context for a plan from plan_build(): its kind and FROM image.
/// Throws invalid_argument for the reuse plan (nothing to build).
RTB_DECL build_context runtime_build_context(const runtime_spec& spec, const build_plan& plan,
                                             const runtime_context_options& options = {});

/// A temporary build folder holding a context: created under `parent`
/// (default: the system temp directory), removed when this object goes
/// away, and also when filling it fails half-way.
class build_folder {
public:
    explicit build_folder(const build_context& context,
                          const std::filesystem::path& parent = std::filesystem::temp_directory_path());
    ~build_folder() { remove(); }
    build_folder(build_folder&& o) noexcept : path_(std::exchange(o.path_, {})) {}
    build_folder& operator=(build_folder&& o) noexcept {
        if (this != &o) {
            remove();
            path_ = std::exchange(o.path_, {});
        }
        return *this;
    }
    build_folder(const build_folder&) = delete;
    build_folder& operator=(const build_folder&) = delete;

    const std::filesystem::path& path() const noexcept { return path_; }

private:
    void remove() noexcept;
    std::filesystem::path path_;
};

}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/context/impl/runtime_context.ipp"
#endif
