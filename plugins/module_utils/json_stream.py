# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Read a large JSON file piece by piece: backup.json (backup_json.py) and the manifest (manifest.py).

Both files grow with the number of documents; json.load would hold all of it (and its objects) at once.
Scanner walks the objects and arrays and hands each value inside them to the json module, so only one
value's text is in memory at a time.

An archive may have been made to hurt: every value (and every key) is read with a bound on the length of its
JSON text, checked while the text is read, so a 200 MB string is refused after a chunk beyond its bound,
never held whole.  The caller passes the bound a field allows and where the value sits (ValueTooLong says
both); values without a bound of their own get MAX_VALUE_CHARS.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

SCAN_CHUNK = 1 << 16
# Any single value: the OCR text of a document version of thousands of pages fits, with room to spare.
MAX_VALUE_CHARS = 64 * 1024 * 1024
# An object key: a field name, or in the manifest a member name.
MAX_KEY_CHARS = 64 * 1024
_WHITESPACE = re.compile(r"[ \t\r\n]*")


class ValueTooLong(ValueError):
    """A value's JSON text is longer than its bound; where names the value (a path such as users[0].username)."""

    def __init__(self, where, limit):
        super(ValueTooLong, self).__init__("%s is longer than %d characters of JSON text" % (where or "a value", limit))
        self.where = where
        self.limit = limit


def json_chars(max_chars):
    """The longest JSON text of a string of max_chars characters: each may be escaped as a surrogate pair
    (12 characters, '\\ud83d\\ude00'), plus the quotes."""
    return 12 * max_chars + 2


def _cut_short(error, size):
    """Whether a decoding error may only mean that the value goes on after the buffer's end."""
    message = getattr(error, "msg", "")
    # An unterminated string is reported where it starts; anything else cut short, near the end of the text.
    return message.startswith("Unterminated string") or getattr(error, "pos", size) >= size - 12


class Scanner:
    """Just enough of an incremental JSON reader: objects and arrays are walked here, and each value inside
    them is decoded by the json module, with only that value's text in memory."""

    def __init__(self, handle, chunk=None):
        self.handle = handle
        self.chunk = chunk or SCAN_CHUNK
        self.buffer = ""
        self.pos = 0
        self.dropped = 0    # characters before the buffer, already consumed
        self.eof = False
        self.decoder = json.JSONDecoder()

    @property
    def offset(self):
        """Characters of the text consumed so far."""
        return self.dropped + self.pos

    def _more(self, size=None):
        if self.eof:
            return False
        if self.pos > 0:
            self.buffer = self.buffer[self.pos:]
            self.dropped += self.pos
            self.pos = 0
        data = self.handle.read(size or self.chunk)
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def peek_value(self):
        found = self.peek()
        if found == "":
            raise ValueError("the text ends in the middle of the data (truncated?)")
        return found

    def peek(self):
        while True:
            self.pos = _WHITESPACE.match(self.buffer, self.pos).end()
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._more():
                return ""

    def expect(self, char):
        found = self.peek()
        if found != char:
            raise ValueError("expected %r, found %r" % (char, found or "the end"))
        self.pos += 1

    def value(self, limit=None, where=None):
        """The next value, decoded; ValueTooLong when its JSON text is longer than limit characters
        (MAX_VALUE_CHARS by default), refused before more than a chunk beyond limit is read."""
        limit = MAX_VALUE_CHARS if limit is None else limit
        self.peek()
        wanted = self.chunk
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.pos)
            except RecursionError:
                raise ValueError("%s is nested too deeply" % (where or "a value"))
            except ValueError as error:
                # Only a value the buffer cuts short is read on; a malformed one is refused at once.
                if _cut_short(error, len(self.buffer)) and self._read_on(limit, where, wanted):
                    wanted *= 2  # a large value: read in growing steps so that retries stay few
                    continue
                raise
            # A number that ends exactly at the end of the buffer may go on in the next chunk.
            if end == len(self.buffer) and self._read_on(limit, where, wanted):
                continue
            if end - self.pos > limit:
                raise ValueTooLong(where, limit)
            self.pos = end
            return value

    def _read_on(self, limit, where, wanted):
        """Read more of the value being decoded, unless it is already longer than limit."""
        held = len(self.buffer) - self.pos
        if held > limit:
            raise ValueTooLong(where, limit)
        return self._more(min(wanted, limit + 1 - held + self.chunk))

    def object_keys(self, where=None):
        """Walk an object: yield each key with the position at its value, which the caller consumes."""
        self.expect("{")
        if self.peek_value() == "}":
            self.pos += 1
            return
        while True:
            key = self.value(MAX_KEY_CHARS, "a key of %s" % where if where else "an object key")
            if not isinstance(key, str):
                raise ValueError("an object key must be a string, found %r" % (key,))
            self.expect(":")
            yield key
            if not self._separator("}"):
                return

    def array_items(self):
        """Walk an array: yield each item's index with the position at the item, which the caller consumes."""
        self.expect("[")
        if self.peek_value() == "]":
            self.pos += 1
            return
        index = 0
        while True:
            self.peek_value()
            yield index
            index += 1
            if not self._separator("]"):
                return

    def _separator(self, closing):
        found = self.peek()
        self.pos += 1
        if found == closing:
            return False
        if found != ",":
            raise ValueError("expected ',' or %r, found %r" % (closing, found or "the end"))
        return True

    def expect_end(self):
        if self.peek() != "":
            raise ValueError("extra data after the top-level object")
