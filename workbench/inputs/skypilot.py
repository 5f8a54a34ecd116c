"""GPU instance prices from a SkyPilot catalog checkout (schema v8: ``catalogs/v8/<cloud>/vms.csv``
of github.com/skypilot-org/skypilot-catalog), turned into rows of ``instances.csv``.

SkyPilot's catalog is the best-kept open source of per-cloud instance prices (on-demand and
spot, updated many times a month); the ``skypilot`` wheel ships none and downloads it at run
time, so the user points at a checkout or a downloaded file instead. Columns are read by
name, because their order differs per cloud. Its traps, handled here:

- rows repeat once per availability zone: one row per instance and region is kept (on-demand
  is the same in every zone; spot is the lowest zone's, said in ``notes``);
- ``700.0`` marks a region where the instance is not offered: such prices are dropped;
- GCP prices the VM without its GPUs: GPU prices are separate rows with an empty
  ``InstanceType``; the GPU rows of the same region are added to the VM's price.

One region per cloud is priced (:data:`DEFAULT_REGION`, or ``region=``); an instance not
offered there is priced in its cheapest region, named in ``notes``. Accelerators that have no
row in ``gpus.csv`` (V100, T4, ...) are left out: the projection could not use them; so are
fractional GPUs (AWS g6f: ``AcceleratorCount`` 0.25), which the projection cannot model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .catalog import CatalogError, merge_rows, read_csv

REQUIRED = ("InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "Region")
UNAVAILABLE = 700.0
DEFAULT_REGION = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus", "lambda": "us-east-1",
                  "oci": "us-ashburn-1", "nebius": "eu-north1"}
CLOUDS = ("aws", "gcp", "azure", "lambda", "runpod", "nebius", "vast", "shadeform", "verda", "oci",
          "cudo", "hyperbolic", "hyperstack", "jarvislabs", "fluidstack", "paperspace", "do",
          "mithril", "seeweb", "lium", "primeintellect", "spheron", "yotta", "daytona")

# SkyPilot accelerator name -> gpus.csv name (PCIe variants are told by the instance name)
GPU_NAMES = {"H100": "H100-SXM", "H100-MEGA": "H100-SXM", "H100-80GB": "H100-SXM", "H200": "H200",
             "B200": "B200", "GB200": "GB200", "A100-80GB": "A100-80GB", "A100": "A100-40GB",
             "L4": "L4", "L40S": "L40S", "A10G": "A10G", "A10": "A10", "MI300X": "MI300X",
             "MI325X": "MI325X"}
PCIE = {"H100-SXM": "H100-PCIe", "A100-80GB": "A100-80GB-PCIe"}

# GCP machine family -> the accelerator its VM carries (GPU rows priced separately)
GCP_FAMILIES = {"a2-highgpu": "A100", "a2-megagpu": "A100", "a2-ultragpu": "A100-80GB",
                "a3-highgpu": "H100", "a3-edgegpu": "H100", "a3-megagpu": "H100-MEGA",
                "a3-ultragpu": "H200", "a4-highgpu": "B200", "g2-standard": "L4"}
G2_GPUS = {4: 1, 8: 1, 12: 1, 16: 1, 32: 1, 24: 2, 48: 4, 96: 8}


def _num(text: str, where: str, col: str) -> float | None:
    text = (text or "").strip()
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise CatalogError(f"{where}: field {col!r}: must be a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise CatalogError(f"{where}: field {col!r}: must be a finite number >= 0, got {text!r}")
    return None if value == UNAVAILABLE else value


def read_vms(path: str | Path, cloud: str) -> list[dict[str, Any]]:
    """The rows of one vms.csv, validated: instance, accelerator, count, vcpus, region, zone,
    price, spot (None where empty or unavailable). CatalogError names the file, line and field."""
    if cloud not in CLOUDS:
        raise CatalogError(f"unknown cloud {cloud!r} for a SkyPilot catalog (known: {', '.join(CLOUDS)})")
    path = Path(path)
    header, raw = read_csv(path, "SkyPilot catalog")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CatalogError(f"{path}: not a SkyPilot v8 vms.csv: missing column(s) "
                           f"{', '.join(missing)} (it needs {', '.join(REQUIRED)}; has {', '.join(header)})")
    rows = []
    for i, r in enumerate(raw):
        where = f"{path}: line {i + 2} ({r.get('InstanceType') or r.get('AcceleratorName') or '-'})"
        count = _num(r.get("AcceleratorCount"), where, "AcceleratorCount") or 0
        rows.append({"instance": (r.get("InstanceType") or "").strip(),
                     "accelerator": (r.get("AcceleratorName") or "").strip(),
                     "count": count if count != int(count) else int(count),
                     "vcpus": _num(r.get("vCPUs"), where, "vCPUs"),
                     "region": (r.get("Region") or "").strip(),
                     "zone": (r.get("AvailabilityZone") or "").strip(),
                     "price": _num(r.get("Price"), where, "Price"),
                     "spot": _num(r.get("SpotPrice"), where, "SpotPrice")})
    return rows


def _gpu_name(accelerator: str, instance: str) -> str | None:
    name = GPU_NAMES.get(accelerator)
    if name in PCIE and "pcie" in instance.lower():
        return PCIE[name]
    return name


def _gcp_accelerator(instance: str) -> tuple[str, int] | None:
    """The accelerator and count a GCP machine type carries, e.g. a3-highgpu-8g -> (H100, 8)."""
    m = re.match(r"^([a-z0-9]+-[a-z]+)-(\d+)g?", instance)
    if not m or m.group(1) not in GCP_FAMILIES:
        return None
    n = int(m.group(2))
    count = G2_GPUS.get(n) if m.group(1) == "g2-standard" else n
    return (GCP_FAMILIES[m.group(1)], count) if count else None


def _with_gcp_gpus(rows: list[dict]) -> list[dict]:
    """GCP: each VM row of a GPU family gets its accelerator and the GPU rows' price added."""
    gpu = {}
    for r in rows:
        if not r["instance"] and r["accelerator"]:
            gpu[(r["accelerator"], r["count"], r["region"], r["zone"])] = r
    out = []
    for r in rows:
        acc = _gcp_accelerator(r["instance"]) if r["instance"] and not r["accelerator"] else None
        if not r["instance"] or (not acc and not r["accelerator"]):
            continue
        if acc:
            name, count = acc
            g = gpu.get((name, count, r["region"], r["zone"]))
            one = gpu.get((name, 1, r["region"], r["zone"]))
            if g is None and one is None:
                continue  # no GPU price in this zone: the VM alone is not the instance's price
            g_price = g["price"] if g else (one["price"] * count if one["price"] is not None else None)
            g_spot = g["spot"] if g else (one["spot"] * count if one["spot"] is not None else None)
            r = {**r, "accelerator": name, "count": count,
                 "price": None if r["price"] is None or g_price is None else r["price"] + g_price,
                 "spot": None if r["spot"] is None or g_spot is None else r["spot"] + g_spot}
        out.append(r)
    return out


def instance_rows(path: str | Path, cloud: str, *, as_of: str, region: str | None = None,
                  ) -> list[dict[str, Any]]:
    """instances.csv rows (on-demand, and spot where the file has it) for the GPU instances of
    one SkyPilot vms.csv whose GPU is in gpus.csv, dated ``as_of``."""
    rows = read_vms(path, cloud)
    if cloud == "gcp":
        rows = _with_gcp_gpus(rows)
    want = region or DEFAULT_REGION.get(cloud)
    by_instance: dict[str, list[dict]] = {}
    for r in rows:
        gpu = _gpu_name(r["accelerator"], r["instance"]) if r["accelerator"] else None
        if gpu and r["instance"] and r["price"] is not None and isinstance(r["count"], int) and r["count"]:
            by_instance.setdefault(r["instance"], []).append({**r, "gpu": gpu})
    out = []
    for instance, offers in by_instance.items():
        here = [o for o in offers if o["region"] == want] if want else []
        note = ""
        if not here:
            cheapest = min(offers, key=lambda o: o["price"])["region"]
            here = [o for o in offers if o["region"] == cheapest]
            note = f"region {cheapest} ({want} does not offer it)" if want else f"region {cheapest} (cheapest)"
        first = here[0]
        src = f"SkyPilot catalog v8 {cloud}/vms.csv ({Path(path).name}), region {first['region']}"
        base = {"cloud": cloud, "instance": instance, "gpu": first["gpu"], "gpu_count": first["count"],
                "vcpus": int(first["vcpus"]) if first["vcpus"] else None, "valid_from": as_of,
                "valid_to": None, "as_of": as_of, "source": src, "verified": True}
        out.append({**base, "pricing": "on-demand", "usd_per_hour": min(o["price"] for o in here),
                    "notes": note})
        spots = [o["spot"] for o in here if o["spot"] is not None]
        if spots:
            zones = len({o["zone"] for o in here})
            out.append({**base, "pricing": "spot", "usd_per_hour": min(spots),
                        "notes": "; ".join(x for x in (note, f"lowest of {zones} zone(s); spot "
                                                       "prices move hourly") if x)})
    return out


def merge_instances(existing: list[dict], added: list[dict]) -> list[dict]:
    """instances.csv rows with ``added`` rows merged in by key (cloud, instance, pricing,
    valid_from): a same-day refresh replaces its own rows, older rows stay as history."""
    return merge_rows("instances", existing, added)
