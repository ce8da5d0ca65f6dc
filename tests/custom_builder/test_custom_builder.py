"""examples/custom_builder against the test dockerd (scripts/engines run):
a builder assembled from a user Logger and a user Transport decorator builds
the sample runtime from scratch, then reuses it; the decorator saw exactly
one build. The images it made are removed at the end, whatever happened."""
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cli"))
from support import Checks, engine_call  # noqa: E402

EXE = os.environ["CUSTOM_BUILDER"]
HOST = os.environ["RTB_DOCKER_HOST"]
BASE = os.environ["RTB_TEST_BASE_IMAGE"]
RUNTIME = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "runtime")
REPO = f"local/rtb-custom-example-{os.getpid()}"  # this run's own repository

c = Checks()


def engine(method, target):
    return engine_call(HOST, method, target)


def our_tags():
    filters = urllib.parse.quote(json.dumps({"reference": [REPO]}))
    status, body = engine("GET", f"/images/json?filters={filters}")
    assert status == 200, body
    return sorted(t for image in json.loads(body) for t in image.get("RepoTags") or [] if t.startswith(REPO + ":"))


def remove_ours():
    for tag in our_tags():
        engine("DELETE", f"/images/{urllib.parse.quote(tag, safe='')}?force=1")


def run(*args, env):
    p = subprocess.run([EXE, *args], capture_output=True, env=env, timeout=600)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


try:
    c.equal(our_tags(), [], "the repository is new")
    with tempfile.TemporaryDirectory(prefix="rtb-custom-builder-") as cache:
        env = dict(os.environ, DOCKER_HOST=HOST, RTB_CACHE_DIR=cache)  # the lock files go to the temp folder

        code, out, err = run("--source", os.path.join(RUNTIME, "src"), "--base-image", BASE,
                             "--lock", os.path.join(RUNTIME, "deps.lock"), "--runtime-repo", REPO, env=env)
        print(out)
        print(err, file=sys.stderr)
        c.equal(code, 0, "exit status")
        lines = out.splitlines()
        first = [l for l in lines if l.startswith("build 1: ")]
        second = [l for l in lines if l.startswith("build 2: ")]
        c.check(len(first) == 1 and first[0].startswith(f"build 1: plan scratch -> {REPO}:rtb_v"),
                f"the first build is a scratch build: {first}")
        image = first[0].split(" -> ")[1].split(" ")[0] if first else ""
        c.equal(second, [f"build 2: plan reuse -> {image}"], "the second build reuses the first's image")

        # What the user Logger collected, in the user's vector.
        c.check(f"  [info] plan: scratch (from {BASE})" in lines, "the logger got the plan message")
        c.check(f"  [info] reusing {image} (found in the engine)" in lines, "the logger got the reuse message, saying where")
        c.check(any(l.startswith("  [event] step [1/") for l in lines), "the logger got the build's steps")
        c.check(not any(l.startswith("  [event] log ") for l in lines), "the logger dropped the build's output lines")

        # What the Transport decorator recorded.
        marker = next((i for i, l in enumerate(lines) if l.startswith("transport received")), None)
        calls = lines[marker + 1:] if marker is not None else []
        # Before the build, the builder described the images its tags named
        # (none yet: nothing to remove afterwards).
        described = [l for l in calls if l.startswith("  describe_image ")]
        c.check(len(described) == 3 and all(l.endswith("-> none") for l in described),
                f"the builder looked for images the build would take names from: {described}")
        calls = [l for l in calls if not l.startswith("  describe_image ")]
        c.check(bool(calls) and calls[0].startswith("  info -> Docker Engine"), f"info went through the decorator: {calls[:1]}")
        builds = [l for l in calls if l.startswith("  build ")]
        c.equal(len(builds), 1, "the decorator saw exactly one build")
        built_id = first[0].rsplit("(", 1)[-1].rstrip(")") if first else "?"
        c.check(built_id.startswith("sha256:") and bool(builds) and builds[0].endswith(f"-> {built_id}"),
                f"the recorded build returned the image id: {builds}")
        c.check(bool(builds) and builds[0].startswith(f"  build {image} "), "the build applied the source tag first")
        exists = [l for l in calls if l.startswith("  image_exists ")]
        c.check(len(exists) >= 2 and exists[0] == f"  image_exists {image} (local) -> false",
                f"the first lookup found nothing: {exists[:1]}")
        c.equal(exists[-1:], [f"  image_exists {image} (local) -> true"], "the last lookup (the reuse) found it")
        c.check(bool(builds and exists) and calls.index(builds[0]) < len(calls) - 1 and calls[-1] == exists[-1],
                "the reuse lookup came after the build, and last")
        c.check(bool(calls) and all(" -> " in l and "-> error:" not in l for l in calls), "no call failed")

        # The engine agrees: the three tags point at the built image.
        status, body = engine("GET", f"/images/{urllib.parse.quote(image, safe='')}/json")
        c.equal(status, 200, "the image exists on the engine")
        if status == 200:
            info = json.loads(body)
            c.equal(info["Id"], built_id, "the engine's image id is the recorded one")
            c.equal(info["Config"]["Labels"].get("rtb.plan"), "scratch", "the image's plan label")
        c.equal(len(our_tags()), 3, "a scratch build applies three tags")

        # The decorator forwards the capabilities its docker_engine has: the
        # builder still checks the engine's data root for free space (here a
        # threshold no disk meets: the build stops before it starts).
        code, out, err = run("--source", os.path.join(RUNTIME, "src"), "--base-image", BASE,
                             "--lock", os.path.join(RUNTIME, "deps.lock"), "--runtime-repo", REPO + "-full",
                             "--engine-min-free", str(1 << 60), env=env)
        c.equal(code, 1, f"a data root short of space stops the build ({err[-300:]!r})")
        c.check("the engine's data root" in err, f"the error names the engine's data root: {err[-300:]!r}")
        c.check(any(l.startswith("  data_root -> /") for l in out.splitlines()),
                f"the builder asked the decorated engine for its data root: {out[-600:]!r}")
        c.check(not any(l.startswith("  build ") for l in out.splitlines()), "nothing was built")

        # Usage errors say so with status 2, before any engine is asked.
        code, out, err = run("--source", os.path.join(RUNTIME, "src"), env=env)
        c.equal(code, 2, "a missing --base-image is a usage error")
        c.check(err.startswith("usage: "), f"usage is printed: {err!r}")
finally:
    remove_ours()
    c.equal(our_tags(), [], "no image of this run is left")

c.done()
