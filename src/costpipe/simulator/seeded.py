"""Seeded, stateless pseudo-randomness: every value is a hash of the seed and labels.

The simulator never keeps a random stream. A value such as "tokens of the third
burst of stream 7 in the hour starting at t" is ``hash(seed, labels...)``, so any
time window can be computed on its own, in any order, and two simulators with
the same seed agree byte for byte. blake2b is used because it is in the standard
library, keyed (the seed is the key) and stable across Python versions and
platforms, unlike :func:`hash` or :mod:`random`'s algorithms.
"""

from __future__ import annotations

import hashlib
import struct

__all__ = ["SeededHash"]

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_WORDS = struct.Struct("<8I")


class SeededHash:
    """Deterministic values derived from a seed and a sequence of labels."""

    __slots__ = ("_key",)

    def __init__(self, seed: int) -> None:
        self._key = seed.to_bytes(16, "little", signed=True)

    def words(self, *labels: object) -> tuple[int, ...]:
        """Return eight independent uniform 32-bit integers for *labels*."""
        message = "\x1f".join(str(label) for label in labels).encode()
        digest = hashlib.blake2b(message, digest_size=32, key=self._key).digest()
        return _WORDS.unpack(digest)

    def unit(self, *labels: object) -> float:
        """Return a uniform value in ``[0, 1)`` for *labels*."""
        return self.words(*labels)[0] / 2**32

    def below(self, bound: int, *labels: object) -> int:
        """Return a uniform integer in ``[0, bound)`` for *labels* (``bound > 0``)."""
        return self.words(*labels)[0] % bound

    def token(self, length: int, *labels: object) -> str:
        """Return *length* alphanumeric characters, e.g. the tail of a real-looking ID."""
        chars: list[str] = []
        counter = 0
        while len(chars) < length:
            chars.extend(_ALNUM[word % len(_ALNUM)] for word in self.words(*labels, counter))
            counter += 1
        return "".join(chars[:length])
