"""A private dockerd for one test run, and a recorder of what a docker client sends.

IsolatedDockerd starts Debian's dockerd with its own data root, exec root,
pid file and unix socket, all under a fresh temporary directory, with no
bridge and no iptables (containers get no network). It is stopped and the
directory removed when the `with` block ends, whatever happens. A missing or
failing dockerd raises: integration tests fail, they never skip. With
`tls=(ca, cert, key)` it also listens on tcp://127.0.0.1:PORT with
--tlsverify: only clients with a certificate signed by `ca` get in.

RecordingProxy sits between a docker client and the daemon on another unix
socket and keeps the bytes each client connection sent, so a test can see
the exact build context tar a `docker build` uploaded.
"""

import io
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"  # Debian's client: it has buildx (BuildKit)


class EngineError(RuntimeError):
    pass


class IsolatedDockerd:
    def __init__(self, start_timeout=90, tls=None):
        self.start_timeout = start_timeout
        self.tls = tls
        self.tcp_port = None
        self.dir = None
        self.proc = None

    @property
    def tcp_host(self):
        """tcp://127.0.0.1:PORT, the TLS listener (with tls=...)."""
        return f"tcp://127.0.0.1:{self.tcp_port}"

    @property
    def socket(self):
        return os.path.join(self.dir, "docker.sock")

    @property
    def host(self):
        return "unix://" + self.socket

    def __enter__(self):
        if not os.access(DOCKERD, os.X_OK):
            raise EngineError(f"{DOCKERD} is missing: install docker.io (scripts/setup does)")
        self.dir = tempfile.mkdtemp(prefix="rtb-dockerd-")
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self):
        self.log = open(os.path.join(self.dir, "dockerd.log"), "wb")
        args = [
            DOCKERD,
            "--bridge=none", "--iptables=false", "--ip6tables=false",
            "--data-root", os.path.join(self.dir, "data"),
            "--exec-root", os.path.join(self.dir, "exec"),
            "--pidfile", os.path.join(self.dir, "dockerd.pid"),
            "--host", self.host,
        ]
        if self.tls:
            import socket as _socket
            s = _socket.socket()
            s.bind(("127.0.0.1", 0))
            self.tcp_port = s.getsockname()[1]
            s.close()
            ca, cert, key = self.tls
            args += ["--tlsverify", "--tlscacert", ca, "--tlscert", cert, "--tlskey", key,
                     "--host", self.tcp_host]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise EngineError(f"dockerd exited with {self.proc.returncode}:\n{self.log_tail()}")
            r = subprocess.run([DOCKER, "-H", self.host, "version", "--format", "{{.Server.Version}}"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                self.version = r.stdout.strip()
                return
            if time.monotonic() > deadline:
                raise EngineError(f"dockerd did not answer within {self.start_timeout}s:\n{self.log_tail()}")
            time.sleep(0.3)

    def log_tail(self, n=40):
        try:
            with open(os.path.join(self.dir, "dockerd.log"), "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return "(no log)"

    def docker(self, *args, client=DOCKER, env=None, input=None, check=True, host=None):
        e = dict(os.environ)
        e.pop("DOCKER_HOST", None)
        e["DOCKER_CONFIG"] = os.path.join(self.dir, "client-config")
        if env:
            e.update(env)
        r = subprocess.run([client, "-H", host or self.host, *args], capture_output=True, env=e, input=input)
        if check and r.returncode != 0:
            raise EngineError(f"{client} {' '.join(args)} failed ({r.returncode}):\n"
                              f"{r.stderr.decode(errors='replace')}\n{r.stdout.decode(errors='replace')[-3000:]}")
        return r

    def make_busybox(self, tag="local/busybox:1", applets=("sh",)):
        """Imports a base image made of Debian's busybox-static (no Docker Hub here)."""
        busybox = "/bin/busybox"
        if not os.path.exists(busybox):
            raise EngineError("/bin/busybox is missing: install busybox-static (scripts/setup does)")
        root = tempfile.mkdtemp(prefix="rootfs-", dir=self.dir)
        os.makedirs(os.path.join(root, "bin"))
        shutil.copy2(busybox, os.path.join(root, "bin", "busybox"))
        for a in applets:
            os.symlink("busybox", os.path.join(root, "bin", a))
        tar = subprocess.run(["tar", "-C", root, "-c", "."], capture_output=True, check=True).stdout
        self.docker("import", "-", tag, input=tar)
        shutil.rmtree(root)
        return tag

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        if self.dir:
            data = os.path.join(self.dir, "data")
            # a killed daemon can leave overlay mounts behind
            subprocess.run(["sh", "-c", f"grep -o ' {data}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l"],
                           capture_output=True)
            shutil.rmtree(self.dir, ignore_errors=True)
        return False


class RecordingProxy:
    """Relays a unix socket to dockerd's and records what clients send."""

    def __init__(self, target_socket, path):
        self.target = target_socket
        self.path = path
        self.sent = []  # one bytearray per client connection
        self.lock = threading.Lock()

    def __enter__(self):
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(16)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        return self

    @property
    def host(self):
        return "unix://" + self.path

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
            record = bytearray()
            with self.lock:
                self.sent.append(record)
            done = threading.Barrier(2, action=lambda c=client, u=upstream: (c.close(), u.close()))
            threading.Thread(target=self._pipe, args=(client, upstream, record, done), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, None, done), daemon=True).start()

    @staticmethod
    def _pipe(src, dst, record, done):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                if record is not None:
                    record += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            try:
                done.wait(timeout=60)  # the last of the two directions closes both sockets
            except threading.BrokenBarrierError:
                pass

    def reset(self):
        with self.lock:
            self.sent = []

    def build_bodies(self):
        """The request bodies of every POST .../build the clients sent."""
        bodies = []
        with self.lock:
            streams = [bytes(s) for s in self.sent]
        for s in streams:
            for method, target, body in parse_requests(s):
                if method == "POST" and target.split("?")[0].endswith("/build"):
                    bodies.append(body)
        return bodies

    def __exit__(self, *exc):
        self.server.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
        return False


def parse_requests(data):
    """Splits recorded HTTP/1.1 client bytes into (method, target, body)."""
    out = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head = data[pos:end].decode("latin-1").split("\r\n")
        method, target = head[0].split(" ")[:2]
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        pos = end + 4
        body = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = io.BytesIO()
            while True:
                eol = data.index(b"\r\n", pos)
                size = int(data[pos:eol].split(b";")[0], 16)
                pos = eol + 2
                if size == 0:
                    # trailers end with an empty line
                    while True:
                        eol = data.index(b"\r\n", pos)
                        line = data[pos:eol]
                        pos = eol + 2
                        if not line:
                            break
                    break
                chunks.write(data[pos:pos + size])
                pos += size + 2
            body = chunks.getvalue()
        elif "content-length" in headers:
            n = int(headers["content-length"])
            body = data[pos:pos + n]
            pos += n
        out.append((method, target, body))
        if headers.get("upgrade") or headers.get("connection", "").lower() == "upgrade":
            break  # the rest is a hijacked stream
    return out
