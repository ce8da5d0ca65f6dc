// Dockerfile templates: Jinja2 (rtb/context/jinja.hpp), rendered the way
// OpenHands renders its Dockerfile.j2 (Jinja2's defaults, no escaping), with
// OpenHands' variables (base_image, build_from_scratch, build_from_versioned,
// extra_deps, enable_browser) plus rtb's own and the user's. The default
// runtime template has a section per build plan.
#pragma once

#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/context/jinja.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/plan.hpp"

namespace rtb {

/// Parses a plan that builds ("scratch", "versioned", "lock"); throws
/// invalid_argument for anything else (reuse builds nothing).
inline plan_kind parse_build_plan(std::string_view s) {
    if (s == "scratch") return plan_kind::scratch;
    if (s == "versioned") return plan_kind::versioned;
    if (s == "lock") return plan_kind::lock;
    throw error(errc::invalid_argument,
                fmt::format("unknown build plan {}: use scratch, versioned or lock", detail::printable(s)));
}

/// What a template sees.
struct template_inputs {
    std::string base_image;      ///< the image to build FROM for this plan
    plan_kind plan = plan_kind::scratch;  ///< scratch, versioned or lock (reuse builds nothing)
    std::string extra_deps;      ///< a shell command installing extra dependencies ("" for none)
    bool enable_browser = true;  ///< OpenHands' enable_browser (false: --no-browser)
    std::vector<std::string> lock_files;  ///< file names under lock_dir in the context
    std::string source_dir = "source";    ///< where the runtime source sits in the context
    std::string lock_dir = "lock";        ///< where the lock files sit in the context
    std::string runtime_version;
    std::map<std::string, std::string> vars;  ///< user variables (any name but the built-in ones)
};

/// The built-in variable names; user variables may not reuse them.
inline const std::set<std::string, std::less<>>& builtin_template_variables() {
    static const std::set<std::string, std::less<>> names{
        "base_image",  "build_from_scratch", "build_from_versioned", "build_from_lock", "build_from",
        "extra_deps",  "enable_browser",     "lock_files",           "has_lock_files",  "source_dir",
        "lock_dir",    "runtime_version"};
    return names;
}

/// The variables `inputs` gives a template: OpenHands' names and meanings
/// (base_image, build_from_scratch, build_from_versioned, extra_deps, a str,
/// "" for none; enable_browser), rtb's (build_from_lock; build_from: the plan's
/// name; lock_files: a list of {name, path}; has_lock_files; source_dir;
/// lock_dir; runtime_version), then the user's. Throws invalid_argument for a
/// user variable that reuses a built-in name or is not a name.
jinja::variables template_variables(const template_inputs& inputs);

/// The default runtime template (Jinja2, rendered with Jinja2's defaults):
/// builds rtb's sample runtime (examples/runtime) on a busybox base,
/// offline. Lock files list busybox applets ("#" comments allowed), installed
/// as links in /rtb/deps/bin.
inline std::string_view default_dockerfile_template() {
    return R"rtb(# rtb default runtime template ({{ build_from }} build).
# Sections by plan:  scratch   = system setup + dependencies + source
#                    versioned = dependencies + source (system setup is in the base)
#                    lock      = source only (dependencies are in the base)
FROM {{ base_image }}
{% if build_from_scratch %}
# System setup: the runtime's directories.
RUN /bin/busybox mkdir -p /rtb/runtime /rtb/deps/bin /rtb/lock /workspace /tmp && \
    /bin/busybox chmod 1777 /tmp
{%- endif %}
{% if not build_from_lock %}
# Dependencies from the lock files: each listed tool becomes a link to busybox.
RUN /bin/busybox rm -rf /rtb/lock /rtb/deps/bin && /bin/busybox mkdir -p /rtb/lock /rtb/deps/bin
{% if has_lock_files %}COPY {{ lock_dir }}/ /rtb/lock/{% endif %}
RUN set -e; cd /rtb/lock; for lock in *; do [ -f "$lock" ] || continue; \
      while read -r tool rest; do \
        case "$tool" in ''|'#'*) continue ;; esac; \
        /bin/busybox --list | /bin/busybox grep -qx "$tool" || { echo "busybox has no applet '$tool' ($lock)" >&2; exit 1; }; \
        /bin/busybox ln -sf /bin/busybox "/rtb/deps/bin/$tool"; \
      done < "$lock"; \
    done
{% if extra_deps %}RUN {{ extra_deps }}{% endif %}
{%- endif %}

# Source: replaced whole on every build.
{% if not build_from_scratch %}RUN /bin/busybox rm -rf /rtb/runtime{% endif %}
COPY {{ source_dir }}/ /rtb/runtime/
ENV RTB_RUNTIME_HOME=/rtb/runtime \
    PATH=/rtb/runtime/bin:/rtb/deps/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /workspace
CMD ["/rtb/runtime/bin/rtb-runtime", "serve"]
{# Jinja2 drops a template's final newline; this line keeps the Dockerfile's. #}
)rtb";
}

/// Renders Jinja2 template `text` (called `name` in errors) with `inputs`'
/// variables. `options` are Jinja2's Environment switches; the defaults are
/// Jinja2's own, which OpenHands uses, so OpenHands' Dockerfile.j2 renders
/// byte for byte as OpenHands renders it. Nothing is HTML-escaped. With
/// undefined_behavior::strict, the template is also rendered for the other
/// plans, with and without extra_deps and the browser, so that an undefined
/// name in a section this build skips is caught now. Throws invalid_argument
/// naming the template, the line and column, and the construct.
std::string render_dockerfile(std::string_view text, std::string_view name, const template_inputs& inputs,
                              const jinja::options& options = {});

/// `labels` as one LABEL instruction (with its newline): `LABEL "k"="v" ...`,
/// keys and values in double quotes, '"', '$' and '\\' escaped with '\\'.
/// One instruction is one build step: dockerd's classic builder and Podman
/// make a step of each label passed as a build parameter instead. Empty
/// `labels`: "". `escape` is the Dockerfile's escape character: after an
/// `# escape=`` directive Docker escapes with '`' and Podman still with
/// '\\', so no escape is written and a label holding '"', '$', '\\' or '`' is
/// refused. Throws invalid_argument naming the label when a Dockerfile line
/// cannot hold it: an empty key, a key with '=', a line break or NUL byte.
std::string label_instruction(const std::map<std::string, std::string>& labels, char escape = '\\');

/// The escape character of `dockerfile`: '`' when its parser directives (the
/// `# name=value` lines it starts with) say `escape=``, else '\\'.
char dockerfile_escape_character(std::string_view dockerfile);

/// Appends label_instruction(labels) to `dockerfile` as its last line, so the
/// labels land on the image the last stage builds. Throws invalid_argument
/// when the Dockerfile ends in a line continuation (the instruction would
/// join the one before) or a label cannot be written (see label_instruction).
void append_label_instruction(std::string& dockerfile, const std::map<std::string, std::string>& labels);

// ---------------------------------------------------------------------------

namespace detail {

inline bool valid_variable_name(std::string_view n) {
    if (n.empty() || !(std::isalpha(static_cast<unsigned char>(n[0])) || n[0] == '_')) return false;
    for (char c : n)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
    return true;
}

// Templates were mustache before they were Jinja2; say so when one fails to parse.
inline std::string mustache_hint(std::string_view text) {
    for (std::string_view m : {"{{#", "{{^", "{{/", "{{!", "{{>", "{{{", "{{&"})
        if (text.find(m) != std::string_view::npos)
            return fmt::format("; `{}` is mustache: Dockerfile templates are Jinja2 ({{% if x %}}...{{% endif %}}, "
                               "{{% for x in xs %}}...{{% endfor %}}, {{# comment #}})",
                               m);
    return {};
}

}  // namespace detail

inline jinja::variables template_variables(const template_inputs& in) {
    jinja::variables v;
    v["base_image"] = in.base_image;
    v["build_from"] = std::string(to_string(in.plan));
    v["build_from_scratch"] = in.plan == plan_kind::scratch;
    v["build_from_versioned"] = in.plan == plan_kind::versioned;
    v["build_from_lock"] = in.plan == plan_kind::lock;
    v["extra_deps"] = in.extra_deps;
    v["enable_browser"] = in.enable_browser;
    jinja::value::list_type locks;
    for (const auto& l : in.lock_files)
        locks.emplace_back(jinja::value::dict_type{{"name", l}, {"path", in.lock_dir + "/" + l}});
    v["has_lock_files"] = !locks.empty();
    v["lock_files"] = std::move(locks);
    v["source_dir"] = in.source_dir;
    v["lock_dir"] = in.lock_dir;
    v["runtime_version"] = in.runtime_version;
    for (const auto& [k, value] : in.vars) {
        if (builtin_template_variables().count(k))
            throw error(errc::invalid_argument,
                        fmt::format("template variable {} is set by rtb and cannot be overridden", detail::printable(k)));
        if (!detail::valid_variable_name(k))
            throw error(errc::invalid_argument,
                        fmt::format("template variable name {} is not a name (letters, digits, '_')", detail::printable(k)));
        v[k] = value;
    }
    return v;
}

inline std::string render_dockerfile(std::string_view text, std::string_view name, const template_inputs& in,
                                     const jinja::options& options) {
    const std::string tname = std::string(name.empty() ? "(template)" : name);
    if (in.plan == plan_kind::reuse)
        throw error(errc::invalid_argument, "the reuse plan builds nothing: there is no Dockerfile to render");
    std::optional<jinja::compiled_template> tmpl;
    try {
        tmpl = jinja::compiled_template::compile(text, tname, options);
    } catch (const error& e) {
        throw error(errc::invalid_argument, std::string(e.what()) + detail::mustache_hint(text));
    }
    std::string out = tmpl->render(template_variables(in));
    if (options.undefined != jinja::undefined_behavior::strict) return out;
    for (const auto plan : {plan_kind::scratch, plan_kind::versioned, plan_kind::lock})
        for (const bool extra : {false, true})
            for (const bool browser : {true, false}) {
                template_inputs probe = in;
                probe.plan = plan;
                probe.extra_deps = extra ? (in.extra_deps.empty() ? std::string("true") : in.extra_deps) : std::string();
                probe.enable_browser = browser;
                if (probe.lock_files.empty()) probe.lock_files.push_back("example.lock");
                try {
                    (void)tmpl->render(template_variables(probe));
                } catch (const error& e) {
                    throw error(errc::invalid_argument,
                                fmt::format("{} (rendering for the {} plan{}{}; this build does not use that section, "
                                            "another would)",
                                            e.what(), to_string(plan), extra ? ", with extra_deps" : "",
                                            browser ? "" : ", without the browser"));
                }
            }
    return out;
}

namespace detail {

inline void append_dockerfile_quoted(std::string& out, std::string_view s) {
    out += '"';
    for (const char c : s) {
        if (c == '"' || c == '$' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

}  // namespace detail

inline std::string label_instruction(const std::map<std::string, std::string>& labels, char escape) {
    if (labels.empty()) return {};
    std::string out = "LABEL";
    for (const auto& label : labels) {
        // named references, not a structured binding: clang 14 lets no lambda capture one
        const std::string& k = label.first;
        const std::string& v = label.second;
        auto refuse = [&](std::string_view why) {
            throw error(errc::invalid_argument,
                        fmt::format("label {}: {}, which a Dockerfile LABEL line cannot hold", detail::printable(k), why));
        };
        if (k.empty()) refuse("an empty key");
        // the Dockerfile parser splits each key=value word at its first '=', quotes or not
        if (k.find('=') != std::string::npos) refuse("its key holds '='");
        for (const auto* s : {&k, &v}) {
            const std::string_view what = s == &k ? "its key" : "its value";
            if (s->find_first_of(std::string_view("\n\r\0", 3)) != std::string::npos)
                refuse(fmt::format("{} holds a line break or NUL byte", what));
            if (escape != '\\' && s->find_first_of("\"$\\`") != std::string::npos)
                refuse(fmt::format("{} holds one of \" $ \\ ` (read differently by Docker and Podman under the "
                                   "Dockerfile's escape={} directive)", what, escape));
        }
        out += ' ';
        detail::append_dockerfile_quoted(out, k);
        out += '=';
        detail::append_dockerfile_quoted(out, v);
    }
    out += '\n';
    return out;
}

inline char dockerfile_escape_character(std::string_view dockerfile) {
    if (dockerfile.starts_with("\xef\xbb\xbf")) dockerfile.remove_prefix(3);  // a UTF-8 BOM
    auto blank = [](char c) { return c == ' ' || c == '\t'; };
    // Parser directives: "# name=value" lines at the very top; the first
    // other line (blank, comment, instruction) ends them.
    while (!dockerfile.empty()) {
        const auto nl = dockerfile.find('\n');
        std::string_view line = dockerfile.substr(0, nl);
        dockerfile.remove_prefix(nl == std::string_view::npos ? dockerfile.size() : nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty() || line.front() != '#') break;
        line.remove_prefix(1);
        while (!line.empty() && blank(line.front())) line.remove_prefix(1);
        std::size_t n = 0;
        while (n < line.size() && std::isalnum(static_cast<unsigned char>(line[n]))) ++n;
        if (n == 0 || !std::isalpha(static_cast<unsigned char>(line[0]))) break;
        std::string name(line.substr(0, n));
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        line.remove_prefix(n);
        while (!line.empty() && blank(line.front())) line.remove_prefix(1);
        if (line.empty() || line.front() != '=') break;
        line.remove_prefix(1);
        while (!line.empty() && blank(line.front())) line.remove_prefix(1);
        while (!line.empty() && blank(line.back())) line.remove_suffix(1);
        if (name == "escape") return line == "`" ? '`' : '\\';
    }
    return '\\';
}

inline void append_label_instruction(std::string& dockerfile, const std::map<std::string, std::string>& labels) {
    if (labels.empty()) return;
    const char escape = dockerfile_escape_character(dockerfile);
    std::string line = label_instruction(labels, escape);
    // The last line that counts (blank lines and comments do not end a
    // continuation) must not end in the escape character.
    std::string_view rest = dockerfile;
    while (!rest.empty()) {
        auto nl = rest.rfind('\n', rest.size() - 1);
        std::string_view last = nl == std::string_view::npos ? rest : rest.substr(nl + 1);
        rest = nl == std::string_view::npos ? std::string_view() : rest.substr(0, nl);
        while (!last.empty() && (last.back() == ' ' || last.back() == '\t' || last.back() == '\r')) last.remove_suffix(1);
        auto text = last;
        while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
        if (text.empty() || text.front() == '#') continue;
        if (last.back() == escape)
            throw error(errc::invalid_argument,
                        fmt::format("the Dockerfile ends in a line continuation ({}); rtb's LABEL line cannot follow it",
                                    detail::printable(last.substr(last.size() > 80 ? last.size() - 80 : 0))));
        break;
    }
    if (!dockerfile.empty() && dockerfile.back() != '\n') dockerfile += '\n';
    dockerfile += line;
}

}  // namespace rtb
