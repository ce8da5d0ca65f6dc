#!/usr/bin/python3
"""rtb events, end to end: every recorded stream, both output forms, exit
statuses, hostile input, and the live display on a real terminal (script and
tmux) and in a pipe."""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import rss_limit_kib  # noqa: E402

RTB = os.environ["RTB"]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "engine-streams"
# What rtb events printed for each fixture, byte for byte, in both forms
# (NAME.txt, NAME.jsonl; NAME.api-key.* with RTB_API_KEY=abc123def456). A
# change to them is a change to rtb's output: make it on purpose only.
GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "events-golden"
IMAGE = "sha256:e4b7c910a850639bd0357914286a3bebbd32305946e14949999db7cebdd6b234"
PODMAN_IMAGE = "sha256:e062daf1f689d4a25436b17d9a6f563085be25736296c737218f3c15dfa15a82"
PLAIN_IMAGE = "sha256:025d472d8a05a385655412d07192c6ff9701a3988310c9810def6c6d6b02d6fe"
DIGEST = "sha256:34ef511aa663e1bacad58769d2ce4f120bfd3325a16479af7ddc81e1d6984913"


def rtb(*args, stdin=None, env=None):
    return subprocess.run([RTB, *args], input=stdin, capture_output=True, env=env, timeout=300)


def lines(out: bytes):
    return out.decode().splitlines()


def screen(data: bytes):
    """What a terminal shows after `data`: printable text, CR, LF (ONLCR),
    ESC[nA and ESC[J, the only controls rtb's live display sends."""
    text = data.decode("utf-8", "replace")
    rows, row, col, i = [""], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == "\r":
            col = 0
        elif c == "\n":
            row, col = row + 1, 0
            if row == len(rows):
                rows.append("")
        elif c == "\x1b":
            assert text[i + 1] == "[", "unexpected escape"
            j = i + 2
            while text[j].isdigit():
                j += 1
            n = int(text[i + 2:j] or "1")
            if text[j] == "A":
                row = max(0, row - n)
            elif text[j] == "J":
                rows[row] = rows[row][:col]
                del rows[row + 1:]
            else:
                raise AssertionError(f"unexpected escape {text[i:j + 1]!r}")
            i = j
        else:
            line = rows[row].ljust(col)
            rows[row] = line[:col] + c + line[col + 1:]
            col += 1
        i += 1
    while rows and not rows[-1]:
        rows.pop()
    return rows


class RecordedStreams(unittest.TestCase):
    def test_docker_build_gives_steps_output_and_image(self):
        r = rtb("events", str(FIXTURES / "build_stream.ndjson"))
        self.assertEqual(r.returncode, 0, r.stderr)
        out = lines(r.stdout)
        self.assertEqual(out[0], "step [1/6] FROM local/busybox:1")
        self.assertIn(f"image {IMAGE}", out)
        self.assertEqual(sum(1 for l in out if l.startswith("log compiling module ")), 3000)
        self.assertEqual(sum(1 for l in out if l.startswith("step ")), 6)

    def test_docker_failure_exits_1_with_code_3_and_message(self):
        r = rtb("events", str(FIXTURES / "build_fail_stream.ndjson"))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(lines(r.stdout)[-1],
                         "failure exit 3 at [2/2] RUN echo about to fail && exit 3: The command "
                         "'/bin/sh -c echo about to fail && exit 3' returned a non-zero code: 3")

    def test_podman_build_and_failure(self):
        ok = rtb("events", str(FIXTURES / "podman_build_stream.ndjson"))
        self.assertEqual(ok.returncode, 0)
        self.assertEqual(lines(ok.stdout).count(f"image {PODMAN_IMAGE}"), 1)
        bad = rtb("events", "--json", str(FIXTURES / "podman_build_fail_stream.ndjson"))
        self.assertEqual(bad.returncode, 1)
        failure = json.loads(lines(bad.stdout)[-1])
        self.assertEqual(failure["exit_code"], 3)
        self.assertEqual(failure["step"], "[2/2] RUN echo about to fail && exit 3")

    def test_push_gives_the_digest_and_pull_the_layers(self):
        push = rtb("events", "--json", str(FIXTURES / "push_stream.ndjson"))
        self.assertEqual(push.returncode, 0)
        events = [json.loads(l) for l in lines(push.stdout)]
        self.assertEqual(events[-1], {"event": "pushed", "tag": "fixture", "digest": DIGEST, "size": 1158})
        pull = rtb("events", str(FIXTURES / "pull_stream.ndjson"))
        self.assertEqual(pull.returncode, 0)
        self.assertIn("progress 6f4926d64fd8 Pull complete", lines(pull.stdout))

    def test_plain_logs_give_the_failing_step_and_image(self):
        bad = rtb("events", str(FIXTURES / "buildkit_plain_fail.log"))
        self.assertEqual(bad.returncode, 1)
        self.assertIn("failure exit 3 at [2/2] RUN echo about to fail && exit 3: executor failed running "
                      "[/bin/sh -c echo about to fail && exit 3]: exit code: 3", lines(bad.stdout))
        ok = rtb("events", "--json", str(FIXTURES / "buildkit_plain.log"))
        self.assertEqual(ok.returncode, 0)
        events = [json.loads(l) for l in lines(ok.stdout)]
        self.assertIn({"event": "image", "id": PLAIN_IMAGE}, events)
        self.assertIn({"event": "step", "index": 3, "total": 5, "vertex": 7, "stage": "",
                       "instruction": 'RUN i=0; while [ $i -lt 3000 ]; do echo "compiling module $i: ok '
                                      '[$(($i*7 % 100))%]"; i=$((i+1)); done'}, events)

    def test_every_fixture_as_json_is_valid_and_matches_the_human_form(self):
        for f in sorted(FIXTURES.iterdir()):
            with self.subTest(f.name):
                human = rtb("events", str(f))
                js = rtb("events", "--json", str(f))
                self.assertEqual(human.returncode, js.returncode)
                self.assertIn(human.returncode, (0, 1))
                self.assertEqual(human.returncode == 1, "fail" in f.name)
                kinds_h = [l.split(" ", 1)[0] for l in lines(human.stdout)]
                kinds_j = [json.loads(l)["event"] for l in lines(js.stdout)]
                self.assertEqual(kinds_h, kinds_j)

    def test_stdin_and_forced_formats_agree_with_auto_detection(self):
        for f in sorted(FIXTURES.iterdir()):
            with self.subTest(f.name):
                by_file = rtb("events", str(f))
                by_stdin = rtb("events", "-", stdin=f.read_bytes())
                forced = rtb("events", "--format", "plain" if f.suffix == ".log" else "engine", str(f))
                self.assertEqual(by_file.stdout, by_stdin.stdout)
                self.assertEqual(by_file.stdout, forced.stdout)
                self.assertEqual(by_file.returncode, by_stdin.returncode)


class Golden(unittest.TestCase):
    def env(self, key=None):
        e = {k: v for k, v in os.environ.items() if k != "RTB_API_KEY"}
        if key:
            e["RTB_API_KEY"] = key
        return e

    def test_every_fixture_prints_its_golden_output_byte_for_byte(self):
        for f in sorted(FIXTURES.iterdir()):
            for args, suffix in (([], ".txt"), (["--json"], ".jsonl")):
                with self.subTest(f.name + suffix):
                    r = rtb("events", *args, str(f), env=self.env())
                    self.assertEqual(r.returncode == 1, "fail" in f.name, r.stderr)
                    self.assertEqual(r.stdout, (GOLDEN / (f.name + suffix)).read_bytes())

    def test_the_api_key_is_masked_as_in_the_golden_output(self):
        f = FIXTURES / "escapes_fail_stream.ndjson"
        for args, suffix in (([], ".api-key.txt"), (["--json"], ".api-key.jsonl")):
            with self.subTest(suffix):
                r = rtb("events", *args, str(f), env=self.env("abc123def456"))
                self.assertEqual(r.stdout, (GOLDEN / (f.name + suffix)).read_bytes())

    def test_outputs_longer_than_the_write_batch_are_whole(self):
        # the printer writes 64 KiB at a time: these goldens span several
        self.assertGreater((GOLDEN / "build_stream.ndjson.jsonl").stat().st_size, 3 * 65536)
        self.assertGreater((GOLDEN / "buildkit_plain.log.txt").stat().st_size, 65536)


class HostileInput(unittest.TestCase):
    def run_bytes(self, data: bytes, *args):
        return rtb("events", *args, "-", stdin=data)

    def test_garbage_is_refused_with_status_2(self):
        r = self.run_bytes(os.urandom(1 << 16).replace(b"{", b"x").replace(b"#", b"x"))
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"neither an engine JSON stream nor a BuildKit plain log", r.stderr)

    def test_garbage_after_a_brace_is_a_parse_error(self):
        r = self.run_bytes(b"{" + os.urandom(4096))
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"malformed JSON in line 1 at byte 0", r.stderr)

    def test_truncated_json_prints_what_came_before_then_fails(self):
        data = (FIXTURES / "build_fail_stream.ndjson").read_bytes()[:-40]
        r = self.run_bytes(data)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(lines(r.stdout)[-1], "log about to fail")
        self.assertIn(b"stdin: malformed JSON in line 8", r.stderr)

    def test_invalid_utf8_in_json_is_an_error(self):
        r = self.run_bytes(b'{"stream":"ok\\n"}\n{"stream":"\xff\xfe\\n"}\n')
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"UTF-8", r.stderr)

    def test_forcing_the_wrong_format_is_an_error(self):
        r = rtb("events", "--format", "engine", str(FIXTURES / "buildkit_plain.log"))
        self.assertEqual(r.returncode, 2)

    def test_empty_input_has_no_events(self):
        for data in (b"", b"\n\n  \r\n"):
            r = self.run_bytes(data)
            self.assertEqual((r.returncode, r.stdout), (0, b""))

    def test_missing_file_and_bad_usage_are_status_2(self):
        self.assertEqual(rtb("events", "/nonexistent/stream").returncode, 2)
        self.assertEqual(rtb("events").returncode, 2)
        self.assertEqual(rtb("events", "--format", "xml", "x").returncode, 2)

    def test_a_100_mb_line_fails_cleanly_with_bounded_memory(self):
        with tempfile.TemporaryDirectory() as d:
            for name, head in (("json", b'{"stream":"'), ("plain", b"#1 0.1 ")):
                path = Path(d) / name
                with open(path, "wb") as f:
                    f.write(head)
                    block = b"x" * (1 << 20)
                    for _ in range(100):
                        f.write(block)
                    f.write(b"\n")
                # a fresh interpreter runs rtb alone, so its children's peak RSS is rtb's
                probe = subprocess.run(
                    [sys.executable, "-c",
                     "import resource, subprocess, sys; "
                     "r = subprocess.run([sys.argv[1], 'events', sys.argv[2]], capture_output=True); "
                     "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
                     "sys.stderr.write(r.stderr.decode())", RTB, str(path)],
                    capture_output=True, timeout=300)
                status, peak_kib = map(int, probe.stdout.split())
                self.assertEqual(status, 2, name)
                self.assertIn(b"longer than the 16777216 byte limit", probe.stderr)
                self.assertLess(peak_kib, rss_limit_kib(64 * 1024), f"{name}: peak RSS {peak_kib} KiB")

    def test_secrets_in_the_stream_are_masked(self):
        key = "rtb-key-5c3e9a0b7d"
        data = (f'{{"stream":"token {key} and https://u:hunter2@h/x\\n"}}\n'
                f'{{"errorDetail":{{"message":"bad key {key}"}}}}\n').encode()
        env = dict(os.environ, RTB_API_KEY=key)
        for args in ((), ("--json",)):
            r = rtb("events", *args, "-", stdin=data, env=env)
            self.assertEqual(r.returncode, 1)
            self.assertNotIn(key.encode(), r.stdout)
            self.assertNotIn(b"hunter2", r.stdout)
            self.assertIn(b"***", r.stdout)


class LiveDisplay(unittest.TestCase):
    def test_in_a_pipe_it_writes_plain_lines(self):
        r = rtb("events", "--live", str(FIXTURES / "pull_stream.ndjson"))
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, b"")
        self.assertNotIn(b"\x1b", r.stderr)
        self.assertIn("6f4926d64fd8: Pull complete", lines(r.stderr))
        bad = rtb("events", "--live", str(FIXTURES / "buildkit_plain_fail.log"))
        self.assertEqual(bad.returncode, 1)
        self.assertIn(b"=> failed at [2/2] RUN echo about to fail && exit 3 (exit code 3)", bad.stderr)

    def test_on_a_pty_under_script_it_draws_in_place(self):
        for name, final in (("pull_stream.ndjson", "64f0d12044aa: Pull complete"),
                            ("push_stream.ndjson", f"=> pushed fixture {DIGEST} (size 1158)")):
            with self.subTest(name):
                cmd = f"stty cols 100 rows 30; {RTB} events --live {FIXTURES / name}"
                r = subprocess.run(["script", "-qfec", cmd, "/dev/null"], capture_output=True, timeout=120)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn(b"\x1b[", r.stdout)  # drawn in place, not printed line by line
                shown = screen(r.stdout)
                self.assertIn(final, shown)
                layer_rows = [l for l in shown if l[:12].isalnum() and len(l) > 13 and l[12] == ":"]
                ids = [l[:12] for l in layer_rows]
                self.assertEqual(len(ids), len(set(ids)), "\n".join(shown))  # each layer once, nothing left behind

    def test_on_a_pty_a_failed_build_exits_1(self):
        cmd = f"{RTB} events --live {FIXTURES / 'build_fail_stream.ndjson'}"
        r = subprocess.run(["script", "-qfec", cmd, "/dev/null"], capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 1)
        self.assertIn("=> failed at [2/2] RUN echo about to fail && exit 3 (exit code 3): The command "
                      "'/bin/sh -c echo about to fail && exit 3' returned a non-zero code: 3", screen(r.stdout))

    def test_in_tmux_the_screen_ends_with_one_row_per_layer(self):
        sock = f"rtb-test-{os.getpid()}"
        tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
        script = (f"{RTB} events --live {FIXTURES / 'pull_stream.ndjson'}; echo RTB-DONE-$?; "
                  "sleep 600")
        try:
            subprocess.run([*tmux, "new-session", "-d", "-x", "100", "-y", "40", script], check=True, timeout=60)
            deadline = time.monotonic() + 120  # a bound on waiting, not a timing assertion
            pane = ""
            while time.monotonic() < deadline:
                pane = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True,
                                      timeout=60).stdout
                if "RTB-DONE-" in pane:
                    break
                time.sleep(0.1)
            rows = [r.rstrip() for r in pane.splitlines() if r.strip()]
            self.assertIn("RTB-DONE-0", rows, pane)
            self.assertEqual(rows[:-1], [
                "fixture: Pulling from runtime", "e2e6de9f3946: Already exists", "6f4926d64fd8: Pull complete",
                "1eb077dad20a: Pull complete", "64f0d12044aa: Pull complete", f"Digest: {DIGEST}",
                "Status: Downloaded newer image for 127.0.0.1:5000/runtime:fixture"], pane)
        finally:
            subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=60)


if __name__ == "__main__":
    unittest.main(verbosity=2)
