// command_hooks() and statistics_json() (rtb/hooks/command_hooks.hpp):
// included by that header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION), so a program that only wires its hooks up
// compiles neither the subprocess runner nor the JSON parsing of a hook's
// answer.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "rtb/detail/config.hpp"
#include "rtb/detail/json_writer.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/detail/subprocess.hpp"
#include "rtb/hooks/command_hooks.hpp"
#include "rtb/policy/redactor.hpp"

namespace rtb {

namespace detail {

inline std::string seconds(std::chrono::milliseconds d) { return fmt::format("{:.3f}", static_cast<double>(d.count()) / 1000.0); }

/// The fields every hook's JSON has (without the closing brace).
inline std::string hook_json_head(std::string_view hook, const runtime_spec& spec, const runtime_image& img) {
    return fmt::format(
        "{{\"hook\":\"{}\",\"image\":{},\"plan\":\"{}\",\"from_image\":{},\"base_image\":{},"
        "\"tags\":{{\"source\":{},\"lock\":{},\"versioned\":{}}},\"dry_run\":{}",
        hook, json_quote(img.image), to_string(img.plan), json_quote(img.from_image), json_quote(spec.base_image),
        json_quote(img.tags.source), json_quote(img.tags.lock), json_quote(img.tags.versioned),
        img.dry_run ? "true" : "false");
}



/// The last non-empty line of `text`, at most 500 bytes, printable.
inline std::string last_line(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
    const auto nl = text.find_last_of('\n');
    if (nl != std::string_view::npos) text.remove_prefix(nl + 1);
    return printable(text.substr(0, 500));
}

/// Labels from a pre-build hook's stdout: empty, or {"labels": {"k": "v", ...}}.
inline std::map<std::string, std::string> hook_labels(std::string_view out, std::string_view program) {
    std::map<std::string, std::string> labels;
    const auto first = out.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return labels;
    const auto bad = [&](std::string_view why) {
        return error(errc::vetoed, fmt::format("the pre-build hook {} printed {}: {}; it may print nothing, or one "
                                               "JSON object {{\"labels\": {{\"name\": \"value\"}}}}",
                                               printable(program), why, printable(out.substr(0, 200))));
    };
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(out.data(), out.size()).get(doc) != simdjson::SUCCESS) throw bad("something that is not JSON");
    simdjson::dom::object root;
    if (doc.get_object().get(root) != simdjson::SUCCESS) throw bad("JSON that is not an object");
    for (auto [k, v] : root) {
        if (k != "labels") throw bad(fmt::format("the unknown field {}", printable(k)));
        simdjson::dom::object l;
        if (v.get_object().get(l) != simdjson::SUCCESS) throw bad("\"labels\" that is not an object");
        for (auto [name, value] : l) {
            std::string_view text;
            if (value.get_string().get(text) != simdjson::SUCCESS || name.empty())
                throw bad(fmt::format("label {} whose value is not a string", printable(name)));
            labels.emplace(std::string(name), std::string(text));
        }
    }
    return labels;
}

inline program_result run_hook(const std::vector<std::string>& argv, std::string input, std::chrono::milliseconds timeout) {
    run_options o;
    o.input = std::move(input);
    o.timeout = timeout;
    o.max_output = std::size_t{1} << 20;
    return run_program(argv, o);
}

}  // namespace detail

RTB_DECL std::string statistics_json(const runtime_image& img) {
    const auto& t = img.timings;
    return fmt::format(
        "\"cache_hit\":{},\"bytes_sent\":{},\"context_entries\":{},"
        "\"phases\":{{\"hash\":{},\"plan\":{},\"context\":{},\"build\":{},\"total\":{}}}",
        img.cache_hit() ? "true" : "false", img.bytes_sent, img.context_entries, detail::seconds(t.tags), detail::seconds(t.lookup),
        detail::seconds(t.context), detail::seconds(t.build), detail::seconds(t.total));
}

RTB_DECL build_hooks command_hooks(hook_commands c) {
    build_hooks h;
    const auto timeout = c.timeout;
    if (!c.pre_build.empty())
        h.pre_build = [argv = c.pre_build, timeout](pre_build_event& e) {
            const auto input = detail::hook_json_head("pre_build", e.spec, e.image) + "}";
            detail::program_result r;
            try {
                r = detail::run_hook(argv, input, timeout);
            } catch (const error& x) {
                return hook_verdict::veto(fmt::format("the pre-build hook could not run: {}", x.what()));
            }
            if (r.exit_code != 0) {
                const auto why = detail::last_line(r.err);
                return hook_verdict::veto(fmt::format("{} {}{}", detail::printable(argv.front()),
                                                      r.signaled ? fmt::format("ended by signal {} (or its timeout)", r.exit_code - 128)
                                                                 : fmt::format("exited with status {}", r.exit_code),
                                                      why.empty() ? "" : ": " + why));
            }
            for (auto& [k, v] : detail::hook_labels(r.out, argv.front())) e.labels[k] = v;
            return hook_verdict::proceed();
        };
    const auto after = [timeout, warn = c.warn](const std::vector<std::string>& argv, std::string_view which,
                                                std::string input) {
        try {
            const auto r = detail::run_hook(argv, std::move(input), timeout);
            if (r.exit_code != 0)
                warn(fmt::format("the {} hook {} exited with status {}{}", which, detail::printable(argv.front()),
                                 r.exit_code, r.err.empty() ? "" : ": " + detail::last_line(r.err)));
        } catch (const error& x) {
            warn(fmt::format("the {} hook could not run: {}", which, x.what()));
        }
    };
    if (!c.post_build.empty())
        h.post_build = [argv = c.post_build, after](const post_build_event& e) {
            after(argv, "post-build",
                  fmt::format("{},\"image_id\":{},\"tags_applied\":{},{}}}", detail::hook_json_head("post_build", e.spec, e.image),
                              detail::json_quote(e.image.image_id), detail::json_list(e.image.tags_applied),
                              statistics_json(e.image)));
        };
    if (!c.on_error.empty())
        h.on_error = [argv = c.on_error, after](const build_error_event& e) {
            // What a failing build printed can hold what a hostile server echoed: masked as rtb's own output is.
            redactor mask;
            std::vector<std::string> tail;
            for (const auto& l : e.log_tail) tail.push_back(mask(l));
            const auto& b = e.failure.build();
            after(argv, "on-error",
                  fmt::format("{},\"error\":{{\"code\":\"{}\",\"message\":{},\"exit_code\":{},\"failing_step\":{}}},"
                              "\"log_tail\":{}}}",
                              detail::hook_json_head("on_error", e.spec, e.image), to_string(e.failure.value()),
                              detail::json_quote(mask(e.failure.what())),
                              b && b->exit_code ? std::to_string(*b->exit_code) : std::string("null"),
                              detail::json_quote(mask(b ? b->failing_step : std::string())), detail::json_list(tail)));
        };
    return h;
}

}  // namespace rtb
