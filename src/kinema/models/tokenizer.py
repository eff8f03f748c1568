"""The built-in tokenizer: a fixed word-level vocabulary with a byte-level fallback.

Nothing to train and nothing to download: the vocabulary is written out below, so token ids never
change under a checkpoint. Any change to the word list or the rules must bump
``TOKENIZER_VERSION`` (a test pins ``vocab_fingerprint()``).

Encoding ``text`` -> ids:

1. Unicode NFKC, lower-case.
2. Split into pieces: runs of letters (``"circle"``, ``"café"``), single digits (``"1"``,
   ``"2"``), and single symbols (``","``, ``"-"``, ``"'"``, ``"☃"``); whitespace separates pieces
   and is dropped. ``"up-left"`` is ``up - left`` and ``"doesn't"`` is ``doesn ' t``.
3. A piece in the vocabulary becomes its id. Any other piece becomes its UTF-8 bytes (one id per
   byte), so every text encodes and nothing is ever unknown. Two byte-encoded pieces in a row are
   separated by the byte of a space, so they decode as two pieces.
4. ``BOS`` first and ``EOS`` last; truncation to ``max_length`` keeps ``BOS ... EOS``. The empty
   text is ``[BOS, EOS]`` (the unconditional prompt of classifier-free guidance).

Id layout: 0 ``PAD``, 1 ``BOS``, 2 ``EOS``, 3-15 reserved, 16-271 the 256 bytes, 272-303 the
ASCII punctuation marks, then the words in the order they are listed.

``decode`` inverts ``encode`` up to the normalisation: it joins pieces with single spaces except
around punctuation that is written attached (``"moves up-left, then stops."``), so
``decode(encode(s)) == s`` for lower-case text written in that canonical spacing (every world
caption, lower-cased, is).
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata

import torch

__all__ = ["TOKENIZER_VERSION", "WordTokenizer", "PAD_ID", "BOS_ID", "EOS_ID", "vocab_fingerprint"]

TOKENIZER_VERSION = "kinema-words-v1"

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
NUM_SPECIAL = 16  # 0-2 used, 3-15 reserved for later special tokens
BYTE_OFFSET = NUM_SPECIAL  # byte b has id 16 + b
PUNCT: tuple[str, ...] = tuple(string.punctuation)  # the 32 ASCII punctuation marks
PUNCT_OFFSET = BYTE_OFFSET + 256
WORD_OFFSET = PUNCT_OFFSET + len(PUNCT)

# Words, one group per line; order fixes the ids (duplicates keep their first place). Only runs of
# letters or single digits: anything else is split by the pre-tokenizer before lookup.
_WORDS = """
a an the this that these those there here some any each every all both either neither no none not
nor only just very too also so such much many more most less least few several other another same own
i me my mine myself you your yours yourself we us our ours ourselves he him his himself she her hers
herself it its itself they them their theirs themselves one ones someone something somebody anyone
anything everyone everything nobody nothing somewhere anywhere everywhere nowhere
who whom whose what which when where why how whether while and or but if because since although
though unless until as than then yet of in on at to from by with without for about into onto over
under above below across along around through between among behind beside besides near far inside
outside beyond toward towards upon off out up down within against after before during past via per
like unlike
is am are was were be been being have has had having do does did doing done will would shall should
can could may might must ought isn aren wasn weren hasn haven hadn doesn don didn won wouldn shouldn
cannot couldn t s ll re ve d m
yes never always often sometimes usually again still already soon now later today tonight tomorrow
yesterday once twice ever even almost nearly quite rather really maybe perhaps please ok okay hello
zero two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand
million billion first second third fourth fifth sixth seventh eighth ninth tenth last next half
quarter double single pair couple dozen multiple number numbers
0 1 2 3 4 5 6 7 8 9
b c e f g h j k l n o p q r u v w x y z
red orange yellow green cyan blue purple pink white black grey gray brown beige slate tan gold golden
silver bronze copper violet magenta teal turquoise navy maroon crimson scarlet amber lime olive indigo
lavender lilac peach coral cream ivory khaki rust emerald azure colour color colours colors coloured
colored colourful colorful light dark pale bright vivid muted deep pastel neon transparent translucent
opaque shiny matte glossy metallic
circle circles square squares triangle triangles star stars hexagon hexagons diamond diamonds
rectangle rectangles oval ovals ellipse polygon pentagon octagon heart hearts cross crescent ring rings
sphere spheres cube cubes cone cylinder pyramid disc disk dot dots line lines curve curves arc spiral
wave waves grid shape shapes object objects pattern patterns stripe stripes striped checker checkered
checkerboard plaid dotted spotted spots texture textures textured mottled smooth rough solid plain
gradient pillar pillars column columns wall walls floor ceiling edge edges corner corners border
centre center middle side sides surface point points rhombus occluder
small smaller smallest large larger largest big bigger biggest tiny little huge giant enormous massive
medium mid sized size sizes tall taller short shorter long longer wide wider narrow thin thick fat
heavy high low full
move moves moved moving movement movements motion motions stay stays stayed staying stop stops stopped
stopping start starts started starting bounce bounces bounced bouncing fall falls fell falling fallen
drop drops dropped dropping rotate rotates rotated rotating rotation spin spins spun spinning turn
turns turned turning grow grows grew growing grown shrink shrinks shrank shrinking shrunk roll rolls
rolled rolling slide slides slid sliding glide glides glided gliding float floats floated floating fly
flies flew flying flown swim swims swam swimming run runs ran running walk walks walked walking jump
jumps jumped jumping hop hops hopping climb climbs climbed climbing crawl crawls crawling drift drifts
drifted drifting shake shakes shaking wobble wobbles wobbling vibrate vibrates vibrating swing swings
swinging sway sways swaying orbit orbits orbiting circling pass passes passed passing enter enters
entered entering leave leaves leaving left exit exits exiting appear appears appeared appearing
disappear disappears disappeared disappearing vanish vanishes vanished emerge emerges emerging hide
hides hiding hidden reappear reappears reappearing come comes came coming go goes went going gone
arrive arrives arriving approach approaches approaching follow follows followed following chase
chases chasing hit hits hitting strike strikes struck striking collide collides collided colliding
collision collisions crash crashes crashed crashing bump bumps bumped bumping touch touches touching
push pushes pushed pushing pull pulls pulled pulling throw throws threw thrown catch catches caught
kick kicks explode explodes exploding explosion burst bursts break breaks breaking broke broken melt
melts melting change changes changed changing become becomes became becoming expand expands expanded
expanding contract contracts stretch stretches squash flash flashes flashing blink blinks glow glows
glowing fade fades fading pulse pulses pulsing flicker flickers accelerate accelerates accelerating
decelerate slows speeds rise rises rose rising sink sinks sinking lift lifts lifted open opens opened
opening close closes closed closing pan pans panned panning zoom zooms zoomed zooming tilt tilts
tilting track tracks tracking dolly look looks looking watch watches watching see sees seen saw show
shows showing shown stand stands standing stood sit sits sitting sat lie lies lying remain remains
remained remaining keep keeps keeping kept hold holds holding carry carries carrying travel travels
travelled traveled travelling traveling head heads heading race races racing dance dances dancing
put puts set sets place placed
right top bottom upper lower front back forward forwards backward backwards ahead upward upwards
downward downwards leftward leftwards rightward rightwards sideways diagonal diagonally horizontal
horizontally vertical vertically straight clockwise counterclockwise anticlockwise counter anti north
south east west away apart together opposite direction directions position positions places location
background backgrounds foreground scene scenes view views distance distant nearby closer
slow slowly slower slowest fast faster fastest quick quickly quicker rapid rapidly swift swiftly gentle
gently gradually suddenly sudden steadily steady smoothly constant speed time times moment seconds
minute minutes hour hours day days night nights morning evening afternoon noon midnight sunrise sunset
dawn dusk begin begins beginning end ends ending finally afterwards meanwhile loop loops repeat repeats
camera cameras shot shots video videos clip clips footage film films movie movies image images picture
pictures photo photograph closeup wide angle angles aerial overhead drone handheld static focus
focused blur blurry blurred sharp depth field cinematic cinematography lens lighting lights shadow
shadows silhouette reflection reflections exposure timelapse lapse macro portrait landscape panorama
panoramic perspective eye level person pov render rendered animation animated cartoon realistic
photorealistic style quality detailed resolution hd
sky skies cloud clouds cloudy sun sunny sunlight moon night rain rainy raining snow snowy snowing wind
windy storm fog foggy mist misty weather water sea ocean lake river stream waterfall beach sand shore
coast island mountain mountains hill hills valley forest forests tree trees wood woods leaf grass
fields meadow flower flowers garden plant plants rock rocks stone stones desert ice fire flame flames
smoke earth ground land road roads street streets path bridge city cities town village building
buildings house houses home room rooms kitchen window windows door doors roof park space planet
planets galaxy universe underwater
animal animals dog dogs cat cats bird birds fish horse horses cow cows pig pigs sheep goat chicken
duck ducks rabbit bear bears lion tiger elephant monkey mouse mice rat snake frog turtle butterfly
bee bees insect spider deer fox wolf whale dolphin shark owl eagle penguin
people man men woman women boy boys girl girls child children kid kids baby family friend friends
group crowd player players dancer dancers driver chef doctor teacher student students worker soldier
robot robots character characters astronaut
face faces hand hands arm arms leg legs foot feet eyes hair mouth nose ear body smile smiles smiling
ball balls box boxes block blocks car cars truck bus train plane airplane boat ship bike bicycle wheel
wheels toy toys table chair bed cup glass bottle book books paper phone computer screen clock lamp key
bag hat shirt dress shoes food apple apples fruit bread cake coffee tea pizza metal wooden plastic
new old young good bad great best better worse beautiful pretty ugly happy sad angry calm busy quiet
loud empty clean dirty wet dry hot cold warm cool soft hard strong weak real different similar simple
complex round flat clear lonely alone
thing things way ways part parts kind kinds type types lot lots area areas piece pieces layer layers
amount bit world
be have say says said make makes made making get gets got take takes took taken give gives gave find
finds think know knows want wants use uses used using try tries tried work works play plays playing
let lets call feel seem seems help talk talks tell ask need needs likes love eat eats eating drink
drinks cook cooking read reads reading write writes writing sing sings singing build builds fill fills
filled cover covers covered lit paint painting draw drawing
"""


def _word_list() -> tuple[str, ...]:
    return tuple(dict.fromkeys(_WORDS.split()))


WORDS: tuple[str, ...] = _word_list()

# Letters (any script) as one piece, single digits, single symbols (underscore included).
_PIECE_RE = re.compile(r"[^\W\d_]+|\d|[^\w\s]|_")
_NO_SPACE_BEFORE = frozenset(".,;:!?)]}%'-/")
_NO_SPACE_AFTER = frozenset("([{$#'-/")


def vocab_fingerprint() -> str:
    """A short hash of the id layout and the word list (store it with checkpoints, compare on load)."""
    h = hashlib.sha256()
    h.update(f"{TOKENIZER_VERSION}|{NUM_SPECIAL}|{''.join(PUNCT)}|".encode())
    h.update("\n".join(WORDS).encode())
    return h.hexdigest()[:16]


class WordTokenizer:
    """Deterministic word-level tokenizer with byte fallback (see the module docstring)."""

    version = TOKENIZER_VERSION
    pad_id, bos_id, eos_id = PAD_ID, BOS_ID, EOS_ID

    def __init__(self) -> None:
        self._ids: dict[str, int] = {p: PUNCT_OFFSET + i for i, p in enumerate(PUNCT)}
        self._ids.update({w: WORD_OFFSET + i for i, w in enumerate(WORDS)})
        self._pieces: dict[int, str] = {i: p for p, i in self._ids.items()}
        self.vocab_size = WORD_OFFSET + len(WORDS)

    # ----------------------------------------------------------------------- text <-> pieces

    @staticmethod
    def pieces(text: str) -> list[str]:
        """Normalise (NFKC, lower-case) and split ``text`` into word, digit and symbol pieces."""
        return _PIECE_RE.findall(unicodedata.normalize("NFKC", text).lower())

    def in_vocab(self, piece: str) -> bool:
        return piece in self._ids

    @staticmethod
    def is_byte(token_id: int) -> bool:
        """Whether ``token_id`` is a byte-fallback token."""
        return BYTE_OFFSET <= token_id < BYTE_OFFSET + 256

    # ----------------------------------------------------------------------- encode / decode

    def encode(self, text: str, max_length: int | None = None) -> list[int]:
        """``[BOS, ..., EOS]`` for ``text`` (any string), at most ``max_length`` ids (>= 2)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        ids = [BOS_ID]
        prev_bytes = False
        for piece in self.pieces(text):
            token = self._ids.get(piece)
            if token is not None:
                ids.append(token)
                prev_bytes = False
                continue
            if prev_bytes:
                ids.append(BYTE_OFFSET + 0x20)
            ids.extend(BYTE_OFFSET + b for b in piece.encode("utf-8"))
            prev_bytes = True
        ids.append(EOS_ID)
        if max_length is not None:
            if max_length < 2:
                raise ValueError(f"max_length must be >= 2 (BOS and EOS), got {max_length}")
            if len(ids) > max_length:
                ids = ids[: max_length - 1] + [EOS_ID]
        return ids

    def decode(self, ids: list[int] | torch.Tensor) -> str:
        """Text of ``ids`` in canonical spacing; special tokens are dropped, byte runs decoded
        as UTF-8 (invalid sequences, e.g. cut by truncation, become U+FFFD)."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        pieces: list[str] = []
        run = bytearray()
        for i in ids:
            if self.is_byte(i):
                run.append(i - BYTE_OFFSET)
                continue
            if run:
                pieces.append(run.decode("utf-8", errors="replace"))
                run.clear()
            if i in self._pieces:
                pieces.append(self._pieces[i])
        if run:
            pieces.append(run.decode("utf-8", errors="replace"))
        out: list[str] = []
        for k, p in enumerate(pieces):
            if k > 0 and not self._attached(pieces, k):
                out.append(" ")
            out.append(p)
        return "".join(out)

    @staticmethod
    def _attached(pieces: list[str], k: int) -> bool:
        """Whether piece ``k`` is written without a space before it."""
        prev, cur = pieces[k - 1], pieces[k]
        if cur in _NO_SPACE_BEFORE or prev in _NO_SPACE_AFTER:
            return True
        if cur.isdigit() and prev.isdigit():
            return True
        return cur.isdigit() and prev in ".,:" and k >= 2 and pieces[k - 2].isdigit()  # 1.5, 10:30

    # ----------------------------------------------------------------------- batches

    def batch(self, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Ids ``(B, L)`` int64 padded with ``PAD`` to the longest text (``L <= max_length``) and
        the mask ``(B, L)`` bool, True on real tokens."""
        rows = [self.encode(t, max_length) for t in texts]
        length = max((len(r) for r in rows), default=2)
        ids = torch.full((len(rows), length), PAD_ID, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.bool)
        for b, r in enumerate(rows):
            ids[b, : len(r)] = torch.tensor(r, dtype=torch.long)
            mask[b, : len(r)] = True
        return ids, mask
