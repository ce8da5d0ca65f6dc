// rtb::resources: the memory, CPU, pids and shared-memory limits of a sandbox
// container or of a build, one type for both; the docker CLI's spellings
// ("512m", "1.5" CPUs) parsed, and every limit checked before an engine sees it.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/core.h>

#include "rtb/detail/quote.hpp"
#include "rtb/error.hpp"

namespace rtb {

/// Limits, each unset by default (the engine's default: none). The field
/// names follow the Engine API's HostConfig; units are bytes, CPUs x 1e9 and
/// microseconds, as there.
struct resources {
    std::optional<std::int64_t> memory;       ///< bytes (--memory); at least 6 MiB, as the engines require
    std::optional<std::int64_t> memory_swap;  ///< memory + swap in bytes (--memory-swap), >= memory; -1: swap unlimited
    std::optional<std::int64_t> nano_cpus;    ///< CPUs x 1e9 (--cpus 1.5 -> 1'500'000'000); not with cpu_quota/period
    std::optional<std::int64_t> cpu_quota;    ///< microseconds of CPU time per period (--cpu-quota), >= 1000
    std::optional<std::int64_t> cpu_period;   ///< microseconds, 1000..1'000'000 (--cpu-period; engine default 100'000)
    std::optional<std::int64_t> pids_limit;   ///< processes and threads (--pids-limit); -1: unlimited. Containers only
    std::optional<std::int64_t> shm_size;     ///< size of /dev/shm in bytes (--shm-size)

    bool empty() const noexcept {
        return !memory && !memory_swap && !nano_cpus && !cpu_quota && !cpu_period && !pids_limit && !shm_size;
    }
    friend bool operator==(const resources&, const resources&) = default;
};

/// What the limits are for: builds cannot take every limit.
enum class limits_for { container, build };

inline constexpr std::int64_t min_memory = std::int64_t{6} << 20;  ///< 6 MiB: below this, dockerd and Podman refuse
inline constexpr std::int64_t min_nano_cpus = 10'000'000;          ///< 0.01 CPU, dockerd's minimum
inline constexpr std::int64_t default_cpu_period = 100'000;        ///< the kernel's and the engines' default, 100 ms

namespace detail {

/// User input in an error message: quoted, control bytes escaped, cut at 80 bytes.
inline std::string shown(std::string_view s) {
    if (s.size() <= 80) return ref::quote(s);
    return ref::quote(s.substr(0, 80)) + fmt::format("... ({} bytes)", s.size());
}

[[noreturn]] inline void bad_value(std::string_view what, std::string_view text, std::string_view why) {
    throw error(errc::invalid_argument, fmt::format("{} {} {}", what, shown(text), why));
}

}  // namespace detail

/// Parses a size the way the docker CLI does (--memory, --shm-size): a
/// number, optionally with a fraction, then an optional unit k, m, g, t or p
/// (binary: 1k = 1024; any case), optionally followed by "b" or "ib"; one
/// space may separate number and unit. "512m", "1.5g", "64MiB", "4096".
/// `what` names the option in the error ("--memory"). Throws
/// invalid_argument for anything else (negative, "12q", "1e3", overflow).
inline std::int64_t parse_byte_size(std::string_view text, std::string_view what) {
    std::string_view s = text;
    auto fail = [&](std::string_view why) { detail::bad_value(what, text, why); };
    constexpr std::string_view form = "is not a size: expected a number and an optional unit b, k, m, g, t or p "
                                      "(\"512m\", \"1.5g\")";
    if (s.empty()) fail(form);
    std::size_t i = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == 0) fail(form);
    const std::string_view whole = s.substr(0, i);
    std::string_view fraction;
    if (i < s.size() && s[i] == '.') {
        const std::size_t start = ++i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        fraction = s.substr(start, i - start);
        if (fraction.empty()) fail(form);
    }
    std::string_view unit = s.substr(i);
    if (unit.starts_with(' ')) {
        unit.remove_prefix(1);
        if (unit.empty()) fail(form);
    }
    unsigned shift = 0;  // the unit's power of two
    if (!unit.empty()) {
        constexpr std::string_view units = "kmgtp";
        if (const auto at = units.find(static_cast<char>(unit[0] | 0x20)); at != std::string_view::npos) {
            shift = static_cast<unsigned>(10 * (at + 1));
            unit.remove_prefix(1);
            if (!unit.empty() && (unit[0] | 0x20) == 'i') {
                unit.remove_prefix(1);
                if (unit.empty()) fail(form);  // "ki" without the "b"
            }
        }
        if (!unit.empty() && (unit[0] | 0x20) == 'b') unit.remove_prefix(1);
        if (!unit.empty()) fail(form);
    }
    constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    auto too_large = [&] { fail("is too large (at most 8 EiB - 1 byte)"); };
    std::uint64_t n = 0;
    for (char c : whole) {
        if (n > (max - static_cast<std::uint64_t>(c - '0')) / 10) too_large();
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (n > (max >> shift)) too_large();
    n <<= shift;
    // The fraction's bytes, exactly: floor(2^shift * 0.fraction), by binary
    // long division (12 digits are enough: 2^50 / 10^12 < 1 byte).
    if (!fraction.empty() && shift > 0) {
        std::uint64_t num = 0, den = 1;
        for (std::size_t k = 0; k < fraction.size() && k < 12; ++k) {
            num = num * 10 + static_cast<std::uint64_t>(fraction[k] - '0');
            den *= 10;
        }
        std::uint64_t bytes = 0;
        for (unsigned b = 0; b < shift; ++b) {
            num *= 2;
            bytes = bytes * 2 + (num >= den ? 1 : 0);
            if (num >= den) num -= den;
        }
        if (n > max - bytes) too_large();
        n += bytes;
    }
    return static_cast<std::int64_t>(n);
}

/// Parses a CPU count the way the docker CLI's --cpus does: a positive
/// decimal number with at most 9 fraction digits ("1.5", "0.25"), returned
/// as nano-CPUs (1.5 -> 1'500'000'000). Throws invalid_argument otherwise.
inline std::int64_t parse_cpus(std::string_view text, std::string_view what = "--cpus") {
    auto fail = [&](std::string_view why) { detail::bad_value(what, text, why); };
    constexpr std::string_view form = "is not a CPU count: expected a positive decimal number such as 1.5";
    std::size_t i = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    std::string_view whole = text.substr(0, i), fraction;
    if (i < text.size() && text[i] == '.') {
        fraction = text.substr(i + 1);
        if (fraction.empty() || fraction.find_first_not_of("0123456789") != std::string_view::npos) fail(form);
    } else if (i != text.size()) {
        fail(form);
    }
    if (whole.empty() && fraction.empty()) fail(form);
    while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
    if (fraction.size() > 9) fail("is too precise: at most 9 digits after the point (nano-CPUs)");
    while (whole.size() > 1 && whole.front() == '0') whole.remove_prefix(1);
    if (whole.size() > 9) fail("is too large");
    std::int64_t n = 0;
    for (char c : whole) n = n * 10 + (c - '0');
    std::int64_t f = 0;
    for (std::size_t k = 0; k < 9; ++k) f = f * 10 + (k < fraction.size() ? fraction[k] - '0' : 0);
    const std::int64_t nano = n * 1'000'000'000 + f;
    if (nano == 0) fail("must be more than 0");
    return nano;
}

/// Checks limits before any engine is asked, with the rules dockerd and
/// Podman apply, and says which limit is wrong and why. `where` prefixes
/// the message ("container local/app:1", "build of local/app:1").
inline void validate(const resources& r, limits_for use, std::string_view where) {
    auto fail = [&](std::string msg) {
        throw error(errc::invalid_argument, fmt::format("{}: {}", where, msg));
    };
    if (r.memory && *r.memory < min_memory)
        fail(fmt::format("memory limit {} bytes is below the engines' minimum of 6 MiB ({} bytes)", *r.memory,
                         min_memory));
    if (r.memory_swap) {
        if (!r.memory) fail("memory_swap (--memory-swap) needs a memory limit (--memory) too");
        if (*r.memory_swap != -1 && *r.memory_swap < *r.memory)
            fail(fmt::format("memory_swap {} bytes is less than memory {} bytes: it is memory + swap, so at least "
                             "the memory limit (-1: unlimited swap)",
                             *r.memory_swap, *r.memory));
    }
    if (r.nano_cpus) {
        if (*r.nano_cpus < min_nano_cpus)
            fail(fmt::format("nano_cpus {} is below 0.01 CPU ({} nano-CPUs)", *r.nano_cpus, min_nano_cpus));
        if (r.cpu_quota || r.cpu_period)
            fail("nano_cpus (--cpus) and cpu_quota/cpu_period (--cpu-quota/--cpu-period) cannot both be set");
    }
    if (r.cpu_period && (*r.cpu_period < 1000 || *r.cpu_period > 1'000'000))
        fail(fmt::format("cpu_period {} us is outside 1000..1000000 us", *r.cpu_period));
    if (r.cpu_quota && *r.cpu_quota < 1000)
        fail(fmt::format("cpu_quota {} us is below 1000 us (1 ms)", *r.cpu_quota));
    if (r.pids_limit) {
        if (use == limits_for::build)
            fail("pids_limit applies to containers only: the Engine API's POST /build has no pids limit");
        if (*r.pids_limit == 0 || *r.pids_limit < -1)
            fail(fmt::format("pids_limit {} must be at least 1 (or -1 for unlimited; leave it unset for the "
                             "engine's default)",
                             *r.pids_limit));
    }
    if (r.shm_size && *r.shm_size <= 0) fail(fmt::format("shm_size {} bytes must be more than 0", *r.shm_size));
}

}  // namespace rtb
