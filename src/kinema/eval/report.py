"""WorldBench reports: ``report.json`` (every run, every clip's scores) and ``report.html``
(a per-dimension table of the runs side by side, a grouped bar chart ``chart.png`` drawn with
PIL, and animated GIF thumbnails of the best and worst clip of each run per dimension).

``write_report([run, ...], out)``: runs are results of ``kinema.eval.worldbench`` (or loaded
``report.json`` files: ``load_runs``), the first is the main one (e.g. the model, then the
ground truth). Every file is written atomically.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from PIL import Image, ImageDraw

from kinema.atomic import atomic_path, atomic_write_text
from kinema.errors import KinemaError
from kinema.eval.scores import DIMENSIONS

REPORT_JSON, REPORT_HTML, CHART_PNG = "report.json", "report.html", "chart.png"
COLOURS = [(52, 101, 164), (204, 102, 0), (78, 154, 6), (117, 80, 123), (164, 0, 0), (193, 125, 17)]


def load_runs(path: str | Path) -> list[dict]:
    """The runs of a ``report.json`` (or a folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / REPORT_JSON
    if not p.is_file():
        raise KinemaError(
            f"no WorldBench report at {p}: pass a report.json written by `kinema eval worldbench`"
        )
    try:
        data = json.loads(p.read_text())
        runs = data["runs"]
        assert isinstance(runs, list) and all("dimensions" in r and "clips" in r for r in runs)
    except (ValueError, KeyError, AssertionError, TypeError):
        raise KinemaError(
            f"{p} is not a WorldBench report.json (expected a 'runs' list with dimensions and clips)"
        ) from None
    return runs


def bar_chart(runs: list[dict], path: str | Path, *, width: int = 900, height: int = 360) -> Path:
    """Grouped bars: one group per dimension, one bar per run (N/A: no bar). PNG, atomic."""
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    left, right, top, bottom = 40, 10, 30, 60
    ph = height - top - bottom
    group = (width - left - right) / len(DIMENSIONS)
    bar = group * 0.8 / max(len(runs), 1)
    for q in range(0, 11, 2):
        y = top + ph * (1 - q / 10)
        draw.line([(left, y), (width - right, y)], fill=(225, 225, 225))
        draw.text((4, y - 6), f"{q / 10:.1f}", fill="black")
    for d, dim in enumerate(DIMENSIONS):
        x0 = left + d * group + group * 0.1
        for r, run in enumerate(runs):
            v = run["dimensions"][dim]["mean"]
            if v is None:
                continue
            x = x0 + r * bar
            draw.rectangle([x, top + ph * (1 - v), x + bar - 1, top + ph], fill=COLOURS[r % len(COLOURS)])
        draw.text((left + d * group + 2, top + ph + 6 + 12 * (d % 2)), dim, fill="black")
    for r, run in enumerate(runs):
        x = left + r * 180
        draw.rectangle([x, 8, x + 10, 18], fill=COLOURS[r % len(COLOURS)])
        draw.text((x + 14, 6), str(run["name"])[:26], fill="black")
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return Path(path)


def _gif(video_path: str, out: Path, scale: int = 2) -> bool:
    """An animated GIF thumbnail of a video (enlarged ``scale`` times); False if it cannot be read."""
    from kinema.data.video_io import read_video

    try:
        frames = read_video(video_path)
    except (KinemaError, OSError):
        return False
    ims = [Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.NEAREST) for f in frames]
    with atomic_path(out) as tmp:
        ims[0].save(tmp, format="GIF", save_all=True, append_images=ims[1:], duration=125, loop=0)
    return True


def _fmt(v: float | None) -> str:
    return "N/A" if v is None else f"{v:.3f}"


def write_report(runs: list[dict], out: str | Path, *, thumbnails: bool = True) -> Path:
    """Write ``report.json``, ``chart.png``, ``thumbs/*.gif`` and ``report.html`` into ``out``."""
    if not runs:
        raise KinemaError("a report needs at least one run")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    slim = [{k: v for k, v in r.items() if k != "reference_videos"} for r in runs]
    atomic_write_text(out / REPORT_JSON, json.dumps({"runs": slim}, indent=1) + "\n")
    bar_chart(runs, out / CHART_PNG)
    e = html.escape
    rows = []
    for dim in DIMENSIONS:
        cells = "".join(
            f"<td>{_fmt(r['dimensions'][dim]['mean'])} <small>({r['dimensions'][dim]['n']})</small></td>"
            for r in runs
        )
        rows.append(f"<tr><th>{dim}</th>{cells}</tr>")
    rows.append(
        "<tr><th>overall</th>" + "".join(f"<td><b>{_fmt(r['overall'])}</b></td>" for r in runs) + "</tr>"
    )
    fd_labels = sorted({k for r in runs for k in (r.get("fd") or {})})
    for label in fd_labels:
        rows.append(
            f"<tr><th>Fréchet distance ({e(label)})</th>"
            + "".join(f"<td>{_fmt((r.get('fd') or {}).get(label))}</td>" for r in runs)
            + "</tr>"
        )
    head = "".join(
        f"<th>{e(str(r['name']))}<br><small>{e(str(r.get('source', '')))}</small></th>" for r in runs
    )
    cases = []
    if thumbnails:
        for dim in DIMENSIONS:
            cells = []
            for ri, r in enumerate(runs):
                scored = [c for c in r["clips"] if c["scores"].get(dim) is not None and c.get("video")]
                if not scored:
                    cells.append("<td>N/A</td>")
                    continue
                ranked = sorted(scored, key=lambda c: c["scores"][dim])
                parts = []
                for tag, c in (("best", ranked[-1]), ("worst", ranked[0])):
                    name = f"thumbs/{ri}_{dim}_{tag}.gif"
                    if _gif(c["video"], out / name):
                        parts.append(
                            f"<figure><img src='{name}' title='{e(c['caption'])}'><figcaption>{tag} "
                            f"{c['scores'][dim]:.2f}<br>{e(c['caption'][:60])}</figcaption></figure>"
                        )
                cells.append("<td>" + "".join(parts) + "</td>")
            cases.append(f"<tr><th>{dim}</th>{''.join(cells)}</tr>")
    names = "".join(f"<th>{e(str(r['name']))}</th>" for r in runs)
    table_rows, case_rows = "".join(rows), "".join(cases)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>WorldBench</title>
<style>body{{font-family:sans-serif;margin:20px}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}
figure{{display:inline-block;margin:2px;width:150px;font-size:11px}} img{{image-rendering:pixelated}}</style>
</head><body>
<h1>WorldBench</h1>
<p>Scores in [0, 1] per dimension (mean over the clips the dimension applies to; their number in
brackets; N/A: no clip exercises it). Method: <code>kinema.eval.scores</code>, <code>kinema.eval.track</code>.</p>
<table><tr><th>dimension</th>{head}</tr>{table_rows}</table>
<p><img src="{CHART_PNG}" alt="scores per dimension"></p>
{_prompting_html(runs)}
<h2>Best and worst clip per dimension</h2>
<table><tr><th>dimension</th>{names}</tr>{case_rows}</table>
</body></html>
"""
    atomic_write_text(out / REPORT_HTML, page)
    return out / REPORT_HTML


def _prompting_html(runs: list[dict]) -> str:
    """The image/video prompting section (``kinema.eval.prompting``) of the runs that have one."""
    from kinema.eval.prompting import format_prompting

    parts = [
        f"<h3>{html.escape(str(r['name']))}</h3><pre>{html.escape(format_prompting(r['prompting']))}</pre>"
        for r in runs
        if r.get("prompting")
    ]
    if not parts:
        return ""
    return (
        "<h2>Image and video prompts, loops, minute-long drift</h2><p>fidelity: PSNR of the decoded given "
        "frames against the given frames; seam ratio: change across a join over the median change between "
        "neighbouring frames (truth seam: the same on the ground truth; for loops, plain text-to-video "
        "clips' last-to-first ratio); overall: mean WorldBench score of the output against the scene's "
        "truth; drift: scores per 10-second window of a generated minute (<code>kinema.eval.prompting</code>)."
        "</p>" + "".join(parts)
    )


def format_table(runs: list[dict]) -> str:
    """The per-dimension table as plain text (what the CLI prints)."""
    names = [str(r["name"])[:18] for r in runs]
    lines = ["dimension    " + "".join(f"{n:>20s}" for n in names)]
    for dim in DIMENSIONS:
        lines.append(
            f"{dim:12s} "
            + "".join(
                f"{_fmt(r['dimensions'][dim]['mean']):>14s} ({r['dimensions'][dim]['n']:3d})" for r in runs
            )
        )
    lines.append(f"{'overall':12s} " + "".join(f"{_fmt(r['overall']):>20s}" for r in runs))
    for label in sorted({k for r in runs for k in (r.get("fd") or {})}):
        lines.append(
            f"{'FD ' + label:12s} " + "".join(f"{_fmt((r.get('fd') or {}).get(label)):>20s}" for r in runs)
        )
    return "\n".join(lines)
