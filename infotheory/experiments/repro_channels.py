"""Reproduce targets of the second paper (arXiv 2007.14042), discovered by reproduce.py."""

from __future__ import annotations

TARGETS = {
    "fig3-attack": (
        "infotheory.experiments.paper2_figures:fig3_attack",
        "2nd paper Fig. 3: Gaussian attack, min rho^2 (as plotted) and min MI vs D",
    ),
    "fig45": (
        "infotheory.experiments.paper2_figures:fig45",
        "2nd paper Figs. 4/5: attack on X = HU, min MI (bits) vs D, fat and tall H",
    ),
    "fig6": (
        "infotheory.experiments.paper2_figures:fig6",
        "2nd paper Fig. 6: binary attack, exact min MI (nats) vs D, with the paper's grid",
    ),
}
