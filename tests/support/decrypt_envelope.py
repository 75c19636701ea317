#!/usr/bin/env python3
"""Independent reader of the llxprt fallback envelope (v1 and v2).

Written from the format description only (SPEC.md §3, llxprt-behaviour.md
Part B §1-§2, §5), with Python's hashlib.scrypt and the `cryptography`
package's AESGCM, so that Rust tests can prove byte compatibility without
trusting keyshell's own crypto code.

    decrypt_envelope.py --service S --machine-id HEX [--secret-b64 B64] FILE

Prints the plaintext (raw bytes, no trailing newline) to stdout and exits 0.
On any failure prints a message to stderr and exits 1.

Optional checks (off by default):
  --expect-version N   fail unless the envelope's "v" is N
  --strict-format      fail unless the file is byte-for-byte the canonical
                       compact JSON with llxprt's key order, standard padded
                       base64 and no trailing newline
"""

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys

CRYPTO = {"alg": "aes-256-gcm", "kdf": "scrypt", "N": 16384, "r": 8, "p": 1, "saltLen": 16}
SALT_LEN, IV_LEN, TAG_LEN = 16, 12, 16
MAXMEM = 64 * 1024 * 1024


class Failure(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(1)


def machine_id_arg(value):
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise argparse.ArgumentTypeError("machine id must be 64 lower-case hex digits")
    return value


def secret_arg(value):
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise argparse.ArgumentTypeError(f"machine secret is not valid base64: {e}")
    if len(raw) != 32:
        raise argparse.ArgumentTypeError(f"machine secret must decode to 32 bytes, got {len(raw)}")
    return raw


def password(version, service, machine_id, secret):
    if version == 1:
        return f"{service}-{machine_id}"
    if secret is None:
        raise Failure("v:2 envelope requires a machine secret (--secret-b64)")
    return f"{secret.hex()}|{service}|{machine_id}"


def derive_key(pw, salt):
    return hashlib.scrypt(pw.encode("utf-8"), salt=salt, n=CRYPTO["N"], r=CRYPTO["r"],
                          p=CRYPTO["p"], maxmem=MAXMEM, dklen=32)


def is_exact_int(x, want):
    # JSON numbers only: reject booleans (True == 1 in Python) and strings.
    return type(x) is int and x == want


def decrypt(raw, service, machine_id, secret, expect_version=None, strict=False):
    try:
        text = raw.decode("utf-8")
        env = json.loads(text)
    except (UnicodeDecodeError, ValueError) as e:
        raise Failure(f"envelope is not valid JSON: {e}")
    if not isinstance(env, dict):
        raise Failure("envelope is not a JSON object")

    v = env.get("v")
    if not (is_exact_int(v, 1) or is_exact_int(v, 2)):
        raise Failure(f"unrecognized envelope version: {v!r}")
    if expect_version is not None and v != expect_version:
        raise Failure(f"expected envelope version {expect_version}, found {v}")

    crypto = env.get("crypto")
    if not isinstance(crypto, dict):
        raise Failure("envelope has no crypto object")
    for name, want in CRYPTO.items():
        got = crypto.get(name)
        ok = got == want if isinstance(want, str) else is_exact_int(got, want)
        if not ok or (isinstance(want, str) and not isinstance(got, str)):
            raise Failure(f"unsupported crypto parameter {name}={got!r} (want {want!r})")

    data = env.get("data")
    if not isinstance(data, str):
        raise Failure("envelope data is not a string")
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise Failure(f"envelope data is not standard base64: {e}")
    if len(blob) < SALT_LEN + IV_LEN + TAG_LEN:
        raise Failure(f"envelope payload too short ({len(blob)} bytes < 44)")

    if strict:
        canonical = json.dumps({"v": v, "crypto": CRYPTO, "data": base64.b64encode(blob).decode("ascii")},
                               separators=(",", ":"))
        if text != canonical:
            raise Failure("envelope is not in canonical form\n"
                          f"  got:  {text!r}\n  want: {canonical!r}")

    salt = blob[:SALT_LEN]
    iv = blob[SALT_LEN:SALT_LEN + IV_LEN]
    tag = blob[SALT_LEN + IV_LEN:SALT_LEN + IV_LEN + TAG_LEN]
    ct = blob[SALT_LEN + IV_LEN + TAG_LEN:]

    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = derive_key(password(v, service, machine_id, secret), salt)
    try:
        # cryptography's AESGCM takes ciphertext || tag; no associated data.
        return AESGCM(key).decrypt(iv, ct + tag, None)
    except InvalidTag:
        raise Failure("authentication failed (wrong service, machine id, secret, or tampered data)")


def main(argv=None):
    ap = Parser(description="Decrypt an llxprt/keyshell fallback envelope (.enc).")
    ap.add_argument("--service", required=True)
    ap.add_argument("--machine-id", required=True, type=machine_id_arg,
                    help="lower-hex SHA-256 of hostname+username")
    ap.add_argument("--secret-b64", type=secret_arg, default=None,
                    help="machine secret, standard base64 of 32 bytes (needed for v2)")
    ap.add_argument("--expect-version", type=int, choices=(1, 2), default=None)
    ap.add_argument("--strict-format", action="store_true")
    ap.add_argument("file")
    args = ap.parse_args(argv)
    try:
        with open(args.file, "rb") as f:
            raw = f.read()
        plain = decrypt(raw, args.service, args.machine_id, args.secret_b64,
                        args.expect_version, args.strict_format)
    except Failure as e:
        sys.stderr.write(f"decrypt_envelope: {args.file}: {e}\n")
        return 1
    except Exception as e:  # I/O errors, missing module, ...
        sys.stderr.write(f"decrypt_envelope: {args.file}: {type(e).__name__}: {e}\n")
        return 1
    sys.stdout.buffer.write(plain)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
