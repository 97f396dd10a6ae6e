"""The evaluation report: one self-contained HTML page about a quantised model on a dataset.

Scores (confusion matrix and per-class figures, or RMSE), how the float model, the integer
reference and the generated C agree, how the integer state drifts from float over time,
what the int8 input quantisation clips, and the footprint and instructions per step on
Cortex-M cores. :func:`write_report` writes it; :func:`build_report` returns the figures
for scripts that want them without a page. The plots need matplotlib (the ``report`` extra).
"""

from edgegru.report.build import Appendix, Report, build_report, write_report

__all__ = ["Appendix", "Report", "build_report", "write_report"]
