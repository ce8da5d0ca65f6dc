// The options that describe a runtime image (runtime_options.hpp).
#include "runtime_options.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/text.hpp"
#include "rtb/units.hpp"

namespace rtb::cli {

void template_flags::add_to(CLI::App* cmd) {
    cmd->add_flag("--trim-blocks", trim_blocks, "Jinja2's trim_blocks for --template (hashed)");
    cmd->add_flag("--lstrip-blocks", lstrip_blocks, "Jinja2's lstrip_blocks for --template (hashed)");
    cmd->add_flag("--keep-trailing-newline", keep_trailing_newline,
                  "Jinja2's keep_trailing_newline for --template (hashed)");
    cmd->add_flag("--strict-undefined", strict_undefined,
                  "An undefined name in --template is an error (Jinja2's StrictUndefined), in every plan's sections");
}

jinja::options template_flags::options(const std::string& template_file) const {
    jinja::options o;
    o.trim_blocks = trim_blocks;
    o.lstrip_blocks = lstrip_blocks;
    o.keep_trailing_newline = keep_trailing_newline;
    if (strict_undefined) o.undefined = jinja::undefined_behavior::strict;
    if (template_file.empty() && (trim_blocks || lstrip_blocks || keep_trailing_newline || strict_undefined))
        throw error(errc::invalid_argument,
                    "--trim-blocks, --lstrip-blocks, --keep-trailing-newline and --strict-undefined apply to a "
                    "--template; the default template has its own");
    return o;
}

void runtime_options::add_to(CLI::App* cmd, bool version_required, bool base_image_required) {
    cmd->add_option("--strategy", strategy, "Tags: openhands (bit-compatible with OpenHands) or content")
        ->check(CLI::IsMember({"openhands", "content"}));
    auto* v = cmd->add_option("--oh-version", version, "The runtime version (OpenHands' oh_version)");
    if (version_required) v->required();
    auto* b = cmd->add_option("--base-image", base_image, "The base image, as you would pass it to OpenHands");
    if (base_image_required) b->required();
    cmd->add_option("--source", source, "The runtime source tree")->required();
    one_value_each(cmd->add_option("--lock", locks, "A dependency lock file (repeatable; order matters)"));
    cmd->add_option("--runtime-repo", repo, "The runtime image repository");
    cmd->add_option("--extra-deps", extra_deps, "Extra dependencies installed in the image (hashed)");
    one_value_each(cmd->add_option("--build-arg", build_args, "K=V build argument (repeatable; hashed)"));
    cmd->add_option("--platform", platform, "Target platform, e.g. linux/amd64 (hashed)");
    cmd->add_option("--template", template_file,
                    "A custom Dockerfile template: Jinja2, as OpenHands' Dockerfile.j2 (hashed; see docs/context.md "
                    "for the supported subset)");
    one_value_each(cmd->add_option("--var", vars, "NAME=VALUE for the template (repeatable; hashed)"));
    template_switches.add_to(cmd);
    cmd->add_flag("--no-browser", no_browser,
                  "OpenHands' enable_browser=False: the templates' enable_browser is false (changes the lock hash)");
    cmd->add_flag("--no-stat-cache", no_stat_cache, "Read every source file even if the stat cache knows it");
}

runtime_spec runtime_options::spec(const std::string& base) const {
    image_ref::parse(base);  // reject malformed names; the tags hash the text as given
    runtime_spec s;
    s.base_image = base;
    s.source_dir = source;
    for (const auto& l : locks) s.lock_files.emplace_back(l);
    s.runtime_version = version;
    s.runtime_repository = repo;
    s.extra_deps = extra_deps;
    s.platform = platform;
    for (const auto& kv : build_args) {
        const auto [k, val] = assignment(kv, "--build-arg", "KEY=VALUE");
        s.build_args[k] = val;
    }
    if (!template_file.empty()) s.dockerfile_template = read_text_file(template_file, "template");
    s.template_options = template_switches.options(template_file);
    s.enable_browser = !no_browser;
    for (const auto& kv : vars) {
        const auto [k, val] = assignment(kv, "--var", "NAME=VALUE");
        s.template_vars[k] = val;
    }
    return s;
}

std::pair<std::string, std::string> runtime_options::assignment(const std::string& kv, std::string_view option,
                                                            std::string_view form) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
        throw error(errc::invalid_argument, fmt::format("{} {} is not {}", option, printable(kv), form));
    return {kv.substr(0, eq), kv.substr(eq + 1)};
}

std::string runtime_options::read_text_file(const std::string& path, std::string_view what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw error(errc::io_error, fmt::format("cannot read {} {}", what, printable(path)));
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::int64_t parse_integer(std::string_view text, std::string_view option, std::int64_t min, std::int64_t max) {
    std::int64_t v = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || r.ec != std::errc{} || r.ptr != text.data() + text.size() || v < min || v > max)
        bad_value(option, text, fmt::format("is not a whole number from {} to {}", min, max));
    return v;
}

std::chrono::milliseconds parse_duration(std::string_view text, std::string_view option, double max_ms) {
    const auto d = rtb::parse_duration(text, max_ms);
    if (!d) bad_value(option, text, "is not " + duration_form(max_ms));
    return *d;
}

}  // namespace rtb::cli
