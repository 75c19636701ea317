#!/usr/bin/env python3
"""Independent writer of the llxprt fallback envelope (inverse of decrypt_envelope.py).

    encrypt_envelope.py --service S --machine-id HEX [--secret-b64 B64] --plaintext P OUT

Writes v2 if a machine secret is given, else v1: compact JSON in llxprt's key
order, no trailing newline, mode 0600, data = base64(salt16 | iv12 | tag16 | ct).
Salt and IV are random unless --salt-hex / --iv-hex pin them (for reproducing
test vectors byte for byte). Exit 0 on success; on failure a message on stderr
and exit 1.
"""

import argparse
import base64
import json
import os
import secrets
import sys

sys.dont_write_bytecode = True  # keep tests/support free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from decrypt_envelope import (CRYPTO, IV_LEN, SALT_LEN, Parser, derive_key,  # noqa: E402
                              machine_id_arg, password, secret_arg)


def fixed_hex(length):
    def parse(value):
        try:
            raw = bytes.fromhex(value)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"not hex: {e}")
        if len(raw) != length:
            raise argparse.ArgumentTypeError(f"must be {length} bytes, got {len(raw)}")
        return raw
    return parse


def encrypt(plaintext, service, machine_id, secret, salt=None, iv=None):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    version = 2 if secret is not None else 1
    salt = salt if salt is not None else secrets.token_bytes(SALT_LEN)
    iv = iv if iv is not None else secrets.token_bytes(IV_LEN)
    key = derive_key(password(version, service, machine_id, secret), salt)
    sealed = AESGCM(key).encrypt(iv, plaintext, None)  # ct || tag
    ct, tag = sealed[:-16], sealed[-16:]
    data = base64.b64encode(salt + iv + tag + ct).decode("ascii")
    return json.dumps({"v": version, "crypto": CRYPTO, "data": data}, separators=(",", ":"))


def main(argv=None):
    ap = Parser(description="Write an llxprt/keyshell fallback envelope (.enc).")
    ap.add_argument("--service", required=True)
    ap.add_argument("--machine-id", required=True, type=machine_id_arg)
    ap.add_argument("--secret-b64", type=secret_arg, default=None)
    ap.add_argument("--plaintext", required=True)
    ap.add_argument("--salt-hex", type=fixed_hex(SALT_LEN), default=None)
    ap.add_argument("--iv-hex", type=fixed_hex(IV_LEN), default=None)
    ap.add_argument("out")
    args = ap.parse_args(argv)
    try:
        # Arguments arrive as str; round-trip undecodable bytes via surrogateescape.
        plain = os.fsencode(args.plaintext)
        text = encrypt(plain, args.service, args.machine_id, args.secret_b64,
                       args.salt_hex, args.iv_hex)
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
        os.chmod(args.out, 0o600)
    except Exception as e:
        sys.stderr.write(f"encrypt_envelope: {args.out}: {type(e).__name__}: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
