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

#include "rtb/any_transport.hpp"
#include "rtb/docker_builder.hpp"
#include "rtb/detail/file_lock.hpp"
#include "rtb/policy/no_retry.hpp"
#include "rtb/prune.hpp"
#include "rtb/sandbox/container.hpp"
#include "support/checks.hpp"
#include "support/temp_tree.hpp"
#include "support/fd_leak_check.hpp"
#include "support/registry_process.hpp"

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
        std::vector<std::string> instructions;  // of the steps, in order
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
        if (const auto* s = std::get_if<events::step>(&e)) {
            ++c->steps;
            c->instructions.push_back(s->instruction);
        }
    }
    int built() const {
        std::lock_guard lock(c->m);
        return c->images_built;
    }
    bool said(std::string_view part) const {
        std::lock_guard lock(c->m);
        return std::any_of(c->messages.begin(), c->messages.end(),
                           [&](const std::string& m) { return m.find(part) != std::string::npos; });
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
    // Removes the names this test made. Images the builds left without a
    // name are not removed here: the leak check around the test reports
    // them (a superseded image is the builder's to remove).
    ~runtime_tree() {
        try {
            auto e = env().engine_client();
            for (const auto& img : e.images())
                for (const auto& name : img.repo_tags)
                    if (name.find(env().repo) != std::string::npos) e.remove(image_ref::parse(name), true);
        } catch (const std::exception& ex) {
            BOOST_ERROR("removing this test's images failed: " << ex.what());
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

/// The id of the last step done in a build log (" ---> 1a2b3c4d5e6f"), or "".
std::string last_step_image(const std::vector<std::string>& log) {
    std::string id;
    for (const auto& line : log)
        if (const auto found = docker_api::step_image_of(line); !found.empty()) id = found;
    return id;
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
    // The versioned build's image lost both its names to the forced one and
    // nothing uses it: removed at once. The first image keeps its source
    // and lock names (it lost only the versioned one) and stays.
    auto engine = env().engine_client();
    BOOST_REQUIRE(versioned.image_id != forced.image_id);  // other steps (scratch), another image
    BOOST_TEST(!engine.describe_image(versioned.image_id).has_value(), "the superseded image is gone");
    BOOST_TEST(log.said("removed " + versioned.image_id.substr(7, 12)));
    BOOST_TEST(engine.describe_image(first.image_id).has_value());

    BOOST_TEST(temp_build_folders() == folders_before);  // the context streams: no folder
}

BOOST_AUTO_TEST_CASE(a_builder_on_any_transport_reports_names_as_the_caller_spelt_them) {
    // any_transport always offers ImageNaming; for an engine, which keeps
    // names as given, the builder must report the caller's spelling, not a
    // normalized docker.io/... form (scripts run what rtb prints).
    BOOST_TEST(reported_name("local/x:t", "docker.io/local/x:t") == "local/x:t");
    BOOST_TEST(reported_name("local/x:t", "registry:5000/rtb/local/x:t") == "registry:5000/rtb/local/x:t");
    BOOST_TEST(reported_name("local/x:t", "not a reference") == "not a reference");

    runtime_tree rt;
    docker_engine::options o;
    o.endpoint = http::parse_docker_host(env().host);
    o.docker_config = std::filesystem::path("/nonexistent/rtb-test/config.json");
    builder_options bo;
    bo.lock_directory = rt.locks;
    basic_builder<any_transport, engine_layer_cache, no_retry, openhands_tags, counting_logger> b(
        any_transport(docker_engine(o)), {}, {}, openhands_tags({.jobs = 2, .use_stat_cache = false}), {}, bo);
    const auto built = b.build_runtime_image(rt.spec());
    BOOST_TEST(built.image == built.tags.source_image());
    BOOST_TEST(built.tags_applied ==
               (std::vector<std::string>{built.tags.source_image(), built.tags.lock_image(), built.tags.versioned_image()}));
    const auto reused = b.build_runtime_image(rt.spec());
    BOOST_TEST(to_string(reused.plan) == "reuse");
    BOOST_TEST(reused.image == built.tags.source_image());
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

}

BOOST_AUTO_TEST_CASE(a_build_waits_while_another_process_holds_its_lock_then_reuses_its_image) {
    runtime_tree rt;
    rt.append(rt.src / "lib" / "two.sh", "echo two\n");
    counting_logger waiting_log;
    auto waiter = rt.builder(waiting_log);
    const auto image = waiter.tag_strategy().tags(rt.spec()).source_image();
    // The other process: it holds the image's lock file while it builds.
    std::optional<detail::file_lock> held(std::in_place, build_lock_path(rt.locks, image), std::stop_token{});
    runtime_image w;
    std::jthread t([&] { w = waiter.build_runtime_image(rt.spec()); });
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!waiting_log.said("waiting for another build of " + image) && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    BOOST_REQUIRE_MESSAGE(waiting_log.said("waiting for another build of " + image), "the build waits on the lock and says so");
    // The holder builds the image (its own lock folder: it already holds the lock), then lets go.
    temp_tree other_locks;
    counting_logger holder_log;
    auto holder = rt.builder(holder_log);
    builder_options bo = holder.options();
    bo.lock_directory = other_locks / "locks";
    docker_engine::options o;
    o.endpoint = http::parse_docker_host(env().host);
    o.docker_config = std::filesystem::path("/nonexistent/rtb-test/config.json");
    test_builder holding(docker_engine(o), {}, {}, openhands_tags({.jobs = 2, .use_stat_cache = false}),
                         holder_log, bo);
    const auto built = holding.build_runtime_image(rt.spec());
    BOOST_TEST(to_string(built.plan) != "reuse");
    held.reset();
    t.join();
    BOOST_TEST(w.waited);
    BOOST_TEST(to_string(w.plan) == "reuse");
    BOOST_TEST(w.image == built.image);
    BOOST_TEST(waiting_log.built() == 0);
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

BOOST_AUTO_TEST_CASE(the_labels_cost_one_build_step_and_land_on_the_image_as_given) {
    // Passed as build parameters, dockerd's classic builder and Podman made a
    // LABEL step (an intermediate container) of each label; written as one
    // LABEL line at the end of the Dockerfile they take one step, and the
    // image carries exactly the same labels, quotes, '$' and backslashes too.
    runtime_tree rt;
    counting_logger log;
    docker_engine::options o;
    o.endpoint = http::parse_docker_host(env().host);
    o.docker_config = std::filesystem::path("/nonexistent/rtb-test/config.json");
    builder_options bo;
    bo.lock_directory = rt.locks;
    bo.labels = {{"org.example.text", "a \"quoted\" $HOME ${X:-y} back\\slash\\ 'q' =x= caf\xc3\xa9"},
                 {"org.example.empty", ""}};
    test_builder b(docker_engine(o), {}, {}, openhands_tags({.jobs = 2, .use_stat_cache = false}),
                   log, bo);
    b.build_runtime_image(rt.spec());
    rt.append(rt.src / "lib" / "edited.sh", "echo edited\n");
    log.c->instructions.clear();
    const auto lock = b.build_runtime_image(rt.spec());
    BOOST_TEST(to_string(lock.plan) == "lock");
    const auto& steps = log.c->instructions;
    const auto label_steps = std::count_if(steps.begin(), steps.end(), [](const std::string& i) {
        return i.starts_with("LABEL") || i.starts_with("label");
    });
    BOOST_TEST(label_steps == 1, fmt::format("steps: {}", fmt::join(steps, " | ")));
    auto labels = inspect(lock.image).labels;
    labels.erase("io.buildah.version");  // Podman's own
    std::map<std::string, std::string> want = bo.labels;
    want[image_labels::version] = version_string;
    want[image_labels::source_tag] = lock.tags.source;
    want[image_labels::lock_tag] = lock.tags.lock;
    want[image_labels::versioned_tag] = lock.tags.versioned;
    want[image_labels::base_image] = env().base;
    want[image_labels::plan] = "lock";
    BOOST_TEST((labels == want), fmt::format("{}", fmt::join(labels, ", ")));
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
    // The engine printed the image of each step done (dockerd " ---> id",
    // Podman "--> id"); the last one is what a failed build leaves, and rtb
    // removed it. Podman's steps also carry the build's labels: none is left
    // without a name either. (The leak check around this test also finds
    // any other image left without a name.)
    const auto layer = last_step_image(e.build()->log_tail);
    BOOST_REQUIRE_MESSAGE(!layer.empty(), "the engine names the image of each step done");
    BOOST_TEST(!engine.describe_image(layer).has_value(), "the failed build's last step " << layer << " is gone");
    for (const auto& img : engine.images({image_labels::source_tag + std::string("=") + tags.source}))
        BOOST_TEST(has_names(img), "an image of the failed build is left without a name: " << img.id);
}

BOOST_AUTO_TEST_CASE(a_failed_build_keeps_its_layers_for_the_retry_when_asked) {
    runtime_tree rt;
    docker_engine::options o;
    o.endpoint = http::parse_docker_host(env().host);
    o.docker_config = std::filesystem::path("/nonexistent/rtb-test/config.json");
    o.keep_failed_build_layers = true;
    builder_options bo;
    bo.lock_directory = rt.locks;
    test_builder b(docker_engine(o), {}, {}, openhands_tags({.jobs = 2, .use_stat_cache = false}),
                   counting_logger{}, bo);
    rt.append(rt.lock, "no-such-applet-anywhere\n");
    const auto e = error_of([&] { b.build_runtime_image(rt.spec()); });
    BOOST_REQUIRE(e.build().has_value());
    const auto layer = last_step_image(e.build()->log_tail);
    BOOST_REQUIRE(!layer.empty());
    auto engine = env().engine_client();
    const auto last = engine.describe_image(layer);
    BOOST_REQUIRE_MESSAGE(last.has_value(), "the failed build's last step " << layer << " is kept");
    BOOST_TEST(!has_names(*last));
    // This test accounts for what was kept: the last step, and on Podman the
    // steps under it (they carry the build's labels); the last one first.
    std::vector<std::string> kept{last->id};
    const auto tags = b.tag_strategy().tags(rt.spec());
    for (const auto& img : engine.images({image_labels::source_tag + std::string("=") + tags.source}))
        if (!has_names(img) && img.id != last->id) kept.push_back(img.id);
    BOOST_TEST((engine.remove_unused_image(kept.front()) == image_removal::removed));
    for (std::size_t i = 1; i < kept.size(); ++i)
        BOOST_TEST((engine.remove_unused_image(kept[i]) != image_removal::in_use), kept[i]);
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
    // Carried out on the engine (as rtb prune does), third goes and the others stay.
    BOOST_TEST(remove_pruned(engine, keep0).size() == keep0.size());
    BOOST_TEST(!engine.inspect(image_ref::parse(third.image)).has_value());
    BOOST_TEST(engine.inspect(image_ref::parse(first.image)).has_value());
    BOOST_TEST(engine.inspect(image_ref::parse(second.image)).has_value());
    handle.remove();
}

/// A stopped container on an image given by id (the Engine API directly:
/// the image may have no name left); removed by remove_container().
std::string create_container_on(docker_engine& engine, const std::string& image_id) {
    http::request r{"POST", fmt::format("/v{}/containers/create", engine.api_version().str())};
    r.headers.push_back({"Content-Type", "application/json"});
    r.body = fmt::format(R"({{"Image":"{}","Cmd":["true"],"Labels":{{"rtb.test.builder":"1"}}}})", image_id);
    const auto resp = engine.http().send(r);
    BOOST_REQUIRE_MESSAGE(resp.status == 201, "creating a container on " << image_id << ": " << resp.body);
    const auto at = resp.body.find("\"Id\":\"");
    BOOST_REQUIRE(at != std::string::npos);
    return resp.body.substr(at + 6, 64);
}

void remove_container(docker_engine& engine, const std::string& id) {
    const auto resp = engine.http().send({"DELETE", fmt::format("/v{}/containers/{}?force=1", engine.api_version().str(), id)});
    BOOST_TEST((resp.status == 204 || resp.status == 200), "removing container " << id << ": " << resp.body);
}

BOOST_AUTO_TEST_CASE(a_superseded_image_a_container_uses_stays_until_prune_removes_it) {
    runtime_tree rt;
    counting_logger log;
    auto b = rt.builder(log);
    const auto first = b.build_runtime_image(rt.spec());
    auto engine = env().engine_client();
    const auto user = create_container_on(engine, first.image_id);

    // Forced, with a label of its own so that the engine's layer cache
    // cannot hand back the same image: the names move to a new image.
    builder_options bo;
    bo.lock_directory = rt.locks;
    bo.labels["org.example.rebuilt"] = "yes";
    docker_engine::options o;
    o.endpoint = http::parse_docker_host(env().host);
    o.docker_config = std::filesystem::path("/nonexistent/rtb-test/config.json");
    test_builder rebuilder(docker_engine(o), {}, {}, openhands_tags({.jobs = 2, .use_stat_cache = false}),
                           log, bo);
    auto forced_spec = rt.spec();
    forced_spec.force_rebuild = true;
    const auto forced = rebuilder.build_runtime_image(forced_spec);
    BOOST_REQUIRE(forced.image_id != first.image_id);
    const auto kept = engine.describe_image(first.image_id);
    BOOST_REQUIRE_MESSAGE(kept.has_value(), "the container keeps the superseded image");
    BOOST_TEST(!has_names(*kept));
    BOOST_TEST(log.said("kept " + first.image_id.substr(7, 12)));

    // rtb prune: not while the container is there; then it removes it by id.
    auto first_only = [&] {
        auto all = prune_candidates(engine);
        std::erase_if(all, [&](const prune_candidate& c) { return c.id != first.image_id; });
        return all;
    };
    const auto later = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count() + 10;
    BOOST_TEST(plan_prune(first_only(), {.older_than = std::chrono::seconds(0), .keep_per_lock = std::nullopt}, later).empty());
    remove_container(engine, user);
    const auto decisions = plan_prune(first_only(), {.older_than = std::chrono::seconds(0), .keep_per_lock = std::nullopt}, later);
    BOOST_REQUIRE(decisions.size() == 1u);
    BOOST_TEST(decisions[0].image.names.empty());

    // Used again between the decision and the removal: kept, not an error.
    const auto late_user = create_container_on(engine, first.image_id);
    BOOST_TEST(remove_pruned(engine, decisions).empty());
    BOOST_TEST(engine.describe_image(first.image_id).has_value());
    remove_container(engine, late_user);
    BOOST_TEST(remove_pruned(engine, decisions).size() == 1u);
    BOOST_TEST(!engine.describe_image(first.image_id).has_value());
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

// ------------------------------------------------- push, and reuse across hosts

namespace {

/// Removes, at the end, every local name containing `part` (names the test
/// gave in a registry repository, which runtime_tree does not know).
struct names_removed_after {
    std::string part;
    ~names_removed_after() {
        try {
            auto e = env().engine_client();
            for (const auto& img : e.images())
                for (const auto& name : img.repo_tags)
                    if (name.find(part) != std::string::npos) e.remove(image_ref::parse(name), true);
        } catch (const std::exception& ex) {
            BOOST_ERROR("removing this test's images failed: " << ex.what());
        }
    }
};

test_builder fleet_builder(const runtime_tree& rt, bool push, lookup existence, counting_logger logger = {}) {
    docker_engine::options o;
    o.endpoint = http::parse_docker_host(env().host);
    o.docker_config = std::filesystem::path("/nonexistent/rtb-test/config.json");
    builder_options bo;
    bo.lock_directory = rt.locks;
    bo.build_timeout = std::chrono::minutes(10);
    bo.push = push;
    bo.existence = existence;
    return test_builder(docker_engine(o), {}, {}, openhands_tags({.jobs = 2, .use_stat_cache = false}),
                        std::move(logger), bo);
}

bool in_registry(const std::string& name) {
    registry_client::options o;
    o.docker_config = std::filesystem::path("/nonexistent/rtb-test/config.json");
    return registry_client(o).exists(image_ref::parse(name));
}

/// Removes the three names of `tags` from the engine: as a second host sees
/// it, the images are only in the registry.
void forget_locally(const tag_set& tags) {
    auto e = env().engine_client();
    for (const auto& name : {tags.source_image(), tags.lock_image(), tags.versioned_image()})
        e.remove(image_ref::parse(name), true);
}

}  // namespace

BOOST_AUTO_TEST_CASE(pushed_images_are_reused_or_built_on_from_the_registry_alone) {
    runtime_tree rt;
    const std::string repo = fmt::format("{}/rtb-builder-fleet-{}-{}", need_env("RTB_REGISTRY"), env().engine, ::getpid());
    names_removed_after cleanup{repo};
    auto spec = rt.spec();
    spec.runtime_repository = repo;

    // Host A builds with push: every tag the build applied is in the registry.
    counting_logger a_log;
    auto a = fleet_builder(rt, true, lookup::local, a_log);
    const auto first = a.build_runtime_image(spec);
    BOOST_TEST(to_string(first.plan) == "scratch");
    BOOST_TEST(first.tags_pushed == first.tags_applied);
    BOOST_TEST(first.tags_pushed.size() == 3u);
    for (const auto& name : first.tags_applied) BOOST_TEST(in_registry(name), name << " is in the registry");
    BOOST_TEST(a_log.said("pushed " + first.image));

    // Host B has none of them: it finds the source image in the registry and builds nothing.
    forget_locally(first.tags);
    counting_logger b_log;
    auto b = fleet_builder(rt, false, lookup::local_then_registry, b_log);
    const auto reused = b.build_runtime_image(spec);
    BOOST_TEST(to_string(reused.plan) == "reuse");
    BOOST_TEST(to_string(reused.found) == "registry");
    BOOST_TEST(b_log.built() == 0);
    BOOST_TEST(!env().engine_client().exists_locally(image_ref::parse(first.image)), "a reuse pulls nothing");

    // A source edit on host B: built on the lock image from the registry
    // (the engine pulls it as part of the build), only the source layer.
    rt.append(rt.src / "lib" / "edited.sh", "echo edited on host b\n");
    const auto lock = b.build_runtime_image(spec);
    BOOST_TEST(to_string(lock.plan) == "lock");
    BOOST_TEST(to_string(lock.found) == "registry");
    BOOST_TEST(lock.from_image == first.tags.lock_image());
    BOOST_TEST(built_on(lock.image, first.tags.lock_image()));
    BOOST_TEST(lock.tags_pushed.empty(), "no push without builder_options::push");
    BOOST_TEST(!in_registry(lock.image));

    // A reuse with push: the registry lacks the new source tag; it is pushed, and only it.
    auto c = fleet_builder(rt, true, lookup::local_then_registry);
    const auto ensured = c.build_runtime_image(spec);
    BOOST_TEST(to_string(ensured.plan) == "reuse");
    BOOST_TEST(to_string(ensured.found) == "engine");
    BOOST_TEST((ensured.tags_pushed == std::vector<std::string>{lock.image}));
    BOOST_TEST(in_registry(lock.image));
    // Everything is there now: nothing more to push.
    BOOST_TEST(c.build_runtime_image(spec).tags_pushed.empty());
}

BOOST_AUTO_TEST_CASE(a_failed_push_is_its_own_error_and_the_built_image_stays_tagged) {
    runtime_tree rt;
    // A registry that is not there: the build succeeds, its push cannot.
    const std::string repo = fmt::format("127.0.0.1:{}/rtb-builder-nopush-{}-{}", free_port(), env().engine, ::getpid());
    names_removed_after cleanup{repo};
    auto spec = rt.spec();
    spec.runtime_repository = repo;
    counting_logger log;
    auto b = fleet_builder(rt, true, lookup::local, log);
    const auto source = b.tag_strategy().tags(spec).source_image();
    const auto e = error_of([&] { b.build_runtime_image(spec); });
    BOOST_TEST(e.value() == errc::push_failed, e.what());
    BOOST_TEST(contains(e.what(), "built " + source), e.what());
    BOOST_TEST(contains(e.what(), "but pushing"), e.what());
    BOOST_TEST(log.built() == 1);
    BOOST_TEST(env().engine_client().exists_locally(image_ref::parse(source)), "the image stays, tagged");
}

namespace {
/// A Transport that builds and looks up, and cannot push.
struct build_only {
    docker_engine inner = env().engine_client();
    bool image_exists(const image_ref& r, lookup m) { return inner.image_exists(r, m); }
    template <Logger L>
    build_result build(const build_request& q, L& l, std::stop_token s) { return inner.build(q, l, s); }
};
}  // namespace

BOOST_AUTO_TEST_CASE(push_needs_a_transport_that_can_push) {
    static_assert(Transport<build_only> && !ImagePublishing<build_only>);
    builder_options bo;
    bo.push = true;
    const auto e = error_of([&] {
        basic_builder<build_only, engine_layer_cache, no_retry, openhands_tags, counting_logger> b({}, {}, {}, {}, {}, bo);
    });
    BOOST_TEST(e.value() == errc::invalid_argument);
    BOOST_TEST(contains(e.what(), "ImagePublishing"), e.what());
}
