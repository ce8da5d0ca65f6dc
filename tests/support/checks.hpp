// Small helpers for tests that check errors: catch an rtb::error and look at it.
#pragma once

#include <string>
#include <string_view>

#include <boost/test/unit_test.hpp>

#include "rtb/error.hpp"

namespace rtb::test {

/// The rtb::error `f` throws; fails the test case when it throws none.
template <class F>
error error_of(F&& f) {
    try {
        f();
    } catch (const error& e) {
        return e;
    }
    BOOST_FAIL("no rtb::error was thrown");
    return error(errc::io_error, "unreachable");
}

/// The message of the rtb::error `f` throws, or "<no error>".
template <class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const error& e) {
        return e.what();
    }
    return "<no error>";
}

inline bool contains(std::string_view hay, std::string_view needle) {
    return hay.find(needle) != std::string_view::npos;
}

}  // namespace rtb::test
