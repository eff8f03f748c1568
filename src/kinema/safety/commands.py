"""The ``kinema safety`` subcommands (and the top-level ``kinema verify``), added to the one CLI.

kinema safety check-prompt TEXT [TEXT ...]       exit 0 allowed, 1 rejected (category named)
kinema safety verify FILE [--json]               C2PA state, watermark, detector score; exit 0/1/3
kinema verify FILE [--json]                      the same
kinema safety train-prompt [--out FILE]          reproduce data/prompt_classifier.safetensors
kinema safety train-detector DIR [--out FILE]    reproduce data/detector.safetensors from a
                                                 scripts/detector_data.py folder
"""

from __future__ import annotations

import argparse
import json


def _check_prompt(ns: argparse.Namespace) -> int:
    from kinema.safety.prompt import PromptClassifier

    clf = PromptClassifier()
    status = 0
    for text in ns.text:
        found = clf.categories(text)
        if found:
            status = 1
            print(f"rejected: {text!r}: " + "; ".join(f"{c} ({why})" for c, why in found.items()))
        else:
            print(f"allowed: {text!r}")
    return status


def _verify(ns: argparse.Namespace) -> int:
    from kinema.safety.verify import verify_file

    code = 0
    for path in ns.files:
        r = verify_file(path)
        if ns.json:
            print(
                json.dumps(
                    {
                        "path": r.path,
                        "verdict": r.verdict,
                        "c2pa_state": r.c2pa_state,
                        "c2pa": r.c2pa,
                        "watermark": r.watermark,
                        "detector_score": r.detector_score,
                    },
                    indent=2,
                )
            )
        else:
            gen = r.c2pa["generation"]
            print(f"{r.path}: {r.verdict}")
            print(
                f"  C2PA: {r.c2pa_state}"
                + (
                    f" ({r.c2pa['where']}, claim generator {r.c2pa['claim_generator']}, "
                    f"AI-generated: {r.c2pa['created_by_ai']}, model {gen.get('model')} "
                    f"{gen.get('model_version')})"
                    if r.c2pa_state != "none"
                    else ""
                )
            )
            for err in r.c2pa["errors"]:
                print(f"    {err}")
            w = r.watermark
            print(
                "  watermark: "
                + (
                    f"kinema payload {w['payload']} (model id {w['model_id']}, z {w['z']})"
                    if w["marked"]
                    else f"none found (z {w.get('z')})"
                )
            )
            print(f"  detector: P(generated) = {r.detector_score}")
        code = max(code, r.exit_code)
    return code


def _train_prompt(ns: argparse.Namespace) -> int:
    import torch

    from kinema.safety.prompt import WEIGHTS, WEIGHTS_MINILM, train_prompt_classifier

    torch.set_num_threads(ns.threads)
    out = ns.out or (WEIGHTS_MINILM if ns.encoder == "minilm" else WEIGHTS)
    report = train_prompt_classifier(out, seed=ns.seed, encoder=ns.encoder)
    print(json.dumps({k: v for k, v in report.items() if k != "false_positive_examples"}, indent=2))
    print(f"wrote {out}")
    return 0


def _train_detector(ns: argparse.Namespace) -> int:
    import torch

    from kinema.safety.detector import WEIGHTS, train_detector

    torch.set_num_threads(ns.threads)
    report = train_detector(ns.folder, ns.out or WEIGHTS, seed=ns.seed)
    print(json.dumps(report, indent=2))
    print(f"wrote {ns.out or WEIGHTS}")
    return 0


def _add_verify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_verify)


def add_safety_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``kinema safety ...`` and ``kinema verify`` to the CLI's subcommands."""
    safety = sub.add_parser(
        "safety", help="safety and provenance: check prompts, verify files, train classifiers"
    )
    s = safety.add_subparsers(dest="safety_command", required=True, metavar="SUBCOMMAND")
    cp = s.add_parser(
        "check-prompt", help="check prompts against the content policy (exit 1 if any is rejected)"
    )
    cp.add_argument("text", nargs="+", metavar="TEXT")
    cp.set_defaults(func=_check_prompt)
    help_verify = (
        "C2PA credentials, watermark and detector score of files; exit 0 generated, 1 not generated, "
        "3 tampered"
    )
    _add_verify_args(s.add_parser("verify", help=help_verify))
    _add_verify_args(sub.add_parser("verify", help=help_verify))
    tp = s.add_parser("train-prompt", help="train the prompt classifier on the packaged labelled prompts")
    tp.add_argument("--out", default=None, help="weights file (default: the packaged one)")
    tp.add_argument("--seed", type=int, default=0)
    tp.add_argument(
        "--encoder",
        choices=["ngram", "minilm"],
        default="ngram",
        help="features: hashed n-grams (default) or MiniLM sentence embeddings (the minilm extra)",
    )
    tp.add_argument("--threads", type=int, default=1)
    tp.set_defaults(func=_train_prompt)
    td = s.add_parser(
        "train-detector", help="train the generated-video detector on a scripts/detector_data.py folder"
    )
    td.add_argument("folder", metavar="DIR")
    td.add_argument("--out", default=None, help="weights file (default: the packaged one)")
    td.add_argument("--seed", type=int, default=0)
    td.add_argument("--threads", type=int, default=1)
    td.set_defaults(func=_train_detector)
