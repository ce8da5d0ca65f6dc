// The flags of `rtb doctor` and the one place they become
// rtb::doctor::doctor_options: over a base the caller fills first (defaults,
// or what the configuration file says), each flag given wins.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/doctor/options.hpp"
#include "rtb/error.hpp"
#include "rtb/storage.hpp"
#include "rtb/text.hpp"

namespace rtb::cli {

/// `rtb doctor`'s flags as given; empty: not given.
struct doctor_flags {
    std::string transport;
    std::string host;
    std::string cli_program;
    std::vector<std::string> registries;
    std::vector<std::string> insecure_registries;
    std::string cache_dir;
    std::string engine_min_free;
    std::string cache_min_free;
    bool json = false;
};

/// A size flag (rtb::parse_byte_size). Throws invalid_argument naming the flag.
inline std::uint64_t parse_size_flag(std::string_view flag, std::string_view text) {
    if (const auto n = parse_byte_size(text)) return *n;
    throw error(errc::invalid_argument,
                fmt::format("{} {} is not a size: a whole number with an optional unit (B, K, M, G, T, P, E; KiB "
                            "etc.; powers of 1024)",
                            flag, printable(text)));
}

/// `base` with every flag given in `f` applied (the configuration's values
/// go into `base` first). RTB_API_KEY is the caller's to put in base.api_key.
inline doctor::doctor_options doctor_options_from(const doctor_flags& f, doctor::doctor_options base = {}) {
    if (!f.transport.empty()) base.transport = doctor::parse_transport(f.transport);
    if (!f.host.empty()) {
        base.host = f.host;
        base.endpoint.reset();
    }
    if (!f.cli_program.empty()) base.cli_program = f.cli_program;
    if (!f.registries.empty()) base.registries = f.registries;
    base.insecure_registries.insert(base.insecure_registries.end(), f.insecure_registries.begin(),
                                    f.insecure_registries.end());
    if (!f.cache_dir.empty()) base.cache_dir = f.cache_dir;
    if (!f.engine_min_free.empty()) base.engine_min_free = parse_size_flag("--engine-min-free", f.engine_min_free);
    if (!f.cache_min_free.empty()) base.cache_min_free = parse_size_flag("--cache-min-free", f.cache_min_free);
    return base;
}

}  // namespace rtb::cli
