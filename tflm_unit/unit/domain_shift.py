"""Realistic input corruptions for domain-shift evaluation.

UnIT prunes at inference time from the actual input, so its skipping adapts
to shifted inputs without retraining; these corruptions (sensor noise,
defocus blur, exposure, camera rotation / misalignment) let the benchmarks
compare it with a dense model, a model fine-tuned on shifted data and a
magnitude-pruned model.  Images are float NHWC (or NHW) in [0, 1]; uint8
images are scaled by 1/255 first.  Every corruption is deterministic for a
seed.
"""
from __future__ import annotations

from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

Corruption = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def _as_float(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    return x.astype(np.float32)


def _spatial_axes(x: np.ndarray) -> Tuple[int, int]:
    """(H, W) axes of a batch: NHW or NHWC."""
    if x.ndim not in (3, 4):
        raise ValueError(f"expected images shaped (N, H, W) or (N, H, W, C), got {x.shape}")
    return 1, 2


def gaussian_noise(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive white noise with standard deviation ``sigma``."""
    return np.clip(x + rng.normal(0.0, sigma, x.shape).astype(np.float32), 0.0, 1.0)


def gaussian_blur(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Defocus-like blur: a Gaussian of ``sigma`` pixels over H and W."""
    from scipy import ndimage

    sigmas = [0.0] * x.ndim
    for axis in _spatial_axes(x):
        sigmas[axis] = sigma
    return ndimage.gaussian_filter(x, sigma=sigmas, mode="nearest").astype(np.float32)


def brightness(x: np.ndarray, delta: float, rng: np.random.Generator) -> np.ndarray:
    """Exposure change: add ``delta`` to every pixel."""
    return np.clip(x + np.float32(delta), 0.0, 1.0)


def rotation(x: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    """Each image rotated by a random angle in [-degrees, degrees]."""
    from scipy import ndimage

    out = np.empty_like(x)
    angles = rng.uniform(-degrees, degrees, len(x))
    for i, angle in enumerate(angles):
        out[i] = ndimage.rotate(x[i], angle, axes=(0, 1), reshape=False, order=1, mode="constant", cval=0.0)
    return np.clip(out, 0.0, 1.0)


def translation(x: np.ndarray, pixels: float, rng: np.random.Generator) -> np.ndarray:
    """Each image shifted by a random offset of up to ``pixels`` in H and W."""
    from scipy import ndimage

    out = np.empty_like(x)
    offsets = rng.uniform(-pixels, pixels, (len(x), 2))
    for i, (dy, dx) in enumerate(offsets):
        shift = [dy, dx] + [0.0] * (x.ndim - 3)
        out[i] = ndimage.shift(x[i], shift, order=1, mode="constant", cval=0.0)
    return out


CORRUPTIONS: Dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise,
    "gaussian_blur": gaussian_blur,
    "brightness": brightness,
    "rotation": rotation,
    "translation": translation,
}

#: Moderate severities for 28x28 / 32x32 images (noise sigma, blur sigma in
#: pixels, brightness offset, max degrees, max pixels).
DEFAULT_SEVERITIES: Dict[str, float] = {
    "gaussian_noise": 0.2,
    "gaussian_blur": 1.0,
    "brightness": 0.3,
    "rotation": 20.0,
    "translation": 3.0,
}


def corrupt(x: np.ndarray, name: str, severity: Optional[float] = None, seed: int = 0) -> np.ndarray:
    """One corruption of a batch of images (float32 in [0, 1])."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; expected one of {sorted(CORRUPTIONS)}")
    level = DEFAULT_SEVERITIES[name] if severity is None else float(severity)
    return CORRUPTIONS[name](_as_float(x), level, np.random.default_rng(seed))


def corrupted_sets(x: np.ndarray, corruptions: Optional[Mapping[str, float]] = None,
                   seed: int = 0) -> Dict[str, np.ndarray]:
    """{"clean": x, name: corrupted x, ...} for the given {name: severity}."""
    chosen = DEFAULT_SEVERITIES if corruptions is None else corruptions
    sets = {"clean": _as_float(x)}
    for k, (name, severity) in enumerate(chosen.items()):
        sets[name] = corrupt(x, name, severity, seed=seed + k)
    return sets


def mixed_corruption(x: np.ndarray, names: Sequence[str] = tuple(DEFAULT_SEVERITIES), seed: int = 0) -> np.ndarray:
    """Each image gets one corruption drawn at random (for fine-tuning on
    shifted data)."""
    rng = np.random.default_rng(seed)
    x = _as_float(x)
    choice = rng.integers(0, len(names), len(x))
    out = np.empty_like(x)
    for k, name in enumerate(names):
        idx = np.flatnonzero(choice == k)
        if idx.size:
            out[idx] = corrupt(x[idx], name, seed=seed + 1 + k)
    return out


def evaluate_under_shift(model, x: np.ndarray, y: np.ndarray, thresholds=None,
                         corruptions: Optional[Mapping[str, float]] = None, seed: int = 0,
                         sets: Optional[Dict[str, np.ndarray]] = None) -> Dict[str, dict]:
    """``evaluate`` on the clean set and on each corrupted copy."""
    from tflm_unit.unit.evaluation import evaluate

    sets = corrupted_sets(x, corruptions, seed) if sets is None else sets
    return {name: evaluate(model, data, y, thresholds=thresholds) for name, data in sets.items()}
