"""Contract suites and fakes for plugin authors; registered as a pytest plugin.

A third-party plugin's tests inherit a contract class and provide one fixture,
e.g.::

    class TestMyProvider(ProviderContract):
        @pytest.fixture
        def provider_factory(self): ...
"""

from __future__ import annotations

__all__: list[str] = []
