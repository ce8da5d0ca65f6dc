// How inputs that OpenHands leaves out of its hashes (extra dependencies,
// build args, platform, a custom template, its switches and its variables) enter rtb's lock
// hash: an unambiguous, length-prefixed encoding, in a fixed order.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/hash/hasher.hpp"
#include "rtb/runtime_spec.hpp"

namespace rtb::tags {

/// Feeds one length-prefixed field: name "\0" decimal-length "\0" value.
inline void feed_field(any_hasher& h, std::string_view name, std::string_view value) {
    h.update(name);
    h.update(fmt::format("{}{}{}", '\0', value.size(), '\0'));
    h.update(value);
}

/// The Jinja2 switches of a custom template that change its text, by name,
/// when set (Jinja2's defaults are not hashed, so earlier tags stay valid).
inline std::vector<std::string_view> set_template_options(const runtime_spec& spec) {
    std::vector<std::string_view> out;
    if (!spec.dockerfile_template) return out;  // the default template has its own, fixed
    if (spec.template_options.trim_blocks) out.push_back("trim_blocks");
    if (spec.template_options.lstrip_blocks) out.push_back("lstrip_blocks");
    if (spec.template_options.keep_trailing_newline) out.push_back("keep_trailing_newline");
    return out;
}

/// Whether `spec` has any input beyond what OpenHands hashes.
inline bool has_extra_inputs(const runtime_spec& spec) {
    return !spec.extra_deps.empty() || !spec.build_args.empty() || !spec.platform.empty() ||
           spec.dockerfile_template.has_value() || !spec.template_vars.empty();
}

/// Feeds the extra inputs to `h`:
///   "\0rtb-extra-inputs-v1\0", then for each present field
///   name "\0" decimal-length "\0" value
/// with fields in this order: extra_deps, platform, template,
/// template_option:<name> (trim_blocks, lstrip_blocks, keep_trailing_newline
/// when set, value "true"), build_arg:<key> (keys sorted), template_var:<key>
/// (keys sorted). Nothing is fed when there is none: tags stay OpenHands' own.
inline void feed_extra_inputs(any_hasher& h, const runtime_spec& spec) {
    if (!has_extra_inputs(spec)) return;
    h.update(std::string_view("\0rtb-extra-inputs-v1\0", 21));
    auto field = [&](std::string_view name, std::string_view value) { feed_field(h, name, value); };
    if (!spec.extra_deps.empty()) field("extra_deps", spec.extra_deps);
    if (!spec.platform.empty()) field("platform", spec.platform);
    if (spec.dockerfile_template) field("template", *spec.dockerfile_template);
    for (const auto name : set_template_options(spec)) field(fmt::format("template_option:{}", name), "true");
    for (const auto& [k, v] : spec.build_args) field("build_arg:" + k, v);       // std::map: sorted
    for (const auto& [k, v] : spec.template_vars) field("template_var:" + k, v);
}

}  // namespace rtb::tags
