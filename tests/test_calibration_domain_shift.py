"""Corruptions used for the domain-shift evaluation."""
from __future__ import annotations

import numpy as np
import pytest

from tflm_unit.unit.domain_shift import (CORRUPTIONS, DEFAULT_SEVERITIES, corrupt, corrupted_sets,
                                         mixed_corruption)


def images(n=6, channels=None):
    rng = np.random.default_rng(0)
    shape = (n, 12, 12) if channels is None else (n, 12, 12, channels)
    x = np.zeros(shape, np.float32)
    x[:, 4:8, 3:9] = 0.8
    return np.clip(x + rng.uniform(0, 0.1, shape).astype(np.float32), 0, 1)


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
@pytest.mark.parametrize("channels", [None, 1, 3])
def test_shape_range_and_determinism(name, channels):
    x = images(channels=channels)
    a = corrupt(x, name, seed=5)
    b = corrupt(x, name, seed=5)
    assert a.shape == x.shape and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, x), "the default severity must change the images"


def test_zero_severity_is_identity_for_geometric_and_exposure():
    x = images(channels=1)
    for name in ("brightness", "rotation", "translation", "gaussian_noise"):
        np.testing.assert_allclose(corrupt(x, name, 0.0), x, atol=1e-6)


def test_each_corruption_does_what_it_says():
    x = images(channels=1)
    assert corrupt(x, "brightness", 0.1).mean() > x.mean()
    blurred = corrupt(x, "gaussian_blur", 1.5)
    assert np.abs(np.diff(blurred, axis=2)).mean() < np.abs(np.diff(x, axis=2)).mean()
    noisy = corrupt(x, "gaussian_noise", 0.2)
    assert 0.1 < np.std(noisy - x) < 0.25
    # Rotation about the centre keeps a centred disc where it is.
    yy, xx = np.mgrid[:13, :13]
    disc = ((yy - 6) ** 2 + (xx - 6) ** 2 <= 9).astype(np.float32)[None, :, :, None]
    rotated = corrupt(disc, "rotation", 45.0)[0, :, :, 0]
    assert abs(rotated.sum() - disc.sum()) < 0.1 * disc.sum()
    assert abs((rotated * yy).sum() / rotated.sum() - 6) < 0.3
    assert abs((rotated * xx).sum() / rotated.sum() - 6) < 0.3
    bar = np.zeros((1, 13, 13, 1), np.float32)
    bar[0, 6, 1:12] = 1.0
    turned = corrupt(bar, "rotation", 60.0, seed=0)[0, :, :, 0]
    assert turned[6].sum() < 0.8 * bar[0, 6].sum()  # the bar left its row
    # Translation moves the centre of mass.
    moved = corrupt(x, "translation", 3.0, seed=1)
    cols = np.arange(12)
    assert not np.allclose((moved.sum(axis=(1, 3)) * cols).sum(1), (x.sum(axis=(1, 3)) * cols).sum(1))


def test_uint8_input_is_scaled():
    x = (images(channels=1) * 255).astype(np.uint8)
    out = corrupt(x, "brightness", 0.0)
    np.testing.assert_allclose(out, x / 255.0, atol=1e-6)


def test_sets_and_mixture():
    x = images(n=20, channels=1)
    sets = corrupted_sets(x)
    assert list(sets) == ["clean"] + list(DEFAULT_SEVERITIES)
    mixed = mixed_corruption(x, seed=2)
    assert mixed.shape == x.shape
    np.testing.assert_array_equal(mixed, mixed_corruption(x, seed=2))
    with pytest.raises(ValueError):
        corrupt(x, "fog")
