// directory_context() and context_files() (rtb/context/directory_context.hpp):
// included by that header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION), with the .dockerignore matcher they use.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "rtb/context/build_context.hpp"
#include "rtb/context/dockerignore.hpp"
#include "rtb/context/directory_context.hpp"
#include "rtb/detail/config.hpp"

namespace rtb {

RTB_DECL build_context directory_context(const std::filesystem::path& dir, const directory_context_options& options) {
    return build_context::from_directory(dir, dockerignore::for_context(dir, options.ignore), options.walk);
}

RTB_DECL std::vector<std::string> context_files(const build_context& context) {
    std::vector<std::string> out;
    for (const auto& e : context.entries())
        if (e.kind != entry_kind::directory) out.push_back(e.path);
    return out;
}

}  // namespace rtb
