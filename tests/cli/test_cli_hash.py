#!/usr/bin/python3
"""`rtb hash`: --dirhash equals dirhash-python on many random trees; the fast
digest behaves as documented; errors are clear; memory stays bounded."""
import os
import random
import sys
import tempfile

import dirhash

sys.path.insert(0, os.path.dirname(__file__))
from support import Checks, rtb, rss_limit_kib, run_measured, RTB  # noqa: E402

c = Checks()

NAMES = ["a", "b.py", "c.pyc", ".hidden", ".env", "__pycache__", "x y", "\u00e9.txt", "new\nline",
         "\u00fcn\u00ef", "[br]", "*star", "q?", "back\\slash", "d.pyc\n", "weird#", "!bang",
         ".git", "pkg", "keep", "z.txt", "node_modules", "e.pyc\nx"]
IGNORE_SETS = [
    [],
    [".*/", "__pycache__/", "*.pyc"],            # OpenHands
    ["*.py"], ["pkg/"], ["**/c.pyc"], ["/b.py"], ["[a-c]*"], ["\\#*", "x y"],
    ["**/pkg/**"], ["*.txt", "!keep"], ["*", "!*.py"], ["a/**/b", "?"], ["**/"], ["*/"],
    ["[!a-m]*"], ["\\!bang"], ["z.txt/"], ["node_modules/", ".*"],
]


def random_tree(root, rng):
    dirs, files = [""], []
    for _ in range(rng.randint(1, 40)):
        parent = rng.choice(dirs)
        name = rng.choice(NAMES)
        rel = f"{parent}/{name}" if parent else name
        path = os.path.join(root, rel)
        if os.path.lexists(path):
            continue
        kind = rng.random()
        if kind < 0.55:
            with open(path, "wb") as f:
                f.write(bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 7, 100, 5000]))))
            if rng.random() < 0.2:
                os.chmod(path, 0o755)
            files.append(rel)
        elif kind < 0.8 and parent.count("/") < 3:
            os.mkdir(path)
            dirs.append(rel)
        elif kind < 0.95:
            # a link to a file or directory elsewhere in the tree (never to an
            # ancestor: that is a cycle, tested separately), or a broken one
            candidates = files + [d for d in dirs[1:] if not (parent == d or parent.startswith(d + "/"))]
            target = rng.choice(candidates + ["missing"])
            os.symlink(os.path.relpath(os.path.join(root, target), os.path.join(root, parent)), path)
        else:
            os.mkdir(path)  # stays empty


def python_dirhash(root, algorithm, ignore):
    try:
        return dirhash.dirhash(root, algorithm, ignore=ignore or None)
    except Exception as e:  # noqa: BLE001
        return f"error: {type(e).__name__}"


def rtb_dirhash(root, algorithm, ignore):
    args = ["hash", "--dirhash", "--algorithm", algorithm]
    for p in ignore:
        args += ["--ignore", p]
    code, out, err = rtb(*args, root)
    if code == 0:
        return out.strip()
    return f"error: exit {code}: {err.strip()}"


# 1. Differential: rtb hash --dirhash == dirhash-python.
rng = random.Random(20261129)
agree = errors_both = 0
for seed in range(70):
    with tempfile.TemporaryDirectory() as root:
        random_tree(root, rng)
        for algorithm in ("md5", "sha256"):
            for ignore in IGNORE_SETS if algorithm == "md5" else IGNORE_SETS[:3]:
                expected = python_dirhash(root, algorithm, ignore)
                got = rtb_dirhash(root, algorithm, ignore)
                if expected.startswith("error:"):
                    c.check(got.startswith("error: exit 2"),
                            f"seed {seed} {algorithm} {ignore}: python {expected}, rtb {got}")
                    errors_both += 1
                else:
                    c.equal(got, expected, f"seed {seed} {algorithm} ignore={ignore} tree={sorted(os.listdir(root))}")
                    agree += 1
print(f"dirhash differential: {agree} equal digests, {errors_both} shared errors")
c.check(agree > 1000, "enough differential comparisons produced a digest")

# 2. Cyclic links: both refuse.
with tempfile.TemporaryDirectory() as root:
    os.makedirs(os.path.join(root, "d"))
    open(os.path.join(root, "d", "f"), "w").write("x")
    os.symlink("..", os.path.join(root, "d", "up"))
    code, out, err = rtb("hash", "--dirhash", root)
    c.equal(code, 2, "cyclic link: exit status")
    c.check("cyclic symbolic link" in err and "d/up" in err, f"cyclic link message names the link: {err!r}")
    c.check(python_dirhash(root, "md5", []).startswith("error"), "dirhash-python also refuses the cycle")

# 3. Fast digest: stable under mtime and creation order; algorithms; stat cache.
with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
    for root, order in ((a, ["x/1", "x/2", "y"]), (b, ["y", "x/2", "x/1"])):
        for rel in order:
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            open(os.path.join(root, rel), "w").write(rel)
    os.utime(os.path.join(b, "y"), (1, 1))
    ha, hb = rtb("hash", a)[1], rtb("hash", b)[1]
    c.equal(ha, hb, "fast digest ignores mtime and creation order")
    c.check(len(ha.strip()) == 32, f"xxh3-128 digest is 32 hex digits: {ha!r}")
    c.check(len(rtb("hash", "--algorithm", "sha256", a)[1].strip()) == 64, "sha256 digest is 64 hex digits")
    c.equal(rtb("hash", a)[1], ha, "second (stat-cached) run gives the same digest")
    c.equal(rtb("hash", "--no-stat-cache", a)[1], ha, "--no-stat-cache gives the same digest")
    open(os.path.join(a, "y"), "w").write("changed")
    c.check(rtb("hash", a)[1] != ha, "a content change changes the digest (through the stat cache)")
    c.check(os.path.isdir(os.path.join(os.environ["RTB_CACHE_DIR"], "statcache")), "stat cache kept under RTB_CACHE_DIR")

# 4. Errors: exit status 2 and a message naming the problem.
with tempfile.TemporaryDirectory() as root:
    missing = os.path.join(root, "missing")
    code, _, err = rtb("hash", missing)
    c.check(code == 2 and missing in err and "no such directory" in err, f"missing dir: {code} {err!r}")
    f = os.path.join(root, "file")
    open(f, "w").write("x")
    code, _, err = rtb("hash", "--dirhash", f)
    c.check(code == 2 and "is not a directory" in err, f"file root: {code} {err!r}")
    code, _, err = rtb("hash", "--algorithm", "crc32", root)
    c.check(code == 2 and "crc32" in err, f"unknown algorithm: {code} {err!r}")
    code, _, err = rtb("hash", "--dirhash", "--algorithm", "xxh3", root)
    c.check(code == 2 and "Dirhash" in err, f"xxh3 with --dirhash: {code} {err!r}")
    empty = os.path.join(root, "empty")
    os.mkdir(empty)
    code, _, err = rtb("hash", "--dirhash", empty)
    c.check(code == 2 and "nothing to hash" in err, f"empty dir with --dirhash: {code} {err!r}")
    # a pattern in brackets reaches the matcher verbatim ("[f]*[e]" matches "file", the only file)
    code, _, err = rtb("hash", "--dirhash", "--ignore", "[f]*[e]", root)
    c.check(code == 2 and "nothing to hash" in err, f"--ignore [f]*[e] is passed verbatim: {code} {err!r}")
    code, _, err = rtb("hash", "--dirhash", "--ignore", "[z-a]", root)
    c.check(code == 2 and "[z-a]" in err, f"bad pattern: {code} {err!r}")
    code, _, _ = rtb("hash")
    c.equal(code, 2, "no DIR: usage error")
    code, out, _ = rtb("hash", "--help")
    c.check(code == 0 and "--dirhash" in out, "--help documents --dirhash")
    code, _, _ = rtb("nonsense")
    c.equal(code, 2, "unknown subcommand")

# 5. A multi-GB sparse file is streamed with bounded memory (peak RSS of the process).
with tempfile.TemporaryDirectory() as root:
    big = os.path.join(root, "sparse.img")
    with open(big, "wb") as f:
        f.truncate(4 << 30)
        f.seek(3 << 30)
        f.write(b"in the middle of nowhere")
    code, out, rss_kib = run_measured([RTB, "hash", "--no-stat-cache", root])
    c.check(code == 0 and len(out.strip()) == 32, f"fast digest of a 4 GiB sparse file: exit {code}")
    c.check(rss_kib < rss_limit_kib(64 * 1024), f"fast digest peak RSS {rss_kib} KiB < 64 MiB for a 4 GiB file")
    print(f"4 GiB sparse file, fast digest: peak RSS {rss_kib} KiB")
    with open(big, "r+b") as f:
        f.truncate(1 << 30)
    code, out, rss_kib = run_measured([RTB, "hash", "--dirhash", "--no-stat-cache", root])
    c.equal(out.decode().strip(), dirhash.dirhash(root, "md5"), "Dirhash of a 1 GiB sparse file equals dirhash-python")
    c.check(rss_kib < rss_limit_kib(64 * 1024), f"Dirhash peak RSS {rss_kib} KiB < 64 MiB for a 1 GiB file")
    print(f"1 GiB sparse file, Dirhash md5: peak RSS {rss_kib} KiB")

c.done()
