// The .dockerignore filter any_tag_strategy gives a strategy without a
// source filter (rtb/any_tag_strategy.hpp): included by that header
// (header-only) or compiled once by <rtb/src.hpp> (RTB_SEPARATE_COMPILATION).
#pragma once

#include <filesystem>

#include "rtb/any_tag_strategy.hpp"
#include "rtb/context/dockerignore.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/hash/path_filter.hpp"

namespace rtb::detail {

RTB_DECL any_path_filter source_dockerignore(const std::filesystem::path& source_dir) {
    return any_path_filter(dockerignore::for_context(source_dir));
}

}  // namespace rtb::detail
