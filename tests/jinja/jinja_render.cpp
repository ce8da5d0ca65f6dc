// Renders Jinja2 templates with rtb's renderer for the differential tests:
// reads JSON lines {"template", "context", "trim_blocks", "lstrip_blocks",
// "keep_trailing_newline", "strict", "name"} from a file (or stdin) and
// writes one JSON line per case: {"output": "..."} or {"error": "..."}.
// Contexts are JSON values (null, booleans, integers, strings, arrays,
// objects); a float is refused, as rtb's templates have no floats.
// With "dockerfile": {"base_image", "plan", "extra_deps", "enable_browser",
// "lock_files", "vars"} instead of a context, the template is rendered as rtb
// renders a runtime image's Dockerfile (render_dockerfile, rtb's variables).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <simdjson.h>

#include "rtb/context/dockerfile_template.hpp"
#include "rtb/context/jinja.hpp"
#include "rtb/detail/json_writer.hpp"

namespace {

rtb::jinja::value to_value(simdjson::dom::element e, int depth = 0) {
    using rtb::jinja::value;
    if (depth > 256) throw rtb::error(rtb::errc::invalid_argument, "context nests too deeply");
    switch (e.type()) {
        case simdjson::dom::element_type::NULL_VALUE: return value();
        case simdjson::dom::element_type::BOOL: return value(bool(e.get_bool()));
        case simdjson::dom::element_type::INT64: return value(std::int64_t(e.get_int64()));
        case simdjson::dom::element_type::UINT64: return value(std::uint64_t(e.get_uint64()));
        case simdjson::dom::element_type::DOUBLE:
            throw rtb::error(rtb::errc::invalid_argument, "floating-point context values are not supported");
        case simdjson::dom::element_type::STRING: return value(std::string_view(e.get_string()));
        case simdjson::dom::element_type::ARRAY: {
            value::list_type items;
            for (auto item : e.get_array()) items.push_back(to_value(item, depth + 1));
            return value(std::move(items));
        }
        case simdjson::dom::element_type::OBJECT: {
            value::dict_type items;
            for (auto field : e.get_object()) items.emplace_back(std::string(field.key), to_value(field.value, depth + 1));
            return value(std::move(items));
        }
    }
    return value();
}

std::string text_of(simdjson::dom::object o, std::string_view key) {
    std::string_view v;
    return o[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

rtb::template_inputs inputs(simdjson::dom::object d) {
    rtb::template_inputs in;
    in.base_image = text_of(d, "base_image");
    in.plan = rtb::parse_build_plan(text_of(d, "plan"));
    in.extra_deps = text_of(d, "extra_deps");
    bool browser = true;
    if (d["enable_browser"].get(browser) == simdjson::SUCCESS) in.enable_browser = browser;
    simdjson::dom::array locks;
    if (d["lock_files"].get(locks) == simdjson::SUCCESS)
        for (auto l : locks) in.lock_files.emplace_back(std::string_view(l.get_string()));
    simdjson::dom::object vars;
    if (d["vars"].get(vars) == simdjson::SUCCESS)
        for (auto field : vars) in.vars[std::string(field.key)] = std::string(std::string_view(field.value.get_string()));
    return in;
}

bool flag(simdjson::dom::object o, std::string_view key) {
    bool b = false;
    return o[key].get(b) == simdjson::SUCCESS && b;
}

std::string render_case(simdjson::dom::object c) {
    std::string_view text, name = "case";
    if (c["template"].get(text) != simdjson::SUCCESS) return R"({"error":"no template"})";
    if (c["name"].get(name) != simdjson::SUCCESS) name = "case";
    rtb::jinja::options o;
    o.trim_blocks = flag(c, "trim_blocks");
    o.lstrip_blocks = flag(c, "lstrip_blocks");
    o.keep_trailing_newline = flag(c, "keep_trailing_newline");
    if (flag(c, "strict")) o.undefined = rtb::jinja::undefined_behavior::strict;
    try {
        simdjson::dom::object dockerfile;
        if (c["dockerfile"].get(dockerfile) == simdjson::SUCCESS)
            return "{\"output\":" + rtb::detail::json_quote(rtb::render_dockerfile(text, name, inputs(dockerfile), o)) + "}";
        rtb::jinja::variables vars;
        simdjson::dom::object ctx;
        if (c["context"].get(ctx) == simdjson::SUCCESS)
            for (auto field : ctx) vars[std::string(field.key)] = to_value(field.value);
        const auto out = rtb::jinja::render(text, name, vars, o);
        return "{\"output\":" + rtb::detail::json_quote(out) + "}";
    } catch (const rtb::error& e) {
        return "{\"error\":" + rtb::detail::json_quote(e.what()) + "}";
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::ifstream file;
    if (argc > 1) {
        file.open(argv[1], std::ios::binary);
        if (!file) {
            std::fprintf(stderr, "jinja_render: cannot read %s\n", argv[1]);
            return 2;
        }
    }
    std::istream& in = argc > 1 ? file : std::cin;
    simdjson::dom::parser parser;
    std::string line;
    std::ostringstream out;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        simdjson::dom::object c;
        if (parser.parse(line).get(c) != simdjson::SUCCESS) {
            std::fprintf(stderr, "jinja_render: a line is not a JSON object\n");
            return 2;
        }
        out << render_case(c) << '\n';
    }
    std::cout << out.str();
    return 0;
}
