"""The layout of a fragmented MP4 segment, read from its top-level ISO BMFF boxes (no demuxing).

A segment as the recorder writes it: ``ftyp``, ``moov``, then one ``moof`` + ``mdat`` pair per fragment,
and at a clean close an ``mfra``. After a ``kill -9`` or a power cut the file ends wherever the last write
stopped: inside a box (its header promises more bytes than there are), or in zeros (blocks a file system
had allocated but not yet written when the power went). :func:`scan` finds the end of the last complete
fragment, so that recovery can cut the torn tail off: FFmpeg and players report errors at a torn tail
("Invalid NAL unit size", "missing picture in access unit"), and some refuse the file.

A file laid out in any other way (no ``ftyp`` first, media data outside a fragment, a box that is not
one) is *not understood*: :attr:`Layout.problem` says why, and nothing may be cut from it.
Pure: reads the file, never changes it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Layout:
    size: int  # bytes in the file
    complete_end: int  # where the last complete box ends that leaves no fragment half-written
    fragments: int  # complete moof + mdat pairs
    has_moov: bool
    problem: str = ""  # why the file is not a fragmented MP4 laid out as above ("" when it is)

    @property
    def torn_bytes(self) -> int:
        """Bytes after the last complete fragment (a box cut short, or zeros): safe to cut off."""
        return 0 if self.problem else self.size - self.complete_end

    @property
    def playable(self) -> bool:
        return not self.problem and self.has_moov and self.fragments > 0


def _is_box_type(kind: bytes) -> bool:
    return all(0x20 <= b < 0x7F for b in kind)


def _zeros_to_end(f: BinaryIO, pos: int, size: int) -> bool:
    f.seek(pos)
    while pos < size:
        chunk = f.read(min(_CHUNK, size - pos))
        if not chunk or chunk.strip(b"\0"):
            return False
        pos += len(chunk)
    return True


def scan(f: BinaryIO) -> Layout:
    """Walk the top-level boxes of *f* (a binary file open for reading)."""
    size = f.seek(0, 2)
    pos = complete = fragments = 0
    has_moov = False
    moof_at: int | None = None  # a moof whose mdat has not been seen yet

    def problem(why: str) -> Layout:
        return Layout(size, complete, fragments, has_moov, why)

    while pos < size:
        f.seek(pos)
        head = f.read(16)
        if len(head) < 8:
            break  # a header cut short: the torn tail
        box_size, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if box_size == 1:  # 64-bit size
            if len(head) < 16:
                break
            box_size, header = struct.unpack(">Q", head[8:16])[0], 16
        if (box_size == 0 or kind == b"\0\0\0\0") and _zeros_to_end(f, pos, size):
            break  # zeros to the end of the file: written space that never got its data
        if box_size == 0:
            return problem(f"the box at byte {pos} runs to the end of the file (a size we cannot check)")
        if box_size < header or not _is_box_type(kind):
            return problem(f"no box at byte {pos}")
        if pos == 0 and kind != b"ftyp":
            return problem(f"it starts with {kind.decode('ascii')!r}, not 'ftyp'")
        end = pos + box_size
        if end > size:
            break  # the box being written when the file stopped growing
        if kind == b"moov":
            has_moov = True
        elif kind == b"moof":
            if moof_at is not None:
                return problem(f"the fragment at byte {moof_at} has no media data")
            if not has_moov:
                return problem(f"a fragment at byte {pos} before any 'moov'")
            moof_at = pos
        elif kind == b"mdat":
            if moof_at is None:
                return problem(f"media data at byte {pos} outside a fragment (not a fragmented MP4)")
            fragments += 1
            moof_at = None
        if moof_at is None:
            complete = end
        pos = end
    return Layout(size, complete, fragments, has_moov)
