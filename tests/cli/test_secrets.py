#!/usr/bin/python3
"""Secrets never leave rtb: the full CLI runs with canary secrets set (a
registry password in DOCKER_CONFIG, the bearer token a registry hands out,
RTB_API_KEY, a password in a --host URL), against a real dockerd and a hostile
registry that echoes credentials back in its error bodies, and every byte rtb
writes (stdout, stderr, --json, files under its cache directory) is searched
for each canary in plain, base64 and URL-encoded form.

Run through `scripts/engines run` (meson test does)."""
import base64
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from support import Checks, engine_call, need, rtb, write_secret  # noqa: E402

c = Checks()
docker_host = need("RTB_DOCKER_HOST")
base = need("RTB_TEST_BASE_IMAGE")
REPO = f"local/rtb-secrets-{os.getpid()}"  # this run's images: real builds, never another run's reuse

USER = "bob"
PASSWORD = "canary-pw-7f3a9e1c"
TOKEN = "canary-token-91bd55aa0f"
API_KEY = "canary-key-c4e2d7b3"
URL_PASSWORD = "canary-urlpw-5d1e"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
CANARIES = {
    "registry password": PASSWORD,
    "registry password (base64 user:pass)": BASIC,
    "bearer token": TOKEN,
    "API key": API_KEY,
    "password in a URL": URL_PASSWORD,
}
for name, value in list(CANARIES.items()):
    CANARIES[name + " (base64)"] = base64.b64encode(value.encode()).decode()
    CANARIES[name + " (URL-encoded)"] = urllib.parse.quote(value, safe="")


class HostileRegistry(http.server.BaseHTTPRequestHandler):
    """Bearer-token auth like Docker Hub, but every error body echoes what the
    client sent: the Authorization header, the token, the password."""

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def echo_error(self, status, what):
        auth = self.headers.get("Authorization", "")
        body = json.dumps({"errors": [{"code": "UNKNOWN", "message":
                                       f"{what}; you sent Authorization: {auth}; token={TOKEN} password={PASSWORD}"}]})
        self.reply(status, body.encode(), [("Content-Type", "application/json"),
                                           ("Www-Authenticate", f'Bearer realm="http://127.0.0.1:{port}/token",'
                                                                f'service="fake",error="{auth}"')])

    def do_GET(self):
        self.handle_any()

    def do_HEAD(self):
        self.handle_any()

    def handle_any(self):
        path = urllib.parse.urlparse(self.path).path
        auth = self.headers.get("Authorization", "")
        if path == "/token":
            if auth == f"Basic {BASIC}":
                return self.reply(200, json.dumps({"token": TOKEN, "access_token": TOKEN}).encode(),
                                  [("Content-Type", "application/json")])
            return self.echo_error(401, "bad credentials")
        if auth != f"Bearer {TOKEN}":
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                              [("Content-Type", "application/json"),
                               ("Www-Authenticate", f'Bearer realm="http://127.0.0.1:{port}/token",'
                                                    f'service="fake",scope="repository:x:pull"')])
        if path.startswith("/v2/ok/manifests/"):
            return self.reply(200, b"{}", [("Docker-Content-Digest", "sha256:" + "a" * 64),
                                           ("Content-Type", "application/vnd.oci.image.manifest.v1+json")])
        if path.startswith("/v2/missing/"):
            return self.reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no such manifest"}]}')
        return self.echo_error(500, "internal error")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HostileRegistry)
port = server.server_address[1]
threading.Thread(target=server.serve_forever, daemon=True).start()
registry = f"127.0.0.1:{port}"

outputs = []  # (what ran, text it printed)


def run(what, *args, env, expect):
    status, out, err = rtb(*args, env=env)
    outputs.append((what, out + err))
    c.check(status in expect, f"{what}: exit status {status}, expected one of {expect}; stderr: {err.strip()[:400]}")
    return status, out, err


with tempfile.TemporaryDirectory(prefix="rtb-secrets-") as tmp:
    cache_dir = os.path.join(tmp, "cache")  # rtb's own files, searched below too
    good_config = os.path.join(tmp, "good")
    bad_config = os.path.join(tmp, "bad")
    os.makedirs(good_config)
    os.makedirs(bad_config)
    with open(os.path.join(good_config, "config.json"), "w") as f:
        json.dump({"auths": {registry: {"auth": BASIC}}}, f)
    with open(os.path.join(bad_config, "config.json"), "w") as f:
        json.dump({"auths": {registry: {"username": USER, "password": PASSWORD + "-wrong"}}}, f)
    env = dict(os.environ, DOCKER_HOST=docker_host, DOCKER_CONFIG=good_config, RTB_API_KEY=API_KEY,
               REGISTRY_PASSWORD=PASSWORD, RTB_CACHE_DIR=cache_dir, RTB_RUNTIME_REPOSITORY=REPO)

    # The registry paths: success, not found, a 500 that echoes every secret.
    run("exists ok", "exists", "--registry-only", f"{registry}/ok:1", env=env, expect=[0])
    run("exists missing", "exists", "--registry-only", f"{registry}/missing:1", env=env, expect=[1])
    status, _, err = run("exists echoing 500", "exists", "--registry-only", f"{registry}/echo:1", env=env, expect=[2])
    c.check("500" in err, f"the echoing registry's error is reported: {err.strip()[:300]}")
    run("exists wrong password", "exists", "--registry-only", f"{registry}/ok:1",
        env=dict(env, DOCKER_CONFIG=bad_config), expect=[2])
    run("exists via the engine", "exists", "--registry", f"{registry}/echo:1", env=env, expect=[1, 2])
    run("exists with a password in --host", "exists", "--host", f"tcp://{USER}:{URL_PASSWORD}@127.0.0.1:1",
        base, env=env, expect=[2])

    # A real build, with --json, with every secret in the environment; then a
    # failing one (its log tail is printed), then a pull of an image from the
    # echoing registry as the base image.
    source = os.path.join(tmp, "src")
    os.makedirs(source)
    with open(os.path.join(source, "app.py"), "w") as f:
        f.write("print('hi')\n")
    _, out, _ = run("build --json", "build", "--json", "--base-image", base, "--source", source, env=env, expect=[0])
    c.check('"plan":"scratch"' in out, f"the first build really builds (its output is searched): {out[-300:]!r}")
    run("build", "build", "--base-image", base, "--source", source, env=env, expect=[0])
    failing = os.path.join(tmp, "Dockerfile.fail")
    with open(failing, "w") as f:
        f.write("FROM {{base_image}}\nRUN echo about to fail && exit 3\n")
    run("failing build", "build", "--json", "--force", "--template", failing, "--base-image", base,
        "--source", source, env=env, expect=[1])
    run("build from the echoing registry", "build", "--base-image", f"{registry}/echo:1", "--source", source,
        env=env, expect=[1, 2])
    run("build with a password in --host", "build", "--host", f"tcp://{USER}:{URL_PASSWORD}@127.0.0.1:1",
        "--base-image", base, "--source", source, env=env, expect=[2])
    # A token as the whole userinfo of DOCKER_HOST (tcp://TOKEN@host): masked too.
    run("exists with a token in DOCKER_HOST", "exists", base, env=dict(env, DOCKER_HOST=f"tcp://{TOKEN}@127.0.0.1:1"),
        expect=[2])
    run("build with a token in --host", "build", "--host", f"tcp://{TOKEN}@127.0.0.1:1", "--base-image", base,
        "--source", source, env=env, expect=[2])
    run("tags", "tags", "--oh-version", "0.9.3", "--base-image", base, "--source", source, "--json", env=env, expect=[0])
    run("prune dry run", "prune", "--dry-run", "--keep", "2", env=env, expect=[0])

    # An engine stream and a BuildKit log carrying secrets, as a build may print them.
    stream = os.path.join(tmp, "stream.ndjson")
    with open(stream, "w") as f:
        f.write(json.dumps({"stream": f"Step 1/1 : RUN echo password={PASSWORD} token: {TOKEN}\n"}) + "\n")
        f.write(json.dumps({"stream": f"curl -H 'Authorization: Bearer {TOKEN}' https://{USER}:{URL_PASSWORD}@x\n"}) + "\n")
        f.write(json.dumps({"stream": f"export RTB_API_KEY={API_KEY}\n"}) + "\n")
    run("events", "events", stream, env=env, expect=[0])
    run("events --json", "events", "--json", stream, env=env, expect=[0])

    # rtb serve with the API key in its key file, and clients with the right
    # key, a wrong one, and a build that fails on the service.
    key_file = os.path.join(tmp, "keys")
    write_secret(key_file, f"# the team's key\n{API_KEY}\n")
    serve = subprocess.Popen([os.environ.get("RTB", "rtb"), "serve", "--listen", "127.0.0.1:0", "--api-key-file",
                              key_file], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    serve_port = None
    serve_lines = []
    for raw in serve.stdout:
        line = raw.decode("utf-8", "replace")
        serve_lines.append(line)
        if "listening on http://" in line:
            serve_port = int(line.strip().rsplit(":", 1)[1])
            break
    c.check(serve_port is not None, f"rtb serve started: {serve_lines}")
    if serve_port:
        url = f"http://127.0.0.1:{serve_port}"
        run("remote exists", "exists", "--transport", "remote", "--host", url, "-v", base, env=env, expect=[0, 1])
        run("remote exists, wrong key", "exists", "--transport", "remote", "--host", url, base,
            env=dict(env, RTB_API_KEY=API_KEY[::-1]), expect=[2])
        run("remote build", "build", "--json", "--transport", "remote", "--host", url, "--poll-interval", "50ms",
            "--base-image", base, "--source", source, env=env, expect=[0])
        run("remote failing build", "build", "--transport", "remote", "--host", url, "--poll-interval", "50ms",
            "--force", "--template", failing, "--base-image", base, "--source", source, env=env, expect=[1])
    serve.terminate()
    rest, _ = serve.communicate(timeout=60)
    outputs.append(("rtb serve's log", "".join(serve_lines) + rest.decode("utf-8", "replace")))

    # Everything printed, and every file rtb keeps, is free of every canary.
    texts = list(outputs)
    c.check(os.path.isdir(cache_dir), f"rtb wrote its cache directory {cache_dir}, searched below")
    for root, _, files in os.walk(cache_dir):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                texts.append((f"cache file {path}", f.read().decode("utf-8", "replace")))
    for what, text in texts:
        for name, value in CANARIES.items():
            c.check(value not in text, f"{what} printed the {name}: ...{text[max(0, text.find(value) - 80):text.find(value) + 40]!r}")
    c.check(len(outputs) >= 20, f"every command ran ({len(outputs)})")

    # This run's images, on the engine and as rtb serve named them.
    status, body = engine_call(docker_host, "GET", "/images/json")
    for img in json.loads(body) if status == 200 else []:
        for t in img.get("RepoTags") or []:
            if t.startswith(REPO + ":") or t.startswith("local/rtb/key1/" + REPO.rsplit("/", 1)[1] + ":"):
                status, body = engine_call(docker_host, "DELETE", f"/images/{urllib.parse.quote(t, safe='')}?force=1")
                c.check(status == 200, f"removing {t}: {status} {body[:200]!r}")

server.shutdown()
c.done()
