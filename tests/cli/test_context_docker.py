"""rtb's build contexts against a real dockerd (started here, isolated).

1. Whole trees (tests/data/context_trees.json): each is built with real
   docker clients through a recording proxy, so the test sees the exact tar
   the client uploaded, and with `COPY . /ctx`, exported afterwards:
     - docker 28's legacy builder (moby/patternmatcher) == rtb's moby dialect,
     - docker 20.10's builder == rtb's docker-20.10 dialect,
     - docker 20.10 with BuildKit (COPY result only) == rtb's docker-20.10 dialect.
   Files and links must be equal; so must the directory entries of the tar.
   The engine drops .dockerignore and the Dockerfile from what COPY sees
   when the patterns exclude them (after reading them); those two are
   compared in the uploaded tar only.
2. dockerd builds from `rtb context pack` output (tar and tar.gz) posted to
   the Engine API as is, and the image holds exactly `rtb context ls`.
3. The default template builds the sample runtime (examples/runtime) on a
   busybox base, offline, for each plan: scratch, then versioned on it, then
   lock on that; the runtime answers in a container with no network.

A missing engine or client is a failure, never a skip.
"""

import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from isolated_dockerd import IsolatedDockerd, RecordingProxy  # noqa: E402

RTB = os.environ["RTB"]
DATA = os.path.join(HERE, "..", "data")
SAMPLE = os.path.join(HERE, "..", "..", "examples", "runtime")
MODERN_CLIENT = "/usr/local/bin/docker"  # docker 28: moby/patternmatcher, legacy builder works
DEBIAN_CLIENT = "/usr/bin/docker"        # docker 20.10: pkg/fileutils, classic and BuildKit

ENGINE = None


def setUpModule():
    global ENGINE
    for client, why in [(DEBIAN_CLIENT, "Debian's docker.io"), (MODERN_CLIENT, "the docker 28 client this machine has")]:
        if not os.access(client, os.X_OK):
            raise RuntimeError(f"{client} ({why}) is missing: it is the reference this test compares with")
    ENGINE = IsolatedDockerd().__enter__()
    ENGINE.make_busybox()


def tearDownModule():
    if ENGINE:
        ENGINE.__exit__(None, None, None)


def rtb(*args, check=True):
    r = subprocess.run([RTB, *args], capture_output=True)
    if check and r.returncode != 0:
        raise AssertionError(f"rtb {' '.join(args)}: {r.stderr.decode(errors='replace')}")
    return r


def rtb_ls(root, dialect):
    return sorted(p for p in rtb("context", "ls", "-z", "--dialect", dialect, root).stdout.split(b"\0") if p)


def tar_entries(data):
    """(files and links, directories) of a tar, names as bytes without a trailing slash."""
    files, dirs = set(), set()
    with tarfile.open(fileobj=io.BytesIO(data), encoding="utf-8", errors="surrogateescape") as t:
        for m in t.getmembers():
            name = m.name.encode("utf-8", "surrogateescape").rstrip(b"/")
            if name in (b"", b"."):
                continue
            (dirs if m.isdir() else files).add(name)
    return files, dirs


def exported_ctx(image):
    cid = ENGINE.docker("create", image, "/bin/sh").stdout.decode().strip()
    try:
        data = ENGINE.docker("export", cid).stdout
    finally:
        ENGINE.docker("rm", cid)
    files = set()
    with tarfile.open(fileobj=io.BytesIO(data), encoding="utf-8", errors="surrogateescape") as t:
        for m in t.getmembers():
            name = m.name.encode("utf-8", "surrogateescape")
            if name.startswith(b"ctx/") and not m.isdir():
                files.add(name[4:])
    return files


def make_tree(root, case):
    for rel in case.get("files", []):
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write("x")
    for rel in case.get("dirs", []):
        os.makedirs(os.path.join(root, rel), exist_ok=True)
    for rel, target in case.get("links", {}).items():
        os.symlink(target, os.path.join(root, rel))
    with open(os.path.join(root, "Dockerfile"), "w") as f:
        f.write("FROM local/busybox:1\nCOPY . /ctx\n")
    if "dockerignore" in case:
        with open(os.path.join(root, ".dockerignore"), "w") as f:
            f.write(case["dockerignore"])
    if "dockerignore_bytes" in case:
        with open(os.path.join(root, ".dockerignore"), "wb") as f:
            f.write(case["dockerignore_bytes"].encode())



# Starts the sample runtime's server in the container, then asks it once it
# answers (polled, at most 10 s; no fixed sleep): prints the answer.
SERVE_THEN_ASK = ("rtb-runtime serve & i=0; "
                  "until out=$(printf '%s' | nc 127.0.0.1 8000 2>/dev/null) && [ -n \"$out\" ]; do "
                  "i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done; echo \"$out\"")

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=600):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def engine_build(body, tag, content_type="application/x-tar"):
    """POST /build with `body` as is; returns the decoded JSON lines."""
    conn = UnixHTTPConnection(ENGINE.socket)
    conn.request("POST", f"/v1.41/build?t={tag}&networkmode=none&rm=1&forcerm=1", body=body,
                 headers={"Content-Type": content_type})
    resp = conn.getresponse()
    text = resp.read().decode(errors="replace")
    conn.close()
    if resp.status != 200:
        raise AssertionError(f"POST /build answered {resp.status}: {text}")
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    errors = [e for e in events if "error" in e or "errorDetail" in e]
    if errors:
        raise AssertionError(f"build of {tag} failed: {errors}\n{''.join(e.get('stream', '') for e in events)}")
    return events


SPECIAL = {b".dockerignore", b"Dockerfile"}


class WholeTrees(unittest.TestCase):
    """What real docker clients send for whole trees, against rtb context ls/pack."""

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(DATA, "context_trees.json")) as f:
            cls.cases = json.load(f)["cases"]
        cls.tmp = tempfile.mkdtemp(prefix="rtb-ctx-docker-")
        cls.proxy = RecordingProxy(ENGINE.socket, os.path.join(cls.tmp, "proxy.sock")).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.proxy.__exit__(None, None, None)
        shutil.rmtree(cls.tmp)

    def build_through_proxy(self, root, client, buildkit, tag):
        self.proxy.reset()
        ENGINE.docker("build", "-q", "-t", tag, root, client=client,
                      env={"DOCKER_BUILDKIT": "1" if buildkit else "0"},
                      host=None if buildkit else self.proxy.host)
        bodies = [] if buildkit else self.proxy.build_bodies()
        if not buildkit:
            self.assertEqual(len(bodies), 1, "expected one POST /build")
        return bodies[0] if bodies else None

    def check_case(self, name, case):
        root = os.path.join(self.tmp, name)
        os.makedirs(root)
        make_tree(root, case)
        ours = rtb("context", "pack", root).stdout
        our_files, our_dirs = tar_entries(ours)
        for client, buildkit, dialect in [(MODERN_CLIENT, False, "moby"), (DEBIAN_CLIENT, False, "docker-20.10"),
                                          (DEBIAN_CLIENT, True, "docker-20.10")]:
            label = f"{os.path.basename(client)} {'20.10' if client == DEBIAN_CLIENT else '28'}" \
                    f"{' BuildKit' if buildkit else ''}"
            with self.subTest(case=name, client=label):
                expected = set(rtb_ls(root, dialect))
                tag = f"ctx-{name.replace('_', '-')}:{dialect}{'-bk' if buildkit else ''}"
                sent = self.build_through_proxy(root, client, buildkit, tag)
                if sent is not None:
                    sent_files, sent_dirs = tar_entries(sent)
                    self.assertEqual(sent_files, expected, "files and links the client uploaded")
                    if dialect == "moby":
                        self.assertEqual(sent_dirs, our_dirs, "directory entries of the uploaded tar")
                        self.assertEqual(sent_files, our_files, "rtb context pack's entries")
                copied = exported_ctx(tag)
                self.assertEqual(copied - SPECIAL, expected - SPECIAL, "what COPY . /ctx received")

    def test_whole_trees(self):
        self.assertGreaterEqual(len(self.cases), 15)
        for name, case in self.cases.items():
            self.check_case(name, case)


class PackedContexts(unittest.TestCase):
    """dockerd builds from rtb's own tar, sent as is."""

    def test_dockerd_builds_from_the_packed_tar_and_tar_gz(self):
        tmp = tempfile.mkdtemp(prefix="rtb-ctx-pack-")
        self.addCleanup(shutil.rmtree, tmp)
        root = os.path.join(tmp, "ctx")
        os.makedirs(root)
        make_tree(root, {"files": ["src/a.py", "src/b/c.py", "cache/x", "caf\u00e9/long-" + "n" * 150],
                         "links": {"link": "src/a.py"}, "dockerignore": "cache\n"})
        os.chmod(os.path.join(root, "src/a.py"), 0o750)
        expected = set(rtb_ls(root, "moby"))
        for flags, ctype in [([], "application/x-tar"), (["--gzip"], "application/x-gzip")]:
            with self.subTest(flags=flags):
                data = rtb("context", "pack", *flags, root).stdout
                self.assertEqual(data, rtb("context", "pack", *flags, root).stdout)  # reproducible
                tag = "packed:" + ("gz" if flags else "tar")
                engine_build(data, tag, ctype)
                self.assertEqual(exported_ctx(tag), expected)
                mode = ENGINE.docker("run", "--rm", "--network", "none", tag, "/bin/busybox", "stat", "-c", "%a",
                                     "/ctx/src/a.py").stdout.decode().strip()
                self.assertEqual(mode, "755")  # normalized from 0750


class SampleRuntime(unittest.TestCase):
    """The default template builds examples/runtime for every plan, offline."""

    def run_in(self, image, *cmd):
        return ENGINE.docker("run", "--rm", "--network", "none", image, *cmd).stdout.decode()

    def build(self, tag, plan, from_image, source, locks, extra=None):
        args = ["context", "runtime", "--base-image", "local/busybox:1", "--plan", plan, "--from-image", from_image,
                "--source", source, "--gzip"]
        for lock in locks:
            args += ["--lock", lock]
        if extra:
            args += ["--extra-deps", extra]
        engine_build(rtb(*args).stdout, tag, "application/x-gzip")

    def test_scratch_then_versioned_then_lock(self):
        tmp = tempfile.mkdtemp(prefix="rtb-sample-")
        self.addCleanup(shutil.rmtree, tmp)
        src = os.path.join(tmp, "src")
        shutil.copytree(os.path.join(SAMPLE, "src"), src, symlinks=True)
        lock = os.path.join(SAMPLE, "deps.lock")

        self.build("rt:scratch", "scratch", "local/busybox:1", src, [lock])
        self.assertEqual(self.run_in("rt:scratch", "rtb-runtime", "version").strip(), "0.1.0")
        health = self.run_in("rt:scratch", "sh", "-c", SERVE_THEN_ASK % "GET /cgi-bin/health HTTP/1.0\\r\\n\\r\\n")
        self.assertIn('{"status":"ok","version":"0.1.0"}', health)
        ran = self.run_in("rt:scratch", "sh", "-c",
                          SERVE_THEN_ASK % "POST /cgi-bin/run HTTP/1.0\\r\\nContent-Length: 7\\r\\n\\r\\necho hi")
        self.assertIn('{"exit_code":0,"output":"hi"}', ran)

        # versioned: dependencies reinstalled from a changed lock, system setup kept
        more = os.path.join(tmp, "more.lock")
        with open(more, "w") as f:
            f.write("# one more tool\nhead\n")
        self.build("rt:versioned", "versioned", "rt:scratch", src, [lock, more],
                   extra="/bin/busybox touch /rtb/extra-was-here")
        self.assertIn("head", self.run_in("rt:versioned", "ls", "/rtb/deps/bin").split())
        self.run_in("rt:versioned", "/bin/busybox", "test", "-f", "/rtb/extra-was-here")

        # lock: only the source changes; a removed file is gone
        with open(os.path.join(src, "VERSION"), "w") as f:
            f.write("0.2.0\n")
        os.remove(os.path.join(src, "actions", "run.sh"))
        self.build("rt:lock", "lock", "rt:versioned", src, [lock, more])
        self.assertEqual(self.run_in("rt:lock", "rtb-runtime", "version").strip(), "0.2.0")
        self.assertNotIn("run.sh", self.run_in("rt:lock", "ls", "/rtb/runtime/actions").split())
        self.assertIn("head", self.run_in("rt:lock", "ls", "/rtb/deps/bin").split())

    def test_a_lock_file_naming_a_missing_applet_fails_the_build(self):
        tmp = tempfile.mkdtemp(prefix="rtb-sample-")
        self.addCleanup(shutil.rmtree, tmp)
        bad = os.path.join(tmp, "bad.lock")
        with open(bad, "w") as f:
            f.write("cat\nno-such-applet\n")
        with self.assertRaises(AssertionError) as e:
            self.build("rt:bad", "scratch", "local/busybox:1", os.path.join(SAMPLE, "src"), [bad])
        self.assertIn("no applet 'no-such-applet'", str(e.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
