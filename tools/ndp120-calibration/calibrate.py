"""Derive the two NDP120 figures Syntiant does not publish from its own MLPerf Tiny v1.0 results on
two workloads other than keyword spotting, so that KWS stays a held-out check:

* the NPU's MAC-array utilization: the value at which milliwatt's modelled latency equals the
  measured one, solved per workload by bisection, combined by geometric mean;
* the NPU's active power (clocks, control, the host-side DSP/M0 loop, the DC/DC converter: all the
  chip draws while the NPU is busy beyond the profile's per-operation energies): per workload
  (measured energy - modelled energy without it) / modelled NPU-busy time, averaged.

Measured (closed/syntiant/results/syntiant_9120_0v9_30mhz, NDP120 at 0.9 V / 30.7 MHz): median
throughput of the performance run and median energy per inference of the energy run.

Usage: calibrate.py MILLIWATT PROFILE.toml MODELS_DIR [KWS_MODEL]
Prints one JSON object; writes nothing.
"""
import json
import math
import re
import subprocess
import sys
import tempfile
from pathlib import Path

MEASURED = {
    # model file: (ms per inference, uJ per inference)
    "ic_resnet8_int8_qdq.onnx": (1e3 / 62.598, 101.833),
    "vww_mobilenetv1_025_int8_qdq.onnx": (1e3 / 78.600, 71.711),
}
NPU_UTILIZATION = re.compile(r"^(utilization = \{ value = )[0-9.eE+-]+", re.M)
NPU_IDLE = re.compile(r"^idle_power_mw = .*$", re.M)
NPU_ACTIVE = re.compile(r"^active_power_mw = .*\n", re.M)


def npu_section(text):
    """(start, end) of the first [[units]] block (the NPU)."""
    start = text.index("[[units]]")
    end = text.index("[[units]]", start + 1)
    return start, end


def variant(base, utilization, active_mw):
    s, e = npu_section(base)
    npu = NPU_ACTIVE.sub("", base[s:e])
    npu = NPU_UTILIZATION.sub(lambda m: f"{m.group(1)}{utilization!r}", npu, count=1)
    line = f"active_power_mw = {{ value = {active_mw!r}, source = \"calibration\" }}"
    npu = NPU_IDLE.sub(lambda m: m.group(0) + "\n" + line, npu, count=1)
    return base[:s] + npu + base[e:]


def evaluate(milliwatt, profile_text, model):
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(profile_text)
    try:
        out = subprocess.run(
            [milliwatt, "energy", str(model), "--hw", f.name, "--json"],
            check=True, capture_output=True, text=True,
        ).stdout
    finally:
        Path(f.name).unlink()
    v = json.loads(out)
    npu_ms = sum(l["latency_ms"] for l in v["layers"] if l["unit"] == "npu")
    return v["energy_per_inference_uj"], v["latency_ms"], npu_ms


def solve_utilization(milliwatt, base, model, target_ms):
    lo, hi = 1e-3, 1.0
    for _ in range(50):
        mid = math.sqrt(lo * hi)
        _, ms, _ = evaluate(milliwatt, variant(base, mid, 0.0), model)
        lo, hi = (mid, hi) if ms > target_ms else (lo, mid)
    return math.sqrt(lo * hi)


def main():
    milliwatt, profile, models = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    kws = sys.argv[4] if len(sys.argv) > 4 else None
    base = profile.read_text()
    per = {}
    for name, (ms, uj) in MEASURED.items():
        per[name] = {"measured_ms": ms, "measured_uj": uj,
                     "utilization": solve_utilization(milliwatt, base, models / name, ms)}
    u = math.exp(sum(math.log(p["utilization"]) for p in per.values()) / len(per))
    u = float(f"{u:.3g}")
    for name, p in per.items():
        e0, ms, npu_ms = evaluate(milliwatt, variant(base, u, 0.0), models / name)
        p.update(model_ms=ms, model_uj_without_active=e0,
                 active_mw=(p["measured_uj"] - e0) / npu_ms)
    active = float(f"{sum(p['active_mw'] for p in per.values()) / len(per):.3g}")
    result = {"utilization": u, "active_power_mw": active, "workloads": per}
    calibrated = variant(base, u, active)
    for name, p in per.items():
        uj, ms, _ = evaluate(milliwatt, calibrated, models / name)
        p.update(calibrated_uj=uj, calibrated_ms=ms)
    if kws:
        uj, ms, _ = evaluate(milliwatt, calibrated, kws)
        result["kws"] = {"uj": uj, "ms": ms, "uj_ratio": uj / 31.5, "ms_ratio": ms / 4.37}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
