"""How the AR highway should read its lags under RevIN: levels, or deviations from the window mean.

The linear start of a forecasting trial (cells.autoregressive.start_at_least_squares) is the
ridge fit of the training windows with the network at zero. Under RevIN the zeroed network
forecasts the window's mean, and the highway adds a linear function of the last p steps:

    level     y = mean + W x_last + b            (the highway reads standardised levels)
    centred   y = mean + W (x_last - mean) + b   (it reads the window's deviations from its mean)
    scaled    y = mean + W (x_last - mean) + b s (RLinear's full instance normalisation, s the
                                                  window's std; Li et al. 2023)

Each is fitted by leave-one-out ridge over the product's penalties on the training windows and
scored on the validation windows (the choice), then refitted on training + validation and scored
on the test windows. Series marked * are outside benchmarks/suite.py's table: only there is the
test column more than a report. Splits, windows and standardisation are the product's
(search.data.splits). The last column is the plain fit without RevIN, the level reading with the
training mean as base.

    python benchmarks/highway_level.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import aeon.datasets as aeon_data
import numpy as np
from sklearn.linear_model import RidgeCV

# The project's `cells` package, not benchmarks/cells.py beside this script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

from cells.autoregressive import RIDGE_ALPHAS  # noqa: E402
from search.data.splits import series_bounds, windows  # noqa: E402

# name: (loader, window, horizon, test size): the suite's settings for its three series, and
# the same kinds of setting (a season of input or two, a season ahead or one step) for the rest.
SERIES = {
    "Airline": (aeon_data.load_airline, 24, 12, 12),
    "Lynx": (aeon_data.load_lynx, 20, 1, 0.2),
    "ShampooSales": (aeon_data.load_shampoo_sales, 12, 1, 0.2),
    "PBS_dataset*": (aeon_data.load_PBS_dataset, 24, 1, 0.2),
    "solar*": (aeon_data.load_solar, 24, 1, 0.2),
    "Uschange*": (lambda: aeon_data.load_uschange()[0], 8, 1, 0.2),
}
LAGS = (4, 12, 24)
READINGS = ("level", "centred", "scaled")


def features(x: np.ndarray, lags: int, reading: str):
    """(features, base the fit's target is taken from, fit an intercept?) for windows x (n, T)."""
    last = x[:, -lags:]
    mean = x.mean(axis=1, keepdims=True)
    if reading == "level":
        return last, mean, True
    if reading == "centred":
        return last - mean, mean, True
    std = x.std(axis=1, keepdims=True) + 1e-5
    return np.concatenate([last - mean, std], axis=1), mean, False


def mse(fit_on, score_on, lags: int, reading: str, scale: float) -> float:
    f, base, intercept = features(fit_on[0], lags, reading)
    fit = RidgeCV(alphas=RIDGE_ALPHAS, fit_intercept=intercept).fit(f, fit_on[1] - base)
    f, base, _ = features(score_on[0], lags, reading)
    return float(np.mean(((fit.predict(f) + base - score_on[1]) * scale) ** 2))


def plain_mse(fit_on, score_on, lags: int, scale: float) -> float:
    fit = RidgeCV(alphas=RIDGE_ALPHAS).fit(fit_on[0][:, -lags:], fit_on[1])
    return float(np.mean(((fit.predict(score_on[0][:, -lags:]) - score_on[1]) * scale) ** 2))


def main() -> None:
    columns = " ".join(f"{name:>10}" for name in (*READINGS, "no revin"))
    print(f"{'series':14} {'lags':>4} {'split':>5} {columns}")
    for name, (load, window, horizon, test_size) in SERIES.items():
        values = np.asarray(load(), dtype="float64").ravel()  # aeon 1.6 warns of its loaders' end
        train_end, val_end = series_bounds(len(values), test_size, 0.2, window, horizon, name)
        mean, std = values[:train_end].mean(), values[:train_end].std()
        z = ((values - mean) / std)[:, None]
        parts = {
            "train": (0, train_end),
            "val": (train_end, val_end),
            "pool": (0, val_end),
            "test": (val_end, len(values)),
        }
        split = {}
        for part, (start, end) in parts.items():
            x, y = windows(z, 1, window, horizon, start, end)
            split[part] = (x[:, :, 0], y[:, :, 0])
        for lags in (lag for lag in LAGS if lag <= window):
            for scored, fitted in (("val", "train"), ("test", "pool")):
                fit_on, score_on = split[fitted], split[scored]
                row = [mse(fit_on, score_on, lags, reading, std) for reading in READINGS]
                row.append(plain_mse(fit_on, score_on, lags, std))
                print(f"{name:14} {lags:>4} {scored:>5} " + " ".join(f"{v:>10.4g}" for v in row))


if __name__ == "__main__":
    main()
