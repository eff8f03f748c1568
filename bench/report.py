"""``bench/RESULTS.md`` and the memory-against-length plot from a ``python -m bench`` result dict."""

from __future__ import annotations

from pathlib import Path

from kinema.atomic import atomic_path, atomic_write_text

__all__ = ["write_markdown", "plot_memory"]


def _f(x: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if x is None else fmt.format(x)


def _transformer_tables(rows: list[dict]) -> list[str]:
    lines: list[str] = []
    for work in dict.fromkeys(r["work"] for r in rows):
        sub = [r for r in rows if r["work"] == work]
        lines += [
            f"### {sub[0]['tokens']} tokens",
            "",
            "| model | params | depth x width | mode | phase | ms | tokens/s | GFLOP | GFLOP/s | MFU | kinema speed-up |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in sub:
            sp = f"**{r['speedup_vs_best_peer']:.2f}x**" if r.get("speedup_vs_best_peer") else ""
            lines.append(
                f"| {r['model']} | {r['params'] / 1e6:.2f} M | {r['depth']} x {r['width']} | {r['mode']} | "
                f"{r['phase']} | {r['ms']:.1f} | {r['tokens_s']:.0f} | {r['gflop']:.2f} | {r['gflops']:.1f} | "
                f"{100 * r['mfu']:.0f}% | {sp} |"
            )
        lines.append("")
    return lines


def vs_fastest_fp32_peer(row: dict, transformers: list[dict]) -> float | None:
    """Fastest peer's fp32 training step over kinema's compiled bf16 step (``row`` from
    ``bench.compiled``), chained through kinema's eager bf16 step in ``transformers``; None if absent."""
    same = [r for r in transformers if r["work"] == row["work"] and r["phase"] == "train"]
    peers = [r["ms"] for r in same if r["model"] != "kinema" and r["mode"] == "fp32"]
    kin = [r["ms"] for r in same if r["model"] == "kinema" and r["mode"] == "bf16"]
    if not peers or not kin:
        return None
    return min(peers) / kin[0] * row["speedup"]


def write_markdown(result: dict, path: str | Path, plot_name: str | None, notes: str = "") -> None:
    """Render ``result`` (the JSON ``python -m bench`` writes) as markdown at ``path`` (atomically)."""
    env = result["env"]
    lines = [
        "# Benchmark results",
        "",
        f"Command: `{env['command']}` ({env['date']}).",
        "",
        f"Machine: {env['cpu']}, {env['cores']} cores; torch {env['torch']}; {env['threads']} torch thread(s) "
        f"for every figure; {env['load']}.",
        "",
        "All speed figures are medians of interleaved runs after warm-up, measured in one process, so "
        "they are ratios within one run: absolute numbers move with the machine's load.",
        "",
    ]
    if notes:
        lines += [notes.strip(), ""]
    m = result.get("machine")
    if m:
        lines += [
            "## Machine limit (matmul)",
            "",
            f"{m['n']}x{m['n']} @ {m['n']}x{m['n']}: float32 default BLAS **{m['fp32_blas']:.1f} GFLOP/s**, "
            f"float32 oneDNN **{m['fp32_onednn']:.1f} GFLOP/s** ({m['fp32_onednn'] / m['fp32_blas']:.2f}x), "
            f"bfloat16 **{m['bf16']:.1f} GFLOP/s** ({m['bf16'] / m['fp32_blas']:.2f}x). float16 is never used "
            "on CPU. MFU below is against the faster float32 path (float32 rows) or bfloat16 (bf16 rows).",
            "",
        ]
    t = result.get("transformers")
    if t:
        lines += [
            "## Transformer vs peers",
            "",
            "Randomly initialised, same latent (16 channels, 5 latent frames, 2x2 patches), same text "
            "(32 tokens x 128, a quarter padding), parameter counts within 10% (depth matched at kinema's "
            "width). forward = inference forward under `no_grad`; train = forward + MSE loss + backward. "
            "GFLOP counted by `torch.utils.flop_counter` (matmuls + attention). `kinema speed-up` = fastest "
            "peer's ms / kinema's ms in the same mode and phase.",
            "",
        ]
        if isinstance(t, dict) and "error" in t:
            lines += [f"Not measured: {t['error']}", ""]
        else:
            lines += _transformer_tables(t)
    d = result.get("default")
    if d:
        lines += [
            "## The default model's own work",
            "",
            "The default model's architecture (preset S at depth 6, 8 latent channels, 128-d text) on its own work: "
            "17x64x64 clips = 80 tokens each; a training step of batch 16 as `kinema train` runs it (bf16 autocast, "
            "compiled in place, text padded to 77 tokens) and a sampler call of batch 2 (prompt + unconditional) as "
            "`kinema generate` runs it (float32, text keys/values encoded once per generation), against every "
            "peer's float32 eager step (how their users run them) at kinema's parameter count (within 10%). "
            "`vs fastest fp32 peer` = the fastest peer's float32 ms over the row's ms; `same precision` = the "
            "fastest peer's ms under the row's precision (bf16 autocast for bf16 rows) over kinema's.",
            "",
        ]
        if "env" in d:  # measured in a run of its own, merged into this result
            e, m = d["env"], d.get("machine") or {}
            lines += [
                f"Measured by `{e['command']}` ({e['date']}, {e['load']})"
                + (f"; matmul peak in that run: float32 {m['fp32_peak']:.1f}, bfloat16 {m['bf16']:.1f} GFLOP/s"
                   if m else "")
                + ".",
                "",
            ]
        if "error" in d:
            lines += [f"Not measured: {d['error']}", ""]
        else:
            lines += [
                "| phase | model | params | depth x width | mode | batch x tokens | ms | tokens/s | GFLOP/s | MFU "
                "| vs fastest fp32 peer | vs fastest peer, same precision |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|",
            ]
            for r in [*d.get("train", []), *d.get("sample", [])]:
                lines.append(
                    f"| {r['phase']} | {r['model']} | {r['params'] / 1e6:.2f} M | {r['depth']} x {r['width']} | "
                    f"{r['mode']} | {r['batch']} x {r['tokens']} | {r['ms']:.1f} | {r['tokens_s']:.0f} | "
                    f"{r['gflops']:.1f} | {_f(None if r['mfu'] is None else 100 * r['mfu'], '{:.0f}%')} | "
                    f"**{r['speedup_vs_fastest_peer_fp32']:.2f}x** | "
                    f"{_f(r.get('speedup_same_precision'), '**{:.2f}x**')} |"
                )
            if "compile_s" in d:
                lines.append(
                    f"\nCompiling the training step took {d['compile_s']:.0f} s (its first two steps, once per bucket shape; "
                    f"less when inductor's on-disk cache already holds the graph); its loss is "
                    f"within {d['compiled_loss_rel_diff']:.1e} (relative) of the eager bf16 step."
                )
            lines.append("")
    c = result.get("compiled")
    if c:
        lines += [
            "## Kinema's training step compiled (`compile = true`)",
            "",
            "The bf16 training step of kinema's DiT eager and under `torch.compile` (in place, `dynamic=False`, "
            "as `kinema train` does), interleaved on the same weights. `vs fastest peer fp32` = the fastest "
            "peer's float32 eager training step (how its users train by default) over kinema's compiled bf16 "
            "step, chained through kinema's eager bf16 step measured with the peers in this run.",
            "",
            "| tokens | eager bf16 ms | compiled bf16 ms | speed-up | compile s | loss rel. diff | grad rel. diff "
            "| vs fastest peer fp32 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        if isinstance(c, dict) and "error" in c:
            lines += [f"Not measured: {c['error']}", ""]
        else:
            for r in c:
                lines.append(
                    f"| {r['tokens']} | {r['eager_ms']:.1f} | {r['compiled_ms']:.1f} | **{r['speedup']:.2f}x** | "
                    f"{r['compile_s']:.0f} | {r['loss_rel_diff']:.1e} | {r['grad_rel_diff']:.1e} | "
                    f"{_f(vs_fastest_fp32_peer(r, t if isinstance(t, list) else []), '**{:.2f}x**')} |"
                )
            lines.append("")
    v = result.get("vae")
    if v:
        lines += [
            "## Autoencoder",
            "",
            "Chunked causal encode/decode (the path kinema uses), fresh process per row; "
            "peak = extra resident memory of encode+decode over the loaded model and input.",
            "",
            "| size | seconds | frames | checkpoint | encode frames/s | decode frames/s | peak MB |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in v:
            if "error" in r:
                lines.append(
                    f"| {r.get('size', '')} | {r.get('seconds', '')} | - | - | - | - | {r['error']} |"
                )
                continue
            lines.append(
                f"| {r['width']}x{r['height']} | {r['seconds']:g} | {r['frames']} | {r['checkpoint']} | "
                f"{r['encode_fps']:.1f} | {r['decode_fps']:.1f} | {r['peak_extra_mb']:.1f} |"
            )
        for size in dict.fromkeys(f"{r['width']}x{r['height']}" for r in v if "error" not in r):
            rs = [r for r in v if "error" not in r and f"{r['width']}x{r['height']}" == size]
            if len(rs) > 1:
                lines.append(
                    f"\n{size}: peak at {rs[-1]['seconds']:g} s = "
                    f"{rs[-1]['peak_extra_mb'] / rs[0]['peak_extra_mb']:.2f}x the peak at {rs[0]['seconds']:g} s."
                )
        lines.append("")
    e = result.get("e2e")
    if e:
        lines += ["## End to end", ""]
        if "error" in e:
            lines += [f"Not measured: {e['error']}", ""]
        else:
            c, a = e["cli"], e.get("api") or {}
            lines += [
                f"`{c['command']}` (model `{e['model']}`): **{c['wall_s']:.1f} s wall**, peak RSS "
                f"**{c['peak_rss_mb']:.0f} MB** (whole process: start-up, imports, load, sample, decode, write).",
                "",
            ]
            if a:
                lines += [
                    f"Through the Python API: {a['frames']} frames, {a['steps']} {a['solver']} steps, guidance "
                    f"{a['guidance']}, {a['tokens']} tokens: **{1e3 * a['step_s']:.0f} ms per step**; "
                    + ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in a["timings"].items()),
                    "",
                ]
    lv = result.get("long")
    if lv:
        lines += ["## Long video", ""]
        if "skipped" in lv:
            lines += [f"Skipped: {lv['skipped']}", ""]
        else:
            lines += [
                f"`Pipeline(...)(prompt, seconds=S)` at 64x64 ({lv['note']}), fresh process per row.",
                "",
                "| seconds | frames | steps | window | wall s | s per video second | ms per step | peak RSS MB |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for r in lv["rows"]:
                if "error" in r:
                    lines.append(f"| {r['seconds']:g} | - | - | - | - | - | - | {r['error']} |")
                    continue
                lines.append(
                    f"| {r['seconds']:g} | {r['frames']} | {r['steps']} | {r['window']} | {r['wall_s']:.1f} | "
                    f"{r['per_video_second_s']:.2f} | {1e3 * r['step_s']:.0f} | {r['peak_rss_mb']:.0f} |"
                )
            lines.append("")
    if plot_name:
        lines += ["## Memory against video length", "", f"![memory vs length]({plot_name})", ""]
    atomic_write_text(path, "\n".join(lines))


def plot_memory(result: dict, path: str | Path) -> bool:
    """Peak memory against video length (autoencoder rows and long-video rows) as a PNG; False if
    there is nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[float, float]]] = {}
    for r in result.get("vae") or []:
        if "error" not in r:
            series.setdefault(f"autoencoder {r['width']}x{r['height']} (extra MB)", []).append(
                (r["seconds"], r["peak_extra_mb"])
            )
    for r in (result.get("long") or {}).get("rows", []):
        if "error" not in r:
            series.setdefault("generation 64x64 (process peak MB)", []).append(
                (r["seconds"], r["peak_rss_mb"])
            )
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for name, pts in series.items():
        xs, ys = zip(*sorted(pts), strict=True)
        ax.plot(xs, ys, marker="o", label=name)
    ax.set_xlabel("video length (s)")
    ax.set_ylabel("peak memory (MB)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("kinema: peak memory against video length")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return True
