"""Push-style streaming primitives for image archives: a tar header parser, decompressors with
bounded output, and a hashing worker.

Everything here is fed bytes (`write`/`feed`) instead of pulling them, so one pipeline serves a
file, a directory blob and a non-seekable `docker save` stream, and tars nest (a layer tar inside
the outer archive tar) without buffering a member. No member data is ever held, except the few
small ones a caller asks for (JSON documents, pax headers).
"""
from __future__ import annotations

import hashlib
import queue
import struct
import threading
import zlib
from typing import Any, Callable, Optional, Union

try:
    # zlib-ng inflates gzip layers 2-3x faster than zlib, with zlib's API and format (README,
    # Performance); a dependency where PyPI has its wheels (pyproject.toml), zlib elsewhere.
    from zlib_ng import zlib_ng as inflate_lib
except ImportError:  # pragma: no cover - platforms without a zlib-ng wheel
    inflate_lib = zlib  # type: ignore[no-redef]

Bytes = Union[bytes, memoryview]
Out = Callable[[bytes], None]

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_STEP = 1 << 20  # most bytes one decompressor call may produce: caps memory for any ratio

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
XZ_MAGIC = b"\xfd7zXZ\x00"
BZIP2_MAGIC = b"BZh"
MAGIC_BYTES = 6  # enough to tell every supported compression apart

# Typeflags of the tar formats in the wild (POSIX ustar, pax, GNU).
PAX_HEADER, PAX_GLOBAL, GNU_LONGNAME, GNU_LONGLINK, GNU_SPARSE = ord("x"), ord("g"), ord("L"), ord("K"), ord("S")
REGULAR, AREGULAR, HARDLINK, SYMLINK, DIRECTORY = ord("0"), 0, ord("1"), ord("2"), ord("5")
# Go's archive/tar (Docker's reader) reads no data after these, whatever the size field says.
_HEADER_ONLY = frozenset(b"123456")


class FormatError(ValueError):
    """Malformed or hostile input; archive.py turns it into a one-line ArchiveError."""


def show(name: str, limit: int = 120) -> str:
    """A member name fit for a one-line message: control characters escaped, long names cut."""
    text = name if name.isprintable() else name.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compression_of(head: bytes) -> str:
    """Compression by magic bytes (media types lie or are absent in docker-save archives)."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(BZIP2_MAGIC) and len(head) > 3 and head[3:4].isdigit():
        return "bzip2"
    return "none"


def looks_like_tar(head: bytes) -> bool:
    """True when `head` starts with a tar header (valid checksum) or the end-of-archive block."""
    if len(head) < BLOCK:
        return False
    block = head[:BLOCK]
    return block == _ZERO_BLOCK or _checksum_ok(block)


# -- decompression --------------------------------------------------------------------------

class Decoder:
    """Decompresses pushed bytes; hands output to `out` in pieces of at most about 1 MiB."""

    def write(self, data: Bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Raise FormatError when the compressed stream stopped short."""


class _Gzip(Decoder):
    """gzip, including several concatenated members (pigz, some registries); trailing zero
    padding is tolerated, other trailing bytes are not."""

    def __init__(self, out: Out) -> None:
        self._out = out
        self._d: Optional[Any] = inflate_lib.decompressobj(31)
        self._started = False

    def write(self, data: Bytes) -> None:
        buf: Bytes = data
        while buf:
            if self._d is None:  # between members
                if not bytes(buf).strip(b"\0"):
                    return
                self._d = inflate_lib.decompressobj(31)
            try:
                chunk = self._d.decompress(buf, _STEP)
            except inflate_lib.error as exc:
                raise FormatError(f"corrupt gzip data ({exc})") from None
            self._started = True
            if chunk:
                self._out(chunk)
            if self._d.eof:
                buf = self._d.unused_data
                self._d = None
            else:
                buf = self._d.unconsumed_tail

    def close(self) -> None:
        if self._d is not None and self._started:
            try:
                tail = self._d.flush()
            except inflate_lib.error as exc:
                raise FormatError(f"corrupt gzip data ({exc})") from None
            if tail:
                self._out(tail)
            if not self._d.eof:
                raise FormatError("gzip stream is truncated")


class _Zstd(Decoder):
    """zstd through the stream writer: unlike decompressobj it emits output in bounded pieces,
    so a frame that inflates to terabytes never sits in memory. The window is capped at the
    zstd CLI's default (128 MiB) so a hostile frame header cannot demand gigabytes."""

    def __init__(self, out: Out) -> None:
        import zstandard  # lazily: only zstd layers pay its import

        self._error: Any = zstandard.ZstdError
        sink = _Forward(out)
        self._writer: Any = zstandard.ZstdDecompressor(max_window_size=1 << 27).stream_writer(
            sink, write_size=_STEP, write_return_read=True)  # type: ignore[arg-type]

    def write(self, data: Bytes) -> None:
        try:
            self._writer.write(data)
        except self._error as exc:
            raise FormatError(f"corrupt zstd data ({exc})") from None

    def close(self) -> None:
        try:
            self._writer.flush()
        except self._error as exc:
            raise FormatError(f"corrupt zstd data ({exc})") from None


class _Forward:
    """The file-like target zstandard's stream writer wants."""

    def __init__(self, out: Out) -> None:
        self._out = out

    def write(self, data: Any) -> int:
        # zstandard may hand out a view of its own buffer: copy, the hasher reads it later
        self._out(data if isinstance(data, bytes) else bytes(data))
        return len(data)


class _Lzma(Decoder):
    """xz and bzip2 (accepted by `docker load`); both stdlib decompressors take max_length."""

    def __init__(self, out: Out, kind: str) -> None:
        import bz2
        import lzma

        self._out = out
        self._kind = kind
        self._make = (lambda: lzma.LZMADecompressor()) if kind == "xz" else (lambda: bz2.BZ2Decompressor())
        self._errors = (lzma.LZMAError, OSError, EOFError, ValueError)
        self._d: Any = self._make()

    def write(self, data: Bytes) -> None:
        buf = bytes(data)
        try:
            while True:
                if self._d.eof:  # another stream concatenated, or padding
                    rest = self._d.unused_data + buf
                    if not rest.strip(b"\0"):
                        return
                    self._d = self._make()
                    buf = rest
                chunk = self._d.decompress(buf, _STEP)
                buf = b""
                if chunk:
                    self._out(chunk)
                if not self._d.eof and self._d.needs_input:
                    return
        except self._errors as exc:
            raise FormatError(f"corrupt {self._kind} data ({exc})") from None

    def close(self) -> None:
        if not self._d.eof:
            raise FormatError(f"{self._kind} stream is truncated")


def decoder(kind: str, out: Out) -> Optional[Decoder]:
    """A decoder for a compression named by compression_of(); None for uncompressed data."""
    if kind == "gzip":
        return _Gzip(out)
    if kind == "zstd":
        return _Zstd(out)
    if kind in ("xz", "bzip2"):
        return _Lzma(out, kind)
    return None


# -- hashing --------------------------------------------------------------------------------

class HashPool:
    """Runs every hash update on worker threads, each hasher's updates in submission order.

    hashlib releases the GIL on large buffers, so SHA-256 of the layer bytes overlaps with the
    header parsing and decompression on the main thread instead of adding to it. With `lanes=2`
    a layer's two digests (the blob's, the uncompressed diff_id) are computed on two threads at
    once: each hasher keeps to the lane it was first given. Each lane's queue is bounded, so
    pending chunks hold at most a few MiB. Digests may be read only after drain().
    """

    def __init__(self, threaded: bool = True, lanes: int = 1) -> None:
        self._queues: "list[queue.Queue[Any]]" = []
        self._lane_of: "dict[int, queue.Queue[Any]]" = {}  # id(hasher) -> its lane
        if threaded:
            for _ in range(lanes):
                lane: "queue.Queue[Any]" = queue.Queue(maxsize=16)
                threading.Thread(target=self._work, args=(lane,), name="sm-lint-hash", daemon=True).start()
                self._queues.append(lane)

    @staticmethod
    def _work(lane: "queue.Queue[Any]") -> None:
        get, done = lane.get, lane.task_done
        while True:
            item = get()
            if item is None:
                done()
                return
            item[0].update(item[1])
            done()

    def update(self, hasher: Any, data: Bytes) -> None:
        if not self._queues:
            hasher.update(data)
            return
        lane = self._lane_of.get(id(hasher))
        if lane is None:
            # a live hasher keeps its id while items for it are queued, so its updates stay in order
            lane = self._lane_of[id(hasher)] = self._queues[len(self._lane_of) % len(self._queues)]
        lane.put((hasher, data))

    def drain(self) -> None:
        for lane in self._queues:
            lane.join()
        self._lane_of.clear()

    def close(self) -> None:
        for lane in self._queues:
            lane.put(None)
        self._queues = []


def new_hash(algorithm: str = "sha256") -> Any:
    return hashlib.new(algorithm)


# -- tar ------------------------------------------------------------------------------------

Sink = Any  # an object with write(Bytes) and close(), or None to skip a member's data
OnEntry = Callable[[str, int, int, str], Sink]  # (name, typeflag, size, link) -> sink


class _Collect:
    """Collects a pax / GNU long-name member's data, bounded."""

    def __init__(self, limit: int, what: str) -> None:
        self.data = bytearray()
        self._limit = limit
        self._what = what

    def write(self, data: Bytes) -> None:
        self.data += data
        if len(self.data) > self._limit:
            raise FormatError(f"{self._what} larger than {self._limit} bytes")

    def close(self) -> None:
        pass


class TarParser:
    """Incremental tar reader: feed() it bytes in any slicing; it calls on_entry(name, typeflag,
    size, link) for each member and passes that member's data to the sink it returns.

    Reads POSIX ustar, pax (path, linkpath, size) and GNU (long names, base-256 sizes, sparse),
    and follows Go's archive/tar, which is what Docker reads layers with, where tools differ:
    header-only types (links, directories, devices) carry no data whatever their size field, a
    lone zero block followed by a header is corrupt, and global pax headers are not applied.
    """

    def __init__(self, on_entry: OnEntry, max_meta: int = 1 << 20, what: str = "tar") -> None:
        self._on_entry = on_entry
        self._max_meta = max_meta
        self._what = what
        self._partial = bytearray()  # a header split across feeds
        self._skip = 0  # bytes to drop: data nobody wants, and padding
        self._left = 0  # data bytes still to hand to the sink
        self._pad = 0  # padding after those
        self._sink: Sink = None
        self._meta: Optional[int] = None  # typeflag of the pax/GNU member being collected
        self._pax: "dict[str, str]" = {}
        self._long_name: Optional[bytes] = None
        self._long_link: Optional[bytes] = None
        self._zeros = 0
        self._headers = 0
        self.last = ""  # name of the last member, for messages
        self.header = b""  # the header block of the member on_entry is called for (member_mode)
        self.ended = False

    def feed(self, data: Bytes) -> None:
        buf = data if isinstance(data, bytes) else bytes(data)
        size = len(buf)
        pos = 0
        while pos < size:
            if self._skip or self._left or self._partial or self.ended:
                pos = self._between(buf, pos, size)
            elif size - pos < BLOCK:
                self._partial += buf[pos:]
                return
            elif self._pax or self._long_name is not None or self._long_link is not None:
                pos = self._header(buf, pos, size)
            else:
                pos = self._scan(buf, pos, size)

    def _scan(self, buf: bytes, pos: int, size: int) -> int:
        """The hot loop: plain ustar/GNU headers whose data nobody wants, one after another in
        one frame. Anything unusual (extended headers, zero blocks, bad checksums, base-256
        sizes, sparse files) goes to _header, which handles every case."""
        unpack = _FIELDS.unpack_from
        adler32 = zlib.adler32
        on_entry = self._on_entry
        while size - pos >= BLOCK:
            end = pos + BLOCK
            block = buf[pos:end]
            name, size_field, check, typeflag, link, magic, prefix = unpack(block)
            if not block[0] or typeflag in _SLOW_TYPES or size_field[0] >= 0x80 or self._zeros:
                return self._header(buf, pos, size)
            try:
                stored = int(check.strip(b" \0"), 8)
                length = int(size_field.strip(b" \0") or b"0", 8)
            except ValueError:
                return self._header(buf, pos, size)
            if ((adler32(block) & 0xFFFF) - 1 - sum(check) + 256 - stored) % 65521:
                return self._header(buf, pos, size)
            self._headers += 1
            name = name.rstrip(b"\0")
            if 0 in name:
                name = name[:name.find(0)]
            if prefix[0] and magic == b"ustar\0":
                name = (prefix[:prefix.find(0)] if 0 in prefix else prefix) + b"/" + name
            try:
                text = name.decode()
                target = (link[:link.find(0)] if 0 in link else link).decode() if link[0] else ""
            except UnicodeDecodeError:
                text = _decode(name)
                target = _decode(link[:link.find(0)] if 0 in link else link) if link[0] else ""
            self.last = text
            self.header = block
            sink = on_entry(text, typeflag, length, target)
            if typeflag in _HEADER_ONLY:
                length = 0
            if sink is not None:
                self._data(sink, length)
                return end
            pos = end + length + (-length % BLOCK)
            if pos > size:
                self._skip = pos - size
                return size
        return pos

    def _between(self, buf: bytes, pos: int, size: int) -> int:
        """One step outside the header fast path: skip, hand data to a sink, or finish a split header."""
        if self._skip:
            take = min(self._skip, size - pos)
            self._skip -= take
            return pos + take
        if self._left:
            take = min(self._left, size - pos)
            self._sink.write(memoryview(buf)[pos:pos + take])
            self._left -= take
            if not self._left:
                self._skip, self._pad = self._pad, 0
                self._finish_member()
            return pos + take
        if self.ended:
            return size  # after the end-of-archive marker: padding, or bytes nobody reads
        need = BLOCK - len(self._partial)
        self._partial += buf[pos:pos + need]
        if len(self._partial) == BLOCK:
            block = bytes(self._partial)
            self._partial.clear()
            self._header(block, 0, BLOCK)
        return min(pos + need, size)

    def member_mode(self) -> int:
        """The permission bits of the member on_entry is called for, from its header's mode field
        (read only when asked: most members' modes are never needed); -1 when unreadable."""
        try:
            return int(self.header[100:108].strip(b" \0") or b"0", 8) & 0o7777
        except ValueError:
            return -1

    def close(self) -> None:
        """Raise FormatError when the stream stopped inside a member or a header."""
        if self._left or self._skip or self._meta is not None:
            raise FormatError(f"{self._what} is truncated (inside {show(self.last)!r})")
        if self._partial and bytes(self._partial).strip(b"\0"):
            raise FormatError(f"{self._what} is truncated (inside a header after {show(self.last)!r})")

    def _finish_member(self) -> None:
        sink, self._sink = self._sink, None
        if self._meta is not None:
            self._take_meta(self._meta, bytes(sink.data))
            self._meta = None
        else:
            sink.close()

    def _header(self, buf: bytes, pos: int, size: int) -> int:
        """Parse the header at buf[pos:pos+512]; return where reading goes on (past the member's
        data too, when nobody wants it and it is all in buf). The hot path: one call a member."""
        end = pos + BLOCK
        block = buf[pos:end]
        if not block[0] and block == _ZERO_BLOCK:
            self._zeros += 1
            self.ended = self._zeros >= 2
            return end
        name, size_field, check, typeflag, link, magic, prefix = _FIELDS.unpack_from(block)
        try:
            stored = int(check.strip(b" \0"), 8)
        except ValueError:
            stored = -1
        # adler32's low half is 1 + sum(bytes) mod 65521: the byte sum in C; the field counts as spaces
        if self._zeros or stored < 0 or ((zlib.adler32(block) & 0xFFFF) - 1 - sum(check) + 256 - stored) % 65521:
            self._bad_header(block, stored)
        try:
            length = int(size_field.strip(b" \0") or b"0", 8) if size_field[0] < 0x80 else _base256(size_field)
        except ValueError:
            raise FormatError(f"corrupt {self._what}: bad size field after {show(self.last)!r}") from None
        self._headers += 1
        if typeflag in _META_TYPES:
            return self._meta_member(typeflag, length, buf, end, size)
        name = name[:name.find(0)] if 0 in name else name
        if prefix[0] and magic == b"ustar\0":  # POSIX: the prefix field holds a long name's head
            name = (prefix[:prefix.find(0)] if 0 in prefix else prefix) + b"/" + name
        if link[0]:
            link = link[:link.find(0)] if 0 in link else link
        if self._pax or self._long_name is not None or self._long_link is not None or typeflag == GNU_SPARSE:
            text, target, length, real = self._extended(block, typeflag, name, link, length)
        else:
            try:
                text = name.decode()
                target = link.decode() if link[0] else ""
            except UnicodeDecodeError:
                text, target = _decode(name), _decode(link) if link[0] else ""
            real = length
        if typeflag in _HEADER_ONLY:
            length = 0
        self.last = text
        self.header = block
        sink = self._on_entry(text, typeflag, real, target)
        if sink is None:
            after = end + length + (-length % BLOCK)
            if after <= size:
                return after
            self._skip = after - size
            return size
        self._data(sink, length)
        return end

    def _bad_header(self, block: bytes, stored: int) -> None:
        if self._zeros:
            raise FormatError(f"corrupt {self._what}: a lone zero block before a header (after {show(self.last)!r})")
        if stored >= 0 and _checksum_ok(block):  # a signed-sum checksum of an old tar
            return
        if not self._headers:
            raise FormatError(f"{self._what} is not a tar stream (no valid tar header at the start)")
        raise FormatError(f"corrupt {self._what}: bad header checksum after {show(self.last)!r}")

    def _meta_member(self, typeflag: int, length: int, buf: bytes, end: int, size: int) -> int:
        if typeflag == PAX_GLOBAL:
            self._data(None, length)
        else:
            self._meta = typeflag
            self._data(_Collect(self._max_meta, f"{self._what}: extended header"), length)
        return end

    def _extended(self, block: bytes, typeflag: int, name: bytes, link: bytes,
                  length: int) -> "tuple[str, str, int, int]":
        """Name, link, data length and real size once pax records and GNU headers are applied."""
        text, target = _decode(name), _decode(link) if link[0] else ""
        pax, self._pax = self._pax, {}
        if pax:
            length = _pax_int(pax, "size", length, self._what)
            text = pax.get("GNU.sparse.name", pax.get("path", text))
            target = pax.get("linkpath", target)
        real = length
        if typeflag == GNU_SPARSE:
            real = _number(block[483:495], "sparse size", self._what)
        elif "GNU.sparse.realsize" in pax or "GNU.sparse.size" in pax:
            real = _pax_int(pax, "GNU.sparse.realsize", _pax_int(pax, "GNU.sparse.size", length, self._what),
                            self._what)
        if self._long_name is not None:
            text, self._long_name = _decode(self._long_name.split(b"\0", 1)[0]), None
        if self._long_link is not None:
            target, self._long_link = _decode(self._long_link.split(b"\0", 1)[0]), None
        return text, target, length, real

    def _data(self, sink: Sink, size: int) -> None:
        pad = -size % BLOCK
        if sink is None:
            self._skip = size + pad
            return
        self._sink = sink
        self._left = size
        self._pad = pad
        if not size:
            self._finish_member()

    def _take_meta(self, typeflag: int, data: bytes) -> None:
        if typeflag == PAX_HEADER:
            self._pax.update(_pax_records(data, self._what))
        elif typeflag == GNU_LONGNAME:
            self._long_name = data
        else:
            self._long_link = data


def _decode(raw: bytes) -> str:
    # names are bytes in tar; undecodable bytes stay visible without breaking printing or JSON
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace")


# name, size, checksum, typeflag, linkname, magic, prefix: one C call instead of seven slices
_FIELDS = struct.Struct("100s24x12s12x8sB100s6s2x80x155s12x")
_META_TYPES = frozenset((PAX_HEADER, PAX_GLOBAL, GNU_LONGNAME, GNU_LONGLINK))
_SLOW_TYPES = _META_TYPES | {GNU_SPARSE}


def _base256(field: bytes) -> int:
    value = int.from_bytes(field, "big") & ~(0xFF << (8 * (len(field) - 1)))
    if field[0] == 0xFF:
        raise ValueError("negative size")
    return value


def _checksum_ok(block: bytes) -> bool:
    try:
        stored = int(block[148:156].split(b"\0", 1)[0].strip() or b"-1", 8)
    except ValueError:
        return False
    # adler32's low half is 1 + sum(bytes) mod 65521: a byte sum in C instead of a Python loop.
    # The checksum field counts as eight spaces.
    total = (zlib.adler32(block) & 0xFFFF) - 1 - sum(block[148:156]) + 8 * 32
    if (total - stored) % 65521 == 0:
        return True
    exact = sum(block) - sum(block[148:156]) + 8 * 32
    signed = exact - 256 * sum(1 for byte in block if byte > 127)  # some old tars sum signed chars
    return stored in (exact, signed)


def _number(field: bytes, what: str, archive: str) -> int:
    if field[0] & 0x80:  # GNU base-256, for sizes of 8 GiB and more
        value = int.from_bytes(field, "big", signed=False) & ~(0xFF << (8 * (len(field) - 1)))
        return -value if field[0] == 0xFF else value
    digits = field.split(b"\0", 1)[0].strip()
    try:
        return int(digits, 8) if digits else 0
    except ValueError:
        raise FormatError(f"corrupt {archive}: bad {what} field {field!r}") from None


def _pax_records(data: bytes, archive: str) -> "dict[str, str]":
    records = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise FormatError(f"corrupt {archive}: bad pax record") from None
        end = pos + length
        if space < 0 or length <= 0 or end > len(data) or data[end - 1:end] != b"\n":
            raise FormatError(f"corrupt {archive}: bad pax record")
        key, eq, value = data[space + 1:end - 1].partition(b"=")
        if not eq:
            raise FormatError(f"corrupt {archive}: bad pax record")
        records[_decode(key)] = _decode(value)
        pos = end
    return records


def _pax_int(pax: "dict[str, str]", key: str, default: int, archive: str) -> int:
    if key not in pax:
        return default
    try:
        value = int(pax[key])
    except ValueError:
        raise FormatError(f"corrupt {archive}: bad pax {key}") from None
    if value < 0:
        raise FormatError(f"corrupt {archive}: negative pax {key}")
    return value
