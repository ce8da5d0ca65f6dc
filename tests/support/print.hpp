// How Boost.Test prints std::optional values it compares.
#pragma once

#include <optional>
#include <ostream>

#include <boost/test/tools/detail/print_helper.hpp>

namespace boost::test_tools::tt_detail {
template <class T>
struct print_log_value<std::optional<T>> {
    void operator()(std::ostream& os, const std::optional<T>& v) {
        if (v) os << *v;
        else os << "nullopt";
    }
};
}  // namespace boost::test_tools::tt_detail
