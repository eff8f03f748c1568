"""``kinema eval``: the WorldBench commands (added to the one CLI by ``kinema.cli``).

kinema eval worldbench --checkpoint DIR --out DIR [--prompts N --seed K --ground-truth --prompting]
kinema eval worldbench --videos DIR --out DIR [--compare OTHER/report.json ...]
kinema eval worldbench --ground-truth --out DIR [--prompts N --seed K]
kinema eval report A/report.json B/report.json ... -o DIR
kinema eval keep BASE_SCORECARD NEW_SCORECARD [--tolerance 0.01] [--min-gain 0.001] [--motion-sigmas 2] [--json OUT]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kinema.errors import KinemaError


def _worldbench(ns: argparse.Namespace) -> int:
    from kinema.eval.report import format_table, load_runs, write_report
    from kinema.eval.worldbench import (
        SuiteArgs,
        attach_fd,
        reference_set,
        run_folder,
        run_ground_truth,
        run_model,
    )

    sources = [x for x in (ns.checkpoint, ns.videos) if x]
    if len(sources) > 1 or not (sources or ns.ground_truth):
        raise KinemaError(
            "pass one of --checkpoint DIR (generate and score), --videos DIR (score a folder) "
            "or --ground-truth (score the suite's own renders)"
        )
    out = Path(ns.out)
    progress = not ns.quiet
    runs = []
    args = SuiteArgs(
        prompts=ns.prompts,
        seed=ns.seed,
        width=ns.width or 64,
        height=ns.height or 64,
        frames=ns.frames or 17,
        fps=ns.fps or 8.0,
    )
    if ns.checkpoint:
        from kinema.pipeline import Pipeline

        pipe = Pipeline.from_pretrained(ns.checkpoint, threads=ns.threads)
        d = pipe.check_inputs("a red circle")  # the model's default size and length
        args = SuiteArgs(
            prompts=ns.prompts,
            seed=ns.seed,
            width=ns.width or d.width,
            height=ns.height or d.height,
            frames=ns.frames or d.frames,
            fps=ns.fps or d.fps,
        )
        runs.append(
            run_model(
                ns.checkpoint,
                args,
                out / "model",
                prompt_form=ns.prompt_form,
                steps=ns.steps,
                guidance=ns.guidance,
                progress=progress,
                pipeline=pipe,
            )
        )
        if ns.prompting:
            from kinema.eval.prompting import format_prompting, run_prompting

            runs[-1]["prompting"] = run_prompting(
                pipe,
                args,
                out / "prompting",
                scenes=ns.prompting_scenes,
                long_seconds=ns.long_seconds,
                long_prompts=1 if ns.long_seconds > 0 else 0,
                steps=ns.steps,
                progress=progress,
                measure=_peak_mb,
            )
            print(format_prompting(runs[-1]["prompting"]))
    elif ns.videos:
        runs.append(run_folder(ns.videos, fps=ns.fps, progress=progress))
    if ns.ground_truth:
        runs.append(run_ground_truth(args, out / "ground_truth", progress=progress))
    if not ns.no_fd and runs and all(r.get("suite") for r in runs):
        args = SuiteArgs(**{**runs[0]["suite"], "seed": args.seed})
        ref = reference_set(args, progress=progress)
        for r in runs:
            if len(r["features"]) >= 2:
                attach_fd(r, ref, f"vs {args.prompts} held-out renders")
    for path in ns.compare or []:
        runs.extend(load_runs(path))
    page = write_report(runs, out)
    print(format_table(runs))
    print(f"wrote {out / 'report.json'} and {page}")
    return 0


def _peak_mb() -> float:
    """This process's peak resident memory so far (MB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _report(ns: argparse.Namespace) -> int:
    from kinema.eval.report import format_table, load_runs, write_report

    runs = [r for p in ns.reports for r in load_runs(p)]
    page = write_report(runs, ns.output)
    print(format_table(runs))
    print(f"wrote {page}")
    return 0


def _keep(ns: argparse.Namespace) -> int:
    import dataclasses
    import json

    from kinema.atomic import atomic_write_text
    from kinema.eval.keep import decide, format_verdict, load_scorecard, paired_bootstrap

    if ns.tolerance < 0:
        raise KinemaError(f"--tolerance must be >= 0, got {ns.tolerance}")
    if ns.min_gain < 0:
        raise KinemaError(f"--min-gain must be >= 0, got {ns.min_gain}")
    if ns.motion_sigmas < 0:
        raise KinemaError(f"--motion-sigmas must be >= 0, got {ns.motion_sigmas}")
    base, new = load_scorecard(ns.base), load_scorecard(ns.new)
    verdict = decide(base, new, ns.tolerance, ns.min_gain, ns.motion_sigmas)
    boot = paired_bootstrap(base, new)
    print(format_verdict(base, new, verdict, boot))
    if ns.json:
        cards = {
            k: {f: v for f, v in dataclasses.asdict(c).items() if f not in ("clips", "motion_clips")}
            for k, c in (("base", base), ("new", new))
        }
        data = {**cards, **dataclasses.asdict(verdict), "bootstrap": boot}
        atomic_write_text(ns.json, json.dumps(data, indent=1) + "\n")
    return 0 if verdict.keep else 1


def add_eval_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``eval worldbench``, ``eval report`` and ``eval keep`` to the CLI's subcommands."""
    ev = sub.add_parser("eval", help="WorldBench: score videos against the procedural world's ground truth")
    ev_sub = ev.add_subparsers(dest="eval_command", required=True, metavar="SUBCOMMAND")
    wb = ev_sub.add_parser(
        "worldbench",
        help="generate (or read) the held-out suite, score it per dimension, write report.json + report.html",
    )
    wb.add_argument("--checkpoint", default=None, help="model folder to generate the suite with")
    wb.add_argument("--videos", default=None, help="a folder in the `kinema world render` layout to score")
    wb.add_argument(
        "--ground-truth", action="store_true", help="also (or only) score the suite's own renders"
    )
    wb.add_argument("--out", required=True, help="output folder (videos, report.json, report.html)")
    wb.add_argument("--prompts", type=int, default=32, help="suite size (default 32)")
    wb.add_argument("--seed", type=int, default=0, help="suite seed (default 0)")
    wb.add_argument(
        "--prompt-form",
        choices=["detailed", "short"],
        default="detailed",
        help="detailed: the scene's detailed caption, scored against its exact truth (default); "
        "short: the short caption, the model expands it, only what it implies is scored",
    )
    wb.add_argument("--width", type=int, default=None, help="default: the model's (64 without a model)")
    wb.add_argument("--height", type=int, default=None)
    wb.add_argument("--frames", type=int, default=None, help="default: the model's (17 without a model)")
    wb.add_argument("--fps", type=float, default=None)
    wb.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    wb.add_argument("--guidance", type=float, default=None)
    wb.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    wb.add_argument(
        "--compare",
        nargs="*",
        default=None,
        metavar="REPORT",
        help="other report.json files (or their folders) to show side by side",
    )
    wb.add_argument("--no-fd", action="store_true", help="skip the Fréchet distance")
    wb.add_argument(
        "--prompting",
        action="store_true",
        help="with --checkpoint: also image/video prompting (fidelity, seams, loops) and minute-long drift",
    )
    wb.add_argument("--prompting-scenes", type=int, default=4, help="scenes per prompting mode (default 4)")
    wb.add_argument(
        "--long-seconds", type=float, default=60.0, help="length of the drift video (0 skips it; default 60)"
    )
    wb.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    wb.set_defaults(func=_worldbench)
    rp = ev_sub.add_parser("report", help="one report page from several report.json files, side by side")
    rp.add_argument("reports", nargs="+", metavar="REPORT", help="report.json files or their folders")
    rp.add_argument("-o", "--output", required=True, help="output folder")
    rp.set_defaults(func=_report)
    kp = ev_sub.add_parser(
        "keep",
        help="the keep rule: does NEW replace BASE as the default? (exit 0 keep, 1 refuse or undecided)",
    )
    kp.add_argument("base", help="scorecard folder of the committed model (scripts/scorecard.sh)")
    kp.add_argument("new", help="scorecard folder of the candidate")
    kp.add_argument(
        "--tolerance", type=float, default=0.01, help="largest drop allowed on one suite (default 0.01)"
    )
    kp.add_argument(
        "--min-gain", type=float, default=0.001,
        help="the mean must rise by more than this; a smaller gain is a tie and keeps BASE (default 0.001)",
    )
    kp.add_argument(
        "--motion-sigmas", type=float, default=2.0,
        help="a motion figure may fall by this many standard errors of its paired change (from the two "
        "probes' clips) before it refuses; 0: no lower at all (default 2)",
    )
    kp.add_argument("--json", default=None, help="also write both cards and the verdict here")
    kp.set_defaults(func=_keep)
