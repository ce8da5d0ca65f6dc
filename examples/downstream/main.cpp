// rtb_downstream: a program outside rtb's tree that uses rtb as installed
// (its headers and rtb.pc), to show a consumer builds and links. It needs no
// engine: it hashes a folder, derives the runtime image tags for it, decides
// the build plan as though nothing existed yet, and packs the folder as the
// build context a build would send.
//
//     rtb_downstream DIR
#include <array>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <span>

#include <rtb/rtb.hpp>

int main(int argc, char** argv) {
    if (argc != 2) {
        fmt::print(stderr, "usage: {} DIR\n", argv[0]);
        return 2;
    }
    try {
        const std::filesystem::path dir = argv[1];
        fmt::print("rtb {}\n", rtb::version_string);

        // OpenSSL's MD5 (as hashlib computes it), and the Dirhash Standard
        // with OpenHands' options (as dirhash-python computes it).
        fmt::print("md5(hello) {}\n", rtb::hash_bytes(rtb::hash_algorithm::md5, "hello").hex());
        fmt::print("dirhash {}\n", rtb::dirhash(dir, rtb::dirhash_options::openhands()).hex());

        // Tags and the plan are pure functions of the inputs: no engine asked.
        rtb::runtime_spec spec;
        spec.base_image = "python:3.12-slim";
        spec.source_dir = dir;
        spec.runtime_version = rtb::version_string;
        spec.runtime_repository = "local/downstream";
        const auto tags = rtb::content_tags{}.tags(spec);
        const auto plan = rtb::plan_build(tags, spec.base_image, rtb::existing_images{}, false);
        fmt::print("plan {} from {}\n", rtb::to_string(plan.kind), plan.from_image);
        for (const auto& t : plan.tags_to_apply) fmt::print("tag {}\n", t);

        // The folder as `docker build DIR` would send it (.dockerignore
        // applied): a deterministic tar (libarchive), gzipped (zlib).
        const auto context = rtb::directory_context(dir);
        for (const auto& path : rtb::context_files(context)) fmt::print("context {}\n", path);
        rtb::gzip_stream body(rtb::tar_stream(context), {.level = 6});
        rtb::any_hasher h(rtb::hash_algorithm::sha256);
        std::array<std::byte, 64 * 1024> buffer;
        std::size_t total = 0;
        while (const auto n = body.read(buffer)) {
            h.update(std::span<const std::byte>(buffer.data(), n));
            total += n;
        }
        fmt::print("context.tar.gz {} bytes, sha256 {}\n", total, h.finish().hex());
        return 0;
    } catch (const std::exception& e) {  // rtb::error says what and where
        fmt::print(stderr, "rtb_downstream: {}\n", e.what());
        return 1;
    }
}
