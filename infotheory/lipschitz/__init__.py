"""Lipschitz constants of networks: spectral norms of dense and convolutional layers, network upper
bounds, empirical lower bounds, stochastic-encoder bounds and certified radii.

Dense numerics run on the compiled ``spectral`` kernels and never import torch at module import
time; functions that take ``nn.Module`` objects (or need torch convolutions) import torch when
called.
"""

from __future__ import annotations

from ._dense import SpectralNormResult, spectral_norm
from .conv import ConvNormResult, conv_operator_norm
from .encoder import certified_accuracy, certified_radius, gaussian_encoder_bound
from .network import (
    LayerBound,
    LowerBound,
    NetworkBound,
    lipschitz_lower_bound,
    lipschitz_upper_bound,
    network_bound,
)

__all__ = [
    "ConvNormResult",
    "LayerBound",
    "LowerBound",
    "NetworkBound",
    "SpectralNormResult",
    "certified_accuracy",
    "certified_radius",
    "conv_operator_norm",
    "gaussian_encoder_bound",
    "lipschitz_lower_bound",
    "lipschitz_upper_bound",
    "network_bound",
    "spectral_norm",
]
