#!/usr/bin/python3
"""Fault: the engine dies in the middle of `rtb build`. A private dockerd
(its own data root; killed with SIGKILL while a build step runs) must leave
rtb with a clear error (exit status 2), no tag applied (checked on a dockerd
restarted on the same data root), and no temporary folder or child process
behind."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from isolated_dockerd import IsolatedDockerd  # noqa: E402
from support import RTB, Checks  # noqa: E402

c = Checks()
ROOT = os.path.join(HERE, "..", "..")


def marked_processes(mark):
    """Live processes (not zombies) whose environment holds `mark`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if mark.encode() not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                found.append(f"{pid}: " + f.read().replace(b"\0", b" ").decode(errors="replace")[:120])
        except OSError:
            continue
    return found

tmp = tempfile.mkdtemp(prefix="rtb-engine-dies-")
try:
    temp_dir = os.path.join(tmp, "tmp")
    os.makedirs(temp_dir)
    # Every process rtb starts inherits this mark: any still alive once rtb
    # has exited is a leaked child (re-parented by then, so not rtb's child).
    child_mark = f"RTB_ENGINE_DIES_MARK={os.getpid()}-{time.monotonic_ns()}"
    env = dict(os.environ, TMPDIR=temp_dir, RTB_CACHE_DIR=os.path.join(tmp, "cache"),
               RTB_ENGINE_DIES_MARK=child_mark.split("=", 1)[1])
    env.pop("DOCKER_HOST", None)
    template = os.path.join(tmp, "slow.Dockerfile")
    with open(template, "w") as f:
        f.write("FROM {{base_image}}\n"
                "RUN echo rtb-test-step-started && /bin/busybox sleep 300\n"
                "COPY {{source_dir}}/ /rtb/runtime/\n")
    args = ["--base-image", "local/busybox:1", "--source", os.path.join(ROOT, "examples/runtime/src"),
            "--lock", os.path.join(ROOT, "examples/runtime/deps.lock"), "--template", template,
            "--runtime-repo", "local/rtb-engine-dies"]

    with IsolatedDockerd() as d:
        d.make_busybox()
        p = subprocess.Popen([RTB, "build", "-H", d.host, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env)
        seen = threading.Event()
        err_lines = []

        def read_stderr():
            for line in p.stderr:
                err_lines.append(line.decode(errors="replace"))
                if b"rtb-test-step-started" in line:
                    seen.set()

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        c.check(seen.wait(180), "the slow step started: " + "".join(err_lines[-10:]))
        os.killpg(d.proc.pid, signal.SIGKILL)  # dockerd and its containerd, mid-build
        d.proc.wait()
        try:
            p.wait(timeout=120)  # stderr belongs to the reader thread
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            c.check(False, "rtb did not notice the engine died within 120 s")
        out = p.stdout.read()
        reader.join(10)
        err = "".join(err_lines)
        c.equal(p.returncode, 2, f"an engine that dies is an error (exit 2): {err[-600:]!r}")
        c.check("building local/rtb-engine-dies:" in err, f"the error says what was being built: {err[-600:]!r}")
        c.equal(out, b"", "no image is printed")
        left = [n for n in os.listdir(temp_dir)]
        c.equal(left, [], "no temporary folder is left behind")
        c.equal(marked_processes(child_mark), [], "no process rtb started is left behind")

        # The same daemon state, restarted: no tag of this build exists.
        # (containerd and the build container's shim outlive dockerd: the
        # machine "crashed", so they go too.)
        subprocess.run(["pkill", "-9", "-f", os.path.join(d.dir, "exec")], capture_output=True)
        give_up = time.monotonic() + 30
        while subprocess.run(["pgrep", "-f", os.path.join(d.dir, "exec")], capture_output=True).returncode == 0:
            c.check(time.monotonic() < give_up, "the engine's leftovers die within 30 s")
            if time.monotonic() >= give_up:
                break
            time.sleep(0.05)
        # containerd's pid file outlives it; a zombie not yet reaped by init
        # would pass for a running containerd, and the restarted dockerd would
        # wait for it: the stale file goes.
        stale = os.path.join(d.dir, "exec", "containerd", "containerd.pid")
        if os.path.exists(stale):
            os.remove(stale)
        d.log.close()
        d._start()
        tags = subprocess.run([RTB, "tags", "--oh-version", "0.1.0", *args, "--json"], capture_output=True, text=True,
                              env=env)
        names = json.loads(tags.stdout) if tags.returncode == 0 else {}
        c.check(bool(names), f"rtb tags names the build's tags: {tags.stderr!r}")
        for key in ("source", "lock", "versioned"):
            if key in names:
                r = d.docker("image", "inspect", names[key], check=False)
                c.check(r.returncode != 0, f"the {key} tag was not applied")
        c.check(d.docker("image", "inspect", "local/busybox:1", check=False).returncode == 0,
                "the restarted engine has its state (the base image)")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
c.done()
