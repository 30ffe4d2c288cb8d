# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Read a large JSON file piece by piece: backup.json (backup_json.py) and the manifest (manifest.py).

Both files grow with the number of documents; json.load would hold all of it (and its objects) at once.
Scanner walks the objects and arrays and hands each value inside them to the json module, so only one
value's text is in memory at a time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

SCAN_CHUNK = 1 << 16


class Scanner:
    """Just enough of an incremental JSON reader: objects and arrays are walked here, and each value inside
    them is decoded by the json module, with only that value's text in memory."""

    WHITESPACE = " \t\r\n"

    def __init__(self, handle, chunk=None):
        self.handle = handle
        self.chunk = chunk or SCAN_CHUNK
        self.buffer = ""
        self.pos = 0
        self.eof = False
        self.decoder = json.JSONDecoder()

    def _more(self, size=None):
        if self.eof:
            return False
        if self.pos > 0:
            self.buffer = self.buffer[self.pos:]
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
            while self.pos < len(self.buffer) and self.buffer[self.pos] in self.WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._more():
                return ""

    def expect(self, char):
        found = self.peek()
        if found != char:
            raise ValueError("expected %r, found %r" % (char, found or "the end"))
        self.pos += 1

    def value(self):
        self.peek()
        wanted = self.chunk
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.pos)
            except ValueError:
                if self._more(wanted):
                    wanted *= 2  # a large value: read in growing steps so that retries stay few
                    continue
                raise
            # A number that ends exactly at the end of the buffer may go on in the next chunk.
            if end == len(self.buffer) and self._more(wanted):
                continue
            self.pos = end
            return value

    def object_keys(self):
        """Walk an object: yield each key with the position at its value, which the caller consumes."""
        self.expect("{")
        if self.peek_value() == "}":
            self.pos += 1
            return
        while True:
            key = self.value()
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
