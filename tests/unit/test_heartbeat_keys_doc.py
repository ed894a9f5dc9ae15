"""docs/heartbeat-protocol.md section 12 says how paramedic reads heartbeat keys; this checks
the example there against the config loader."""

from __future__ import annotations

import re
from pathlib import Path

from paramedic.config import parse_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "heartbeat-protocol.md"


def test_documented_key_file_format_and_default_key_id(tmp_path: Path) -> None:
    """The key is the file's text, stripped, as UTF-8 bytes (hex is not decoded); key_id
    defaults to 0; a per-service key_env with its own id serves that service."""
    section = DOC.read_text().split("## 12.", 1)[1]
    [example] = re.findall(r"```yaml\n(.*?)```", section, re.S)
    key_text = "0123456789abcdef" * 4
    (tmp_path / "heartbeat.key").write_text(f"  {key_text}\n\n")
    text = example.replace("/etc/paramedic/heartbeat.key", "heartbeat.key")
    config = parse_config(text, env={"ORDER_GW_HB_KEY": " order-gw-key\n"}, base_dir=tmp_path)
    assert config.heartbeat is not None
    assert config.heartbeat.shared_key is not None
    assert key_text.encode() == config.heartbeat.shared_key.get_secret_value().encode()
    assert 0 == config.heartbeat.key_id
    order_gw = config.services["order-gw"].heartbeat
    assert order_gw is not None
    assert order_gw.key is not None
    assert ("order-gw-key", 3) == (order_gw.key.get_secret_value(), order_gw.key_id)
