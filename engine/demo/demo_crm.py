"""The demo CRM: DEMO DATA ONLY. A few made-up customers the sample flow's `lookup` node finds.

Real deployments point `[lookups.crm]` at their own CRM; the demo serves this one from the engine
process, on a loopback port of its own (never the engine's public HTTP port: it has no login).
It answers what the sample flow reads (`found`) and what the agent's screen-pop shows (every
field), and every answer says it is demo data. Any number it does not know is answered as the
first sample customer, so every demo caller, whatever their caller ID, gets a screen-pop.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

DEMO_MARK = "sample customer from the Threadline demo CRM (not a real person)"
"""Sent in every answer (the pop shows it): nobody may take demo data for a customer record."""
PATH = "/customers"


@dataclass(frozen=True)
class DemoCustomer:
    """One made-up customer. Names and numbers are invented."""

    phone: str
    customer_id: str
    name: str
    plan: str


CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer("01012345678", "100234", "최유진", "gold"),
    DemoCustomer("0212345678", "100871", "정하늘", "basic"),
    DemoCustomer("01098765432", "101502", "한지원", "family"),
)
"""DEMO DATA. The first one also answers for any number not listed here."""


def demo_answer(phone: str) -> dict[str, object]:
    """The CRM's answer for a caller's number: always found (see the module docstring), marked as demo."""
    known = next((customer for customer in CUSTOMERS if customer.phone == phone), None)
    customer = known or CUSTOMERS[0]
    return {
        "found": True,
        "customer_id": customer.customer_id,
        "name": customer.name,
        "plan": customer.plan,
        "matched_by": "phone" if known else "demo default (unknown number)",
        "demo": DEMO_MARK,
    }


async def _customers(request: web.Request) -> web.Response:
    return web.json_response(demo_answer(request.query.get("phone", "")))


@contextlib.asynccontextmanager
async def serve_demo_crm(host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve the demo CRM on a free loopback port while the block runs; yields the lookup URL."""
    app = web.Application()
    app.router.add_get(PATH, _customers)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listening.bind((host, 0))
        port = listening.getsockname()[1]
        await web.SockSite(runner, listening).start()
        yield f"http://{host}:{port}{PATH}"
    finally:
        await runner.cleanup()
        listening.close()
