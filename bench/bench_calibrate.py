"""Calibrating the twin from recorded shifts: prediction error before and after, parameters recovered.

For each reality-gap set, a shift of `--parts` parts runs across processes (`cellctl shift`, the shipped
learned policies) on a twin that welds as that set's plant (`twin.parameters`), while `cellctl record`
records the welding topics; `cellctl calibrate --bag` then fits the twin to the bag. The peer is the
uncalibrated twin (the models as they are) replayed on the same recording: the ratio is its error over
the calibrated twin's. The truth is the set itself, so every fitted parameter is compared with it.

    python bench/bench_calibrate.py [--parts 10] [--sets near far hot]
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from cell_controller.sim.reality_gap import gap, read_parameters
from cell_controller.testing import REPO, private_cell_file, recorded_shift, twin_as_plant

#: the parameters the welding topics identify (calibrate.NOT_IDENTIFIED names the rest)
IDENTIFIED = ("arc_efficiency_factor", "conductivity_factor", "current_factor", "wire_diameter_error_mm",
              "current_sensor_bias_A", "voltage_sensor_bias_V", "camera_latency_extra_s", "tracker_noise_mm")


def relative_error(fitted: float, truth: float, span: float) -> float:
    """|fitted - truth| relative to the truth, or to the range's span where the truth is 0 (an offset)."""
    return abs(fitted - truth) / (abs(truth) if truth else span)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", type=int, default=10)
    ap.add_argument("--sets", nargs="+", default=["near", "far", "hot"])
    args = ap.parse_args(argv)
    env = {**os.environ, "ROS_DOMAIN_ID": str(random.randrange(100, 230)), "CELL_BUS": "dds"}
    print(f"Per set: a {args.parts}-part shift recorded (`cellctl record`), then `cellctl calibrate --bag`. "
          "Errors: the twin replayed on the recorded commands, per recorded sample (RMSE; and above the sensors' "
          "noise floor). Ratio: uncalibrated over calibrated.\n")
    rows, params = [], []
    ranges = gap("nominal").ranges()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets:
            folder = Path(tmp) / name
            folder.mkdir()
            config = private_cell_file(folder, f"cal_{name}", twin_as_plant(folder, name))
            started = time.monotonic()
            recorded_shift(config, args.parts, folder / "bag", env)
            record_s = time.monotonic() - started
            started = time.monotonic()
            done = subprocess.run([sys.executable, "-m", "cell_controller.cli", "calibrate", "--bag",
                                   str(folder / "bag"), "--config", str(config), "-o", str(folder / "fit.yaml")],
                                  capture_output=True, text=True, env=env, cwd=REPO)
            calibrate_s = time.monotonic() - started
            if done.returncode != 0:
                print(done.stdout + done.stderr, file=sys.stderr)
                return 1
            fit = yaml.safe_load((folder / "fit.yaml").read_text())["calibration"]
            b, a = fit["before"], fit["after"]
            rows.append(f"| {name} | {fit['welds']} | {fit['samples']} | {record_s:.0f} s | {calibrate_s:.0f} s | "
                        f"{b['current_rmse_A']:.2f} -> {a['current_rmse_A']:.2f} A "
                        f"({b['current_rmse_A'] / a['current_rmse_A']:.1f}x) | "
                        f"{b['pool_width_rmse_mm']:.3f} -> {a['pool_width_rmse_mm']:.3f} mm "
                        f"({b['pool_width_rmse_mm'] / a['pool_width_rmse_mm']:.1f}x) | "
                        f"{b['current_excess_A']:.2f} -> {a['current_excess_A']:.2f} A, "
                        f"{b['pool_width_excess_mm']:.3f} -> {a['pool_width_excess_mm']:.3f} mm |")
            truth, fitted = gap(name), read_parameters(folder / "fit.yaml")
            for field in IDENTIFIED:
                low, high = ranges[field]
                t, f = getattr(truth, field), getattr(fitted, field)
                params.append(f"| {name} | {field} | {t:.4g} | {f:.4g} | "
                              f"{100 * relative_error(f, t, high - low):.1f} % |")
    print("| set | welds | samples | record | calibrate | current RMSE (ratio) | pool width RMSE (ratio) "
          "| above the noise floor |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nRecovered parameters (error relative to the truth; to the range's span where the truth is 0):\n")
    print("| set | parameter | truth | fitted | error |")
    print("|---|---|---|---|---|")
    print("\n".join(params))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
