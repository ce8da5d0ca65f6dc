"""Shared helpers for the rtb CLI tests: run the program, collect failures."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading

RTB = os.environ.get("RTB", "rtb")


def rss_limit_kib(limit_kib):
    """A peak-RSS bound for rtb, in KiB. Under ASan (scripts/sanitize asan sets
    RTB_SANITIZER=asan) shadow memory and the quarantine of freed blocks add
    a few hundred MiB whatever rtb does, so the bound gets that allowance
    there; the normal build checks the real one."""
    return limit_kib + (512 * 1024 if os.environ.get("RTB_SANITIZER") == "asan" else 0)


class Checks:
    """Collects failed checks and reports them all at the end (exit 1 if any)."""

    def __init__(self):
        self.failures = []
        self.count = 0

    def check(self, condition, what):
        self.count += 1
        if not condition:
            self.failures.append(what)
            print(f"FAIL: {what}", file=sys.stderr)

    def equal(self, got, expected, what):
        self.check(got == expected, f"{what}: got {got!r}, expected {expected!r}")

    def done(self):
        print(f"{self.count - len(self.failures)} of {self.count} checks passed")
        sys.exit(1 if self.failures or self.count == 0 else 0)


class UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (an engine's API)."""

    def __init__(self, path):
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def engine_call(host, method, target):
    """One Engine API call (API 1.41) to `host` (unix:///path); (status, body bytes)."""
    conn = UnixConnection(host[len("unix://"):])
    try:
        conn.request(method, "/v1.41" + target)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def need(name):
    """An environment variable scripts/engines sets; exits with a clear message without it."""
    v = os.environ.get(name)
    if not v:
        sys.exit(f"{name} is not set: run through `scripts/engines run -- ...` (meson test does)")
    return v


def rtb(*args, input=None, env=None):
    """Runs rtb; returns (exit status, stdout, stderr) as text."""
    p = subprocess.run([RTB, *map(str, args)], input=input, capture_output=True, env=env)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def run_measured(argv):
    """Runs a command in a fresh child; returns (exit status, stdout bytes,
    peak RSS of that command in KiB)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(write_end, 1)
        devnull = os.open("/dev/null", os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(read_end)
        os.execv(argv[0], argv)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status, usage = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks), usage.ru_maxrss


def write_secret(path, text):
    """Writes a key file readable by its owner only (rtb serve refuses others)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def loopback_listener():
    """A listening TCP socket on 127.0.0.1 (any free port) to hand to rtb
    serve: it stays open while servers come and go, so a restarted server
    listens on the same port with no race for it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    return s


class ServeProcess:
    """An `rtb serve` process on 127.0.0.1 with one API key (`key`) in a key
    file under `tmp` (or the key file `key_file`), building on
    `docker_host`; started by the constructor (and again by start()), its
    stderr lines collected in `lines`. With `listener` (a listening socket)
    the server serves on it instead of a port of its own: handed over by
    systemd-style socket activation (LISTEN_PID/LISTEN_FDS, fd 3), or as
    `--listen fd:N` with activation="fd"."""

    def __init__(self, tmp, key, docker_host, *args, port=0, env_extra=None, key_file=None, listener=None,
                 activation="systemd"):
        self.key_file = key_file or os.path.join(tmp, "keys")
        if key_file is None:
            write_secret(self.key_file, f"# test keys\n{key}\n")
        self.args = list(args)
        self.env = dict(os.environ, DOCKER_HOST=docker_host, **(env_extra or {}))
        self.activation = activation
        self.start(port, listener)

    def start(self, port=0, listener=None):
        self.lines = []
        serve = [RTB, "serve", "--api-key-file", self.key_file, *self.args]
        pass_fds = ()
        if listener is None:
            argv = serve + ["--listen", f"127.0.0.1:{port}"]
        elif self.activation == "fd":
            argv = serve + ["--listen", f"fd:{listener.fileno()}"]
            pass_fds = (listener.fileno(),)
        else:
            # As systemd does: the socket as fd 3, LISTEN_PID naming the
            # server's own pid (the shell's, which exec keeps).
            argv = ["/bin/sh", "-c", 'fd=$1; shift; eval "exec 3<&$fd"; [ "$fd" = 3 ] || eval "exec $fd<&-"; '
                    'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh", str(listener.fileno()), *serve]
            pass_fds = (listener.fileno(),)
        self.proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=self.env,
                                     pass_fds=pass_fds)
        ready = threading.Event()

        def read():
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.lines.append(line)
                if "listening on http://" in line:
                    self.port = int(line.rsplit(":", 1)[1])
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60) or self.proc.poll() is not None:
            raise SystemExit(f"rtb serve did not start: {self.lines}")
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(60)

    def log(self):
        return "\n".join(self.lines)


def api_call(server, method, target, body=None, headers=None, key=None, timeout=60, parse_json=True):
    """One request to an `rtb serve` on loopback, on a connection of its own,
    with `key` as X-API-Key (None: no key). Returns (status, headers, body):
    the body parsed as JSON when it is JSON and parse_json, else its bytes."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        h = dict(headers or {})
        if key is not None:
            h["X-API-Key"] = key
        conn.request(method, target, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        payload = data
        if parse_json:
            try:
                payload = json.loads(data) if data else None
            except ValueError:
                payload = data
        return r.status, dict(r.getheaders()), payload
    finally:
        conn.close()
