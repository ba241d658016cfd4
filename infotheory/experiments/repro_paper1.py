"""Reproduce targets of the first paper ("Improving Adversarial Robustness: An Information-Theoretic
Perspective"). Cheap to import: the targets import torch when they run."""

from __future__ import annotations

TARGETS: dict[str, tuple[str, str]] = {
    "table1": (
        "infotheory.experiments.paper1_tables:table1",
        "I(X';T') and adversarial accuracy, IB vs IB+adv, beta 1e-1/1e-2/1e-3, FGSM/BIM/PGD",
    ),
    "table2": (
        "infotheory.experiments.paper1_tables:table2",
        "IB vs CE, with and without FGSM adversarial training, seven attacks (MNIST)",
    ),
    "table3": (
        "infotheory.experiments.paper1_tables:table3",
        "Table 2 on CIFAR-10 (needs --data cifar10:PATH)",
    ),
    "fig1": (
        "infotheory.experiments.paper1_figures:fig1",
        "beta sweep: I(X;T), I(Y;T), benign and adversarial accuracy",
    ),
    "fig2": (
        "infotheory.experiments.paper1_figures:fig2",
        "oblivious vulnerability per epoch against the Lipschitz bound and I(X;T)",
    ),
    "fig3": (
        "infotheory.experiments.paper1_figures:fig3",
        "transferability between models sharing an encoder vs L and tau (Theorem 4)",
    ),
    "fig4": (
        "infotheory.experiments.paper1_figures:fig4",
        "feature entropy (MLE, JVHW) against robustness for adversarial-training ratios",
    ),
}
