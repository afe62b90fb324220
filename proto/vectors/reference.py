#!/usr/bin/env python3
"""Reference encoder, decoder and stream splitter for quicket protocol version 1.

Written from proto/PROTOCOL.md alone (stdlib only), independently of the Rust crate, to
derive the golden vectors beside it. Run from anywhere:

    python3 proto/vectors/reference.py

It rebuilds frames.json, malformed.json and framing.json, and checks every vector against
its own decoder first: frames round-trip, malformed inputs fail with the stated error, and
stream inputs split as stated. Expected errors are written by hand below, from the spec's
rules; the decoder only confirms them.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# --- Tags, codecs and reason codes (PROTOCOL.md, "Frames" and "Reason codes") --------------

TAGS = {
    "Hello": 0x01, "Welcome": 0x02, "Reject": 0x03,
    "Event": 0x10, "Ack": 0x11, "AckError": 0x12, "Sequenced": 0x13,
    "PresenceSubscribe": 0x20, "PresenceUnsubscribe": 0x21, "PresenceState": 0x22,
    "PresenceDiff": 0x23, "PresenceEnd": 0x24, "PresenceStatePart": 0x25,
    "PresenceCount": 0x26,
    "Ping": 0x30, "Pong": 0x31, "Disconnect": 0x3F,
}
TYPES = {tag: name for name, tag in TAGS.items()}
CODECS = {"bincode": 0, "json": 1}
CODEC_NAMES = {v: k for k, v in CODECS.items()}

MAX_FRAME_SIZE = 16 << 20  # absolute cap, 16 MiB

# Field kinds: "u16" "u32" "u64" varints of that width, "str", "bytes", "bool" (one byte,
# 00 or 01), "codec" (one raw byte), "sid" (16 raw bytes), ("opt", kind), ("struct", fields), ("seq", kind),
# ("trailing", kind): a trailing field (PROTOCOL.md section 5, "Trailing fields"), absent when the
# body ends before it, else kind's bytes with no Option tag; only ever a body's last field.
META = ("struct", [("id", "u64"), ("data", "bytes")])
ENTRY = ("struct", [("key", "str"), ("metas", ("seq", META))])
RESUME = ("struct", [("token", "bytes"), ("offset", "u64")])
CHANNEL_OFFSET = ("struct", [("channel", "u16"), ("offset", "u64")])
CHANNEL_OFFER = ("struct", [("max_channels", "u16"), ("offsets", ("seq", CHANNEL_OFFSET)),
                            ("classes", "bool")])
CHANNEL_GRANT = ("struct", [("max_channels", "u16"), ("classes", "bool")])

BODIES = {
    "Hello": [("version", "u16"), ("codec", "codec"), ("client_name", "str"),
              ("client_version", "str"), ("max_frame_size", "u32"), ("auth", "bytes"),
              ("resume", ("opt", RESUME)), ("channels", ("trailing", CHANNEL_OFFER))],
    "Welcome": [("sid", "sid"), ("ping_interval_ms", "u32"), ("ping_timeout_ms", "u32"),
                ("max_frame_size", "u32"), ("session", "bytes"), ("recovered", "bool"),
                ("offset", "u64"), ("channels", ("trailing", CHANNEL_GRANT))],
    "Reject": [("reason", "u16"), ("message", "str"), ("data", "bytes")],
    "Event": [("name", "str"), ("ack", ("opt", "u64")), ("data", "bytes")],
    "Sequenced": [("name", "str"), ("key", "str"), ("seq", "u64"), ("data", "bytes")],
    "Ack": [("id", "u64"), ("data", "bytes")],
    "AckError": [("id", "u64"), ("message", "str")],
    "PresenceSubscribe": [("room", "str")],
    "PresenceUnsubscribe": [("room", "str")],
    "PresenceState": [("room", "str"), ("entries", ("seq", ENTRY))],
    "PresenceDiff": [("room", "str"), ("joins", ("seq", ENTRY)), ("leaves", ("seq", ENTRY))],
    "PresenceEnd": [("room", "str"), ("message", "str")],
    "PresenceStatePart": [("room", "str"), ("entries", ("seq", ENTRY))],
    "PresenceCount": [("room", "str"), ("keys", "u64"), ("connections", "u64")],
    "Ping": [("id", "u64")],
    "Pong": [("id", "u64")],
    "Disconnect": [("reason", "u16"), ("message", "str")],
}
WIDTH = {"u16": 16, "u32": 32, "u64": 64}
# A trailing field can only be told absent by the body ending there: one per body, and last.
for _fields in BODIES.values():
    assert all(k[0] != "trailing" for _, k in _fields[:-1]), _fields

# --- Encoding ---------------------------------------------------------------------------------


def varint(n):
    """The canonical unsigned varint: 1, 3, 5 or 9 bytes."""
    assert 0 <= n < 1 << 64
    if n <= 250:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfb" + n.to_bytes(2, "little")
    if n < 1 << 32:
        return b"\xfc" + n.to_bytes(4, "little")
    return b"\xfd" + n.to_bytes(8, "little")


def enc(kind, value):
    """Encodes a value given in the vectors' JSON form."""
    if isinstance(kind, str) and kind in WIDTH:
        assert value < 1 << WIDTH[kind]
        return varint(value)
    if kind == "str":
        raw = value.encode("utf-8")
        return varint(len(raw)) + raw
    if kind == "bytes":
        raw = bytes.fromhex(value)
        return varint(len(raw)) + raw
    if kind == "bool":
        return b"\x01" if value else b"\x00"
    if kind == "codec":
        return bytes([CODECS[value]])
    if kind == "sid":
        raw = bytes.fromhex(value)
        assert len(raw) == 16
        return raw
    if kind[0] == "opt":
        return b"\x00" if value is None else b"\x01" + enc(kind[1], value)
    if kind[0] == "trailing":
        return b"" if value is None else enc(kind[1], value)
    if kind[0] == "seq":
        return varint(len(value)) + b"".join(enc(kind[1], item) for item in value)
    if kind[0] == "struct":
        return b"".join(enc(k, value[name]) for name, k in kind[1])
    raise ValueError(kind)


def encode(frame):
    fields = BODIES[frame["type"]]
    assert set(frame) == {"type"} | {name for name, _ in fields}, frame
    return bytes([TAGS[frame["type"]]]) + enc(("struct", fields), frame)


# --- Decoding ---------------------------------------------------------------------------------


class DecodeError(Exception):
    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


class Reader:
    def __init__(self, body):
        self.body = body
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.body):
            raise DecodeError("Truncated")
        out = self.body[self.pos:self.pos + n]
        self.pos += n
        return out

    def varint(self, width):
        first = self.take(1)[0]
        if first <= 250:
            return first
        size = {0xFB: 16, 0xFC: 32, 0xFD: 64}.get(first)
        if size is None or size > width:  # fe, ff, or a marker wider than the field
            raise DecodeError("InvalidValue")
        value = int.from_bytes(self.take(size // 8), "little")
        if len(varint(value)) != 1 + size // 8:
            raise DecodeError("NonCanonical")
        return value

    def length(self):
        """A string or byte-string length, checked against the input before use."""
        n = self.varint(64)
        remaining = len(self.body) - self.pos
        if n > remaining:
            # PROTOCOL.md "Decoding rules": > max(256, 64 x body) is LimitExceeded,
            # <= max(128, 8 x body) is Truncated, anything between is the implementation's choice.
            body = len(self.body)
            if n > max(256, 64 * body):
                raise DecodeError("LimitExceeded")
            if n <= max(128, 8 * body):
                raise DecodeError("Truncated")
            raise AssertionError("a vector must not declare a length in the ambiguous band")
        return n


def dec(kind, r):
    if isinstance(kind, str) and kind in WIDTH:
        return r.varint(WIDTH[kind])
    if kind == "str":
        raw = r.take(r.length())
        try:
            return raw.decode("utf-8")  # strict: rejects overlongs, surrogates, > U+10FFFF
        except UnicodeDecodeError:
            raise DecodeError("InvalidUtf8") from None
    if kind == "bytes":
        return r.take(r.length()).hex()
    if kind == "bool":
        byte = r.take(1)[0]
        if byte > 1:
            raise DecodeError("InvalidValue")
        return byte == 1
    if kind == "codec":
        byte = r.take(1)[0]
        if byte not in CODEC_NAMES:
            raise DecodeError("InvalidValue")
        return CODEC_NAMES[byte]
    if kind == "sid":
        return r.take(16).hex()
    if kind[0] == "opt":
        flag = r.take(1)[0]
        if flag > 1:
            raise DecodeError("InvalidValue")
        return dec(kind[1], r) if flag else None
    if kind[0] == "trailing":
        # Absent when the body ends here; otherwise the whole struct, and what follows it is
        # TrailingBytes (decode). A partial struct runs out of input (Truncated).
        return None if r.pos == len(r.body) else dec(kind[1], r)
    if kind[0] == "seq":
        # A count is not preallocated; too large a count runs out of input (Truncated).
        count = r.varint(64)
        return [dec(kind[1], r) for _ in range(count)]
    if kind[0] == "struct":
        return {name: dec(k, r) for name, k in kind[1]}
    raise ValueError(kind)


def decode(data):
    if not data:
        raise DecodeError("Truncated")
    name = TYPES.get(data[0])
    if name is None:
        raise DecodeError("UnknownTag")
    r = Reader(data[1:])
    frame = {"type": name}
    frame.update(dec(("struct", BODIES[name]), r))
    if r.pos != len(r.body):
        raise DecodeError("TrailingBytes")
    return frame


# --- Stream framing ---------------------------------------------------------------------------


def prefixed(frame_bytes):
    return varint(len(frame_bytes)) + frame_bytes


def split(buf, max_frame_size):
    """Splits length-prefixed frames: the vectors' "result" for `buf`."""
    max_frame_size = min(max_frame_size, MAX_FRAME_SIZE)
    frames = []
    while True:
        if not buf:
            break
        first = buf[0]
        if first <= 250:
            declared, plen = first, 1
        elif first in (0xFB, 0xFC, 0xFD):
            width = {0xFB: 2, 0xFC: 4, 0xFD: 8}[first]
            if len(buf) < 1 + width:
                break
            declared, plen = int.from_bytes(buf[1:1 + width], "little"), 1 + width
            if len(varint(declared)) != plen:
                assert not frames
                return {"error": "NonCanonical"}
        else:
            assert not frames
            return {"error": "InvalidValue"}
        if declared > max_frame_size:
            assert not frames
            return {"error": "FrameTooLarge"}
        if len(buf) < plen + declared:
            break
        frames.append(buf[plen:plen + declared].hex())
        buf = buf[plen + declared:]
    if not frames:
        return "NeedMore"
    return {"frames": frames, "rest": buf.hex()}


# --- Vectors ----------------------------------------------------------------------------------

SID = "5f2b8c1e9d4a7b3c6e0f1a2b3c4d5e6f"
TOKEN = "a1" * 8 + "5e" * 8 + "c0ffee00" * 4


def j(text):
    """A JSON payload: UTF-8 JSON text, as hex."""
    return text.encode("utf-8").hex()


def meta(id_, data):
    return {"id": id_, "data": data}


def entry(key, *metas):
    return {"key": key, "metas": list(metas)}


def hello(codec="bincode", name="quicket-rs", version="0.1.0", auth="", resume=None, v=1,
          max_frame=1048576, channels=None):
    return {"type": "Hello", "version": v, "codec": codec, "client_name": name,
            "client_version": version, "max_frame_size": max_frame, "auth": auth,
            "resume": resume, "channels": channels}


def welcome(sid=SID, interval=25000, timeout=20000, max_frame=1048576, session="",
            recovered=False, offset=0, channels=None):
    return {"type": "Welcome", "sid": sid, "ping_interval_ms": interval,
            "ping_timeout_ms": timeout, "max_frame_size": max_frame, "session": session,
            "recovered": recovered, "offset": offset, "channels": channels}


def offer(max_channels, *offsets, classes=True):
    """A ChannelOffer; offsets as (channel, offset) pairs."""
    return {"max_channels": max_channels,
            "offsets": [{"channel": c, "offset": o} for c, o in offsets], "classes": classes}


def grant(max_channels, classes=True):
    return {"max_channels": max_channels, "classes": classes}


def reject(reason, message, data=""):
    return {"type": "Reject", "reason": reason, "message": message, "data": data}


def event(name, ack=None, data=""):
    return {"type": "Event", "name": name, "ack": ack, "data": data}


def sequenced(name, key, seq, data=""):
    return {"type": "Sequenced", "name": name, "key": key, "seq": seq, "data": data}


def ack(id_, data=""):
    return {"type": "Ack", "id": id_, "data": data}


def ack_error(id_, message):
    return {"type": "AckError", "id": id_, "message": message}


def state(room, *entries):
    return {"type": "PresenceState", "room": room, "entries": list(entries)}


def diff(room, joins, leaves):
    return {"type": "PresenceDiff", "room": room, "joins": joins, "leaves": leaves}


def disconnect(reason, message):
    return {"type": "Disconnect", "reason": reason, "message": message}


# Channels (section 2.2): trailing fields, also used by the malformed vectors below.
HELLO_CHANNELS = hello(channels=offer(16))
HELLO_RESUME_CHANNELS = hello(resume={"token": TOKEN, "offset": 40},
                              channels=offer(16, (1, 7), (3, 300)))
WELCOME_RECOVERED = welcome(session=TOKEN, recovered=True, offset=1000)
WELCOME_CHANNELS = dict(WELCOME_RECOVERED, channels=grant(8))

FRAMES = [
    # Hello
    ("hello_minimal", hello(name="", version="", max_frame=0)),
    ("hello_bincode", hello()),
    ("hello_json_auth", hello("json", "quicket-js", "0.1.0", j('{"token":"abc"}'))),
    ("hello_json_resume", hello("json", "quicket-js", "0.1.0", j("null"),
                                {"token": "00112233445566778899aabbccddeeff", "offset": 4294967296})),
    ("hello_resume_empty_token_offset_0", hello(resume={"token": "", "offset": 0})),
    ("hello_future_version_300", hello(v=300)),
    ("hello_non_ascii_client_name", hello(name="clïent-🎉")),
    ("hello_max_frame_size_250", hello(max_frame=250)),
    ("hello_max_frame_size_251", hello(max_frame=251)),
    ("hello_max_frame_size_65536", hello(max_frame=65536)),
    ("hello_max_frame_size_16mib_cap", hello("json", max_frame=16777216)),
    ("hello_max_frame_size_u32_max", hello(max_frame=4294967295)),
    ("hello_channels", HELLO_CHANNELS),
    ("hello_resume_channels", HELLO_RESUME_CHANNELS),
    ("hello_channels_without_classes", hello(channels=offer(16, classes=False))),
    ("hello_classes_without_channels", hello("json", "quicket-js", channels=offer(0))),
    # Welcome
    ("welcome_defaults", welcome()),
    ("welcome_zeros", welcome("00" * 16, 0, 0, 0)),
    ("welcome_varint_boundaries", welcome("ff" * 16, 250, 251, 65535)),
    ("welcome_u32_max_and_cap", welcome("0123456789abcdef0123456789abcdef", 4294967295, 65536,
                                        16777216)),
    ("welcome_max_frame_size_u32_max", welcome(max_frame=4294967295)),
    ("welcome_new_session", welcome(session=TOKEN)),
    ("welcome_recovered_offset_1000", welcome(session=TOKEN, recovered=True, offset=1000)),
    ("welcome_recovered_offset_2p40", welcome(session=TOKEN, recovered=True, offset=1 << 40)),
    ("welcome_channels", WELCOME_CHANNELS),
    ("welcome_channels_without_classes", welcome(channels=grant(4, classes=False))),
    # Reject
    ("reject_unauthorized", reject(1, "bad token")),
    ("reject_unsupported_version", reject(2, "unsupported protocol version")),
    ("reject_bad_handshake", reject(3, "")),
    ("reject_server_full_with_data", reject(4, "server full", j('{"retry_after":5}'))),
    ("reject_other_300", reject(300, "später")),
    # Event
    ("event_empty", event("")),
    ("event_json_null_no_ack", event("chat", None, j("null"))),
    ("event_json_with_ack", event("chat", 42, j('"hi"'))),
    ("event_bincode_payload", event("move", 1, "0268690700")),
    ("event_ack_0", event("e", 0)),
    ("event_ack_250", event("e", 250)),
    ("event_ack_251", event("e", 251)),
    ("event_ack_65535", event("e", 65535)),
    ("event_ack_65536", event("e", 65536)),
    ("event_ack_4294967295", event("e", 4294967295)),
    ("event_ack_4294967296", event("e", 4294967296)),
    ("event_ack_2p53_minus_1", event("e", 9007199254740991)),
    ("event_name_h_e_acute", event("hé", None, j("1"))),
    ("event_name_emoji", event("🎉", 7, j("[1,2]"))),
    ("event_name_cjk", event("聊天", None, "")),
    # Sequenced (section 2.3)
    ("sequenced_no_key", sequenced("pos", "", 1, j("[1,2]"))),
    ("sequenced_key_seq_2p40", sequenced("snapshot", "match-7", 1 << 40, "00ff")),
    ("sequenced_seq_u64_max", sequenced("t", "sensor/3", 18446744073709551615)),
    ("event_name_250_bytes", event("n" * 250)),
    ("event_name_251_bytes", event("n" * 251)),
    ("event_data_251_bytes", event("x", None, "ab" * 251)),
    ("event_data_245_bytes", event("chat", None, "cd" * 245)),
    # Ack and AckError
    ("ack_empty_data", ack(0)),
    ("ack_json", ack(42, j('"ok"'))),
    ("ack_id_65536", ack(65536, j("{}"))),
    ("ack_error_unknown_event", ack_error(7, "unknown event")),
    ("ack_error_empty_message", ack_error(251, "")),
    # Presence
    ("presence_subscribe", {"type": "PresenceSubscribe", "room": "lobby"}),
    ("presence_subscribe_non_ascii", {"type": "PresenceSubscribe", "room": "salle-été"}),
    ("presence_unsubscribe", {"type": "PresenceUnsubscribe", "room": "lobby"}),
    ("presence_unsubscribe_empty_room", {"type": "PresenceUnsubscribe", "room": ""}),
    ("presence_state_empty", state("lobby")),
    ("presence_state_several", state(
        "lobby",
        entry("alice", meta(1, j('{"d":"web"}')), meta(4, j('{"d":"ios"}'))),
        entry("bob", meta(2, j("{}"))),
        entry("zoé", meta(251, j("true")), meta(65536, j("null")), meta(3, j("0"))),
    )),
    ("presence_state_20_metas", state("r", entry("k", *[meta(i, "") for i in range(1, 21)]))),
    ("presence_diff_join", diff("lobby", [entry("carol", meta(5, j('{"d":"web"}')))], [])),
    ("presence_diff_leave", diff("lobby", [], [entry("bob", meta(2, j("{}")))])),
    ("presence_diff_update", diff("lobby", [entry("alice", meta(6, j('{"d":"away"}')))],
                                  [entry("alice", meta(1, j('{"d":"web"}')))])),
    ("presence_diff_empty", diff("", [], [])),
    ("presence_end_unsubscribed", {"type": "PresenceEnd", "room": "lobby", "message": "unsubscribed"}),
    ("presence_end_not_member", {"type": "PresenceEnd", "room": "vip", "message": "not a member"}),
    ("presence_state_part", {"type": "PresenceStatePart", "room": "lobby", "entries": [
        entry("alice", meta(1, j('{"d":"web"}'))),
        entry("bob", meta(2, j("{}"))),
    ]}),
    ("presence_state_part_empty", {"type": "PresenceStatePart", "room": "lobby", "entries": []}),
    ("presence_count", {"type": "PresenceCount", "room": "stadium", "keys": 20000, "connections": 31250}),
    ("presence_count_empty", {"type": "PresenceCount", "room": "", "keys": 0, "connections": 0}),
    # Heartbeat
    ("ping_0", {"type": "Ping", "id": 0}),
    ("ping_1", {"type": "Ping", "id": 1}),
    ("ping_251", {"type": "Ping", "id": 251}),
    ("ping_4294967296", {"type": "Ping", "id": 4294967296}),
    ("pong_0", {"type": "Pong", "id": 0}),
    ("pong_65535", {"type": "Pong", "id": 65535}),
    # Disconnect
    ("disconnect_client", disconnect(1, "bye")),
    ("disconnect_server", disconnect(2, "")),
    ("disconnect_ping_timeout", disconnect(3, "ping timeout")),
    ("disconnect_slow_consumer", disconnect(4, "slow consumer")),
    ("disconnect_protocol_error", disconnect(5, "unexpected frame")),
    ("disconnect_frame_too_large", disconnect(6, "frame too large")),
    ("disconnect_server_shutdown", disconnect(7, "")),
    ("disconnect_handshake_timeout", disconnect(9, "handshake timeout")),
    ("disconnect_other_300", disconnect(300, "über")),
    ("disconnect_other_65535", disconnect(65535, "")),
]


def H(*parts):
    """Concatenates hex strings and bytes into bytes; spaces in hex are ignored."""
    out = b""
    for part in parts:
        out += bytes.fromhex(part) if isinstance(part, str) else part
    return out


EV_CHAT = encode(event("chat", 5, j('"hi"')))
# hello_resume_channels without its last offset, {channel 3, offset 300} = 03 fb 2c 01, and
# the classes byte after it.
HELLO_ONE_OF_TWO_OFFSETS = encode(HELLO_RESUME_CHANNELS)[:-5]
assert encode(HELLO_RESUME_CHANNELS)[-5:] == H("03 fb 2c 01 01")

MALFORMED = [
    # Truncation
    ("empty", H(""), "Truncated"),
    ("tag_only_hello", H("01"), "Truncated"),
    ("tag_only_ping", H("30"), "Truncated"),
    ("tag_only_disconnect", H("3f"), "Truncated"),
    ("hello_client_name_5_declared_2_present", H("01 01 00 05 71 75"), "Truncated"),
    ("hello_missing_max_frame_size", H("01 01 00 00 00"), "Truncated"),
    ("hello_max_frame_size_fc_cut", H("01 01 00 00 00 fc 00 00 10"), "Truncated"),
    ("hello_pre_max_frame_size_layout",
     H("01 01 00 0a 71 75 69 63 6b 65 74 2d 72 73 05 30 2e 31 2e 30 00 00"), "Truncated"),
    ("hello_missing_resume_tag", H("01 01 00 00 00 fc 00 00 10 00 00"), "Truncated"),
    ("hello_resume_missing_offset", H("01 01 00 00 00 fc 00 00 10 00 00 01 00"), "Truncated"),
    ("welcome_sid_10_of_16_bytes", H("02", SID[:20]), "Truncated"),
    ("welcome_missing_max_frame_size", H("02", SID, "fb a8 61 fb 20 4e"), "Truncated"),
    ("welcome_max_frame_size_varint_cut", H("02", SID, "fb a8 61 fb 20 4e fc 00 00"), "Truncated"),
    ("welcome_pre_session_layout", H("02", SID, "fb a8 61 fb 20 4e fc 00 00 10 00"), "Truncated"),
    ("welcome_missing_offset", H("02", SID, "fb a8 61 fb 20 4e fc 00 00 10 00 00 01"), "Truncated"),
    ("event_name_5_declared_2_present", H("10 05 63 68"), "Truncated"),
    ("event_missing_data", H("10 04 63 68 61 74 00"), "Truncated"),
    ("event_data_100_declared_3_present", H("10 01 65 00 64 01 02 03"), "Truncated"),
    ("event_data_256_declared_26_present_8x_body", H("10 01 65 00 fb 00 01", "ee" * 26),
     "Truncated"),
    ("event_ack_fd_cut", H("10 01 65 01 fd 00 00"), "Truncated"),
    ("ack_missing_data", H("11 2a"), "Truncated"),
    ("ping_fb_cut", H("30 fb 2c"), "Truncated"),
    ("disconnect_reason_fb_cut", H("3f fb"), "Truncated"),
    ("presence_state_meta_missing_data", H("22 01 72 01 01 6b 01 07"), "Truncated"),
    ("presence_state_count_2p40_tiny_frame", H("22 01 72 fd 00 00 00 00 00 01 00 00"), "Truncated"),
    ("presence_diff_missing_leaves", H("23 01 72 00"), "Truncated"),
    ("hello_channels_truncated_offsets", HELLO_ONE_OF_TWO_OFFSETS, "Truncated"),
    # A byte after `resume` starts a ChannelOffer (max_channels 0), whose offsets count is
    # missing. (Before channels this input was the TrailingBytes vector hello_trailing_00.)
    ("hello_channels_cut_after_max_channels", H(encode(hello()), "00"), "Truncated"),
    # A ChannelOffer without its classes byte.
    ("hello_channels_cut_before_classes", encode(HELLO_CHANNELS)[:-1], "Truncated"),
    # Sequenced "pos", key "", seq 1, and no data.
    ("sequenced_missing_data", H("13 03 70 6f 73 00 01"), "Truncated"),
    # Unknown tags
    ("unknown_tag_00", H("00"), "UnknownTag"),
    ("unknown_tag_04", H("04 00"), "UnknownTag"),
    ("unknown_tag_14", H("14 01 00"), "UnknownTag"),
    ("unknown_tag_27", H("27 00 00"), "UnknownTag"),
    ("unknown_tag_32", H("32 00"), "UnknownTag"),
    ("unknown_tag_3e", H("3e 00"), "UnknownTag"),
    ("unknown_tag_ff", H("ff"), "UnknownTag"),
    # Trailing bytes
    ("ping_trailing_00", H("30 05 00"), "TrailingBytes"),
    ("pong_trailing_2", H("31 00 00 00"), "TrailingBytes"),
    ("event_trailing_ff", H(EV_CHAT, "ff"), "TrailingBytes"),
    ("hello_channels_trailing_byte", H(encode(HELLO_CHANNELS), "00"), "TrailingBytes"),
    ("presence_diff_trailing", H("23 01 72 00 00 00"), "TrailingBytes"),
    ("hello_channels_classes_02", H(encode(HELLO_CHANNELS)[:-1], "02"), "InvalidValue"),
    # Sequenced "pos", key "", seq 5 as fb 05 00, no data.
    ("sequenced_seq_non_canonical", H("13 03 70 6f 73 00 fb 05 00 00"), "NonCanonical"),
    # Invalid UTF-8
    ("event_name_c3_28", H("10 02 c3 28 00 00"), "InvalidUtf8"),
    ("event_name_lone_continuation", H("10 01 80 00 00"), "InvalidUtf8"),
    ("event_name_cut_multibyte", H("10 01 c3 00 00"), "InvalidUtf8"),
    ("event_name_overlong_slash", H("10 02 c0 af 00 00"), "InvalidUtf8"),
    ("event_name_surrogate", H("10 03 ed a0 80 00 00"), "InvalidUtf8"),
    ("event_name_above_u10ffff", H("10 04 f4 90 80 80 00 00"), "InvalidUtf8"),
    ("presence_subscribe_room_ff", H("20 03 61 ff 62"), "InvalidUtf8"),
    ("hello_client_name_fe", H("01 01 00 01 fe 00 fc 00 00 10 00 00 00"), "InvalidUtf8"),
    ("ack_error_message_invalid", H("12 07 02 e2 82"), "InvalidUtf8"),
    ("presence_state_key_invalid", H("22 01 72 01 01 c1 00"), "InvalidUtf8"),
    # Non-canonical integers inside bodies
    ("event_ack_5_as_fb", H("10 01 65 01 fb 05 00 00"), "NonCanonical"),
    ("event_name_len_as_fb", H("10 fb 01 00 65 00 00"), "NonCanonical"),
    ("event_data_len_0_as_fb", H("10 01 65 00 fb 00 00"), "NonCanonical"),
    ("ping_250_as_fb", H("30 fb fa 00"), "NonCanonical"),
    ("ping_65535_as_fc", H("30 fc ff ff 00 00"), "NonCanonical"),
    ("ping_u32_max_as_fd", H("30 fd ff ff ff ff 00 00 00 00"), "NonCanonical"),
    ("hello_version_1_as_fb", H("01 fb 01 00 00 00 00 fc 00 00 10 00 00 00"), "NonCanonical"),
    ("hello_max_frame_size_250_as_fb", H("01 01 00 00 00 fb fa 00 00 00"), "NonCanonical"),
    ("hello_max_frame_size_65535_as_fc", H("01 01 00 00 00 fc ff ff 00 00 00 00"), "NonCanonical"),
    ("welcome_recovered_2", H("02", SID, "fb a8 61 fb 20 4e fc 00 00 10 00 00 02 00"),
     "InvalidValue"),
    ("welcome_offset_1000_as_fc", H("02", SID, "fb a8 61 fb 20 4e fc 00 00 10 00 00 01 fc e8 03 00 00"),
     "NonCanonical"),
    ("welcome_interval_25000_as_fc", H("02", SID, "fc a8 61 00 00 fb 20 4e fc 00 00 10 00 00 00 00"),
     "NonCanonical"),
    ("disconnect_reason_3_as_fb", H("3f fb 03 00 00"), "NonCanonical"),
    ("presence_state_count_0_as_fb", H("22 01 72 fb 00 00"), "NonCanonical"),
    ("presence_meta_id_as_fc", H("22 01 72 01 01 6b 01 fc 07 00 00 00 00"), "NonCanonical"),
    # Values a field's type does not allow
    ("event_option_tag_2", H("10 01 65 02 00"), "InvalidValue"),
    ("hello_resume_option_tag_ff", H("01 01 00 00 00 fc 00 00 10 00 00 ff"), "InvalidValue"),
    ("hello_codec_7", H("01 01 07 00 00 fc 00 00 10 00 00 00"), "InvalidValue"),
    ("hello_codec_2", H("01 01 02 00 00 fc 00 00 10 00 00 00"), "InvalidValue"),
    ("hello_codec_fd_fuzz_input", H("01 00 fd 00 b9 b9 b9 b9 b9 b9 b9 b9 b9"), "InvalidValue"),
    ("hello_version_u16_given_fc", H("01 fc 01 00 01 00 00 00 00 fc 00 00 10 00 00 00"),
     "InvalidValue"),
    ("hello_max_frame_size_u32_given_fd", H("01 01 00 00 00 fd 00 00 10 00 00 00 00 00 00 00"),
     "InvalidValue"),
    ("disconnect_reason_u16_given_fd", H("3f fd 03 00 00 00 00 00 00 00 00"), "InvalidValue"),
    ("welcome_channels_u16_too_wide", H(encode(WELCOME_RECOVERED), "fc 00 00 01 00"),
     "InvalidValue"),
    ("welcome_interval_u32_given_fd", H("02", SID, "fd a8 61 00 00 00 00 00 00 fb 20 4e fc 00 00 10 00 00 00 00"),
     "InvalidValue"),
    ("ping_u64_given_fe", H("30 fe", "00" * 16), "InvalidValue"),
    ("ping_varint_ff", H("30 ff 00"), "InvalidValue"),
    ("event_name_len_fe", H("10 fe", "00" * 16), "InvalidValue"),
    # Lengths no conforming decoder may honour
    ("event_name_5e9_fd_15_bytes", H("10 fd", (5_000_000_000).to_bytes(8, "little"), b"hello"),
     "LimitExceeded"),
    ("event_name_100gb", H("10 fd", (100_000_000_000).to_bytes(8, "little"), "00 00"),
     "LimitExceeded"),
    ("event_name_u64_max", H("10 fd ff ff ff ff ff ff ff ff"), "LimitExceeded"),
    ("event_name_1000_declared_2_present", H("10 fb e8 03 61 62"), "LimitExceeded"),
    ("event_name_321_declared_2_present_64x_body", H("10 fb 41 01 61 62"), "LimitExceeded"),
    ("event_data_2049_declared_26_present_64x_body", H("10 01 65 00 fb 01 08", "ee" * 26),
     "LimitExceeded"),
    ("event_data_1gib", H("10 01 65 00 fc 00 00 00 40 00"), "LimitExceeded"),
    ("hello_auth_100gb", H("01 01 01 00 00 fc 00 00 10 00 fd",
                           (100_000_000_000).to_bytes(8, "little")),
     "LimitExceeded"),
    ("reject_message_4gib", H("03 01 fd 00 00 00 00 01 00 00 00"), "LimitExceeded"),
    ("presence_meta_data_16mib_plus_1", H("22 01 72 01 01 6b 01 01 fc 01 00 00 01"), "LimitExceeded"),
    ("presence_meta_data_64mib_plus_1", H("22 01 72 01 01 6b 01 01 fc 01 00 00 04"), "LimitExceeded"),
]

EV_SMALL = encode(event("chat", 1, j('"hi"')))
PING_7 = encode({"type": "Ping", "id": 7})
EV_251 = encode(event("x", None, "00" * 246))
EV_300 = encode(event("x", None, "5a" * 293))
EV_250 = encode(event("x", None, "11" * 245))
assert (len(EV_251), len(EV_300), len(EV_250)) == (251, 300, 250)

MIB = 1 << 20
FRAMING = [
    ("empty_input", H(""), MIB, "NeedMore"),
    ("one_byte_prefix", prefixed(EV_SMALL), MIB, {"frames": [EV_SMALL.hex()], "rest": ""}),
    ("one_byte_prefix_250", prefixed(EV_250), MIB, {"frames": [EV_250.hex()], "rest": ""}),
    ("fb_prefix_251", prefixed(EV_251), MIB, {"frames": [EV_251.hex()], "rest": ""}),
    ("fb_prefix_300", prefixed(EV_300), MIB, {"frames": [EV_300.hex()], "rest": ""}),
    ("zero_length_frame", H("00"), MIB, {"frames": [""], "rest": ""}),
    ("two_frames_back_to_back", prefixed(EV_SMALL) + prefixed(PING_7), MIB,
     {"frames": [EV_SMALL.hex(), PING_7.hex()], "rest": ""}),
    ("second_frame_incomplete", prefixed(EV_SMALL) + prefixed(PING_7)[:2], MIB,
     {"frames": [EV_SMALL.hex()], "rest": prefixed(PING_7)[:2].hex()}),
    ("second_prefix_incomplete", prefixed(PING_7) + H("fb 2c"), MIB,
     {"frames": [PING_7.hex()], "rest": "fb2c"}),
    ("body_incomplete", prefixed(EV_SMALL)[:-1], MIB, "NeedMore"),
    ("fb_prefix_incomplete", H("fb 2c"), MIB, "NeedMore"),
    ("fb_prefix_only", H("fb 2c 01"), MIB, "NeedMore"),
    ("fc_prefix_65536_only", H("fc 00 00 01 00"), MIB, "NeedMore"),
    ("fc_prefix_65536_max_65535", H("fc 00 00 01 00"), 65535, {"error": "FrameTooLarge"}),
    ("fc_prefix_incomplete", H("fc 00 00 01"), MIB, "NeedMore"),
    ("fc_prefix_3gib", H("fc 00 00 00 c0"), MIB, {"error": "FrameTooLarge"}),
    ("fd_prefix_2p33", H("fd 00 00 00 00 02 00 00 00"), MIB, {"error": "FrameTooLarge"}),
    ("fd_prefix_incomplete", H("fd 00 00 00 00 02 00"), MIB, "NeedMore"),
    ("length_equal_to_max", prefixed(PING_7) , 2, {"frames": [PING_7.hex()], "rest": ""}),
    ("length_one_above_max", H("03"), 2, {"error": "FrameTooLarge"}),
    ("max_1mib_exact_prefix_only", H("fc 00 00 10 00"), MIB, "NeedMore"),
    ("max_1mib_plus_1", H("fc 01 00 10 00"), MIB, {"error": "FrameTooLarge"}),
    ("cap_16mib_exact", H("fc 00 00 00 01"), 128 * MIB, "NeedMore"),
    ("cap_16mib_plus_1", H("fc 01 00 00 01"), 128 * MIB, {"error": "FrameTooLarge"}),
    ("cap_16mib_max_u32", H("fc 01 00 00 01"), 4294967295, {"error": "FrameTooLarge"}),
    ("former_cap_64mib", H("fc 00 00 00 04"), 128 * MIB, {"error": "FrameTooLarge"}),
    ("non_canonical_fb_5", H("fb 05 00"), MIB, {"error": "NonCanonical"}),
    ("non_canonical_fb_250", H("fb fa 00", "00" * 250), MIB, {"error": "NonCanonical"}),
    ("non_canonical_fc_65535", H("fc ff ff 00 00"), MIB, {"error": "NonCanonical"}),
    ("non_canonical_fd_1", H("fd 01 00 00 00 00 00 00 00"), MIB, {"error": "NonCanonical"}),
    ("prefix_byte_fe", H("fe 00 00"), MIB, {"error": "InvalidValue"}),
    ("prefix_byte_ff", H("ff"), MIB, {"error": "InvalidValue"}),
]

# --- Payloads (section 7) ---------------------------------------------------------------------

BINARY_MARKER = b"\x00"


def encode_binary(codec, data):
    """A byte string as a payload of `codec`."""
    if codec == "json":
        return BINARY_MARKER + data
    return enc("bytes", data.hex())


def decode_payload(codec, data):
    """A json payload as {"binary": hex} or {"json": value}; a bincode byte sequence as
    {"binary": hex}."""
    if codec == "json":
        if data[:1] == BINARY_MARKER:
            return {"binary": data[1:].hex()}
        return {"json": json.loads(data.decode("utf-8"))}
    r = Reader(data)
    value = dec("bytes", r)
    if r.pos != len(data):
        raise DecodeError("TrailingBytes")
    return {"binary": value}


# (name, codec, value, payload bytes). Binary values MUST encode to the bytes and the bytes MUST
# decode to the value; a json value need only decode (JSON text has many spellings).
PAYLOADS = [
    ("json_binary_empty", "json", {"binary": ""}, b"\x00"),
    ("json_binary_three", "json", {"binary": "010203"}, b"\x00\x01\x02\x03"),
    ("json_binary_starting_with_a_brace", "json", {"binary": "7b7d"}, b"\x00{}"),
    ("json_binary_of_zeros", "json", {"binary": "0000"}, b"\x00\x00\x00"),
    ("json_text_object", "json", {"json": {"a": [1, 2]}}, b'{"a":[1,2]}'),
    ("json_text_leading_whitespace", "json", {"json": 1}, b" 1"),
    ("json_text_null", "json", {"json": None}, b"null"),
    ("bincode_binary_empty", "bincode", {"binary": ""}, b"\x00"),
    ("bincode_binary_three", "bincode", {"binary": "010203"}, b"\x03\x01\x02\x03"),
    ("bincode_binary_250", "bincode", {"binary": "ab" * 250}, b"\xfa" + b"\xab" * 250),
    ("bincode_binary_251", "bincode", {"binary": "ab" * 251}, b"\xfb\xfb\x00" + b"\xab" * 251),
]


# --- Generation -------------------------------------------------------------------------------


def main():
    names = set()

    frames = []
    seen_types = set()
    for name, frame in FRAMES:
        assert name not in names, name
        names.add(name)
        data = encode(frame)
        assert decode(data) == frame, name
        seen_types.add(frame["type"])
        frames.append({"name": name, "frame": frame, "hex": data.hex()})
    assert seen_types == set(TAGS), set(TAGS) - seen_types

    malformed = []
    for name, data, error in MALFORMED:
        assert name not in names, name
        names.add(name)
        try:
            got = decode(data)
        except DecodeError as err:
            got = err.kind
        assert got == error, (name, got, error)
        malformed.append({"name": name, "hex": data.hex(), "error": error})

    framing = []
    for name, data, max_size, result in FRAMING:
        assert name not in names, name
        names.add(name)
        got = split(data, max_size)
        assert got == result, (name, got, result)
        framing.append({"name": name, "hex": data.hex(), "max_frame_size": max_size,
                        "result": result})

    payloads = []
    for name, codec, value, data in PAYLOADS:
        assert name not in names, name
        names.add(name)
        assert decode_payload(codec, data) == value, name
        if "binary" in value:
            assert encode_binary(codec, bytes.fromhex(value["binary"])) == data, name
        payloads.append({"name": name, "codec": codec, "value": value, "hex": data.hex()})

    for file, vectors in (("frames.json", frames), ("malformed.json", malformed),
                          ("framing.json", framing), ("payloads.json", payloads)):
        with open(os.path.join(HERE, file), "w", encoding="utf-8") as out:
            json.dump(vectors, out, indent=2, ensure_ascii=False)
            out.write("\n")
        print(f"{file}: {len(vectors)} vectors", file=sys.stderr)


if __name__ == "__main__":
    main()
