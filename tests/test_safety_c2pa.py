"""C2PA content credentials: the development chain, manifests embedded in mp4/png/gif and a sidecar
for WebM read back with their fields, a tampered file reads as invalid, and `kinema verify` exit codes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from kinema.cli import main
from kinema.data.video_io import write_video
from kinema.safety import (
    C2PAConfig,
    FrameSafetyConfig,
    Provenance,
    ProvenanceError,
    SafetyChecker,
    SafetyConfig,
)
from kinema.safety.c2pa import TRAINED_ALGORITHMIC_MEDIA, dev_credentials, read_manifest, sign_file
from kinema.safety.checker import sign_output
from kinema.world import render_clip


@pytest.fixture(scope="module")
def cred(tmp_path_factory):
    return tmp_path_factory.mktemp("cred")


def _prov(cred, **kw) -> Provenance:
    c2 = C2PAConfig(cred_dir=str(cred), **kw)
    return Provenance(
        model="world-s",
        version="0.1.0+step500",
        payload=0xC1E3A001,
        prompt_sha256=hashlib.sha256(b"a red circle").hexdigest(),
        prompt="a red circle" if c2.include_prompt else None,
        c2pa=c2,
    )


def _frames() -> np.ndarray:
    return render_clip(0, width=64, height=64, fps=8.0, num_frames=9).frames


def test_dev_chain_is_made_once_with_the_required_extensions(cred):
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    chain, key = dev_credentials(cred)
    assert key.stat().st_mode & 0o777 == 0o600  # the private key is the owner's only
    certs = x509.load_pem_x509_certificates(chain.read_bytes())
    leaf, ca = certs
    assert leaf.issuer == ca.subject and "untrusted" in leaf.subject.rfc4514_string()
    assert (
        ExtendedKeyUsageOID.EMAIL_PROTECTION
        in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert (
        dev_credentials(cred) == (chain, key)
        and x509.load_pem_x509_certificates(chain.read_bytes())[0] == leaf
    )


def test_dev_chain_first_use_race_gives_one_consistent_chain(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    folder = tmp_path / "new" / "c2pa"
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: dev_credentials(folder), range(4)))
    assert len(set(results)) == 1
    chain, key = results[0]
    leaf = x509.load_pem_x509_certificates(chain.read_bytes())[0]
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    assert private.public_key().public_numbers() == leaf.public_key().public_numbers()
    assert sorted(p.name for p in folder.parent.iterdir()) == ["c2pa"]  # no temp folders left


@pytest.mark.parametrize("suffix", [".mp4", ".gif", ".png"])
def test_embedded_manifest_reads_back(tmp_path, cred, suffix):
    path = tmp_path / f"out{suffix}"
    if suffix == ".png":
        Image.fromarray(_frames()[0]).save(path)
    else:
        write_video(path, _frames(), 8.0)
    assert sign_file(path, _prov(cred)) == path
    r = read_manifest(path)
    assert (r.state, r.where, r.claim_generator, r.created_by_ai) == ("valid", "embedded", "kinema", True)
    assert r.generation["model"] == "world-s" and r.generation["model_version"] == "0.1.0+step500"
    assert r.generation["prompt_sha256"] == hashlib.sha256(b"a red circle").hexdigest()
    assert "prompt" not in r.generation  # only the hash unless configured
    assert r.generation["watermark"]["payload"] == "c1e3a001"
    actions = [a for a in r.manifest["assertions"] if a["label"].startswith("c2pa.actions")][0]["data"][
        "actions"
    ]
    assert actions[0]["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA


def test_prompt_included_when_configured_and_webm_sidecar(tmp_path, cred):
    path = tmp_path / "out.webm"
    write_video(path, _frames(), 8.0)
    side = sign_file(path, _prov(cred, include_prompt=True))
    assert side == tmp_path / "out.webm.c2pa" and side.is_file()
    r = read_manifest(path)
    assert r.state == "valid" and r.where == str(side) and r.generation["prompt"] == "a red circle"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert read_manifest(path).state == "invalid"  # the sidecar is bound to the file's bytes


def test_tampered_and_unsigned_files(tmp_path, cred):
    path = tmp_path / "a.mp4"
    write_video(path, _frames(), 8.0)
    sign_file(path, _prov(cred))
    data = bytearray(path.read_bytes())
    data[-200] ^= 0xFF  # inside the video data
    (tmp_path / "t.mp4").write_bytes(bytes(data))
    bad = read_manifest(tmp_path / "t.mp4")
    assert bad.state == "invalid" and bad.errors
    write_video(tmp_path / "plain.mp4", _frames(), 8.0)
    assert read_manifest(tmp_path / "plain.mp4").state == "none"


def test_sign_output_to_dest_and_config_errors(tmp_path, cred):
    src = tmp_path / "src.mp4"
    write_video(src, _frames(), 8.0)
    assert sign_output(src, None, dest=tmp_path / "copy.mp4") is None and (tmp_path / "copy.mp4").is_file()
    sign_output(src, _prov(cred), dest=tmp_path / "signed.mp4")
    assert read_manifest(tmp_path / "signed.mp4").state == "valid" and read_manifest(src).state == "none"
    with pytest.raises(ProvenanceError, match="both c2pa.cert"):
        sign_file(src, _prov(cred, cert=str(tmp_path / "c.pem")))
    with pytest.raises(ProvenanceError, match="does not exist"):
        sign_file(src, _prov(cred, cert=str(tmp_path / "c.pem"), key=str(tmp_path / "k.pem")))


def test_verify_exit_codes(tmp_path, cred, capsys):
    checker = SafetyChecker(
        SafetyConfig(frames=FrameSafetyConfig(enabled=False), c2pa=C2PAConfig(cred_dir=str(cred)))
    )
    frames, prov = checker.finish(_frames(), prompt="a red circle", model="m", version="v")
    out = tmp_path / "gen.mp4"
    write_video(out, frames, 8.0)
    sign_output(out, prov)
    assert main(["verify", str(out)]) == 0
    text = capsys.readouterr().out
    assert "generated" in text and "C2PA: valid" in text and "kinema payload c1e3a001" in text
    plain = tmp_path / "plain.mp4"
    write_video(plain, render_clip(7, width=64, height=64, fps=8.0, num_frames=9).frames, 8.0)
    assert main(["safety", "verify", str(plain), "--json"]) == 1
    assert '"verdict": "not generated"' in capsys.readouterr().out
    data = bytearray(out.read_bytes())
    data[-200] ^= 0xFF
    out.write_bytes(bytes(data))
    assert main(["verify", str(out)]) == 3
    assert main(["verify", str(tmp_path / "missing.mp4")]) == 2


def test_check_prompt_command(capsys):
    assert main(["safety", "check-prompt", "a red circle moves to the right"]) == 0
    assert main(["safety", "check-prompt", "a red circle", "a n-u-d-e woman"]) == 1
    assert "rejected: 'a n-u-d-e woman': sexual" in capsys.readouterr().out
