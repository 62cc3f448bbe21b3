#!/usr/bin/env python3
"""The fixed gRPC requests of the benchmarks (scripts/bench-check.sh,
scripts/bench-instructions.sh, scripts/bench-writes.sh): writes health.bin,
allow.bin, deny.bin, batch.bin and, given an account, create.bin and
create-token.bin
(5-byte gRPC frame prefix + protobuf bytes, encoded here by hand: strings are
field type 2, enums varints) into DIR.

Usage: bench-frames.py DIR PROFILE_ID ALLOWED_CASE_ID DENIED_CASE_ID [ACCOUNT_ID]
"""
import struct, sys
work, carl, allowed, denied = sys.argv[1:5]
account = sys.argv[5] if len(sys.argv) > 5 else None
def text(number, value):
    data = value.encode()
    return bytes([number << 3 | 2, len(data)]) + data
def check(case):
    target = text(1, case)                                   # Target.case_id = 1
    body = text(1, carl) + bytes([2 << 3 | 2, len(target)]) + target + bytes([3 << 3, 1])  # action READ = 1
    return body
def varint(n):
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out
def message(number, body):
    return bytes([number << 3 | 2]) + varint(len(body)) + body
def batch(size):
    # BatchCheckRequest: profile_id = 1, items = 2 (BatchCheckItem: target = 1, action = 2),
    # alternating the allowed and the denied case.
    items = b"".join(message(2, message(1, text(1, (allowed, denied)[i % 2])) + bytes([2 << 3, 1])) for i in range(size))
    return text(1, carl) + items
def create(account, token=None):
    # CreateCaseRequest.draft = 3 (CaseDraft: create_for = 1 ACCOUNT, short_description = 2,
    # account_id = 6); no request_id, so every request creates a case. With a
    # token: consistency = 5 (Consistency.at_least_as_fresh = 2), so the
    # creator's context may come from case-access's cache instead of being read through.
    draft = bytes([1 << 3, 1]) + text(2, "Benchmark case") + text(6, account)
    return message(3, draft) + (message(5, text(2, token)) if token else b"")
def frame(body):
    return b"\x00" + struct.pack(">I", len(body)) + body
frames = [("health", b""), ("allow", check(allowed)), ("deny", check(denied)), ("batch", batch(100))]
if account:
    frames += [("create", create(account)), ("create-token", create(account, "identity:1"))]
for name, body in frames:
    open(f"{work}/{name}.bin", "wb").write(frame(body))
