"""Store client configuration as deployment tools pass it around.

``MooncakeConfig`` holds what ``MooncakeDistributedStore.setup()`` needs. It
is built directly, from a JSON file (``from_file``) or from ``MOONCAKE_*``
environment variables (``load_from_env``); sizes may be strings such as
``"4gb"`` or ``"512 MB"``. Names, defaults and checks follow the reference
project's module of the same name (see docs/python_api.md).
"""

import json
import logging
import os
from dataclasses import dataclass
from typing import Optional

_log = logging.getLogger(__name__)

DEFAULT_GLOBAL_SEGMENT_SIZE = 3355443200  # 3.125 GiB
DEFAULT_LOCAL_BUFFER_SIZE = 1073741824  # 1 GiB

# Protocols the reference knows; others are kept with a warning.
_KNOWN_PROTOCOLS = frozenset(
    "tcp rdma efa nvmeof nvlink musa nvlink_intra hip barex cxl ascend ub ubshmem maca "
    "sunrise_link rpc_only".split())

# Binary multiples, tried in this order so that "kb" wins over "b".
_SIZE_SUFFIXES = (
    ("kb", 1 << 10), ("mb", 1 << 20), ("gb", 1 << 30), ("tb", 1 << 40),
    ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("t", 1 << 40), ("b", 1),
)

_TRUE_WORDS = frozenset(("true", "1", "yes", "on", "enable"))
_FALSE_WORDS = frozenset(("", "false", "0", "no", "off", "disable"))


def _parse_segment_size(value) -> int:
    """An int as is; a string like "4gb", "1.5 GB", "512m", "1024" in bytes."""
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return int(value)
    text = value.strip().lower()
    if not text:
        raise ValueError("Invalid segment size: empty string")
    for suffix, multiplier in _SIZE_SUFFIXES:
        if text.endswith(suffix):
            number = text[:-len(suffix)].strip()
            if not number:
                raise ValueError(f"Invalid segment size {value!r}: missing number before "
                                 f"'{suffix}'")
            return int(float(number) * multiplier)
    return int(float(text))


def _parse_bool(value) -> bool:
    """True/False from a bool, a number, None or words such as "yes"/"off"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in _TRUE_WORDS:
        return True
    if text in _FALSE_WORDS:
        return False
    raise ValueError(f"Invalid boolean value: {value!r}")


def _require_text(name, value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")


def _as_given(value):
    return value


# The settings from_file and load_from_env read beyond the three required
# ones: field (also its JSON key), MOONCAKE_* variable, default, parser.
_OPTIONAL_FIELDS = (
    ("global_segment_size", "MOONCAKE_GLOBAL_SEGMENT_SIZE", DEFAULT_GLOBAL_SEGMENT_SIZE,
     _parse_segment_size),
    ("local_buffer_size", "MOONCAKE_LOCAL_BUFFER_SIZE", DEFAULT_LOCAL_BUFFER_SIZE,
     _parse_segment_size),
    ("protocol", "MOONCAKE_PROTOCOL", "tcp", _as_given),
    ("device_name", "MOONCAKE_DEVICE", "", _as_given),
    ("enable_ssd_offload", "MOONCAKE_OFFLOAD_ENABLED", False, _parse_bool),
    ("ssd_offload_path", "MOONCAKE_OFFLOAD_FILE_STORAGE_PATH", "", str),
    ("tenant_id", "MOONCAKE_TENANT_ID", "default", str),
    ("enable_client_http_server", "MOONCAKE_ENABLE_CLIENT_HTTP_SERVER", False, _parse_bool),
    ("client_http_port", "MOONCAKE_CLIENT_HTTP_PORT", 9300, int),
)
# A JSON null stands for the default in these text settings (tenant_id: null
# is "default"); the other nulls are checked as they are.
_NULL_MEANS_DEFAULT = frozenset(("ssd_offload_path", "tenant_id"))


def _optional_fields(read):
    """{field: parsed value} of _OPTIONAL_FIELDS, each read as
    read(field, variable, default)."""
    return {field: parse(read(field, variable, default))
            for field, variable, default, parse in _OPTIONAL_FIELDS}


@dataclass
class MooncakeConfig:
    """The arguments of MooncakeDistributedStore.setup()."""

    local_hostname: str
    metadata_server: str
    global_segment_size: int
    local_buffer_size: int
    protocol: str
    device_name: Optional[str]
    master_server_address: str
    enable_ssd_offload: bool = False
    ssd_offload_path: str = ""
    tenant_id: str = "default"
    enable_client_http_server: bool = False
    client_http_port: int = 9300

    def __post_init__(self):
        if not isinstance(self.protocol, str) or not self.protocol.strip():
            raise ValueError(f"protocol must be a non-empty string, got {self.protocol!r}")
        self.protocol = self.protocol.strip().lower()
        if self.protocol not in _KNOWN_PROTOCOLS:
            _log.warning("unknown protocol %r (known: %s)", self.protocol,
                         " ".join(sorted(_KNOWN_PROTOCOLS)))
        for name in ("global_segment_size", "local_buffer_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)!r}")
        for name in ("local_hostname", "metadata_server", "master_server_address"):
            _require_text(name, getattr(self, name))

    @staticmethod
    def from_file(file_path: str) -> "MooncakeConfig":
        """Reads a JSON object; local_hostname, metadata_server and
        master_server_address must be present."""
        with open(file_path) as config_file:
            config = json.load(config_file)
        for name in ("local_hostname", "metadata_server", "master_server_address"):
            if name not in config:
                raise ValueError(f"Missing required config field: {name}")

        def read(field, variable, default):
            value = config.get(field, default)
            return default if value is None and field in _NULL_MEANS_DEFAULT else value

        return MooncakeConfig(local_hostname=config["local_hostname"],
                              metadata_server=config["metadata_server"],
                              master_server_address=config["master_server_address"],
                              **_optional_fields(read))

    @staticmethod
    def load_from_env() -> "MooncakeConfig":
        """From MOONCAKE_CONFIG_PATH (a JSON file) if set, else from the
        MOONCAKE_* variables; MOONCAKE_MASTER is then required."""
        config_path = os.getenv("MOONCAKE_CONFIG_PATH")
        if config_path:
            return MooncakeConfig.from_file(config_path)
        master = os.getenv("MOONCAKE_MASTER")
        if not master:
            raise ValueError("Neither MOONCAKE_CONFIG_PATH nor MOONCAKE_MASTER is set")
        return MooncakeConfig(
            local_hostname=os.getenv("MOONCAKE_LOCAL_HOSTNAME", "localhost"),
            metadata_server=os.getenv("MOONCAKE_TE_META_DATA_SERVER", "P2PHANDSHAKE"),
            master_server_address=master,
            **_optional_fields(lambda field, variable, default: os.getenv(variable, default)))


__all__ = [
    "DEFAULT_GLOBAL_SEGMENT_SIZE",
    "DEFAULT_LOCAL_BUFFER_SIZE",
    "MooncakeConfig",
]
