"""The policy lexicon: terms that reject a prompt on their own, per category (layer 2).

Policy (what each category covers; kinema declines to make these videos):

* ``sexual``: nudity, sexual acts, pornography, fetish content.
* ``sexual_minors``: any sexualised depiction of children or minors. A ``sexual`` term together
  with a minor term (``MINOR_TERMS``) is this category too.
* ``violence``: graphic violence and gore: mutilation, dismemberment, torture, executions,
  massacres, bloody wounds. Weapons, action, war scenes and historic subjects without gore are allowed
  ("a shot of a gun in a museum", "knights in a sword fight").
* ``self_harm``: suicide and self-injury, its methods and its glorification.
* ``hate``: slurs, calls for violence against or dehumanisation of protected groups, extremist
  propaganda and symbols used as such.
* ``real_person``: depicting identifiable real people (deepfakes, face swaps, named public figures).
* ``mass_harm_weapons``: chemical, biological, radiological and nuclear weapons, and making
  explosives or weapons of mass casualty.

Syntax: terms are written plainly and compared with the normalised prompt (``normalize.variants``,
whole words, so "therapist" never matches "rapist"); a trailing ``*`` matches any word ending
(``masturbat*``); a leading ``!`` also matches the term inside the prompt with every space removed
(catches "n ude", "na-ked" splits) and is used only for terms that cannot occur inside innocent
words. ``EXCEPTIONS`` are phrases removed before matching ("naked eye", "blood orange").
The lexicon is deliberately short and high-precision; the trained classifier (layer 3) covers
paraphrases.
"""

from __future__ import annotations

import functools
import re

from kinema.safety.normalize import dedup, normalize

LEXICON: dict[str, tuple[str, ...]] = {
    "sexual": (
        "!nude",
        "nudes",
        "nudity",
        "!naked",
        "!porn*",
        "!pornographic",
        "sex",
        "sexual",
        "!sexually",
        "having sex",
        "!nsfw",
        "!topless",
        "!bottomless",
        "!blowjob",
        "!handjob",
        "!genital*",
        "!penis*",
        "!vagina*",
        "!boobs",
        "tits",
        "titties",
        "nipple*",
        "!orgasm*",
        "!erotic*",
        "!masturbat*",
        "!hentai",
        "!striptease",
        "!intercourse",
        "!undress*",
        "!lingerie",
        "!onlyfans",
        "!fetish*",
        "!bdsm",
        "!dildo*",
        "!cumshot",
        "!creampie",
        "!threesome",
        "!orgy",
        "orgies",
        "!milf",
        "!camgirl",
        "!sexting",
        "!noods",
        "!noodz",
        "!nudez",
        "!nudist",
        "in the nude",
        "no clothes",
        "without clothes",
        "!unclothed",
        "!rule34",
        "!playboy",
        "!stripclub",
        "!lewd",
        "!horny",
    ),
    "sexual_minors": (
        "!childporn*",
        "!loli",
        "!lolicon",
        "!shota*",
        "!jailbait",
        "!pedo*",
        "!paedo*",
        "cp",
        "!csam",
        "!underage",
        "!preteen*",
    ),
    "violence": (
        "!gore",
        "!gory",
        "!decapitat*",
        "!behead*",
        "!disembowel*",
        "!dismember*",
        "!mutilat*",
        "!eviscerat*",
        "!entrails",
        "!intestines spilling",
        "!torture*",
        "!tortured",
        "!massacre*",
        "!slaughtered",
        "!slaughtering",
        "!bloodbath",
        "!bloody corpse*",
        "corpse",
        "corpses",
        "!dead body",
        "dead bodies",
        "!severed head*",
        "!severed limb*",
        "!execution video",
        "!school shooting",
        "!mass shooting",
        "shooting people",
        "!stabbing",
        "stabbed",
        "!stab him",
        "!stab her",
        "!murdering",
        "!murdered",
        "!killing people",
        "!kill people",
        "!blood splatter*",
        "!brains splattered",
        "!skinned alive",
        "!burned alive",
        "!snuff",
        "!lynching",
        "!impaled",
        "!impaling",
        "!gouged out",
        "!eyes gouged",
        "!flayed",
        "!crucified",
        "!cannibal*",
        "!guts spilling",
        "!bullet wound*",
        "!shot in the head",
        "!blown apart",
    ),
    "self_harm": (
        "!suicide",
        "!suicidal",
        "!selfharm",
        "!self harm",
        "!self injury",
        "!cutting herself",
        "!cutting himself",
        "!cutting myself",
        "!cutting themselves",
        "!slit wrist*",
        "!slitting wrist*",
        "!slits her wrist*",
        "!slits his wrist*",
        "!slit her wrist*",
        "!slit his wrist*",
        "!slit my wrist*",
        "!cut her wrist*",
        "!cut his wrist*",
        "!cut my wrist*",
        "!kill myself",
        "!kill herself",
        "!kill himself",
        "!killing herself",
        "!killing himself",
        "!hanging herself",
        "!hanging himself",
        "!hang myself",
        "!overdos*",
        "!jumping off a bridge to die",
        "!pro ana",
        "!thinspo*",
        "!starve herself",
        "!starving herself",
        "!end my life",
        "!ends his life",
        "!ends her life",
        "razor blade on wrist*",
    ),
    "hate": (
        "!nigger*",
        "!nigga*",
        "!faggot*",
        "!kike",
        "!kikes",
        "!spic",
        "!spics",
        "!wetback*",
        "!tranny",
        "!trannies",
        "!raghead*",
        "!towelhead*",
        "!gook",
        "!gooks",
        "!beaner*",
        "!coons",
        "!retard",
        "!retards",
        "!retarded",
        "!gas the jews",
        "!white power",
        "!white supremac*",
        "!heil hitler",
        "!sieg heil",
        "!nazi propaganda",
        "!swastika flag*",
        "!ethnic cleansing",
        "!race war",
        "!kkk",
        "!ku klux klan",
        "!master race",
        "!subhuman*",
        "!untermensch",
        "!genocide of",
        "!exterminate the",
        "!14 88",
        "!1488",
    ),
    "real_person": (
        "!deepfake*",
        "!deep fake*",
        "!face swap*",
        "!faceswap*",
        "!taylor swift",
        "!joe biden",
        "!donald trump",
        "!barack obama",
        "!michelle obama",
        "!kamala harris",
        "!hillary clinton",
        "!elon musk",
        "!vladimir putin",
        "!xi jinping",
        "!volodymyr zelensky",
        "!zelenskyy",
        "!pope francis",
        "!emma watson",
        "!scarlett johansson",
        "!tom cruise",
        "!keanu reeves",
        "!mark zuckerberg",
        "!bill gates",
        "!kim jong un",
        "!narendra modi",
        "!emmanuel macron",
        "!olaf scholz",
        "!angela merkel",
        "!rishi sunak",
        "!king charles",
        "!beyonce",
        "!rihanna",
        "!kim kardashian",
        "!billie eilish",
        "!ariana grande",
        "!selena gomez",
        "!jennifer lawrence",
        "!greta thunberg",
        "!jeff bezos",
        "!oprah winfrey",
        "!lionel messi",
        "!cristiano ronaldo",
        "!leonardo dicaprio",
        "!morgan freeman",
        "!tom hanks",
        "!justin bieber",
    ),
    "mass_harm_weapons": (
        "!bioweapon*",
        "!biological weapon*",
        "!chemical weapon*",
        "!nerve agent*",
        "!nerve gas",
        "!sarin",
        "!vx gas",
        "!novichok",
        "!mustard gas",
        "!anthrax",
        "!ricin",
        "!smallpox weapon*",
        "!weaponized virus",
        "!weaponised virus",
        "!dirty bomb*",
        "!build a nuke",
        "!make a nuke",
        "!enriched uranium",
        "!weapons grade plutonium",
        "!pipe bomb*",
        "!build a bomb",
        "!make a bomb",
        "!making a bomb",
        "!how to make explosives",
        "!ied",
        "!car bomb*",
        "!suicide vest*",
        "!suicide bomb*",
        "!napalm",
        "!thermite bomb",
        "!molotov cocktail*",
        "!botulinum toxin",
        "!plague weapon",
    ),
}

MINOR_TERMS: tuple[str, ...] = (
    "child",
    "children",
    "kid",
    "kids",
    "minor",
    "minors",
    "teen",
    "teens",
    "teenage",
    "teenager*",
    "boy",
    "boys",
    "girl",
    "girls",
    "schoolgirl*",
    "schoolboy*",
    "toddler*",
    "baby",
    "babies",
    "infant*",
    "young",
    "little",
    "preteen*",
    "underage",
    "juvenile*",
    "student*",
    "daughter*",
    "son",
    "sons",
    "niece*",
    "nephew*",
    "12 year*",
    "13 year*",
    "14 year*",
    "15 year*",
    "16 year*",
    "17 year*",
    "year old",
)

EXCEPTIONS: tuple[str, ...] = (
    "naked eye",
    "naked mole rat",
    "naked mole rats",
    "blue tit",
    "blue tits",
    "great tit",
    "great tits",
    "horny toad",
    "corpse flower",
    "blood orange",
    "blood oranges",
    "blood moon",
    "sex of the",
    "sex of a",
    "essex",
    "sussex",
    "middlesex",
    "murder of crows",
    "a murder of crows",
)


@functools.cache
def _compiled() -> tuple[
    dict[str, tuple[re.Pattern, ...]], dict[str, tuple[str, ...]], re.Pattern, re.Pattern
]:
    """Per category: word-boundary regexes (over all normalised forms) and squashed substrings."""
    words: dict[str, tuple[re.Pattern, ...]] = {}
    squashed: dict[str, tuple[str, ...]] = {}
    for cat, terms in LEXICON.items():
        pats, subs = [], []
        for term in terms:
            strict = term.startswith("!")
            body = term.lstrip("!")
            prefix = body.endswith("*")
            text = normalize(body.rstrip("*"))
            short = dedup(text)
            for form in dict.fromkeys((text, short) if len(short.replace(" ", "")) >= 4 else (text,)):
                tail = r"[a-z0-9]*" if prefix else r"(?:s|es)?"
                pats.append(re.compile(rf"(?<![a-z0-9]){re.escape(form)}{tail}(?![a-z0-9])"))
                if strict and len(form.replace(" ", "")) >= 5:
                    subs.append(form.replace(" ", ""))
        words[cat] = tuple(pats)
        squashed[cat] = tuple(dict.fromkeys(subs))
    minor = "|".join(
        re.escape(normalize(t.rstrip("*"))) + (r"[a-z0-9]*" if t.endswith("*") else "") for t in MINOR_TERMS
    )
    minor_re = re.compile(rf"(?<![a-z0-9])(?:{minor})(?![a-z0-9])")
    exc = "|".join(sorted((re.escape(normalize(e)) for e in EXCEPTIONS), key=len, reverse=True))
    exc_re = re.compile(rf"(?<![a-z0-9])(?:{exc})(?![a-z0-9])")
    return words, squashed, minor_re, exc_re


def match(forms: tuple[str, ...]) -> dict[str, str]:
    """Categories the lexicon finds in the normalised ``forms`` of a prompt -> the matched text.

    A sexual term with a minor term (``MINOR_TERMS``) also yields ``sexual_minors``.
    """
    words, squashed, minor_re, exc_re = _compiled()
    hits: dict[str, str] = {}
    for form in forms:
        clean = exc_re.sub(" ", form)
        flat = clean.replace(" ", "")
        bounds = _word_bounds(clean)
        for cat in LEXICON:
            if cat in hits:
                continue
            for pat in words[cat]:
                m = pat.search(clean)
                if m:
                    hits[cat] = m.group(0)
                    break
            else:
                for sub in squashed[cat]:
                    if _spans_words(flat, bounds, sub):
                        hits[cat] = sub
                        break
        if "sexual" in hits and "sexual_minors" not in hits:
            m = minor_re.search(clean)
            if m:
                hits["sexual_minors"] = f"{hits['sexual']} + {m.group(0)}"
    return hits


def _word_bounds(text: str) -> frozenset[int]:
    """Indices in ``text`` with its spaces removed where a word starts or ends."""
    out, pos = set(), 0
    for word in text.split():
        out.add(pos)
        pos += len(word)
        out.add(pos)
    return frozenset(out)


def _spans_words(flat: str, bounds: frozenset[int], sub: str) -> bool:
    """Whether ``sub`` occurs in ``flat`` starting and ending on word boundaries ("na ked" yes,
    "a snake dances" no)."""
    start = flat.find(sub)
    while start >= 0:
        if start in bounds and start + len(sub) in bounds:
            return True
        start = flat.find(sub, start + 1)
    return False
