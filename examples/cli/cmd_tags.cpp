// rtb tags: the source, lock and versioned tags of a runtime image.
#include <memory>

#include "cli.hpp"
#include "runtime_options.hpp"
#include "rtb/json_text.hpp"

namespace rtb::cli {

void add_tags(CLI::App& command, action& run) {
    struct options {
        runtime_options runtime;
        bool json = false;
    };
    auto o = std::make_shared<options>();
    auto* cmd = &command;
    o->runtime.add_to(cmd, true);
    cmd->add_flag("--json", o->json, "Print a JSON object with full image names");
    cmd->callback([o, &run] {
        run = [o] {
            const auto& r = o->runtime;
            const runtime_spec spec = r.spec(r.base_image);
            const tag_set t = r.strategy == "openhands" ? r.openhands().tags(spec) : r.content().tags(spec);
            if (o->json) {
                fmt::print("{{\"strategy\":{},\"repository\":{},\"source\":{},\"lock\":{},\"versioned\":{}}}\n",
                           json_quote(o->runtime.strategy), json_quote(t.repository),
                           json_quote(t.source_image()), json_quote(t.lock_image()),
                           json_quote(t.versioned_image()));
            } else {
                fmt::print("{}\n{}\n{}\n", t.source, t.lock, t.versioned);
            }
            return ok;
        };
    });
}

}  // namespace rtb::cli
