"""Contract suites and fakes for plugin authors; registered as a pytest plugin.

A third-party plugin's tests inherit a contract class and provide its fixture,
e.g.::

    class TestMyEnricher(EnricherContract):
        @pytest.fixture
        async def enricher(self, tmp_path): ...

Importing this package is cheap: it pulls in pytest and costpipe's core only,
never an optional dependency (no panel, no pandas), because pytest loads it in
every session through the ``pytest11`` entry point.
"""

from __future__ import annotations

from costpipe.testing.enricher_contract import EnricherContract, sample_records
from costpipe.testing.memory import CapturingNotifier, MemoryReader, MemorySink
from costpipe.testing.network import free_port
from costpipe.testing.notifier_contract import NotifierContract, sample_notification
from costpipe.testing.provider_contract import ProviderContract, collect, unaligned_split
from costpipe.testing.secrets import config_secrets
from costpipe.testing.sink_contract import SinkContract, contract_record
from costpipe.testing.static import StaticProvider, StaticProviderConfig, static_records

__all__: list[str] = [
    "CapturingNotifier",
    "EnricherContract",
    "MemoryReader",
    "MemorySink",
    "NotifierContract",
    "ProviderContract",
    "SinkContract",
    "StaticProvider",
    "StaticProviderConfig",
    "collect",
    "config_secrets",
    "contract_record",
    "free_port",
    "sample_notification",
    "sample_records",
    "static_records",
    "unaligned_split",
]
