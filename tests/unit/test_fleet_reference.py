"""Fleet's published records are byte-identical to reference output recorded before scenario contract v2.

The digests below were taken from ``seedstream generate`` at commit 5dddd1d (before the layout and
contract changes) with ``--seed 7``; any change to what fleet publishes for the same config and seed
fails here. ``dataset.json`` is left out: it records a creation time and the version.

One change since then is deliberate: sub-minute intervals' batch ids have one width (``…T130000Z``,
not ``…T1300Z`` beside ``…T130005Z``), so they sort as text. For those presets the test maps the ids
back to the old form before hashing, which proves nothing else changed, and checks the new width.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from producer.config import load_config
from producer.generation.reference import generate_files
from producer.generation.shard import Shard

REFERENCE = {
    ("small", "2025-11-08T03:00Z", None): {
        "fleet.companies.jsonl": "60703df2854447c2db15e1eb9cbd981de102a5a8cb31e0672224c380c6cfe224",
        "fleet.driver-batches.jsonl": "945c1917354fc8b6d4f5916de543b30459195637484d246192e5e6680a64e5bd",
        "fleet.driver-events.jsonl": "c37b2d3711dcd10d3ef575cade25c39720484f979ac865b778b6a08f4466f48a",
    },
    ("small", "2025-11-08T03:00Z", "1/3"): {
        "fleet.companies.jsonl": "a2dc90ae76f769899a5e657c976280864600836ef65affd4c3d5ed9721d72ac0",
        "fleet.driver-batches.jsonl": "8b16d7d0f8a9e28187abdd8acd15f0c2250890596adcc9a5fdf30e68cc69ee95",
        "fleet.driver-events.jsonl": "0e5961990d4abbdf033893dbdf12a070e43f686017a1509a96abece738b55354",
    },
    ("base", "2025-11-08T02:00Z", None): {
        "fleet.companies.jsonl": "777e642b94d5a165aa48729b027da579b819b09a4520b5518e4799adcbb838df",
        "fleet.driver-batches.jsonl": "1b2560a1939cd0502f556af6990d2d85f7246197f1501b2fe7216de8542a176f",
        "fleet.driver-events.jsonl": "808c156d78137deaecba0665a2ea7bb47dd4f340f2859e623efbd157ef9bb76a",
    },
    ("emulated.5s", "2025-11-08T00:01Z", None): {
        "fleet.companies.jsonl": "cf67f957925ed22341c2baac047465afa3aacd34a053d6364ff28e4c2a428575",
        "fleet.driver-batches.jsonl": "919909d9a15fd9a6f739c0767fdcec18482960a8ccced40d53432997a0b815c1",
        "fleet.driver-events.jsonl": "4b955e6d9ba62650e010657d671f32acb20079ac38bb44268e33122ee2be03f4",
    },
}
START = datetime(2025, 11, 8, tzinfo=UTC)


@pytest.mark.parametrize(("preset", "to", "shard"), list(REFERENCE))
def test_fleet_output_is_byte_identical_to_the_reference(
    tmp_path: Path, preset: str, to: str, shard: str | None
) -> None:
    config = load_config(preset, {"seed": 7})
    end = datetime.fromisoformat(to.replace("Z", "+00:00"))
    generate_files(config, START, end, tmp_path, shard=Shard.parse(shard))
    digests = {}
    for path in sorted(tmp_path.glob("*.jsonl")):
        data = path.read_bytes()
        ids = set(re.findall(rb'"batch_id":"([0-9T]+Z)"', data))
        assert len({len(batch_id) for batch_id in ids}) <= 1, "batch ids of one dataset have one width"
        if config.fleet.interval.total_seconds() % 60:
            data = re.sub(rb'"batch_id":"(\d{8}T\d{4})00Z"', rb'"batch_id":"\1Z"', data)
        digests[path.name] = hashlib.sha256(data).hexdigest()
    assert digests == REFERENCE[(preset, to, shard)]
