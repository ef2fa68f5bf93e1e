"""``NotifierContract``: the behaviour every notifier must show, as a test base class.

A notifier's test module subclasses it and provides four fixtures::

    class TestMyNotifier(NotifierContract):
        @pytest.fixture
        async def notifier(self):          # started against a live receiver
            ...
        @pytest.fixture
        def delivered(self):               # async () -> list of ids the receiver got
            ...
        @pytest.fixture
        async def unreachable_notifier(self):  # started, pointing at a closed port
            ...

The contract: a sent notification reaches the receiver with its id; every
notification kind can be sent; the same id sent twice stays the same id (it is
the receiver's idempotency key); an unreachable receiver raises a retryable
:class:`~costpipe.errors.CostpipeError`; secrets never reach a log line or an
error message; ``close()`` may be called twice.

The secrets looked for are every ``SecretStr`` value of both notifiers'
configs (the password, the key, the whole webhook URL where the URL is the
secret; see :mod:`costpipe.testing.secrets`), plus the strings of an optional
``secrets`` fixture (a token inside such a URL, say). Every name in the class's
``secret_fields`` must be a ``SecretStr`` field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from costpipe.components import ComponentConfig, Notifier
from costpipe.errors import CostpipeError
from costpipe.notification import Notification, NotificationKind
from costpipe.testing.secrets import component_secrets

__all__ = ["NotifierContract", "sample_notification"]


def sample_notification(
    kind: NotificationKind = NotificationKind.THRESHOLD, id: str = "contract-0001"
) -> Notification:
    """A fully populated notification (every optional field set)."""
    return Notification(
        id=id,
        kind=kind,
        title="Budget monthly-openai reached 80 %",
        summary="$812.40 spent of $1,000.00 (81.2 %) in November 2026.",
        created_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
        rule="monthly-openai",
        group="alice",
        period="month:2026-11-01",
        threshold_percent=80,
        spend_usd=Decimal("812.404"),
        budget_usd=Decimal("1000"),
        forecast_usd=Decimal("1301.2"),
        exhaustion_date="2026-11-25",
        dashboard_url="http://127.0.0.1:5006/costpipe",
        details={"model": "gpt-4o <&>"},
    )


class NotifierContract:
    """Inherit and provide ``notifier``, ``delivered`` and ``unreachable_notifier``
    fixtures; ``secrets`` is optional (see module docs)."""

    @pytest.fixture
    def secrets(self) -> list[str]:
        """Secrets that are not ``SecretStr`` config fields (those are found
        automatically), e.g. the token part of a secret URL."""
        return []

    @pytest.fixture
    def all_secrets(
        self, notifier: Notifier[Any], unreachable_notifier: Notifier[Any], secrets: list[str]
    ) -> list[str]:
        return component_secrets([notifier, unreachable_notifier], secrets)

    def test_secret_fields_are_secret_strings(self, notifier: Notifier[Any]) -> None:
        """Each ``secret_fields`` entry is a ``SecretStr`` field: masked in reprs,
        and found by the secret-leak check below."""
        for name in type(notifier).secret_fields:
            assert name in type(notifier.config).model_fields, f"{name} is not a config field"
            value = getattr(notifier.config, name)
            assert value is None or isinstance(value, SecretStr), f"{name} is not a SecretStr"

    def test_class_declares_name_and_strict_config(self, notifier: Notifier[Any]) -> None:
        """The class names its table and forbids unknown keys."""
        cls = type(notifier)
        assert isinstance(cls.name, str)
        assert cls.name
        assert issubclass(cls.config_model, ComponentConfig)
        assert cls.config_model.model_config.get("extra") == "forbid"

    def test_config_round_trips(self, notifier: Notifier[Any]) -> None:
        """Dumping the config and validating it again gives the same config."""
        config = notifier.config
        dumped = config.model_dump()
        for key, value in dumped.items():
            secret = getattr(value, "get_secret_value", None)
            if secret is not None:
                dumped[key] = secret()
        assert config == type(config).model_validate(dumped)

    async def test_send_reaches_receiver_with_id(
        self, notifier: Notifier[Any], delivered: Callable[[], Awaitable[list[str]]]
    ) -> None:
        """A sent notification arrives, carrying its id."""
        await notifier.send(sample_notification())
        assert await delivered() == ["contract-0001"]

    async def test_every_kind_can_be_sent(
        self, notifier: Notifier[Any], delivered: Callable[[], Awaitable[list[str]]]
    ) -> None:
        """Each notification kind is accepted, in order."""
        ids = [f"kind-{kind.value}" for kind in NotificationKind]
        for kind, nid in zip(NotificationKind, ids, strict=True):
            await notifier.send(sample_notification(kind, nid))
        assert ids == await delivered()

    async def test_minimal_notification_is_sent(
        self, notifier: Notifier[Any], delivered: Callable[[], Awaitable[list[str]]]
    ) -> None:
        """A notification with only the required fields is accepted."""
        await notifier.send(
            Notification("minimal", NotificationKind.TEST, "Test", "It works.", datetime.now(UTC))
        )
        assert await delivered() == ["minimal"]

    async def test_retry_keeps_the_id(
        self, notifier: Notifier[Any], delivered: Callable[[], Awaitable[list[str]]]
    ) -> None:
        """Sending one notification twice delivers the same id twice (receivers dedupe)."""
        await notifier.send(sample_notification())
        await notifier.send(sample_notification())
        assert await delivered() == ["contract-0001", "contract-0001"]

    async def test_unreachable_receiver_raises_retryable_error(
        self, unreachable_notifier: Notifier[Any]
    ) -> None:
        """A receiver that cannot be reached is a transient, retryable failure."""
        with pytest.raises(CostpipeError) as caught:
            await unreachable_notifier.send(sample_notification())
        assert caught.value.retryable

    async def test_secrets_never_logged_or_raised(
        self,
        notifier: Notifier[Any],
        unreachable_notifier: Notifier[Any],
        all_secrets: list[str],
    ) -> None:
        """No secret appears in a log line, an error message or the config's repr."""
        with capture_logs() as logs:
            await notifier.send(sample_notification())
            await notifier.check_connection()
            error = ""
            try:
                await unreachable_notifier.send(sample_notification())
            except CostpipeError as exc:
                error = f"{exc!r} {exc}"
        text = f"{logs!r} {error} {notifier.config!r} {unreachable_notifier.config!r}"
        for secret in all_secrets:
            assert secret not in text

    async def test_check_connection_describes_what_it_checked(
        self, notifier: Notifier[Any], delivered: Callable[[], Awaitable[list[str]]]
    ) -> None:
        """check_connection() returns a description and delivers nothing."""
        answer = await notifier.check_connection()
        assert isinstance(answer, str)
        assert answer
        assert await delivered() == []

    async def test_close_twice(self, notifier: Notifier[Any]) -> None:
        """close() is idempotent."""
        await notifier.close()
        await notifier.close()
