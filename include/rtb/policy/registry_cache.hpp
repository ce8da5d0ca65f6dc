// registry_cache: a CachePolicy that keeps BuildKit's build cache as an
// image in a registry (`--cache-from type=registry,ref=REF`, `--cache-to
// type=registry,ref=REF,mode=max`), so builders on several machines share
// it. docker_cli passes the specs through on its buildx path; Podman gets
// `--cache-from REF` / `--cache-to REF` (a repository); docker's built-in
// BuildKit and the legacy builder can import from REF but not export, and
// refuse the build with an error that says so. Retention is the registry's
// business: maintain() does nothing.
#pragma once

#include <string>

#include <fmt/format.h>

#include "rtb/build_types.hpp"
#include "rtb/concepts.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"

namespace rtb {

class registry_cache {
public:
    struct options {
        std::string ref;             ///< the cache image, e.g. "127.0.0.1:5000/cache/runtime:buildcache"
        bool export_cache = true;    ///< add --cache-to (off: read only, e.g. on CI forks)
        std::string mode = "max";    ///< max (every stage) or min
    };

    explicit registry_cache(options o) : opts_(std::move(o)) {
        if (opts_.ref.empty()) throw error(errc::invalid_argument, "registry_cache: no cache image given");
        if (opts_.ref.find_first_of(",\"'=") != std::string::npos)
            throw error(errc::invalid_argument,
                        fmt::format("cache image {} holds a comma, quote or '=', which a cache spec cannot carry",
                                    detail::printable(opts_.ref)));
        image_ref::parse(opts_.ref);  // names what is wrong with it
        if (opts_.mode != "max" && opts_.mode != "min")
            throw error(errc::invalid_argument,
                        fmt::format("cache mode {} is neither max nor min", detail::printable(opts_.mode)));
    }

    void prepare(build_request& r) const {
        r.cache_from.push_back(fmt::format("type=registry,ref={}", opts_.ref));
        if (opts_.export_cache) r.cache_to.push_back(fmt::format("type=registry,ref={},mode={}", opts_.ref, opts_.mode));
    }
    void after_build(const build_result&) const {}
    void maintain() const {}

    const options& settings() const noexcept { return opts_; }

private:
    options opts_;
};

static_assert(CachePolicy<registry_cache>);

}  // namespace rtb

#ifdef RTB_SEPARATE_COMPILATION
// any_cache_policy's wrapper around registry_cache is compiled once, by <rtb/src.hpp>.
#include "rtb/any_cache_policy.hpp"
namespace rtb {
extern template struct any_cache_policy::model<registry_cache>;
}  // namespace rtb
#endif
