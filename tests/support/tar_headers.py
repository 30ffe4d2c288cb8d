"""Helpers for tests that doctor tar headers: walk an archive's headers, make a changed header's checksum valid."""

import tarfile

BLOCK = tarfile.BLOCKSIZE
WITHOUT_DATA = (tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.DIRTYPE,
                tarfile.FIFOTYPE)


def header_offsets(raw):
    """[(offset, data blocks)] of an uncompressed tar's headers (extended ones too), as far as they still parse."""
    found, position = [], 0
    while position + BLOCK <= len(raw):
        block = bytes(raw[position:position + BLOCK])
        if block == b'\0' * BLOCK:
            break
        try:
            info = tarfile.TarInfo.frombuf(block, 'utf-8', 'surrogateescape')
        except tarfile.HeaderError:
            break
        blocks = 0 if info.type in WITHOUT_DATA else -(-max(info.size, 0) // BLOCK)
        found.append((position, blocks))
        position += BLOCK * (1 + blocks)
    return found


def fix_checksum(raw, offset=0):
    """Make the checksum of the header at offset of raw (a bytearray) valid again."""
    block = bytearray(raw[offset:offset + BLOCK])
    block[148:156] = b' ' * 8
    block[148:156] = b'%06o\x00 ' % sum(block)
    raw[offset:offset + BLOCK] = block
