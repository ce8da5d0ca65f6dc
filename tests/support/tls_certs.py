"""Certificates for TLS tests, made with the openssl command-line tool.

PrivateCA(dir, name) makes a private certificate authority (RSA 2048, a
day's validity); .server(...) issues a server certificate for 127.0.0.1 (an
IP subjectAltName, as a client checking the name needs), .client(...) a
client certificate (extendedKeyUsage clientAuth), and .expired(...) a
client or server certificate whose validity ended years ago (`openssl ca`
with explicit dates: `openssl x509 -days` cannot go back in time). Each
returns (cert path, key path). Everything stays under `dir`, which the
caller removes.
"""
import os
import subprocess

OPENSSL = "/usr/bin/openssl"


def _run(*args, cwd=None):
    r = subprocess.run([OPENSSL, *args], capture_output=True, text=True, cwd=cwd)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r.stdout


class PrivateCA:
    def __init__(self, dir, name="rtb test CA"):
        if not os.access(OPENSSL, os.X_OK):
            raise RuntimeError(f"{OPENSSL} is missing: install openssl (scripts/setup does)")
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        self.key = os.path.join(dir, "ca-key.pem")
        self.cert = os.path.join(dir, "ca.pem")
        _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key, "-out", self.cert,
             "-days", "1", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self.serial = 1

    def _issue(self, name, subject, extensions, start=None, end=None):
        key = os.path.join(self.dir, f"{name}-key.pem")
        csr = os.path.join(self.dir, f"{name}.csr")
        cert = os.path.join(self.dir, f"{name}.pem")
        ext = os.path.join(self.dir, f"{name}.ext")
        with open(ext, "w") as f:
            f.write("[v3]\n" + "".join(f"{line}\n" for line in extensions))
        _run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={subject}")
        if start is None:
            _run("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key, "-set_serial", str(self.serial),
                 "-days", "1", "-extfile", ext, "-extensions", "v3", "-out", cert)
        else:
            # `openssl ca` takes explicit dates; it wants a small database.
            db = os.path.join(self.dir, f"{name}-db")
            os.makedirs(db, exist_ok=True)
            open(os.path.join(db, "index.txt"), "w").close()
            conf = os.path.join(db, "ca.cnf")
            with open(conf, "w") as f:
                f.write(f"""[ca]
default_ca = test
[test]
database = {db}/index.txt
new_certs_dir = {db}
serial = {db}/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
commonName = supplied
""")
            with open(os.path.join(db, "serial"), "w") as f:
                f.write(f"{self.serial:02X}\n")
            _run("ca", "-batch", "-config", conf, "-cert", self.cert, "-keyfile", self.key, "-in", csr, "-out", cert,
                 "-startdate", start, "-enddate", end, "-extfile", ext, "-extensions", "v3", "-notext")
        self.serial += 1
        os.remove(csr)
        return cert, key

    def server(self, name="server"):
        return self._issue(name, "127.0.0.1", ["subjectAltName=IP:127.0.0.1", "extendedKeyUsage=serverAuth",
                                               "basicConstraints=CA:FALSE"])

    def client(self, name="client"):
        return self._issue(name, "rtb test client", ["extendedKeyUsage=clientAuth", "basicConstraints=CA:FALSE"])

    def expired(self, name="expired", server=False):
        usage = ["subjectAltName=IP:127.0.0.1", "extendedKeyUsage=serverAuth"] if server else ["extendedKeyUsage=clientAuth"]
        return self._issue(name, "127.0.0.1" if server else "rtb expired client", usage + ["basicConstraints=CA:FALSE"],
                           start="20200101000000Z", end="20200102000000Z")
