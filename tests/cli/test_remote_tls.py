#!/usr/bin/python3
"""rtb against a remote engine over TLS, for real: a dockerd this test starts
listening on tcp://127.0.0.1:PORT with --tlsverify and certificates made
here with openssl (a private CA, a server certificate for 127.0.0.1, a client
certificate). rtb reads DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH
as the docker CLI does: exists, build, run and prune work through it. A
wrong CA, a missing client certificate, an expired client certificate and
an expired server certificate each fail with exit status 2 and a message
naming the file and what was wrong; a TLS endpoint is never spoken to in
plain HTTP (a listener that records what it receives sees a TLS
ClientHello and no HTTP request)."""
import os
import shutil
import socket
import ssl
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from support import Checks, rtb  # noqa: E402
from isolated_dockerd import IsolatedDockerd  # noqa: E402
from tls_certs import PrivateCA  # noqa: E402

c = Checks()
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
tmp = tempfile.mkdtemp(prefix="rtb-tls-")


def cert_dir(name, ca=None, cert=None, key=None):
    """A DOCKER_CERT_PATH folder with the docker CLI's file names."""
    d = os.path.join(tmp, name)
    os.makedirs(d)
    for src, dst in ((ca, "ca.pem"), (cert, "cert.pem"), (key, "key.pem")):
        if src:
            shutil.copyfile(src, os.path.join(d, dst))
    return d


def busybox_applets():
    """Every applet of Debian's static busybox, as scripts/make-base-image links them."""
    import subprocess
    out = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout
    return tuple(a for a in out.split() if a and a != "busybox" and "/" not in a)


class Listener:
    """A TCP listener on 127.0.0.1 that keeps the first bytes of each
    connection (plain: says nothing back), or serves TLS with a given
    certificate (to present an expired one)."""

    def __init__(self, tls=None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.context = None
        if tls:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(*tls)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    if self.context:
                        with self.context.wrap_socket(conn, server_side=True) as t:
                            t.recv(1024)
                    else:
                        self.received.append(conn.recv(1024))
                except (OSError, ssl.SSLError):
                    pass

    def close(self):
        self.sock.close()


try:
    ca = PrivateCA(os.path.join(tmp, "ca"), "rtb test CA")
    other = PrivateCA(os.path.join(tmp, "other-ca"), "another CA")
    server_cert, server_key = ca.server()
    client_cert, client_key = ca.client()
    expired_cert, expired_key = ca.expired("expired-client")
    expired_server = ca.expired("expired-server", server=True)

    good = cert_dir("good", ca.cert, client_cert, client_key)
    wrong_ca = cert_dir("wrong-ca", other.cert, client_cert, client_key)
    no_client = cert_dir("no-client", ca.cert)
    expired = cert_dir("expired", ca.cert, expired_cert, expired_key)

    src = os.path.join(tmp, "src")
    shutil.copytree(os.path.join(root, "examples/runtime/src"), src, symlinks=True)
    lock = os.path.join(tmp, "deps.lock")
    shutil.copyfile(os.path.join(root, "examples/runtime/deps.lock"), lock)

    with IsolatedDockerd(tls=(ca.cert, server_cert, server_key)) as d:
        d.make_busybox("local/busybox:1", applets=busybox_applets())

        def env_for(certs, host=None):
            e = dict(os.environ, DOCKER_HOST=host or d.tcp_host, DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=certs,
                     RTB_CACHE_DIR=os.path.join(tmp, "cache"), DOCKER_CONFIG=os.path.join(tmp, "docker-config"))
            e.pop("DOCKER_TLS", None)
            return e

        # ---------------------------------------------- it works, through DOCKER_* alone
        env = env_for(good)
        status, out, err = rtb("exists", "local/busybox:1", env=env)
        c.equal(status, 0, f"exists over TLS: the base image is there ({err.strip()!r})")
        status, out, err = rtb("exists", "local/rtb-tls-nothing:1", env=env)
        c.equal(status, 1, f"exists over TLS: a missing image is a no ({err.strip()!r})")

        repo = "local/rtb-tls"
        status, out, err = rtb("build", "--base-image", "local/busybox:1", "--source", src, "--lock", lock,
                               "--runtime-repo", repo, "--quiet", env=env)
        image = out.strip().splitlines()[-1] if out.strip() else ""
        c.check(status == 0 and "plan: scratch" in err and image.startswith(repo + ":"),
                f"build over TLS: scratch, the image named on stdout ({status}, {err[-600:]!r})")
        status, out, err = rtb("build", "--base-image", "local/busybox:1", "--source", src, "--lock", lock,
                               "--runtime-repo", repo, env=env)
        c.check(status == 0 and "plan: reuse" in err, f"build again over TLS: reuse ({err[-300:]!r})")

        status, out, err = rtb("run", "--rm", image, "--", "cat", "/rtb/runtime/VERSION", env=env)
        c.check(status == 0 and out.strip() == open(os.path.join(src, "VERSION")).read().strip(),
                f"run over TLS: the container ran and printed the runtime's version ({status}, {out!r}, {err!r})")

        # A source edit: a second image, built on the first (which carries
        # the lock tag, and so stays when pruning).
        with open(os.path.join(src, "lib", "tls-edit.sh"), "w") as f:
            f.write("echo edited\n")
        status, out, err = rtb("build", "--base-image", "local/busybox:1", "--source", src, "--lock", lock,
                               "--runtime-repo", repo, "--quiet", env=env)
        second = out.strip().splitlines()[-1] if out.strip() else ""
        c.check(status == 0 and "plan: lock" in err, f"a source-only build over TLS ({err[-300:]!r})")
        status, out, err = rtb("prune", "--keep", "0", env=env)
        c.check(status == 0 and second in out, f"prune over TLS names the image it removes ({out!r}, {err.strip()!r})")
        status, out, err = rtb("exists", second, env=env)
        c.equal(status, 1, f"prune over TLS removed the source-only image ({err.strip()!r})")
        status, out, err = rtb("exists", image, env=env)
        c.equal(status, 0, f"the image carrying the lock tag stays ({err.strip()!r})")

        # ---------------------------------------------- each wrong setup names its file
        def refused(certs, what, *parts, host=None):
            status, out, err = rtb("exists", "local/busybox:1", env=env_for(certs, host))
            c.check(status == 2 and all(p in err for p in parts),
                    f"{what}: exit 2 naming {parts}: got {status}, {err.strip()!r}")
            for secret in (open(client_key).read(), open(ca.key).read()):
                c.check(secret.strip().splitlines()[1] not in err + out, f"{what}: no private key in the output")

        refused(wrong_ca, "a CA that did not sign the engine's certificate",
                f"not signed by the CA in {wrong_ca}/ca.pem")
        refused(no_client, "no client certificate",
                "requires a client certificate and none was sent", f"{no_client}/cert.pem")
        refused(expired, "an expired client certificate",
                f"refused the client certificate {expired}/cert.pem: it expired on 2020-01-02")

        # An engine whose own certificate expired.
        bad_server = Listener(tls=expired_server)
        try:
            refused(good, "an expired server certificate", "certificate has expired",
                    host=f"tcp://127.0.0.1:{bad_server.port}")
        finally:
            bad_server.close()

        # Never plain HTTP: with DOCKER_TLS_VERIFY set, a listener that
        # answers nothing receives a TLS ClientHello (0x16), never a request.
        plain = Listener()
        try:
            status, out, err = rtb("exists", "local/busybox:1", env=env_for(good, f"tcp://127.0.0.1:{plain.port}"))
            c.equal(status, 2, f"a listener that does not speak TLS: exit 2 ({err.strip()!r})")
            got = b"".join(plain.received)
            c.check(got != b"" and all(chunk[:1] == b"\x16" for chunk in plain.received if chunk),
                    f"only TLS handshakes reached the listener: {plain.received[:3]!r}")
            c.check(b"HTTP/1.1" not in got and b"GET " not in got, "no plain HTTP request was ever sent")
        finally:
            plain.close()
finally:
    shutil.rmtree(tmp, ignore_errors=True)

c.done()
