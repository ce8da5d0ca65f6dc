// Helpers over simdjson On-Demand shared by rtb's JSON decoders. Internal.
#pragma once

#include <simdjson.h>

namespace rtb::detail {

/// Whether an On-Demand document has been read to its end, i.e. nothing
/// follows the root value (`{"a":1}{"b":2}` is two documents, not one).
/// simdjson 3.0 keeps the root iterator protected; a pointer to member taken
/// through a derived class reaches it without copying the document.
struct ondemand_access : simdjson::ondemand::document {
    static bool at_end(simdjson::ondemand::document& d) noexcept {
        constexpr auto root = &ondemand_access::get_root_value_iterator;
        return (d.*root)().at_end();
    }
};

}  // namespace rtb::detail
