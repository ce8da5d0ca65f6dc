// .dockerignore files and gitwildmatch patterns: reading, compiling and
// matching a path never fail other than with rtb::error, and the gitwildmatch
// shortcuts for common shapes agree with the compiled program.
#include "rtb/context/dockerignore.hpp"
#include "rtb/hash/gitwildmatch.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    rtb::fuzz::steering in(data, size);
    const auto mode = in.byte();
    const auto parts = in.parts();
    const std::string_view patterns = parts[0];
    const std::string_view path = parts.size() > 1 ? parts[1] : std::string_view("a/b/c.txt");

    if (mode & 1) {
        try {
            const auto lines = rtb::read_dockerignore(patterns, ".dockerignore");
            const auto dialect = (mode & 2) ? rtb::dockerignore_dialect::docker_20_10 : rtb::dockerignore_dialect::moby;
            rtb::dockerignore ignore(lines, dialect);
            (void)ignore.matches(path);
            (void)ignore.may_include_below(path);
        } catch (const rtb::error&) {
        }
    } else {
        try {
            const auto pattern = rtb::gitwildmatch_pattern::compile(patterns);
            if (!pattern) return 0;
            const auto decoded = rtb::gitwildmatch_pattern::decode_path(path);
            if (pattern->matches(std::u32string_view(decoded)) != pattern->matches_by_program(decoded))
                rtb::fuzz::property_failed("gitwildmatch shortcut and program disagree");
        } catch (const rtb::error&) {
        }
    }
    return 0;
}
