// The runtime image's build context (rtb/context/runtime_context.hpp): included
// by that header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION), with the Dockerfile template and .dockerignore
// they use.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <system_error>

#include <unistd.h>

#include <fmt/format.h>

#include "rtb/context/build_context.hpp"
#include "rtb/context/dockerfile_template.hpp"
#include "rtb/context/dockerignore.hpp"
#include "rtb/context/runtime_context.hpp"
#include "rtb/context/runtime_context_options.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/plan.hpp"
#include "rtb/runtime_spec.hpp"

namespace rtb {

RTB_DECL build_context runtime_build_context(const runtime_spec& spec, plan_kind plan, std::string_view from_image,
                                             const any_path_filter& source_filter,
                                             const runtime_context_options& options) {
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

RTB_DECL build_context runtime_build_context(const runtime_spec& spec, plan_kind plan, std::string_view from_image,
                                             const runtime_context_options& options) {
    dockerignore_options ign;
    ign.dialect = options.dialect;
    return runtime_build_context(spec, plan, from_image, dockerignore::for_context(spec.source_dir, ign), options);
}

RTB_DECL build_context runtime_build_context(const runtime_spec& spec, const build_plan& plan,
                                             const runtime_context_options& options) {
    return runtime_build_context(spec, plan.kind, plan.from_image, options);
}

RTB_DECL build_folder::build_folder(const build_context& context, const std::filesystem::path& parent) {
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

RTB_DECL void build_folder::remove() noexcept {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    path_.clear();
}

}  // namespace rtb
