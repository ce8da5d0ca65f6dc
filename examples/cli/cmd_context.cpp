// rtb context: what a build sends. `ls` lists a context directory as the
// docker CLI would send it, `pack` writes its deterministic tar (or tar.gz,
// or base64 of either), `runtime` assembles a runtime image's context
// (rendered Dockerfile + lock files + source) without copying it.
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "cli.hpp"
#include "rtb/context/base64_stream.hpp"
#include "rtb/context/directory_context.hpp"
#include "rtb/context/dockerfile_template.hpp"
#include "rtb/context/gzip_stream.hpp"
#include "rtb/context/runtime_context.hpp"
#include "rtb/context/tar_stream.hpp"
#include "files.hpp"
#include "rtb/image_labels.hpp"
#include "rtb/tags/content_tags.hpp"
#include "rtb/tags/openhands_tags.hpp"
#include "rtb/text.hpp"
#include "rtb/version.hpp"
#include "runtime_options.hpp"

namespace rtb::cli {

namespace {

/// One line of `rtb context ls`: the path as is, unless it holds a control
/// character (a newline, a tab...) or starts with '"'; then it is written in
/// double quotes with C escapes (\n, \t, \", \\, \ooo), as git quotes paths.
std::string ls_line(std::string_view path) {
    bool quote = !path.empty() && path[0] == '"';
    for (const char c : path)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) quote = true;
    if (!quote) return std::string(path);
    std::string out = "\"";
    for (const char ch : path) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            default:
                if (c < 0x20 || c == 0x7f) out += fmt::format("\\{:03o}", c);
                else out += ch;
        }
    }
    return out + "\"";
}

skip_handler warn_skipped() {
    return [](std::string_view path, std::string_view why) {
        print_error(fmt::format("warning: not sending {} ({}): build contexts carry files, links and directories only",
                                printable(path), why));
    };
}

struct common_options {
    std::string dialect = "moby";
    std::string dockerfile;
    std::vector<std::string> ignore;
    unsigned jobs = 0;
};

void add_common(CLI::App* cmd, common_options& o) {
    cmd->add_option("--dialect", o.dialect,
                    ".dockerignore rules: moby (docker CLI >= 23, the default) or docker-20.10")
        ->check(CLI::IsMember({"moby", "docker-20.10"}));
    cmd->add_option("-f,--file", o.dockerfile,
                    "The Dockerfile's path in the context (always sent; default Dockerfile)");
    cmd->add_option("--ignore", o.ignore, "An extra .dockerignore pattern, applied after the file's (repeatable)");
    cmd->add_option("--jobs,-j", o.jobs, "Threads (default: every core)");
}

directory_context_options make_options(const common_options& o) {
    directory_context_options opt;
    opt.ignore.dialect = parse_dockerignore_dialect(o.dialect);
    opt.ignore.dockerfile = o.dockerfile;
    opt.ignore.extra_patterns = o.ignore;
    opt.walk.jobs = o.jobs;
    opt.walk.on_skip = warn_skipped();
    return opt;
}

struct output_options {
    std::string output = "-";
    bool gzip = false;
    int level = 6;
    std::string codec = "automatic";
    bool base64 = false;
};

void add_output(CLI::App* cmd, output_options& o) {
    cmd->add_option("-o,--output", o.output, "Where to write (default: standard output)");
    cmd->add_flag("--gzip,-z", o.gzip, "Compress with gzip (deterministic, on every core)");
    cmd->add_option("--level", o.level, "gzip level, 0-9 (default 6)")->check(CLI::Range(0, 9));
    cmd->add_option("--gzip-codec", o.codec,
                    "automatic (per block: libdeflate unless zlib compresses it better), libdeflate (fastest) or "
                    "zlib")
        ->check(CLI::IsMember({"automatic", "libdeflate", "zlib"}));
    cmd->add_flag("--base64", o.base64, "Encode the result in base64 (what the remote build API takes)");
}

/// Streams a context's tar (+gzip, +base64) to a file or stdout.
void write_context(const build_context& ctx, const output_options& o, unsigned jobs) {
    file_descriptor owned;
    int fd = STDOUT_FILENO;
    std::string display = "standard output";
    if (o.output != "-") {
        owned = file_descriptor(::open(o.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (!owned) throw_io("create", o.output);
        fd = owned.get();
        display = o.output;
    } else if (::isatty(fd) && !o.base64) {
        throw error(errc::invalid_argument, "refusing to write a tar to a terminal: use -o FILE or redirect");
    }
    tar_stream tar(ctx);
    if (o.gzip) {
        const auto codec = o.codec == "libdeflate" ? gzip_codec::libdeflate
                           : o.codec == "zlib"     ? gzip_codec::zlib
                                                   : gzip_codec::automatic;
        gzip_stream gz(std::move(tar), {.level = o.level, .jobs = jobs, .codec = codec});
        if (o.base64) {
            base64_stream b(std::move(gz));
            copy_to_fd(b, fd, display);
        } else {
            copy_to_fd(gz, fd, display);
        }
    } else if (o.base64) {
        base64_stream b(std::move(tar));
        copy_to_fd(b, fd, display);
    } else {
        copy_to_fd(tar, fd, display);
    }
    if (owned && ::fsync(fd) != 0 && errno != EINVAL) throw_io("write", display);
}

std::string read_file(const std::string& path, std::string_view what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw error(errc::io_error, fmt::format("cannot read {} {}", what, printable(path)));
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

void add_context(CLI::App& command, action& run) {
    auto* context = &command;
    context->require_subcommand(1);

    // rtb context ls
    {
        struct options : common_options {
            std::string dir;
            bool nul = false;
        };
        auto o = std::make_shared<options>();
        auto* cmd = context->add_subcommand(
            "ls", "List the regular files and symlinks Docker would send for DIR (.dockerignore applied), one per line");
        cmd->add_option("DIR", o->dir, "The context directory")->required();
        add_common(cmd, *o);
        cmd->add_flag("-z,--null", o->nul, "End each path with a NUL instead of a newline, never quoting");
        cmd->callback([o, &run] {
            run = [o] {
                const auto ctx = directory_context(o->dir, make_options(*o));
                std::string out;
                for (const auto& p : context_files(ctx)) {
                    if (o->nul) {
                        out += p;
                        out += '\0';
                    } else {
                        out += ls_line(p);
                        out += '\n';
                    }
                }
                std::fwrite(out.data(), 1, out.size(), stdout);
                return ok;
            };
        });
    }

    // rtb context pack
    {
        struct options : common_options, output_options {
            std::string dir;
        };
        auto o = std::make_shared<options>();
        auto* cmd = context->add_subcommand("pack", "Write the deterministic tar of context directory DIR");
        cmd->add_option("DIR", o->dir, "The context directory")->required();
        add_common(cmd, *o);
        add_output(cmd, *o);
        cmd->callback([o, &run] {
            run = [o] {
                const auto ctx = directory_context(o->dir, make_options(*o));
                write_context(ctx, *o, o->jobs);
                return ok;
            };
        });
    }

    // rtb context runtime
    {
        struct options : output_options {
            std::string base_image;
            std::string from_image;
            std::string plan = "scratch";
            std::string source;
            std::vector<std::string> locks;
            std::string template_file;
            std::vector<std::string> vars;
            std::string extra_deps;
            std::string version;
            std::string dialect = "moby";
            std::string folder;
            std::string strategy = "openhands";
            bool no_browser = false;
            bool no_labels = false;
            bool dockerfile_only = false;
            bool list = false;
            template_flags template_switches;
            unsigned jobs = 0;
        };
        auto o = std::make_shared<options>();
        auto* cmd = context->add_subcommand(
            "runtime", "Assemble a runtime image's context: rendered Dockerfile, lock files (lock/), source (source/)");
        cmd->add_option("--base-image", o->base_image, "The base image (FROM of a scratch build)")->required();
        cmd->add_option("--plan", o->plan, "scratch, versioned or lock (default scratch)")
            ->check(CLI::IsMember({"scratch", "versioned", "lock"}));
        cmd->add_option("--from-image", o->from_image,
                        "The image a versioned or lock build starts FROM (default: --base-image)");
        cmd->add_option("--source", o->source, "The runtime source tree (its .dockerignore applies)")->required();
        cmd->add_option("--lock", o->locks, "A dependency lock file (repeatable)");
        cmd->add_option("--template", o->template_file,
                        "A Dockerfile template: Jinja2, as OpenHands' Dockerfile.j2 (default: rtb's runtime template; "
                        "see docs/context.md for the supported subset)");
        cmd->add_option("--var", o->vars, "NAME=VALUE for the template (repeatable)");
        o->template_switches.add_to(cmd);
        cmd->add_option("--extra-deps", o->extra_deps, "A shell command installing extra dependencies");
        cmd->add_option("--oh-version", o->version,
                        "The runtime version (the template's runtime_version; the tags in the LABEL line take rtb's "
                        "version without it, as rtb build does)");
        cmd->add_option("--strategy", o->strategy, "Tags for the LABEL line: openhands or content, as rtb build")
            ->check(CLI::IsMember({"openhands", "content"}));
        cmd->add_flag("--no-browser", o->no_browser, "OpenHands' enable_browser=False: the template's enable_browser is false (and the lock tag in the LABEL line)");
        cmd->add_flag("--no-labels", o->no_labels,
                      "Leave out the LABEL line rtb build appends to the Dockerfile (rtb's labels: its version, the "
                      "three tags, the base image and the plan)");
        cmd->add_option("--dialect", o->dialect, ".dockerignore rules for the source: moby or docker-20.10")
            ->check(CLI::IsMember({"moby", "docker-20.10"}));
        cmd->add_option("--folder", o->folder, "Write the context into this (new or empty) folder instead of a tar");
        cmd->add_flag("--dockerfile", o->dockerfile_only, "Only print the rendered Dockerfile");
        cmd->add_flag("--list", o->list, "Only list the context's files (as `rtb context ls` does)");
        cmd->add_option("--jobs,-j", o->jobs, "Threads (default: every core)");
        add_output(cmd, *o);
        cmd->callback([o, &run] {
            run = [o] {
                runtime_spec spec;
                spec.base_image = o->base_image;
                spec.source_dir = o->source;
                for (const auto& l : o->locks) spec.lock_files.emplace_back(l);
                spec.extra_deps = o->extra_deps;
                spec.runtime_version = o->version;
                spec.enable_browser = !o->no_browser;
                runtime_context_options opt;
                if (!o->template_file.empty()) {
                    spec.dockerfile_template = read_file(o->template_file, "template");
                    opt.template_name = o->template_file;
                }
                spec.template_options = o->template_switches.options(o->template_file);
                for (const auto& kv : o->vars) {
                    const auto eq = kv.find('=');
                    if (eq == std::string::npos || eq == 0)
                        throw error(errc::invalid_argument,
                                    fmt::format("--var {} is not NAME=VALUE", printable(kv)));
                    spec.template_vars[kv.substr(0, eq)] = kv.substr(eq + 1);
                }
                opt.dialect = parse_dockerignore_dialect(o->dialect);
                opt.walk.jobs = o->jobs;
                opt.walk.on_skip = warn_skipped();
                const auto plan = parse_build_plan(o->plan);
                if (!o->no_labels) {
                    // the labels rtb build would write, from the tags it would compute
                    runtime_spec hashed = spec;
                    if (hashed.runtime_version.empty()) hashed.runtime_version = version_string;
                    const tag_set tags =
                        o->strategy == "openhands"
                            ? openhands_tags({.jobs = o->jobs}).tags(hashed)
                            : content_tags({.jobs = o->jobs}).tags(hashed);
                    opt.labels = runtime_image_labels(tags, o->base_image, plan);
                }
                const auto ctx = runtime_build_context(spec, plan, o->from_image.empty() ? o->base_image : o->from_image,
                                                       opt);
                if (o->dockerfile_only) {
                    for (const auto& e : ctx.entries())
                        if (e.path == "Dockerfile") std::fwrite(e.bytes->data(), 1, e.bytes->size(), stdout);
                    return ok;
                }
                if (o->list) {
                    for (const auto& p : context_files(ctx)) fmt::print("{}\n", ls_line(p));
                    return ok;
                }
                if (!o->folder.empty()) {
                    ctx.write_to(o->folder);
                    return ok;
                }
                write_context(ctx, *o, o->jobs);
                return ok;
            };
        });
    }
}

}  // namespace rtb::cli
