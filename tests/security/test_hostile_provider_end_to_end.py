"""A compromised provider's names, end to end through the shipped processes.

The security review (issue 13) attacked costpipe through the names a provider
returns. These tests repeat its path with nothing in between replaced:
``costpipe simulate --hostile-names`` serves HTML, Markdown, control-character
and CSV-formula names in the vendors' wire formats; ``costpipe backfill`` /
``run --once`` decode and store them; ``costpipe dashboard`` (with its login)
serves them to Chromium, and the alert engine mails them to aiosmtpd. Unit and
component tests cover each defence; these prove the defences are wired into
the paths an operator runs (findings 1, 5, 9 and 10).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from playwright.sync_api import Browser, Dialog, Page, expect

from costpipe.simulator.hostile_names import FIXED_HOSTILE_NAMES
from costpipe.testing.network import free_port

from ..dashboard.conftest import (  # noqa: F401  (chromium: the module-scoped browser)
    chromium,
    loopback_only,
    open_choices,
)
from .support import HostileSimulator, costpipe, days_ago, hostile_simulator, provider_config, serve

#: The names that attack a page: script, a fetch from another host, a link.
MARKUP = (
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "![t](http://127.0.0.1:9/pixel.png)",
    "[click](http://attacker.invalid/)",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
LOGIN = ("finance", "c0rrect-h0rse-battery")


@pytest.fixture
def simulator() -> Iterator[HostileSimulator]:
    assert set(MARKUP) <= set(FIXED_HOSTILE_NAMES)
    with hostile_simulator() as running:
        yield running


def _group_by(page: Page, label: str) -> list[str]:
    """Group the table by *label*; the group cells' texts."""
    page.locator("select", has=page.locator("option", has_text="Line item")).select_option(
        label=label
    )
    expect(page.get_by_test_id("breakdown").locator("th").first).to_have_text(label)
    page.wait_for_load_state("networkidle")
    return page.get_by_test_id("breakdown").locator("td.cp-group").all_inner_texts()


def _download_csv(page: Page) -> list[list[str]]:
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    return list(csv.reader(io.StringIO(text)))


def _filter(page: Page, title: str) -> Any:
    return page.locator(".bk-input-group", has=page.get_by_text(title, exact=True)).locator(
        ".choices"
    )


def test_hostile_names_reach_the_dashboard_as_text_only(
    simulator: HostileSimulator,
    chromium: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        provider_config(
            simulator,
            tmp_path / "state",
            f'[dashboard]\nport = {port}\nbasic_auth = "${{DASHBOARD_AUTH}}"\n',
        )
    )
    env = {"DASHBOARD_AUTH": ":".join(LOGIN)}
    backfill = costpipe(config, "backfill", "--since", days_ago(3).date().isoformat(), env=env)
    assert 0 == backfill.returncode, backfill.stderr[-3000:]

    origin = f"http://127.0.0.1:{port}"
    context = chromium.new_context(viewport={"width": 1400, "height": 1400}, accept_downloads=True)
    page = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    elsewhere: list[str] = []  # loopback but not the dashboard: the pixel on 127.0.0.1:9

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((origin, "data:", "blob:"))
            else elsewhere.append(request.url)
        ),
    )
    with loopback_only(context), serve(["--config", str(config), "dashboard"], origin, env):
        page.goto(origin + "/")
        page.fill("#username", LOGIN[0])
        page.fill("#password", LOGIN[1])
        page.click("button[type=submit]")
        expect(page.get_by_test_id("total")).to_be_visible(timeout=30_000)
        page.locator("select", has=page.locator("option", has_text="Last 7 days")).select_option(
            label="Last 7 days"
        )
        # The reported path: the Estimated basis re-renders every filter and the banner.
        page.get_by_role("button", name="Estimated").click()
        banner = page.get_by_test_id("unpriced-banner")
        for name in MARKUP:
            expect(banner).to_contain_text(name)

        for label in ("Model", "User", "Project", "API key"):
            cells = _group_by(page, label)
            for name in MARKUP:
                assert any(cell.endswith(name) for cell in cells), (label, name)
            rows = _download_csv(page)[1:]
            assert rows, label
            assert [] == [row[0] for row in rows if row[0].startswith(FORMULA_STARTS)], label
            if label == "Model":
                quoted = {row[0] for row in rows if row[0].startswith("'")}
                assert {'\'=HYPERLINK("http://attacker.invalid")', "'+1+1", "'@SUM(A1)"} <= quoted

        _group_by(page, "Model")
        for title in ("Model filter", "Project filter"):
            _filter(page, title).click()
            choices = _filter(page, title).locator(".choices__item--choice")
            for name in MARKUP:
                # The options are re-sent after the group-by change: wait for them
                # (expect polls) rather than reading whatever is there at the click.
                expect(choices.filter(has_text=name).first).to_be_attached()
            options = open_choices(_filter(page, title))
            for name in MARKUP:
                assert any(option.endswith(name) for option in options), (title, name)
            page.keyboard.press("Escape")
        model = _filter(page, "Model filter")
        model.click()
        model.locator(".choices__item--choice").filter(has_text=MARKUP[0]).first.click()
        expect(model.locator(".choices__list--multiple .choices__item")).to_contain_text(MARKUP[0])
        expect(page.get_by_test_id("breakdown").locator("td.cp-group")).to_have_text([MARKUP[0]])
        page.wait_for_load_state("networkidle")

        assert 0 == page.locator("img[src='x']").count()
        assert 0 == page.locator("a[href*='attacker.invalid']").count()
        assert 0 == page.locator("img[src*='pixel.png']").count()
    context.close()
    assert [] == dialogs
    assert [] == errors
    assert [] == elsewhere


class _Inbox:
    """aiosmtpd handler keeping each message with its SMTP envelope."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.SMTP)
        assert isinstance(message, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


def test_hostile_names_reach_email_headers_as_one_clean_line(
    simulator: HostileSimulator, tmp_path: Path
) -> None:
    inbox = _Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    # A week that began two days ago holds the daily cost buckets of the last two
    # days (billed by project), whatever weekday the test runs on.
    week_start = days_ago(2).strftime("%A").lower()
    budgets = f"""
[[budgets]]
name = "per-project"
amount_usd = 0.0001
period = "week"
week_start = "{week_start}"
thresholds = [50]
group_by = "project_id"
cost_basis = "billed"
notify = ["finance"]

[[notifiers.email]]
name = "finance"
host = "127.0.0.1"
port = {smtp.port}
starttls = false
from_addr = "costpipe@example.com"
to = ["finance@example.com"]
"""
    config = tmp_path / "config.toml"
    config.write_text(provider_config(simulator, tmp_path / "state", budgets))
    try:
        run = costpipe(config, "run", "--once")
    finally:
        smtp.stop()
    assert 0 == run.returncode, run.stderr[-3000:]

    events = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    triggered = [e for e in events if e.get("event") == "Alert triggered"]
    # Every alert was delivered: none was refused or left pending behind another.
    assert len(triggered) == len(inbox.messages)
    assert [] == [e for e in events if e.get("event") == "notification_rejected"]
    hostile = [m for _, m in inbox.messages if "attacker@example.com" in str(m["Subject"])]
    assert hostile, [str(m["Subject"]) for _, m in inbox.messages]
    for recipients, message in inbox.messages:
        assert ["finance@example.com"] == recipients
        assert message["Bcc"] is None
        assert message["Cc"] is None
        for value in message.values():
            assert "\r" not in value
            assert "\n" not in value
    for message in hostile:
        assert "u1 Bcc: attacker@example.com" in str(message["Subject"])
