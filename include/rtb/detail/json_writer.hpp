// Internal names of rtb/json_text.hpp's functions.
#pragma once

#include "rtb/json_text.hpp"

namespace rtb::detail {

using rtb::json_list;
using rtb::json_quote;

}  // namespace rtb::detail
