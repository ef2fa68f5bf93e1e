"""Contract suites and fakes for plugin authors; registered as a pytest plugin.

A third-party plugin's tests inherit a contract class and provide one fixture,
e.g.::

    class TestMyProvider(ProviderContract):
        @pytest.fixture
        def provider_factory(self): ...
"""

from __future__ import annotations

from costpipe.testing.memory import CapturingNotifier, MemoryReader, MemorySink
from costpipe.testing.notifier_contract import NotifierContract, sample_notification

__all__: list[str] = [
    "CapturingNotifier",
    "MemoryReader",
    "MemorySink",
    "NotifierContract",
    "sample_notification",
]
