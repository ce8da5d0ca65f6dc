// A runtime image's build context: Dockerfile + lock/ + source/, streamed or
// written to a temporary build folder that never outlives its owner; and the
// content tags hashing exactly what is sent.
#define BOOST_TEST_MODULE runtime_context
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <filesystem>
#include <string>

#include "rtb/context/directory_context.hpp"
#include "rtb/context/runtime_context.hpp"
#include "rtb/context/tar_stream.hpp"
#include "rtb/tags/content_tags.hpp"
#include "support/temp_tree.hpp"

using namespace rtb;
using rtb::test::temp_tree;

namespace {

struct runtime_fixture {
    temp_tree src, locks;
    runtime_spec spec;
    runtime_fixture() {
        src.file("bin/run", "#!/bin/sh\n");
        src.file("lib/x.sh", "x");
        src.file("lib/__pycache__/x.pyc", "junk");
        src.file(".dockerignore", "**/__pycache__\n");
        spec.base_image = "local/busybox:1";
        spec.source_dir = src.root();
        spec.lock_files = {locks.file("deps.lock", "cat\n"), locks.file("extra/more.lock", "sed\n")};
        spec.runtime_version = "0.1.0";
    }
};

std::vector<std::string> files_of(const build_context& c) { return context_files(c); }

std::size_t build_folders_in(const std::filesystem::path& dir) {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().filename().string().starts_with("rtb-build-")) ++n;
    return n;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(layout, runtime_fixture)

BOOST_AUTO_TEST_CASE(dockerfile_lock_files_and_filtered_source) {
    const auto ctx = runtime_build_context(spec, plan_kind::scratch, spec.base_image);
    const std::vector<std::string> want{"Dockerfile",      "lock/deps.lock", "lock/more.lock", "source/.dockerignore",
                                        "source/bin/run", "source/lib/x.sh"};
    BOOST_TEST(files_of(ctx) == want, boost::test_tools::per_element());
    for (const auto& e : ctx.entries())
        if (e.path == "Dockerfile") BOOST_TEST(e.bytes->find("FROM local/busybox:1\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_versioned_build_renders_from_the_image_it_starts_from) {
    const auto ctx = runtime_build_context(spec, plan_kind::versioned, "ghcr.io/x/runtime:oh_v0.1.0_abc");
    for (const auto& e : ctx.entries()) {
        if (e.path != "Dockerfile") continue;
        BOOST_TEST(e.bytes->find("FROM ghcr.io/x/runtime:oh_v0.1.0_abc\n") != std::string::npos);
        BOOST_TEST(e.bytes->find("# System setup") == std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(a_plan_from_plan_build_gives_kind_and_from_image) {
    tag_set tags;
    tags.repository = "reg/rt";
    tags.source = "src";
    tags.lock = "lck";
    tags.versioned = "ver";
    const auto plan = plan_build(tags, spec.base_image, {.source = false, .lock = true, .versioned = true}, false);
    const auto ctx = runtime_build_context(spec, plan);
    for (const auto& e : ctx.entries())
        if (e.path == "Dockerfile") {
            BOOST_TEST(e.bytes->find("FROM reg/rt:lck\n") != std::string::npos);
            BOOST_TEST(e.bytes->find("COPY lock/") == std::string::npos);
        }
    BOOST_CHECK_THROW(runtime_build_context(spec, plan_build(tags, "b", {.source = true}, false)), error);
}

std::string dockerfile_of(const build_context& ctx) {
    for (const auto& e : ctx.entries())
        if (e.path == "Dockerfile") return *e.bytes;
    return "(none)";
}

BOOST_AUTO_TEST_CASE(a_custom_template_and_its_variables) {
    spec.dockerfile_template = "FROM {{ base_image }}\nLABEL team={{ team }}\n";
    spec.template_vars = {{"team", "sandbox"}};
    // Jinja2 drops the template's final newline, as it does for OpenHands.
    BOOST_TEST(dockerfile_of(runtime_build_context(spec, plan_kind::lock, "img")) == "FROM img\nLABEL team=sandbox");
}

BOOST_AUTO_TEST_CASE(the_spec_gives_the_template_its_browser_flag_and_switches) {
    spec.dockerfile_template = "FROM {{ base_image }}\n{% if enable_browser %}\nRUN playwright\n{% endif %}\nEND\n";
    BOOST_TEST(dockerfile_of(runtime_build_context(spec, plan_kind::lock, "img")) == "FROM img\n\nRUN playwright\n\nEND");
    spec.enable_browser = false;
    BOOST_TEST(dockerfile_of(runtime_build_context(spec, plan_kind::lock, "img")) == "FROM img\n\nEND");
    spec.template_options.trim_blocks = true;
    spec.template_options.keep_trailing_newline = true;
    BOOST_TEST(dockerfile_of(runtime_build_context(spec, plan_kind::lock, "img")) == "FROM img\nEND\n");
}

BOOST_AUTO_TEST_CASE(labels_end_the_rendered_dockerfile_as_one_label_line) {
    spec.dockerfile_template = "FROM {{base_image}}\nLABEL team={{team}}";
    spec.template_vars = {{"team", "sandbox"}};
    runtime_context_options o;
    o.labels = {{"rtb.plan", "lock"}, {"rtb.version", "0.1.0"}};
    const auto ctx = runtime_build_context(spec, plan_kind::lock, "img", o);
    bool seen = false;
    for (const auto& e : ctx.entries())
        if (e.path == "Dockerfile") {
            BOOST_TEST(*e.bytes == "FROM img\nLABEL team=sandbox\nLABEL \"rtb.plan\"=\"lock\" \"rtb.version\"=\"0.1.0\"\n");
            seen = true;
        }
    BOOST_TEST(seen);
    spec.dockerfile_template = "FROM {{base_image}}\nRUN true \\\n";
    BOOST_CHECK_EXCEPTION(runtime_build_context(spec, plan_kind::lock, "img", o), error, [](const error& e) {
        return std::string(e.what()).find("ends in a line continuation") != std::string::npos;
    });
}

BOOST_AUTO_TEST_CASE(a_template_error_names_the_template_given) {
    spec.dockerfile_template = "FROM {{base_image}}\n{% if build_from_lock %}\n";
    runtime_context_options o;
    o.template_name = "my.Dockerfile.j2";
    BOOST_CHECK_EXCEPTION(runtime_build_context(spec, plan_kind::lock, "img", o), error, [](const error& e) {
        return std::string(e.what()).find("template my.Dockerfile.j2: line 2, column 4: {% if %} is never closed") !=
               std::string::npos;
    });
}

BOOST_AUTO_TEST_CASE(two_lock_files_with_one_name_are_refused_naming_both) {
    spec.lock_files.push_back(locks.file("other/deps.lock", "x\n"));
    BOOST_CHECK_EXCEPTION(runtime_build_context(spec, plan_kind::scratch, "img"), error, [&](const error& e) {
        const std::string m = e.what();
        return m.find((locks / "deps.lock").string()) != std::string::npos &&
               m.find((locks / "other/deps.lock").string()) != std::string::npos;
    });
}

BOOST_AUTO_TEST_CASE(the_stream_reads_the_source_where_it_is_no_copy) {
    const auto ctx = runtime_build_context(spec, plan_kind::scratch, "img");
    for (const auto& e : ctx.entries()) {
        if (e.path == "source/bin/run") {
            BOOST_TEST((e.from == content_from::tree));
            BOOST_TEST(e.source == "bin/run");
        }
        if (e.path == "lock/deps.lock") BOOST_TEST((e.from == content_from::file));
        if (e.path == "Dockerfile") BOOST_TEST((e.from == content_from::memory));
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(build_folders, runtime_fixture)

BOOST_AUTO_TEST_CASE(a_build_folder_holds_the_context_and_goes_away_with_its_owner) {
    temp_tree parent;
    std::filesystem::path where;
    {
        const auto ctx = runtime_build_context(spec, plan_kind::scratch, "img");
        build_folder folder(ctx, parent.root());
        where = folder.path();
        BOOST_TEST(std::filesystem::is_regular_file(where / "Dockerfile"));
        BOOST_TEST(std::filesystem::is_regular_file(where / "source/lib/x.sh"));
        BOOST_TEST(!std::filesystem::exists(where / "source/lib/__pycache__"));
        // the folder packs to the very tar the context streams
        tar_stream a(ctx);
        tar_stream b(directory_context(where));
        BOOST_TEST((read_all(a) == read_all(b)));
    }
    BOOST_TEST(!std::filesystem::exists(where));
    BOOST_TEST(build_folders_in(parent.root()) == 0u);
}

BOOST_AUTO_TEST_CASE(a_build_folder_that_fails_half_way_is_removed) {
    temp_tree parent;
    const auto ctx = runtime_build_context(spec, plan_kind::scratch, "img");
    std::filesystem::remove(locks / "extra/more.lock");  // vanishes after the context was assembled
    BOOST_CHECK_EXCEPTION(build_folder(ctx, parent.root()), error, [&](const error& e) {
        return std::string(e.what()).find((locks / "extra/more.lock").string()) != std::string::npos;
    });
    BOOST_TEST(build_folders_in(parent.root()) == 0u);
}

BOOST_AUTO_TEST_CASE(a_moved_build_folder_is_removed_once_by_its_new_owner) {
    temp_tree parent;
    const auto ctx = runtime_build_context(spec, plan_kind::lock, "img");
    std::filesystem::path where;
    {
        build_folder outer = [&] {
            build_folder inner(ctx, parent.root());
            where = inner.path();
            return inner;
        }();
        BOOST_TEST(std::filesystem::exists(where));
        BOOST_TEST(outer.path() == where);
    }
    BOOST_TEST(!std::filesystem::exists(where));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(content_tags_hash_what_is_sent, runtime_fixture)

BOOST_AUTO_TEST_CASE(an_ignored_file_does_not_change_the_source_tag_and_a_sent_one_does) {
    const content_tags tags;
    const auto before = tags.tags(spec).source;
    src.file("lib/__pycache__/y.pyc", "more junk");
    BOOST_TEST(tags.tags(spec).source == before);
    src.file("lib/new.sh", "new");
    BOOST_TEST(tags.tags(spec).source != before);
}

BOOST_AUTO_TEST_SUITE_END()
