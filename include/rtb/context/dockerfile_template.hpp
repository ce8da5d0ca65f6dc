// Dockerfile templates: mustache (kainjow's implementation) with no HTML
// escaping, a variable set named after OpenHands' (base_image,
// build_from_scratch, build_from_versioned, build_from_lock, extra_deps) plus
// the user's own, strict about names, and errors that name the template and
// the line. The default runtime template has a section per build plan.
#pragma once

#include <cctype>
#include <charconv>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <kainjow/mustache.hpp>

#include <fmt/format.h>

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
    std::vector<std::string> lock_files;  ///< file names under lock_dir in the context
    std::string source_dir = "source";    ///< where the runtime source sits in the context
    std::string lock_dir = "lock";        ///< where the lock files sit in the context
    std::string runtime_version;
    std::map<std::string, std::string> vars;  ///< user variables (any name but the built-in ones)
};

/// The built-in variable names; user variables may not reuse them.
inline const std::set<std::string, std::less<>>& builtin_template_variables() {
    static const std::set<std::string, std::less<>> names{
        "base_image", "build_from_scratch", "build_from_versioned", "build_from_lock", "build_from",
        "extra_deps", "lock_files", "has_lock_files", "source_dir", "lock_dir", "runtime_version"};
    return names;
}

/// The default runtime template: builds rtb's sample runtime
/// (examples/runtime) on a busybox base, offline. Lock files list busybox
/// applets ("#" comments allowed), installed as links in /rtb/deps/bin.
inline std::string_view default_dockerfile_template() {
    return R"rtb(# rtb default runtime template ({{build_from}} build).
# Sections by plan:  scratch   = system setup + dependencies + source
#                    versioned = dependencies + source (system setup is in the base)
#                    lock      = source only (dependencies are in the base)
FROM {{base_image}}
{{#build_from_scratch}}

# System setup: the runtime's directories.
RUN /bin/busybox mkdir -p /rtb/runtime /rtb/deps/bin /rtb/lock /workspace /tmp && \
    /bin/busybox chmod 1777 /tmp
{{/build_from_scratch}}
{{^build_from_lock}}

# Dependencies from the lock files: each listed tool becomes a link to busybox.
RUN /bin/busybox rm -rf /rtb/lock /rtb/deps/bin && /bin/busybox mkdir -p /rtb/lock /rtb/deps/bin
{{#has_lock_files}}
COPY {{lock_dir}}/ /rtb/lock/
{{/has_lock_files}}
RUN set -e; cd /rtb/lock; for lock in *; do [ -f "$lock" ] || continue; \
      while read -r tool rest; do \
        case "$tool" in ''|'#'*) continue ;; esac; \
        /bin/busybox --list | /bin/busybox grep -qx "$tool" || { echo "busybox has no applet '$tool' ($lock)" >&2; exit 1; }; \
        /bin/busybox ln -sf /bin/busybox "/rtb/deps/bin/$tool"; \
      done < "$lock"; \
    done
{{#extra_deps}}
RUN {{extra_deps}}
{{/extra_deps}}
{{/build_from_lock}}

# Source: replaced whole on every build.
{{^build_from_scratch}}
RUN /bin/busybox rm -rf /rtb/runtime
{{/build_from_scratch}}
COPY {{source_dir}}/ /rtb/runtime/
ENV RTB_RUNTIME_HOME=/rtb/runtime \
    PATH=/rtb/runtime/bin:/rtb/deps/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /workspace
CMD ["/rtb/runtime/bin/rtb-runtime", "serve"]
)rtb";
}

/// Renders `text` (called `name` in errors) with `inputs`. Mustache as
/// usual ({{var}}, {{#section}}, {{^inverted}}, {{! comment}}) except:
/// nothing is HTML-escaped, and a name the template uses but no variable
/// defines is an error (a typo must not render as an empty string).
/// Throws invalid_argument naming the template, the line and the problem.
std::string render_dockerfile(std::string_view text, std::string_view name, const template_inputs& inputs);

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

/// A mustache context that remembers the names it could not resolve.
class strict_context : public kainjow::mustache::basic_context<std::string> {
public:
    explicit strict_context(const kainjow::mustache::data* root) : inner_(root) {}
    void push(const kainjow::mustache::data* d) override { inner_.push(d); }
    void pop() override { inner_.pop(); }
    const kainjow::mustache::data* get(const std::string& n) const override {
        const auto* v = inner_.get(n);
        if (!v) missing.insert(n);
        return v;
    }
    const kainjow::mustache::data* get_partial(const std::string& n) const override {
        missing_partials.insert(n);
        return nullptr;
    }
    mutable std::set<std::string> missing;
    mutable std::set<std::string> missing_partials;

private:
    kainjow::mustache::context<std::string> inner_;
};

inline std::string line_and_column(std::string_view text, std::size_t offset) {
    offset = std::min(offset, text.size());
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
    }
    return fmt::format("line {}, column {}", line, col);
}

// kainjow reports "... at N" with N an offset into the template.
inline std::string explain_mustache_error(std::string_view text, const std::string& message) {
    std::string what = message;
    std::string where;
    if (const auto at = message.rfind(" at "); at != std::string::npos) {
        std::size_t offset = 0;
        const char* b = message.data() + at + 4;
        const char* e = message.data() + message.size();
        if (auto [p, ec] = std::from_chars(b, e, offset); ec == std::errc() && p == e) {
            what = message.substr(0, at);
            where = line_and_column(text, offset) + ": ";
        }
    }
    if (!what.empty()) what[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(what[0])));
    return where + what;
}

inline std::size_t find_tag_line(std::string_view text, std::string_view name) {
    // The first line mentioning {{name}}, {{#name}}, {{^name}} or {{&name}}: for messages only.
    std::size_t pos = 0, line = 1;
    while (pos < text.size()) {
        const auto open = text.find("{{", pos);
        if (open == std::string_view::npos) break;
        const auto close = text.find("}}", open + 2);
        if (close == std::string_view::npos) break;
        std::string_view tag = text.substr(open + 2, close - open - 2);
        while (!tag.empty() && (tag[0] == '#' || tag[0] == '^' || tag[0] == '&' || tag[0] == '/' || tag[0] == '{' ||
                                tag[0] == ' '))
            tag.remove_prefix(1);
        while (!tag.empty() && (tag.back() == ' ' || tag.back() == '}')) tag.remove_suffix(1);
        if (tag == name) {
            for (std::size_t i = 0; i < open; ++i) line += text[i] == '\n';
            return line;
        }
        pos = close + 2;
    }
    return 0;
}

inline bool valid_variable_name(std::string_view n) {
    if (n.empty() || !(std::isalpha(static_cast<unsigned char>(n[0])) || n[0] == '_')) return false;
    for (char c : n)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
    return true;
}

}  // namespace detail

namespace detail {

inline kainjow::mustache::data template_data(const template_inputs& in) {
    namespace mu = kainjow::mustache;
    mu::data d{mu::data::type::object};
    d.set("base_image", in.base_image);
    d.set("build_from", std::string(to_string(in.plan)));
    d.set("build_from_scratch", in.plan == plan_kind::scratch);
    d.set("build_from_versioned", in.plan == plan_kind::versioned);
    d.set("build_from_lock", in.plan == plan_kind::lock);
    // An empty string is "true" in mustache; extra_deps must be false when there are none.
    if (in.extra_deps.empty()) d.set("extra_deps", false);
    else d.set("extra_deps", in.extra_deps);
    mu::data locks{mu::data::type::list};
    for (const auto& l : in.lock_files) {
        mu::data item{mu::data::type::object};
        item.set("name", l);
        item.set("path", in.lock_dir + "/" + l);
        locks.push_back(item);
    }
    d.set("lock_files", locks);
    d.set("has_lock_files", !in.lock_files.empty());
    d.set("source_dir", in.source_dir);
    d.set("lock_dir", in.lock_dir);
    if (in.runtime_version.empty()) d.set("runtime_version", false);
    else d.set("runtime_version", in.runtime_version);
    for (const auto& [k, v] : in.vars) {
        if (builtin_template_variables().count(k))
            throw error(errc::invalid_argument,
                        fmt::format("template variable {} is set by rtb and cannot be overridden", printable(k)));
        if (!valid_variable_name(k))
            throw error(errc::invalid_argument,
                        fmt::format("template variable name {} is not a name (letters, digits, '_')", printable(k)));
        d.set(k, v);
    }
    return d;
}

}  // namespace detail

inline std::string render_dockerfile(std::string_view text, std::string_view name, const template_inputs& in) {
    namespace mu = kainjow::mustache;
    const std::string tname = std::string(name.empty() ? "(template)" : name);
    if (in.plan == plan_kind::reuse)
        throw error(errc::invalid_argument, "the reuse plan builds nothing: there is no Dockerfile to render");
    if (text.size() > (std::size_t{1} << 20))
        throw error(errc::invalid_argument,
                    fmt::format("template {}: {} bytes; a Dockerfile template is limited to 1 MiB", tname, text.size()));
    mu::mustache tmpl{std::string(text)};
    if (!tmpl.is_valid())
        throw error(errc::invalid_argument,
                    fmt::format("template {}: {}", tname, detail::explain_mustache_error(text, tmpl.error_message())));
    tmpl.set_custom_escape([](const std::string& s) { return s; });  // a Dockerfile is not HTML

    std::set<std::string> missing, missing_partials;
    auto render = [&](const template_inputs& inputs) {
        const mu::data d = detail::template_data(inputs);
        detail::strict_context ctx(&d);
        std::string out = tmpl.render(ctx);
        if (!tmpl.is_valid())
            throw error(errc::invalid_argument, fmt::format("template {}: {}", tname,
                                                            detail::explain_mustache_error(text, tmpl.error_message())));
        missing.insert(ctx.missing.begin(), ctx.missing.end());
        missing_partials.insert(ctx.missing_partials.begin(), ctx.missing_partials.end());
        return out;
    };
    std::string out = render(in);
    // Also render the other plans, with and without extra_deps, so a typo in
    // a section this build skips is caught now rather than on another build.
    for (const auto plan : {plan_kind::scratch, plan_kind::versioned, plan_kind::lock}) {
        for (const bool extra : {false, true}) {
            template_inputs probe = in;
            probe.plan = plan;
            probe.extra_deps = extra ? (in.extra_deps.empty() ? std::string("true") : in.extra_deps) : std::string();
            if (probe.lock_files.empty()) probe.lock_files.push_back("example.lock");
            render(probe);
        }
    }
    for (const auto& m : missing) {
        const auto line = detail::find_tag_line(text, m);
        throw error(errc::invalid_argument,
                    fmt::format("template {}: {}unknown variable {} (rtb defines base_image, build_from, "
                                "build_from_scratch, build_from_versioned, build_from_lock, extra_deps, lock_files "
                                "(name, path), has_lock_files, source_dir, lock_dir, runtime_version; add your own "
                                "with --var NAME=VALUE)",
                                tname, line ? fmt::format("line {}: ", line) : std::string(), detail::printable(m)));
    }
    for (const auto& m : missing_partials)
        throw error(errc::invalid_argument,
                    fmt::format("template {}: partials are not supported ({{{{>{}}}}})", tname, m));
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
    for (const auto& [k, v] : labels) {
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
