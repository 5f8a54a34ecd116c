"""SkyPilot v8 vms.csv -> instances.csv rows: columns read by name, zone repeats collapsed,
the 700.0 sentinel dropped, GCP's separately priced GPUs added to the VM's price."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.inputs.skypilot import instance_rows, read_vms

LAMBDA = Path(__file__).parents[1] / "data" / "skypilot" / "lambda_vms_excerpt.csv"


def _by(rows):
    return {(r["instance"], r["pricing"]): r for r in rows}


def test_lambda_excerpt_real_rows():
    rows = _by(instance_rows(LAMBDA, "lambda", as_of="2026-11-29"))
    assert rows[("gpu_1x_h100_sxm5", "on-demand")]["gpu"] == "H100-SXM"
    assert rows[("gpu_1x_h100_sxm5", "on-demand")]["usd_per_hour"] == 4.29
    assert rows[("gpu_1x_h100_pcie", "on-demand")]["gpu"] == "H100-PCIe"  # SkyPilot says "H100" for both
    assert rows[("gpu_8x_a100_80gb_sxm4", "on-demand")]["gpu_count"] == 8
    # Lambda has no spot market: SpotPrice is empty, so no spot row
    assert not any(p == "spot" for _, p in rows)
    # V100 has no gpus.csv row and the CPU instance has no GPU: both left out
    assert not any(i in ("gpu_8x_v100", "cpu_4x_general") for i, _ in rows)
    # not offered in the default region: priced in its cheapest region, said in notes
    a10 = rows[("gpu_1x_a10", "on-demand")]
    assert "us-west-3" in a10["source"] and "does not offer it" in a10["notes"]
    assert len(rows) == 5  # one row per instance, not one per region


# Rows written here in GCP's v8 column order (the real file is 2 MB): VM rows exclude the GPU,
# GPU rows have an empty InstanceType, rows repeat per zone, and 700.0 marks "not offered".
GCP = """InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice
a3-highgpu-1g,26.0,234.0,,,,us-central1,us-central1-a,1.18251,0.36117
a3-highgpu-1g,26.0,234.0,,,,us-central1,us-central1-b,1.18251,0.30000
a3-highgpu-1g,26.0,234.0,,,,us-east5,us-east5-a,1.33186,0.29078
,,,H100,1.0,,us-central1,us-central1-a,9.0,2.0
,,,H100,1.0,,us-central1,us-central1-b,9.0,2.1
,,,H100,1.0,,us-east5,us-east5-a,700.0,700.0
g2-standard-48,48.0,192.0,,,,us-central1,us-central1-a,2.0,0.8
,,,L4,4.0,,us-central1,us-central1-a,2.24,0.9
"""


def test_gcp_gpu_rows_are_added_to_the_vm_price(tmp_path):
    p = tmp_path / "vms.csv"
    p.write_text(GCP)
    rows = _by(instance_rows(p, "gcp", as_of="2026-11-29"))
    a3 = rows[("a3-highgpu-1g", "on-demand")]
    assert (a3["gpu"], a3["gpu_count"]) == ("H100-SXM", 1)
    assert a3["usd_per_hour"] == pytest.approx(1.18251 + 9.0)
    # spot differs per zone (VM and GPU alike): the lowest zone total, 0.36117 + 2.0 < 0.3 + 2.1
    assert rows[("a3-highgpu-1g", "spot")]["usd_per_hour"] == pytest.approx(0.36117 + 2.0)
    assert "zone" in rows[("a3-highgpu-1g", "spot")]["notes"]
    g2 = rows[("g2-standard-48", "on-demand")]
    assert (g2["gpu"], g2["gpu_count"], g2["usd_per_hour"]) == ("L4", 4, pytest.approx(4.24))


def test_the_700_sentinel_means_not_offered(tmp_path):
    p = tmp_path / "vms.csv"
    p.write_text(GCP)
    assert [r["price"] for r in read_vms(p, "gcp") if r["region"] == "us-east5" and r["accelerator"]] == [None]
    rows = instance_rows(p, "gcp", as_of="2026-11-29", region="us-east5")
    # us-east5 has the VM but its GPU is "700.0": the a3 is priced where it is offered
    a3 = _by(rows)[("a3-highgpu-1g", "on-demand")]
    assert "us-central1" in a3["source"]


def test_columns_are_read_by_name_in_any_order(tmp_path):
    """AWS's header (verbatim from catalogs/v8/aws/vms.csv) puts Price before Region."""
    p = tmp_path / "vms.csv"
    p.write_text("InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,"
                 "Region,AvailabilityZone,Arch\n"
                 "a1.large,,,2.0,4.0,,0.051,0.051000,us-east-1,use1-az2,arm64\n"
                 "g6e.xlarge,L40S,1.0,4.0,32.0,,1.861,0.7,us-east-1,use1-az1,x86_64\n"
                 "g6e.xlarge,L40S,1.0,4.0,32.0,,1.861,0.65,us-east-1,use1-az2,x86_64\n")
    rows = _by(instance_rows(p, "aws", as_of="2026-11-29"))
    assert rows[("g6e.xlarge", "on-demand")]["usd_per_hour"] == 1.861
    assert rows[("g6e.xlarge", "spot")]["usd_per_hour"] == 0.65
    assert rows[("g6e.xlarge", "on-demand")]["vcpus"] == 4


def test_aws_excerpt_real_rows_spot_per_zone_and_fractional_gpus():
    aws = Path(__file__).parents[1] / "data" / "skypilot" / "aws_vms_excerpt.csv"
    rows = _by(instance_rows(aws, "aws", as_of="2026-11-29"))
    assert rows[("g6e.16xlarge", "on-demand")]["usd_per_hour"] == 7.57719  # us-east-1, not eu-central-1
    assert rows[("g6e.16xlarge", "spot")]["usd_per_hour"] == 1.4678  # lowest of the four zones
    assert "4 zone(s)" in rows[("g6e.16xlarge", "spot")]["notes"]
    assert (rows[("g6e.24xlarge", "spot")]["usd_per_hour"], rows[("g6e.24xlarge", "spot")]["gpu_count"]) == (5.1278, 4)
    assert not any(i in ("g6f.4xlarge", "a1.large") for i, _ in rows)  # half a GPU; no GPU
    # p5/p5en/p6-b200: the lowest us-east-1 zone may be a Local Zone (use1-atl2-az1), still a zone
    assert rows[("p5.48xlarge", "on-demand")]["usd_per_hour"] == 55.04
    assert rows[("p5.48xlarge", "spot")]["usd_per_hour"] == 10.2397
    assert "7 zone(s)" in rows[("p5.48xlarge", "spot")]["notes"]
    assert rows[("p6-b200.48xlarge", "spot")]["usd_per_hour"] == 13.0338
    assert rows[("p4de.24xlarge", "on-demand")]["gpu"] == "A100-80GB"
    # p5.4xlarge has an empty SpotPrice in every zone: no spot row, not a zero price
    assert ("p5.4xlarge", "on-demand") in rows and ("p5.4xlarge", "spot") not in rows
    assert len(rows) == 15


def test_gcp_excerpt_real_rows_vm_plus_gpu_price():
    """Verbatim GCP lines: a4's VM row is 0.0 (the B200 row carries the price), g2 sizes carry
    1, 2, 4 or 8 L4s priced in separate rows, and rows repeat per zone."""
    gcp = Path(__file__).parents[1] / "data" / "skypilot" / "gcp_vms_excerpt.csv"
    rows = _by(instance_rows(gcp, "gcp", as_of="2026-11-30"))
    a4 = rows[("a4-highgpu-8g", "on-demand")]
    assert (a4["gpu"], a4["gpu_count"], a4["vcpus"]) == ("B200", 8, 224)
    assert a4["usd_per_hour"] == pytest.approx(90.216)  # us-central1, not us-east4's 64.44
    assert rows[("a4-highgpu-8g", "spot")]["usd_per_hour"] == pytest.approx(32.6064)
    ultra = rows[("a3-ultragpu-8g", "on-demand")]
    assert (ultra["gpu"], ultra["usd_per_hour"]) == ("H200", pytest.approx(12.266 + 74.49392))
    assert rows[("a3-ultragpu-8g", "spot")]["usd_per_hour"] == pytest.approx(3.56978 + 37.2472)
    g2 = {n: rows[(f"g2-standard-{n}", "on-demand")] for n in (4, 8, 12, 16, 24, 32, 48, 96)}
    assert {n: r["gpu_count"] for n, r in g2.items()} == {4: 1, 8: 1, 12: 1, 16: 1, 24: 2, 32: 1, 48: 4, 96: 8}
    assert g2[4]["usd_per_hour"] == pytest.approx(0.14679 + 0.56004)
    assert g2[96]["usd_per_hour"] == pytest.approx(3.52301 + 4.48032)
    assert rows[("g2-standard-4", "spot")]["usd_per_hour"] == pytest.approx(0.05874 + 0.2231)
    assert "3 zone(s)" in rows[("g2-standard-4", "spot")]["notes"]
    assert not any(i.startswith("tpu") for i, _ in rows)  # TPUs have no gpus.csv row; 700.0 dropped
    assert len(rows) == 20  # 10 instances, on-demand and spot each
