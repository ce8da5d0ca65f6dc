// An image holds what its tags hashed, on a real engine (RTB_TEST_ENGINE:
// docker or podman, through scripts/engines run) and through each
// transport: the Engine API (docker_engine), the client program
// (docker_cli: docker with BuildKit on dockerd, podman on Podman) and the
// Runtime API (remote_api against the server behind `rtb serve`, building on
// the same engine). For each, a file is changed after the tags were computed
// and before it is sent, at a known point (the record's before_send hook, or
// right after hashing): a source file, a lock file, an added file, a removed
// file. The build fails with errc::source_changed naming the file, no image
// carries any of its tags, and building again builds the files as they are
// now, under the tags of that content. Nothing is skipped; a missing engine
// fails the run.
#define BOOST_TEST_MODULE source_changed
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "rtb/builder.hpp"
#include "rtb/policy/no_retry.hpp"
#include "rtb/policy/null_logger.hpp"
#include "rtb/serve/runtime_api_server.hpp"
#include "rtb/transport/docker_cli.hpp"
#include "rtb/transport/docker_engine.hpp"
#include "rtb/transport/remote_api.hpp"
#include "support/temp_tree.hpp"

using namespace rtb;
using rtb::test::temp_tree;

namespace {

std::string need_env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v)
        throw std::runtime_error(
            fmt::format("{} is not set: run this test through `scripts/engines run -- test_source_changed`", name));
    return v;
}

struct fixture_env {
    std::string engine = need_env("RTB_TEST_ENGINE");
    std::string host = need_env(engine == "podman" ? "RTB_PODMAN_HOST" : "RTB_DOCKER_HOST");
    std::string base = need_env("RTB_TEST_BASE_IMAGE");
    std::string run = fmt::format("{}-{}", engine, ::getpid());

    docker_engine::options engine_options() const {
        docker_engine::options o;
        o.endpoint = http::parse_docker_host(host);
        o.docker_config = std::filesystem::path("/nonexistent/rtb-test/config.json");
        return o;
    }
    docker_engine engine_client() const { return docker_engine(engine_options()); }
    /// The client program for this engine: Debian's docker (BuildKit) or podman.
    docker_cli cli() const {
        docker_cli::options o;
        o.program = engine == "podman" ? "podman" : "/usr/bin/docker";
        o.stop_grace = std::chrono::milliseconds(15'000);
        return docker_cli(std::move(o));
    }
};

const fixture_env& env() {
    static const fixture_env e;
    return e;
}

/// OpenHands' tags, with two points at which a test changes the source:
/// right after hashing, and as each file is about to be sent.
struct hooked_tags {
    openhands_tags inner{openhands_tags::options{.jobs = 1, .use_stat_cache = false}};
    std::function<void()> after_hash;
    std::function<void(std::string_view)> before_send;

    tag_set tags(const runtime_spec& s) const { return inner.tags(s); }
    tag_set tags(const runtime_spec& s, hashed_files& record) const {
        auto t = inner.tags(s, record);
        record.before_send = before_send;
        if (after_hash) after_hash();
        return t;
    }
    any_path_filter source_filter(const runtime_spec& s) const { return inner.source_filter(s); }
};
static_assert(RecordsHashedFiles<hooked_tags> && SourceFiltering<hooked_tags>);

template <class T>
using test_builder = basic_builder<T, engine_layer_cache, no_retry, hooked_tags, null_logger>;

/// A runtime source (a copy of examples/runtime, plus zzz_last.txt, which
/// sorts last) and a lock file, unique to one case so no two cases share a tag.
struct runtime_tree {
    temp_tree tree;
    std::filesystem::path src = tree / "src";
    std::filesystem::path lock = tree / "deps.lock";
    std::filesystem::path locks = tree / "locks";
    std::string repo;

    explicit runtime_tree(std::string_view name) : repo(fmt::format("local/rtb-srcchg-{}-{}", env().run, name)) {
        std::filesystem::copy(std::filesystem::path(RTB_SOURCE_ROOT) / "examples/runtime/src", src,
                              std::filesystem::copy_options::recursive);
        write(src / "zzz_last.txt", "original\n");
        write(src / "case.txt", repo + "\n");
        write(lock, "cat\necho\n");
    }
    static void write(const std::filesystem::path& p, std::string_view text) {
        std::ofstream(p, std::ios::binary | std::ios::trunc).write(text.data(), static_cast<std::streamsize>(text.size()));
    }
    runtime_spec spec() const {
        runtime_spec s;
        s.base_image = env().base;
        s.source_dir = src;
        s.lock_files = {lock};
        s.runtime_version = "0.9.0";
        s.runtime_repository = repo;
        return s;
    }
    builder_options options() const {
        builder_options bo;
        bo.lock_directory = locks;
        bo.build_timeout = std::chrono::minutes(10);
        return bo;
    }
};

/// One way a file changes between hashing and sending.
struct change {
    std::string name;
    std::function<void(runtime_tree&, hooked_tags&)> arm;  // sets the hooks
    std::string expected;                                   // in the error message
    std::string file_in_image;                              // checked after the rebuild
    std::optional<std::string> content_now;                 // its content then (nullopt: absent)
};

std::vector<change> changes() {
    return {
        {"source",
         [](runtime_tree& t, hooked_tags& s) {
             s.before_send = [&t](std::string_view p) {
                 if (p == "source/zzz_last.txt") runtime_tree::write(t.src / "zzz_last.txt", "MODIFIED-AFTER-HASH\n");
             };
         },
         "zzz_last.txt' (hashed 9 bytes, sent 20)", "/rtb/runtime/zzz_last.txt", "MODIFIED-AFTER-HASH\n"},
        {"lock",
         [](runtime_tree& t, hooked_tags& s) {
             s.before_send = [&t](std::string_view p) {
                 if (p == "lock/deps.lock") runtime_tree::write(t.lock, "cat\necho\nls\n");
             };
         },
         "deps.lock' (hashed 9 bytes, sent 12)", "/rtb/lock/deps.lock", "cat\necho\nls\n"},
        {"added",
         [](runtime_tree& t, hooked_tags& s) {
             s.after_hash = [&t] { runtime_tree::write(t.src / "lib/added.txt", "added after hashing\n"); };
         },
         "added.txt' (not hashed: it appeared after the tags were computed", "/rtb/runtime/lib/added.txt",
         "added after hashing\n"},
        {"removed",
         [](runtime_tree& t, hooked_tags& s) {
             s.before_send = [&t](std::string_view p) {
                 if (p == "source/VERSION") std::filesystem::remove(t.src / "zzz_last.txt");
             };
         },
         "zzz_last.txt' (hashed 9 bytes, now missing", "/rtb/runtime/zzz_last.txt", std::nullopt},
    };
}

/// A file's content in an image (nullopt when it has none), read through a
/// container that is created, never started, and removed.
std::optional<std::string> file_in_image(const std::string& image, const std::string& path) {
    auto e = env().engine_client();
    BOOST_REQUIRE(e.image_exists(image_ref::parse(image), lookup::local));
    const auto api = e.api_version().str();
    http::request create{"POST", fmt::format("/v{}/containers/create", api)};
    create.headers.push_back({"Content-Type", "application/json"});
    create.body = fmt::format(R"({{"Image":"{}","Cmd":["true"]}})", image);
    const auto made = e.http().send(create);
    BOOST_REQUIRE_MESSAGE(made.status == 201, "creating a container on " << image << ": " << made.body);
    const auto at = made.body.find("\"Id\":\"");
    BOOST_REQUIRE(at != std::string::npos);
    const std::string id = made.body.substr(at + 6, 64);
    const auto got = e.http().send({"GET", fmt::format("/v{}/containers/{}/archive?path={}", api, id, path)});
    const auto removed = e.http().send({"DELETE", fmt::format("/v{}/containers/{}?force=1", api, id)});
    BOOST_TEST((removed.status == 204 || removed.status == 200), "removing container " << id << ": " << removed.body);
    if (got.status == 404) return std::nullopt;
    BOOST_REQUIRE_MESSAGE(got.status == 200, "reading " << path << " in " << image << ": " << got.status << " " << got.body);
    std::optional<std::string> content;
    struct archive* a = archive_read_new();
    archive_read_support_format_tar(a);
    BOOST_REQUIRE(archive_read_open_memory(a, got.body.data(), got.body.size()) == ARCHIVE_OK);
    struct archive_entry* entry;
    if (archive_read_next_header(a, &entry) == ARCHIVE_OK && archive_entry_filetype(entry) == AE_IFREG) {
        content.emplace();
        char buf[4096];
        la_ssize_t n;
        while ((n = archive_read_data(a, buf, sizeof buf)) > 0) content->append(buf, static_cast<std::size_t>(n));
    }
    archive_read_free(a);
    return content;
}

/// Removes every image named under `part` (this test's repositories).
void remove_images_named(const std::string& part) {
    auto e = env().engine_client();
    for (const auto& img : e.images())
        for (const auto& name : img.repo_tags)
            if (name.find(part) != std::string::npos) e.remove(image_ref::parse(name), true);
}

/// The case on one transport: the change fails the build, no tag is applied,
/// and a second build builds what the files hold now, under its own tags.
template <class T>
void check_change(const change& c, const std::function<T()>& make_transport, const std::string& transport_name) {
    BOOST_TEST_CONTEXT(transport_name << ", " << c.name << " file") {
        runtime_tree t(transport_name + "-" + c.name);
        struct cleanup {
            std::string repo;
            ~cleanup() {
                try {
                    remove_images_named(repo);
                } catch (const std::exception& ex) {
                    BOOST_ERROR("removing this case's images failed: " << ex.what());
                }
            }
        } clean{t.repo};
        const auto spec = t.spec();
        const auto hashed_tags = openhands_tags{}.tags(spec);  // what the failing build hashes

        hooked_tags strategy;
        c.arm(t, strategy);
        test_builder<T> failing(make_transport(), {}, {}, strategy, {}, t.options());
        try {
            failing.build_runtime_image(spec);
            BOOST_ERROR("the build succeeded: the change went unnoticed");
        } catch (const error& e) {
            BOOST_TEST((e.value() == errc::source_changed), e.what());
            BOOST_TEST(std::string(e.what()).find("source changed during the build: ") != std::string::npos, e.what());
            BOOST_TEST(std::string(e.what()).find(c.expected) != std::string::npos, e.what());
        }
        // No image carries any of the tags the failed build hashed: asked
        // through the transport, and of the engine itself, where a service
        // may have stored the name under its tenant's prefix.
        for (const auto& image : {hashed_tags.source_image(), hashed_tags.lock_image(), hashed_tags.versioned_image()}) {
            BOOST_TEST(!failing.transport().image_exists(image_ref::parse(image), lookup::local),
                       image << " exists after the failed build");
            const auto repo_and_tag = image.substr(image.rfind('/') + 1);
            for (const auto& stored : env().engine_client().images())
                for (const auto& name : stored.repo_tags)
                    BOOST_TEST(!(name == image || name.ends_with("/" + repo_and_tag)),
                               name << " is on the engine after the failed build");
        }

        // Building again builds the files as they are now, under their tags.
        test_builder<T> again(make_transport(), {}, {}, hooked_tags{}, {}, t.options());
        const auto built = again.build_runtime_image(spec);
        const auto now_tags = openhands_tags{}.tags(spec);
        BOOST_TEST(built.tags.source == now_tags.source);
        BOOST_TEST(built.tags.source != hashed_tags.source);
        BOOST_TEST((built.plan == plan_kind::scratch));
        BOOST_TEST((file_in_image(built.image, c.file_in_image) == c.content_now));
        BOOST_TEST(!again.transport().image_exists(image_ref::parse(hashed_tags.source_image()), lookup::local));
    }
}

/// The server behind `rtb serve`, building on this test's engine, for one test case.
struct remote_service {
    temp_tree work;
    std::string key = "source-changed-test-key-0123456789";
    std::string prefix = fmt::format("local/rtb-srcchg-{}-served", env().run);
    std::optional<serve::runtime_api_server> server;

    remote_service() {
        serve::server_options o;
        o.port = 0;
        o.workers = 1;
        o.registry_prefix = prefix;
        o.work_dir = work / "uploads";
        o.engine = env().engine_options();
        server.emplace(o, serve::api_keys::parse(key, "the test's key", prefix));  // its names under <prefix>/key1: removed below
        server->start();
    }
    ~remote_service() {
        server.reset();
        try {
            remove_images_named(prefix);
        } catch (const std::exception& ex) {
            BOOST_ERROR("removing the served images failed: " << ex.what());
        }
    }
    remote_api client() const {
        remote_api::options o;
        o.url = fmt::format("http://127.0.0.1:{}", server->port());
        o.api_key = key;
        o.poll_interval = std::chrono::milliseconds(200);
        return remote_api(o);
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(engine_api_transport) {
    for (const auto& c : changes())
        check_change<docker_engine>(c, [] { return env().engine_client(); }, "engine");
}

BOOST_AUTO_TEST_CASE(client_program_transport) {
    for (const auto& c : changes()) check_change<docker_cli>(c, [] { return env().cli(); }, "cli");
}

BOOST_AUTO_TEST_CASE(runtime_api_transport) {
    for (const auto& c : changes()) {
        remote_service service;
        check_change<remote_api>(c, [&] { return service.client(); }, "remote");
    }
}
