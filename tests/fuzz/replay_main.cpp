// Runs a fuzz target over files, without libFuzzer: how the seed corpus and
// every input a fuzzer ever crashed on stay regression tests in the normal
// build (gcc or clang, with or without sanitizers). Arguments are files or
// folders (read recursively); no input at all is an error, so an emptied
// corpus cannot pass silently.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {
int replay(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "replay: cannot read %s\n", file.c_str());
        return 1;
    }
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // An exactly-sized heap copy, so a read past the end is caught by ASan.
    std::vector<std::uint8_t> own(bytes.begin(), bytes.end());
    LLVMFuzzerTestOneInput(own.data(), own.size());
    return 0;
}
}  // namespace

int main(int argc, char** argv) {
    std::size_t inputs = 0;
    for (int i = 1; i < argc; ++i) {
        const std::filesystem::path arg = argv[i];
        std::error_code ec;
        if (std::filesystem::is_directory(arg, ec)) {
            for (const auto& e : std::filesystem::recursive_directory_iterator(arg)) {
                if (!e.is_regular_file()) continue;
                if (replay(e.path()) != 0) return 1;
                ++inputs;
            }
        } else if (std::filesystem::is_regular_file(arg, ec)) {
            if (replay(arg) != 0) return 1;
            ++inputs;
        } else {
            // A corpus folder that is missing (renamed, not checked out) must
            // not pass as "nothing to replay".
            std::fprintf(stderr, "replay: %s is neither a folder nor a file\n", argv[i]);
            return 1;
        }
    }
    std::printf("replayed %zu inputs\n", inputs);
    if (inputs == 0) {
        std::fprintf(stderr, "replay: no input found in the arguments\n");
        return 1;
    }
    return 0;
}
