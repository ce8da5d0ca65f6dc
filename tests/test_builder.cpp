// basic_builder against a real engine (RTB_TEST_ENGINE, through
// scripts/engines run): the four plan paths with their FROM chains, tags and
// labels checked by inspecting the images; concurrent builds of one tag
// building once, in one builder and across builders (the lock file);
// dry runs; build folders; a failed build tagging nothing; prune keeping what
// it must; hooks (order, data, labels, veto, on-error tail); the storage
// check before a build; bytes sent and cache hits. A missing engine fails the run; nothing is skipped.
#define BOOST_TEST_MODULE builder
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "rtb/builder.hpp"
#include "rtb/policy/no_retry.hpp"
#include "rtb/prune.hpp"
#include "rtb/sandbox/container.hpp"
#include "support/checks.hpp"
#include "support/temp_tree.hpp"
#include "support/fd_leak_check.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

std::string need_env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v)
        throw std::runtime_error(fmt::format("{} is not set: run this test through `scripts/engines run -- test_builder`", name));
    return v;
}

/// Counts what the builds said, for any number of threads.
struct counting_logger {
    struct counts {
        std::mutex m;
        int images_built = 0;
        int steps = 0;
        std::vector<std::string> messages;
    };
    std::shared_ptr<counts> c = std::make_shared<counts>();
    void log(log_level, std::string_view message) {
        std::lock_guard lock(c->m);
        c->messages.emplace_back(message);
    }
    void on_event(const build_event& e) {
        std::lock_guard lock(c->m);
        if (std::holds_alternative<events::image_built>(e)) ++c->images_built;
        if (std::holds_alternative<events::step>(e)) ++c->steps;
    }
    int built() const {
        std::lock_guard lock(c->m);
        return c->images_built;
    }
};

using test_builder = basic_builder<docker_engine, engine_layer_cache, no_retry, openhands_tags, counting_logger>;

struct fixture_env {
    std::string engine = need_env("RTB_TEST_ENGINE");
    std::string host = need_env(engine == "podman" ? "RTB_PODMAN_HOST" : "RTB_DOCKER_HOST");
    std::string base = need_env("RTB_TEST_BASE_IMAGE");
    std::string repo = fmt::format("local/rtb-builder-{}-{}", engine, ::getpid());

    docker_engine engine_client() const {
        docker_engine::options o;
        o.endpoint = http::parse_docker_host(host);
        o.docker_config = std::filesystem::path("/nonexistent/rtb-test/config.json");
        return docker_engine(o);
    }
};

const fixture_env& env() {
    static const fixture_env e;
    return e;
}

/// A runtime source and lock file (a copy of examples/runtime), a private
/// lock directory, and every image of this test's repository removed at the end.
struct runtime_tree {
    temp_tree tree;
    std::filesystem::path src = tree / "src";
    std::filesystem::path lock = tree / "deps.lock";
    std::filesystem::path locks = tree / "locks";

    runtime_tree() {
        std::filesystem::copy(std::filesystem::path(RTB_SOURCE_ROOT) / "examples/runtime/src", src,
                              std::filesystem::copy_options::recursive);
        std::filesystem::copy_file(std::filesystem::path(RTB_SOURCE_ROOT) / "examples/runtime/deps.lock", lock);
    }
    std::int64_t started = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count();

    ~runtime_tree() {
        try {
            auto e = env().engine_client();
            for (const auto& img : e.images())
                for (const auto& name : img.repo_tags)
                    if (name.find(env().repo) != std::string::npos) e.remove(image_ref::parse(name), true);
            // A forced rebuild on Podman leaves the image it replaced without
            // tags (the same inputs give a new image id there): rtb-built,
            // untagged and made during this test (tests run alone) is ours.
            for (const auto& img : e.images({image_labels::source_tag}))
                if (img.created + 1 >= started &&
                    std::ranges::all_of(img.repo_tags, [](const std::string& n) { return n.starts_with("<none>"); }))
                    e.remove(image_ref::parse(img.id), true);
        } catch (...) {
        }
    }

    runtime_spec spec(std::string base = env().base) const {
        runtime_spec s;
        s.base_image = std::move(base);
        s.source_dir = src;
        s.lock_files = {lock};
        s.runtime_version = "0.9.0";
        s.runtime_repository = env().repo;
        return s;
    }
    test_builder builder(counting_logger logger = {}) const {
        docker_engine::options o;
        o.endpoint = http::parse_docker_host(env().host);
        o.docker_config = std::filesystem::path("/nonexistent/rtb-test/config.json");
        builder_options bo;
        bo.lock_directory = locks;
        bo.build_timeout = std::chrono::minutes(10);
        return test_builder(docker_engine(o), {}, {}, openhands_tags({.jobs = 2, .use_stat_cache = false}),
                            std::move(logger), bo);
    }
    void append(const std::filesystem::path& file, std::string_view text) const {
        std::ofstream(file, std::ios::app) << text;
    }
};

image_summary inspect(const std::string& name) {
    auto e = env().engine_client();
    auto s = e.inspect(image_ref::parse(name));
    BOOST_REQUIRE_MESSAGE(s.has_value(), name + " exists");
    return *s;
}

/// Whether image `upper` was built on `lower`: its layers start with all of lower's.
bool built_on(const std::string& upper, const std::string& lower) {
    const auto u = inspect(upper).layers, l = inspect(lower).layers;
    return !l.empty() && u.size() > l.size() && std::equal(l.begin(), l.end(), u.begin());
}

std::size_t temp_build_folders() {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(std::filesystem::temp_directory_path()))
        if (e.path().filename().string().starts_with("rtb-build-")) ++n;
    return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(scratch_then_reuse_then_lock_then_versioned_then_forced) {
    runtime_tree rt;
    counting_logger log;
    auto b = rt.builder(log);
    const auto folders_before = temp_build_folders();

    // 1. Nothing exists: scratch from the base image, all three tags.
    const auto first = b.build_runtime_image(rt.spec());
    BOOST_TEST(to_string(first.plan) == "scratch");
    BOOST_TEST(first.from_image == env().base);
    BOOST_TEST(first.tags_applied.size() == 3u);
    BOOST_TEST(first.image == first.tags.source_image());
    BOOST_TEST(first.image_id.starts_with("sha256:"));
    BOOST_TEST(log.built() == 1);
    const auto labels = inspect(first.image).labels;
    BOOST_TEST(labels.at(image_labels::plan) == "scratch");
    BOOST_TEST(labels.at(image_labels::source_tag) == first.tags.source);
    BOOST_TEST(labels.at(image_labels::lock_tag) == first.tags.lock);
    BOOST_TEST(labels.at(image_labels::base_image) == env().base);
    BOOST_TEST(labels.at(image_labels::version) == version_string);
    BOOST_TEST(built_on(first.image, env().base));
    BOOST_TEST(inspect(first.tags.lock_image()).id == first.image_id);
    BOOST_TEST(inspect(first.tags.versioned_image()).id == first.image_id);

    // 2. The same inputs again: reused, nothing built.
    const auto again = b.build_runtime_image(rt.spec());
    BOOST_TEST(to_string(again.plan) == "reuse");
    BOOST_TEST(again.image == first.image);
    BOOST_TEST(again.tags_applied.empty());
    BOOST_TEST(log.built() == 1);

    // 3. A source file changes: built on the lock image, only the source tag applied.
    rt.append(rt.src / "lib" / "edited.sh", "echo edited\n");
    const auto lock = b.build_runtime_image(rt.spec());
    BOOST_TEST(to_string(lock.plan) == "lock");
    BOOST_TEST(lock.from_image == first.tags.lock_image());
    BOOST_TEST(lock.tags.lock == first.tags.lock);
    BOOST_TEST(lock.image != first.image);
    BOOST_TEST((lock.tags_applied == std::vector<std::string>{lock.image}));
    BOOST_TEST(built_on(lock.image, first.tags.lock_image()));
    BOOST_TEST(inspect(lock.tags.lock_image()).id == first.image_id);  // the lock tag did not move
    BOOST_TEST(inspect(lock.image).labels.at(image_labels::plan) == "lock");
    BOOST_TEST(log.built() == 2);

    // 4. A lock file changes: built on the versioned image; source and lock tags applied.
    rt.append(rt.lock, "# another pin\n");
    const auto versioned = b.build_runtime_image(rt.spec());
    BOOST_TEST(to_string(versioned.plan) == "versioned");
    BOOST_TEST(versioned.from_image == first.tags.versioned_image());
    BOOST_TEST(versioned.tags.lock != first.tags.lock);
    BOOST_TEST(versioned.tags_applied.size() == 2u);
    BOOST_TEST(built_on(versioned.image, first.tags.versioned_image()));
    BOOST_TEST(inspect(versioned.tags.lock_image()).id == versioned.image_id);
    BOOST_TEST(inspect(versioned.tags.versioned_image()).id == first.image_id);  // versioned only after scratch

    // 5. Forced: scratch again from the base image, whatever exists.
    auto forced_spec = rt.spec();
    forced_spec.force_rebuild = true;
    const auto forced = b.build_runtime_image(forced_spec);
    BOOST_TEST(to_string(forced.plan) == "scratch");
    BOOST_TEST(forced.from_image == env().base);
    BOOST_TEST(built_on(forced.image, env().base));
    BOOST_TEST(log.built() == 4);

    BOOST_TEST(temp_build_folders() == folders_before);  // the context streams: no folder
}

BOOST_AUTO_TEST_CASE(concurrent_calls_for_one_tag_build_once) {
    runtime_tree rt;
    counting_logger log;
    auto b = rt.builder(log);
    std::vector<runtime_image> results(4);
    {
        std::vector<std::jthread> threads;
        for (std::size_t i = 0; i < results.size(); ++i)
            threads.emplace_back([&, i] { results[i] = b.build_runtime_image(rt.spec()); });
    }
    int built = 0;
    for (const auto& r : results) {
        BOOST_TEST(r.image == results[0].image);
        if (r.plan != plan_kind::reuse) ++built;
    }
    BOOST_TEST(built == 1);
    BOOST_TEST(log.built() == 1);

    // Two builders (as two processes would be) meet on the lock file: one
    // builds, the other waits, then reuses.
    rt.append(rt.src / "lib" / "two.sh", "echo two\n");
    counting_logger log2;
    auto other = rt.builder(log2);
    runtime_image a, c;
    {
        std::jthread t1([&] { a = b.build_runtime_image(rt.spec()); });
        std::jthread t2([&] { c = other.build_runtime_image(rt.spec()); });
    }
    BOOST_TEST(a.image == c.image);
    BOOST_TEST(log.built() + log2.built() == 2);  // one more build in all
    BOOST_TEST(((a.plan == plan_kind::reuse) != (c.plan == plan_kind::reuse)));
    BOOST_TEST((a.waited || c.waited || a.plan == plan_kind::reuse || c.plan == plan_kind::reuse));
}

BOOST_AUTO_TEST_CASE(a_dry_run_plans_and_builds_nothing_and_a_build_folder_is_kept) {
    runtime_tree rt;
    counting_logger log;
    auto b = rt.builder(log);
    const auto folder = rt.tree / "ctx";
    const auto dry = b.build_runtime_image(rt.spec(), {.dry_run = true, .build_folder = folder, .stop = {}});
    BOOST_TEST(dry.dry_run);
    BOOST_TEST(to_string(dry.plan) == "scratch");
    BOOST_TEST(dry.image_id.empty());
    BOOST_TEST(log.built() == 0);
    BOOST_TEST(std::filesystem::exists(folder / "Dockerfile"));
    BOOST_TEST(std::filesystem::exists(folder / "source" / "bin" / "rtb-runtime"));
    BOOST_TEST(!env().engine_client().inspect(image_ref::parse(dry.image)).has_value());
    // The planned plan is what a build then takes; a non-empty folder is refused.
    BOOST_TEST(to_string(b.plan(rt.spec()).kind) == "scratch");
    const auto e = error_of([&] { b.build_runtime_image(rt.spec(), {.dry_run = false, .build_folder = folder, .stop = {}}); });
    BOOST_TEST(e.value() == errc::invalid_argument);
    BOOST_TEST(contains(e.what(), "not empty"));
    // Built from a caller's folder: the folder stays.
    const auto built = b.build_runtime_image(rt.spec(), {.dry_run = false, .build_folder = rt.tree / "ctx2", .stop = {}});
    BOOST_TEST(to_string(built.plan) == "scratch");
    BOOST_TEST(std::filesystem::exists(rt.tree / "ctx2" / "Dockerfile"));
}

BOOST_AUTO_TEST_CASE(a_failed_build_tags_nothing_and_says_why) {
    runtime_tree rt;
    auto b = rt.builder();
    auto spec = rt.spec();
    rt.append(rt.lock, "no-such-applet-anywhere\n");  // the template's dependency step fails on it
    const auto e = error_of([&] { b.build_runtime_image(spec); });
    BOOST_TEST(e.value() == errc::build_failed);
    BOOST_REQUIRE(e.build().has_value());
    BOOST_TEST(e.build()->exit_code.value_or(-1) == 1);
    BOOST_TEST(!e.build()->log_tail.empty());
    bool named = contains(e.what(), "no-such-applet-anywhere");
    for (const auto& l : e.build()->log_tail) named = named || contains(l, "no-such-applet-anywhere");
    BOOST_TEST(named);
    const auto tags = rt.builder().tag_strategy().tags(spec);
    auto engine = env().engine_client();
    for (const auto& name : {tags.source_image(), tags.lock_image(), tags.versioned_image()})
        BOOST_TEST(!engine.inspect(image_ref::parse(name)).has_value(), name << " is not tagged");
}

BOOST_AUTO_TEST_CASE(bad_specs_are_refused_before_the_engine_is_asked) {
    runtime_tree rt;
    auto b = rt.builder();
    auto s = rt.spec("");
    BOOST_TEST(error_of([&] { b.build_runtime_image(s); }).value() == errc::invalid_argument);
    s = rt.spec("Not A Valid/Name::");
    BOOST_TEST(error_of([&] { b.build_runtime_image(s); }).value() == errc::invalid_argument);
    s = rt.spec();
    s.source_dir = rt.tree / "missing";
    BOOST_TEST(static_cast<int>(error_of([&] { b.build_runtime_image(s); }).value()) != 0);
    s = rt.spec();
    s.dockerfile_template = "FROM {{base_image}\n";
    BOOST_TEST(error_of([&] { b.build_runtime_image(s); }).value() == errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(prune_keeps_images_in_use_and_the_lock_base) {
    runtime_tree rt;
    auto b = rt.builder();
    const auto first = b.build_runtime_image(rt.spec());
    rt.append(rt.src / "lib" / "p1.sh", "echo 1\n");
    const auto second = b.build_runtime_image(rt.spec());
    rt.append(rt.src / "lib" / "p2.sh", "echo 2\n");
    const auto third = b.build_runtime_image(rt.spec());
    BOOST_TEST(to_string(third.plan) == "lock");

    // A stopped container keeps `second` in use.
    auto engine = env().engine_client();
    container_spec cs;
    cs.image = second.image;
    cs.command = {"true"};
    cs.labels["rtb.test.builder"] = "1";
    auto handle = launch(engine, cs);
    handle.wait();

    // Only this test's images: a candidate list filtered to our repository.
    auto ours = [&] {
        auto all = prune_candidates(engine);
        std::erase_if(all, [&](const prune_candidate& c) {
            return std::none_of(c.names.begin(), c.names.end(), [&](const std::string& n) { return n.find(env().repo) != std::string::npos; });
        });
        return all;
    };
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const auto keep0 = plan_prune(ours(), {.older_than = std::nullopt, .keep_per_lock = 0}, now);
    std::vector<std::string> gone;
    for (const auto& d : keep0) gone.push_back(d.image.id);
    auto removed = [&](const runtime_image& r) {
        return std::find(gone.begin(), gone.end(), inspect(r.image).id) != gone.end();
    };
    BOOST_TEST(!removed(first));   // carries the lock tag: the base of source-only builds
    BOOST_TEST(!removed(second));  // a container uses it
    BOOST_TEST(removed(third));
    const auto all_old = plan_prune(ours(), {.older_than = std::chrono::seconds(0), .keep_per_lock = std::nullopt}, now + 10);
    BOOST_TEST(all_old.size() == 2u);  // first and third; never second
    for (const auto& d : all_old) BOOST_TEST(d.image.id != inspect(second.image).id);
    // Carried out on the engine, third goes and the others stay.
    for (const auto& d : keep0)
        for (const auto& n : d.image.names) engine.remove(image_ref::parse(n));
    BOOST_TEST(!engine.inspect(image_ref::parse(third.image)).has_value());
    BOOST_TEST(engine.inspect(image_ref::parse(first.image)).has_value());
    BOOST_TEST(engine.inspect(image_ref::parse(second.image)).has_value());
    handle.remove();
}

// Hooks (builder_options::hooks) on a real engine: the order and the data
// each sees, labels a pre-build hook adds, a veto that stops the build before
// the engine sees it, and an on-error hook with the log's tail.
BOOST_AUTO_TEST_CASE(hooks_run_in_order_with_the_right_data_and_a_veto_stops_the_build) {
    runtime_tree rt;
    std::vector<std::string> calls;
    bool veto = false;
    std::optional<runtime_image> seen_after;
    std::vector<std::string> error_tail;
    std::optional<errc> error_code;
    docker_engine::options o;
    o.endpoint = http::parse_docker_host(env().host);
    o.docker_config = std::filesystem::path("/nonexistent/rtb-test/config.json");
    builder_options bo;
    bo.lock_directory = rt.locks;
    bo.hooks.pre_build = [&](pre_build_event& e) {
        calls.push_back(fmt::format("pre {} {}", to_string(e.image.plan), e.image.image));
        if (veto) return hook_verdict::veto("quota used up");
        e.labels["org.example.hook"] = "yes";
        e.labels[image_labels::plan] = "forged";  // rtb's own labels win
        return hook_verdict::proceed();
    };
    bo.hooks.post_build = [&](const post_build_event& e) {
        calls.push_back(fmt::format("post {} {}", to_string(e.image.plan), e.image.image));
        seen_after = e.image;
    };
    bo.hooks.on_error = [&](const build_error_event& e) {
        calls.push_back(fmt::format("error {} {}", to_string(e.failure.value()), e.image.image));
        error_tail = e.log_tail;
        error_code = e.failure.value();
    };
    test_builder b(docker_engine(o), {}, {}, openhands_tags({.jobs = 2, .use_stat_cache = false}),
                   counting_logger{}, bo);

    const auto built = b.build_runtime_image(rt.spec());
    BOOST_TEST(calls == (std::vector<std::string>{"pre scratch " + built.image, "post scratch " + built.image}),
               fmt::format("{}", fmt::join(calls, " | ")));
    BOOST_REQUIRE(seen_after.has_value());
    BOOST_TEST(seen_after->image_id == built.image_id);
    BOOST_TEST(!seen_after->cache_hit());
    BOOST_TEST(seen_after->bytes_sent > 1024u, "the context's tar was counted: " << seen_after->bytes_sent);
    BOOST_TEST(inspect(built.image).labels.at("org.example.hook") == "yes");
    BOOST_TEST(inspect(built.image).labels.at(image_labels::plan) == "scratch");

    // A reuse: no pre-build (nothing is built), a post-build that says cache hit.
    calls.clear();
    const auto reused = b.build_runtime_image(rt.spec());
    BOOST_TEST(calls == (std::vector<std::string>{"post reuse " + built.image}));
    BOOST_TEST(reused.cache_hit());
    BOOST_TEST(reused.bytes_sent == 0u);

    // A veto: vetoed, on_error sees it, the engine built nothing.
    calls.clear();
    veto = true;
    rt.append(rt.src / "lib" / "p1.sh", "echo vetoed\n");
    const auto spec = rt.spec();
    const auto e = error_of([&] { b.build_runtime_image(spec); });
    BOOST_TEST(e.value() == errc::vetoed);
    BOOST_TEST(contains(e.what(), "quota used up"));
    const auto source = b.tag_strategy().tags(spec).source_image();
    BOOST_TEST(calls == (std::vector<std::string>{"pre lock " + source, "error vetoed " + source}),
               fmt::format("{}", fmt::join(calls, " | ")));
    BOOST_TEST(!env().engine_client().inspect(image_ref::parse(source)).has_value());

    // A failing build: on_error gets the error and the build's last lines.
    calls.clear();
    veto = false;
    rt.append(rt.lock, "no-such-applet-in-hooks\n");
    const auto failing = rt.spec();
    BOOST_TEST(error_of([&] { b.build_runtime_image(failing); }).value() == errc::build_failed);
    BOOST_TEST((error_code == errc::build_failed));
    BOOST_TEST(calls.size() == 2u);
    BOOST_TEST(calls.back().starts_with("error build_failed"));
    BOOST_TEST(std::ranges::any_of(error_tail, [](const std::string& l) { return contains(l, "no-such-applet-in-hooks"); }),
               fmt::format("{}", fmt::join(error_tail, " | ")));
}

// The storage check before a build: a threshold the engine's data root cannot
// meet stops the build early with a message naming the filesystem, the free
// space and the threshold; on_low is called first and may free space.
BOOST_AUTO_TEST_CASE(low_storage_fails_early_and_on_low_is_asked_first) {
    runtime_tree rt;
    docker_engine::options o;
    o.endpoint = http::parse_docker_host(env().host);
    o.docker_config = std::filesystem::path("/nonexistent/rtb-test/config.json");
    const auto root = docker_engine(o).data_root();
    BOOST_REQUIRE_MESSAGE(root.has_value(), "the engine's data root is visible here (a unix socket engine)");

    int on_low_calls = 0;
    builder_options bo;
    bo.lock_directory = rt.locks;
    bo.storage.engine_min_free = std::uint64_t{1} << 60;  // 1 EiB: no disk here has it
    bo.storage.on_low = [&](const std::vector<storage_finding>& findings) {
        ++on_low_calls;
        BOOST_TEST(findings.size() == 2u);
        BOOST_TEST(findings.front().low());
        BOOST_TEST(findings.front().need.where == *root);
    };
    test_builder b(docker_engine(o), {}, {}, openhands_tags({.jobs = 2, .use_stat_cache = false}),
                   counting_logger{}, bo);
    const auto spec = rt.spec();
    const auto e = error_of([&] { b.build_runtime_image(spec); });
    BOOST_TEST(e.value() == errc::io_error);
    BOOST_TEST(contains(e.what(), "not enough free space"), e.what());
    BOOST_TEST(contains(e.what(), root->string()), e.what());
    BOOST_TEST(contains(e.what(), "below the 1.0 EiB wanted"), e.what());
    BOOST_TEST(on_low_calls == 1);
    const auto source = b.tag_strategy().tags(spec).source_image();
    BOOST_TEST(!env().engine_client().inspect(image_ref::parse(source)).has_value());
    // A dry run builds nothing and checks nothing.
    BOOST_TEST(!b.build_runtime_image(spec, {.dry_run = true, .build_folder = {}, .stop = {}}).image.empty());
}
