#!/usr/bin/env python3
"""Writes each fuzz target's seeds, from the golden vectors in proto/vectors/, into OUT/<target>/.

Usage: fuzz/seeds.py OUT. OUT is emptied first: the seeds are made at run time, never committed.
"""

import json
import pathlib
import shutil
import struct
import sys

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "proto" / "vectors"
HELLO = 0x01
PRESENCE = range(0x20, 0x27)


def load(name):
    return [(f"{name[:-5]}.{v['name']}", v) for v in json.loads((VECTORS / name).read_text())]


def prefix(length):
    """A frame length's canonical varint prefix (PROTOCOL.md section 2.1)."""
    if length < 251:
        return bytes([length])
    return b"\xfb" + struct.pack("<H", length) if length < 1 << 16 else b"\xfc" + struct.pack("<I", length)


def framing_input(max_frame_size, sizes, stream):
    """The framing target's input: max_frame_size (u32 LE), a count, chunk sizes less one, the stream."""
    return struct.pack("<IB", max_frame_size, len(sizes)) + bytes(s - 1 for s in sizes) + stream


frames = [(name, bytes.fromhex(v["hex"])) for name, v in load("frames.json") + load("malformed.json")]
framing = []
for name, v in load("framing.json"):
    stream = bytes.fromhex(v["hex"])
    framing.append((f"{name}.whole", framing_input(v["max_frame_size"], [], stream)))
    framing.append((f"{name}.bytewise", framing_input(v["max_frame_size"], [1], stream)))
valid = b"".join(prefix(len(b)) + b for name, b in frames if name.startswith("frames."))
framing.append(("frames.all.chunked", framing_input(1 << 20, [7, 1, 13], valid)))

seeds = {
    "decode": frames,
    "hello": [(name, b) for name, b in frames if b[:1] == bytes([HELLO])],
    "presence": [(name, b) for name, b in frames if b[:1] and b[0] in PRESENCE],
    "framing": framing,
}
out = pathlib.Path(sys.argv[1])
shutil.rmtree(out, ignore_errors=True)
for target, inputs in seeds.items():
    (out / target).mkdir(parents=True)
    for name, data in inputs:
        (out / target / name).write_bytes(data)
    print(f"{target}: {len(inputs)} seeds")
