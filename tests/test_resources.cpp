// rtb::resources: the docker CLI's size and CPU spellings, the limit rules
// dockerd and Podman apply, and the POST /build query parameters.
#define BOOST_TEST_MODULE resources
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <string>

#include "rtb/resources.hpp"
#include "rtb/transport/docker_api.hpp"
#include "support/checks.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

constexpr std::int64_t KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024;

}  // namespace

BOOST_AUTO_TEST_SUITE(byte_sizes)

BOOST_AUTO_TEST_CASE(docker_spellings_are_binary_units_in_any_case) {
    const std::pair<const char*, std::int64_t> cases[] = {
        {"0", 0},
        {"4096", 4096},
        {"4096b", 4096},
        {"4096B", 4096},
        {"1k", KiB},
        {"1K", KiB},
        {"1kb", KiB},
        {"1KiB", KiB},
        {"1kib", KiB},
        {"512m", 512 * MiB},
        {"512M", 512 * MiB},
        {"512mb", 512 * MiB},
        {"512MiB", 512 * MiB},
        {"512 m", 512 * MiB},
        {"2g", 2 * GiB},
        {"1t", 1024 * GiB},
        {"1p", 1024 * 1024 * GiB},
        {"007m", 7 * MiB},
    };
    for (const auto& [text, want] : cases) BOOST_TEST_CONTEXT(text) { BOOST_TEST(parse_byte_size(text, "--memory") == want); }
}

BOOST_AUTO_TEST_CASE(fractions_are_exact_and_truncated) {
    BOOST_TEST(parse_byte_size("1.5g", "--memory") == 1610612736);  // what the docker CLI computes
    BOOST_TEST(parse_byte_size("0.5k", "--memory") == 512);
    BOOST_TEST(parse_byte_size("0.1k", "--memory") == 102);         // 102.4
    BOOST_TEST(parse_byte_size("1.999999999999999999g", "--memory") == 2 * GiB - 1);
    BOOST_TEST(parse_byte_size("1.5", "--memory") == 1);            // bytes have no fraction
}

BOOST_AUTO_TEST_CASE(the_largest_size_is_int64_max) {
    BOOST_TEST(parse_byte_size("9223372036854775807", "--memory") == std::numeric_limits<std::int64_t>::max());
    BOOST_TEST(parse_byte_size("8191p", "--memory") == std::int64_t{8191} * 1024 * 1024 * GiB);
}

BOOST_AUTO_TEST_CASE(malformed_sizes_name_the_option_and_the_value) {
    for (const char* bad : {"", "12q", "m", "-1", "-512m", "+5m", "1e3", "0x10", "1.", ".5m", "1..5m", "5 ", " 5",
                            "5  m", "5mm", "5ki", "5ib", "5i", "5mbb", "5m ", "NaN", "inf", "1,5g", "١٢m", "5\nm"}) {
        BOOST_TEST_CONTEXT(detail::shown(bad)) {
            const auto e = error_of([&] { parse_byte_size(bad, "--memory"); });
            BOOST_TEST(e.value() == errc::invalid_argument);
            BOOST_TEST(contains(e.what(), "--memory"));
            BOOST_TEST(contains(e.what(), "is not a size"));
        }
    }
}

BOOST_AUTO_TEST_CASE(an_embedded_nul_is_refused) {
    const std::string with_nul("5m\0", 3);
    BOOST_TEST(error_of([&] { parse_byte_size(with_nul, "--shm-size"); }).value() == errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(sizes_past_int64_are_too_large_not_wrapped) {
    for (const char* big : {"9223372036854775808", "99999999999999999999999", "8192p", "9007199254740992k"}) {
        BOOST_TEST_CONTEXT(big) {
            const auto e = error_of([&] { parse_byte_size(big, "--memory"); });
            BOOST_TEST(contains(e.what(), "too large"));
        }
    }
}

BOOST_AUTO_TEST_CASE(an_oversized_value_is_shown_cut) {
    const std::string huge(100'000, '9');
    const auto e = error_of([&] { parse_byte_size(huge + "q", "--memory"); });
    BOOST_TEST(std::string(e.what()).size() < 400u);
    BOOST_TEST(contains(e.what(), "(100001 bytes)"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cpus)

BOOST_AUTO_TEST_CASE(decimal_cpus_become_nano_cpus_exactly) {
    BOOST_TEST(parse_cpus("1") == 1'000'000'000);
    BOOST_TEST(parse_cpus("1.5") == 1'500'000'000);
    BOOST_TEST(parse_cpus("0.25") == 250'000'000);
    BOOST_TEST(parse_cpus(".5") == 500'000'000);
    BOOST_TEST(parse_cpus("0.000000001") == 1);
    BOOST_TEST(parse_cpus("1.500000000000") == 1'500'000'000);  // trailing zeros are not precision
    BOOST_TEST(parse_cpus("000003") == 3'000'000'000);
    BOOST_TEST(parse_cpus("999999999.999999999") == 999'999'999'999'999'999);
}

BOOST_AUTO_TEST_CASE(malformed_cpu_counts_are_refused) {
    for (const char* bad : {"", ".", "2.", "-1", "+1", "1e3", "1/2", "0x1", "1.5.0", "one", " 1", "1 ", "1,5", "inf"}) {
        BOOST_TEST_CONTEXT(bad) {
            const auto e = error_of([&] { parse_cpus(bad); });
            BOOST_TEST(e.value() == errc::invalid_argument);
            BOOST_TEST(contains(e.what(), "--cpus"));
        }
    }
}

BOOST_AUTO_TEST_CASE(zero_too_precise_and_too_large_say_so) {
    BOOST_TEST(contains(error_of([] { parse_cpus("0"); }).what(), "more than 0"));
    BOOST_TEST(contains(error_of([] { parse_cpus("0.000"); }).what(), "more than 0"));
    BOOST_TEST(contains(error_of([] { parse_cpus("0.0000000001"); }).what(), "too precise"));
    BOOST_TEST(contains(error_of([] { parse_cpus("1000000000"); }).what(), "too large"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(limits)

error invalid(const resources& r, limits_for use = limits_for::container) {
    return error_of([&] { validate(r, use, "container spec for x"); });
}

BOOST_AUTO_TEST_CASE(no_limits_and_sensible_limits_pass) {
    validate(resources{}, limits_for::container, "x");
    resources r;
    r.memory = 512 * MiB;
    r.memory_swap = GiB;
    r.nano_cpus = 1'500'000'000;
    r.pids_limit = 256;
    r.shm_size = 64 * MiB;
    validate(r, limits_for::container, "x");
    r.memory_swap = -1;
    validate(r, limits_for::container, "x");
    r.memory_swap = r.memory;  // no swap at all
    validate(r, limits_for::container, "x");
    r.pids_limit = -1;
    validate(r, limits_for::container, "x");
    resources q;
    q.cpu_quota = 50'000;
    q.cpu_period = 100'000;
    validate(q, limits_for::build, "x");
}

BOOST_AUTO_TEST_CASE(memory_below_six_mib_is_refused) {
    resources r;
    r.memory = 6 * MiB - 1;
    BOOST_TEST(contains(invalid(r).what(), "below the engines' minimum of 6 MiB"));
    r.memory = 0;
    BOOST_TEST(invalid(r).value() == errc::invalid_argument);
    r.memory = -5;
    BOOST_TEST(invalid(r).value() == errc::invalid_argument);
    r.memory = 6 * MiB;
    validate(r, limits_for::container, "x");
}

BOOST_AUTO_TEST_CASE(memory_swap_needs_memory_and_covers_it) {
    resources r;
    r.memory_swap = GiB;
    BOOST_TEST(contains(invalid(r).what(), "needs a memory limit"));
    r.memory = 2 * GiB;
    BOOST_TEST(contains(invalid(r).what(), "less than memory"));
    r.memory_swap = -2;
    BOOST_TEST(contains(invalid(r).what(), "less than memory"));
}

BOOST_AUTO_TEST_CASE(nano_cpus_and_quota_conflict_and_have_minimums) {
    resources r;
    r.nano_cpus = 9'999'999;
    BOOST_TEST(contains(invalid(r).what(), "below 0.01 CPU"));
    r.nano_cpus = 1'000'000'000;
    r.cpu_quota = 50'000;
    BOOST_TEST(contains(invalid(r).what(), "cannot both be set"));
    r.cpu_quota.reset();
    r.cpu_period = 100'000;
    BOOST_TEST(contains(invalid(r).what(), "cannot both be set"));
}

BOOST_AUTO_TEST_CASE(cpu_period_and_quota_ranges) {
    for (std::int64_t p : {std::int64_t{999}, std::int64_t{1'000'001}, std::int64_t{0}, std::int64_t{-1}}) {
        resources r;
        r.cpu_period = p;
        BOOST_TEST(contains(invalid(r).what(), "outside 1000..1000000"));
    }
    resources r;
    r.cpu_quota = 999;
    BOOST_TEST(contains(invalid(r).what(), "below 1000 us"));
}

BOOST_AUTO_TEST_CASE(pids_limit_is_positive_or_minus_one_and_containers_only) {
    for (std::int64_t p : {std::int64_t{0}, std::int64_t{-2}, std::numeric_limits<std::int64_t>::min()}) {
        resources r;
        r.pids_limit = p;
        BOOST_TEST(contains(invalid(r).what(), "at least 1"));
    }
    resources r;
    r.pids_limit = 100;
    BOOST_TEST(contains(invalid(r, limits_for::build).what(), "containers only"));
}

BOOST_AUTO_TEST_CASE(shm_size_must_be_positive) {
    resources r;
    r.shm_size = 0;
    BOOST_TEST(contains(invalid(r).what(), "shm_size"));
}

BOOST_AUTO_TEST_CASE(the_message_starts_with_where) {
    resources r;
    r.shm_size = -1;
    BOOST_TEST(std::string(invalid(r).what()).starts_with("container spec for x: shm_size -1"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(build_query)

using docker_api::api_version;

BOOST_AUTO_TEST_CASE(every_build_limit_becomes_its_query_parameter) {
    resources r;
    r.memory = 512 * MiB;
    r.memory_swap = GiB;
    r.cpu_quota = 50'000;
    r.cpu_period = 100'000;
    r.shm_size = 64 * MiB;
    const auto p = docker_api::build_resource_params(r, "build of x");
    const std::vector<std::pair<std::string, std::string>> want = {
        {"memory", "536870912"}, {"memswap", "1073741824"}, {"cpuperiod", "100000"},
        {"cpuquota", "50000"},   {"shmsize", "67108864"}};
    BOOST_TEST(p == want);
}

BOOST_AUTO_TEST_CASE(nano_cpus_become_a_quota_over_the_default_period) {
    resources r;
    r.nano_cpus = 1'500'000'000;
    const auto p = docker_api::build_resource_params(r, "build of x");
    const std::vector<std::pair<std::string, std::string>> want = {{"cpuperiod", "100000"}, {"cpuquota", "150000"}};
    BOOST_TEST(p == want);
    r.nano_cpus = min_nano_cpus;
    BOOST_TEST(docker_api::build_resource_params(r, "x")[1].second == "1000");  // 0.01 CPU: the 1 ms minimum
}

BOOST_AUTO_TEST_CASE(unlimited_swap_is_minus_one) {
    resources r;
    r.memory = 64 * MiB;
    r.memory_swap = -1;
    BOOST_TEST(docker_api::build_resource_params(r, "x")[1].second == "-1");
}

BOOST_AUTO_TEST_CASE(build_target_carries_the_limits_after_the_other_parameters) {
    build_request req;
    req.tags = {"local/app:1"};
    resources r;
    r.memory = 64 * MiB;
    r.shm_size = 32 * MiB;
    req.resources = r;
    const auto t = docker_api::build_target(api_version{1, 41}, req);
    BOOST_TEST(t == "/v1.41/build?t=local%2Fapp%3A1&dockerfile=Dockerfile&networkmode=none&memory=67108864"
                    "&shmsize=33554432&rm=1&forcerm=1");
}

BOOST_AUTO_TEST_CASE(no_resources_no_parameters) {
    build_request req;
    const auto t = docker_api::build_target(api_version{1, 41}, req);
    BOOST_TEST(!contains(t, "memory"));
    req.resources = resources{};
    BOOST_TEST(docker_api::build_target(api_version{1, 41}, req) == t);
}

BOOST_AUTO_TEST_CASE(a_bad_build_limit_is_refused_naming_the_build) {
    build_request req;
    req.tags = {"local/app:1"};
    resources r;
    r.pids_limit = 10;
    req.resources = r;
    const auto e = error_of([&] { docker_api::build_target(api_version{1, 41}, req); });
    BOOST_TEST(e.value() == errc::invalid_argument);
    BOOST_TEST(contains(e.what(), "build of local/app:1"));
    BOOST_TEST(contains(e.what(), "containers only"));
    r.pids_limit.reset();
    r.memory = 1;
    req.resources = r;
    BOOST_TEST(contains(error_of([&] { docker_api::build_target(api_version{1, 41}, req); }).what(), "6 MiB"));
}

BOOST_AUTO_TEST_SUITE_END()
