// One reusable build_event per event kind, so a decoder fills an event in
// place (std::string::assign reuses capacity) and emits it without allocating
// once the strings have grown to the longest value seen. Internal.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "rtb/stream/event.hpp"

namespace rtb::detail {

/// Overwrites `s` with `v`, reusing its memory: a plain copy when it fits
/// (std::string::assign takes a general, slower replace path).
inline void set(std::string& s, std::string_view v) {
    const auto n = v.size();
    if (n > s.capacity()) {
        s.assign(v);
        return;
    }
    s.resize(n);
    char* d = s.data();
    const char* p = v.data();
    if (n >= 8 && n <= 16) {  // ids and statuses: two overlapping word copies, no call
        std::uint64_t a, b;
        std::memcpy(&a, p, 8);
        std::memcpy(&b, p + n - 8, 8);
        std::memcpy(d, &a, 8);
        std::memcpy(d + n - 8, &b, 8);
    } else if (n) {
        std::memcpy(d, p, n);
    }
}

template <class T, class V>
struct variant_index;
template <class T, class... Ts>
struct variant_index<T, std::variant<Ts...>> {
    static constexpr std::size_t value = [] {
        constexpr bool same[] = {std::is_same_v<T, Ts>...};
        for (std::size_t i = 0; i < sizeof...(Ts); ++i)
            if (same[i]) return i;
        return sizeof...(Ts);
    }();
    static_assert(value < sizeof...(Ts), "not an alternative of the variant");
};

class event_slots {
public:
    event_slots() { init(std::make_index_sequence<std::variant_size_v<build_event>>{}); }

    /// The slot of kind T, to fill before emit().
    template <class T>
    T& get() noexcept {
        return *std::get_if<T>(&slots_[variant_index<T, build_event>::value]);
    }
    /// The slot of kind T as a build_event.
    template <class T>
    const build_event& event() const noexcept {
        return slots_[variant_index<T, build_event>::value];
    }

private:
    template <std::size_t... I>
    void init(std::index_sequence<I...>) {
        (slots_[I].template emplace<I>(), ...);
    }
    std::array<build_event, std::variant_size_v<build_event>> slots_;
};

}  // namespace rtb::detail
