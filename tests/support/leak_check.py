#!/usr/bin/env python3
"""Runs one integration test and fails it if it left anything behind.

    leak_check.py [--engines] -- COMMAND [ARGS...]

After COMMAND exits, whatever its status:

- processes: every process started under the test carries a mark in its
  environment (RTB_LEAK_MARK); any still alive (a child that escaped, a
  daemon not stopped, a container's conmon) is a leak. Leaks are listed,
  then killed.
- temporary folders: the test runs with a TMPDIR of its own, which must be
  empty afterwards (rtb's cache folder, `rtb-cache`, is not a temporary and
  may stay). Leftovers are listed, then removed.
- with --engines, on dockerd and Podman (RTB_DOCKER_HOST, RTB_PODMAN_HOST
  from scripts/engines): containers, image names (tags), dangling images
  and volumes that were not there before the test. Listed, then removed. A
  test removes what it builds: a tag left behind turns a later test's build
  into a reuse. Tests run this way must run alone (meson's is_parallel:
  false) so that what appeared is theirs.

The test's own failure wins; a clean test with leaks exits 1. File
descriptors are checked inside the C++ test programs that include
support/fd_leak_check.hpp (it counts /proc/self/fd around every test case).
"""
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from support import engine_call  # noqa: E402

KEEP_IN_TMPDIR = {"rtb-cache"}


def marked_processes(mark):
    """(pid, command line) of live processes whose environment holds the mark."""
    needle = f"RTB_LEAK_MARK={mark}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue  # a zombie is already dead; its parent reaps it
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        found.append((int(pid), cmd[:200]))
    return found


def engine_objects(host):
    """What the engine at `host` holds that a test could leave: {kind: {id: description}}."""
    def get(target):
        status, body = engine_call(host, "GET", target)
        if status != 200:
            raise RuntimeError(f"{host} {target}: HTTP {status}: {body[:200]!r}")
        return json.loads(body)

    dangling = urllib.parse.quote(json.dumps({"dangling": ["true"]}))
    objects = {"container": {}, "image tag": {}, "dangling image": {}, "volume": {}}
    for c in get("/containers/json?all=1"):
        objects["container"][c["Id"]] = f"{','.join(c.get('Names') or [])} from {c.get('Image')} ({c.get('State')})"
    for i in get("/images/json"):
        for tag in i.get("RepoTags") or []:
            if tag and tag != "<none>:<none>":
                objects["image tag"][tag] = f"({i['Id'][:19]})"
    for i in get(f"/images/json?filters={dangling}"):
        labels = i.get("Labels") or {}
        origin = labels.get("rtb.source-tag") or labels.get("rtb.versioned-tag") or "no rtb labels"
        objects["dangling image"][i["Id"]] = f"built for {origin}"
    for v in get("/volumes").get("Volumes") or []:
        objects["volume"][v["Name"]] = v.get("Mountpoint", "")
    return objects


def remove(host, kind, ident):
    target = {"container": f"/containers/{ident}?force=1&v=1",
              "image tag": f"/images/{urllib.parse.quote(ident, safe='')}?force=1",
              "dangling image": f"/images/{ident}?force=1",
              "volume": f"/volumes/{ident}?force=1"}[kind]
    engine_call(host, "DELETE", target)


def new_engine_objects(engines, before):
    """Objects not there before the test, after letting removals in flight
    (a --rm container, Podman's cleanup process) finish: [(engine, kind, id, text)]."""
    deadline = time.monotonic() + 15
    while True:
        found = []
        for name, host in engines.items():
            now = engine_objects(host)
            for kind, items in now.items():
                found += [(name, kind, i, text) for i, text in items.items() if i not in before[name][kind]]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def main(argv):
    check_engines = False
    while argv and argv[0] != "--":
        if argv[0] == "--engines":
            check_engines = True
        else:
            sys.exit(f"leak_check: unknown option {argv[0]!r}")
        argv = argv[1:]
    command = argv[1:]
    if not command:
        sys.exit("usage: leak_check.py [--engines] -- COMMAND [ARGS...]")

    engines = {}
    if check_engines:
        for name, var in (("docker", "RTB_DOCKER_HOST"), ("podman", "RTB_PODMAN_HOST")):
            host = os.environ.get(var)
            if not host:
                sys.exit(f"leak_check: {var} is not set: run under scripts/engines (meson test does)")
            engines[name] = host
    before = {name: engine_objects(host) for name, host in engines.items()}

    mark = secrets.token_hex(8)
    tmpdir = tempfile.mkdtemp(prefix="rtb-test-tmp-")
    env = dict(os.environ, RTB_LEAK_MARK=mark, TMPDIR=tmpdir)
    child = subprocess.Popen(command, env=env)
    # meson stops a test with SIGTERM (timeout, Ctrl-C): pass it on, then check.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, _f: child.send_signal(s))
    status = child.wait()

    leaks = []
    deadline = time.monotonic() + 10  # exit paths still reaping, Podman's cleanup
    while (procs := marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid, cmd in procs:
        leaks.append(f"process {pid} still running: {cmd}")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    left = sorted(set(os.listdir(tmpdir)) - KEEP_IN_TMPDIR)
    leaks += [f"temporary file or folder left in TMPDIR: {name}" for name in left]
    shutil.rmtree(tmpdir, ignore_errors=True)

    for engine, kind, ident, text in new_engine_objects(engines, before) if engines else []:
        shown = ident if kind == "image tag" else ident[:19]  # a name in full; ids shortened
        leaks.append(f"{kind} left on {engine}: {shown} {text}")
        remove(engines[engine], kind, ident)

    for leak in leaks:
        print(f"LEAK: {leak}", file=sys.stderr)
    checked = "processes, TMPDIR" + (", containers, image tags, dangling images, volumes on docker and podman"
                                     if engines else "")
    print(f"leak check ({checked}): {len(leaks)} leak(s)", file=sys.stderr)
    if status != 0:
        return status if status > 0 else 128 - status
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
