// A downstream translation unit that builds with rtb::docker_builder: what a
// program that uses the library's most common alias compiles. The compile
// time benchmark (benchmarks/run-compile-bench) measures it.
#include <rtb/docker_builder.hpp>

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    rtb::runtime_spec spec;
    spec.base_image = argv[1];
    spec.source_dir = argv[2];
    rtb::docker_builder builder;
    const auto image = builder.build_runtime_image(spec);
    return image.image.empty() ? 1 : 0;
}
