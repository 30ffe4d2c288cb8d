# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Inflate an archive's gzip stream, checked to its last byte, ahead of the reader in a thread of its own."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import zlib

from ansible_collections.papermerge.backup.plugins.module_utils import archive_format
from ansible_collections.papermerge.backup.plugins.module_utils.threads import ReadAhead

GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib reads (and checks) the gzip header and trailer itself
# Inflated chunks waiting for the reader: memory stays at a few chunks.
QUEUE_DEPTH = 4
# Deflate inflates up to ~1000 times: a small archive can claim gigabytes (a decompression bomb).  Backups come
# nowhere near: PDFs and images barely shrink, OCR text and hOCR to a third or a tenth (the text benchmark's
# 10,000 documents inflate 3.5 times).  So an archive may inflate to MAX_RATIO times its size, plus FREE_BYTES
# for small ones (tar headers and padding alone inflate 10 to 30 times); more is refused while inflating,
# before the reader gets a byte beyond the bound.
MAX_RATIO = 100
FREE_BYTES = 32 * 1024 * 1024


class InflateLimitExceeded(Exception):
    """The stream inflates to more than its bound."""

    def __init__(self, limit):
        super(InflateLimitExceeded, self).__init__("it inflates to more than %d bytes" % limit)
        self.limit = limit


def inflate_limit(compressed_size):
    """The most a gzip stream of compressed_size bytes may inflate to (see MAX_RATIO)."""
    return MAX_RATIO * compressed_size + FREE_BYTES


def gunzip_chunks(raw, chunk_size=None, limit=None):
    """The decompressed content of a gzip file of one or more members, at most chunk_size bytes at a time.

    zlib checks each member's header, CRC and length (zlib.error when one is wrong); zero bytes after a member
    are padding, as gzip(1) and Python's gzip allow; the file ending inside a member raises EOFError.  Reading
    the file in large blocks here, instead of through gzip.GzipFile (8 KB reads, the CRC kept in Python), halves
    the cost of inflating an archive of stored PDFs.  With limit, InflateLimitExceeded is raised instead of the
    chunk that would take the output beyond limit bytes.
    """
    chunks = _inflate(raw, chunk_size or archive_format.CHUNK_SIZE)
    return chunks if limit is None else _bounded(chunks, limit)


def _bounded(chunks, limit):
    total = 0
    for data in chunks:
        total += len(data)
        if total > limit:
            raise InflateLimitExceeded(limit)
        yield data


def _inflate(raw, chunk_size):
    inflater = None
    pending = b""
    members = 0
    while True:
        if not pending:
            pending = raw.read(chunk_size)
            if not pending:
                break
        if inflater is None:
            if members:
                pending = pending.lstrip(b"\0")
                if not pending:
                    continue
            inflater = zlib.decompressobj(GZIP_WBITS)
        data = inflater.decompress(pending, chunk_size)
        pending = inflater.unconsumed_tail
        if data:
            yield data
        if inflater.eof:
            pending, inflater = inflater.unused_data, None
            members += 1
    while inflater is not None:  # the file ended: output zlib still holds, then the member's end or EOFError
        data = inflater.decompress(b"", chunk_size)
        if data:
            yield data
        elif inflater.eof:
            inflater = None
        else:
            raise EOFError("the file ends inside gzip member %d (compressed data is missing)" % (members + 1))


class InflatedStream:
    """The decompressed content of a gzip file as a readable stream, inflated ahead in a thread.

    Decompressing (and hashing, by the raw stream) then overlap with parsing, hashing and staging the members
    (zlib, hashlib and file reads release the GIL).  The thread reads the whole file, so the archive's sha256
    covers every byte; its errors (EOFError, zlib.error, OSError, InflateLimitExceeded) are raised by read().
    """

    def __init__(self, raw, limit=None):
        self.ahead = ReadAhead(gunzip_chunks(raw, limit=limit), QUEUE_DEPTH, "papermerge-inflate")
        self.buffer = b""
        self.offset = 0
        self.finished = False

    def read(self, size=-1):
        """Up to size bytes (everything left when size is negative or None); b'' at the end."""
        size = -1 if size is None else size
        parts = []
        while size != 0 and not self.finished:
            if self.offset >= len(self.buffer):
                self._next_chunk()
                continue
            end = len(self.buffer) if size < 0 else self.offset + size
            piece = self.buffer[self.offset:end]
            self.offset += len(piece)
            if size > 0:
                size -= len(piece)
            parts.append(piece)
        return b"".join(parts)

    def _next_chunk(self):
        try:
            chunk = self.ahead.get()
        except BaseException:
            self.finished = True
            raise
        if chunk is None:
            self.finished, chunk = True, b""
        self.buffer, self.offset = chunk, 0

    def close(self):
        self.ahead.close()
