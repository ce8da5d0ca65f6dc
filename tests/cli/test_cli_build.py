#!/usr/bin/python3
"""`rtb build` and `rtb prune` end to end on a real engine (RTB_TEST_ENGINE,
through `scripts/engines run`): the output contract (the plan on stderr, the
image as stdout's last line, --json), every plan path with the image's
content checked in a container, a failed build (exit 1, the exit code and the
log's tail), bad input (exit 2, naming what was wrong), a batch of ten base
images (docker), and prune (a dry run, then for real)."""
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import xxhash  # Debian's python3-xxhash: rtb names a build's lock file by XXH3-64 of the image

sys.path.insert(0, os.path.dirname(__file__))
from support import Checks, engine_call, need, rtb  # noqa: E402

c = Checks()



engine = need("RTB_TEST_ENGINE")
host = need("RTB_PODMAN_HOST" if engine == "podman" else "RTB_DOCKER_HOST")
base = need("RTB_TEST_BASE_IMAGE")
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
run_id = f"{engine}-{os.getpid()}"
repo = f"local/rtb-cli-build-{run_id}"
transport = ["--transport", engine, "-H", host]


def engine_get(path):
    """GET on the engine's API; (status, parsed JSON or None)."""
    status, body = engine_call(host, "GET", path)
    try:
        return status, json.loads(body) if body else None
    except ValueError:
        return status, None


def exists(image):
    return engine_get(f"/images/{image}/json")[0] == 200


def in_container(image, *cmd):
    """What `cmd` prints inside `image` (rtb run, no network)."""
    status, out, err = rtb("run", "-H", host, "--rm", image, "--", *cmd)
    return out if status == 0 else f"<exit {status}: {err.strip()}>"


def our_images():
    # Podman fails a listing (500, "image not known") that races a removal.
    for _ in range(5):
        status, images = engine_get("/images/json")
        if status == 200:
            break
    listed = images if status == 200 and isinstance(images, list) else []
    return [t for img in listed for t in (img.get("RepoTags") or []) if repo in t or f"rtb-cli-build-base-{run_id}" in t]


started = int(time.time())
tmp = tempfile.mkdtemp(prefix="rtb-cli-build-")
env = dict(os.environ, RTB_CACHE_DIR=os.path.join(tmp, "cache"))
try:
    src = os.path.join(tmp, "src")
    shutil.copytree(os.path.join(root, "examples/runtime/src"), src, symlinks=True)
    lock = os.path.join(tmp, "deps.lock")
    shutil.copyfile(os.path.join(root, "examples/runtime/deps.lock"), lock)
    common = ["--source", src, "--lock", lock, "--runtime-repo", repo, *transport]

    def build(*extra, base_image=base):
        return rtb("build", "--base-image", base_image, *common, *extra, env=env)

    # ------------------------------------------------------------ plan paths
    status, out, err = build()
    image = out.strip().splitlines()[-1] if out.strip() else ""
    c.equal(status, 0, f"a first build succeeds ({err[-2000:]})")
    c.check("plan: scratch" in err, f"stderr names the scratch plan: {err[-500:]!r}")
    c.check(image.startswith(repo + ":oh_v"), f"stdout's last line is the image: {out!r}")
    c.check(exists(image), "the image exists on the engine")
    with open(os.path.join(src, "VERSION")) as f:
        version = f.read()
    c.equal(in_container(image, "cat", "/rtb/runtime/VERSION"), version, "the image holds the runtime source")

    status, out, err = build("--json")
    c.equal(status, 0, "the same inputs again")
    doc = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    c.equal(doc.get("plan"), "reuse", "--json: plan reuse")
    c.equal(doc.get("image"), image, "--json: the same image")
    c.equal(doc.get("tags"), [], "--json: reuse applies no tag")
    c.check(isinstance(doc.get("seconds"), (int, float)), f"--json: seconds is a number: {doc!r}")
    c.check("plan: reuse" in err, "stderr names the reuse plan")

    with open(os.path.join(src, "lib", "added.sh"), "w") as f:
        f.write("echo added by the test\n")
    status, out, err = build("--dry-run", "--json")
    doc = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    c.check(status == 0 and doc.get("plan") == "lock" and doc.get("dry_run") is True, f"--dry-run plans lock: {doc!r} {err[-300:]!r}")
    c.check(not exists(doc.get("image", "")), "--dry-run builds nothing")

    status, out, err = build()
    lock_image = out.strip().splitlines()[-1] if out.strip() else ""
    c.equal(status, 0, f"a source edit builds ({err[-1000:]})")
    c.check("plan: lock" in err, f"a source edit: plan lock: {err[-300:]!r}")
    c.check(lock_image != image and lock_image.startswith(repo), "a new source tag")
    c.equal(in_container(lock_image, "cat", "/rtb/runtime/lib/added.sh"), "echo added by the test\n",
            "the lock build holds the edited source")

    # Another process holds the new source tag's lock file (this test, here):
    # rtb build waits on it and says so, the holder builds, lets go, and the
    # waiting process reuses what it built.
    with open(os.path.join(src, "lib", "twice.sh"), "w") as f:
        f.write("echo built once\n")
    status, out, _ = build("--dry-run", "--json")
    twice = json.loads(out.strip().splitlines()[-1])["image"] if status == 0 else ""
    c.check(twice.startswith(repo + ":"), f"the new source tag's image: {twice!r}")
    locks = os.path.join(env["RTB_CACHE_DIR"], "locks")
    os.makedirs(locks, exist_ok=True)
    holder = open(os.path.join(locks, f"{xxhash.xxh3_64_intdigest(twice.encode()):016x}.lock"), "w")
    fcntl.flock(holder, fcntl.LOCK_EX)
    waiter = subprocess.Popen([os.environ.get("RTB", "rtb"), "build", "--base-image", base, *common, "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    waiter_err = []
    said_waiting = threading.Event()

    def read_waiter():
        for raw in waiter.stderr:
            waiter_err.append(raw.decode("utf-8", "replace"))
            if f"waiting for another build of {twice}" in waiter_err[-1]:
                said_waiting.set()

    reader = threading.Thread(target=read_waiter, daemon=True)
    reader.start()
    c.check(said_waiting.wait(120), f"rtb build waits on the held lock and says so: {''.join(waiter_err)[-500:]!r}")
    status, out, err = rtb("build", "--base-image", base, *common, "--json",
                           env=dict(env, RTB_CACHE_DIR=os.path.join(tmp, "holder-cache")))
    held_doc = json.loads(out.strip().splitlines()[-1]) if status == 0 else {}
    c.equal(held_doc.get("plan"), "lock", f"the holder builds ({err[-300:]})")
    fcntl.flock(holder, fcntl.LOCK_UN)
    holder.close()
    out, _ = waiter.communicate(timeout=600)
    reader.join(10)
    doc = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
    c.check(doc.get("plan") == "reuse" and doc.get("waited") is True,
            f"the waiting process reuses the holder's image, and says it waited: {doc!r}")
    c.equal(doc.get("image"), held_doc.get("image"), "both name the same image")

    with open(lock, "a") as f:
        f.write("wc\n")
    status, out, err = build()
    versioned_image = out.strip().splitlines()[-1] if out.strip() else ""
    c.equal(status, 0, f"a lock file edit builds ({err[-1000:]})")
    c.check("plan: versioned" in err, f"a lock edit: plan versioned: {err[-300:]!r}")
    c.check(in_container(versioned_image, "ls", "/rtb/deps/bin/wc").strip() == "/rtb/deps/bin/wc",
            "the versioned build installed the new dependency")

    status, out, err = build("--force", "--json")
    doc = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    c.check(status == 0 and doc.get("plan") == "scratch" and len(doc.get("tags", [])) == 3,
            f"--force: scratch with three tags: {doc!r}")

    # ------------------------------------------------------------ a failed build
    bad_lock = os.path.join(tmp, "bad.lock")
    with open(bad_lock, "w") as f:
        f.write("sh\nno-such-applet-rtb\n")
    status, out, err = rtb("build", "--base-image", base, "--source", src, "--lock", bad_lock, "--runtime-repo", repo,
                           *transport, env=env)
    c.equal(status, 1, f"a failed build exits 1 ({err[-500:]!r})")
    c.check("exit code 1" in err, f"the engine's exit code is shown: {err[-800:]!r}")
    c.check("no-such-applet-rtb" in err and "last build output" in err, "the log's last lines are shown")
    c.equal(out, "", "a failed build prints no image")
    tags = subprocess.run([os.environ.get("RTB", "rtb"), "tags", "--oh-version", "0.1.0", "--base-image", base,
                           "--source", src, "--lock", bad_lock, "--runtime-repo", repo, "--json"],
                          capture_output=True, text=True, env=env)
    names = json.loads(tags.stdout) if tags.returncode == 0 else {}
    c.check(names and not any(exists(names[k]) for k in ("source", "lock")), "a failed build tags nothing")

    # ------------------------------------------------------------ bad input: exit 2, says what
    batch_bad = os.path.join(tmp, "bad-batch.txt")
    with open(batch_bad, "w") as f:
        f.write("# bases\nlocal/ok:1\nnot a valid image\n")
    empty_batch = os.path.join(tmp, "empty.txt")
    with open(empty_batch, "w") as f:
        f.write("# nothing\n\n")
    huge_batch = os.path.join(tmp, "huge.txt")
    with open(huge_batch, "w") as f:
        f.write("a" * 100_000 + "\n")
    cases = [
        (["--source", src], "--base-image is required"),
        (["--base-image", "UPPER/Case::bad", "--source", src], "UPPER/Case::bad"),
        (["--base-image", base, "--source", os.path.join(tmp, "missing")], "missing"),
        (["--base-image", base, "--source", src, "--lock", os.path.join(tmp, "no.lock")], "no.lock"),
        (["--base-image", base, "--source", src, "--transport", "remote"], "RTB_API_KEY is not set"),
        (["--base-image", base, "--source", src, "-H", "unix:///nonexistent/rtb.sock"], "/nonexistent/rtb.sock"),
        (["--batch", batch_bad, "--source", src], "bad-batch.txt', line 3"),
        (["--batch", empty_batch, "--source", src], "lists no base image"),
        (["--batch", huge_batch, "--source", src], "huge.txt', line 1"),
        (["--batch", batch_bad, "--base-image", base, "--source", src], "cannot both be given"),
        (["--base-image", base, "--source", src, "--timeout", "forever"], "--timeout"),
        (["--base-image", base, "--source", src, "--build-arg", "novalue"], "--build-arg"),
    ]
    for args, needle in cases:
        extra = [] if "-H" in args else ["-H", host]
        status, out, err = rtb("build", *args, *extra, "--runtime-repo", repo, env=env)
        c.check(status == 2 and needle in err, f"rtb build {' '.join(args)[:80]}: exit 2 naming {needle!r}: {status} {err[-300:]!r}")

    # ------------------------------------------------------------ batch (docker: ten base images)
    if engine == "docker":
        bases = [f"local/rtb-cli-build-base-{run_id}-{i}:1" for i in range(10)]
        for b in bases:
            subprocess.run(["/usr/bin/docker", "-H", host, "tag", base, b], check=True)
        batch = os.path.join(tmp, "batch.txt")
        with open(batch, "w") as f:
            f.write("# a SWE-bench-like list\n\n" + "\n".join(f"  {b}  " for b in bases) + "\n")
        status, out, err = rtb("build", "--batch", batch, "-j", "3", "--json", *common, env=env)
        lines = [json.loads(x) for x in out.strip().splitlines()]
        c.equal(status, 0, f"a batch of ten builds ({err[-800:]!r})")
        c.equal(len(lines), 10, "one JSON line per base image")
        c.check(all(x.get("plan") == "scratch" for x in lines), "each built from scratch")
        c.equal(sorted(x.get("base_image") for x in lines), sorted(bases), "in the batch file's images")
        c.check("10 built, 0 reused, 0 failed of 10" in err, f"the summary: {err[-300:]!r}")
        c.check(all(exists(x["image"]) for x in lines), "every image exists")

        with open(batch, "a") as f:
            f.write(f"local/rtb-never-made-{run_id}:1\n")
        status, out, err = rtb("build", "--batch", batch, "-j", "4", *common, env=env)
        c.equal(status, 1, "a batch with a failure exits 1")
        c.check("0 built, 10 reused, 1 failed of 11" in err, f"the summary says so: {err[-400:]!r}")
        c.check(f"failed local/rtb-never-made-{run_id}:1" in err, "the failure names its base image")
        c.equal(len(out.strip().splitlines()), 10, "the images that are there are printed")

    # ------------------------------------------------------------ prune (the engine is this run's, and this test runs alone)
    status, out, err = rtb("prune", "-H", host, env=env)
    c.check(status == 2 and "--older-than" in err, f"prune without a criterion: exit 2: {err!r}")
    status, out, err = rtb("prune", "-H", host, "--keep", "0", "--dry-run", env=env)
    listed = [line.split("\t") for line in out.splitlines()]
    ours = [x for x in listed if repo in x[1]]
    c.equal(status, 0, f"prune --dry-run ({err!r})")
    c.check(len(ours) >= 1 and all(x[2].startswith("beyond the newest 0") for x in ours), f"lists our images: {ours!r}")
    c.check(not any(image in x[1].split(",") and lock_image in x[1] for x in ours), "sane names")
    c.check(all(exists(x[1].split(",")[0]) for x in ours), "a dry run removes nothing")
    status, out, err = rtb("prune", "-H", host, "--older-than", "soon", env=env)
    c.check(status == 2 and "--older-than" in err, "a bad duration is refused")
    # For real: what the dry run listed goes, nothing else does (the image
    # carrying a lock tag stays: source-only builds start from it).
    dry = {x[0] for x in listed}
    before = set(our_images())
    status, out, err = rtb("prune", "-H", host, "--keep", "0", env=env)
    removed = [line.split("\t") for line in out.splitlines()]
    c.equal(status, 0, f"prune --keep 0 ({err!r})")
    c.equal({x[0] for x in removed}, dry, "prune removes what its dry run listed")
    pruned_names = {n for x in removed for n in x[1].split(",") if n}
    after = set(our_images())
    c.check(pruned_names and after == before - pruned_names,
            f"exactly the names prune printed are gone: printed {sorted(pruned_names)}, before {sorted(before)}, "
            f"after {sorted(after)}")
    c.check(any(repo in n for n in after), f"the images carrying their lock tag stay: {sorted(after)}")

    # ------------------------------------------------------------ a source changed during the build
    # The pre-build hook runs after the tags are computed and before the
    # context is sent: rewriting a source file there changes it "during the
    # build", deterministically. The build fails (exit 1) naming the file and
    # both sizes, no image carries a tag it hashed, and the next run builds
    # what the file holds now, under the tags of that content.
    changed_src = os.path.join(tmp, "changed-src")
    shutil.copytree(src, changed_src, symlinks=True)
    last = os.path.join(changed_src, "zzz_last.txt")
    with open(last, "w") as f:
        f.write("original\n")
    rewrite = os.path.join(tmp, "rewrite.toml")
    with open(rewrite, "w") as f:
        f.write('[hooks]\npre_build = ["/bin/sh", "-c", "cat >/dev/null; printf \'MODIFIED-AFTER-HASH\\\\n\' > ' + last + '"]\n')
    changed = ["build", "--base-image", base, "--source", changed_src, "--lock", lock, "--runtime-repo", repo + "-changed",
               *transport]
    status, out, err = rtb(*changed, "--dry-run", "--json", env=env)
    planned = json.loads(out.strip().splitlines()[-1]) if status == 0 and out.strip() else {}
    hashed_image = planned.get("image", "")
    c.check(hashed_image.startswith(repo + "-changed:oh_v"), f"the tags of the original content: {planned!r} {err[-300:]!r}")
    status, out, err = rtb(*changed, "--config", rewrite, env=env)
    c.equal(status, 1, f"a source changed during the build exits 1 ({err[-1000:]})")
    c.check(f"source changed during the build: '{last}' (hashed 9 bytes, sent 20)" in err,
            f"stderr names the file and both sizes: {err[-1000:]!r}")
    c.equal(out.strip(), "", "nothing on stdout")
    for name in [hashed_image] + [t for t in planned.get("tags", []) if ":" in t]:
        c.check(not exists(name), f"{name} does not exist after the failed build")
    status, out, err = rtb(*changed, "--json", env=env)
    rebuilt = json.loads(out.strip().splitlines()[-1]) if status == 0 and out.strip() else {}
    c.equal(status, 0, f"the next run builds ({err[-1000:]})")
    c.check(rebuilt.get("image", hashed_image) != hashed_image, f"under other tags: {rebuilt!r}")
    c.equal(in_container(rebuilt.get("image", ""), "cat", "/rtb/runtime/zzz_last.txt"), "MODIFIED-AFTER-HASH\n",
            "the image holds the file as it is now")
    status, out, err = rtb(*changed, "--dry-run", "--json", env=env)
    again = json.loads(out.strip().splitlines()[-1]) if status == 0 and out.strip() else {}
    c.check(again.get("plan") == "reuse" and again.get("image") == rebuilt.get("image"),
            f"its tags are the tags of the content it holds: {again!r}")
finally:
    for name in our_images():
        status, body = engine_call(host, "DELETE", f"/images/{urllib.parse.quote(name, safe='')}?force=1")
        c.check(status in (200, 404), f"removing {name}: {status} {body[:200]!r}")
    shutil.rmtree(tmp, ignore_errors=True)
c.check(our_images() == [], "the test's images are removed")
c.done()
