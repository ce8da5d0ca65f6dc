"""rtb run against a real engine (RTB_TEST_ENGINE=docker|podman, as
scripts/engines starts them): exit status and output, every option in force
inside the sandbox, --rm/--detach, signals, and invalid values refused with
exit status 2 before any engine is asked. Every container carries this run's
label; at the end none may be left."""
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from support import RTB, Checks, engine_call, rtb, free_port  # noqa: E402

ENGINE = os.environ["RTB_TEST_ENGINE"]
HOST = os.environ["RTB_PODMAN_HOST" if ENGINE == "podman" else "RTB_DOCKER_HOST"]
SOCKET = HOST[len("unix://"):]
IMAGE = os.environ["RTB_TEST_BASE_IMAGE"]
RUN = f"cli-{ENGINE}-{os.getpid()}"
LABEL = f"rtb.test.run={RUN}"
NOWHERE = "unix:///nonexistent/rtb-engine.sock"  # any contact would fail with "cannot connect"

c = Checks()


def engine(method, target):
    return engine_call(HOST, method, target)


def ours():
    """This run's containers (running or not): id -> state."""
    filters = urllib.parse.quote(json.dumps({"label": [LABEL]}))
    status, body = engine("GET", f"/containers/json?all=1&filters={filters}")
    assert status == 200, body
    return {x["Id"]: x["State"] for x in json.loads(body)}


def remove(cid):
    engine("DELETE", f"/containers/{cid}?force=1&v=1")


def run(*args, host=HOST):
    return rtb("run", "--host", host, "--label", LABEL, *args)


# ------------------------------------------------------------ attached runs

code, out, err = run("--rm", IMAGE, "--", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3")
c.equal(code, 3, "the exit status is the container's")
c.equal(out, "to-stdout\n", "the container's stdout is rtb's stdout")
c.equal(err, "to-stderr\n", "the container's stderr is rtb's stderr")
c.equal(ours(), {}, "--rm: nothing left after an attached run")

# Both streams at a high rate: every line arrives exactly once, in order per
# stream (dockerd stamps the two streams on separate threads, so its log is
# not in stamp order; the catch-up after the follower must not repeat or
# drop a line whatever the order).
LINES = 4000
script = ('i=0; while [ $i -lt %d ]; do echo "out $i"; echo "err $i" >&2; '
          'if [ $((i %% 97)) -eq 0 ]; then echo "burst $i" >&2; echo "burst $i" >&2; fi; i=$((i+1)); done') % LINES
for attempt in range(3):
    code, out, err = run("--rm", IMAGE, "--", "sh", "-c", script)
    want_out = [f"out {i}" for i in range(LINES)]
    want_err = []
    for i in range(LINES):
        want_err.append(f"err {i}")
        if i % 97 == 0:
            want_err += [f"burst {i}", f"burst {i}"]
    got_out, got_err = out.splitlines(), err.splitlines()
    c.equal(code, 0, f"interleaved run {attempt}: exit 0")
    c.check(got_out == want_out, f"interleaved run {attempt}: stdout has every line once, in order "
                                 f"({len(got_out)} lines, first difference at "
                                 f"{next((k for k, (a, b) in enumerate(zip(got_out, want_out)) if a != b), None)})")
    c.check(got_err == want_err, f"interleaved run {attempt}: stderr has every line once, in order "
                                 f"({len(got_err)} lines of {len(want_err)}, first difference at "
                                 f"{next((k for k, (a, b) in enumerate(zip(got_err, want_err)) if a != b), None)})")
c.equal(ours(), {}, "--rm: nothing left after the interleaved runs")

code, out, err = run("--rm", "-e", "A=1", "--env", "B=x y=z", "-e", "A=2", "-w", "/tmp", "-u", "65534:65534",
                     IMAGE, "--", "sh", "-c", 'echo "$A|$B"; pwd; id -u; id -g')
c.equal((code, out), (0, "2|x y=z\n/tmp\n65534\n65534\n"), "--env (last wins), --workdir and --user apply")

code, out, err = run("--rm", "--memory", "64m", "--memory-swap", "128m", "--cpus", "0.5", "--pids-limit", "20",
                     "--shm-size", "16m", IMAGE, "--", "sh", "-c",
                     "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes "
                     "/sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max; df -k /dev/shm | tail -n 1")
lines = out.splitlines()
c.equal(lines[:4], [str(64 << 20), str(128 << 20), "50000", "20"], "--memory, --memory-swap, --cpus, --pids-limit apply")
c.check(len(lines) == 5 and lines[4].split()[1] == "16384", f"--shm-size applies: {out!r}")

code, out, err = run("--rm", "--pids-limit", "10", IMAGE, "--", "sh", "-c",
                     "i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done; echo spawned=$i")
c.check(code != 0 and "can't fork" in err and "spawned=40" not in out,
        f"spawning past --pids-limit fails inside: {code} {out!r} {err!r}")

code, out, err = run("--rm", "--cpu-quota", "20000", "--cpu-period", "40000", IMAGE, "--",
                     "cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")
c.equal(out, "20000\n40000\n", "--cpu-quota and --cpu-period apply")

with tempfile.TemporaryDirectory(prefix="rtb-cli-run-") as d:
    os.mkdir(os.path.join(d, "ro"))
    os.mkdir(os.path.join(d, "rw"))
    with open(os.path.join(d, "ro", "seen"), "w") as f:
        f.write("from the host\n")
    code, out, err = run("--rm", "--mount", f"{d}/ro:/ro:ro", "-v", f"{d}/rw:/rw", "--tmpfs", "/scratch:size=1m,mode=1777",
                         "--read-only", IMAGE, "--", "sh", "-c",
                         "cat /ro/seen; (echo x > /ro/x) 2>/dev/null || echo ro-refused; echo w > /rw/w; "
                         "echo t > /scratch/t && echo tmpfs-ok; (echo y > /etc/y) 2>/dev/null || echo rootfs-refused")
    c.equal(out, "from the host\nro-refused\ntmpfs-ok\nrootfs-refused\n", "--mount :ro, --tmpfs, --read-only apply")
    c.check(os.path.exists(os.path.join(d, "rw", "w")) and not os.path.exists(os.path.join(d, "ro", "x")),
            "the read-write mount was written, the read-only one not")

code, out, err = run("--rm", "--entrypoint", "/bin/echo", IMAGE, "--", "via", "entrypoint")
c.equal(out, "via entrypoint\n", "--entrypoint replaces the image's")

code, out, err = run("--rm", "-t", IMAGE, "--", "sh", "-c", "echo one; echo two >&2")
c.equal((code, out, err), (0, "one\r\ntwo\r\n", ""), "--tty: one stream, the terminal's line ends")

code, out, err = run("--rm", IMAGE, "--", "ls", "/sys/class/net")
c.equal(out, "lo\n", "no network unless asked")

code, out, err = run(IMAGE, "--", "true")
left = ours()
c.check(code == 0 and len(left) == 1 and list(left.values()) == ["exited"],
        f"without --rm the exited container stays, as with docker run: {left}")
for cid in left:
    remove(cid)

# Named in the loopback registry (which lacks it too): rtb run tries to pull
# it first, as docker run does, and says that failed.
REGISTRY = os.environ["RTB_REGISTRY"]
code, out, err = run("--rm", f"{REGISTRY}/rtb-never-built:{RUN}")
c.check(code == 2 and "no such image" in err and "pulling it failed" in err,
        f"a missing image: exit 2, says so: {err!r}")
code, out, err = run("--rm", "--pull", "never", f"{REGISTRY}/rtb-never-built:{RUN}")
c.check(code == 2 and "no such image" in err and "pulling" not in err,
        f"--pull never: no pull, exit 2: {err!r}")
c.equal(ours(), {}, "a missing image leaves nothing")

code, out, err = run("--rm", "--network", "rtb-no-such-network", IMAGE, "--", "true")
c.check(code == 2 and "does not exist" in err, f"a missing network: exit 2, says so: {err!r}")

# --------------------------------------------------------------- detached

code, out, err = run("-d", "--name", f"rtb-{RUN}", IMAGE, "--", "sleep", "300")
cid = out.strip()
c.check(code == 0 and len(cid) == 64 and all(ch in "0123456789abcdef" for ch in cid), f"--detach prints the id: {out!r}")
c.equal(ours().get(cid), "running", "the detached sandbox runs")
status, body = engine("GET", f"/containers/{cid}/json")
c.equal(json.loads(body)["Name"].lstrip("/"), f"rtb-{RUN}", "--name names it")
remove(cid)

# The port was free a moment ago; if something takes it before httpd binds
# it, the sandbox never gets healthy: try again with another (at most 3 times).
for attempt in range(3):
    port = free_port()
    code, out, err = run("-d", "--rm", "--network", "host", "--publish", str(port),
                         "--health-cmd", f"wget -q -O /dev/null http://127.0.0.1:{port}/", "--health-interval", "200ms",
                         IMAGE, "--", "sh", "-c",
                         f"mkdir -p /tmp/www && echo hello > /tmp/www/index.html && exec httpd -f -p 127.0.0.1:{port} -h /tmp/www")
    cid = out.strip()
    if code == 0:
        break
    print(f"attempt {attempt}: port {port} was taken meanwhile? {err.strip()[-300:]}", file=sys.stderr)
    for left in ours():
        remove(left)
c.equal(code, 0, f"a published port with a health check starts: {err!r}")
try:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/")
    body = conn.getresponse().read()
    conn.close()
except OSError as e:
    body = repr(e).encode()
c.equal(body, b"hello\n", "the published port answers on 127.0.0.1 once run returns (host network)")
status, _ = engine("POST", f"/containers/{cid}/stop?t=1")
status, _ = engine("POST", f"/containers/{cid}/wait?condition=removed")
c.equal(ours(), {}, "--rm --detach: the engine removes it once stopped")

# ------------------------------------------------------------------ signals

p = subprocess.Popen([RTB, "run", "--host", HOST, "--label", LABEL, "--rm", "--stop-timeout", "5", IMAGE, "--", "sh", "-c",
                      "trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
# A hung rtb must fail this check, not the whole run: it is killed after 120 s.
watchdog = threading.Timer(120, p.kill)
watchdog.start()
first = p.stdout.readline()
p.send_signal(signal.SIGINT)
rest, perr = p.communicate()
watchdog.cancel()
c.equal(first, b"ready\n", "the attached sandbox's output streams while it runs")
c.equal(p.returncode, 130, f"SIGINT: exit status 130 ({perr!r})")
c.check(b"stopping container" in perr, f"SIGINT is reported: {perr!r}")
c.equal(ours(), {}, "SIGINT with --rm: the container is stopped and removed")

# ------------------------------------------------- refused before the engine

root_link = tempfile.mkdtemp(prefix="rtb-cli-run-link-")
os.rmdir(root_link)
os.symlink("/", root_link)
try:
    for args, why in [
        (["--memory", "12q"], '--memory "12q" is not a size'),
        (["--memory", "1k"], "below the engines' minimum of 6 MiB"),
        (["--memory-swap", "1g"], "needs a memory limit"),
        (["--shm-size=-5m"], '--shm-size "-5m" is not a size'),
        (["--cpus", "abc"], '--cpus "abc" is not a CPU count'),
        (["--cpus", "1.5", "--cpu-quota", "5000"], "cannot both be set"),
        (["--pids-limit", "many"], '--pids-limit "many" is not a whole number'),
        (["--pids-limit", "0"], "pids_limit 0 must be at least 1"),
        (["--network", "host", "-p", "70000"], 'container port "70000"'),
        (["--network", "host", "-p", "70000:80"], 'host port "70000"'),
        (["--network", "host", "-p", "8080-8090:80"], "port range"),
        (["-p", "80"], 'network "none" has no ports'),
        (["--network", "host", "-p", "localhost:80:80"], "not an IP address"),
        (["--mount", "./data:/data"], "a relative path"),
        (["--mount", "data/x:/data"], "a relative path"),
        (["--mount", "/nonexistent/rtb:/data"], "does not exist on the host"),
        (["--mount", "/:/host"], "allow_root_mount"),
        (["--mount", f"{root_link}:/host"], "through a symlink"),
        (["--mount", f"{SOCKET}:/var/run/docker.sock"], "allow_engine_socket_mount"),
        (["--mount", "/tmp:/data:rx"], 'mode "rx"'),
        (["--mount", "/tmp:data"], "must be an absolute path"),
        (["--tmpfs", "/s:size=lots"], "--tmpfs size"),
        (["--tmpfs", "/s:exec"], 'option "exec"'),
        (["-e", "NOEQUALS"], "is not NAME=VALUE"),
        (["-e", "=x"], "empty name"),
        (["-l", "=x"], "empty name"),
        (["-w", "relative"], "must be an absolute path"),
        (["-u", "root;id"], 'is not "uid[:gid]"'),
        (["--name", "bad name"], "is not a container name"),
        (["--network", "container:abc"], "not supported"),
        (["--health-cmd", "true", "--health-interval", "soon"], "--health-interval"),
        (["--ready-timeout=-1s"], "--ready-timeout"),
        (["--stop-timeout", "x"], "--stop-timeout"),
        ([a for i in range(9) for a in ("-e", f"BIG{i}=" + "x" * 120000)], "add up to"),
    ]:
        code, out, err = run(*args, IMAGE, "--", "true", host=NOWHERE)
        c.check(code == 2 and why in err and "cannot connect" not in err,
                f"{args[:4]}: exit 2 naming the problem ({why!r}) before any engine is asked; got {code} {err!r}")
    code, out, err = run("--mount", f"{SOCKET}:/s", "--allow-engine-socket", IMAGE, "--", "true", host=NOWHERE)
    c.check(code == 2 and "cannot connect" in err, f"--allow-engine-socket lets that mount through: {err!r}")
    code, out, err = run(f"Bad/Image", "--", "true", host=NOWHERE)
    c.check(code == 2 and "invalid image reference" in err, f"a malformed image: {err!r}")
    code, out, err = rtb("run", "--host", "ftp://x", IMAGE)
    c.check(code == 2 and "DOCKER_HOST" in err, f"a malformed --host: {err!r}")
finally:
    os.unlink(root_link)

c.equal(ours(), {}, "nothing of this run is left on the engine")
for cid in ours():
    remove(cid)
c.done()
