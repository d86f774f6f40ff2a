"""kafka-python must checksum record batches with the native CRC32C, not its pure-Python fallback."""

from __future__ import annotations

from kafka.record import util


def test_kafka_python_uses_the_native_crc32c() -> None:
    import crc32c

    assert util._crc32c is crc32c.crc32c, "install the crc32c package (a dependency in pyproject.toml)"
    assert util.calc_crc32c(memoryview(b"123456789")) == 0xE3069283  # the standard CRC-32C check value
