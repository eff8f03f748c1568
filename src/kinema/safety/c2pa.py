"""C2PA content credentials for every output (``c2pa-python``), and reading them back.

    sign_file("out.mp4", provenance)          # embeds a signed manifest (mp4, png, gif, jpeg, webp)
    sign_file("out.webm", provenance)         # WebM/MKV cannot embed one: writes out.webm.c2pa
    read_manifest("out.mp4")                  # ManifestReport(state="valid", ...)

The manifest: claim generator ``kinema``; a ``c2pa.actions`` assertion with ``c2pa.created`` and
``digitalSourceType`` ``trainedAlgorithmicMedia`` (IPTC), naming kinema as the software agent;
and an ``org.kinema.generation`` assertion with the model name and version, the SHA-256 of the
prompt (the prompt itself only with ``C2PAConfig.include_prompt``) and the watermark payload.

**Signing credentials.** C2PA needs an ES256 certificate chain: a CA and a signing certificate
with the digitalSignature key usage, the emailProtection extended key usage and an
AuthorityKeyIdentifier (c2pa rejects a self-signed leaf). By default kinema makes a
**development chain** on first use (``dev_credentials``: a local "kinema development CA" and a
signing certificate, P-256, 2 years) under ``$XDG_CONFIG_HOME/kinema/c2pa`` (``~/.config/...``),
written atomically, the key readable by the user only. It is **not trusted** by anyone:
validators report such manifests as signed and intact ("valid") but not "trusted". A deployment
sets ``C2PAConfig.cert`` (PEM: signing certificate followed by its chain) and ``C2PAConfig.key``
(PEM private key) to a certificate from a CA on the C2PA trust list.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import mimetypes
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kinema import __version__
from kinema.atomic import atomic_path, atomic_write_bytes
from kinema.safety.config import C2PAConfig
from kinema.safety.errors import ProvenanceError

if TYPE_CHECKING:
    from kinema.safety.checker import Provenance

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATION_LABEL = "org.kinema.generation"
EMBED_MIME = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".png": "image/png",
    ".gif": "image/gif",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
SIDECAR_SUFFIX = ".c2pa"


# --------------------------------------------------------------------------- credentials


def default_cred_dir() -> Path:
    """``$XDG_CONFIG_HOME/kinema/c2pa`` (default ``~/.config/kinema/c2pa``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kinema" / "c2pa"


def dev_credentials(folder: str | Path | None = None) -> tuple[Path, Path]:
    """The development signing chain (``chain.pem``, ``signer.key``) in ``folder``, made on first
    use: an ES256 CA and a signing certificate (digitalSignature, emailProtection, AKI/SKI).
    **Untrusted**: for development and tests; deployments configure their own certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    root = Path(folder) if folder else default_cred_dir()
    chain_path, key_path = root / "chain.pem", root / "signer.key"
    if chain_path.is_file() and key_path.is_file():
        return chain_path, key_path
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kinema development (untrusted)"),
            ]
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("kinema development CA"))
        .issuer_name(name("kinema development CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("kinema development signer"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=730))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    # the whole folder appears at once (built beside it, then renamed): processes racing on first use
    # (pytest -n 2, several servers) all end up with one consistent chain and key
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        (tmp / "ca.pem").write_bytes(ca.public_bytes(pem))
        fd = os.open(
            tmp / "signer.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
        )  # the private key: owner-only
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (tmp / "chain.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
        (tmp / "README.txt").write_bytes(
            b"kinema DEVELOPMENT C2PA signing chain: untrusted, for development and "
            b"tests only. Deployments set C2PAConfig.cert / C2PAConfig.key to their own certificate.\n"
        )
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, root)  # atomic; fails when another process made the folder first
        except OSError:
            if not (chain_path.is_file() and key_path.is_file()):
                raise ProvenanceError(
                    f"cannot create the development C2PA credentials in {root}: the folder exists without "
                    f"chain.pem/signer.key; remove it or set C2PAConfig.cred_dir"
                ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return chain_path, key_path


def _signer(cfg: C2PAConfig) -> Any:
    import c2pa

    if bool(cfg.cert) != bool(cfg.key):
        raise ProvenanceError(
            "C2PA signing needs both c2pa.cert (PEM chain) and c2pa.key (PEM key), or neither "
            "(the development chain)"
        )
    chain_path, key_path = (
        (Path(cfg.cert), Path(cfg.key)) if cfg.cert else dev_credentials(cfg.cred_dir or None)
    )
    for p in (chain_path, key_path):
        if not p.is_file():
            raise ProvenanceError(f"C2PA credential file {p} does not exist")
    info = c2pa.C2paSignerInfo(
        alg=c2pa.C2paSigningAlg.ES256,
        sign_cert=chain_path.read_bytes(),
        private_key=key_path.read_bytes(),
        ta_url=cfg.tsa_url or None,
    )
    try:
        return c2pa.Signer.from_info(info)
    except c2pa.C2paError as e:
        raise ProvenanceError(
            f"C2PA signer rejected the certificate/key {chain_path}, {key_path}: {e}"
        ) from None


# --------------------------------------------------------------------------- signing


def manifest_definition(prov: Provenance, title: str, mime: str) -> dict:
    """The manifest kinema signs (see the module docstring)."""
    generation: dict[str, Any] = {
        "generator": "kinema",
        "generator_version": __version__,
        "model": prov.model,
        "model_version": prov.version,
        "prompt_sha256": prov.prompt_sha256,
    }
    if prov.prompt is not None:
        generation["prompt"] = prov.prompt
    if prov.payload is not None:
        generation["watermark"] = {"scheme": "kinema-ss32", "payload": f"{prov.payload:08x}"}
    return {
        "claim_generator_info": [{"name": "kinema", "version": __version__}],
        "title": title,
        "format": mime,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "softwareAgent": {"name": "kinema", "version": __version__},
                            "description": f"generated by the kinema model {prov.model} ({prov.version})",
                        }
                    ]
                },
            },
            {"label": GENERATION_LABEL, "data": generation},
        ],
    }


def sign_file(path: str | Path, prov: Provenance, dest: str | Path | None = None) -> Path:
    """Sign ``path`` with a manifest for ``prov``; the signed file goes to ``dest`` (default: in
    place), atomically. Formats C2PA can embed in (mp4/mov, png, gif, jpeg, webp) carry the
    manifest inside; others (WebM, MKV) are copied unchanged and get a ``<dest>.c2pa`` sidecar
    manifest store bound to their bytes. Returns where the manifest lives."""
    import c2pa

    src = Path(path)
    out = Path(dest) if dest is not None else src
    mime = EMBED_MIME.get(src.suffix.lower())
    signer = _signer(prov.c2pa)
    try:
        if mime is not None:
            with (
                c2pa.Builder(manifest_definition(prov, out.name, mime)) as builder,
                open(src, "rb") as f,
                atomic_path(out) as tmp,
                open(tmp, "w+b") as g,
            ):
                builder.sign(signer, mime, f, g)
            return out
        sidecar_mime = mimetypes.guess_type(src.name)[0] or "application/octet-stream"
        with c2pa.Builder(manifest_definition(prov, out.name, sidecar_mime)) as builder:
            builder.set_no_embed()
            with open(src, "rb") as f:
                store = builder.sign(signer, _reader_format(src), f, io.BytesIO())
        if out != src:
            with atomic_path(out) as tmp:
                shutil.copyfile(src, tmp)
        side = out.with_name(out.name + SIDECAR_SUFFIX)
        atomic_write_bytes(side, store)
        return side
    except c2pa.C2paError as e:
        raise ProvenanceError(f"C2PA signing of {src} failed: {e}") from None
    finally:
        signer.close()


def _reader_format(path: Path) -> str:
    """The format string c2pa accepts for hashing a file it cannot embed into (its MIME type when
    c2pa knows it, else the closest container it knows: WebM/MKV are hashed as plain data)."""
    return EMBED_MIME.get(path.suffix.lower(), "application/octet-stream")


# --------------------------------------------------------------------------- reading


@dataclasses.dataclass
class ManifestReport:
    """What ``read_manifest`` found. ``state``: ``"none"`` (no manifest), ``"invalid"`` (signature
    or content hash does not match: tampered), ``"valid"`` (intact, signer not on the trust
    list, e.g. the development chain) or ``"trusted"``. ``generation``: the
    ``org.kinema.generation`` assertion; ``created_by_ai``: the created action declares
    trainedAlgorithmicMedia; ``errors``: the validation failures."""

    state: str
    where: str = ""
    claim_generator: str = ""
    created_by_ai: bool = False
    generation: dict = dataclasses.field(default_factory=dict)
    errors: list[str] = dataclasses.field(default_factory=list)
    manifest: dict = dataclasses.field(default_factory=dict)


def read_manifest(path: str | Path) -> ManifestReport:
    """Read and validate the C2PA manifest of ``path`` (embedded, or its ``.c2pa`` sidecar)."""
    import c2pa

    p = Path(path)
    if not p.is_file():
        raise ProvenanceError(f"{p} does not exist")
    side = p.with_name(p.name + SIDECAR_SUFFIX)
    try:
        if side.is_file():
            with open(p, "rb") as f:
                reader = c2pa.Reader(_reader_format(p), f, side.read_bytes())
            where = str(side)
        else:
            mime = EMBED_MIME.get(p.suffix.lower())
            if mime is None:
                return ManifestReport(state="none")
            with open(p, "rb") as f:
                reader = c2pa.Reader(mime, f)
            where = "embedded"
        with reader:
            store = json.loads(reader.json())
            state_raw = (reader.get_validation_state() or "").lower()
    except c2pa.C2paError as e:
        text = str(e)
        if "ManifestNotFound" in type(e).__name__ or "not found" in text.lower() or "JumbfNotFound" in text:
            return ManifestReport(state="none")
        return ManifestReport(state="invalid", errors=[text])
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    errors = [
        f"{s.get('code')}: {s.get('explanation', '')}"
        for s in store.get("validation_status", []) or []
        if not str(s.get("code", "")).startswith("signingCredential.untrusted")
    ]
    state = (
        "invalid" if state_raw == "invalid" or errors else ("trusted" if state_raw == "trusted" else "valid")
    )
    generation, ai = {}, False
    for a in active.get("assertions", []):
        if a.get("label") == GENERATION_LABEL:
            generation = a.get("data", {})
        if a.get("label", "").startswith("c2pa.actions"):
            ai = ai or any(
                x.get("action") == "c2pa.created" and x.get("digitalSourceType") == TRAINED_ALGORITHMIC_MEDIA
                for x in a.get("data", {}).get("actions", [])
            )
    gen_info = active.get("claim_generator_info") or [{}]
    return ManifestReport(
        state=state,
        where=where,
        claim_generator=str(gen_info[0].get("name", active.get("claim_generator", ""))),
        created_by_ai=ai,
        generation=generation,
        errors=errors,
        manifest=active,
    )
