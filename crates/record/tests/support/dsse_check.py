"""Independent check of a mandate in-toto export with securesystemslib.

Usage: dsse_check.py ENVELOPE.json PUBLIC_KEY_HEX KEYID
Checks the DSSE signature over PAE with securesystemslib's own implementation and the
in-toto Statement v1 shape; prints "ok" and exits 0, or prints why and exits 1.
"""

import json
import sys

from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey


def main() -> int:
    path, public_hex, keyid = sys.argv[1:4]
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    envelope = Envelope.from_dict(raw)
    key = SSlibKey(keyid, "ed25519", "ed25519", {"public": public_hex})
    verified = envelope.verify([key], 1)  # raises VerificationError when it fails
    if keyid not in verified:
        print("signature not verified by the expected key")
        return 1
    if envelope.payload_type != "application/vnd.in-toto+json":
        print(f"unexpected payload type {envelope.payload_type}")
        return 1
    statement = json.loads(envelope.payload)
    if statement.get("_type") != "https://in-toto.io/Statement/v1":
        print("not an in-toto Statement v1")
        return 1
    if not isinstance(statement.get("predicateType"), str):
        print("no predicateType")
        return 1
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        print("no subjects")
        return 1
    for s in subjects:
        digest = s.get("digest", {})
        if not s.get("name") or not digest or not all(
            isinstance(v, str) and len(v) == 64 for v in digest.values()
        ):
            print(f"bad subject {s}")
            return 1
    if not isinstance(statement.get("predicate"), dict):
        print("no predicate")
        return 1
    print("ok", len(subjects), "subjects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
