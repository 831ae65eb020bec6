"""Container ids and readable random names (`adjective_surname`, like Docker's namesgenerator)."""

from __future__ import annotations

import os

_LEFT = ("admiring", "amazing", "bold", "brave", "busy", "calm", "clever", "cool", "dreamy", "eager",
         "ecstatic", "elegant", "epic", "fervent", "festive", "focused", "friendly", "gallant", "gifted",
         "happy", "hopeful", "jolly", "keen", "kind", "lucid", "modest", "nifty", "optimistic", "quirky",
         "relaxed", "serene", "sharp", "stoic", "sweet", "tender", "trusting", "vibrant", "wizardly", "zen")
_RIGHT = ("albattani", "babbage", "banach", "bardeen", "bohr", "curie", "darwin", "dijkstra", "einstein",
          "euclid", "fermat", "feynman", "galois", "gauss", "hamilton", "hopper", "hypatia", "kepler",
          "knuth", "lamarr", "lovelace", "maxwell", "meitner", "newton", "noether", "pascal", "poincare",
          "ritchie", "shannon", "tesla", "thompson", "torvalds", "turing", "wilson", "wozniak", "yalow")


# os.urandom rather than `secrets`: secrets imports hashlib, whose OpenSSL costs every shim ~4 MB.
def new_id() -> str:
    return os.urandom(32).hex()


def _pick(options: tuple[str, ...]) -> str:
    return options[int.from_bytes(os.urandom(4), "big") % len(options)]


def random_name(retry: int = 0) -> str:
    """A random name; after collisions (`retry` > 0) a digit is appended, as Docker does."""
    name = f"{_pick(_LEFT)}_{_pick(_RIGHT)}"
    return f"{name}{int.from_bytes(os.urandom(1), 'big') % 10}" if retry else name
