"""``costpipe simulate``: serve the simulator until interrupted.

The core CLI adds the sub-command and calls :func:`add_arguments` and
:func:`run_from_args`; this module only knows the simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timedelta

from costpipe.simulator import azure_openai_api, gcp_billing_api
from costpipe.simulator.options import FaultOptions, SimulatorOptions
from costpipe.simulator.server import Simulator

__all__ = ["add_arguments", "options_from_args", "run_from_args"]


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give a timezone, e.g. 2026-03-11T15:00:00Z")
    return moment


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a fraction within [0, 1]")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``costpipe simulate``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8787, help="port (0 picks a free one; default 8787)"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of all synthetic data (default 1)"
    )
    parser.add_argument(
        "--now", type=_instant, default=None, help="fixed 'now' (RFC 3339); default: real clock"
    )
    org = parser.add_argument_group("synthetic organisations")
    org.add_argument(
        "--projects", type=int, default=4, help="OpenAI projects / Anthropic workspaces"
    )
    org.add_argument("--users", type=int, default=6, help="OpenAI users")
    org.add_argument("--api-keys", type=int, default=5, help="API keys per provider")
    org.add_argument("--models-per-user", type=int, default=3, help="models each user / key uses")
    org.add_argument(
        "--no-awkward", action="store_true", help="omit IDs with quotes, commas, unicode..."
    )
    org.add_argument(
        "--hostile-names",
        action="store_true",
        help="add HTML, Markdown, control-character, CSV-formula and very long names",
    )
    org.add_argument(
        "--revision-horizon-hours", type=float, default=6.0, help="how far back revisions reach"
    )
    org.add_argument(
        "--openai-admin-key", action="append", default=[], help="accepted OpenAI admin key"
    )
    org.add_argument(
        "--anthropic-admin-key", action="append", default=[], help="accepted Anthropic admin key"
    )
    faults = parser.add_argument_group("faults (also settable at runtime: POST /_sim/faults)")
    faults.add_argument(
        "--rate-429", type=_fraction, default=0.0, help="fraction of requests answered 429"
    )
    faults.add_argument(
        "--retry-after", type=int, default=1, help="Retry-After seconds on injected 429s"
    )
    faults.add_argument(
        "--rate-5xx", type=_fraction, default=0.0, help="fraction answered 500/503/529"
    )
    faults.add_argument("--slow-ms", type=int, default=0, help="delay of slow requests")
    faults.add_argument(
        "--slow-rate", type=_fraction, default=0.0, help="fraction of requests that are slow"
    )
    faults.add_argument(
        "--latency-ms", type=int, default=0, help="fixed delay on every provider request"
    )
    faults.add_argument(
        "--malformed-page", type=int, default=None, help="break the N-th data page once"
    )
    faults.add_argument("--malformed-kind", choices=("json", "shape"), default="json")
    faults.add_argument(
        "--revoke-key", type=int, default=None, help="admin keys fail with 401 after N requests"
    )
    hostile = parser.add_argument_group("a hostile provider (also settable at runtime)")
    hostile.add_argument(
        "--redirect-to", default=None, help="answer every provider request 302 to this URL"
    )
    hostile.add_argument(
        "--endless-pages", action="store_true", help="empty pages that always say there is more"
    )
    hostile.add_argument(
        "--oversized-page-bytes", type=int, default=None, help="pad data pages to this size"
    )
    hostile.add_argument(
        "--gzip-bomb-bytes",
        type=int,
        default=None,
        help="gzip data pages that inflate to this size",
    )


def options_from_args(args: argparse.Namespace) -> SimulatorOptions:
    """The :class:`SimulatorOptions` that parsed arguments describe."""
    options = SimulatorOptions(
        seed=args.seed,
        now=args.now,
        projects=args.projects,
        users=args.users,
        api_keys=args.api_keys,
        models_per_user=args.models_per_user,
        awkward=not args.no_awkward,
        hostile_names=args.hostile_names,
        revision_horizon=timedelta(hours=args.revision_horizon_hours),
        openai_admin_keys=tuple(args.openai_admin_key),
        anthropic_admin_keys=tuple(args.anthropic_admin_key),
        faults=FaultOptions(
            rate_429=args.rate_429,
            retry_after_s=args.retry_after,
            rate_5xx=args.rate_5xx,
            slow_ms=args.slow_ms,
            slow_rate=args.slow_rate,
            latency_ms=args.latency_ms,
            malformed_page=args.malformed_page,
            malformed_kind=args.malformed_kind,
            revoke_key=args.revoke_key,
            redirect_to=args.redirect_to,
            endless_pages=args.endless_pages,
            oversized_page_bytes=args.oversized_page_bytes,
            gzip_bomb_bytes=args.gzip_bomb_bytes,
        ),
    )
    options.validate()
    return options


async def run_from_args(args: argparse.Namespace) -> None:
    """Serve until cancelled (Ctrl-C); print the base URLs and keys first."""
    simulator = Simulator(options_from_args(args))
    base = await simulator.start(args.host, args.port)
    azure = azure_openai_api.connection(simulator.azure, base)
    gcp = gcp_billing_api.connection(simulator.gcp, base)
    try:
        print(
            f"costpipe simulator (seed {args.seed}) on {base}\n"
            f"  OpenAI     base_url {simulator.openai_base_url}\n"
            f"             admin key {simulator.openai_admin_key}\n"
            f"             project key (403) {simulator.openai_project_key}\n"
            f"  Anthropic  base_url {simulator.anthropic_base_url}\n"
            f"             admin key {simulator.anthropic_admin_key}\n"
            f"  OpenRouter base_url {simulator.openrouter_base_url}\n"
            f"             management key {simulator.openrouter.management_key}\n"
            f"  LiteLLM    base_url {simulator.litellm_base_url}\n"
            f"             master key {simulator.litellm.master_key}\n"
            f"  Ollama     upstream {simulator.ollama_base_url} (inference API, no key)\n"
            f"  Bedrock    endpoint_url {simulator.bedrock_endpoint_url}\n"
            f"             access key {simulator.bedrock.key('FULL').access_key_id}"
            f" secret {simulator.bedrock.key('FULL').secret_access_key}\n"
            f"  Azure      management_url {azure['management_url']}\n"
            f"             scope {azure['scope']}\n"
            f"             managed identity: IDENTITY_ENDPOINT={azure['identity_endpoint']}\n"
            f"                               IDENTITY_HEADER={azure['identity_header']}\n"
            f"  GCP        api_root {gcp['api_root']}\n"
            f"             table {gcp['table']}\n"
            f"             metadata server: GCE_METADATA_HOST={gcp['metadata_host']}"
            " (no credentials_file)\n"
            f"                              token of {gcp['service_account']}\n"
            f"  control    {base}/_sim/info  /_sim/truth  /_sim/stats  /_sim/faults  POST /_sim/revise",
            file=sys.stdout,
            flush=True,
        )
        await asyncio.Event().wait()
    finally:
        await simulator.stop()
