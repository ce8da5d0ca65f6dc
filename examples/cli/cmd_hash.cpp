// rtb hash: the Dirhash of a tree, or rtb's fast tree digest.
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "rtb/context/dockerignore.hpp"
#include "rtb/hash/dirhash.hpp"
#include "rtb/hash/tree_digest.hpp"
#include "rtb/text.hpp"

namespace rtb::cli {

void add_hash(CLI::App& command, action& run) {
    struct options {
        std::string dir;
        bool dirhash = false;
        std::string algorithm;
        std::vector<std::string> ignore;
        unsigned jobs = 0;
        bool no_stat_cache = false;
    };
    auto o = std::make_shared<options>();
    auto* cmd = &command;
    cmd->add_option("DIR", o->dir, "The directory to hash")->required();
    cmd->add_flag("--dirhash", o->dirhash,
                  "The Dirhash Standard 0.1 (name+data, symlinks followed), identical to dirhash-python");
    cmd->add_option("--algorithm", o->algorithm, "xxh3 (fast digest default), md5 (--dirhash default), sha256, ...");
    one_value_each(cmd->add_option("--ignore", o->ignore,
                                   "A pattern to leave out (repeatable): gitignore-style with --dirhash, else "
                                   ".dockerignore syntax applied after DIR/.dockerignore"));
    cmd->add_option("--jobs,-j", o->jobs, "Threads to hash with (default: every core)");
    cmd->add_flag("--no-stat-cache", o->no_stat_cache, "Read every file even if the stat cache knows it");
    cmd->callback([o, &run] {
        run = [o] {
            const auto algorithm =
                parse_hash_algorithm(o->algorithm.empty() ? (o->dirhash ? "md5" : "xxh3") : o->algorithm);
            std::optional<stat_cache> cache;
            digest d;
            if (o->dirhash) {
                if (algorithm == hash_algorithm::xxh3_128)
                    throw error(errc::invalid_argument,
                                "the Dirhash Standard has no xxh3: use --algorithm md5, sha1, sha224, sha256, sha384 "
                                "or sha512");
                dirhash_options opt;
                opt.algorithm = algorithm;
                opt.ignore = o->ignore;
                opt.jobs = o->jobs;
                if (!o->no_stat_cache) {
                    const auto scope = dirhash_scope(o->dir, algorithm);
                    opt.cache = &cache.emplace(stat_cache::default_file(scope), scope);
                }
                d = dirhash(o->dir, opt);
            } else {
                tree_digest_options opt;
                opt.algorithm = algorithm;
                opt.jobs = o->jobs;
                opt.on_skip = [](std::string_view path, std::string_view why) {
                    print_error(fmt::format("warning: skipping {} ({})", printable(path), why));
                };
                if (!o->no_stat_cache) {
                    const auto scope = tree_digest_scope(o->dir, algorithm);
                    opt.cache = &cache.emplace(stat_cache::default_file(scope), scope);
                }
                // exactly what a build of DIR sends: its .dockerignore, then --ignore
                dockerignore_options ign;
                ign.extra_patterns = o->ignore;
                d = tree_digest(o->dir, dockerignore::for_context(o->dir, ign), opt);
            }
            if (cache) {
                try {
                    cache->save();
                } catch (const error& e) {
                    print_error(fmt::format("warning: stat cache not saved: {}", e.what()));
                }
            }
            fmt::print("{}\n", d.hex());
            return ok;
        };
    });
}

}  // namespace rtb::cli
