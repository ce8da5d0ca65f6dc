// registry_client against real registries (Debian's docker-registry,
// distribution 2.8): the open loopback registry scripts/engines runs, and
// registries this test starts itself with htpasswd and with token auth (a
// token issuer in the test, trusted through a certificate it made). Images
// are pushed through the registry API or by dockerd; lookups never pull.
// A missing registry or engine fails the run; nothing is skipped.
#define BOOST_TEST_MODULE registry
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>
#include <unistd.h>

#include "rtb/transport/docker_engine.hpp"
#include "rtb/transport/registry.hpp"
#include "support/registry_process.hpp"
#include "support/temp_tree.hpp"
#include "support/checks.hpp"
#include "support/fd_leak_check.hpp"
#include "rtb/detail/subprocess.hpp"

using namespace rtb;
using namespace rtb::test;
using namespace std::chrono_literals;

namespace {

std::string need_env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v)
        throw std::runtime_error(fmt::format("{} is not set: run this test through `scripts/engines run -- "
                                             "test_registry` (or meson test), which starts the engines and sets it",
                                             name));
    return v;
}

const std::string run_id = std::to_string(::getpid());

/// Options for tests: no config file unless given, quick retries, and a
/// record of every retry (there must be none for auth failures).
struct recorder {
    temp_tree dir;
    int retries = 0;
    registry_client::options options() {
        registry_client::options o;
        o.docker_config = dir / "absent.json";
        exponential_backoff::options b;
        b.base = 1ms;
        b.cap = 10ms;
        b.seed = 1;
        o.retry = exponential_backoff(b);
        o.on_retry = [this](int, const error&, std::chrono::milliseconds) { ++retries; };
        return o;
    }
    std::filesystem::path config_with_auth(const std::string& registry, const std::string& user,
                                           const std::string& password) {
        return dir.file("config.json", fmt::format(R"({{"auths":{{"{}":{{"auth":"{}"}}}}}})", registry,
                                                   detail::base64_encode(user + ":" + password)));
    }
};

/// The open registry of scripts/engines, with a few images pushed once.
struct open_registry {
    std::string host = need_env("RTB_REGISTRY");
    pusher push{host};
    std::string repo = "rtb-reg-it/app-" + run_id;
    pusher::pushed_image single = push.image(repo, "1");
    pusher::pushed_image multi = push.index(repo, "multi");
    image_ref ref(std::string_view rest) const { return image_ref::parse(fmt::format("{}/{}", host, rest)); }
};
const open_registry& open() {
    static const open_registry instance;
    return instance;
}
// Pushed before the first test case: the pusher's connection stays open for
// the whole run, and is not any one case's leak (support/fd_leak_check.hpp).
struct push_to_the_open_registry_first {
    push_to_the_open_registry_first() { open(); }
};
BOOST_TEST_GLOBAL_FIXTURE(push_to_the_open_registry_first);

}  // namespace

// ----------------------------------------------------------- open registry

BOOST_AUTO_TEST_CASE(an_existing_tag_exists_with_its_digest_and_media_type) {
    recorder r;
    registry_client c(r.options());
    const auto m = c.resolve(open().ref(open().repo + ":1"));
    BOOST_REQUIRE(m.has_value());
    BOOST_TEST(m->digest == open().single.digest);
    BOOST_TEST(m->media_type == std::string(media_types::oci_manifest));
    BOOST_TEST(m->size == open().single.body.size());
    BOOST_TEST(!m->is_index());
}

BOOST_AUTO_TEST_CASE(a_missing_tag_and_a_missing_repository_do_not_exist) {
    recorder r;
    registry_client c(r.options());
    BOOST_TEST(!c.exists(open().ref(open().repo + ":no-such-tag")));
    BOOST_TEST(!c.exists(open().ref("rtb-reg-it/no-such-repo-" + run_id + ":1")));
    BOOST_TEST(r.retries == 0);
}

BOOST_AUTO_TEST_CASE(an_existing_digest_exists_and_an_unknown_digest_does_not) {
    recorder r;
    registry_client c(r.options());
    const auto m = c.resolve(open().ref(open().repo + "@" + open().single.digest));
    BOOST_REQUIRE(m.has_value());
    BOOST_TEST(m->digest == open().single.digest);
    BOOST_TEST(!c.exists(open().ref(open().repo + "@sha256:" + std::string(64, '0'))));
}

BOOST_AUTO_TEST_CASE(a_multi_arch_index_is_reported_as_an_index_with_its_own_digest) {
    recorder r;
    registry_client c(r.options());
    const auto m = c.resolve(open().ref(open().repo + ":multi"));
    BOOST_REQUIRE(m.has_value());
    BOOST_TEST(m->is_index());
    BOOST_TEST(m->media_type == std::string(media_types::oci_index));
    BOOST_TEST(m->digest == open().multi.digest);
    BOOST_TEST(m->digest == "sha256:" + hash_bytes(hash_algorithm::sha256, open().multi.body).hex());
    // the platform manifests inside it are there by digest too
    BOOST_TEST(c.exists(open().ref(open().repo + ":multi-arm64")));
}

BOOST_AUTO_TEST_CASE(a_registry_nobody_listens_on_is_connection_failed_after_retries) {
    recorder r;
    auto o = r.options();
    registry_client c(o);
    const auto port = free_port();
    const auto e = error_of([&] { c.resolve(image_ref::parse(fmt::format("127.0.0.1:{}/x:1", port))); });
    BOOST_TEST((e.value() == errc::connection_failed));
    BOOST_TEST(contains(e.what(), std::to_string(port)));
    BOOST_TEST(r.retries == 4);  // five attempts in all
}

// ------------------------------------------------------- htpasswd registry

namespace {
struct htpasswd_registry {
    temp_tree dir;
    std::filesystem::path file = dir.file("htpasswd", htpasswd_line("alice", "pa55-Word") + "\n");
    registry_process reg{fmt::format("auth:\n  htpasswd:\n    realm: rtb-test\n    path: {}", file.string())};
    pusher push{reg.host(), "Basic " + detail::base64_encode("alice:pa55-Word")};
    pusher::pushed_image img = push.image("team/app", "1");
    image_ref ref(std::string_view tag = "1") const {
        return image_ref::parse(fmt::format("{}/team/app:{}", reg.host(), tag));
    }
};
}  // namespace

BOOST_AUTO_TEST_CASE(htpasswd_right_credentials_from_the_docker_config_see_the_image) {
    htpasswd_registry h;
    recorder r;
    auto o = r.options();
    o.docker_config = r.config_with_auth(h.reg.host(), "alice", "pa55-Word");
    registry_client c(o);
    const auto m = c.resolve(h.ref());
    BOOST_REQUIRE(m.has_value());
    BOOST_TEST(m->digest == h.img.digest);
    BOOST_TEST(!c.exists(h.ref("2")));
    BOOST_TEST(c.stats().requests == 3);  // a 401 once, then credentials at once
}

BOOST_AUTO_TEST_CASE(htpasswd_without_credentials_is_unauthorized_and_says_so) {
    htpasswd_registry h;
    recorder r;
    registry_client c(r.options());
    const auto e = error_of([&] { c.resolve(h.ref()); });
    BOOST_TEST((e.value() == errc::unauthorized));
    BOOST_TEST(contains(e.what(), "docker login " + h.reg.host()));
    BOOST_TEST(r.retries == 0);
}

BOOST_AUTO_TEST_CASE(htpasswd_wrong_credentials_are_unauthorized_with_no_retry_and_no_leak) {
    htpasswd_registry h;
    recorder r;
    auto o = r.options();
    o.docker_config = r.config_with_auth(h.reg.host(), "alice", "Wrong-Secret-42");
    registry_client c(o);
    const auto e = error_of([&] { c.resolve(h.ref()); });
    BOOST_TEST((e.value() == errc::unauthorized));
    BOOST_TEST(e.http_status().value() == 401);
    BOOST_TEST(r.retries == 0);
    BOOST_TEST(c.stats().attempts == 1);
    BOOST_TEST(!contains(e.what(), "Wrong-Secret-42"));
    BOOST_TEST(!contains(e.what(), detail::base64_encode("alice:Wrong-Secret-42")));
    BOOST_TEST(contains(e.what(), (r.dir / "config.json").string()));  // where the credentials came from
}

BOOST_AUTO_TEST_CASE(htpasswd_credentials_from_a_credential_helper_work) {
    htpasswd_registry h;
    recorder r;
    const auto helper = r.dir.file("bin/docker-credential-rtbtest",
                                   "#!/bin/sh\nread url\nprintf '{\"Username\":\"alice\",\"Secret\":\"pa55-Word\"}'\n");
    std::filesystem::permissions(helper, std::filesystem::perms::owner_all);
    const std::string old_path = std::getenv("PATH");
    ::setenv("PATH", ((r.dir / "bin").string() + ":" + old_path).c_str(), 1);
    auto o = r.options();
    o.docker_config = r.dir.file("helper-config.json", R"({"credsStore":"rtbtest"})");
    registry_client c(o);
    const bool found = c.exists(h.ref());
    ::setenv("PATH", old_path.c_str(), 1);
    BOOST_TEST(found);
}

// ---------------------------------------------------------- token registry

namespace {
struct token_registry {
    token_issuer issuer{"bob", "t0ken-Pass"};
    registry_process reg{issuer.auth_yaml()};
    pusher push{reg.host(), "Bearer " + issuer.token_for("repository:team/app:pull,push")};
    pusher::pushed_image img = push.image("team/app", "1");
    pusher::pushed_image idx = push.index("team/app", "multi");
    image_ref ref(std::string_view tag = "1") const {
        return image_ref::parse(fmt::format("{}/team/app:{}", reg.host(), tag));
    }
};
}  // namespace

BOOST_AUTO_TEST_CASE(token_auth_gets_a_token_once_and_reuses_it) {
    token_registry t;
    recorder r;
    auto o = r.options();
    o.docker_config = r.config_with_auth(t.reg.host(), "bob", "t0ken-Pass");
    registry_client c(o);
    const int before = t.issuer.requests();
    const auto m = c.resolve(t.ref());
    BOOST_REQUIRE(m.has_value());
    BOOST_TEST(m->digest == t.img.digest);
    const auto idx = c.resolve(t.ref("multi"));
    BOOST_REQUIRE(idx.has_value());
    BOOST_TEST(idx->is_index());
    BOOST_TEST(!c.exists(t.ref("absent")));
    BOOST_TEST(c.exists(image_ref::parse(fmt::format("{}/team/app@{}", t.reg.host(), t.img.digest))));
    BOOST_TEST(t.issuer.requests() - before == 1);
    BOOST_TEST(c.stats().token_requests == 1);
    BOOST_TEST(r.retries == 0);
}

BOOST_AUTO_TEST_CASE(token_auth_anonymously_is_unauthorized) {
    token_registry t;
    recorder r;
    registry_client c(r.options());
    const auto e = error_of([&] { c.resolve(t.ref()); });
    BOOST_TEST((e.value() == errc::unauthorized));
    BOOST_TEST(contains(e.what(), "anonymous access"));
    BOOST_TEST(r.retries == 0);
}

BOOST_AUTO_TEST_CASE(token_auth_with_wrong_credentials_is_unauthorized_with_no_retry_and_no_leak) {
    token_registry t;
    recorder r;
    auto o = r.options();
    o.docker_config = r.config_with_auth(t.reg.host(), "bob", "Not-The-Pass-9");
    registry_client c(o);
    const auto e = error_of([&] { c.resolve(t.ref()); });
    BOOST_TEST((e.value() == errc::unauthorized));
    BOOST_TEST(r.retries == 0);
    BOOST_TEST(c.stats().token_requests == 1);
    BOOST_TEST(!contains(e.what(), "Not-The-Pass-9"));
}

// ---------------------------------------------- docker_engine's registry hook

BOOST_AUTO_TEST_CASE(the_engine_asks_the_registry_and_never_pulls) {
    docker_engine::options eo;
    eo.endpoint = http::parse_docker_host(need_env("RTB_DOCKER_HOST"));
    eo.docker_config = std::filesystem::path("/nonexistent/rtb-test/config.json");
    recorder r;
    eo.registry = make_registry_lookup(r.options());  // the default is a registry_client too; this one records retries
    docker_engine engine(eo);
    const auto pushed = image_ref::parse(fmt::format("{}/rtb-reg-it/engine-{}:1", open().host, run_id));
    engine.tag(image_ref::parse(need_env("RTB_TEST_BASE_IMAGE")), pushed);
    engine.push(pushed, {});
    BOOST_REQUIRE(engine.remove(pushed));
    BOOST_REQUIRE(!engine.exists_locally(pushed));

    BOOST_TEST(engine.image_exists(pushed, lookup::local_then_registry));
    BOOST_TEST(!engine.exists_locally(pushed));  // answered without pulling
    BOOST_TEST(!engine.image_exists(pushed.with_tag("missing"), lookup::local_then_registry));
    BOOST_TEST(!engine.image_exists(pushed, lookup::local));
    // and a local image is found without asking the registry at all
    BOOST_TEST(engine.image_exists(image_ref::parse(need_env("RTB_TEST_BASE_IMAGE")), lookup::local_then_registry));
}

BOOST_AUTO_TEST_CASE(no_file_descriptor_outlives_registry_lookups) {
    (void)open();  // the fixture's own pusher keeps its connection
    const auto before = open_fds();
    {
        recorder r;
        registry_client c(r.options());
        for (int i = 0; i < 5; ++i) {
            BOOST_TEST(c.exists(open().ref(open().repo + ":1")));
            BOOST_TEST(!c.exists(open().ref(open().repo + ":nope")));
        }
    }
    BOOST_TEST(open_fds() == before);
}

// ------------------------------------------------ a registry over TLS with a private CA

namespace {

/// openssl, checked.
void openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "openssl");
    const auto r = detail::run_program(args, {.input = {}, .timeout = 60s, .max_output = std::size_t{1} << 20});
    if (r.exit_code != 0) throw std::runtime_error("openssl " + args.at(1) + " failed: " + r.err);
}

/// A private CA in `dir` (ca.pem, ca-key.pem) and, signed by it, a server
/// certificate for 127.0.0.1 (server.pem, server-key.pem).
void make_ca_and_server(const std::filesystem::path& dir, const std::string& name) {
    std::filesystem::create_directories(dir);
    const auto p = [&](const char* f) { return (dir / f).string(); };
    openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("ca-key.pem"), "-out", p("ca.pem"), "-days",
             "1", "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign"});
    std::ofstream(dir / "server.ext") << "[v3]\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";
    openssl({"req", "-newkey", "rsa:2048", "-nodes", "-keyout", p("server-key.pem"), "-out", p("server.csr"), "-subj",
             "/CN=127.0.0.1"});
    openssl({"x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca-key.pem"), "-set_serial", "7",
             "-days", "1", "-extfile", p("server.ext"), "-extensions", "v3", "-out", p("server.pem")});
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_registry_with_a_private_ca_in_certs_d_is_spoken_to_over_tls) {
    temp_tree t;
    make_ca_and_server(t / "ca", "rtb registry CA");
    make_ca_and_server(t / "other", "another CA");
    registry_process reg(fmt::format("  tls:\n    certificate: {}\n    key: {}\n", (t / "ca/server.pem").string(),
                                     (t / "ca/server-key.pem").string()));
    http::tls_options tls;
    tls.enabled = true;
    tls.ca_file = t / "ca/ca.pem";
    const auto pushed = pusher(reg.host(), {}, tls).image("rtb-tls/app", "1");

    // Trusted the way docker trusts it: certs.d/<host:port>/ca.crt.
    std::filesystem::create_directories(t / "certs.d" / reg.host());
    std::filesystem::copy_file(t / "ca/ca.pem", t / "certs.d" / reg.host() / "ca.crt");
    registry_client::options o;
    o.docker_config = std::filesystem::path("/nonexistent/rtb-test/config.json");
    o.certs_dir = t / "certs.d";
    registry_client c(o);
    const auto m = c.resolve(image_ref::parse(reg.host() + "/rtb-tls/app:1"));
    BOOST_REQUIRE(m.has_value());
    BOOST_TEST(m->digest == pushed.digest);
    BOOST_TEST(!c.exists(image_ref::parse(reg.host() + "/rtb-tls/app:2")));

    // Another CA there: refused, naming the file; no plain HTTP instead.
    std::filesystem::copy_file(t / "other/ca.pem", t / "certs.d" / reg.host() / "ca.crt",
                               std::filesystem::copy_options::overwrite_existing);
    registry_client wrong(o);
    const auto e = error_of([&] { wrong.exists(image_ref::parse(reg.host() + "/rtb-tls/app:1")); });
    BOOST_TEST(e.value() == errc::invalid_argument, e.what());
    BOOST_TEST(contains(e.what(), "not signed by the CA in " + (t / "certs.d" / reg.host() / "ca.crt").string()),
               e.what());

    // Without a CA of its own, a loopback registry is plain HTTP, which a TLS
    // registry refuses: rtb does not guess TLS for it.
    std::filesystem::remove(t / "certs.d" / reg.host() / "ca.crt");
    registry_client plain(o);
    BOOST_TEST(error_of([&] { plain.exists(image_ref::parse(reg.host() + "/rtb-tls/app:1")); }).value() != errc::not_found);
}
