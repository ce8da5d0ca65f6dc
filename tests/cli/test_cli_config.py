#!/usr/bin/python3
"""Configuration, hooks, statistics and the storage check through the rtb
program, on the real dockerd (through `scripts/engines run`):

- precedence file < RTB_* variables < flags, shown by `rtb config show`
  with each value's source, secrets masked; `rtb config check` naming the
  file, line, key and what is allowed;
- a build driven by a configuration file with pre-build, post-build and
  on-error hook commands (argv, JSON on stdin): their order and data, a label
  a pre-build hook adds, a veto that builds nothing, the on-error log tail;
- `--json` statistics (phases, bytes sent, cache hit);
- low disk: the cache directory on a small tmpfs, and an engine threshold no
  disk meets, both failing before the build with the numbers;
- `rtb doctor --config`: the same configuration, its problems a finding;
- runtime_image: used as it is, nothing built."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from support import Checks, engine_call, need, rtb  # noqa: E402

c = Checks()
host = need("RTB_DOCKER_HOST")
base = need("RTB_TEST_BASE_IMAGE")
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
run_id = os.getpid()
repo = f"local/rtb-cli-config-{run_id}"

# rtb reads RTB_* configuration variables: the test decides every one.
clean_env = {k: v for k, v in os.environ.items() if not k.startswith("RTB_") or k in ("RTB_CACHE_DIR",)}
clean_env.pop("RTB_API_KEY", None)


def env(**extra):
    e = dict(clean_env)
    e.update(extra)
    return e


def inspect(image):
    status, body = engine_call(host, "GET", f"/images/{image}/json")
    return json.loads(body) if status == 200 else None


tmp = tempfile.mkdtemp(prefix="rtb-cli-config-")
small = os.path.join(tmp, "small")
mounted = False
try:
    src = os.path.join(tmp, "src")
    shutil.copytree(os.path.join(root, "examples", "runtime", "src"), src)
    lock = os.path.join(tmp, "deps.lock")
    shutil.copy(os.path.join(root, "examples", "runtime", "deps.lock"), lock)

    # ------------------------------------------------------------ precedence and show
    cfg = os.path.join(tmp, "rtb.toml")
    with open(cfg, "w") as f:
        f.write('base_image = "local/from-file:1"\ntimeout = "45m"\nworkers = 3\nplatform = "linux/amd64"\n'
                '[storage]\nengine_min_free = "2GiB"\n')
    keyfile = os.path.join(tmp, "key")
    with open(keyfile, "w") as f:
        f.write("k3y-that-must-not-show\n")
    status, out, err = rtb("config", "show", "--json", "--config", cfg, "--platform", "linux/arm64",
                           env=env(RTB_TIMEOUT="2h", RTB_WORKERS="5", RTB_API_KEY_FILE=keyfile))
    c.equal(status, 0, f"config show exits 0 ({err.strip()})")
    shown = json.loads(out) if status == 0 else {}

    def value(key):
        return (shown.get(key) or {}).get("value"), (shown.get(key) or {}).get("source")

    c.equal(value("base_image"), ("'local/from-file:1'", "file"), "base_image from the file")
    c.equal(shown.get("base_image", {}).get("where"), f"{cfg}:1:14", "the file's line and column")
    c.equal(value("timeout"), ("2h", "env"), "RTB_TIMEOUT overrides the file")
    c.equal(value("workers"), ("5", "env"), "RTB_WORKERS overrides the file")
    c.equal(value("platform"), ("'linux/arm64'", "flag"), "a flag overrides the file")
    c.equal(value("storage.engine_min_free"), ("2.0 GiB", "file"), "a [storage] key")
    c.equal(value("transport"), ("docker", "default"), "an unset key has its default")
    c.equal(value("api_key"), ("********", "env"), "the key from RTB_API_KEY_FILE is masked")
    c.check("k3y-that-must-not-show" not in out + err, "the key's text appears nowhere")
    status, out, err = rtb("config", "show", "--config", cfg, env=env(RTB_API_KEY="env-k3y-hidden"))
    c.check(status == 0 and "# file " + cfg + ":2:11" in out and "env-k3y-hidden" not in out,
            f"text form names the file:line; the key is masked: {out[:400]!r}")

    bad = os.path.join(tmp, "bad.toml")
    with open(bad, "w") as f:
        f.write('timeout = "soon"\n[hooks]\npre_build = "/bin/check --all"\nworkers = 0\n')
    status, out, err = rtb("config", "check", "--config", bad, env=env())
    c.check(status == 2 and f"{bad}:1:11: timeout is 'soon'" in err and "hooks.pre_build is a string, not a list" in err
            and "hooks.workers" in err and "3 problems" in err, f"config check lists every problem: {status} {err!r}")
    status, out, err = rtb("build", "--source", src, "--config", bad, "-H", host, env=env())
    c.check(status == 2 and "timeout is 'soon'" in err, f"rtb build refuses a bad configuration: {status} {err!r}")
    status, out, err = rtb("config", "check", "--config", os.path.join(tmp, "missing.toml"), env=env())
    c.check(status == 2 and "missing.toml" in err, f"a missing named file is an error: {err!r}")
    status, out, err = rtb("config", "check", env=env(RTB_TIMEOUT="whenever"))
    c.check(status == 2 and "env RTB_TIMEOUT: timeout is 'whenever'" in err, f"a bad variable is named: {err!r}")

    # ------------------------------------------------------------ a configured build with hooks
    seen = {name: os.path.join(tmp, f"{name}.json") for name in ("pre", "post", "error")}
    order = os.path.join(tmp, "order.txt")
    hook = os.path.join(tmp, "hook.sh")
    with open(hook, "w") as f:
        f.write('#!/bin/sh\n# $1: which hook; $2: where its stdin goes\n'
                'cat > "$2"\necho "$1" >> "' + order + '"\n'
                'if [ "$1" = pre ] && [ -e "' + tmp + '/veto" ]; then echo "no builds on sunday" >&2; exit 1; fi\n'
                'if [ "$1" = pre ]; then echo \'{"labels": {"org.example.hook": "pre-build"}}\'; fi\n')
    os.chmod(hook, 0o755)
    good = os.path.join(tmp, "good.toml")
    with open(good, "w") as f:
        f.write(f'base_image = "{base}"\nruntime_repository = "{repo}"\ntransport = "docker"\nhost = "{host}"\n'
                f'timeout = "10m"\n[build_args]\nRTB_TEST_ARG = "from-config"\n'
                f'[hooks]\npre_build = ["{hook}", "pre", "{seen["pre"]}"]\n'
                f'post_build = ["{hook}", "post", "{seen["post"]}"]\n'
                f'on_error = ["{hook}", "error", "{seen["error"]}"]\n')

    def build(*extra, e=None):
        if os.path.exists(order):
            os.remove(order)
        for p in seen.values():
            if os.path.exists(p):
                os.remove(p)
        return rtb("build", "--source", src, "--lock", lock, "--config", good, "--json", "-q", *extra,
                   env=e or env())

    def hooks_run():
        return open(order).read().split() if os.path.exists(order) else []

    def hook_input(name):
        with open(seen[name]) as f:
            return json.load(f)

    status, out, err = build()
    c.equal(status, 0, f"configured build exits 0 ({err[-500:]})")
    r = json.loads(out.strip().splitlines()[-1]) if status == 0 else {}
    image = r.get("image", "")
    c.check(image.startswith(repo + ":"), f"runtime_repository from the file names the image: {image}")
    c.equal(r.get("plan"), "scratch", "first build: scratch")
    c.equal(hooks_run(), ["pre", "post"], "hooks ran in order: pre-build, post-build")
    c.equal(r.get("cache_hit"), False, "--json: cache miss")
    c.check(r.get("bytes_sent", 0) > 1024, f"--json: context bytes sent: {r.get('bytes_sent')}")
    c.check(r.get("context_entries", 0) > 0, "--json: context entries")
    phases = r.get("phases", {})
    c.check(set(phases) == {"hash", "plan", "context", "build", "total"} and phases["build"] > 0
            and phases["total"] >= phases["build"], f"--json: per-phase seconds: {phases}")
    c.check("rtb: phases: hash" in err, "stderr has the phases line")
    if status == 0:
        pre, post = hook_input("pre"), hook_input("post")
        c.equal((pre.get("hook"), pre.get("plan"), pre.get("image"), pre.get("base_image")),
                ("pre_build", "scratch", image, base), "the pre-build hook's JSON")
        c.equal((post.get("hook"), post.get("image_id"), post.get("cache_hit")),
                ("post_build", r.get("image_id"), False), "the post-build hook's JSON")
        c.equal(post.get("bytes_sent"), r.get("bytes_sent"), "post-build sees the bytes sent")
        info = inspect(image) or {}
        labels = (info.get("Config") or {}).get("Labels") or {}
        c.equal(labels.get("org.example.hook"), "pre-build", "the label the pre-build hook added")
        c.equal(labels.get("rtb.plan"), "scratch", "rtb's own labels stay")

    # The same inputs again: reused, no pre-build hook, post-build says cache hit.
    status, out, err = build()
    r2 = json.loads(out.strip().splitlines()[-1]) if status == 0 else {}
    c.equal((status, r2.get("plan"), r2.get("cache_hit"), r2.get("bytes_sent")), (0, "reuse", True, 0),
            "second build: reuse, cache hit, nothing sent")
    c.equal(hooks_run(), ["post"], "a reuse runs only the post-build hook")
    if status == 0:
        c.equal(hook_input("post").get("cache_hit"), True, "post-build sees the cache hit")

    # A build argument from a flag joins the file's (and changes the image).
    status, out, err = build("--build-arg", "OTHER=1", "--dry-run")
    r3 = json.loads(out.strip().splitlines()[-1]) if status == 0 else {}
    c.check(status == 0 and r3.get("image") != image, f"a flag's build arg changes the tags: {status} {err[-300:]}")

    # A veto: exit 1, the hook's reason, nothing built.
    with open(os.path.join(src, "vetoed.txt"), "w") as f:
        f.write("changes the source tag\n")
    open(os.path.join(tmp, "veto"), "w").close()
    status, out, err = build()
    c.check(status == 1 and "vetoed" in err and "no builds on sunday" in err, f"a vetoed build exits 1 with the reason: {status} {err[-500:]!r}")
    c.equal(hooks_run(), ["pre", "error"], "a veto runs pre-build, then on-error")
    status_d, out_d, _ = rtb("build", "--source", src, "--lock", lock, "--config", good, "--dry-run", "-q", env=env())
    vetoed_image = out_d.strip().splitlines()[-1] if status_d == 0 else ""
    c.check(vetoed_image and inspect(vetoed_image) is None, f"the vetoed image was not built: {vetoed_image}")
    if os.path.exists(seen["error"]):
        c.equal(hook_input("error").get("error", {}).get("code"), "vetoed", "on-error sees the veto")
    os.remove(os.path.join(tmp, "veto"))

    # A failing build: exit 1; the on-error hook gets the error and the log's tail.
    with open(lock, "a") as f:
        f.write("no-such-applet-for-hooks\n")
    status, out, err = build()
    c.check(status == 1, f"a failing build exits 1: {status}")
    c.equal(hooks_run(), ["pre", "error"], "a failing build runs pre-build, then on-error")
    if os.path.exists(seen["error"]):
        e = hook_input("error")
        c.equal(e.get("error", {}).get("code"), "build_failed", "on-error: the code")
        c.check(any("no-such-applet-for-hooks" in line for line in e.get("log_tail", [])),
                f"on-error: the log's tail names the failure: {e.get('log_tail')}")
    shutil.copy(os.path.join(root, "examples", "runtime", "deps.lock"), lock)

    # ------------------------------------------------------------ storage: a small filesystem and a threshold
    os.makedirs(small)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", small], check=True)
    mounted = True
    with open(os.path.join(small, "filler"), "wb") as f:
        f.write(b"\0" * (6 << 20))
    with open(os.path.join(src, "storage.txt"), "w") as f:
        f.write("another source tag\n")
    low = env(RTB_CACHE_DIR=small, RTB_STORAGE_CACHE_MIN_FREE="4MiB")
    status, out, err = build(e=low)
    c.check(status == 2 and "not enough free space" in err and small in err and "below the 4.0 MiB wanted" in err,
            f"a full cache filesystem stops the build first: {status} {err[-500:]!r}")
    c.equal(hooks_run(), ["pre", "error"], "on-error sees the storage failure")
    status_d, out_d, _ = rtb("build", "--source", src, "--lock", lock, "--config", good, "--dry-run", "-q", env=low)
    low_image = out_d.strip().splitlines()[-1] if status_d == 0 else ""
    c.check(low_image and inspect(low_image) is None, f"nothing was built: {low_image}")
    os.remove(os.path.join(small, "filler"))
    status, out, err = build(e=low)
    c.check(status == 0, f"with the space back, the build runs: {status} {err[-300:]}")
    status, out, err = build("--force", e=env(RTB_STORAGE_ENGINE_MIN_FREE="1EiB"))
    c.check(status == 2 and "the engine's data root" in err and "wanted" in err,
            f"an engine threshold no disk meets fails early, naming the data root: {status} {err[-400:]!r}")

    # ------------------------------------------------------------ rtb doctor reads the same configuration
    status, out, err = rtb("doctor", "--config", good, env=env())
    c.check(status == 0 and "engine: Docker Engine" in out and "configuration" in out,
            f"rtb doctor --config: ready with the configured engine: {status} {out[-600:]!r} {err!r}")
    status, out, err = rtb("doctor", "--config", bad, "-H", host, env=env())
    c.check(status == 1 and "FAILED  configuration" in out and "timeout is 'soon'" in out
            and "engine: Docker Engine" in out,
            f"rtb doctor names a bad configuration, and still checks the engine: {status} {out[-800:]!r}")
    status, out, err = rtb("doctor", "--config", good, "--json", env=env(RTB_STORAGE_ENGINE_MIN_FREE="1EiB"))
    report = json.loads(out) if out.strip().startswith("{") else {}
    space = [x for x in report.get("checks", []) if x.get("name") == "disk space (engine)"]
    c.check(status == 1 and report.get("ready") is False and space and space[0].get("status") == "failed",
            f"rtb doctor applies the configured threshold: {status} {space}")

    # ------------------------------------------------------------ runtime_image: used as it is
    status, out, err = rtb("build", "--source", src, "--config", good, "--runtime-image", "local/prebuilt:7", env=env())
    c.check(status == 0 and out.strip().splitlines()[-1] == "local/prebuilt:7" and "nothing is built" in err,
            f"--runtime-image is used as it is: {status} {out!r} {err!r}")
    status, out, err = rtb("build", "--source", src, "--config", good, "--runtime-image", "local/prebuilt:7", "--json",
                           env=env())
    r = json.loads(out.strip().splitlines()[-1]) if status == 0 else {}
    c.equal((r.get("image"), r.get("plan"), r.get("override"), r.get("cache_hit"), r.get("bytes_sent")),
            ("local/prebuilt:7", "reuse", True, True, 0), "--runtime-image --json: a build's object, marked override")
finally:
    if mounted:
        subprocess.run(["umount", small])
    # Our images, tagged or left dangling by the failed build's steps.
    status, body = engine_call(host, "GET", "/images/json?all=1")
    for img in json.loads(body) if status == 200 else []:
        if any(repo in t for t in img.get("RepoTags") or []):
            engine_call(host, "DELETE", f"/images/{img['Id']}?force=1")
    shutil.rmtree(tmp, ignore_errors=True)

c.done()
