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
- pax extended headers, per member and global (path, linkpath, size and mtime are read, uid, gid, atime and
  ctime checked, other keys ignored);
- GNU long names and long link names;
- a header's checksum must match (tarfile accepts a bad one after the first member and stops there silently).

An archive may have been made to mislead, so every number in it passes one door (_integer, reached through
the public header_number() for header fields and pax_integer() and pax_time() for pax records): digits of its
base and nothing else (no sign, '0o', '_' or whitespace, which int() would take), never negative, never above
the bound of what it counts.  Every length is then checked before a byte is read for it (_claim, and _bounded for the extended
headers held in memory), so memory never grows with what a header claims, and a claim larger than what the
stream still holds, when its size is known, fails at once.  Where tar programs read one header in different
ways (tarfile and GNU tar, which Papermerge's own restore and an administrator use), the header is refused
rather than read one way: a restore must see the archive every other tool sees.

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
ZERO_BLOCK = b"\0" * BLOCK
# Extended headers (pax records, GNU long names) are held in memory: a backup's are a few hundred bytes.  The
# bound holds for all of one member's extended headers together, and for all global ones together.
EXTENDED_HEADER_MAX = 1024 * 1024
# Modification times beyond this (the year 5138) are refused: the file system could not store them.
MTIME_MAX = 10 ** 11
# No file system holds a larger file (the largest off_t); base-256 size fields can claim up to 2 ** 88.
SIZE_MAX = 2 ** 63 - 1
# The mode and the checksum may hold anything their 8 bytes can; user and group ids and device numbers are 32
# bits wide on Linux, and GNU tar refuses larger ones.
NUMBER_MAX = 2 ** 64
ID_MAX = 2 ** 32 - 1
# A pax mtime's fraction: tar programs write nanoseconds (9 digits); a longer one costs float() time for nothing.
FRACTION_DIGITS_MAX = 18
# No bound here has more digits: a longer string is refused before int() spends quadratic time on it.
_DIGITS_MAX = 24
# Type flags (tar's typeflag byte), tarfile's names for them, as archive_writer uses; only the parser is ours.
REGULAR = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)  # a contiguous file reads as a regular one
PAX_HEADER = tarfile.XHDTYPE
PAX_GLOBAL_HEADER = tarfile.XGLTYPE
GNU_LONG_NAME = tarfile.GNUTYPE_LONGNAME
GNU_LONG_LINK = tarfile.GNUTYPE_LONGLINK
EXTENDED_TYPES = (PAX_HEADER, GNU_LONG_NAME, GNU_LONG_LINK)  # they describe the member that follows them
EXTENDED_NAMES = {PAX_HEADER: "pax", GNU_LONG_NAME: "GNU long name", GNU_LONG_LINK: "GNU long link name"}
# Members of these types have no data in the stream, and must say so (size 0); any other has size bytes of it
# (skipped if not read).
WITHOUT_DATA = (tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.DIRTYPE,
                tarfile.FIFOTYPE)
REFUSED_TYPES = {
    tarfile.GNUTYPE_SPARSE: "GNU sparse files are not supported",
    b"M": "multi-volume archives are not supported",
    b"N": "old GNU long-name members are not supported",
    tarfile.SOLARIS_XHDTYPE: "Solaris extended headers are not supported",  # tarfile and GNU tar read them as pax
}
# Global pax records that would change every member after them; no tar program writes them, and tarfile
# applies a global size to the member but skips the member's own size of data: the two would part ways.
REFUSED_GLOBAL_KEYS = ("path", "linkpath", "size")
USTAR_MAGIC = b"ustar\x00"
# The numeric fields of a header this reader does not use.  They are checked all the same: tarfile stops
# reading an archive at a header with anything but a number there, GNU tar reports an error.
UNUSED_NUMBERS = (("mode", 100, 108, NUMBER_MAX), ("uid", 108, 116, ID_MAX), ("gid", 116, 124, ID_MAX),
                  ("devmajor", 329, 337, ID_MAX), ("devminor", 337, 345, ID_MAX))
# The numeric fields from mode to checksum as tarfile and GNU tar write them: fixed-width octal digits, whose
# values are within every bound by their width.  One match reads nearly every header; any other form of them
# goes field by field through header_number().
_PLAIN_NUMBERS = re.compile(br"[0-7]{7}\x00[0-7]{7}\x00[0-7]{7}\x00([0-7]{11})[\x00 ]([0-7]{11})[\x00 ]([0-7]{6})\x00 ")
_NO_DEVICE = (b"\0" * 16, b"0000000\x000000000\x00")
_PAX_RECORD = re.compile(br"(\d+) ([^=]+)=")
# Numbers of pax records this reader does not use, checked all the same (GNU tar refuses malformed ones).
UNUSED_PAX_NUMBERS = ("uid", "gid")
UNUSED_PAX_TIMES = ("atime", "ctime")
TIME_NAMES = {"mtime": "modification time", "atime": "access time", "ctime": "change time"}
_OCTAL_DIGITS = b"01234567"
_DECIMAL_DIGITS = b"0123456789"


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
    member's data.  Data not read before the next call to next() is skipped.  size, when known, is the
    stream's length: a member claiming more data than is left is then refused before any of it is read.
    """

    def __init__(self, source, size=None):
        self.source = source
        self.stream_size = size
        self.global_records = {}
        self.global_size = 0
        self.left = 0       # data bytes of the current member not read yet
        self.padding = 0    # then the zero bytes up to the next block
        self.offset = 0     # of the next byte to read in the tar stream, for error messages

    def next(self):
        self._skip_rest()
        extended = {}       # what the extended headers in front of the member said, by their type flag
        extended_size = 0
        after_global = False
        while True:
            header = self._next_header()
            if header is None:
                if extended or after_global:  # tarfile refuses that too
                    raise TarFormatError("the archive ends after an extended header, without the member it "
                                         "describes (at byte %d)" % self.offset)
                return None
            kind = header.type
            if kind == PAX_GLOBAL_HEADER:
                self._take_global(header, extended)
                after_global = True
                continue
            if kind in REFUSED_TYPES:
                raise TarFormatError("member %r: %s" % (header.name, REFUSED_TYPES[kind]))
            if kind not in EXTENDED_TYPES:
                return self._complete(header, extended)
            if kind in extended:
                # tarfile lets the first one count, GNU tar the last: refused, not guessed.
                raise TarFormatError("a member has two %s headers (before byte %d): tar programs disagree about "
                                     "which one counts" % (EXTENDED_NAMES[kind], self.offset))
            extended_size = self._bounded(extended_size, header)
            if kind == PAX_HEADER:
                extended[kind] = self._pax_records(header)
            else:
                extended[kind] = self._extended_data(header).split(b"\0", 1)[0]

    def chunks(self, chunk_size):
        """Yield the current member's data in pieces of at most chunk_size bytes."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive, not %r" % (chunk_size,))
        while self.left:
            data = self._read(min(self.left, chunk_size))
            if not data:
                raise TarFormatError("the archive ends inside a member's data (at byte %d)" % self.offset)
            self.left -= len(data)
            yield data

    def _next_header(self):
        block = self._read(BLOCK)
        if not block or block == ZERO_BLOCK:
            return None  # the end-of-archive block (or the end of the stream right after a member)
        if len(block) < BLOCK:
            raise TarFormatError("the archive ends inside a header (at byte %d)" % self.offset)
        return self._parse(block, self.offset - BLOCK)

    def _take_global(self, header, extended):
        if extended:
            # tarfile applies it to the member it lands in front of only in part: refused, not guessed.
            raise TarFormatError("a global pax header (at byte %d) sits between a member's extended headers and "
                                 "the member" % (self.offset - BLOCK))
        self.global_size = self._bounded(self.global_size, header)
        records = self._pax_records(header)
        for key in REFUSED_GLOBAL_KEYS:
            if key in records:
                raise TarFormatError("a global pax header (before byte %d) sets %r for every member after it: no "
                                     "tar program writes that, and they read it differently" % (self.offset, key))
        self.global_records.update(records)

    def _complete(self, header, extended):
        old_style_dir = header.type == tarfile.AREGTYPE and header.name.endswith("/")
        if extended or self.global_records:
            self._apply_extended(header, extended)
        if header.type == tarfile.AREGTYPE:
            # Old tars mark a directory by the trailing slash only.  tarfile looks for it in the header's own
            # name, GNU tar in the full one: where the two disagree, the member is refused.
            if old_style_dir != header.name.endswith("/"):
                raise TarFormatError("member %r: an old-style member whose names disagree about whether it is a "
                                     "directory" % header.name)
            if old_style_dir:
                header.type = tarfile.DIRTYPE
        if header.isdir():
            header.name = header.name.rstrip("/") or header.name
        elif header.name.endswith("/"):
            # tarfile drops the slash from a pax path, and keeps it in any other name.
            raise TarFormatError("member %r is not a directory, but its name ends with '/'" % header.name)
        if header.type in WITHOUT_DATA and header.size:
            # tarfile skips no data after them, GNU tar skips size bytes after a symlink, FIFO or device: the
            # two would read different members from what follows.
            raise TarFormatError("member %r of type %r claims %d bytes of data, which members of its type do not "
                                 "have: tar programs disagree about whether to skip them"
                                 % (header.name, header.type, header.size))
        self._claim(header.size, header.name)
        return header

    def _apply_extended(self, header, extended):
        """Names, size and time from the member's extended headers and the global pax records."""
        records = extended.get(PAX_HEADER, {})
        if len(extended) > 1:
            _refuse_two_names(extended, records, self.offset)
        merged = dict(self.global_records)
        merged.update(records)
        if GNU_LONG_NAME in extended:
            header.name = _decode(extended[GNU_LONG_NAME])
        if GNU_LONG_LINK in extended:
            header.linkname = _decode(extended[GNU_LONG_LINK])
        if "path" in merged:
            header.name = _decode(merged["path"])
        if "linkpath" in merged:
            header.linkname = _decode(merged["linkpath"])
        if "size" in merged:
            header.size = pax_integer(merged["size"], "size", self.offset, SIZE_MAX)
        if "mtime" in merged:
            header.mtime = pax_time(merged["mtime"], "mtime", self.offset)
        _check_unused_pax_numbers(merged, self.offset)
        if any(key.startswith("GNU.sparse.") for key in merged):
            raise TarFormatError("member %r: GNU sparse files are not supported" % header.name)

    def _parse(self, block, where):
        plain = _PLAIN_NUMBERS.match(block, 100, 156)
        if plain is not None and block[329:345] in _NO_DEVICE:
            size, mtime, checksum = plain.groups()
            size, mtime, checksum = int(size, 8), int(mtime, 8), int(checksum, 8)
        else:
            size, mtime, checksum = _numbers(block, where)
        unsigned = sum(block[:148]) + 256 + sum(block[156:])
        if checksum != unsigned and checksum != unsigned - 256 * _high_bytes(block):
            raise TarFormatError("the header at byte %d has a bad checksum: the archive is damaged" % where)
        name = _field(block[0:100])
        if block[257:263] == USTAR_MAGIC:
            prefix = _field(block[345:500])
            if prefix and not name:
                raise TarFormatError("the header at byte %d has a name prefix but no name" % where)
            if prefix:
                name = prefix + b"/" + name
        elif block[345]:
            # tarfile prefixes the name with these bytes in any header, GNU tar only in ustar ones.
            raise TarFormatError("the header at byte %d has a name prefix but is not a ustar header: tar programs "
                                 "disagree about its name" % where)
        return TarHeader(_decode(name), _decode(_field(block[157:257])), size, mtime, block[156:157])

    def _bounded(self, total, header):
        total += header.size
        if total > EXTENDED_HEADER_MAX:
            raise TarFormatError("extended headers of %d bytes (at byte %d) are implausibly large"
                                 % (total, self.offset))
        return total

    def _claim(self, size, name):
        """Make size bytes, and their padding, the data read next: the check every length passes before a read."""
        padding = -size % BLOCK
        if not 0 <= size <= SIZE_MAX:
            raise TarFormatError("member %r has an impossible size (%r)" % (name, size))
        if self.stream_size is not None and size + padding > self.stream_size - self.offset:
            raise TarFormatError("member %r claims %d bytes of data at byte %d, but the archive holds only %d more"
                                 % (name, size, self.offset, self.stream_size - self.offset))
        self.left, self.padding = size, padding

    def _extended_data(self, header):
        self._claim(header.size, header.name)
        data = b"".join(self.chunks(header.size or 1))
        padding = self._skip_rest()
        if padding != ZERO_BLOCK[:len(padding)]:
            # tarfile reads an extended header's whole last block, GNU tar only its size: tarfile would find more
            # records there, or a longer name (it ends a long name at the first NUL, past the size).
            raise TarFormatError("the padding after an extended header (before byte %d) holds data" % self.offset)
        return data

    def _pax_records(self, header):
        """The records of a pax header's data as {key: raw value}; each record's length is checked before use."""
        data = self._extended_data(header)
        records = {}
        position, end = 0, len(data)
        while position < end and data[position] != 0:  # NUL padding ends the records, as in tarfile
            match = _PAX_RECORD.match(data, position)
            if match is None:
                raise TarFormatError("a pax header (before byte %d) is malformed" % self.offset)
            length = _integer(match.group(1), 10, "pax record length", self.offset, end - position)
            if length < match.end() - position + 1 or data[position + length - 1] != 0x0A:
                raise TarFormatError("a pax header (before byte %d) is malformed: a record's length does not "
                                     "match its end" % self.offset)
            records[_decode(match.group(2))] = data[match.end():position + length - 1]
            position += length
        return records

    def _skip_rest(self):
        """Skip what is left of the current member's data; returns the padding after it."""
        for _chunk in self.chunks(1024 * 1024):
            pass
        padding = b""
        if self.padding:
            padding = self._read(self.padding)
            if len(padding) != self.padding:
                raise TarFormatError("the archive ends inside a member's padding (at byte %d)" % self.offset)
            self.padding = 0
        return padding

    def _read(self, size):
        data = self.source.read(size)
        self.offset += len(data)
        return data


def _check_unused_pax_numbers(records, offset):
    """GNU tar refuses an archive whose pax uid, gid, atime or ctime is not a number: so does this reader."""
    for key in UNUSED_PAX_NUMBERS:
        if key in records:
            pax_integer(records[key], key, offset, ID_MAX)
    for key in UNUSED_PAX_TIMES:
        if key in records:
            pax_time(records[key], key, offset)


def _refuse_two_names(extended, records, offset):
    """tarfile lets whichever of a GNU long name and a pax path comes first win, GNU tar the pax one: refused."""
    for long_kind, key in ((GNU_LONG_NAME, "path"), (GNU_LONG_LINK, "linkpath")):
        if long_kind in extended and key in records:
            raise TarFormatError("a member has both a %s and a pax %s (before byte %d): tar programs disagree "
                                 "about which one counts" % (EXTENDED_NAMES[long_kind], key, offset))


def _decode(raw):
    return raw.decode("utf-8", "surrogateescape")


def _field(raw):
    """A NUL-terminated string field's bytes."""
    end = raw.find(b"\0")
    return raw if end < 0 else raw[:end]


def _numbers(block, where):
    """Every numeric field of a header through header_number(); returns its size, mtime and checksum."""
    for what, start, end, limit in UNUSED_NUMBERS:
        header_number(block[start:end], what, where, limit)
    return (header_number(block[124:136], "size", where, SIZE_MAX),
            header_number(block[136:148], "mtime", where, MTIME_MAX),
            header_number(block[148:156], "checksum", where, NUMBER_MAX))


def header_number(raw, what, where, limit):
    """A header's numeric field, as GNU tar and tarfile both read it, or TarFormatError.

    Octal digits, after optional spaces and before optional spaces, up to the first NUL (the bytes after it are
    ignored, as both do; no digits at all is 0); or base-256, a first byte 0x80 and the value in the others.
    A first byte 0xff is a negative base-256 number, refused like every negative number.
    """
    if raw[:1] == b"\x80":
        return _within(int.from_bytes(raw[1:], "big"), what, where, limit)
    digits = _field(raw).strip(b" ")
    if digits:
        return _integer(digits, 8, what, where, limit)
    if raw and not raw.strip(b" "):
        # No NUL and no digit: GNU tar refuses ("Blanks in header"), tarfile reads 0.
        raise TarFormatError("a %s field holds only blanks (near byte %d): the archive is damaged" % (what, where))
    return 0


def pax_integer(raw, what, where, limit):
    """A pax record's decimal integer (digits only, at most limit), or TarFormatError."""
    return _integer(raw, 10, "pax %s" % what, where, limit)


def pax_time(raw, what, where):
    """A pax time: decimal seconds, optionally with a fraction; never negative (no backup file predates 1970)."""
    seconds, dot, fraction = raw.partition(b".")
    value = _integer(seconds, 10, "pax " + TIME_NAMES[what], where, MTIME_MAX)
    if not dot:
        return float(value)
    if not fraction or fraction.strip(_DECIMAL_DIGITS) or len(fraction) > FRACTION_DIGITS_MAX:
        raise TarFormatError("a pax header's %s %r (before byte %d) is not a plausible time (decimal seconds, at "
                             "most %d digits after the point)"
                             % (TIME_NAMES[what], _shown(raw), where, FRACTION_DIGITS_MAX))
    return float(raw)


def _integer(digits, base, what, where, limit):
    """The door every number of a header or pax record passes: digits of base only, and at most limit.

    int() would also take a sign, '0o', '_', surrounding whitespace and non-ASCII digits; a negative size
    made chunks() read the whole stream at once.  A string of more digits than any bound has is refused before
    int() spends quadratic time on it (and before Python 3.11's 4300-digit limit raises ValueError).
    """
    allowed = _OCTAL_DIGITS if base == 8 else _DECIMAL_DIGITS
    if not digits or digits.strip(allowed):
        raise _not_a_number(digits, allowed, what, where)
    if len(digits) > _DIGITS_MAX and len(digits.lstrip(b"0")) > _DIGITS_MAX:
        raise TarFormatError("a %s field holds a number of %d digits (near byte %d): the archive is damaged or "
                             "was made to mislead" % (what, len(digits), where))
    value = int(digits, base)
    return value if value <= limit else _within(value, what, where, limit)


def _not_a_number(digits, allowed, what, where):
    if digits[:1] == b"-" and digits[1:] and not digits[1:].strip(allowed):
        return TarFormatError("a %s field holds %r (near byte %d), a negative number: the archive is damaged or "
                              "was made to mislead" % (what, _shown(digits), where))
    return TarFormatError("a %s field holds %r (near byte %d), not a number: the archive is damaged or not a tar "
                          "archive" % (what, _shown(digits), where))


def _within(value, what, where, limit):
    """value, or TarFormatError when it is above limit."""
    if value > limit:
        raise TarFormatError("a %s of %d (near byte %d) is more than %d: the archive is damaged or was made to "
                             "mislead" % (what, value, where, limit))
    return value


def _shown(raw):
    """The start of a field for a message, as text."""
    return raw[:40].decode("ascii", "backslashreplace")


def _high_bytes(block):
    """Bytes above 127 outside the checksum field: old tars summed them as signed chars."""
    return sum(1 for byte in block[:148] if byte > 127) + sum(1 for byte in block[156:] if byte > 127)
