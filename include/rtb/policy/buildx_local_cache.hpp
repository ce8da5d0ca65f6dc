// buildx_local_cache: a CachePolicy that keeps BuildKit's build cache in a
// local folder, as OpenHands' Docker builder does: `--cache-from
// type=local,src=DIR` and `--cache-to type=local,dest=DIR,mode=max`, a
// usability check before each build, and files older than N days (7 by
// default) pruned by maintain(). Only docker_cli on its buildx path can
// honour it; every other path refuses the build with an error that says so
// (see docker_cli / build_invocation), rather than building without a cache.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rtb/build_types.hpp"
#include "rtb/concepts.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/policy/detail/local_cache_files.hpp"

namespace rtb {

/// What buildx_local_cache found when it looked at its folder.
struct local_cache_state {
    bool usable = false;        ///< a folder that exists (or was made) and is writable
    bool importable = false;    ///< it holds a valid index.json: --cache-from is worth passing
    std::string problem;        ///< why not usable or not importable; empty when both
};

class buildx_local_cache {
public:
    struct options {
        std::filesystem::path directory;            ///< the cache folder (made when missing)
        std::chrono::hours max_age{24 * 7};         ///< maintain() removes files older than this
        bool export_cache = true;                   ///< add --cache-to (off: read the cache, never write it)
        std::string mode = "max";                   ///< --cache-to mode: max (every stage) or min
        /// Told what maintain() removed (relative paths), when it removed
        /// anything: for a line on a terminal.
        std::function<void(const std::vector<std::string>& removed)> on_pruned{};
    };

    explicit buildx_local_cache(options o) : opts_(std::move(o)) {
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

    /// Checks the folder: made when missing; usable when it is a writable
    /// folder; importable when its index.json is a valid OCI index.
    local_cache_state check() const {
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

    /// Adds the cache options: --cache-to when the folder is usable (an
    /// unusable one throws io_error naming it: a cache that silently does
    /// nothing hides a slow build), --cache-from when it holds a cache.
    void prepare(build_request& r) {
        const auto s = check();
        last_ = s;
        if (!s.usable) throw error(errc::io_error, fmt::format("build cache folder: {}", s.problem));
        const auto& d = opts_.directory.native();
        if (s.importable) r.cache_from.push_back(fmt::format("type=local,src={}", d));
        if (opts_.export_cache) r.cache_to.push_back(fmt::format("type=local,dest={},mode={}", d, opts_.mode));
    }

    void after_build(const build_result&) {}

    /// Removes files older than the maximum age, keeping blobs the current
    /// index still uses (detail::local_cache::prune_plan says exactly which).
    /// Returns the files removed (relative paths). A missing folder is
    /// nothing to prune; an unreadable one is io_error.
    std::vector<std::string> maintain() {
        auto removed = prune(std::chrono::system_clock::now());
        if (!removed.empty() && opts_.on_pruned) opts_.on_pruned(removed);
        return removed;
    }

    /// maintain() as of `now` (tests, and a caller with its own clock).
    std::vector<std::string> prune(std::chrono::system_clock::time_point now) {
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

    /// What the last prepare() found.
    const local_cache_state& last_check() const noexcept { return last_; }
    const options& settings() const noexcept { return opts_; }

private:
    static std::string read_small(const std::filesystem::path& p) {
        std::ifstream in(p, std::ios::binary);
        if (!in) detail::throw_io("read", p.native());
        std::string s;
        s.resize(detail::local_cache::max_index_size + 1);
        in.read(s.data(), static_cast<std::streamsize>(s.size()));
        s.resize(static_cast<std::size_t>(in.gcount()));
        return s;
    }

    /// Blob paths reachable from index.json (empty when it is missing or
    /// invalid: then nothing is protected beyond its age).
    std::set<std::string> referenced_blobs() const {
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

    options opts_;
    local_cache_state last_;
};

static_assert(CachePolicy<buildx_local_cache>);

}  // namespace rtb

#ifdef RTB_SEPARATE_COMPILATION
// any_cache_policy's wrapper around buildx_local_cache is compiled once, by <rtb/src.hpp>.
#include "rtb/any_cache_policy.hpp"
namespace rtb {
extern template struct any_cache_policy::model<buildx_local_cache>;
}  // namespace rtb
#endif
