#!/usr/bin/python3
"""`rtb build --transport cli` end to end through a real client program
(RTB_TEST_CLI: /usr/bin/docker, /usr/local/bin/docker or podman; through
`scripts/engines run`): the output contract (plan on stderr, image as stdout's
last line, --json), reuse, build args, a failed build (exit 1, the exit code 3
and the log's tail), Ctrl-C (exit 130, no process left), and flags the client
path cannot honour (exit 2, naming what and why)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from support import RTB, Checks, need, rtb  # noqa: E402

c = Checks()

program = need("RTB_TEST_CLI")
path = need("RTB_TEST_CLI_PATH")
base = need("RTB_TEST_BASE_IMAGE")
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
run_id = f"{path}-{os.getpid()}"
repo = f"local/rtb-cli-transport-{run_id}"
transport = ["--transport", "cli"]


def exists(image):
    return subprocess.run([program, "image", "inspect", image], capture_output=True).returncode == 0


def processes_with(marker):
    """Live (not zombie) processes whose command line holds `marker`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z" and int(pid) != os.getpid():
            found.append(int(pid))
    return found


tmp = tempfile.mkdtemp(prefix="rtb-cli-transport-")
env = dict(os.environ, RTB_CACHE_DIR=os.path.join(tmp, "cache"))
try:
    src = os.path.join(tmp, "src")
    shutil.copytree(os.path.join(root, "examples/runtime/src"), src, symlinks=True)
    common = ["--source", src, "--runtime-repo", repo, *transport]

    def template(name, text):
        p = os.path.join(tmp, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def build(*extra, base_image=base):
        client = [] if "--cli" in extra else ["--cli", program]
        return rtb("build", "--base-image", base_image, *common, *client, *extra, env=env)

    # ------------------------------------------------------------ success, reuse
    ok_template = template("ok.j2", "FROM {{base_image}}\nCOPY . /rtb/runtime\nARG GREETING\n"
                                    "RUN test \"$GREETING\" = 'hi there; $(id)' || exit 9\n")
    status, out, err = build("--template", ok_template, "--build-arg", "GREETING=hi there; $(id)")
    image = out.strip().splitlines()[-1] if out.strip() else ""
    c.equal(status, 0, f"a first build through {program} succeeds ({err[-2000:]})")
    c.check("plan: scratch" in err, f"stderr names the scratch plan: {err[-500:]!r}")
    c.check(image.startswith(repo + ":oh_v"), f"stdout's last line is the image: {out!r}")
    c.check(exists(image), f"{program} finds the image")
    c.check("building through" in err, f"stderr says how the client builds: {err[-800:]!r}")

    status, out, err = build("--template", ok_template, "--build-arg", "GREETING=hi there; $(id)", "--json")
    doc = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    c.equal(status, 0, "the same inputs again")
    c.equal(doc.get("plan"), "reuse", "are reused")
    c.equal(doc.get("image"), image, "as the same image")

    # ------------------------------------------------------------ a failed build
    failing = template("fail.j2", "FROM {{base_image}}\nRUN echo failing-step-output; exit 3\n")
    status, out, err = build("--template", failing)
    c.equal(status, 1, f"a failing build exits 1 ({err[-1500:]})")
    c.check("exit code 3" in err, f"stderr has the step's exit code: {err[-1500:]!r}")
    c.check("failing-step-output" in err, "and the log's last lines")
    c.check("failing step:" in err and "exit 3" in err, "and the failing step")

    # ------------------------------------------------------------ Ctrl-C
    seconds = 700 + os.getpid() % 97
    sleeper = template("sleep.j2", "FROM {{base_image}}\nRUN echo now-sleeping && sleep %d\n" % seconds)
    p = subprocess.Popen([RTB, "build", "--base-image", base, *common, "--cli", program, "--template", sleeper, "--force"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    seen = b""
    while b"now-sleeping" not in seen:
        chunk = p.stderr.read1(65536)
        if not chunk:
            break
        seen += chunk
    c.check(b"now-sleeping" in seen, "the build reached its sleeping step")
    p.send_signal(signal.SIGINT)
    try:
        rest = p.communicate(timeout=120)[1]
    except subprocess.TimeoutExpired:
        p.kill()
        rest = p.communicate()[1]
    c.equal(p.returncode, 130, f"Ctrl-C ends rtb with 130 ({(seen + rest)[-800:]!r})")
    left = processes_with(f"sleep {seconds}")
    for _ in range(300):
        if not left:
            break
        time.sleep(0.1)
        left = processes_with(f"sleep {seconds}")
    c.equal(left, [], "no RUN process is left behind")
    c.equal(processes_with(f"--tag={repo}"), [], "nor the client")

    # ------------------------------------------------------------ bad input: exit 2
    cases = [
        (["--cli", "/nonexistent/rtb-docker"], "rtb-docker"),
        (["--cli-mode", "buildx"] if path != "podman" else ["--cli-mode", "legacy"],
         "buildx" if path != "podman" else "podman"),
        (["--cache-dir", os.path.join(tmp, "bk-cache")], "cache"),
        (["--builder", "remote-k8s"], "buildx"),
    ]
    for extra, needle in cases:
        status, out, err = build("--template", ok_template, "--force", *extra)
        c.equal(status, 2, f"{extra} is an error (exit 2): {err[-600:]!r}")
        c.check(needle in err, f"{extra}: the message names {needle!r}: {err[-600:]!r}")
    status, out, err = rtb("build", "--base-image", base, "--source", src, "--transport", "docker", "--cli", "podman",
                           env=env)
    c.equal(status, 2, "--cli without --transport cli is an error")
    c.check("--transport cli" in err, f"that says so: {err!r}")
finally:
    # Every name the builds gave (source, lock and versioned tags).
    listed = subprocess.run([program, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                            text=True)
    c.equal(listed.returncode, 0, f"{program} image ls: {listed.stderr[-300:]}")
    for name in listed.stdout.split():
        if repo in name:
            r = subprocess.run([program, "rmi", "--force", name], capture_output=True, text=True)
            c.equal(r.returncode, 0, f"removing {name}: {r.stderr[-300:]}")
    shutil.rmtree(tmp, ignore_errors=True)

c.done()
