// The build context of a runtime image: the rendered Dockerfile, the lock
// files under lock/ and the runtime source under source/ (filtered by the
// source's own .dockerignore, as the tags hash it). Either streamed straight
// into a tar with no copy, or written to a temporary build folder that is
// removed on every path.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>

#include "rtb/context/build_context.hpp"
#include "rtb/context/dockerfile_template.hpp"
#include "rtb/context/dockerignore.hpp"
#include "rtb/context/runtime_context_options.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
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
template <PathFilter F>
build_context runtime_build_context(const runtime_spec& spec, plan_kind plan, std::string_view from_image,
                                    const F& source_filter, const runtime_context_options& options = {}) {
    build_context ctx;
    template_inputs in;
    in.base_image = std::string(from_image);
    in.plan = plan;
    in.extra_deps = spec.extra_deps;
    in.enable_browser = spec.enable_browser;
    in.runtime_version = spec.runtime_version;
    in.vars = spec.template_vars;
    std::map<std::string, std::filesystem::path> names;
    for (const auto& l : spec.lock_files) {
        const std::string name = l.filename().string();
        if (name.empty() || name == "." || name == "..")
            throw error(errc::invalid_argument, fmt::format("lock file {} has no file name", detail::printable(l.string())));
        if (auto [it, fresh] = names.emplace(name, l); !fresh)
            throw error(errc::invalid_argument,
                        fmt::format("lock files {} and {} have the same name; the context keeps one file per name",
                                    detail::printable(it->second.string()), detail::printable(l.string())));
        ctx.add_file(in.lock_dir + "/" + name, l);
        in.lock_files.push_back(name);
    }
    std::string dockerfile =
        spec.dockerfile_template
            ? render_dockerfile(*spec.dockerfile_template, options.template_name, in, spec.template_options)
            : render_dockerfile(default_dockerfile_template(), "default", in);
    append_label_instruction(dockerfile, options.labels);
    ctx.add_bytes("Dockerfile", dockerfile);
    ctx.add_tree(spec.source_dir, in.source_dir, source_filter, options.walk);
    return ctx;
}

/// The same, sending the source as its own .dockerignore says.
inline build_context runtime_build_context(const runtime_spec& spec, plan_kind plan, std::string_view from_image,
                                           const runtime_context_options& options = {}) {
    dockerignore_options ign;
    ign.dialect = options.dialect;
    return runtime_build_context(spec, plan, from_image, dockerignore::for_context(spec.source_dir, ign), options);
}

/// The context for a plan from plan_build(): its kind and FROM image.
/// Throws invalid_argument for the reuse plan (nothing to build).
inline build_context runtime_build_context(const runtime_spec& spec, const build_plan& plan,
                                           const runtime_context_options& options = {}) {
    return runtime_build_context(spec, plan.kind, plan.from_image, options);
}

/// A temporary build folder holding a context: created under `parent`
/// (default: the system temp directory), removed when this object goes
/// away, and also when filling it fails half-way.
class build_folder {
public:
    explicit build_folder(const build_context& context,
                          const std::filesystem::path& parent = std::filesystem::temp_directory_path()) {
        std::string tmpl = (parent / "rtb-build-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) detail::throw_io("create a temporary directory in", parent.string());
        path_ = tmpl;
        try {
            context.write_to(path_);
        } catch (...) {
            remove();
            throw;
        }
    }
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
    void remove() noexcept {
        if (path_.empty()) return;
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
        path_.clear();
    }
    std::filesystem::path path_;
};

}  // namespace rtb
