# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Read a tar stream member by member: the headers a backup archive can hold, checked, and nothing else.

The restore reads an archive in one pass (archive_reader).  Python's tarfile in stream mode spends about 70 us on
each member (TarInfo objects, two buffered file layers per member, re-joined buffers), which for a backup of
tens of thousands of small sidecar files was most of the time the reading thread held the interpreter.  This
reader parses the same formats in a tenth of that:

- ustar, GNU and old (v7) headers, with the ustar name prefix; numbers in octal or base-256;
- pax extended headers, per member and global (path, linkpath, size, mtime; other keys are ignored);
- GNU long names and long link names;
- a header's checksum must match (tarfile accepts a bad one after the first member and stops there silently).

It refuses what no backup holds and what it cannot read faithfully (GNU sparse files, multi-volume parts,
implausibly large extended headers) with TarFormatError.  Member types are reported, not judged: deciding
which types are acceptable is archive_reader's job.  Names are decoded as UTF-8 with surrogate escapes, as
tarfile does on Linux.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import tarfile

BLOCK = tarfile.BLOCKSIZE
# Extended headers (pax records, GNU long names) are held in memory: a backup's are a few hundred bytes.  The
# bound holds for all of one member's extended headers together, and for all global ones together.
EXTENDED_HEADER_MAX = 1024 * 1024
# Modification times beyond this (the year 5138) are refused: the file system could not store them.
MTIME_MAX = 10 ** 11
# Type flags (tar's typeflag byte), tarfile's names for them, as archive_writer uses; only the parser is ours.
REGULAR = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)  # a contiguous file reads as a regular one
PAX_HEADER = tarfile.XHDTYPE
PAX_GLOBAL_HEADER = tarfile.XGLTYPE
GNU_LONG_NAME = tarfile.GNUTYPE_LONGNAME
GNU_LONG_LINK = tarfile.GNUTYPE_LONGLINK
EXTENDED_TYPES = (PAX_HEADER, GNU_LONG_NAME, GNU_LONG_LINK)  # they describe the member that follows them
# Members of these types have no data in the stream; any other has size bytes of it (skipped if not read).
WITHOUT_DATA = (tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.DIRTYPE,
                tarfile.FIFOTYPE)
REFUSED_TYPES = {
    tarfile.GNUTYPE_SPARSE: "GNU sparse files are not supported",
    b"M": "multi-volume archives are not supported",
    b"N": "old GNU long-name members are not supported",
}
USTAR_MAGIC = b"ustar\x00"
_PAX_RECORD = re.compile(br"(\d+) ([^=]+)=")


class TarFormatError(Exception):
    """The stream is not a tar archive this reader can follow (damaged, truncated or of an unsupported kind)."""


class TarHeader:
    """One member's header, with the names and tests tarfile.TarInfo offers for them."""

    __slots__ = ("name", "linkname", "size", "mtime", "type")

    def __init__(self, name, linkname, size, mtime, type_flag):
        self.name = name
        self.linkname = linkname
        self.size = size
        self.mtime = mtime
        self.type = type_flag

    def isreg(self):
        return self.type in REGULAR

    def isdir(self):
        return self.type == tarfile.DIRTYPE

    def issym(self):
        return self.type == tarfile.SYMTYPE

    def islnk(self):
        return self.type == tarfile.LNKTYPE

    def ischr(self):
        return self.type == tarfile.CHRTYPE

    def isblk(self):
        return self.type == tarfile.BLKTYPE

    def isfifo(self):
        return self.type == tarfile.FIFOTYPE

    def __repr__(self):
        return "TarHeader(%r, type=%r, size=%r)" % (self.name, self.type, self.size)


class TarReader:
    """Members of the tar stream source (an object whose read(n) returns n bytes, fewer only at its end).

    next() returns the next member's TarHeader (None at the end of the archive); chunks() then yields that
    member's data.  Data not read before the next call to next() is skipped.
    """

    def __init__(self, source):
        self.source = source
        self.global_records = {}
        self.global_size = 0
        self.left = 0       # data bytes of the current member not read yet
        self.padding = 0    # then the zero bytes up to the next block
        self.offset = 0     # of the next byte to read in the tar stream, for error messages

    def next(self):
        self._skip_rest()
        records = {}
        long_name = long_link = None
        extended_size = 0
        while True:
            block = self._read(BLOCK)
            if not block or block == b"\0" * BLOCK:
                return None  # the end-of-archive block (or the end of the stream right after a member)
            if len(block) < BLOCK:
                raise TarFormatError("the archive ends inside a header (at byte %d)" % self.offset)
            header = self._parse(block)
            kind = header.type
            if kind == PAX_GLOBAL_HEADER:
                self.global_size = self._bounded(self.global_size, header)
                self.global_records.update(self._pax_records(header))
                continue
            if kind in REFUSED_TYPES:
                raise TarFormatError("member %r: %s" % (header.name, REFUSED_TYPES[kind]))
            if kind not in EXTENDED_TYPES:
                return self._complete(header, long_name, long_link, records)
            extended_size = self._bounded(extended_size, header)
            if kind == PAX_HEADER:
                records.update(self._pax_records(header))
            elif kind == GNU_LONG_NAME:
                long_name = self._decode(self._extended_data(header).split(b"\0", 1)[0])
            else:
                long_link = self._decode(self._extended_data(header).split(b"\0", 1)[0])

    def chunks(self, chunk_size):
        """Yield the current member's data in pieces of at most chunk_size bytes."""
        while self.left:
            data = self._read(min(self.left, chunk_size))
            if not data:
                raise TarFormatError("the archive ends inside a member's data (at byte %d)" % self.offset)
            self.left -= len(data)
            yield data

    def _complete(self, header, long_name, long_link, records):
        merged = dict(self.global_records)
        merged.update(records)
        if long_name is not None:
            header.name = long_name
        if long_link is not None:
            header.linkname = long_link
        if "path" in merged:
            header.name = merged["path"]
        if "linkpath" in merged:
            header.linkname = merged["linkpath"]
        if "size" in merged:
            header.size = self._pax_number(merged, "size", int)
        if "mtime" in merged:
            header.mtime = self._pax_number(merged, "mtime", float)
        if not header.mtime <= MTIME_MAX:  # also refuses a pax "nan"
            raise TarFormatError("member %r has an implausible modification time (%r)" % (header.name, header.mtime))
        if any(key.startswith("GNU.sparse.") for key in merged):
            raise TarFormatError("member %r: GNU sparse files are not supported" % header.name)
        if header.type == tarfile.AREGTYPE and header.name.endswith("/"):
            header.type = tarfile.DIRTYPE  # old tars mark directories by the trailing slash only
        if header.isdir():
            header.name = header.name.rstrip("/") or header.name
        if header.type in WITHOUT_DATA:
            self.left, self.padding = 0, 0  # whatever their size field says
        else:
            self.left, self.padding = header.size, -header.size % BLOCK
        return header

    def _parse(self, block):
        checksum = _number(block[148:156], "checksum", self.offset)
        unsigned = sum(block[:148]) + 256 + sum(block[156:])
        if checksum != unsigned and checksum != unsigned - 256 * _high_bytes(block):
            raise TarFormatError("the header at byte %d has a bad checksum: the archive is damaged"
                                 % (self.offset - BLOCK))
        name = _field(block[0:100])
        if block[257:263] == USTAR_MAGIC:
            prefix = _field(block[345:500])
            if prefix:
                name = prefix + b"/" + name
        return TarHeader(self._decode(name), self._decode(_field(block[157:257])),
                         _number(block[124:136], "size", self.offset), _number(block[136:148], "mtime", self.offset),
                         block[156:157])

    def _bounded(self, total, header):
        total += header.size
        if total > EXTENDED_HEADER_MAX:
            raise TarFormatError("extended headers of %d bytes (at byte %d) are implausibly large"
                                 % (total, self.offset))
        return total

    def _extended_data(self, header):
        self.left, self.padding = header.size, -header.size % BLOCK
        data = b"".join(self.chunks(header.size or 1))
        self._skip_rest()
        return data

    def _pax_records(self, header):
        data = self._extended_data(header)
        records = {}
        position = 0
        while position < len(data) and data[position:position + 1] != b"\0":
            match = _PAX_RECORD.match(data, position)
            length = int(match.group(1)) if match else 0
            if not match or length < len(match.group(0)) + 1 or data[position + length - 1:position + length] != b"\n":
                raise TarFormatError("a pax header (before byte %d) is malformed" % self.offset)
            key = match.group(2).decode("utf-8", "surrogateescape")
            records[key] = self._decode(data[match.end():position + length - 1])
            position += length
        return records

    def _pax_number(self, records, key, kind):
        try:
            value = kind(records[key])
        except ValueError:
            raise TarFormatError("a pax header's %s %r is not a number (before byte %d)"
                                 % (key, records[key], self.offset))
        if value < 0:
            raise TarFormatError("a pax header's %s is negative (before byte %d)" % (key, self.offset))
        return value

    def _skip_rest(self):
        for _chunk in self.chunks(1024 * 1024):
            pass
        if self.padding:
            if len(self._read(self.padding)) != self.padding:
                raise TarFormatError("the archive ends inside a member's padding (at byte %d)" % self.offset)
            self.padding = 0

    def _read(self, size):
        data = self.source.read(size)
        self.offset += len(data)
        return data

    @staticmethod
    def _decode(raw):
        return raw.decode("utf-8", "surrogateescape")


def _field(raw):
    """A NUL-terminated string field's bytes."""
    end = raw.find(b"\0")
    return raw if end < 0 else raw[:end]


def _number(raw, what, offset):
    """A numeric field: octal digits (NUL- or space-terminated), or base-256 when the first byte is 0x80 or 0xff."""
    if raw[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(raw[1:], "big")
        if raw[:1] == b"\xff":
            value -= 1 << (8 * (len(raw) - 1))
        if value < 0:
            raise TarFormatError("a header's %s is negative (near byte %d)" % (what, offset))
        return value
    digits = _field(raw).strip(b" ")
    try:
        return int(digits, 8) if digits else 0
    except ValueError:
        raise TarFormatError("a header's %s field %r is not a number (near byte %d): the archive is damaged or "
                             "not a tar archive" % (what, raw, offset))


def _high_bytes(block):
    """Bytes above 127 outside the checksum field: old tars summed them as signed chars."""
    return sum(1 for byte in block[:148] if byte > 127) + sum(1 for byte in block[156:] if byte > 127)
