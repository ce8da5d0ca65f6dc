// What checking the sent files against the tags' record costs a build, side
// by side in one run. A build's own CPU work on its files is: compute the
// tags (hash the lock files and the source tree), list the context, stream
// it as a tar. Each benchmark does exactly that for the tree, once as
// before the check existed (tags(spec), no record: the tar is not checked)
// and once as a build does it now (tags(spec, record), the context sent as
// hashed: XXH3 beside MD5 while hashing, XXH3 again while sending), with the
// stat cache warm (rtb build's default) and cold (--no-stat-cache). The
// rest of a build (process start, HTTP, the engine's output) is the same in
// both, so the ratio here bounds the ratio of a whole build from above.
//
// Timed as process CPU time (every thread), not wall time: the machine is
// shared. Trees come from RTB_BENCH_TREES="name=dir,..." and the lock files
// from RTB_BENCH_LOCKS="a:b" (benchmarks/run-hashed-send-bench sets both).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/context/runtime_context.hpp"
#include "rtb/context/tar_stream.hpp"
#include "rtb/tags/openhands_tags.hpp"

namespace {
namespace fs = std::filesystem;
using namespace rtb;

std::uint64_t drain(tar_stream& s) {
    static std::vector<std::byte> buf(1 << 20);
    std::uint64_t total = 0;
    while (const auto n = s.read(buf)) total += n;
    return total;
}

runtime_spec spec_for(const fs::path& tree) {
    runtime_spec s;
    s.base_image = "local/busybox:1";
    s.source_dir = tree;
    s.runtime_version = "0.1.0";
    if (const char* locks = std::getenv("RTB_BENCH_LOCKS")) {
        std::string_view v(locks);
        while (!v.empty()) {
            const auto colon = v.find(':');
            s.lock_files.emplace_back(std::string(v.substr(0, colon)));
            v = colon == std::string_view::npos ? std::string_view{} : v.substr(colon + 1);
        }
    }
    return s;
}

/// Tags, context and tar as a build makes them; `checked`: with the record.
void build_files(benchmark::State& state, const fs::path& tree, bool checked, bool warm) {
    const auto spec = spec_for(tree);
    const openhands_tags tags({.jobs = 0, .use_stat_cache = warm});
    if (warm) {  // the cache holds every file with its fingerprint (which serves both ways)
        hashed_files warm_up;
        tags.tags(spec, warm_up);
    }
    std::uint64_t bytes = 0;
    for (auto _ : state) {
        auto record = std::make_shared<hashed_files>();
        const auto t = checked ? tags.tags(spec, *record) : tags.tags(spec);
        benchmark::DoNotOptimize(t);
        auto context = runtime_build_context(spec, plan_kind::scratch, spec.base_image, tags.source_filter(spec));
        if (checked) context.send_as_hashed(record);
        tar_stream s(context, tar_options{});
        bytes = drain(s);
    }
    state.counters["tar_bytes"] = static_cast<double>(bytes);
}

void register_all() {
    const char* spec = std::getenv("RTB_BENCH_TREES");
    if (!spec) {
        fmt::print(stderr, "set RTB_BENCH_TREES=name=dir[,name=dir] (benchmarks/run-hashed-send-bench does)\n");
        std::exit(2);
    }
    std::string_view v(spec);
    while (!v.empty()) {
        const auto comma = v.find(',');
        const auto item = v.substr(0, comma);
        v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
        const auto eq = item.find('=');
        const std::string name(item.substr(0, eq));
        const fs::path dir(std::string(item.substr(eq + 1)));
        for (const bool warm : {true, false})
            for (const bool checked : {false, true})
                benchmark::RegisterBenchmark(
                    fmt::format("build_files_{}_{}/{}", warm ? "warm" : "cold", checked ? "checked" : "unchecked", name)
                        .c_str(),
                    [=](benchmark::State& st) { build_files(st, dir, checked, warm); })
                    ->MeasureProcessCPUTime()
                    ->Unit(benchmark::kMillisecond);
    }
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
