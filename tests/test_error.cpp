#define BOOST_TEST_MODULE error
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include "rtb/error.hpp"

using namespace rtb;

BOOST_AUTO_TEST_CASE(what_is_the_message_exactly) {
    const error e(errc::invalid_argument, "bad tag \"x y\"");
    BOOST_TEST(std::string(e.what()) == "bad tag \"x y\"");
    BOOST_TEST(e.code() == make_error_code(errc::invalid_argument));
    BOOST_TEST(e.code().category().name() == std::string("rtb"));
}

BOOST_AUTO_TEST_CASE(retryable_errors_are_transport_failures_only) {
    BOOST_TEST(error(errc::connection_failed, "x").retryable());
    BOOST_TEST(error(errc::timeout, "x").retryable());
    BOOST_TEST(error(errc::rate_limited, "x").retryable());
    for (auto c : {errc::invalid_argument, errc::not_found, errc::unauthorized, errc::cancelled, errc::build_failed,
                   errc::unsupported_version, errc::io_error, errc::parse_error, errc::vetoed, errc::push_failed,
                   errc::source_changed})
        BOOST_TEST(!error(c, "x").retryable(), "errc " << to_string(c) << " must not be retryable");
}

BOOST_AUTO_TEST_CASE(server_errors_retry_only_for_gateway_statuses) {
    BOOST_TEST(!error(errc::server_error, "x").retryable());
    BOOST_TEST(!error(errc::server_error, "x").with_http_status(500).retryable());
    BOOST_TEST(!error(errc::server_error, "x").with_http_status(501).retryable());
    for (int s : {502, 503, 504}) BOOST_TEST(error(errc::server_error, "x").with_http_status(s).retryable());
}

BOOST_AUTO_TEST_CASE(details_survive_copies_and_copies_are_independent) {
    error a(errc::build_failed, "build failed");
    a.with_build_failure({3, "Step 2/3 : RUN false", {"line 1", "line 2"}});
    error b = a;
    b.with_http_status(500);
    BOOST_TEST(b.build()->exit_code.value() == 3);
    BOOST_TEST(b.build()->log_tail.size() == 2u);
    BOOST_TEST(!a.http_status().has_value());
    BOOST_TEST(b.http_status().value() == 500);
}

BOOST_AUTO_TEST_CASE(codes_have_stable_names) {
    BOOST_TEST(to_string(errc::build_failed) == "build_failed");
    BOOST_TEST(to_string(errc::parse_error) == "parse_error");
    BOOST_TEST(to_string(errc::vetoed) == "vetoed");
    BOOST_TEST(to_string(errc::push_failed) == "push_failed");
    BOOST_TEST(to_string(errc::source_changed) == "source_changed");
    BOOST_TEST(errc::source_changed != errc::build_failed);
    BOOST_TEST(make_error_code(errc::timeout).message() == "timeout");
}
