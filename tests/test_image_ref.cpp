#define BOOST_TEST_MODULE image_ref
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <string>

#include "rtb/image_ref.hpp"

using namespace rtb;

namespace {
const std::string sha = "sha256:" + std::string(64, 'a');

struct valid_case {
    std::string input, registry, repository, tag, digest, canonical;
};
struct invalid_case {
    std::string input, why;  // `why`: a fragment the message must contain
};

const valid_case valid[] = {
    {"ubuntu", "docker.io", "library/ubuntu", "", "", "docker.io/library/ubuntu"},
    {"ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", "", "docker.io/library/ubuntu:22.04"},
    {"library/ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", "", "docker.io/library/ubuntu:22.04"},
    {"docker.io/ubuntu", "docker.io", "library/ubuntu", "", "", "docker.io/library/ubuntu"},
    {"index.docker.io/library/ubuntu", "docker.io", "library/ubuntu", "", "", "docker.io/library/ubuntu"},
    {"index.docker.io/foo/bar:1", "docker.io", "foo/bar", "1", "", "docker.io/foo/bar:1"},
    {"nikolaik/python-nodejs:python3.12-nodejs22-slim", "docker.io", "nikolaik/python-nodejs",
     "python3.12-nodejs22-slim", "", "docker.io/nikolaik/python-nodejs:python3.12-nodejs22-slim"},
    {"ghcr.io/openhands/runtime:oh_v0.62.0_abc", "ghcr.io", "openhands/runtime", "oh_v0.62.0_abc", "",
     "ghcr.io/openhands/runtime:oh_v0.62.0_abc"},
    {"localhost/foo", "localhost", "foo", "", "", "localhost/foo"},
    {"localhost:5000/foo/bar:1", "localhost:5000", "foo/bar", "1", "", "localhost:5000/foo/bar:1"},
    {"127.0.0.1:5000/x", "127.0.0.1:5000", "x", "", "", "127.0.0.1:5000/x"},
    {"[::1]:5000/x:y", "[::1]:5000", "x", "y", "", "[::1]:5000/x:y"},
    {"[fe80::1]/x", "[fe80::1]", "x", "", "", "[fe80::1]/x"},
    {"my-registry.example.com/a/b/c:tag", "my-registry.example.com", "a/b/c", "tag", "",
     "my-registry.example.com/a/b/c:tag"},
    {"Registry.Example.com/foo", "Registry.Example.com", "foo", "", "", "Registry.Example.com/foo"},
    {"UPPER/repo", "UPPER", "repo", "", "", "UPPER/repo"},  // an upper-case first component is a registry
    {"foo_bar/baz__qux", "docker.io", "foo_bar/baz__qux", "", "", "docker.io/foo_bar/baz__qux"},
    {"a-b--c/d", "docker.io", "a-b--c/d", "", "", "docker.io/a-b--c/d"},
    {"a.b/c", "a.b", "c", "", "", "a.b/c"},
    {"swebench/sweb.eval.x86_64.django_1776_django-11099:latest", "docker.io",
     "swebench/sweb.eval.x86_64.django_1776_django-11099", "latest", "",
     "docker.io/swebench/sweb.eval.x86_64.django_1776_django-11099:latest"},
    {"ubuntu@" + sha, "docker.io", "library/ubuntu", "", sha, "docker.io/library/ubuntu@" + sha},
    {"ubuntu:22.04@" + sha, "docker.io", "library/ubuntu", "22.04", sha, "docker.io/library/ubuntu:22.04@" + sha},
    {"ubuntu@md5:" + std::string(32, '0'), "docker.io", "library/ubuntu", "", "md5:" + std::string(32, '0'),
     "docker.io/library/ubuntu@md5:" + std::string(32, '0')},
    {"x:" + std::string(128, 'T'), "docker.io", "library/x", std::string(128, 'T'), "",
     "docker.io/library/x:" + std::string(128, 'T')},
    {"x:_tag", "docker.io", "library/x", "_tag", "", "docker.io/library/x:_tag"},
    {"x:UPPER.case-ok", "docker.io", "library/x", "UPPER.case-ok", "", "docker.io/library/x:UPPER.case-ok"},
    {"registry.com:5000", "docker.io", "library/registry.com", "5000", "", "docker.io/library/registry.com:5000"},
    {"a/b/c/d/e/f", "docker.io", "a/b/c/d/e/f", "", "", "docker.io/a/b/c/d/e/f"},
    {"0", "docker.io", "library/0", "", "", "docker.io/library/0"},
    {"example.com:65535/x", "example.com:65535", "x", "", "", "example.com:65535/x"},
};

const invalid_case invalid[] = {
    {"", "empty"},
    {" ", "whitespace"},
    {"ubuntu ", "whitespace"},
    {"ubu\ntu", "control"},
    {"ubuntu\xc3\xa9", "non-ASCII"},
    {"ubuntu:", "tag after ':' is empty"},
    {"ubuntu:-tag", "invalid tag"},
    {"ubuntu:.tag", "invalid tag"},
    {"ubuntu:" + std::string(129, 'a'), "invalid tag"},
    {"ubuntu:ta/g", "port \"ta\" is not a number"},
    {"Ubuntu", "must be lowercase"},
    {"library/Ubuntu", "must be lowercase"},
    {"/ubuntu", "empty path component"},
    {"ubuntu/", "empty path component"},
    {"a//b", "empty path component"},
    {"a/-b", "must start and end"},
    {"a/b-", "must start and end"},
    {"a/b..c", "invalid separator"},
    {"a/b___c", "invalid separator"},
    {"a/b.-c", "invalid separator"},
    {"ubuntu@sha256:abc", "shorter than 32"},
    {"ubuntu@sha256:" + std::string(63, 'a'), "64 hex digits"},
    {"ubuntu@sha256:" + std::string(64, 'A'), "lowercase"},
    {"ubuntu@sha256:" + std::string(64, 'g'), "not hexadecimal"},
    {"ubuntu@:" + std::string(64, 'a'), "algorithm is empty"},
    {"ubuntu@1sha:" + std::string(64, 'a'), "invalid digest algorithm"},
    {"ubuntu@sha256", "no 'algorithm:' prefix"},
    {"ubuntu@foo:abc", "shorter than 32"},
    {"localhost:99999/foo", "out of range"},
    {"localhost:5x/foo", "not a number"},
    {"localhost:/foo", "empty port"},
    {"-bad.com/foo", "must start and end"},
    {"bad-.com/foo", "must start and end"},
    {"a..b.com/foo", "empty label"},
    {"[::1/foo", "unterminated"},
    {"[zz::1]/foo", "invalid IPv6"},
    {std::string(64, 'a'), "image id"},
    {"r.io/" + std::string(300, 'a'), "at most 255"},
    {"ubuntu:latest:extra", "invalid character"},
    {":tag", "repository name is empty"},
    {"@" + sha, "repository name is empty"},
    {"registry.io/", "empty"},
    {"a/b c", "whitespace"},
};
}  // namespace

BOOST_AUTO_TEST_CASE(valid_references_parse_and_normalize) {
  for (const auto& c : valid) BOOST_TEST_CONTEXT("reference " << c.input) {
    const auto r = image_ref::parse(c.input);
    BOOST_TEST(r.registry() == c.registry);
    BOOST_TEST(r.repository() == c.repository);
    BOOST_TEST(r.tag().value_or("") == c.tag);
    BOOST_TEST(r.digest().value_or("") == c.digest);
    BOOST_TEST(r.str() == c.canonical);
    // the canonical form is a fixed point
    BOOST_TEST(image_ref::parse(r.str()).str() == r.str());
    BOOST_TEST(image_ref::parse(r.familiar()).str() == r.str());
  }
}

BOOST_AUTO_TEST_CASE(invalid_references_name_the_problem) {
  for (const auto& c : invalid) BOOST_TEST_CONTEXT("reference " << c.input) {
    try {
        (void)image_ref::parse(c.input);
        BOOST_FAIL("accepted an invalid reference");
    } catch (const rtb::error& e) {
        const std::string msg = e.what();
        BOOST_TEST(e.value() == errc::invalid_argument);
        BOOST_TEST(msg.find(c.why) != std::string::npos, "message: " << msg);
        BOOST_TEST(msg.find("invalid image reference") == 0u);
        BOOST_TEST(msg.find('\n') == std::string::npos);  // control bytes are escaped
    }
  }
}

BOOST_AUTO_TEST_CASE(familiar_form_drops_docker_io_and_library) {
    BOOST_TEST(image_ref::parse("docker.io/library/ubuntu:22.04").familiar() == "ubuntu:22.04");
    BOOST_TEST(image_ref::parse("docker.io/foo/bar").familiar() == "foo/bar");
    BOOST_TEST(image_ref::parse("docker.io/library/a/b").familiar() == "library/a/b");
    BOOST_TEST(image_ref::parse("ghcr.io/x/y:1").familiar() == "ghcr.io/x/y:1");
    // Found by fuzzing: a reference short enough as written but too long once
    // normalized would not parse again; it is refused up front.
    const std::string long_digest = "app@" + std::string(400, 'x') + ":" + std::string(100, 'a');
    BOOST_TEST(long_digest.size() <= image_ref::max_reference_length);
    BOOST_CHECK_EXCEPTION(image_ref::parse(long_digest), rtb::error, [](const rtb::error& e) {
        return std::string_view(e.what()).find("long in full") != std::string_view::npos;
    });
    // Found by fuzzing: dropping docker.io/ here would name registry er.io.
    BOOST_TEST(image_ref::parse("docker.io/er.io/a2:c5cc").familiar() == "docker.io/er.io/a2:c5cc");
    BOOST_TEST(image_ref::parse("docker.io/localhost/a").familiar() == "docker.io/localhost/a");
    BOOST_TEST(image_ref::parse("docker.io/er-io/a2").familiar() == "er-io/a2");
}

BOOST_AUTO_TEST_CASE(tag_or_latest) {
    BOOST_TEST(image_ref::parse("ubuntu").tag_or_latest() == "latest");
    BOOST_TEST(image_ref::parse("ubuntu:1").tag_or_latest() == "1");
    BOOST_TEST(image_ref::parse("ubuntu@" + sha).tag_or_latest().empty());
}

BOOST_AUTO_TEST_CASE(with_tag_replaces_tag_and_digest_and_validates) {
    const auto r = image_ref::parse("ubuntu:1@" + sha).with_tag("2");
    BOOST_TEST(r.str() == "docker.io/library/ubuntu:2");
    BOOST_CHECK_THROW(r.with_tag("bad tag"), rtb::error);
    BOOST_CHECK_THROW(r.with_tag(""), rtb::error);
}

BOOST_AUTO_TEST_CASE(tag_validity_rule) {
    BOOST_TEST(is_valid_tag("a"));
    BOOST_TEST(is_valid_tag("_"));
    BOOST_TEST(is_valid_tag(std::string(128, 'x')));
    BOOST_TEST(!is_valid_tag(std::string(129, 'x')));
    BOOST_TEST(!is_valid_tag(""));
    BOOST_TEST(!is_valid_tag("-a"));
    BOOST_TEST(!is_valid_tag(".a"));
    BOOST_TEST(!is_valid_tag("a@b"));
    BOOST_TEST(!is_valid_tag("a:b"));
}

BOOST_AUTO_TEST_CASE(oversized_input_is_refused_quickly) {
    const std::string huge(1 << 20, 'a');
    BOOST_CHECK_THROW(image_ref::parse(huge), rtb::error);
}
