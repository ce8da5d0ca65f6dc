// rtb tags: the source, lock and versioned tags of a runtime image.
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "rtb/detail/json_writer.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/tags/content_tags.hpp"
#include "rtb/tags/openhands_tags.hpp"

namespace rtb::cli {

namespace {
std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw error(errc::io_error, fmt::format("cannot read template {}", detail::printable(path)));
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}
}  // namespace

void add_tags(CLI::App& app, action& run) {
    struct options {
        std::string strategy = "openhands";
        std::string version;
        std::string base_image;
        std::string source;
        std::vector<std::string> locks;
        std::string repo = default_runtime_repository;
        std::string extra_deps;
        std::vector<std::string> build_args;
        std::string platform;
        std::string template_file;
        std::vector<std::string> vars;
        bool json = false;
        bool no_stat_cache = false;
        bool no_browser = false;
    };
    auto o = std::make_shared<options>();
    auto* cmd = app.add_subcommand("tags", "Print a runtime image's tags: source, lock, versioned (one per line)");
    cmd->add_option("--strategy", o->strategy, "openhands (bit-compatible with OpenHands) or content")
        ->check(CLI::IsMember({"openhands", "content"}));
    cmd->add_option("--oh-version", o->version, "The runtime version (OpenHands' oh_version)")->required();
    cmd->add_option("--base-image", o->base_image, "The base image, as you would pass it to OpenHands")->required();
    cmd->add_option("--source", o->source, "The runtime source tree")->required();
    one_value_each(cmd->add_option("--lock", o->locks, "A dependency lock file (repeatable; order matters)"));
    cmd->add_option("--runtime-repo", o->repo, "The runtime image repository");
    cmd->add_option("--extra-deps", o->extra_deps, "Extra dependencies installed in the image (hashed)");
    one_value_each(cmd->add_option("--build-arg", o->build_args, "K=V build argument (repeatable; hashed)"));
    cmd->add_option("--platform", o->platform, "Target platform, e.g. linux/amd64 (hashed)");
    cmd->add_option("--template", o->template_file, "A custom Dockerfile template (hashed)");
    one_value_each(cmd->add_option("--var", o->vars, "NAME=VALUE for the template (repeatable; hashed)"));
    cmd->add_flag("--no-browser", o->no_browser, "OpenHands' enable_browser=False (changes the lock hash)");
    cmd->add_flag("--json", o->json, "Print a JSON object with full image names");
    cmd->add_flag("--no-stat-cache", o->no_stat_cache, "Read every source file even if the stat cache knows it");
    cmd->callback([o, &run] {
        run = [o] {
            image_ref::parse(o->base_image);  // reject malformed names; the tags hash the text as given
            runtime_spec spec;
            spec.base_image = o->base_image;
            spec.source_dir = o->source;
            for (const auto& l : o->locks) spec.lock_files.emplace_back(l);
            spec.runtime_version = o->version;
            spec.runtime_repository = o->repo;
            spec.extra_deps = o->extra_deps;
            spec.platform = o->platform;
            for (const auto& kv : o->build_args) {
                const auto eq = kv.find('=');
                if (eq == std::string::npos || eq == 0)
                    throw error(errc::invalid_argument,
                                fmt::format("--build-arg {} is not KEY=VALUE", detail::printable(kv)));
                spec.build_args[kv.substr(0, eq)] = kv.substr(eq + 1);
            }
            if (!o->template_file.empty()) spec.dockerfile_template = read_text_file(o->template_file);
            for (const auto& kv : o->vars) {
                const auto eq = kv.find('=');
                if (eq == std::string::npos || eq == 0)
                    throw error(errc::invalid_argument, fmt::format("--var {} is not NAME=VALUE", detail::printable(kv)));
                spec.template_vars[kv.substr(0, eq)] = kv.substr(eq + 1);
            }

            tag_set t;
            if (o->strategy == "openhands") {
                t = openhands_tags({.enable_browser = !o->no_browser, .jobs = 0, .use_stat_cache = !o->no_stat_cache})
                        .tags(spec);
            } else {
                t = content_tags({.jobs = 0, .use_stat_cache = !o->no_stat_cache}).tags(spec);
            }
            if (o->json) {
                fmt::print("{{\"strategy\":{},\"repository\":{},\"source\":{},\"lock\":{},\"versioned\":{}}}\n",
                           detail::json_quote(o->strategy), detail::json_quote(t.repository),
                           detail::json_quote(t.source_image()), detail::json_quote(t.lock_image()),
                           detail::json_quote(t.versioned_image()));
            } else {
                fmt::print("{}\n{}\n{}\n", t.source, t.lock, t.versioned);
            }
            return ok;
        };
    });
}

}  // namespace rtb::cli
