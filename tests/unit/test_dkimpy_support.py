"""dkimpy's byte/number conversions, replaced by int.to_bytes/from_bytes in
auth/dkimpy_support.py: the same results as a byte-at-a-time conversion."""

from __future__ import annotations

import random

import dkim.crypto

from spoofwatch.auth.dkimpy_support import bytes_to_int, int_to_bytes


def _bytewise(n: int, length: int = -1) -> bytes:
    """Low byte first, then reversed: what dkimpy's loop computes."""
    out = bytearray()
    while length < 0 or len(out) < length:
        out.append(n & 0xFF)
        n >>= 8
        if length < 0 and n == 0:
            break
    return bytes(reversed(out))


def test_the_conversions_are_the_ones_dkimpy_uses() -> None:
    assert dkim.crypto.int2str is int_to_bytes
    assert dkim.crypto.str2int is bytes_to_int


def test_numbers_to_bytes_as_byte_by_byte() -> None:
    rng = random.Random(3)
    cases = [(0, -1), (0, 4), (255, -1), (256, -1), (1 << 2047, 256), (1 << 2048, 256),
             (12345, 1)]
    cases += [(rng.getrandbits(rng.randint(1, 4096)), rng.choice((-1, 256, 512)))
              for _ in range(300)]
    for n, length in cases:
        assert bytes(int_to_bytes(n, length)) == _bytewise(n, length), (n, length)


def test_bytes_to_numbers_big_endian() -> None:
    rng = random.Random(4)
    for _ in range(300):
        data = rng.randbytes(rng.randint(0, 300))
        expected = 0
        for byte in data:
            expected = (expected << 8) | byte
        assert bytes_to_int(data) == expected
        assert bytes_to_int(bytearray(data)) == expected
