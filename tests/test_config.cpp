// Configuration: precedence (default < file < environment < flags) key by
// key, validation errors naming where, the key and what is allowed, TOML that
// is malformed, hostile or oversized, secrets kept out of the file and masked
// when shown, sizes and durations, and hook commands run with JSON on stdin.
#define BOOST_TEST_MODULE config
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "rtb/config/environment.hpp"
#include "rtb/config/resolve.hpp"
#include "rtb/config/show.hpp"
#include "rtb/config/toml_file.hpp"
#include "rtb/hooks/command_hooks.hpp"
#include "rtb/storage.hpp"
#include "support/checks.hpp"
#include "support/temp_tree.hpp"

using namespace rtb;
using namespace rtb::config;
using namespace rtb::test;

namespace {

layer env_layer(std::map<std::string, std::string> vars) {
    return read_environment([vars = std::move(vars)](const char* n) -> const char* {
        const auto it = vars.find(n);
        return it == vars.end() ? nullptr : it->second.c_str();
    });
}

layer flag(std::string key, raw_value v, std::string name) {
    return {{std::move(key), {std::move(v), {origin::kind::flag, std::move(name)}}}};
}

std::string problems(const resolved& r) {
    std::string all;
    for (const auto& p : r.problems) all += p + "\n";
    return all;
}

}  // namespace

BOOST_AUTO_TEST_CASE(defaults_are_openhands_and_documented) {
    const auto r = resolve({});
    BOOST_TEST(r.problems.empty());
    BOOST_TEST(r.values.runtime_repository == "ghcr.io/openhands/runtime");
    BOOST_TEST(r.values.transport == "docker");
    BOOST_TEST(r.values.timeout.count() == 30 * 60 * 1000);
    BOOST_TEST(r.values.workers == 2);
    BOOST_TEST(r.source_of("timeout").describe() == "default");
    for (const auto& k : keys()) {
        BOOST_TEST(!k.allowed.empty(), k.name);
        BOOST_TEST(!k.show(r.values).empty(), k.name);
    }
}

// Every key with a variable and a flag, set in all layers: the flag wins;
// without the flag, the variable; without both, the file.
BOOST_AUTO_TEST_CASE(precedence_file_then_environment_then_flags_for_every_key) {
    struct row {
        std::string key, file_toml, env_value, flag_value, expect_file, expect_env, expect_flag;
    };
    const std::vector<row> table = {
        {"base_image", "\"a/file:1\"", "a/env:1", "a/flag:1", "'a/file:1'", "'a/env:1'", "'a/flag:1'"},
        {"runtime_repository", "\"r/file\"", "r/env", "r/flag", "'r/file'", "'r/env'", "'r/flag'"},
        {"platform", "\"linux/amd64\"", "linux/arm64", "linux/arm/v7", "'linux/amd64'", "'linux/arm64'", "'linux/arm/v7'"},
        {"transport", "\"podman\"", "cli", "remote", "podman", "cli", "remote"},
        {"timeout", "\"45m\"", "2h", "90s", "45m", "2h", "90s"},
        {"workers", "3", "4", "5", "3", "4", "5"},
        {"force_rebuild", "true", "false", "true", "true", "false", "true"},
        {"host", "\"unix:///f.sock\"", "tcp://127.0.0.1:2375", "unix:///flag.sock", "'unix:///f.sock'",
         "'tcp://127.0.0.1:2375'", "'unix:///flag.sock'"},
        {"storage.engine_min_free", "\"5GiB\"", "512M", "1", "5.0 GiB", "512 MiB", "1 B"},
    };
    for (const auto& t : table) {
        const key* k = find_key(t.key);
        BOOST_REQUIRE(k);
        std::string toml;
        if (const auto dot = t.key.find('.'); dot != std::string::npos)
            toml = fmt::format("[{}]\n{} = {}\n", t.key.substr(0, dot), t.key.substr(dot + 1), t.file_toml);
        else toml = fmt::format("{} = {}\n", t.key, t.file_toml);
        const auto file = parse_toml(toml, "rtb.toml");
        const auto env = env_layer({{std::string(k->env), t.env_value}});
        const auto flags = flag(t.key, t.flag_value, "--x");

        auto r = resolve({file});
        BOOST_TEST(problems(r) == "", t.key);
        BOOST_TEST(k->show(r.values) == t.expect_file, t.key);
        BOOST_TEST(r.source_of(t.key).describe().starts_with("file rtb.toml:"), t.key);
        r = resolve({file, env});
        BOOST_TEST(k->show(r.values) == t.expect_env, t.key);
        BOOST_TEST(r.source_of(t.key).describe() == "env " + std::string(k->env), t.key);
        r = resolve({file, env, flags});
        BOOST_TEST(k->show(r.values) == t.expect_flag, t.key);
        BOOST_TEST(r.source_of(t.key).describe() == "flag --x", t.key);
        r = resolve({file, flags});
        BOOST_TEST(k->show(r.values) == t.expect_flag, t.key);
    }
}

BOOST_AUTO_TEST_CASE(build_args_merge_across_sources_and_later_values_win) {
    const auto file = parse_toml("[build_args]\nA = \"file\"\nB = \"file\"\n", "rtb.toml");
    const auto r = resolve({file, flag("build_args", std::map<std::string, std::string>{{"B", "flag"}, {"C", "flag"}}, "--build-arg")});
    BOOST_TEST(problems(r) == "");
    BOOST_TEST((r.values.build_args == std::map<std::string, std::string>{{"A", "file"}, {"B", "flag"}, {"C", "flag"}}));
}

// Each bad value: the error names where it was written, the key, what it was
// and what the key takes.
BOOST_AUTO_TEST_CASE(validation_names_the_file_line_key_and_what_is_allowed) {
    struct row {
        std::string toml, needle1, needle2;
    };
    const std::vector<row> table = {
        {"timeout = \"soon\"", "rtb.toml:1:11: timeout is 'soon'", "a duration such as 90s"},
        {"timeout = 90", "timeout is a bare number", "write the unit"},
        {"workers = 0", "workers is 0", "from 1 to 64"},
        {"workers = \"many\"", "workers is 'many'", "from 1 to 64"},
        {"transport = \"kubernetes\"", "transport is 'kubernetes'", "docker, podman, cli or remote"},
        {"platform = \"linux amd64\"", "rtb.toml:1:12: platform", "os/arch"},
        {"base_image = \"Not A/Name::\"", "base_image", "an image reference"},
        {"base_image = 12", "base_image is an integer, not a string", "an image reference"},
        {"force_rebuild = \"perhaps\"", "force_rebuild is 'perhaps'", "true or false"},
        {"host = \"ftp://x\"", "host is 'ftp://x'", "unix:///path"},
        {"remote_url = \"unix:///x\"", "remote_url is", "http://host:port"},
        {"poll_interval = \"0s\"", "poll_interval is zero", "positive"},
        {"[storage]\nengine_min_free = \"lots\"", "rtb.toml:2:19: storage.engine_min_free is 'lots'", "2GiB"},
        {"[storage]\nengine_min_free = -5", "storage.engine_min_free is -5", "a size"},
        {"[storage]\non_low = \"panic\"", "storage.on_low is 'panic'", "fail or prune"},
        {"[hooks]\npre_build = \"/bin/check --all\"", "hooks.pre_build is a string, not a list", "a command as a list"},
        {"[hooks]\npre_build = []", "hooks.pre_build names no program", "a command as a list"},
        {"[build_args]\n\"A B\" = \"x\"", "build_args has the name 'A B'", "NAME = \"value\""},
        {"extra_deps = \"a\\u0000b\"", "extra_deps contains a control character", "text"},
        {"timout = \"5m\"", "rtb.toml:1:10: unknown key 'timout' (did you mean timeout?)", ""},
        {"[storage]\nengine_min = \"1G\"", "unknown key 'storage.engine_min' (did you mean storage.engine_min_free?)", ""},
        {"zzzzzzzz = 1", "unknown key 'zzzzzzzz'", ""},
        {"api_key = \"abc123\"", "api_key does not belong in a configuration file", "api_key_file"},
        {"api_key_file = \"/nonexistent/key\"", "api_key_file names '/nonexistent/key', which cannot be read", ""},
    };
    for (const auto& t : table) {
        const auto r = resolve({parse_toml(t.toml, "rtb.toml")});
        BOOST_TEST(r.problems.size() == 1u, t.toml << " -> " << problems(r));
        BOOST_TEST(contains(problems(r), t.needle1), t.toml << " -> " << problems(r));
        BOOST_TEST(contains(problems(r), t.needle2), t.toml << " -> " << problems(r));
        BOOST_TEST(error_of([&] { r.check(); }).value() == errc::invalid_argument);
    }
    // Every problem at once, so a file is fixed in one go.
    const auto r = resolve({parse_toml("timeout = \"x\"\nworkers = 99\nnope = 1\n", "rtb.toml")});
    BOOST_TEST(r.problems.size() == 3u);
    BOOST_TEST(contains(error_of([&] { r.check(); }).what(), "configuration has 3 problems"));
    // Variables and flags are named the same way.
    BOOST_TEST(contains(problems(resolve({env_layer({{"RTB_TIMEOUT", "later"}})})), "env RTB_TIMEOUT: timeout is 'later'"));
    BOOST_TEST(contains(problems(resolve({flag("workers", std::string("x"), "--jobs")})), "flag --jobs: workers is 'x'"));
}

BOOST_AUTO_TEST_CASE(malformed_hostile_and_oversized_files_are_refused_with_a_position) {
    for (const auto& row : std::vector<std::pair<std::string, std::string>>{
             {"a = [", "rtb.toml:1:"},
             {"timeout = \"45m\"\ntimeout = \"1h\"", "rtb.toml:2:"},      // a key twice
             {"x = \"\xff\xfe\"", "rtb.toml:1:"},                           // not UTF-8
             {"= 1", "rtb.toml:1:1"},
             {std::string(300, '[') , "rtb.toml:1:"},                        // nesting bomb
             {"t = 1.5", "no key takes one"},
             {"d = 1979-05-27", "no key takes one"},
             {"[hooks]\npre_build = [1, 2]", "rtb.toml:2:13: hooks.pre_build is a list with an item that is not a string"},
             {"[build_args]\nA = 1", "rtb.toml:2:5: build_args.A is not a string"},
         }) {
        const auto& [text, needle] = row;
        const auto e = error_of([&] { parse_toml(row.first, "rtb.toml"); });
        BOOST_TEST(e.value() == errc::invalid_argument, text);
        BOOST_TEST(contains(e.what(), needle), text << " -> " << e.what());
    }
    const std::string huge(max_config_file + 1, '#');
    BOOST_TEST(contains(error_of([&] { parse_toml(huge, "big.toml"); }).what(), "at most 1048576 bytes"));
    temp_tree t;
    BOOST_TEST(error_of([&] { read_toml_file(t / "missing.toml"); }).value() == errc::io_error);
    BOOST_TEST(error_of([&] { read_toml_file(t.root()); }).value() == errc::io_error);  // a folder
    // A huge file is refused without reading it all.
    {
        std::ofstream(t / "big.toml") << std::string(3 << 20, '#');
    }
    BOOST_TEST(contains(error_of([&] { read_toml_file(t / "big.toml"); }).what(), "at most"));
    // Long values are refused by the key, not truncated.
    const auto r = resolve({parse_toml("extra_deps = \"" + std::string(5000, 'x') + "\"", "rtb.toml")});
    BOOST_TEST(contains(problems(r), "extra_deps is 5000 bytes long"));
}

BOOST_AUTO_TEST_CASE(the_api_key_comes_from_a_file_or_the_environment_and_is_masked) {
    temp_tree t;
    {
        std::ofstream(t / "key") << "s3cr3t-from-file\n";
        std::ofstream(t / "two-lines") << "a\nb\n";
        std::ofstream(t / "empty") << "\n";
    }
    auto r = resolve({parse_toml(fmt::format("api_key_file = \"{}\"", (t / "key").string()), "rtb.toml")});
    BOOST_TEST(problems(r) == "");
    BOOST_TEST(r.values.api_key == "s3cr3t-from-file");
    BOOST_TEST(r.source_of("api_key").describe().starts_with("file rtb.toml:1:"));
    const auto text = show_text(r), json = show_json(r);
    BOOST_TEST(!contains(text, "s3cr3t"));
    BOOST_TEST(!contains(json, "s3cr3t"));
    BOOST_TEST(contains(text, "********"));
    // The environment's key wins over the file's.
    r = resolve({parse_toml(fmt::format("api_key_file = \"{}\"", (t / "key").string()), "rtb.toml"),
                 env_layer({{"RTB_API_KEY", "from-env-key"}})});
    BOOST_TEST(r.values.api_key == "from-env-key");
    BOOST_TEST(!contains(show_text(r), "from-env-key"));
    for (const auto* bad : {"two-lines", "empty"}) {
        r = resolve({env_layer({{"RTB_API_KEY_FILE", (t / bad).string()}})});
        BOOST_TEST(contains(problems(r), "does not hold one key on one line"), bad);
    }
}

BOOST_AUTO_TEST_CASE(show_lists_every_key_with_its_source) {
    const auto r = resolve({parse_toml("timeout = \"45m\"\n", "/etc/rtb.toml"), env_layer({{"RTB_WORKERS", "4"}}),
                            flag("platform", std::string("linux/amd64"), "--platform")});
    const auto text = show_text(r);
    BOOST_TEST(contains(text, "timeout                   = 45m"));
    BOOST_TEST(contains(text, "# file /etc/rtb.toml:1:11"));
    BOOST_TEST(contains(text, "# env RTB_WORKERS"));
    BOOST_TEST(contains(text, "# flag --platform"));
    std::size_t lines = 0;
    for (char c : text) lines += c == '\n';
    BOOST_TEST(lines == keys().size());
    const auto json = show_json(r);
    BOOST_TEST(contains(json, "\"timeout\":{\"value\":\"45m\",\"source\":\"file\",\"where\":\"/etc/rtb.toml:1:11\"}"));
    BOOST_TEST(contains(json, "\"workers\":{\"value\":\"4\",\"source\":\"env\",\"where\":\"RTB_WORKERS\"}"));
}

BOOST_AUTO_TEST_CASE(an_empty_variable_counts_as_unset) {
    const auto r = resolve({parse_toml("timeout = \"45m\"", "rtb.toml"), env_layer({{"RTB_TIMEOUT", ""}})});
    BOOST_TEST(format_duration(r.values.timeout) == "45m");
}

BOOST_AUTO_TEST_CASE(sizes_and_durations) {
    BOOST_TEST(parse_byte_size("0").value() == 0u);
    BOOST_TEST(parse_byte_size("512").value() == 512u);
    BOOST_TEST(parse_byte_size("2K").value() == 2048u);
    BOOST_TEST(parse_byte_size("5GiB").value() == (std::uint64_t{5} << 30));
    BOOST_TEST(parse_byte_size("5 GB").value() == (std::uint64_t{5} << 30));
    BOOST_TEST(parse_byte_size("1T").value() == (std::uint64_t{1} << 40));
    BOOST_TEST(parse_byte_size("1EiB").value() == (std::uint64_t{1} << 60));
    for (const auto* bad : {"", "G", "1.5G", "-1", "1X", "99999999999999999999", "16E", "1GiBs"})
        BOOST_TEST(!parse_byte_size(bad).has_value(), bad);
    BOOST_TEST(format_bytes(0) == "0 B");
    BOOST_TEST(format_bytes(1536) == "1.5 KiB");
    BOOST_TEST(format_bytes(std::uint64_t{100} << 20) == "100 MiB");
    BOOST_TEST(format_bytes(std::uint64_t{1} << 60) == "1.0 EiB");
    BOOST_TEST(parse_duration("90s").value().count() == 90'000);
    BOOST_TEST(parse_duration("1.5m").value().count() == 90'000);
    for (const auto* bad : {"", "s", "5", "5w", "1e3s", "8d"}) BOOST_TEST(!parse_duration(bad).has_value(), bad);
    BOOST_TEST(format_duration(std::chrono::minutes(90)) == "90m");
    BOOST_TEST(format_duration(std::chrono::hours(48)) == "2d");
    BOOST_TEST(format_duration(std::chrono::milliseconds(1500)) == "1500ms");
}

BOOST_AUTO_TEST_CASE(disk_space_is_read_from_the_nearest_existing_folder) {
    temp_tree t;
    const auto here = disk_space_at(t.root());
    BOOST_TEST(here.total > 0u);
    BOOST_TEST(disk_space_at(t / "not" / "made" / "yet").total == here.total);
    const auto findings = check_storage({{"the cache directory", t.root(), std::uint64_t{1} << 60},
                                         {"unchecked", t.root(), 0}});
    BOOST_REQUIRE(findings.size() == 1u);
    BOOST_TEST(findings[0].low());
    BOOST_TEST(contains(low_storage_error(findings).what(), "the cache directory"));
    BOOST_TEST(contains(low_storage_error(findings).what(), "below the 1.0 EiB wanted"));
    BOOST_TEST(!any_low(check_storage({{"x", t.root(), 1}})));
}

// Hook programs: an argument vector with the build's JSON on stdin; exit
// status decides a pre-build hook; stdout may add labels.
namespace {
runtime_image sample_image() {
    runtime_image img;
    img.image = "local/rt:oh_v1_abc";
    img.plan = plan_kind::lock;
    img.from_image = "local/rt:oh_v1_lock";
    img.tags = {"local/rt", "oh_v1_abc", "oh_v1_lock", "oh_v1_versioned"};
    return img;
}
}  // namespace

BOOST_AUTO_TEST_CASE(hook_commands_get_json_on_stdin_and_their_exit_status_decides) {
    temp_tree t;
    const auto seen = (t / "seen.json").string();
    runtime_spec spec;
    spec.base_image = "local/base:1";
    auto img = sample_image();
    std::map<std::string, std::string> labels;

    // Exit 0 with labels on stdout: proceed, labels added; the JSON arrived.
    auto hooks = command_hooks({.pre_build = {"/bin/sh", "-c", "cat > \"$1\"; echo '{\"labels\": {\"team\": \"x\"}}'", "sh", seen},
                                .post_build = {}, .on_error = {}, .timeout = std::chrono::seconds(10), .warn = {}});
    pre_build_event e{spec, img, labels};
    BOOST_TEST(hooks.pre_build(e).go);
    BOOST_TEST(labels.at("team") == "x");
    std::ifstream in(seen);
    const std::string json((std::istreambuf_iterator<char>(in)), {});
    BOOST_TEST(contains(json, "\"hook\":\"pre_build\""), json);
    BOOST_TEST(contains(json, "\"plan\":\"lock\""), json);
    BOOST_TEST(contains(json, "\"base_image\":\"local/base:1\""), json);

    // A non-zero exit vetoes, with its last stderr line as the reason.
    hooks = command_hooks({.pre_build = {"/bin/sh", "-c", "echo noise >&2; echo 'over quota' >&2; exit 3"},
                           .post_build = {}, .on_error = {}, .timeout = std::chrono::seconds(10), .warn = {}});
    auto v = hooks.pre_build(e);
    BOOST_TEST(!v.go);
    BOOST_TEST(contains(v.reason, "exited with status 3: 'over quota'"), v.reason);
    // A program that does not exist, and one that runs past the timeout, veto too.
    hooks = command_hooks({.pre_build = {"/nonexistent/hook"}, .post_build = {}, .on_error = {},
                           .timeout = std::chrono::seconds(10), .warn = {}});
    BOOST_TEST(!hooks.pre_build(e).go);
    hooks = command_hooks({.pre_build = {"/bin/sleep", "30"}, .post_build = {}, .on_error = {},
                           .timeout = std::chrono::milliseconds(200), .warn = {}});
    BOOST_TEST(!hooks.pre_build(e).go);
    // Stdout that is not the labels object is an error naming the hook.
    for (const auto* out : {"not json", "[1]", "{\"labels\": {\"a\": 1}}", "{\"tags\": []}"}) {
        hooks = command_hooks({.pre_build = {"/bin/echo", out}, .post_build = {}, .on_error = {},
                               .timeout = std::chrono::seconds(10), .warn = {}});
        const auto x = error_of([&] { hooks.pre_build(e); });
        BOOST_TEST(x.value() == errc::vetoed, out);
        BOOST_TEST(contains(x.what(), "/bin/echo"), x.what());
    }

    // post_build and on_error: failures are warnings, never the build's outcome.
    std::vector<std::string> warnings;
    hooks = command_hooks({.pre_build = {}, .post_build = {"/bin/sh", "-c", "cat > \"$1\"; exit 4", "sh", seen},
                           .on_error = {"/bin/sh", "-c", "cat > \"$1\"", "sh", seen},
                           .timeout = std::chrono::seconds(10),
                           .warn = [&](std::string_view w) { warnings.emplace_back(w); }});
    img.image_id = "sha256:abc";
    img.bytes_sent = 4096;
    hooks.post_build(post_build_event{spec, img});
    BOOST_TEST(warnings.size() == 1u);
    BOOST_TEST(contains(warnings.at(0), "exited with status 4"));
    std::ifstream in2(seen);
    const std::string post((std::istreambuf_iterator<char>(in2)), {});
    BOOST_TEST(contains(post, "\"image_id\":\"sha256:abc\""), post);
    BOOST_TEST(contains(post, "\"bytes_sent\":4096"), post);
    BOOST_TEST(contains(post, "\"cache_hit\":false"), post);
    BOOST_TEST(contains(post, "\"phases\":{\"hash\":"), post);

    error failure(errc::build_failed, "building x failed");
    failure.with_build_failure({2, "Step 3/4 : RUN make", {"make: *** no rule"}});
    const std::vector<std::string> tail = {"line one", "make: *** no rule"};
    hooks.on_error(build_error_event{spec, img, failure, tail});
    std::ifstream in3(seen);
    const std::string err((std::istreambuf_iterator<char>(in3)), {});
    BOOST_TEST(contains(err, "\"code\":\"build_failed\""), err);
    BOOST_TEST(contains(err, "\"exit_code\":2"), err);
    BOOST_TEST(contains(err, "\"log_tail\":[\"line one\",\"make: *** no rule\"]"), err);
    BOOST_TEST(warnings.size() == 1u);
}
