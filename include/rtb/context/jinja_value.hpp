// The values a Jinja2 template sees: Python's None, bool, int, str, list and
// dict as the renderer models them (strings are UTF-8, dicts keep insertion
// order), shared and immutable so passing one around never copies it.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "rtb/error.hpp"

namespace rtb::jinja {

/// A template value. Users build none, bool, int, str, list and dict; the
/// renderer also makes undefined values, macros and loop contexts.
class value {
public:
    enum class kind : std::uint8_t { none, boolean, integer, string, list, dict, undefined, macro, loop, global };
    using list_type = std::vector<value>;
    /// A dict as Python keeps one: keys unique, in the order first inserted.
    using dict_type = std::vector<std::pair<std::string, value>>;

    value() noexcept = default;
    value(std::nullptr_t) noexcept {}
    value(bool b) noexcept : kind_(kind::boolean), int_(b) {}
    template <std::integral I>
        requires(!std::same_as<I, bool> && !std::same_as<I, char>)
    value(I i) : kind_(kind::integer), int_(checked(i)) {}
    value(std::string s) : kind_(kind::string), ptr_(std::make_shared<const std::string>(std::move(s))) {}
    value(std::string_view s) : value(std::string(s)) {}
    value(const char* s) : value(std::string(s)) {}
    value(list_type l) : kind_(kind::list), int_(1 + deepest(l)), ptr_(std::make_shared<const list_type>(std::move(l))) {}
    /// A dict from pairs; a repeated key keeps its first place and its last value (Python's dict()).
    value(dict_type d) : kind_(kind::dict) {
        auto unique = dedupe(std::move(d));
        std::int64_t deepest_value = 0;
        for (const auto& [k, v] : unique) deepest_value = std::max(deepest_value, v.nesting());
        int_ = 1 + deepest_value;
        ptr_ = std::make_shared<const dict_type>(std::move(unique));
    }

    kind type() const noexcept { return kind_; }
    bool is(kind k) const noexcept { return kind_ == k; }
    bool as_bool() const noexcept { return int_ != 0; }
    std::int64_t as_int() const noexcept { return int_; }
    const std::string& as_string() const noexcept { return *static_cast<const std::string*>(ptr_.get()); }
    const list_type& as_list() const noexcept { return *static_cast<const list_type*>(ptr_.get()); }
    const dict_type& as_dict() const noexcept { return *static_cast<const dict_type*>(ptr_.get()); }
    /// How deeply lists and dicts nest in this value (0 for anything else).
    std::int64_t nesting() const noexcept { return kind_ == kind::list || kind_ == kind::dict ? int_ : 0; }

    /// The value under `key` in a dict, or nullptr.
    const value* find(std::string_view key) const noexcept {
        if (kind_ != kind::dict) return nullptr;
        for (const auto& [k, v] : as_dict())
            if (k == key) return &v;
        return nullptr;
    }

    /// For the renderer: a value of an internal kind around `payload`.
    static value make_internal(kind k, std::shared_ptr<const void> payload, std::int64_t i = 0) {
        value v;
        v.kind_ = k;
        v.int_ = i;
        v.ptr_ = std::move(payload);
        return v;
    }
    /// For the renderer: the payload of an internal kind.
    const void* payload() const noexcept { return ptr_.get(); }
    /// For the renderer: whether two values share one object (Python's `is`).
    bool same_object(const value& o) const noexcept { return kind_ == o.kind_ && ptr_ == o.ptr_ && int_ == o.int_; }

private:
    template <std::integral I>
    static std::int64_t checked(I i) {
        if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
            if (i > static_cast<I>(std::numeric_limits<std::int64_t>::max()))
                throw error(errc::invalid_argument, fmt::format("template value {} is out of range (64-bit integers)", i));
        }
        return static_cast<std::int64_t>(i);
    }
    static std::int64_t deepest(const list_type& l) noexcept {
        std::int64_t d = 0;
        for (const auto& v : l) d = std::max(d, v.nesting());
        return d;
    }
    static dict_type dedupe(dict_type d) {
        dict_type out;
        out.reserve(d.size());  // no reallocation: the index below points into `out`
        std::unordered_map<std::string_view, std::size_t> index;
        for (auto& [k, v] : d) {
            if (const auto it = index.find(k); it != index.end()) {
                out[it->second].second = std::move(v);
                continue;
            }
            out.emplace_back(std::move(k), std::move(v));
            index.emplace(out.back().first, out.size() - 1);
        }
        return out;
    }

    kind kind_ = kind::none;
    std::int64_t int_ = 0;        // boolean, integer; list and dict: nesting()
    std::shared_ptr<const void> ptr_;  // string, list, dict, or an internal kind's payload
};

/// The variables a template is rendered with, by name.
using variables = std::map<std::string, value, std::less<>>;

}  // namespace rtb::jinja
