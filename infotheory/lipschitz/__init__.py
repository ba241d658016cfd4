"""Lipschitz constants of networks: spectral norms of dense and convolutional layers, network upper
bounds, empirical lower bounds, stochastic-encoder bounds and certified radii.

Dense numerics run on the compiled ``spectral`` kernels and never import torch at module import
time; functions that take ``nn.Module`` objects (or need torch convolutions) import torch when
called.
"""

from __future__ import annotations

from ._dense import SpectralNormResult, spectral_norm
from .conv import ConvNormResult, conv_operator_norm

__all__ = ["ConvNormResult", "SpectralNormResult", "conv_operator_norm", "spectral_norm"]
