#define BOOST_TEST_MODULE tags
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <string>

#include "rtb/concepts.hpp"
#include "rtb/hash/dirhash.hpp"
#include "rtb/hash/tree_digest.hpp"
#include "rtb/tags/content_tags.hpp"
#include "rtb/tags/openhands_tags.hpp"
#include "rtb/tags/tag_rules.hpp"
#include "support/temp_tree.hpp"
#include "support/checks.hpp"

using namespace rtb;
using test::temp_tree;
using test::message_of;

static_assert(TagStrategy<openhands_tags> && TagStrategy<content_tags>);

namespace {
digest from_hex(std::string_view hex) {
    std::vector<std::uint8_t> b;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) b.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    return digest(b);
}

struct runtime_fixture {
    temp_tree t;
    runtime_spec spec;
    runtime_fixture() {
        t.file("src/app.py", "print('hi')\n");
        t.file("src/pkg/__init__.py", "");
        t.file("src/pkg/__pycache__/x.pyc", "junk");
        t.file("pyproject.toml", "[tool.poetry]\n");
        t.file("poetry.lock", "lock\n");
        spec.base_image = "ubuntu:22.04";
        spec.source_dir = t / "src";
        spec.lock_files = {t / "pyproject.toml", t / "poetry.lock"};
        spec.runtime_version = "0.62.0";
    }
};
}  // namespace

// Expected values from OpenHands' truncate_hash run in Python.
BOOST_AUTO_TEST_CASE(base36_is_openhands_truncate_hash) {
    BOOST_TEST(tags::base36_shorten(from_hex("00")) == "");
    BOOST_TEST(tags::base36_shorten(from_hex("23")) == "z");
    BOOST_TEST(tags::base36_shorten(from_hex("24")) == "01");
    BOOST_TEST(tags::base36_shorten(from_hex("ff")) == "37");
    BOOST_TEST(tags::base36_shorten(from_hex("0000000000000000000000000000000001")) == "1");
    BOOST_TEST(tags::base36_shorten(from_hex("900150983cd24fb0d6963f7d28e17f72")) == "ywly8d8k8tvnawzc");
    BOOST_TEST(tags::base36_shorten(from_hex("d41d8cd98f00b204e9800998ecf8427e")) == "uc3mgirxygs0uf85");
    BOOST_TEST(tags::base36_shorten(from_hex("ffffffffffffffffffffffffffffffff")) == "33psmzhlgqnyronp");
    BOOST_TEST(tags::base36_shorten(from_hex("2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881")) ==
               "53dd54xcubbdc1vd");
}

BOOST_AUTO_TEST_CASE(versioned_spelling_is_openhands_for_valid_names) {
    BOOST_TEST(tags::versioned_tag("oh_v", "0.62.0", "nikolaik/python-nodejs:python3.12-nodejs22-slim") ==
               "oh_v0.62.0_nikolaik_s_python-nodejs_t_python3.12-nodejs22-slim");
    const std::string long_name = "registry.example.com:5000/" + std::string(120, 'a') + ":Tag1";
    BOOST_TEST(tags::versioned_tag("oh_v", "1", long_name) ==
               "oh_v1_" + std::string(89, 'a') + "_t_tag1");
}

BOOST_AUTO_TEST_CASE(versioned_tags_are_always_valid_tags) {
    const std::string digest_ref = "ubuntu@sha256:" + std::string(64, 'a');
    const auto t = tags::versioned_tag("oh_v", "1.0", digest_ref);
    BOOST_TEST(t == "oh_v1.0_" + std::string("ubuntu_a_sha256_t_") + std::string(64, 'a'));  // 96 chars kept
    BOOST_TEST(is_valid_tag(t));
    BOOST_TEST(is_valid_tag(tags::versioned_tag("oh_v", "1", "[::1]:5000/x:y")));
    // a long version shortens the base image part, never the 128 limit
    const auto v = std::string(80, '9');
    const auto long_version = tags::versioned_tag("oh_v", v, std::string(200, 'b'));
    BOOST_TEST(long_version.size() == 128u);
    BOOST_TEST(is_valid_tag(long_version));
}

BOOST_AUTO_TEST_CASE(versions_that_cannot_be_in_a_tag_are_refused) {
    BOOST_TEST(message_of([] { tags::check_version(""); }).find("empty") != std::string::npos);
    BOOST_TEST(message_of([] { tags::check_version("1.0 beta"); }).find("1.0 beta") != std::string::npos);
    BOOST_TEST(message_of([] { tags::check_version("a/b"); }).find("may only contain") != std::string::npos);
    BOOST_TEST(message_of([] { tags::check_version(std::string(90, '1')); }).find("at most") != std::string::npos);
    BOOST_CHECK_NO_THROW(tags::check_version(std::string(89, '1')));
}

BOOST_AUTO_TEST_CASE(openhands_tags_match_hand_computation) {
    runtime_fixture f;
    const auto t = openhands_tags{}.tags(f.spec);
    // lock: md5("ubuntu:22.04" + pyproject + poetry.lock) -> truncate_hash (computed in Python)
    BOOST_TEST(t.lock == "oh_v0.62.0_qjnizp3g16jydlmq");
    BOOST_TEST(t.versioned == "oh_v0.62.0_ubuntu_t_22.04");
    const auto src = dirhash(f.spec.source_dir, dirhash_options::openhands());
    BOOST_TEST(t.source == t.lock + "_" + tags::base36_shorten(src));
    BOOST_TEST(t.repository == "ghcr.io/openhands/runtime");
    BOOST_TEST(t.source_image() == "ghcr.io/openhands/runtime:" + t.source);
}

BOOST_AUTO_TEST_CASE(disabling_the_browser_changes_the_lock_hash_as_in_openhands) {
    runtime_fixture f;
    f.spec.enable_browser = false;
    BOOST_TEST(openhands_tags{}.tags(f.spec).lock == "oh_v0.62.0_2tjngl76l2l3n74d");
}

BOOST_AUTO_TEST_CASE(disabling_the_browser_changes_the_content_lock_tag_and_nothing_else) {
    runtime_fixture f;
    const auto with = content_tags{}.tags(f.spec);
    f.spec.enable_browser = false;
    const auto without = content_tags{}.tags(f.spec);
    BOOST_TEST(with.lock != without.lock);
    BOOST_TEST(with.versioned == without.versioned);
    BOOST_TEST(with.source.substr(with.lock.size()) == without.source.substr(without.lock.size()));
}

BOOST_AUTO_TEST_CASE(the_base_image_is_hashed_as_given_not_normalized) {
    runtime_fixture f;
    const auto a = openhands_tags{}.tags(f.spec);
    f.spec.base_image = "docker.io/library/ubuntu:22.04";
    const auto b = openhands_tags{}.tags(f.spec);
    BOOST_TEST(a.lock != b.lock);
}

BOOST_AUTO_TEST_CASE(extra_inputs_change_the_lock_tag_only_when_given) {
    runtime_fixture f;
    const auto plain = openhands_tags{}.tags(f.spec);
    auto with = [&](auto mutate) {
        runtime_fixture g;
        mutate(g.spec);
        return openhands_tags{}.tags(g.spec);
    };
    const auto deps = with([](runtime_spec& s) { s.extra_deps = "jq"; });
    const auto arg = with([](runtime_spec& s) { s.build_args["PIP_INDEX"] = "x"; });
    const auto arg2 = with([](runtime_spec& s) { s.build_args["PIP_INDEX"] = "y"; });
    const auto platform = with([](runtime_spec& s) { s.platform = "linux/arm64"; });
    const auto tmpl = with([](runtime_spec& s) { s.dockerfile_template = "FROM {{base_image}}\n"; });
    const auto trimmed = with([](runtime_spec& s) {
        s.dockerfile_template = "FROM {{base_image}}\n";
        s.template_options.trim_blocks = true;
    });
    const auto var = with([](runtime_spec& s) { s.template_vars["x"] = "1"; });
    for (const auto* t : {&deps, &arg, &arg2, &platform, &tmpl, &trimmed, &var}) {
        BOOST_TEST(t->lock != plain.lock);
        BOOST_TEST(t->versioned == plain.versioned);
        BOOST_TEST(t->source.substr(t->lock.size()) == plain.source.substr(plain.lock.size()));
    }
    BOOST_TEST(arg.lock != arg2.lock);
    BOOST_TEST(trimmed.lock != tmpl.lock);  // a switch that changes the text changes the tag
    // Switches that do not change a successful render's text, and switches without a custom template, are not hashed.
    const auto strict = with([](runtime_spec& s) {
        s.dockerfile_template = "FROM {{base_image}}\n";
        s.template_options.undefined = jinja::undefined_behavior::strict;
    });
    BOOST_TEST(strict.lock == tmpl.lock);
    const auto no_template = with([](runtime_spec& s) { s.template_options.lstrip_blocks = true; });
    BOOST_TEST(no_template.lock == plain.lock);
    // field boundaries are unambiguous
    const auto ab = with([](runtime_spec& s) { s.build_args["a"] = "b=c"; });
    const auto abc = with([](runtime_spec& s) { s.build_args["a=b"] = "c"; });
    BOOST_TEST(ab.lock != abc.lock);
}

BOOST_AUTO_TEST_CASE(source_changes_change_only_the_source_tag) {
    runtime_fixture f;
    const auto before = openhands_tags{}.tags(f.spec);
    f.t.file("src/pkg/__pycache__/y.pyc", "more junk");  // ignored by OpenHands
    BOOST_TEST(openhands_tags{}.tags(f.spec).source == before.source);
    f.t.file("src/app.py", "print('bye')\n");
    const auto after = openhands_tags{}.tags(f.spec);
    BOOST_TEST(after.source != before.source);
    BOOST_TEST(after.lock == before.lock);
}

BOOST_AUTO_TEST_CASE(lock_file_order_matters_and_missing_lock_files_are_errors) {
    runtime_fixture f;
    const auto a = openhands_tags{}.tags(f.spec);
    std::swap(f.spec.lock_files[0], f.spec.lock_files[1]);
    BOOST_TEST(openhands_tags{}.tags(f.spec).lock != a.lock);
    f.spec.lock_files.push_back(f.t / "missing.lock");
    const auto msg = message_of([&] { openhands_tags{}.tags(f.spec); });
    BOOST_TEST(msg.find("missing.lock") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(content_tags_use_the_fast_digest_and_hash_everything) {
    runtime_fixture f;
    const auto t = content_tags{}.tags(f.spec);
    BOOST_TEST(t.versioned == "rtb_v0.62.0_ubuntu_t_22.04");
    BOOST_TEST(t.lock.starts_with("rtb_v0.62.0_"));
    BOOST_TEST(t.source == t.lock + "_" + tags::base36_shorten(tree_digest(f.spec.source_dir)));
    BOOST_TEST(is_valid_tag(t.source));
    f.t.file("src/pkg/__pycache__/y.pyc", "more junk");  // no OpenHands ignores here: counts
    BOOST_TEST(content_tags{}.tags(f.spec).source != t.source);
}

BOOST_AUTO_TEST_CASE(platforms_are_checked_before_they_reach_a_hash_or_an_engine) {
    for (const char* ok : {"linux", "linux/amd64", "linux/arm64/v8", "windows/amd64", "linux/ppc64le", "linux/arm/v7"})
        BOOST_CHECK_NO_THROW(rtb::check_platform(ok));
    const std::pair<std::string, const char*> bad[] = {
        {"", "empty"},
        {"Linux/AMD64", "lowercase"},
        {"linux//amd64", "a part is empty"},
        {"linux/amd64/", "a part is empty"},
        {"/amd64", "a part is empty"},
        {"linux/amd64/v8/x", "more than three parts"},
        {"linux/amd64;rm -rf /", "outside"},
        {"linux/amd64 --push", "outside"},
        {"linux/\x01", "outside"},
        {std::string(65, 'a'), "65 bytes"},
    };
    for (const auto& c : bad) {
        // (no structured binding: clang 14 cannot capture one)
        BOOST_CHECK_EXCEPTION(rtb::check_platform(c.first), rtb::error, [&c](const rtb::error& e) {
            const auto* why = c.second;
            const std::string_view m = e.what();
            return e.value() == rtb::errc::invalid_argument && m.find(why) != m.npos && m.find("platform") != m.npos;
        });
    }
}
