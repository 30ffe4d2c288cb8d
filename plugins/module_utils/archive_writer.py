# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Write a tar stream as a multi-member gzip file, compressed on every core.

Why: deflate runs ~30-80 MB/s per core and gains nothing on PDFs and JPEGs, while storing runs at memory
speed and Huffman-only coding (no LZ77 matching) runs ~250 MB/s and still takes the entropy gain that
deflate would. A gzip file may be a sequence of independently compressed members (RFC 1952 2.2); gzip,
GNU tar, Python's tarfile and Papermerge's own restore read it as one stream. So the tar stream is cut into
segments of at most SEGMENT_SIZE bytes, each segment is compressed as its own gzip member in a thread pool
(zlib and hashlib release the GIL), and the members are written in order. Each segment has a mode:

- "deflate": zlib at the chosen level (text: JSON, txt/hocr/svg sidecars, tar headers);
- "huffman": Z_HUFFMAN_ONLY (large files of already-compressed types: pdf, jpg, png, ... when a sample of
  their first bytes shrinks by Huffman coding; otherwise "store");
- "store":  level 0, stored deflate blocks (compression "none", or level 0).

The first member's header carries a comment (FCOMMENT) with the archive's content fingerprint, so a later
run can tell whether anything changed by reading a few bytes of the newest archive.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import hashlib
import os
import struct
import tarfile
import zlib
from concurrent.futures import ThreadPoolExecutor

SEGMENT_SIZE = 1024 * 1024
READ_SIZE = 1024 * 1024
BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
FINGERPRINT_PREFIX = "papermerge.backup fingerprint="
# Types that are compressed already: deflating them costs CPU for nothing, Huffman coding is nearly free.
COMPRESSED_EXTENSIONS = frozenset((
    ".pdf", ".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff", ".zip", ".gz", ".bz2", ".xz",
    ".zst", ".7z", ".docx", ".xlsx", ".pptx", ".odt", ".ods", ".mp3", ".mp4", ".jp2", ".heic",
))
HUFFMAN_MIN_SIZE = 64 * 1024
JOB_FILE_SIZE = 2 * 1024 * 1024  # compressed-type files up to this size are read and packed in the pool
SAMPLE_SIZE = 16 * 1024
STORED_BLOCK = 65535  # the largest stored deflate block (RFC 1951 3.2.4)
HUFFMAN_WORTH = 0.97  # Huffman coding must save 3% of the sample, or the file is stored
COMPRESSIONS = ("adaptive", "gzip", "none")


def available_cores():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def gzip_member(data, level, strategy, comment=None):
    """One complete gzip member holding data (bytes, or a list of bytes parts compressed as one)."""
    parts = data if isinstance(data, list) else [data]
    flags = 0x10 if comment else 0
    header = b"\x1f\x8b\x08" + struct.pack("<BIBB", flags, 0, 0, 255)
    if comment:
        header += comment.encode("latin-1") + b"\x00"
    if level == 0:
        return _stored_member(header, parts)
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 8, strategy)
    out = [header]
    crc, size = 0, 0
    for part in parts:
        out.append(compressor.compress(part))
        crc = zlib.crc32(part, crc)
        size += len(part)
    out.append(compressor.flush())
    out.append(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
    return b"".join(out)


def _stored_member(header, parts):
    """A gzip member of stored deflate blocks, framed here: zlib at level 0 copies every byte twice more
    (into its window and out), which cost more than the rest of storing a PDF. One copy, in the join."""
    out = [header]
    crc, size = 0, 0
    for part in parts:
        view = memoryview(part)
        for start in range(0, len(view), STORED_BLOCK):
            block = view[start:start + STORED_BLOCK]
            out.append(struct.pack("<BHH", 0, len(block), 0xFFFF ^ len(block)))
            out.append(block)
        crc = zlib.crc32(part, crc)
        size += len(part)
    out.append(b"\x01\x00\x00\xff\xff")  # the final block, empty
    out.append(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
    return b"".join(out)


def pack_file(path, name, header, size, padding, level, compression):
    """Job for the pool: one whole file as one gzip member (tar header, data, padding); returns
    (member, sha256 hex). Reading, hashing and compressing here spreads them over the cores."""
    data = _read_exactly(path, name, size)
    digest = hashlib.sha256(data).hexdigest()
    if compression == "none" or level == 0:
        settings = (0, zlib.Z_DEFAULT_STRATEGY)
    elif compression == "gzip":
        settings = (level, zlib.Z_DEFAULT_STRATEGY)
    elif huffman_gains(data):
        settings = (1, zlib.Z_HUFFMAN_ONLY)
    else:
        settings = (0, zlib.Z_DEFAULT_STRATEGY)
    return gzip_member([header, data, b"\x00" * padding], settings[0], settings[1]), digest


def pack_files(entries, level, strategy):
    """Job for the pool: several small files [(path, name, tar header, size, padding)] as one gzip member;
    returns (member, [sha256 hex per file])."""
    parts, digests = [], []
    for path, name, header, size, padding in entries:
        data = _read_exactly(path, name, size)
        digests.append(hashlib.sha256(data).hexdigest())
        parts.extend((header, data, b"\x00" * padding))
    return gzip_member(b"".join(parts), level, strategy), digests


def _read_exactly(path, name, size):
    try:
        with open(path, "rb") as stream:
            data = stream.read(size + 1)
    except (IOError, OSError) as error:
        raise SourceReadError(path, error)
    if len(data) < size:
        raise FileChangedError(name, "it became shorter while being read (%d bytes missing)" % (size - len(data)))
    if len(data) > size:
        raise FileChangedError(name, "it grew while being read")
    return data


def read_fingerprint(path):
    """The fingerprint in the first gzip member's comment of an archive we wrote, or None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except (IOError, OSError):
        return None
    return fingerprint_in_gzip_head(head)


def fingerprint_in_gzip_head(head):
    """The fingerprint in the comment of the gzip member that the bytes head start with, or None."""
    if len(head) < 10 or head[:3] != b"\x1f\x8b\x08" or not head[3] & 0x10 or head[3] & 0x0C:
        return None
    end = head.find(b"\x00", 10, 512)
    if end < 0:
        return None
    comment = head[10:end].decode("latin-1")
    if not comment.startswith(FINGERPRINT_PREFIX):
        return None
    return comment[len(FINGERPRINT_PREFIX):]


def huffman_gains(data):
    """Whether Huffman coding shrinks data noticeably, judged on a sample from its start.

    Scanned PDFs and photos hold JPEG or CCITT data that no entropy coder shrinks: storing them costs nothing.
    Data with a skewed byte distribution (text-like streams, base64) still shrinks by a quarter.
    """
    sample = data[:SAMPLE_SIZE]
    compressor = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS, 8, zlib.Z_HUFFMAN_ONLY)
    return len(compressor.compress(sample) + compressor.flush()) < len(sample) * HUFFMAN_WORTH


class ParallelGzipWriter:
    """Accepts tar bytes with a mode, writes ordered gzip members to fileobj."""

    def __init__(self, fileobj, level=6, threads=None, comment=None):
        self.fileobj = fileobj
        self.level = level
        self.threads = threads or available_cores()
        self.comment = comment
        self.pool = ThreadPoolExecutor(max_workers=self.threads)
        self.pending = collections.deque()
        self.buffer = []
        self.buffered = 0
        self.mode = None
        self.compressed_size = 0
        self.raw_size = 0

    def write(self, data, mode="deflate"):
        if not data:
            return
        if self.mode is not None and mode != self.mode:
            self.flush_segment()
        self.mode = mode
        self.buffer.append(data)
        self.buffered += len(data)
        self.raw_size += len(data)
        if self.buffered >= SEGMENT_SIZE:
            self.flush_segment()

    def flush_segment(self):
        if not self.buffered:
            return
        data = b"".join(self.buffer)
        self.buffer, self.buffered = [], 0
        level, strategy = self.settings(self.mode)
        comment, self.comment = self.comment, None
        self._queue(self.pool.submit(gzip_member, data, level, strategy, comment), None)

    def submit(self, function, args, on_result):
        """Run function(*args) -> (gzip member, result) in the pool, after everything written so far;
        on_result(result) is called once the member is written (in stream order)."""
        self.flush_segment()
        if self.comment:  # the fingerprint must ride on the first member: an empty one carries it
            self._queue(self.pool.submit(gzip_member, b"", 0, zlib.Z_DEFAULT_STRATEGY, self.comment), None)
            self.comment = None
        self._queue(self.pool.submit(function, *args), on_result)

    def _queue(self, future, on_result):
        self.pending.append((future, on_result))
        # Bounded queue: memory stays at a few segments per thread whatever the archive size.
        while len(self.pending) > self.threads * 2:
            self._write_result(self.pending.popleft())

    def settings(self, mode):
        """(zlib level, strategy) for a segment mode."""
        if mode == "store" or self.level == 0:
            return 0, zlib.Z_DEFAULT_STRATEGY
        if mode == "huffman":
            return 1, zlib.Z_HUFFMAN_ONLY
        return self.level, zlib.Z_DEFAULT_STRATEGY

    def _write_result(self, entry):
        future, on_result = entry
        member = future.result()
        if on_result is not None:
            member, result = member
            on_result(result)
        self.fileobj.write(member)
        self.compressed_size += len(member)

    def drain(self):
        """Write everything submitted so far (every on_result callback has run when this returns)."""
        self.flush_segment()
        while self.pending:
            self._write_result(self.pending.popleft())

    def close(self):
        """Write everything still pending (does not close fileobj)."""
        try:
            self.drain()
        finally:
            self.abort()

    def abort(self):
        for future, _callback in self.pending:
            future.cancel()
        self.pool.shutdown(wait=True)


class TarStreamWriter:
    """Builds a POSIX (pax) tar stream member by member on top of a ParallelGzipWriter."""

    def __init__(self, gz, compression="adaptive"):
        self.gz = gz
        self.compression = compression
        self.offset = 0
        self.batch = []
        self.batch_bytes = 0

    def _emit(self, data, mode="deflate"):
        self._flush_batch()  # stream order: batched files go before whatever comes next
        if self.compression == "none":
            mode = "store"
        elif self.compression == "gzip":
            mode = "deflate"
        self.gz.write(data, mode)
        self.offset += len(data)

    def _header(self, name, kind, mtime, mode, size=0, linkname=""):
        self._emit(self._header_bytes(name, kind, mtime, mode, size, linkname))

    @staticmethod
    def _header_bytes(name, kind, mtime, mode, size=0, linkname=""):
        header = None
        if kind == tarfile.DIRTYPE:  # tar marks directories with a trailing '/' when the name has room
            header = ustar_header(name + "/", kind, mtime, mode)
        if header is None:
            header = ustar_header(name, kind, mtime, mode, size, linkname)
        if header is None and linkname:
            header = pax_linkpath_header(name, kind, mtime, mode, size, linkname)
        if header is None:
            # Non-ASCII or overlong names: a pax header, which tarfile writes correctly for any name.
            info = _info(name, kind, mtime, mode)
            info.size = size
            info.linkname = linkname
            header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        return header

    def _pad(self, size, mode):
        remainder = size % BLOCK
        if remainder:
            self._emit(b"\x00" * (BLOCK - remainder), mode)

    def add_stream(self, name, stream, size, mtime, mode=0o600, compressible=True):
        """Add a regular file of exactly size bytes read from stream; returns its sha256 hex."""
        self._header(name, tarfile.REGTYPE, mtime, mode, size)
        segment_mode = "deflate" if compressible else None
        digest = hashlib.sha256()
        remaining = size
        while remaining:
            chunk = stream.read(min(READ_SIZE, remaining))
            if not chunk:
                raise FileChangedError(name, "it became shorter while being read (%d bytes missing)" % remaining)
            if segment_mode is None:
                segment_mode = "huffman" if huffman_gains(chunk) else "store"
            digest.update(chunk)
            self._emit(chunk, segment_mode)
            remaining -= len(chunk)
        self._pad(size, segment_mode)
        return digest.hexdigest()

    def add_file(self, name, path, size, mtime, mode, on_digest):
        """Add the file at path (size from the caller's stat); on_digest(sha256 hex) once it is in the stream.

        Reading, hashing and compressing happen in the pool: files of already-compressed types one job each,
        text files batched into jobs of about SEGMENT_SIZE, where they compress together. Only files over
        JOB_FILE_SIZE are read here, in chunks.
        """
        if size > JOB_FILE_SIZE:
            on_digest(self._add_file_here(name, path, size, mtime, mode))
            return
        header = self._header_bytes(name, tarfile.REGTYPE, mtime, mode, size)
        padding = (-size) % BLOCK
        self.offset += len(header) + size + padding
        if not self._compressible(name, size):
            self._flush_batch()
            self.gz.submit(pack_file, (path, name, header, size, padding, self.gz.level, self.compression),
                           on_digest)
            return
        self.batch.append((path, name, header, size, padding, on_digest))
        self.batch_bytes += len(header) + size + padding
        if self.batch_bytes >= SEGMENT_SIZE:
            self._flush_batch()

    def _flush_batch(self):
        if not self.batch:
            return
        entries, self.batch, self.batch_bytes = self.batch, [], 0
        callbacks = [entry[5] for entry in entries]

        def deliver(digests):
            for callback, digest in zip(callbacks, digests):
                callback(digest)

        level, strategy = self.gz.settings("store" if self.compression == "none" else "deflate")
        self.gz.submit(pack_files, ([entry[:5] for entry in entries], level, strategy), deliver)

    def _add_file_here(self, name, path, size, mtime, mode):
        try:
            stream = open(path, "rb")
        except (IOError, OSError) as error:
            raise SourceReadError(path, error)
        with stream:
            sha256 = self.add_stream(name, stream, size, mtime, mode, compressible=self._compressible(name, size))
            if stream.read(1):
                raise FileChangedError(name, "it grew while being read")
        return sha256

    def _compressible(self, name, size):
        extension = os.path.splitext(name)[1].lower()
        return not (size >= HUFFMAN_MIN_SIZE and extension in COMPRESSED_EXTENSIONS)

    def add_directory(self, name, mtime, mode=0o755):
        self._header(name.rstrip("/"), tarfile.DIRTYPE, mtime, mode)

    def add_symlink(self, name, target, mtime):
        self._header(name, tarfile.SYMTYPE, mtime, 0o777, linkname=target)

    def drain(self):
        """Write every file added so far: each on_digest callback has run when this returns."""
        self._flush_batch()
        self.gz.drain()

    def finish(self):
        """End-of-archive blocks, padded to a whole record as tar does."""
        end = self.offset + 2 * BLOCK
        self._emit(b"\x00" * (2 * BLOCK + (-end) % RECORD))


PAX_NAME = "././@PaxHeader"  # the name tarfile gives extended headers
_USTAR = struct.Struct("100s8s8s8s12s12s8s1s100s6s2s32s32s8s8s155s12s")


def ustar_header(name, kind, mtime, mode, size=0, linkname=""):
    """A POSIX ustar header block, or None when the name does not fit ustar (then pax is used).

    tarfile builds a pax header for every name over 100 bytes, which costs more CPU than compressing a small
    sidecar; ustar's 155-byte prefix field holds the directories of Papermerge's media paths.
    """
    try:
        raw_name = name.encode("ascii")
        raw_link = linkname.encode("ascii")
    except UnicodeEncodeError:
        return None
    prefix = b""
    if len(raw_name) > 100:
        cut = raw_name.rfind(b"/", 0, 156)
        if cut <= 0 or len(raw_name) - cut - 1 > 100 or cut == len(raw_name) - 1:
            return None
        prefix, raw_name = raw_name[:cut], raw_name[cut + 1:]
    if len(raw_link) > 100 or size >= 8 ** 11 or not 0 <= int(mtime) < 8 ** 11:
        return None
    block = _USTAR.pack(raw_name, b"%07o\0" % (mode & 0o7777), b"0000000\0", b"0000000\0", b"%011o\0" % size,
                        b"%011o\0" % int(mtime), b" " * 8, kind, raw_link, b"ustar\0", b"00", b"", b"",
                        b"", b"", prefix, b"")
    return block[:148] + b"%06o\0 " % sum(block) + block[156:]


def pax_linkpath_header(name, kind, mtime, mode, size, linkname):
    """A pax extended header holding only the link target, then the ustar header; None unless the name itself
    fits ustar. Papermerge's symlink targets run to 120+ bytes, and tarfile's pax header cost 50 us each."""
    header = ustar_header(name, kind, mtime, mode, size)
    if header is None:
        return None
    record = pax_record("linkpath", linkname)
    extended = ustar_header(PAX_NAME, tarfile.XHDTYPE, mtime, 0o644, len(record))
    return extended + record + b"\x00" * ((-len(record)) % BLOCK) + header


def pax_record(keyword, value):
    """One pax record, "<length> <keyword>=<value>\n", the length counting its own digits (POSIX pax)."""
    payload = b" " + keyword.encode("ascii") + b"=" + value.encode("utf-8", "surrogateescape") + b"\n"
    digits = len(str(len(payload)))
    if len(str(len(payload) + digits)) > digits:
        digits += 1
    return str(len(payload) + digits).encode("ascii") + payload


def _info(name, kind, mtime, mode):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mtime = int(mtime)
    info.mode = mode & 0o7777
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class SourceReadError(Exception):
    """A file to archive could not be opened or read."""

    def __init__(self, path, error):
        super(SourceReadError, self).__init__("%s: %s" % (path, getattr(error, "strerror", None) or error))
        self.path = path
        self.error = error


class FileChangedError(Exception):
    """A media file changed while it was being archived."""

    def __init__(self, name, reason):
        super(FileChangedError, self).__init__("%s: %s" % (name, reason))
        self.name = name
