#!/usr/bin/python3
"""GET /metrics of `rtb serve` end to end, on the real dockerd of
scripts/engines (run through `scripts/engines run`): real builds through
`rtb build --transport remote` (scratch, reuse, lock, a failure) and raw
clients (no rtb.plan label, a known one, a hostile one, a cancelled build),
wrong keys, and a burst past the rate limit; then the exposition is parsed
with prometheus_client's own parser and every count is checked exactly:
builds by outcome and plan, histogram counts equal to build counts, the
queue empty at the end, 401 and 429 counters equal to what clients saw, the
accepted upload bytes, and no request text in any label."""
import base64
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(__file__))
from support import RTB, ServeProcess, api_call, Checks, engine_call, need, rtb  # noqa: E402

c = Checks()
docker_host = need("RTB_DOCKER_HOST")
base = need("RTB_TEST_BASE_IMAGE")
run_id = str(os.getpid())
KEY = f"mt-key-{run_id}-0123456789abcdef"
WRONG = f"mt-wrong-{run_id}-0123456789abcdef"
OUTCOMES = ["success", "failure", "cancelled", "timeout", "expired", "internal_error"]
PLANS = ["lock", "versioned", "scratch", "unknown"]
created_images = set()


class Server(ServeProcess):
    """`rtb serve` with this test's key, building on dockerd."""

    def __init__(self, tmp, *args, env_extra=None):
        super().__init__(tmp, KEY, docker_host, *args, env_extra=env_extra)
        self.scrapes = 0  # successful GET /metrics so far


def call(server, method, target, body=None, headers=None, key=KEY):
    return api_call(server, method, target, body, headers, key, parse_json=False)


class Scrape:
    """One parsed exposition: samples by (name, labels), families by name."""

    def __init__(self, text):
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples = {}
        for f in self.families.values():
            for s in f.samples:
                self.samples[(s.name, tuple(sorted(s.labels.items())))] = s.value

    def get(self, name, **labels):
        return self.samples.get((name, tuple(sorted(labels.items()))))

    def total(self, name, **labels):
        """The sum over every series of `name` whose labels include `labels`."""
        return sum(v for (n, ls), v in self.samples.items() if n == name and set(labels.items()) <= set(ls))


def scrape(server):
    status, headers, data = call(server, "GET", "/metrics")
    c.equal(status, 200, "GET /metrics with the key")
    c.equal(headers.get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8", "the exposition content type")
    s = Scrape(data.decode("utf-8"))
    c.equal(s.get("rtb_requests_total", endpoint="/metrics", code="200") or 0, server.scrapes,
            "earlier scrapes are counted (this one after it is answered)")
    server.scrapes += 1
    return s


def tar_gz(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as t:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def submit(server, dockerfile, target, labels=()):
    """A raw client's POST /build; (status, payload, bytes of the tar.gz)."""
    gz = tar_gz({"Dockerfile": dockerfile})
    boundary = f"mtboundary{run_id}"
    fields = [("target_image", target)] + [("label", label) for label in labels]
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n'.encode()
                    for n, v in fields)
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="context"; filename="context.tar.gz"\r\n\r\n'
             .encode() + base64.b64encode(gz) + f"\r\n--{boundary}--\r\n".encode())
    status, _, data = call(server, "POST", "/build", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    return status, json.loads(data), len(gz)


def build_status(server, build_id):
    _, _, data = call(server, "GET", "/build_status?build_id=" + urllib.parse.quote(build_id))
    return json.loads(data).get("status")


def wait_status(server, build_id, wanted, limit=180):
    end = time.time() + limit
    while time.time() < end:
        status = build_status(server, build_id)
        if status in wanted:
            return status
        time.sleep(0.1)
    return "STILL " + str(status)


FINAL = {"SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED"}
expected = {}  # (outcome, plan) -> builds


def expect(outcome, plan):
    expected[(outcome, plan)] = expected.get((outcome, plan), 0) + 1


def plan_of(err):
    m = re.search(r"plan: (\w+)", err)
    return m.group(1) if m else None


with tempfile.TemporaryDirectory(prefix="rtb-metrics-it-") as tmp:
    src = os.path.join(tmp, "src")
    os.makedirs(src)
    with open(os.path.join(src, "run.sh"), "w") as f:
        f.write(f"echo {run_id}\n")

    def template(name, body):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write("FROM {{base_image}}\n" + body)
        return path

    ok_template = template("ok.tmpl", f"RUN echo metrics-{run_id}\nCOPY . /src\n")
    fail_template = template("fail.tmpl", f"RUN echo metrics-failing-{run_id} && exit 3\n")
    work = os.path.join(tmp, "work")
    serve_tmp = os.path.join(tmp, "serve-tmp")
    os.makedirs(serve_tmp)
    registry_prefix = f"local/rtb-mt-{run_id}"
    prefix = f"{registry_prefix}/key1"  # the plain key file's one key is tenant key1
    main = Server(tmp, "--workers", "2", "--registry-prefix", registry_prefix, "--work-dir", work,
                  env_extra={"TMPDIR": serve_tmp})
    env = dict(os.environ, RTB_API_KEY=KEY)
    env.pop("DOCKER_HOST", None)
    build_args = ["build", "--transport", "remote", "--host", main.url, "--poll-interval", "100ms",
                  "--base-image", base, "--source", src]

    # ------------------------------------------------------- before anything: every series, at 0
    first = scrape(main)
    for name, kind in [("rtb_builds", "counter"), ("rtb_build_queue_depth", "gauge"), ("rtb_builds_running", "gauge"),
                       ("rtb_build_duration_seconds", "histogram"), ("rtb_build_queue_wait_seconds", "histogram"),
                       ("rtb_requests", "counter"), ("rtb_rate_limited_requests", "counter"),
                       ("rtb_unauthorized_requests", "counter"), ("rtb_upload_bytes", "counter")]:
        fam = first.families.get(name)
        c.check(fam is not None and fam.type == kind and fam.documentation, f"{name} is a documented {kind}")
    c.equal(sorted((s.labels["outcome"], s.labels["plan"], s.value) for s in first.families["rtb_builds"].samples
                   if s.name == "rtb_builds_total"),
            sorted((o, p, 0.0) for o in OUTCOMES for p in PLANS), "every outcome and plan starts at 0")
    c.equal((first.get("rtb_build_queue_depth"), first.get("rtb_builds_running")), (0.0, 0.0), "nothing queued or running")
    c.equal(first.get("rtb_build_duration_seconds_count", outcome="success"), 0.0, "no build duration yet")
    c.equal(first.get("rtb_build_queue_wait_seconds_count"), 0.0, "no queue wait yet")

    # ------------------------------------------------------- /metrics needs the key
    unauthorized_seen = 0
    for key in (WRONG, None, ""):
        status, headers, data = call(main, "GET", "/metrics", key=key)
        c.equal(status, 401, f"GET /metrics with key {'none' if key is None else repr(key[:8])}: 401")
        c.check(b"rtb_" not in data, "a refused scrape shows no metric")
        unauthorized_seen += 1
    # Scrapers that can only send Authorization (Prometheus' `authorization`): a bearer token, on /metrics only.
    status, _, data = call(main, "GET", "/metrics", headers={"Authorization": f"Bearer {KEY}"}, key=None)
    c.check(status == 200 and b"rtb_builds_total" in data, f"GET /metrics with the key as a bearer token: 200 ({status})")
    main.scrapes += 1
    status, _, _ = call(main, "GET", "/metrics", headers={"Authorization": f"Bearer {WRONG}"}, key=None)
    c.equal(status, 401, "a wrong bearer token: 401")
    status, _, _ = call(main, "GET", "/registry_prefix", headers={"Authorization": f"Bearer {KEY}"}, key=None)
    c.equal(status, 401, "the API's endpoints take X-API-Key only")
    unauthorized_seen += 2
    s = scrape(main)
    c.equal(s.get("rtb_unauthorized_requests_total"), float(unauthorized_seen), "each 401 counted")
    c.equal(s.get("rtb_requests_total", endpoint="/metrics", code="401"), float(unauthorized_seen - 1),
            "and in rtb_requests_total by endpoint and code")

    # ------------------------------------------------------- real builds through rtb build --transport remote
    code, out, err = rtb(*build_args, "--template", ok_template, "--json", env=env)
    c.equal(code, 0, f"a remote build succeeds ({err[-1500:]})")
    result = json.loads(out.strip().splitlines()[-1]) if code == 0 else {}
    created_images.update(result.get("tags", []))
    c.equal(result.get("plan"), "scratch", "the first build is scratch")
    expect("success", "scratch")

    code, out, err = rtb(*build_args, "--template", ok_template, "--json", env=env)
    c.equal((code, plan_of(err)), (0, "reuse"), f"the second build reuses ({err[-500:]})")
    s = scrape(main)
    c.equal(s.total("rtb_builds_total"), 1.0, "a reuse builds nothing on the service")
    c.check((s.get("rtb_requests_total", endpoint="/image_exists", code="200") or 0) >= 1,
            "the reuse asked GET /image_exists")

    with open(os.path.join(src, "run.sh"), "a") as f:
        f.write("echo changed\n")
    code, out, err = rtb(*build_args, "--template", ok_template, "--json", env=env)
    c.equal(code, 0, f"a build of changed sources succeeds ({err[-1500:]})")
    result = json.loads(out.strip().splitlines()[-1]) if code == 0 else {}
    created_images.update(result.get("tags", []))
    c.equal(result.get("plan"), "lock", "changed sources build on the lock image")
    expect("success", "lock")

    code, out, err = rtb(*build_args, "--template", fail_template, "--json", env=env)
    c.equal(code, 1, f"a failing remote build exits 1 ({err[-800:]})")
    c.check("FAILURE" in err, "it failed on the service")
    failed_plan = plan_of(err)  # the builder's log line; another template: not the lock image
    c.check(failed_plan in ("versioned", "scratch"), f"the failing build's plan is logged ({failed_plan})")
    expect("failure", failed_plan)

    before_wrong = scrape(main)
    code, _, err = rtb(*build_args, "--template", ok_template, env=dict(env, RTB_API_KEY=WRONG))
    c.check(code == 2 and "unauthorized" in err, f"a build with a wrong key: exit 2, unauthorized ({code})")
    after_wrong = scrape(main)
    refused = after_wrong.get("rtb_unauthorized_requests_total") - before_wrong.get("rtb_unauthorized_requests_total")
    c.check(refused >= 1, f"the refused client's requests are counted ({refused})")
    c.equal(after_wrong.total("rtb_requests_total", code="401"), after_wrong.get("rtb_unauthorized_requests_total"),
            "every 401 is an unauthorized request")
    c.equal(after_wrong.total("rtb_builds_total"), 3.0, "a refused client built nothing")

    # ------------------------------------------------------- raw clients: plans from the label, bytes
    hostile = 'scratch"} 1\nrtb_injected_total 1\n# TYPE x'
    raw = [
        ([], "unknown"),
        (["rtb.plan=versioned"], "versioned"),
        (["rtb.plan=" + hostile], "unknown"),
        (["rtb.plan=reuse", "other=1"], "unknown"),
        (["rtb.plan=SCRATCH"], "unknown"),
    ]
    uploaded = 0
    for n, (labels, plan) in enumerate(raw):
        target = f"{prefix}/raw:{n}"
        status, payload, size = submit(main, f"FROM {base}\nRUN echo raw-{run_id}-{n}\n", target, labels)
        c.equal(status, 200, f"raw build {n} accepted ({payload})")
        uploaded += size
        if status == 200:
            created_images.add(target)
            c.equal(wait_status(main, payload["build_id"], FINAL), "SUCCESS", f"raw build {n} succeeds")
            expect("success", plan)
    s = scrape(main)
    c.equal(s.get("rtb_upload_bytes_total") - after_wrong.get("rtb_upload_bytes_total"), float(uploaded),
            "rtb_upload_bytes_total grew by the raw clients' tar.gz bytes exactly")
    c.check("rtb_injected_total" not in s.text and "SCRATCH" not in s.text and "reuse" not in s.text,
            "no label text reaches the exposition")

    # A refused upload adds no bytes.
    status, _, _ = call(main, "POST", "/build", b"{}", {"Content-Type": "application/json"})
    c.equal(status, 400, "a malformed build request: 400")

    # ------------------------------------------------------- a cancelled build
    status, payload, _ = submit(main, f"FROM {base}\nRUN echo cancel-{run_id} && sleep 60\n", f"{prefix}/cancel:1",
                                ["rtb.plan=lock"])
    c.equal(status, 200, "a slow build is accepted")
    if status == 200:
        c.equal(wait_status(main, payload["build_id"], {"WORKING"} | FINAL, 60), "WORKING", "it runs")
        s = scrape(main)
        c.equal((s.get("rtb_builds_running"), s.get("rtb_build_queue_depth")), (1.0, 0.0),
                "rtb_builds_running counts it, at the time of the scrape")
        status, _, _ = call(main, "POST", "/cancel_build?build_id=" + payload["build_id"])
        c.equal(status, 200, "POST /cancel_build")
        c.equal(wait_status(main, payload["build_id"], FINAL, 90), "CANCELLED", "it ends CANCELLED")
        expect("cancelled", "lock")

    # ------------------------------------------------------- unknown paths: one fixed label
    status, _, _ = call(main, "GET", "/secret/" + run_id + "?x=1")
    c.equal(status, 404, "an unknown path: 404")

    # ------------------------------------------------------- the end: exact counts
    end = scrape(main)
    builds = {(o, p): end.get("rtb_builds_total", outcome=o, plan=p) for o in OUTCOMES for p in PLANS}
    c.equal({k: v for k, v in builds.items() if v}, {k: float(v) for k, v in expected.items()},
            "rtb_builds_total by outcome and plan is exactly what was built")
    total = float(sum(expected.values()))
    for o in OUTCOMES:
        n = float(sum(v for (oo, _), v in expected.items() if oo == o))
        c.equal(end.get("rtb_build_duration_seconds_count", outcome=o), n, f"duration count for {o} = builds")
        c.equal(end.get("rtb_build_duration_seconds_bucket", outcome=o, le="+Inf"), n, f"+Inf bucket for {o}")
    c.equal(end.get("rtb_build_queue_wait_seconds_count"), total, "queue wait count = builds")
    c.check(end.get("rtb_build_duration_seconds_sum", outcome="success") > 0, "successful builds took time")
    buckets = [(float(s.labels["le"]), s.value) for s in end.families["rtb_build_duration_seconds"].samples
               if s.name.endswith("_bucket") and s.labels["outcome"] == "success"]
    c.check(buckets == sorted(buckets) and [b for b, _ in buckets][-1] == float("inf"),
            f"buckets are cumulative and end at +Inf ({buckets})")
    c.equal([b for b, _ in buckets][:-1], [1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0],
            "the duration buckets")
    c.equal((end.get("rtb_build_queue_depth"), end.get("rtb_builds_running")), (0.0, 0.0),
            "nothing queued or running at the end")
    accepted = float(sum(expected.values()))  # every build here went through POST /build 200
    c.equal(end.get("rtb_requests_total", endpoint="/build", code="200"), accepted, "POST /build 200s = builds")
    c.equal(end.get("rtb_requests_total", endpoint="/build", code="400"), 1.0, "the malformed request")
    c.equal(end.get("rtb_requests_total", endpoint="other", code="404"), 1.0, "the unknown path, as 'other'")
    c.check(run_id not in "".join(line for line in end.text.splitlines() if "endpoint=" in line),
            "no request path in a label")
    c.equal(end.get("rtb_rate_limited_requests_total"), 0.0, "no 429 on the main server")
    c.equal(main.stop(), 128 + signal.SIGTERM, "rtb serve stops")
    c.equal(os.listdir(work), [], "no upload left behind")

    # ------------------------------------------------------- the rate limit: 429s counted
    small = Server(tmp, "--rate", "1", "--burst", "3", env_extra={"TMPDIR": serve_tmp})
    answers = [call(small, "GET", "/registry_prefix")[0] for _ in range(10)]
    limited = answers.count(429)
    c.check(limited >= 5, f"past the burst, requests get 429 ({answers})")
    # The scrape waits for a token by asking until it is answered (Retry-After
    # paced); the 429s it gets on the way are counted too.
    scrape_429s = 0
    give_up = time.monotonic() + 30
    while True:
        status, headers, data = call(small, "GET", "/metrics")
        if status != 429 or time.monotonic() > give_up:
            break
        scrape_429s += 1
        time.sleep(min(1.0, float(headers.get("Retry-After", "1"))))
    c.equal(status, 200, "a scrape is answered once a token is there")
    s = Scrape(data.decode("utf-8")) if status == 200 else Scrape("")
    c.equal(s.get("rtb_rate_limited_requests_total"), float(limited + scrape_429s),
            "rtb_rate_limited_requests_total = the 429s seen")
    c.equal(s.get("rtb_requests_total", endpoint="/registry_prefix", code="429"), float(limited), "by endpoint and code")
    c.equal(s.get("rtb_requests_total", endpoint="/metrics", code="429") or 0.0, float(scrape_429s),
            "and the scrape's own 429s")
    c.equal(s.get("rtb_requests_total", endpoint="/registry_prefix", code="200"), float(answers.count(200)),
            "and the 200s")
    answers = [call(small, "GET", "/metrics")[0] for _ in range(6)]
    c.check(429 in answers, f"/metrics is rate limited like any request ({answers})")
    c.equal(small.stop(), 128 + signal.SIGTERM, "the small server stops")

    c.equal(os.listdir(serve_tmp), [], "every server removed its temporary folder")
    for image in created_images:
        engine_call(docker_host, "DELETE", f"/images/{urllib.parse.quote(image, safe='')}?force=1")

c.done()
