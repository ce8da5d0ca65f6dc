// Writing JSON text: the public functions (rtb/json_text.hpp) under the
// names rtb's internals use, and decimal numbers appended without a format
// string. Internal.
#pragma once

#include <charconv>
#include <string>

#include "rtb/json_text.hpp"

namespace rtb::detail {

using rtb::append_json_quoted;
using rtb::json_list;
using rtb::json_quote;

/// Appends an integer in decimal, as fmt's "{}" writes it.
template <class Int>
void append_decimal(std::string& out, Int v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

}  // namespace rtb::detail
