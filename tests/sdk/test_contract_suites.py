"""The contract suites can fail: a deliberately leaky plugin that does not
override the ``secrets`` fixture fails the secret checks, a plugin that drops
the bucket under an unaligned window edge fails the window check, and the same
plugins without the defect pass.

Each case is a small third-party test module run by pytester, exactly as a
plugin author's suite runs (the contracts come from the ``pytest11`` entry
point). Before the suites read the secrets from the config, the leaky plugins
passed: the ``secrets`` fixture defaulted to an empty list.
"""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

PROVIDER_PLUGIN = """
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest
from pydantic import SecretStr

from costpipe.components import ComponentContext
from costpipe.errors import AuthError
from costpipe.records import CostRecord, Window
from costpipe.testing import ProviderContract, StaticProvider, StaticProviderConfig

KEY = "sk-live-4b1d9e7c2a"   # no test below names it: the suite must find it
T0 = datetime(2026, 3, 2, tzinfo=UTC)


class KeyedConfig(StaticProviderConfig):
    api_key: SecretStr
    good_key: SecretStr = SecretStr(KEY)


class KeyedProvider(StaticProvider):
    name: ClassVar[str] = "keyed"
    config_model = KeyedConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("api_key",)

    async def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        key = self.config.api_key.get_secret_value()
        if LEAK:
            self.log.info("fetching", authorization=f"Bearer {key}")
        if key != self.config.good_key.get_secret_value():
            raise AuthError(f"{self.instance}: key refused" + (f" ({key})" if LEAK else ""))
        async for batch in super().fetch(self._shifted(window)):
            yield batch

    def _shifted(self, window: Window) -> Window:
        if not DROP_FIRST_BUCKET:
            return window
        # The classic mistake: round the start *up*, losing the bucket the edge cuts.
        ceil = window.start.replace(minute=0, second=0, microsecond=0)
        if ceil < window.start:
            ceil += timedelta(hours=1)
        return Window(min(ceil, window.end), window.end)


def make(tmp_path, key: str) -> KeyedProvider:
    return KeyedProvider(KeyedConfig(api_key=key), ComponentContext("keyed.test", tmp_path))


class TestKeyedContract(ProviderContract):
    @pytest.fixture
    def provider(self, tmp_path) -> KeyedProvider:
        return make(tmp_path, KEY)

    @pytest.fixture
    def refused_provider(self, tmp_path) -> KeyedProvider:
        return make(tmp_path, "sk-revoked-77aa0c")

    @pytest.fixture
    def contract_window(self) -> Window:
        return Window(T0, T0 + timedelta(hours=6))
"""

NOTIFIER_PLUGIN = """
from typing import ClassVar

import pytest
from pydantic import SecretStr

from costpipe.components import ComponentConfig, ComponentContext, Notifier
from costpipe.errors import TransientError
from costpipe.testing import NotifierContract

PASSWORD = "smtp-pw-93e1c7"   # no test below names it: the suite must find it


class PagerConfig(ComponentConfig):
    password: SecretStr
    reachable: bool = True


class Pager(Notifier[PagerConfig]):
    name: ClassVar[str] = "pager"
    config_model = PagerConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)
    inbox: ClassVar[list[str]] = []

    async def send(self, notification) -> None:
        if not self.config.reachable:
            secret = self.config.password.get_secret_value()
            raise TransientError("pager unreachable" + (f" (login {secret})" if LEAK else ""))
        self.inbox.append(notification.id)

    async def check_connection(self) -> str:
        return "pager answers"


class TestPagerContract(NotifierContract):
    @pytest.fixture
    def notifier(self, tmp_path) -> Pager:
        Pager.inbox.clear()
        return Pager(PagerConfig(password=PASSWORD), ComponentContext("pager.ops", tmp_path))

    @pytest.fixture
    def delivered(self):
        async def ids() -> list[str]:
            return list(Pager.inbox)

        return ids

    @pytest.fixture
    def unreachable_notifier(self, tmp_path) -> Pager:
        config = PagerConfig(password=PASSWORD, reachable=False)
        return Pager(config, ComponentContext("pager.down", tmp_path))
"""


#: Third-party test modules: (plugin source, flags) -> the contract tests that must fail.
CASES: dict[str, tuple[str, dict[str, bool], list[str]]] = {
    "test_provider_clean": (PROVIDER_PLUGIN, {"LEAK": False, "DROP_FIRST_BUCKET": False}, []),
    # The key is logged and put in the AuthError; ``secrets`` is not overridden.
    "test_provider_leaky": (
        PROVIDER_PLUGIN,
        {"LEAK": True, "DROP_FIRST_BUCKET": False},
        ["test_refused_credential_raises_auth_error_once", "test_secrets_never_logged"],
    ),
    # Rounding an unaligned start up loses data between consecutive windows;
    # aligned windows alone never showed it.
    "test_provider_drops_bucket": (
        PROVIDER_PLUGIN,
        {"LEAK": False, "DROP_FIRST_BUCKET": True},
        ["test_unaligned_windows_yield_each_bucket_once"],
    ),
    "test_notifier_clean": (NOTIFIER_PLUGIN, {"LEAK": False}, []),
    "test_notifier_leaky": (
        NOTIFIER_PLUGIN,
        {"LEAK": True},
        ["test_secrets_never_logged_or_raised"],
    ),
    # A credential declared as a plain ``str`` would be printed by every repr.
    "test_notifier_plain_str": (
        NOTIFIER_PLUGIN.replace("    password: SecretStr\n", "    password: str\n").replace(
            "self.config.password.get_secret_value()", "self.config.password"
        ),
        {"LEAK": False},
        ["test_secret_fields_are_secret_strings"],
    ),
}


def test_contract_suites_fail_each_defective_plugin_and_pass_the_others(
    pytester: pytest.Pytester,
) -> None:
    """One pytest run of six plugin test modules (one run: each costs seconds)."""
    pytester.makeini(INI)
    for module, (source, flags, _failing) in CASES.items():
        header = "".join(f"{name} = {value}\n" for name, value in flags.items())
        pytester.makepyfile(**{module: header + textwrap.dedent(source)})
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:playwright", "-q")
    failed: dict[str, list[str]] = {module: [] for module in CASES}
    passed: dict[str, int] = dict.fromkeys(CASES, 0)
    for report in result.reprec.getreports("pytest_runtest_logreport"):  # type: ignore[attr-defined]
        module, name = report.nodeid.split(".py::", 1)
        if report.outcome == "failed":
            failed[module].append(f"{name.rsplit('::', 1)[-1]} ({report.when})")
        elif report.when == "call":
            passed[module] += 1
    expected = {
        module: sorted(f"{name} (call)" for name in failing)
        for module, (_source, _flags, failing) in CASES.items()
    }
    assert expected == {module: sorted(names) for module, names in failed.items()}
    assert all(count >= 7 for count in passed.values()), passed
