"""Seed 000's event tests, through FraiseQLTestClient.

Fixed from the seed: ``createProject(orgId: "org-1")`` named an organization that did not
exist (ids are UUIDs; the test creates one first); ``get_published_events`` was never
defined (here it reads the JetStream stream); the analytics test the seed's expected output
names (``test_analytics_sync``) is written out.
"""

import asyncio
import json
import os

import nats
import pytest

NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
STREAM = os.environ.get("SAAS_STREAM", "fraiseql_saas")


async def get_published_events(subject):
    """Every message stored on ``subject`` in the example's stream: (headers, body)."""
    nc = await nats.connect(NATS_URL, connect_timeout=5, max_reconnect_attempts=1)
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        sub = await js.subscribe(subject, stream=STREAM, ordered_consumer=True)
        events = []
        try:
            while True:
                msg = await sub.next_msg(timeout=1)
                events.append((dict(msg.headers or {}), json.loads(msg.data)))
                if msg.metadata.sequence.stream >= info.state.last_seq:
                    break
        except nats.errors.TimeoutError:
            pass
        await sub.unsubscribe()
        return events
    finally:
        await nc.close()


async def create_project(client, name):
    org = await client.execute('mutation { createOrganization(name: "Events Org") { id } }')
    org_id = org["data"]["createOrganization"]["id"]
    project = await client.execute(
        "mutation($org: ID!, $name: String!) { createProject(orgId: $org, name: $name) { id } }",
        {"org": org_id, "name": name},
    )
    assert "errors" not in project, project
    return project["data"]["createProject"]["id"]


@pytest.mark.asyncio
async def test_project_creation_event(client):
    """Verify events are published on mutations."""
    client.set_tenant("tenant-a")
    project_id = await create_project(client, "Test")

    # The relay publishes within a moment of the commit
    for _ in range(50):
        events = await get_published_events("analytics.project_created")
        mine = [(h, b) for h, b in events if b.get("id") == project_id]
        if mine:
            break
        await asyncio.sleep(0.1)
    assert len(mine) >= 1
    headers, body = mine[0]
    assert headers["ce-tenant"] == "tenant-a"
    assert headers["ce-type"] == "fraiseql.tb_project.insert"
    assert body["name"] == "Test"


@pytest.mark.asyncio
async def test_analytics_sync(client):
    """The event lands in the shared analytics database, visible to its tenant only."""
    client.set_tenant("tenant-b")
    project_id = await create_project(client, "Analytics")
    query = "query { analyticsEvents(limit: 500) { eventType tenantId data } }"
    for _ in range(100):
        result = await client.execute(query)
        mine = [e for e in result["data"]["analyticsEvents"]
                if e["data"]["project_id"] == project_id]
        if mine:
            break
        await asyncio.sleep(0.1)
    assert mine == [{
        "eventType": "analytics.project_created",
        "tenantId": "tenant-b",
        "data": mine[0]["data"],
    }]
    assert mine[0]["data"]["tenant_id"] == "tenant-b"
    assert mine[0]["data"]["project_name"] == "Analytics"
    # Tenant A's view of the shared database has no tenant B event
    client.set_tenant("tenant-a")
    result = await client.execute(query)
    assert all(e["tenantId"] == "tenant-a" for e in result["data"]["analyticsEvents"])
