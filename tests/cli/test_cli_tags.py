#!/usr/bin/python3
"""`rtb tags --strategy openhands` equals OpenHands' own tag functions (ported
below from openhands/runtime/utils/runtime_build.py, with dirhash-python) on
varied trees, base images, versions and lock files; JSON output; errors."""
import hashlib
import json
import os
import random
import string
import sys
import tempfile

from dirhash import dirhash

sys.path.insert(0, os.path.dirname(__file__))
from support import Checks, rtb  # noqa: E402

c = Checks()

# --- OpenHands (runtime_build.py), verbatim in substance -------------------
_ALPHABET = string.digits + string.ascii_lowercase


def truncate_hash(hash):
    value = int(hash, 16)
    result = []
    while value > 0 and len(result) < 16:
        value, remainder = divmod(value, len(_ALPHABET))
        result.append(_ALPHABET[remainder])
    return "".join(result)


def get_hash_for_lock_files(base_image, lock_files, enable_browser=True):
    md5 = hashlib.md5()
    md5.update(base_image.encode())
    if not enable_browser:
        md5.update(str(enable_browser).encode())
    for src in lock_files:
        with open(src, "rb") as f:
            for chunk in iter(lambda: f.read(4096), b""):
                md5.update(chunk)
    return truncate_hash(md5.hexdigest())


def get_tag_for_versioned_image(base_image):
    return base_image.replace("/", "_s_").replace(":", "_t_").lower()[-96:]


def get_hash_for_source_files(source_dir):
    return truncate_hash(dirhash(source_dir, "md5", ignore=[".*/", "__pycache__/", "*.pyc"]))


def openhands_tags(version, base_image, source_dir, lock_files, enable_browser=True):
    lock_tag = f"oh_v{version}_{get_hash_for_lock_files(base_image, lock_files, enable_browser)}"
    versioned_tag = f"oh_v{version}_{get_tag_for_versioned_image(base_image)}"
    source_tag = f"{lock_tag}_{get_hash_for_source_files(source_dir)}"
    return [source_tag, lock_tag, versioned_tag]
# ---------------------------------------------------------------------------


BASE_IMAGES = [
    "ubuntu:22.04", "python", "python:3.12-slim", "nikolaik/python-nodejs:python3.12-nodejs22-slim",
    "docker.io/library/python:3.12", "swebench/sweb.eval.x86_64.django_1776_django-11099:latest",
    "localhost:5000/team/base:v1", "ghcr.io/openhands/runtime:oh_v0.1_abc", "Registry.Example.com/foo:Bar",
    "registry.example.com:5000/" + "/".join(["segment"] * 15) + ":tag-" + "x" * 40,
    "xingyaoww/sweb.eval.x86_64.astropy_s_astropy-12907:latest", "local/busybox:1",
]
VERSIONS = ["0.62.0", "1.0.0-rc1", "0.0.1_dev", "2", "0.9.8.post1"]


def make_source(root, rng):
    for i in range(rng.randint(1, 30)):
        d = os.path.join(root, *rng.sample(["pkg", "core", "utils", ".cache", "__pycache__", "runtime"], rng.randint(0, 3)))
        os.makedirs(d, exist_ok=True)
        name = rng.choice(["m{}.py", "m{}.pyc", "README{}.md", ".env{}", "data{}.json"]).format(i)
        with open(os.path.join(d, name), "w") as f:
            f.write("".join(rng.choice("abc\n ") for _ in range(rng.randint(0, 300))))
    with open(os.path.join(root, "__init__.py"), "w") as f:
        f.write("")


rng = random.Random(7)
compared = 0
for trial in range(40):
    with tempfile.TemporaryDirectory() as root:
        src = os.path.join(root, "openhands")
        os.makedirs(src)
        make_source(src, rng)
        locks = []
        for name in rng.sample(["pyproject.toml", "poetry.lock", "requirements.txt"], rng.randint(1, 3)):
            path = os.path.join(root, name)
            with open(path, "wb") as f:
                f.write(bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 10, 5000, 70000]))))
            locks.append(path)
        base = rng.choice(BASE_IMAGES)
        version = rng.choice(VERSIONS)
        browser = rng.random() < 0.8
        expected = openhands_tags(version, base, src, locks, browser)
        args = ["tags", "--strategy", "openhands", "--oh-version", version, "--base-image", base, "--source", src]
        for lock in locks:
            args += ["--lock", lock]
        if not browser:
            args.append("--no-browser")
        code, out, err = rtb(*args)
        c.equal((code, out.splitlines()), (0, expected), f"trial {trial}: {base} v{version} browser={browser}")
        compared += 1
        if trial % 10 == 0:
            code, out, _ = rtb(*args, "--json")
            doc = json.loads(out)
            c.equal([doc["source"], doc["lock"], doc["versioned"]],
                    ["ghcr.io/openhands/runtime:" + t for t in expected], f"trial {trial}: --json names")
            code, out, _ = rtb(*args, "--runtime-repo", "127.0.0.1:5000/rt", "--json")
            c.check(json.loads(out)["source"] == "127.0.0.1:5000/rt:" + expected[0], "--runtime-repo applies")
print(f"compared {compared} tag sets with OpenHands' functions")

# Divergences, documented: extra inputs enter the lock hash only when given.
with tempfile.TemporaryDirectory() as root:
    src = os.path.join(root, "src")
    os.makedirs(src)
    open(os.path.join(src, "a.py"), "w").write("x")
    lock = os.path.join(root, "poetry.lock")
    open(lock, "w").write("lock")
    base_args = ["tags", "--oh-version", "1", "--base-image", "ubuntu:22.04", "--source", src, "--lock", lock]
    plain = rtb(*base_args)[1].splitlines()
    c.equal(plain, openhands_tags("1", "ubuntu:22.04", src, [lock]), "no extra inputs: OpenHands' tags")
    for extra in (["--extra-deps", "jq"], ["--build-arg", "A=1"], ["--platform", "linux/arm64"]):
        tags = rtb(*base_args, *extra)[1].splitlines()
        c.check(tags[1] != plain[1] and tags[2] == plain[2], f"{extra}: lock tag changes, versioned does not")
        c.equal(tags[0][len(tags[1]):], plain[0][len(plain[1]):], f"{extra}: source hash part unchanged")
    tmpl = os.path.join(root, "Dockerfile.tmpl")
    open(tmpl, "w").write("FROM {{base_image}}\n")
    with_template = rtb(*base_args, "--template", tmpl)[1].splitlines()
    c.check(with_template[1] != plain[1], "--template changes the lock tag")
    # Jinja2 switches that change the text are hashed with the template; StrictUndefined does not change it.
    trimmed = rtb(*base_args, "--template", tmpl, "--trim-blocks")[1].splitlines()
    c.check(trimmed and trimmed[1] not in (plain[1], with_template[1]), "--trim-blocks changes the lock tag")
    c.equal(rtb(*base_args, "--template", tmpl, "--strict-undefined")[1].splitlines(), with_template,
            "--strict-undefined does not change the tags")
    code, _, err = rtb(*base_args, "--lstrip-blocks")
    c.check(code == 2 and "apply to a --template" in err, f"a switch without --template is refused: {code} {err!r}")
    # --no-browser: OpenHands' hash, and the same for a custom template.
    no_browser = rtb(*base_args, "--no-browser")[1].splitlines()
    c.equal(no_browser, openhands_tags("1", "ubuntu:22.04", src, [lock], False), "--no-browser: OpenHands' tags")

    # A digest reference still gives valid tags.
    digest_ref = "ubuntu@sha256:" + "a" * 64
    code, out, err = rtb("tags", "--oh-version", "1", "--base-image", digest_ref, "--source", src)
    c.check(code == 0 and "@" not in out and ":" not in out, f"digest base image gives valid tags: {out!r} {err!r}")
    c.check(all(len(t) <= 128 for t in out.splitlines()), "tags are at most 128 characters")

    # Content strategy: three tags, rtb_v prefix, stable.
    code, out, _ = rtb("tags", "--strategy", "content", "--oh-version", "1", "--base-image", "ubuntu", "--source", src)
    lines = out.splitlines()
    c.check(code == 0 and len(lines) == 3 and all(t.startswith("rtb_v1_") for t in lines), f"content tags: {lines}")
    c.equal(rtb("tags", "--strategy", "content", "--oh-version", "1", "--base-image", "ubuntu", "--source", src)[1],
            out, "content tags are stable")

    # Errors: exit status 2, messages that name the problem.
    code, _, err = rtb("tags", "--oh-version", "1", "--base-image", "Bad Image", "--source", src)
    c.check(code == 2 and "Bad Image" in err, f"invalid base image: {code} {err!r}")
    code, _, err = rtb("tags", "--oh-version", "1", "--base-image", "ubuntu", "--source", src, "--lock",
                       os.path.join(root, "nope.lock"))
    c.check(code == 2 and "nope.lock" in err, f"missing lock file: {code} {err!r}")
    code, _, err = rtb("tags", "--oh-version", "1 0", "--base-image", "ubuntu", "--source", src)
    c.check(code == 2 and "version" in err, f"bad version: {code} {err!r}")
    code, _, err = rtb("tags", "--oh-version", "1", "--base-image", "ubuntu", "--source", os.path.join(root, "none"))
    c.check(code == 2 and "none" in err, f"missing source: {code} {err!r}")
    code, _, err = rtb("tags", "--oh-version", "1", "--base-image", "ubuntu")
    c.check(code == 2 and "--source" in err, f"--source is required: {code} {err!r}")
    code, _, err = rtb("tags", "--strategy", "weird", "--oh-version", "1", "--base-image", "ubuntu", "--source", src)
    c.equal(code, 2, "unknown strategy")
    code, _, err = rtb("tags", "--oh-version", "1", "--base-image", "ubuntu", "--source", src, "--build-arg", "novalue")
    c.check(code == 2 and "KEY=VALUE" in err, f"--build-arg without '=': {code} {err!r}")

c.done()
