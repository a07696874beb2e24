"""UnIT: division approximations, NumPy reference kernels, thresholds, calibration."""
