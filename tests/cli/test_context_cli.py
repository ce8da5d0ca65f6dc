"""rtb context ls / pack / runtime and rtb hash, end to end.

What a build sends, byte-reproducible packs, hostile trees (newlines in
names, sockets, unreadable files, a 4 GiB sparse file packed with bounded
memory) and the errors a person sees.
"""

import base64
import gzip
import io
import os
import pty
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import rss_limit_kib  # noqa: E402

RTB = os.environ["RTB"]


def run(*args, env=None, check=True, **kw):
    e = dict(os.environ)
    e.pop("SOURCE_DATE_EPOCH", None)
    if env:
        e.update(env)
    r = subprocess.run([RTB, *args], capture_output=True, env=e, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"rtb {' '.join(args)} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    return r


def write(root, rel, data=b"", mode=None):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    if mode is not None:
        os.chmod(p, mode)
    return p


class Tree(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rtb-ctx-test-")
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for d, dirs, files in os.walk(self.tmp):
            for x in dirs:
                try:
                    os.chmod(os.path.join(d, x), 0o755)
                except OSError:
                    pass
        shutil.rmtree(self.tmp)

    def dir(self, name="ctx"):
        p = os.path.join(self.tmp, name)
        os.makedirs(p, exist_ok=True)
        return p


class Ls(Tree):
    def test_lists_files_and_links_sorted_bytewise_with_dockerignore_applied(self):
        d = self.dir()
        for rel in ["b.txt", "a/z.py", "a/y.pyc", "B", "a-b", "node_modules/m/i.js", "node_modules/keep.js"]:
            write(d, rel)
        os.symlink("/etc/passwd", os.path.join(d, "outside"))
        write(d, ".dockerignore", "**/*.pyc\nnode_modules\n!node_modules/keep.js\n")
        out = run("context", "ls", d).stdout.decode().splitlines()
        self.assertEqual(out, [".dockerignore", "B", "a-b", "a/z.py", "b.txt", "node_modules/keep.js", "outside"])

    def test_names_with_control_characters_are_quoted_and_z_gives_them_raw(self):
        d = self.dir()
        for rel in ["new\nline", "tab\there", '"quoted', "back\\slash", "plain"]:
            write(d, rel)
        out = run("context", "ls", d).stdout.decode()
        self.assertEqual(out.splitlines(),
                         ['"\\"quoted"', "back\\slash", '"new\\nline"', "plain", '"tab\\there"'])
        raw = run("context", "ls", "-z", d).stdout
        self.assertEqual(raw.split(b"\0")[:-1], [b'"quoted', b"back\\slash", b"new\nline", b"plain", b"tab\there"])
        self.assertTrue(raw.endswith(b"\0"))

    def test_a_malformed_pattern_names_the_file_and_line(self):
        d = self.dir()
        write(d, ".dockerignore", "# comment\nok\n\nsrc/[oops\n")
        r = run("context", "ls", d, check=False)
        self.assertEqual(r.returncode, 2)
        err = r.stderr.decode()
        self.assertIn(os.path.join(d, ".dockerignore") + ":4:", err)
        self.assertIn("src/[oops", err)
        r = run("context", "ls", d, "--ignore", "!", check=False)  # the file's error comes first
        self.assertEqual(r.returncode, 2)
        write(d, ".dockerignore", "")
        r = run("context", "ls", d, "--ignore", "a", "--ignore", "!", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--ignore:2", r.stderr.decode())

    def test_a_context_root_that_is_a_file_or_missing_is_an_error(self):
        f = write(self.tmp, "file", "x")
        r = run("context", "ls", f, check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("is not a directory", r.stderr.decode())
        r = run("context", "pack", "-o", os.devnull, os.path.join(self.tmp, "missing"), check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no such directory", r.stderr.decode())

    def test_sockets_and_fifos_are_left_out_with_a_warning(self):
        d = self.dir()
        write(d, "kept")
        os.mkfifo(os.path.join(d, "fifo"))
        s = socket.socket(socket.AF_UNIX)
        s.bind(os.path.join(d, "sock"))
        self.addCleanup(s.close)
        r = run("context", "ls", d)
        self.assertEqual(r.stdout.decode().splitlines(), ["kept"])
        err = r.stderr.decode()
        self.assertIn("warning: not sending 'fifo' (a FIFO)", err)
        self.assertIn("warning: not sending 'sock' (a socket)", err)

    def test_symlink_loops_are_listed_as_links(self):
        d = self.dir()
        os.symlink("b", os.path.join(d, "a"))
        os.symlink("a", os.path.join(d, "b"))
        os.symlink(".", os.path.join(d, "self"))
        self.assertEqual(run("context", "ls", d).stdout.decode().splitlines(), ["a", "b", "self"])

    def test_the_docker_20_10_dialect_can_be_chosen(self):
        d = self.dir()
        for rel in ["a+b", "aab", "ab"]:
            write(d, rel)
        write(d, ".dockerignore", "a+b\n")
        self.assertEqual(run("context", "ls", d).stdout.decode().split(), [".dockerignore", "aab", "ab"])
        self.assertEqual(run("context", "ls", "--dialect", "docker-20.10", d).stdout.decode().split(),
                         [".dockerignore", "a+b"])


class Pack(Tree):
    FILES = [("src/main.py", "print('hi')\n"), ("src/pkg/__init__.py", ""), ("README.md", "# r\n"),
             ("bin/run", "#!/bin/sh\necho run\n"), ("data/blob", os.urandom(300_000).hex())]

    def make(self, name, order, umask, mtime):
        d = self.dir(name)
        old = os.umask(umask)
        try:
            for rel, data in order:
                write(d, rel, data)
            os.chmod(os.path.join(d, "bin/run"), 0o777 & ~umask | 0o100)
            os.symlink("src/main.py", os.path.join(d, "main"))
        finally:
            os.umask(old)
        for root, dirs, files in os.walk(d):
            for x in dirs + files:
                os.utime(os.path.join(root, x), (mtime, mtime), follow_symlinks=False)
        return d

    def test_the_same_tree_packs_to_the_same_bytes_whatever_mtime_umask_and_order(self):
        one = self.make("one", self.FILES, 0o022, 1_000_000)
        two = self.make("two", list(reversed(self.FILES)), 0o077, 1_700_000_000)
        for flags in ([], ["--gzip"], ["--gzip", "--base64"], ["--base64"]):
            with self.subTest(flags=flags):
                a = run("context", "pack", *flags, one).stdout
                b = run("context", "pack", *flags, two, "--jobs", "1").stdout
                self.assertEqual(a, b)

    def test_the_pack_is_a_normalized_tar_gzip_and_base64_of_it(self):
        d = self.make("t", self.FILES, 0o022, 5)
        out = os.path.join(self.tmp, "ctx.tar.gz")
        run("context", "pack", "--gzip", "-o", out, d)
        with open(out, "rb") as f:
            raw = f.read()
        self.assertEqual(raw[:10], bytes([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 255]))
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw))) as t:
            members = {m.name: m for m in t.getmembers()}
        self.assertEqual(members["bin/run"].mode, 0o755)
        self.assertEqual(members["src/main.py"].mode, 0o644)
        self.assertEqual(members["src"].mode, 0o755)
        self.assertTrue(members["main"].issym())
        self.assertEqual(members["main"].linkname, "src/main.py")
        self.assertTrue(all(m.uid == 0 and m.gid == 0 and m.uname == "" and m.mtime == 0 for m in members.values()))
        b64 = run("context", "pack", "--gzip", "--base64", d).stdout
        self.assertEqual(base64.b64decode(b64, validate=True), raw)

    def test_every_codec_packs_one_gzip_member_that_gzip_and_python_accept(self):
        # several 1 MiB blocks of text and of noise, so blocks end mid-stream
        d = self.dir()
        words = " ".join(["import", "self", "value", "runtime", "event"][i * 7 % 5] + str(i % 97) for i in range(400_000))
        write(d, "words.txt", words)
        write(d, "noise.bin", os.urandom(1_500_000))
        write(d, "src/main.py", "print('hi')\n" * 1000)
        tar = run("context", "pack", d).stdout
        for codec in ("automatic", "libdeflate", "zlib"):
            with self.subTest(codec=codec):
                out = os.path.join(self.tmp, f"{codec}.tar.gz")
                run("context", "pack", "--gzip", "--gzip-codec", codec, "-o", out, d)
                t = subprocess.run(["gzip", "-t", out], capture_output=True)
                self.assertEqual(t.returncode, 0, t.stderr)
                with open(out, "rb") as f:
                    raw = f.read()
                self.assertEqual(gzip.decompress(raw), tar)
                # one member: a decoder that stops after the first member sees everything
                z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self.assertEqual(z.decompress(raw) + z.flush(), tar)
                self.assertTrue(z.eof)
                self.assertEqual(z.unused_data, b"")
                with tarfile.open(fileobj=io.BytesIO(raw), mode="r|gz") as stream:  # streaming, as a server reads
                    self.assertEqual(sorted(m.name for m in stream), sorted(tarfile.open(fileobj=io.BytesIO(tar)).getnames()))
                # the same bytes on one thread
                self.assertEqual(run("context", "pack", "--gzip", "--gzip-codec", codec, "--jobs", "1", d).stdout, raw)
        r = run("context", "pack", "--gzip", "--gzip-codec", "pigz", "-o", os.devnull, d, check=False)
        self.assertEqual(r.returncode, 2)

    def test_source_date_epoch_sets_every_mtime(self):
        d = self.make("t", self.FILES, 0o022, 5)
        data = run("context", "pack", d, env={"SOURCE_DATE_EPOCH": "1700000000"}).stdout
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            self.assertEqual({m.mtime for m in t.getmembers()}, {1700000000})
        r = run("context", "pack", "-o", os.devnull, d, env={"SOURCE_DATE_EPOCH": "yesterday"}, check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("SOURCE_DATE_EPOCH", r.stderr.decode())

    def test_long_and_non_ascii_names_survive(self):
        d = self.dir()
        names = ["d" * 120 + "/" + "n" * 150, "caf\u00e9/\u4e2d\u6587.txt"]
        for n in names:
            write(d, n, "x")
        with tarfile.open(fileobj=io.BytesIO(run("context", "pack", d).stdout)) as t:
            got = {m.name for m in t.getmembers() if m.isfile()}
        self.assertEqual(got, set(names))

    def test_an_unreadable_file_is_an_error_naming_it(self):
        d = self.dir()
        os.chmod(self.tmp, 0o755)
        write(d, "fine", "f")
        secret = write(d, "secret", "s", mode=0o000)
        # root reads anything: run as nobody
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", RTB, "context", "pack",
                            "-o", "/dev/null", d], capture_output=True)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(secret, r.stderr.decode())
        self.assertIn("Permission denied", r.stderr.decode())

    def test_a_tar_is_not_written_to_a_terminal(self):
        d = self.dir()
        master, slave = pty.openpty()
        try:
            r = subprocess.run([RTB, "context", "pack", d], stdout=slave, stderr=subprocess.PIPE)
        finally:
            os.close(slave)
            os.close(master)
        self.assertEqual(r.returncode, 2)
        self.assertIn("terminal", r.stderr.decode())

    def test_a_4_gib_sparse_file_packs_with_bounded_memory(self):
        d = self.dir()
        size = 4 << 30
        with open(os.path.join(d, "sparse"), "wb") as f:
            f.truncate(size)
        write(d, "small", "s")
        for flags in ([], ["--gzip", "--level", "1"], ["--gzip", "--level", "1", "--gzip-codec", "libdeflate"],
                      ["--gzip", "--level", "1", "--gzip-codec", "zlib"]):
            with self.subTest(flags=flags):
                p = subprocess.Popen([RTB, "context", "pack", *flags, d], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
                reader = "gzip -dc | tar -tvf -" if flags else "tar -tvf -"
                listing = subprocess.run(["sh", "-c", reader], stdin=p.stdout, capture_output=True)
                p.stdout.close()
                _, status, usage = os.wait4(p.pid, 0)
                p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, for the peak RSS
                print(f"  {' '.join(flags) or 'tar'}: peak RSS {usage.ru_maxrss} KiB", file=sys.stderr)
                self.assertEqual(os.waitstatus_to_exitcode(status), 0, p.stderr.read())
                p.stderr.close()
                self.assertEqual(listing.returncode, 0, listing.stderr)
                self.assertIn(f" {size} ", listing.stdout.decode())
                self.assertLess(usage.ru_maxrss, rss_limit_kib(64 * 1024), f"peak RSS {usage.ru_maxrss} KiB")  # KiB on Linux


class Hash(Tree):
    def test_the_fast_digest_covers_what_is_sent(self):
        d = self.dir()
        write(d, "src/a.py", "a")
        write(d, ".dockerignore", "**/__pycache__\n*.log\n")
        first = run("hash", "--no-stat-cache", d).stdout
        write(d, "src/__pycache__/a.cpython-312.pyc", "junk")
        write(d, "debug.log", "noise")
        self.assertEqual(run("hash", "--no-stat-cache", d).stdout, first)
        write(d, "src/b.py", "b")
        second = run("hash", "--no-stat-cache", d).stdout
        self.assertNotEqual(second, first)
        # --ignore patterns come after the file's, in .dockerignore syntax
        self.assertEqual(run("hash", "--no-stat-cache", "--ignore", "src/b.py", d).stdout, first)
        # the digest only sees the execute bit, as the tar does
        os.chmod(os.path.join(d, "src/b.py"), 0o600)
        self.assertEqual(run("hash", "--no-stat-cache", d).stdout, second)
        os.chmod(os.path.join(d, "src/b.py"), 0o700)
        self.assertNotEqual(run("hash", "--no-stat-cache", d).stdout, second)

    def test_a_malformed_dockerignore_fails_the_hash(self):
        d = self.dir()
        write(d, ".dockerignore", "[\n")
        r = run("hash", d, check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn(".dockerignore:1:", r.stderr.decode())


class Tags(Tree):
    def test_template_variables_change_the_tags(self):
        src = self.dir("src")
        write(src, "a", "a")
        base = ["tags", "--strategy", "content", "--oh-version", "1", "--base-image", "busybox:1", "--source", src]
        plain = run(*base).stdout
        one = run(*base, "--var", "owner=a").stdout
        two = run(*base, "--var", "owner=b").stdout
        self.assertEqual(len({plain, one, two}), 3)
        self.assertEqual(run(*base, "--var", "owner=a").stdout, one)
        r = run(*base, "--var", "novalue", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("is not NAME=VALUE", r.stderr.decode())


class Runtime(Tree):
    def setUp(self):
        super().setUp()
        self.src = self.dir("src")
        write(self.src, "bin/run", "#!/bin/sh\n", mode=0o755)
        write(self.src, "lib/x.sh", "x")
        write(self.src, "cache/junk", "j")
        write(self.src, ".dockerignore", "cache\n")
        self.lock = write(self.tmp, "locks/deps.lock", "cat\nsed\n")
        self.base = ["context", "runtime", "--base-image", "local/busybox:1", "--source", self.src, "--lock",
                     self.lock]

    def test_the_dockerfile_follows_the_plan(self):
        scratch = run(*self.base, "--dockerfile").stdout.decode()
        self.assertIn("FROM local/busybox:1\n", scratch)
        self.assertIn("# System setup", scratch)
        lock = run(*self.base, "--plan", "lock", "--from-image", "reg/rt:lock", "--dockerfile").stdout.decode()
        self.assertIn("FROM reg/rt:lock\n", lock)
        self.assertNotIn("COPY lock/", lock)

    def test_the_dockerfile_ends_in_the_label_line_rtb_build_adds(self):
        # rtb's labels as rtb build writes them: the tags rtb tags computes
        tags = run("tags", "--oh-version", "0.1.0", "--base-image", "local/busybox:1", "--source", self.src,
                   "--lock", self.lock).stdout.decode().split()
        for plan in ("scratch", "lock"):
            out = run(*self.base, "--plan", plan, "--oh-version", "0.1.0", "--dockerfile").stdout.decode()
            plain = run(*self.base, "--plan", plan, "--oh-version", "0.1.0", "--dockerfile",
                        "--no-labels").stdout.decode()
            self.assertTrue(out.startswith(plain))
            self.assertEqual(
                out[len(plain):],
                f'LABEL "rtb.base-image"="local/busybox:1" "rtb.lock-tag"="{tags[1]}" "rtb.plan"="{plan}" '
                f'"rtb.source-tag"="{tags[0]}" "rtb.version"="0.1.0" "rtb.versioned-tag"="{tags[2]}"\n')
        # without --oh-version the tags take rtb's own version, as rtb build does
        version = run("--version").stdout.decode().split()[-1]
        self.assertIn(f'"rtb.versioned-tag"="oh_v{version}_', run(*self.base, "--dockerfile").stdout.decode())
        # a template ending in a line continuation cannot take the line
        t = write(self.tmp, "cont.mustache", "FROM {{base_image}}\nRUN true \\\n")
        r = run(*self.base, "--template", t, "--dockerfile", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("ends in a line continuation", r.stderr.decode())
        self.assertEqual(run(*self.base, "--template", t, "--dockerfile", "--no-labels").stdout.decode(),
                         "FROM local/busybox:1\nRUN true \\")  # Jinja2 drops the final newline

    def test_list_stream_and_folder_agree(self):
        listed = run(*self.base, "--list").stdout.decode().splitlines()
        self.assertEqual(listed, ["Dockerfile", "lock/deps.lock", "source/.dockerignore", "source/bin/run",
                                  "source/lib/x.sh"])
        streamed = run(*self.base).stdout
        folder = os.path.join(self.tmp, "folder")
        run(*self.base, "--folder", folder)
        self.assertEqual(run("context", "pack", folder).stdout, streamed)

    def test_a_custom_template_with_variables_and_its_errors(self):
        t = write(self.tmp, "my.j2", "FROM {{ base_image }}\nLABEL owner={{ owner }}\n")
        out = run(*self.base, "--template", t, "--var", "owner=a&b<c>", "--dockerfile", "--no-labels").stdout.decode()
        self.assertEqual(out, "FROM local/busybox:1\nLABEL owner=a&b<c>")  # Jinja2 drops the final newline
        # An undefined name is empty, as in Jinja2; with --strict-undefined an error naming it and where.
        self.assertEqual(run(*self.base, "--template", t, "--dockerfile", "--no-labels").stdout.decode(), "FROM local/busybox:1\nLABEL owner=")
        r = run(*self.base, "--template", t, "--strict-undefined", "--dockerfile", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"template {t}: line 2, column 16: 'owner' is undefined (in `{{{{ owner }}}}`)", r.stderr.decode())
        bad = write(self.tmp, "bad.j2", "FROM x\n{% if build_from_scratch %}\n")
        r = run(*self.base, "--template", bad, check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("line 2, column 4: {% if %} is never closed", r.stderr.decode())
        mustache = write(self.tmp, "old.mustache", "FROM {{base_image}}\n{{#build_from_scratch}}\nRUN x\n{{/build_from_scratch}}\n")
        r = run(*self.base, "--template", mustache, check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("is mustache: Dockerfile templates are Jinja2", r.stderr.decode())
        r = run(*self.base, "--template", t, "--var", "nonsense", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("is not NAME=VALUE", r.stderr.decode())

    def test_jinja2_switches_apply_to_a_template(self):
        t = write(self.tmp, "sw.j2", "FROM {{ base_image }}\n  {% if build_from_scratch %}\nRUN x\n  {% endif %}\nEND\n")
        plain = run(*self.base, "--template", t, "--dockerfile", "--no-labels").stdout.decode()
        self.assertEqual(plain, "FROM local/busybox:1\n  \nRUN x\n  \nEND")
        tidy = run(*self.base, "--template", t, "--trim-blocks", "--lstrip-blocks", "--keep-trailing-newline",
                   "--dockerfile", "--no-labels").stdout.decode()
        self.assertEqual(tidy, "FROM local/busybox:1\nRUN x\nEND\n")
        r = run(*self.base, "--trim-blocks", "--dockerfile", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("apply to a --template", r.stderr.decode())

    def test_no_browser_reaches_the_template(self):
        t = write(self.tmp, "browser.j2", "{% if enable_browser %}playwright{% else %}none{% endif %}")
        self.assertEqual(run(*self.base, "--template", t, "--dockerfile", "--no-labels").stdout.decode(), "playwright")
        self.assertEqual(run(*self.base, "--template", t, "--no-browser", "--dockerfile", "--no-labels").stdout.decode(),
                         "none")

    def test_openhands_template_renders_as_openhands_renders_it(self):
        # OpenHands' _generate_dockerfile, for the oracle: a default Environment, then render().
        import jinja2
        data = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "openhands")
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(searchpath=data))
        template = env.get_template("Dockerfile.j2")
        for plan in ("scratch", "versioned", "lock"):
            for browser in (True, False):
                for extra in (None, "pip install x"):
                    args = [*self.base, "--template", os.path.join(data, "Dockerfile.j2"), "--plan", plan,
                            "--dockerfile", "--no-labels"]
                    if not browser:
                        args.append("--no-browser")
                    if extra:
                        args += ["--extra-deps", extra]
                    got = run(*args).stdout.decode()
                    want = template.render(base_image="local/busybox:1", build_from_scratch=plan == "scratch",
                                           build_from_versioned=plan == "versioned", extra_deps=extra or "",
                                           enable_browser=browser, channel_alias=None)
                    self.assertEqual(got, want, f"{plan} browser={browser} extra={extra}")

if __name__ == "__main__":
    unittest.main(verbosity=2)
