// Shared pieces of the rtb program: exit statuses, error reporting, and the
// registration functions of each subcommand (one .cpp per subcommand).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "rtb/error.hpp"
#include "rtb/policy/redactor.hpp"

namespace rtb::cli {

/// Exit statuses (a contract: scripts depend on them; README's `rtb` section).
enum exit_status : int {
    ok = 0,
    negative = 1,  ///< a "no" answer, or a failed build
    failure = 2,   ///< usage errors and every other error
    push_failed = 3,  ///< rtb build --push: built (or reused) and tagged in the engine, but the push failed
    interrupted = 130,
};

/// A subcommand's action; returns the exit status.
using action = std::function<int()>;

/// Each subcommand registers its options on `command` (the subcommand main()
/// made, with its name and description) and stores its action in `run` when
/// it is the one selected. Making the subcommands in one place keeps CLI11's
/// App constructor out of the other files.
void add_hash(CLI::App& command, action& run);
void add_tags(CLI::App& command, action& run);
void add_context(CLI::App& command, action& run);
void add_exists(CLI::App& command, action& run);
void add_run(CLI::App& command, action& run);
void add_build(CLI::App& command, action& run);
void add_prune(CLI::App& command, action& run);
void add_config(CLI::App& command, action& run);
void add_doctor(CLI::App& command, action& run);

/// A repeatable option taking exactly one value per occurrence, verbatim: CLI11
/// would otherwise read "[a,b]" as a list and strip the brackets, which breaks
/// patterns such as "[abc]*".
inline CLI::Option* one_value_each(CLI::Option* o) { return o->allow_extra_args(false); }
void add_events(CLI::App& command, action& run);
void add_serve(CLI::App& command, action& run);

/// `text` as rtb may print it: secrets rtb handled (known_secrets) and
/// credential shapes masked. Errors and build output can carry what a
/// hostile server echoed back.
inline std::string redacted(std::string_view text) {
    static thread_local redactor r;
    return r(text);
}

/// "rtb: <message>" on stderr, redacted.
inline void print_error(std::string_view message) { fmt::print(stderr, "rtb: {}\n", redacted(message)); }

}  // namespace rtb::cli
