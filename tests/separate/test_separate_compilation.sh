#!/usr/bin/env bash
# rtb compiled separately (meson's separate_compilation option), as a user's
# project gets it: examples/downstream with rtb as a subproject and
# -Drtb:separate_compilation=true, plus a unit that uses rtb::docker_builder
# (benchmarks/compile/docker_builder_tu.cpp). Checks that
#   - the subproject builds librtb and the programs link against it (a
#     function declared for separate compilation and defined nowhere, or a
#     builder alias not instantiated in rtb/src.hpp, fails the link);
#   - the downstream program prints what the header-only build prints;
#   - the user's units define none of what librtb defines (the Jinja2
#     renderer's entry points, the builder's member functions): one
#     definition, in librtb, and no unit compiles it again;
#   - a unit using docker_builder reads none of the heavy headers librtb
#     compiled (the build flow, libcurl, simdjson, OpenSSL, the hashing);
#   - a unit including rtb/builder.hpp reads the build context's
#     declaration, not its assembly (template engine, .dockerignore, tree walk);
#   - a unit that picks its policies at run time (tests/separate/
#     run_time_choice.cpp) links, runs, and compiles none of the stock
#     policies' type-erasing wrappers (librtb does), nor reads the context
#     packer, the progress parser or the registry client.
# Everything happens in a temporary folder, removed on every path.
set -euo pipefail

src=${RTB_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$src/tests/support/script_checks.sh" rtb-separate
quiet() {  # quiet LOG COMMAND...: on failure shows the output and stops
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "FAIL: $*" >&2
    exit 1
  fi
}

project=$tmp/downstream
cp -r "$src/examples/downstream" "$project"
mkdir -p "$project/subprojects"
ln -s "$src" "$project/subprojects/rtb"
cp "$src/benchmarks/compile/docker_builder_tu.cpp" "$src/tests/separate/run_time_choice.cpp" "$project/"
cat >>"$project/meson.build" <<'MESON'

# Added by the test: a unit that uses the builder alias librtb instantiates,
# and one that picks its policies at run time.
executable('docker_builder_tu', 'docker_builder_tu.cpp', dependencies : rtb_dep)
executable('run_time_choice', 'run_time_choice.cpp', dependencies : rtb_dep)
MESON

echo "== meson, rtb as a subproject, -Drtb:separate_compilation=true"
quiet "$tmp/setup.log" env -u PKG_CONFIG_PATH \
  meson setup "$project/build" "$project" --wrap-mode=nofallback --force-fallback-for=rtb \
  -Drtb:separate_compilation=true
check "meson took rtb from the subproject" grep -q "Executing subproject rtb" "$tmp/setup.log"
check "the subproject builds one target, librtb" grep -q "rtb| Build targets in project: 1" "$tmp/setup.log"
quiet "$tmp/build.log" ninja -C "$project/build" -j "${RTB_SEPARATE_JOBS:-2}"

lib=$(find "$project/build/subprojects" -name librtb.a -print -quit)
check "librtb.a was built" test -n "$lib"
flags=$(grep -o -- '-DRTB_SEPARATE_COMPILATION' "$project/build/compile_commands.json" | sort -u)
check "the units are compiled with RTB_SEPARATE_COMPILATION" test "$flags" = -DRTB_SEPARATE_COMPILATION

echo "== the downstream program"
tree=$tmp/tree
mkdir -p "$tree/sub"
echo 'print("hello")' >"$tree/app.py"
echo 'data' >"$tree/sub/data.txt"
echo 'not sent' >"$tree/notes.txt"
printf 'notes.txt\n' >"$tree/.dockerignore"
if "$project/build/rtb_downstream" "$tree" >"$tmp/out" 2>"$tmp/err"; then
  sed 's/^/  | /' "$tmp/out"
  check "md5(hello)" grep -qx "md5(hello) 5d41402abc4b2a76b9719d911017c592" "$tmp/out"
  check "plan scratch from the base image" grep -qx "plan scratch from python:3.12-slim" "$tmp/out"
  check "a scratch plan applies three tags" test "$(grep -c '^tag local/downstream:rtb_v0.1.0_' "$tmp/out")" = 3
  check "the context is what .dockerignore lets through" \
    test "$(grep '^context ' "$tmp/out")" = "$(printf 'context .dockerignore\ncontext app.py\ncontext sub/data.txt')"
else
  echo "FAIL: rtb_downstream exited with $?" >&2
  cat "$tmp/err" >&2
  failures=$((failures + 1))
fi

echo "== policies chosen at run time"
for choice in "engine openhands layers" "podman content local" "cli openhands registry" "remote content layers"; do
  # shellcheck disable=SC2086 # the words are the arguments
  if "$project/build/run_time_choice" $choice "$tmp/cache" >"$tmp/choice" 2>&1; then
    check "run_time_choice $choice: the builder is made" grep -qx "builder ready" "$tmp/choice"
  else
    sed 's/^/  | /' "$tmp/choice"
    check "run_time_choice $choice exits 0" false
  fi
done
check "docker_cli answers through its wrapper: it publishes, under the name asked" \
  bash -c "'$project/build/run_time_choice' cli content layers '$tmp/cache' | tr '\n' ' ' | grep -qx 'publishes yes stored as docker.io/local/runtime:tag1 builder ready '"

echo "== one definition, in librtb"
# Defined in librtb, strongly (T): the non-template functions compiled once.
nm --defined-only "$lib" | awk '$2 == "T" { print $3 }' | sort -u >"$tmp/lib-strong"
check "librtb defines the Jinja2 renderer's entry points" \
  grep -q '^_ZN3rtb5jinja17compiled_template7compile' "$tmp/lib-strong"
nm --defined-only "$lib" | awk '{ print $3 }' | c++filt | sort -u >"$tmp/lib-all"
check "librtb instantiates docker_builder's build_runtime_image" \
  grep -q '^rtb::basic_builder<rtb::docker_engine, .*, rtb::openhands_tags, rtb::stderr_logger>::build_runtime_image(' "$tmp/lib-all"
check "librtb instantiates any_builder's build_runtime_image" \
  grep -q '^rtb::basic_builder<rtb::any_transport, rtb::any_cache_policy, .*>::build_runtime_image(' "$tmp/lib-all"
for policy in 'rtb::docker_cli' 'rtb::docker_engine' 'rtb::podman_engine' 'rtb::basic_remote_api<rtb::exponential_backoff>' \
              'rtb::engine_layer_cache' 'rtb::no_build_cache' 'rtb::cache_chain' 'rtb::buildx_local_cache' \
              'rtb::registry_cache' 'rtb::openhands_tags' 'rtb::content_tags'; do
  check "librtb compiles the type-erasing wrapper around $policy" \
    grep -qF "rtb::any_$(case $policy in *tags) echo tag_strategy ;; *cache | *chain) echo cache_policy ;; *) echo transport ;; esac)::model<$policy" "$tmp/lib-all"
done
for obj in $(find "$project/build" -path "$project/build/subprojects" -prune -o -name '*.o' -print); do
  name=${obj#"$project/build/"}
  nm --defined-only "$obj" | awk '{ print $3 }' | sort -u >"$tmp/obj-defined"
  twice=$(comm -12 "$tmp/lib-strong" "$tmp/obj-defined" | c++filt | head -n 5)
  check "$name defines nothing librtb defines (got: $twice)" test -z "$twice"
  check "$name compiles none of the builder's member functions" \
    bash -c "! c++filt <'$tmp/obj-defined' | grep -q '^rtb::basic_builder<.*>::\\(build_runtime_image\\|plan_and_build\\)('"
  # (their constructors and destructors are inline: each unit that makes one has them)
  check "$name compiles none of the stock policies' wrappers' calls" \
    bash -c "! c++filt <'$tmp/obj-defined' | grep '^rtb::any_[a-z_]*::model<.*>::[a-z_]*(' | grep -qv '>::model('"
done

echo "== what a unit using docker_builder parses"
# Separately compiled, such a unit reads the builder's declaration and the
# policies' classes only: not the build flow, libcurl, simdjson, OpenSSL or
# the hashing and matching code, which librtb compiled.
c++ -std=c++20 -DRTB_SEPARATE_COMPILATION -I"$src/include" -H -fsyntax-only \
  "$src/benchmarks/compile/docker_builder_tu.cpp" 2>"$tmp/includes" >/dev/null
check "the unit reads rtb/basic_builder.hpp" grep -q 'rtb/basic_builder.hpp$' "$tmp/includes"
for heavy in rtb/builder.hpp rtb/context/runtime_context.hpp rtb/context/dockerignore.hpp rtb/hash/tree_walk.hpp \
             rtb/hash/dirhash.hpp curl/curl.h simdjson.h openssl/ssl.h; do
  check "the unit does not read $heavy" bash -c "! grep -q '[/ ]$heavy\$' '$tmp/includes'"
done

echo "== what a unit composing its own builder parses"
# rtb/builder.hpp, compiled separately: the flow and the build context's
# declaration; librtb assembles the context (template engine, .dockerignore,
# the tree walk and the Dirhash matcher are not parsed here).
printf '#include <rtb/builder.hpp>\n' >"$tmp/builder_tu.cpp"
c++ -std=c++20 -DRTB_SEPARATE_COMPILATION -I"$src/include" -H -fsyntax-only "$tmp/builder_tu.cpp" \
  2>"$tmp/includes" >/dev/null
check "the unit reads rtb/context/runtime_context.hpp" grep -q 'rtb/context/runtime_context.hpp$' "$tmp/includes"
for heavy in rtb/context/dockerfile_template.hpp rtb/context/jinja.hpp rtb/context/dockerignore.hpp \
             rtb/context/detail/sent_files_check.hpp rtb/hash/tree_walk.hpp rtb/hash/dirhash.hpp; do
  check "the unit does not read $heavy" bash -c "! grep -q '[/ ]$heavy\$' '$tmp/includes'"
done

echo "== what a unit choosing its policies at run time parses"
c++ -std=c++20 -DRTB_SEPARATE_COMPILATION -I"$src/include" -H -fsyntax-only \
  "$src/tests/separate/run_time_choice.cpp" 2>"$tmp/includes" >/dev/null
for heavy in rtb/builder.hpp rtb/context/directory_context.hpp rtb/context/dockerignore.hpp rtb/context/gzip_stream.hpp \
             rtb/stream/buildkit_plain.hpp rtb/transport/registry.hpp rtb/transport/detail/multipart.hpp curl/curl.h; do
  check "the unit does not read $heavy" bash -c "! grep -q '[/ ]$heavy\$' '$tmp/includes'"
done

checks_summary
