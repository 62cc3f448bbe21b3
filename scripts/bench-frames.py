#!/usr/bin/env python3
"""The fixed gRPC requests of the Check benchmarks (scripts/bench-check.sh,
scripts/bench-instructions.sh): writes health.bin, allow.bin, deny.bin and
batch.bin (5-byte gRPC frame prefix + protobuf bytes, encoded here by hand:
strings are field type 2, enums varints) into DIR.

Usage: bench-frames.py DIR PROFILE_ID ALLOWED_CASE_ID DENIED_CASE_ID
"""
import struct, sys
work, carl, allowed, denied = sys.argv[1:5]
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
def frame(body):
    return b"\x00" + struct.pack(">I", len(body)) + body
for name, body in [("health", b""), ("allow", check(allowed)), ("deny", check(denied)), ("batch", batch(100))]:
    open(f"{work}/{name}.bin", "wb").write(frame(body))
