"""The report as one self-contained HTML page: inline CSS, PNGs as data URIs, no scripts.

A page that needs nothing else opens offline, survives being mailed or attached to a
ticket, and cannot phone home. Every string that came from a file (class and channel
names, paths, metadata) passes through :func:`html.escape` on its way in, in the few
helpers below that build cells, captions and paragraphs; the Content-Security-Policy
refuses scripts and remote content even if something slipped through.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence

from edgegru.core.version import __version__
from edgegru.report import plots
from edgegru.report.build import Appendix, Report

METADATA_CHARS = 4000  # of the model's metadata shown; the rest is elided

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 24px auto; padding: 0 16px;
       color: #1d2330; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #d0d5de; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #d0d5de; padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: #eef1f6; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; display: block; margin: 8px 0; }
pre { background: #f5f6f8; padding: 8px; overflow-x: auto; font-size: 0.85em; white-space: pre-wrap; }
.note { color: #5b6270; }
summary { cursor: pointer; margin: 8px 0; }
.ok { color: #17692c; font-weight: 600; }
.bad { color: #b3261e; font-weight: 600; }
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

Cell = str | int | float | None


def _text(value: Cell) -> str:
    """A cell's text, escaped; numbers as given, None as a dash (not measured or 0/0)."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(header: Sequence[str] | None, rows: Sequence[Sequence[Cell]]) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>\n" if header else ""
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if isinstance(c, int | float) else ''}>{_text(c)}</td>" for c in row)
        + "</tr>\n"
        for row in rows
    )
    return f"<table>\n{head}{body}</table>\n"


def _para(text: str, kind: str = "") -> str:
    cls = f' class="{kind}"' if kind else ""
    return f"<p{cls}>{html.escape(text)}</p>\n"


def _image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">\n'


def _percent(share: float | None) -> str | None:
    return None if share is None else f"{100 * share:.1f}%"


def _summary(r: Report) -> str:
    qm, data = r.qmodel, r.data
    lengths = (int(data.lengths.min()), int(data.lengths.max()))
    rows: list[list[Cell]] = [
        ["model", r.model_name],
        ["architecture", qm.describe()],
        ["fingerprint", qm.fingerprint()],
        ["int8 weights", f"{qm.weight_bytes()} bytes"],
        ["float model", r.float_name or "not given: float scores and the state error are left out"],
        ["data", data.source],
        ["task", data.task],
        ["sequences", data.n],
        ["steps", f"{lengths[0]}" if lengths[0] == lengths[1] else f"{lengths[0]} to {lengths[1]}"],
        ["channels", ", ".join(data.channel_names) if data.channel_names else str(data.input_size)],
    ]
    if data.class_names:
        rows.append(["classes in the data", ", ".join(data.class_names)])
    text = json.dumps(qm.metadata, indent=1, ensure_ascii=False, default=str)
    if len(text) > METADATA_CHARS:
        text = text[:METADATA_CHARS] + f"\n… ({len(text) - METADATA_CHARS} more characters)"
    return (
        "<h2>Model and data</h2>\n"
        + _table(None, rows)
        + "<details><summary>Metadata of the quantised model</summary>\n"
        + f"<pre>{html.escape(text)}</pre></details>\n"
    )


def _scores(r: Report) -> str:
    if not r.scores:
        return "<h2>Scores</h2>\n" + _para(
            "The model has no head: its output is the last layer's state, which the data's labels "
            "do not score. The agreement and state figures below still apply.",
            "note",
        )
    if r.classes is not None and r.confusion is not None:
        rows = [[name, _percent(value)] for name, value in r.scores.items()]
        out = "<h2>Accuracy</h2>\n" + _table(["implementation", "accuracy"], rows)
        out += "<h2>Confusion matrix</h2>\n"
        out += _para(
            "Of the int8 model as the integer reference runs it (the generated C computes the same "
            "integers: see the agreement below). Rows are the true classes, shaded by their share."
        )
        names = [c.name for c in r.classes]
        out += _image(plots.confusion_png(r.confusion, names), "confusion matrix")
        out += "<h2>Per class</h2>\n"
        rows = [
            [c.name, c.support, c.predicted, _percent(c.precision), _percent(c.recall), _percent(c.f1)]
            for c in r.classes
        ]
        return out + _table(["class", "cases", "predicted", "precision", "recall", "F1"], rows)
    rows = [[name, value] for name, value in r.scores.items()]
    out = "<h2>RMSE</h2>\n" + _table(["implementation", "RMSE (targets' units)"], rows)
    predicted = {"int8 reference": r.runs.reference}
    if r.runs.float_predictions is not None:
        predicted["float"] = r.runs.float_predictions
    out += "<h2>Predicted against actual</h2>\n"
    return out + _image(plots.predicted_vs_actual_png(r.data.y, predicted), "predicted against actual")


def _agreement(r: Report) -> str:
    out = "<h2>Float, int8 reference and generated C</h2>\n"
    classification = r.classification
    header = "same class" if classification else "RMS difference"
    rows = [
        [f"{c.first} vs {c.second}", _percent(c.value) if classification else c.value]
        for c in r.runs.comparisons(classification)
    ]
    out += _table(["implementations", header], rows)
    verify = r.runs.verify
    if verify is None:
        return out + _para(f"The generated C was not run: {r.runs.c_skipped}.", "note")
    values = verify.states_compared + verify.outputs_compared
    verdict = "bit-exact" if verify.ok else f"{verify.mismatches} values differ"
    out += f'<p>Integer reference vs generated C on the host: <span class="{"ok" if verify.ok else "bad"}">'
    out += f"{html.escape(verdict)}</span>, {values} values compared ({verify.states_compared} hidden-state "
    out += f"values and {verify.outputs_compared} outputs, every step of every sequence).</p>\n"
    if verify.first is not None:
        out += _para(str(verify.first), "bad")
    return out


def _state(r: Report) -> str:
    out = "<h2>Integer state error over time</h2>\n"
    if r.state is None:
        return out + _para(
            "Not computed: it needs the float model (edgegru report ... --float FILE).", "note"
        )
    bits = r.qmodel.state_bits
    out += _para(
        f"|integer state − float state| in real units over every unit of every layer, at the steps "
        f"within each sequence's length (int{bits} state; one step of its grid is {2.0 ** -(bits - 1):.3g})."
    )
    out += _table(["", "over all steps"], [["mean", r.state.overall_mean], ["max", r.state.overall_max]])
    return out + _image(plots.state_error_png(r.state, bits), "state error per step")


def _calibration(r: Report) -> str:
    inq = r.qmodel.input
    out = "<h2>Input calibration</h2>\n"
    out += _para(
        f"Each channel is quantised to int8 as the device does it (scale {inq.scale:.4g} after the model's "
        f"normalisation, zero point {inq.zero_point}); the shaded band is what int8 holds, in the "
        "channel's own units, and values beyond the red lines saturate."
    )
    if len(r.channels) > plots.CHANNELS_DRAWN:
        out += _para(f"The first {plots.CHANNELS_DRAWN} of {len(r.channels)} channels are drawn.", "note")
    out += _image(plots.calibration_png(r.channels), "input histograms per channel")
    rows = [[c.name, c.data_lo, c.data_hi, c.int8_lo, c.int8_hi, _percent(c.clipped)] for c in r.channels]
    return out + _table(["channel", "data min", "data max", "int8 min", "int8 max", "clipped"], rows)


def _cores(r: Report) -> str:
    out = "<h2>Cortex-M footprint and instructions per step</h2>\n"
    if not r.cores:
        return out + _para("No cores asked for (edgegru report ... --cpu cortex-m4).", "note")
    rows: list[list[Cell]] = []
    for core in r.cores:
        fp, count = core.footprint, core.instructions
        rows.append(
            [
                core.cpu,
                None if count is None else count.kernels,
                None if fp is None else f"{fp.flash} = {fp.code} + {fp.constants}",
                None if fp is None else f"{fp.ram} = {fp.state} + {fp.stack}",
                None if count is None else round(count.per_step),
                None if count is None else count.per_mac,
            ]
        )
    header = ["core", "kernels", "flash B: code + constants", "RAM B: state + stack"]
    out += _table([*header, "instr/step", "instr/MAC"], rows)
    out += _para(
        "Flash and RAM from the model's own object file (arm-none-eabi-gcc -Os; RAM is the state plus "
        "the worst-case stack of one step); instructions executed per step counted under unicorn (-O2)."
    )
    skipped = [f"{core.cpu}: {reason}" for core in r.cores for reason in core.skipped]
    return out + "".join(_para(line, "note") for line in skipped)


def _appendix(a: Appendix) -> str:
    out = f"<h2>{html.escape(a.title)}</h2>\n" + "".join(_para(line) for line in a.lines)
    return out + (_image(a.png, a.title) if a.png is not None else "")


def render_page(r: Report) -> str:
    """The whole page for one report."""
    title = f"edgegru report: {r.model_name} on {r.data.source}"
    body = "".join(section(r) for section in (_summary, _scores, _agreement, _state, _calibration, _cores))
    body += "".join(_appendix(a) for a in r.appendices)
    return (
        "<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        + _para(f"Written by edgegru {__version__}.", "note")
        + body
        + "</body>\n</html>\n"
    )
