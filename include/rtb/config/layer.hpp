// One source of configuration values (a file, the environment, flags) as
// untyped entries that remember where each came from, so a validation error
// and `rtb config show` can name the file and line, the variable or the flag.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace rtb::config {

/// Where a value came from.
struct origin {
    enum class kind { defaults, file, environment, flag };
    kind type = kind::defaults;
    std::string where;  ///< "rtb.toml:12:1", "RTB_TIMEOUT", "--timeout"; empty for defaults
    std::uint32_t line = 0;  ///< in a file: where the value is written (problems are listed in file order)
    std::uint32_t column = 0;

    std::string describe() const {
        switch (type) {
            case kind::defaults: return "default";
            case kind::file: return "file " + where;
            case kind::environment: return "env " + where;
            case kind::flag: return "flag " + where;
        }
        return where;
    }
};

/// A value as its source wrote it: TOML keeps its types; variables and flags
/// are text (a list or table only comes from a file or repeated flags).
using raw_value = std::variant<std::string, std::int64_t, bool, std::vector<std::string>,
                               std::map<std::string, std::string>>;

struct entry {
    raw_value value;
    origin from;
};

/// Entries by dotted key ("timeout", "storage.on_low").
using layer = std::map<std::string, entry>;

}  // namespace rtb::config
