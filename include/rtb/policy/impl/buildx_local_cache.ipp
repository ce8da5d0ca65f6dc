// buildx_local_cache's member functions (rtb/policy/buildx_local_cache.hpp):
// included by that header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION), with the cache folder's index parsing (simdjson).
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rtb/detail/config.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/policy/buildx_local_cache.hpp"
#include "rtb/policy/detail/local_cache_files.hpp"

namespace rtb {

RTB_DECL buildx_local_cache::buildx_local_cache(options o) : opts_(std::move(o)) {
    if (opts_.directory.empty()) throw error(errc::invalid_argument, "buildx_local_cache: no cache folder given");
    if (opts_.directory.native().find_first_of(",\"'\n") != std::string::npos)
        throw error(errc::invalid_argument,
                    fmt::format("cache folder {} holds a comma, quote or newline, which a BuildKit cache spec "
                                "cannot carry",
                                detail::printable(opts_.directory.native())));
    if (opts_.mode != "max" && opts_.mode != "min")
        throw error(errc::invalid_argument,
                    fmt::format("cache mode {} is neither max nor min", detail::printable(opts_.mode)));
    if (opts_.max_age.count() <= 0)
        throw error(errc::invalid_argument, "buildx_local_cache: the maximum age must be positive");
}

RTB_DECL local_cache_state buildx_local_cache::check() const {
    local_cache_state s;
    const auto& dir = opts_.directory;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (!std::filesystem::is_directory(dir, ec)) {
        s.problem = fmt::format("{} is not a folder and cannot be made one", detail::printable(dir.native()));
        return s;
    }
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
        s.problem = fmt::format("{} is not writable", detail::printable(dir.native()));
        return s;
    }
    s.usable = true;
    const auto index = dir / "index.json";
    if (!std::filesystem::exists(index, ec)) {
        s.problem = "no index.json yet (the first build fills the cache)";
        return s;
    }
    try {
        detail::local_cache::index_digests(read_small(index), index.native());
        s.importable = true;
    } catch (const error& e) {
        s.problem = e.what();
    }
    return s;
}

RTB_DECL void buildx_local_cache::prepare(build_request& r) {
    const auto s = check();
    last_ = s;
    if (!s.usable) throw error(errc::io_error, fmt::format("build cache folder: {}", s.problem));
    const auto& d = opts_.directory.native();
    if (s.importable) r.cache_from.push_back(fmt::format("type=local,src={}", d));
    if (opts_.export_cache) r.cache_to.push_back(fmt::format("type=local,dest={},mode={}", d, opts_.mode));
}

RTB_DECL std::vector<std::string> buildx_local_cache::maintain() {
    auto removed = prune(std::chrono::system_clock::now());
    if (!removed.empty() && opts_.on_pruned) opts_.on_pruned(removed);
    return removed;
}

RTB_DECL std::vector<std::string> buildx_local_cache::prune(std::chrono::system_clock::time_point now) {
    namespace fs = std::filesystem;
    const auto& dir = opts_.directory;
    std::error_code ec;
    if (!fs::exists(dir, ec)) return {};
    std::vector<detail::local_cache::cache_file> files;
    fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
    if (ec) detail::throw_io("read the cache folder", dir.native(), ec.value());
    for (; it != end; it.increment(ec)) {
        if (ec) detail::throw_io("read the cache folder", dir.native(), ec.value());
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        const auto since_epoch = std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec);
        files.push_back({it->path().lexically_relative(dir).generic_string(),
                         std::chrono::system_clock::time_point(
                             std::chrono::duration_cast<std::chrono::system_clock::duration>(since_epoch))});
    }
    const auto doomed = detail::local_cache::prune_plan(files, referenced_blobs(), now, opts_.max_age);
    for (const auto& p : doomed)
        if (!fs::remove(dir / p, ec) && ec) detail::throw_io("remove", (dir / p).native(), ec.value());
    return doomed;
}

RTB_DECL std::string buildx_local_cache::read_small(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) detail::throw_io("read", p.native());
    std::string s;
    s.resize(detail::local_cache::max_index_size + 1);
    in.read(s.data(), static_cast<std::streamsize>(s.size()));
    s.resize(static_cast<std::size_t>(in.gcount()));
    return s;
}

RTB_DECL std::set<std::string> buildx_local_cache::referenced_blobs() const {
    std::set<std::string> seen;
    std::vector<std::string> queue;
    try {
        const auto index = opts_.directory / "index.json";
        queue = detail::local_cache::index_digests(read_small(index), index.native());
    } catch (const error&) {
        return seen;
    }
    while (!queue.empty()) {
        const auto d = std::move(queue.back());
        queue.pop_back();
        const auto path = detail::local_cache::blob_path(d);
        if (!seen.insert(path).second) continue;
        std::error_code ec;
        const auto file = opts_.directory / path;
        const auto size = std::filesystem::file_size(file, ec);
        if (ec || size > detail::local_cache::max_index_size) continue;
        try {
            for (auto& next : detail::local_cache::blob_references(read_small(file))) queue.push_back(std::move(next));
        } catch (const error&) {
        }
    }
    return seen;
}

}  // namespace rtb
