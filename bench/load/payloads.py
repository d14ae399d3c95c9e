"""Realistic, compressible payloads for the compression scenarios: chat messages as JSON.

A run of one letter compresses a hundredfold and says nothing about real traffic; these are lists of
chat-message objects (ids, user names, timestamps, a sentence of English words drawn with Zipf-like
frequencies), as a chat app's history page or a batch of room events would carry. Fixed seed: every
server gets the same bytes. The texts are compact JSON (no spaces), as sio's and Node's encoders write.
"""

from __future__ import annotations

import json
import random

_WORD_TEXT = (
    "the of and to a in is you that it he was for on are as with his they I at be this have from or one "
    "had by word but not what all were we when your can said there use an each which she do how their if "
    "will up other about out many then them these so some her would make like him into time has look two "
    "more write go see number no way could people my than first water been call who oil its now find long "
    "down day did get come made may part over new sound take only little work know place year live me back "
    "give most very after thing our just name good sentence man think say great where help through much "
    "before line right too mean old any same tell boy follow came want show also around form three small "
    "set put end does another well large must big even such because turn here why ask went men read need "
    "land different home us move try kind hand picture again change off play spell air away animal house "
    "point page letter mother answer found study still learn should America world meeting tomorrow deploy "
    "server build release ticket review merge branch lunch coffee weekend thanks sounds great agreed sure"
)
_NAME_TEXT = (
    "alice bob carol dave erin frank grace heidi ivan judy mallory nina oscar peggy rupert sybil trent "
    "ursula victor walter xena yusuf zoe"
)
WORDS = _WORD_TEXT.split()
NAMES = _NAME_TEXT.split()
ROOMS = ("general", "random", "dev", "support", "ops", "design")
_WEIGHTS = [1.0 / (rank + 1) for rank in range(len(WORDS))]


def _sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, _WEIGHTS, k=rng.randint(4, 28))
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice((".", ".", ".", "?", "!"))


def _message(rng: random.Random, number: int) -> dict[str, object]:
    user = rng.randrange(len(NAMES))
    message: dict[str, object] = {
        "id": 480_000 + number,
        "room": rng.choice(ROOMS),
        "user": {
            "id": 100 + user,
            "name": NAMES[user],
            "avatar": f"https://cdn.example.com/a/{100 + user}.png",
        },
        "text": _sentence(rng),
        "ts": 1_764_600_000_000 + number * 1_337 + rng.randrange(1000),
        "edited": rng.random() < 0.1,
    }
    if rng.random() < 0.3:
        message["reactions"] = {rng.choice(("+1", "heart", "laugh", "eyes")): rng.randint(1, 5)}
    return message


def chat_payloads(count: int = 64, size: int = 3000, seed: int = 15) -> list[str]:
    """``count`` different JSON texts of just over ``size`` bytes: ``{"room":…, "messages":[…]}``.

    Each is new text (no two share a message), so a compressor keeping its context between messages
    (context takeover, a 32 KiB window) finds the keys and the vocabulary again, not the same payload.
    """
    rng = random.Random(seed)
    texts = []
    number = 0
    for _ in range(count):
        messages: list[dict[str, object]] = []
        while True:
            messages.append(_message(rng, number))
            number += 1
            text = json.dumps({"page": len(texts), "messages": messages}, separators=(",", ":"))
            if len(text) >= size:
                break
        texts.append(text)
    return texts
