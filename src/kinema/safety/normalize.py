"""Fold the usual evasions out of a prompt before any policy matching.

``normalize(text)`` applies, in order:

1. Unicode NFKC (fullwidth ``ｎｕｄｅ``, mathematical letters ``𝐧𝐮𝐝𝐞``, ligatures, circled letters),
   then NFKD with combining marks dropped (``nüdé`` -> ``nude``, and stacked "zalgo" marks).
2. Invisible characters removed: zero-width spaces/joiners, soft hyphens, bidi controls and every
   other format character (Unicode category Cf), variation selectors.
3. ``casefold`` (``NUDE``, ``ß`` -> ``ss``).
4. Homoglyphs (``UPPER_CONFUSABLES`` before step 3, ``CONFUSABLES`` after): Cyrillic, Greek,
   Armenian, IPA and other look-alikes of Latin letters -> the Latin letter (``nudе`` with a
   Cyrillic ``е``, ``ΝUDΕ`` with Greek capitals).
5. Leetspeak inside words that contain a letter (``n00d3`` -> ``noode``, ``k1ll`` -> ``kiil`` and
   ``kill``, ``$3x`` -> ``sex``): digits and symbols that stand for letters; a lone number stays.
6. Letters split by spaces, dots, dashes, underscores, stars or other punctuation (``n u d e``,
   ``n.u.d.e``, ``n-u-d-e``) are joined back into one word.
7. Runs of 3+ equal letters shrink to 2 (``nuuuude`` -> ``nuude``); matchers also compare a form
   with every double letter single (``dedup``).

The result is lowercase words of ``[a-z0-9]`` separated by single spaces. ``variants`` returns the
forms the matchers check (the two readings of ``1`` as ``i`` or ``l``, with and without doubles).
"""

from __future__ import annotations

import re
import unicodedata

# look-alikes of Latin letters (after NFKC + casefold); a curated subset of Unicode's confusables
CONFUSABLES: dict[str, str] = {
    # Cyrillic
    "а": "a",
    "в": "b",
    "е": "e",
    "ё": "e",
    "є": "e",
    "г": "r",
    "ԁ": "d",
    "һ": "h",
    "і": "i",
    "ї": "i",
    "ј": "j",
    "к": "k",
    "ӏ": "l",
    "м": "m",
    "н": "h",
    "о": "o",
    "р": "p",
    "с": "c",
    "т": "t",
    "у": "y",
    "х": "x",
    "ѕ": "s",
    "ԛ": "q",
    "ԝ": "w",
    "ь": "b",
    "п": "n",
    "и": "u",
    "л": "n",
    "ц": "u",
    "ш": "w",
    "щ": "w",
    "ү": "y",
    "ҡ": "k",
    "ӧ": "o",
    "ә": "e",
    "ɡ": "g",
    # Greek
    "α": "a",
    "β": "b",
    "γ": "y",
    "δ": "d",
    "ε": "e",
    "η": "n",
    "ι": "i",
    "κ": "k",
    "μ": "u",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "σ": "o",
    "ς": "s",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "ω": "w",
    "ϲ": "c",
    "ϳ": "j",
    "θ": "o",
    "λ": "a",
    "π": "n",
    "ζ": "z",
    "ξ": "e",
    # Armenian, IPA, Latin extensions and symbols that NFKC keeps
    "օ": "o",
    "ս": "u",
    "ո": "n",
    "հ": "h",
    "ց": "g",
    "ɑ": "a",
    "ɒ": "a",
    "ɩ": "i",
    "ı": "i",
    "ȷ": "j",
    "ɪ": "i",
    "ʏ": "y",
    "ʀ": "r",
    "ɴ": "n",
    "ʜ": "h",
    "ᴀ": "a",
    "ʙ": "b",
    "ᴄ": "c",
    "ᴅ": "d",
    "ᴇ": "e",
    "ꜰ": "f",
    "ɢ": "g",
    "ᴊ": "j",
    "ᴋ": "k",
    "ʟ": "l",
    "ᴍ": "m",
    "ᴏ": "o",
    "ᴘ": "p",
    "ꞯ": "q",
    "ꜱ": "s",
    "ᴛ": "t",
    "ᴜ": "u",
    "ᴠ": "v",
    "ᴡ": "w",
    "ᴢ": "z",
    "ø": "o",
    "ð": "d",
    "þ": "p",
    "ł": "l",
    "đ": "d",
    "ħ": "h",
    "ŧ": "t",
    "ƀ": "b",
    "ɨ": "i",
    "ʉ": "u",
    "æ": "ae",
    "œ": "oe",
    "×": "x",
}

# capital look-alikes, mapped before casefold (capital Greek Nu looks like N, its lowercase like v)
UPPER_CONFUSABLES: dict[str, str] = {
    "Α": "a",
    "Β": "b",
    "Ε": "e",
    "Ζ": "z",
    "Η": "h",
    "Ι": "i",
    "Κ": "k",
    "Μ": "m",
    "Ν": "n",
    "Ο": "o",
    "Ρ": "p",
    "Τ": "t",
    "Υ": "y",
    "Χ": "x",
    "А": "a",
    "В": "b",
    "Е": "e",
    "К": "k",
    "М": "m",
    "Н": "h",
    "О": "o",
    "Р": "p",
    "С": "c",
    "Т": "t",
    "Х": "x",
    "У": "y",
    "І": "i",
    "Ј": "j",
    "Ѕ": "s",
    "Ԛ": "q",
    "Ԝ": "w",
}

# leetspeak: symbols and digits that stand for letters inside a word
LEET: dict[str, str] = {
    "0": "o",
    "1": "i",
    "3": "e",
    "4": "a",
    "5": "s",
    "6": "g",
    "7": "t",
    "8": "b",
    "9": "g",
    "@": "a",
    "$": "s",
    "!": "i",
    "|": "l",
    "+": "t",
    "€": "e",
    "£": "l",
    "¢": "c",
    "(": "c",
    "<": "c",
    "ß": "b",
    "¥": "y",
    "%": "x",
}

_INVISIBLE = re.compile(
    "[\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)
_LEET_CHARS = re.escape("".join(LEET))
_TOKEN = re.compile(rf"[a-z0-9{_LEET_CHARS}]+")
# single letters separated by separators (spaces, punctuation): "n u d e", "n.u.d.e", "n-u d_e"
_SPLIT_WORD = re.compile(r"(?<![a-z0-9])(?:[a-z0-9][\s.\-_*,'`~:;/\\^=]+){2,}[a-z0-9](?![a-z0-9])")
_REPEAT3 = re.compile(r"([a-z])\1{2,}")
_REPEAT2 = re.compile(r"([a-z])\1+")


def _fold_unicode(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    text = "".join(UPPER_CONFUSABLES.get(ch, ch) for ch in text).casefold()
    return "".join(CONFUSABLES.get(ch, ch) for ch in text)


def _deleet(token: str, one: str) -> str:
    if not any(ch.isalpha() for ch in token):
        return token  # a plain number ("3 balls") or a lone symbol stays as it is
    return "".join(one if ch == "1" else LEET.get(ch, ch) for ch in token)


def _normalize(text: str, one: str) -> str:
    text = _fold_unicode(text)
    # leetspeak first (so "n.u.d.3" joins as letters), token by token
    text = _TOKEN.sub(lambda m: _deleet(m.group(0), one), text)
    text = _SPLIT_WORD.sub(lambda m: re.sub(r"[^a-z0-9]", "", m.group(0)), text)
    text = re.sub(r"[^a-z0-9]+", " ", text).strip()
    return _REPEAT3.sub(r"\1\1", text)


def normalize(text: str) -> str:
    """The canonical form of ``text``: lowercase ``[a-z0-9]`` words, evasions folded (``1`` read as ``i``)."""
    return _normalize(text, "i")


def dedup(text: str) -> str:
    """``text`` with every run of a repeated letter made single (``kill`` -> ``kil``)."""
    return _REPEAT2.sub(r"\1", text)


def variants(text: str) -> tuple[str, ...]:
    """The normalised forms of ``text`` the matchers check: ``1`` read as ``i`` and as ``l``, each
    also with double letters made single. Duplicates are removed; order is stable."""
    forms: list[str] = []
    for one in ("i", "l"):
        n = _normalize(text, one)
        for f in (n, dedup(n)):
            if f not in forms:
                forms.append(f)
    return tuple(forms)
