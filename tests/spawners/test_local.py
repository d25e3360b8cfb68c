"""The local spawner through a real hub: form and REST spawns of every profile, refusals,
profile env in the server, progress events."""

from __future__ import annotations

import json
import re
import threading
import time

import httpx
import pytest

from hubprocess import HubProcess
from login import login, xsrf
from serverenv import server_env

pytestmark = pytest.mark.usefixtures("stopped_servers")

ALICE_PROFILES = ["cpu-small", "cpu-large", "gpu-2x", "dask", "secure-cpu"]
BOB_PROFILES = ["cpu-small", "cpu-large", "dask"]
PURPOSES = {"secure-cpu": "trial 042 safety review"}  # profiles that require a purpose
EXPECTED = {  # slug: (zone, CPU_LIMIT, MEM_LIMIT bytes, number of GPUs)
    "cpu-small": ("standard", "1.0", 2 * 1024**3, 0),
    "cpu-large": ("standard", "4.0", 16 * 1024**3, 0),
    "gpu-2x": ("standard", "8.0", 32 * 1024**3, 2),
    "dask": ("standard", "2.0", 8 * 1024**3, 0),
    "secure-cpu": ("secure", "2.0", 8 * 1024**3, 0),
}


def form_slugs(html: str) -> list[str]:
    return re.findall(r'name="profile" id="profile-[^"]+" value="([^"]+)"', html)


def assert_profile_env(hub: HubProcess, user: str, slug: str) -> None:
    env = server_env(user, hub.hub_port)
    zone, cpu, mem, gpus = EXPECTED[slug]
    assert env["ASSAY_PROFILE"] == slug
    assert env["ASSAY_ZONE"] == zone
    assert env["CPU_LIMIT"] == cpu
    assert env["MEM_LIMIT"] == str(mem)
    visible = [g for g in env["CUDA_VISIBLE_DEVICES"].split(",") if g]
    assert len(visible) == gpus


@pytest.mark.parametrize(("user", "expected"), [("alice", ALICE_PROFILES), ("bob", BOB_PROFILES)])
def test_form_lists_only_usable_profiles(demo_hub, user, expected):
    client = login(demo_hub, user)
    page = client.get("hub/spawn")
    assert page.status_code == 200
    assert form_slugs(page.text) == expected


@pytest.mark.parametrize("slug", ALICE_PROFILES)
def test_spawn_every_profile_through_the_form(demo_hub, slug):
    client = login(demo_hub, "alice")
    form = {"profile": slug, "purpose": PURPOSES.get(slug, ""), "_xsrf": xsrf(client)}
    r = client.post("hub/spawn", data=form)
    assert r.status_code == 302, r.text[:500]
    info = demo_hub.wait_ready("alice")
    expected = {"profile": slug, "purpose": PURPOSES[slug]} if slug in PURPOSES else {
        "profile": slug}
    assert info["user_options"] == expected
    assert_profile_env(demo_hub, "alice", slug)
    lab = client.get("user/alice/lab", follow_redirects=True)
    assert lab.status_code == 200 and "JupyterLab" in lab.text


@pytest.mark.parametrize("slug", ALICE_PROFILES)
def test_spawn_every_profile_through_rest(demo_hub, slug):
    token = demo_hub.user_token("alice")
    body = {"profile": slug, **({"purpose": PURPOSES[slug]} if slug in PURPOSES else {})}
    r = demo_hub.api("POST", "users/alice/server", token=token, json=body)
    assert r.status_code in (201, 202), r.text
    demo_hub.wait_ready("alice")
    assert_profile_env(demo_hub, "alice", slug)


def test_rest_without_profile_gets_the_default(demo_hub):
    demo_hub.spawn("bob", None)
    assert server_env("bob", demo_hub.hub_port)["ASSAY_PROFILE"] == "cpu-small"


@pytest.mark.parametrize(("slug", "group"), [("gpu-2x", "gpu-users"), ("secure-cpu", "oncology")])
def test_rest_refuses_a_profile_the_user_may_not_use(demo_hub, slug, group):
    token = demo_hub.user_token("bob")  # bob's own token: the restriction cannot be skipped
    r = demo_hub.request_spawn("bob", slug, token=token)
    assert r.status_code == 403
    message = r.json()["message"]
    assert f"'{slug}'" in message and f"'{group}'" in message and "admin" in message
    assert not demo_hub.api("GET", "users/bob").json()["servers"]


def test_admin_cannot_spawn_a_forbidden_profile_for_a_user(demo_hub):
    r = demo_hub.request_spawn("bob", "gpu-2x")
    assert r.status_code == 403
    assert "gpu-users" in r.json()["message"]


def test_unknown_slug_lists_the_valid_ones(demo_hub):
    r = demo_hub.request_spawn("bob", "gpu-8x")
    assert r.status_code == 400
    assert r.json()["message"] == (
        "No such profile: gpu-8x. Options include: cpu-small, cpu-large, dask")


def test_form_refusal_shows_the_reason(demo_hub):
    client = login(demo_hub, "bob")
    r = client.post("hub/spawn", data={"profile": "gpu-2x", "_xsrf": xsrf(client)})
    assert r.status_code == 403
    assert "requires membership in group &#39;gpu-users&#39;" in r.text
    assert form_slugs(r.text) == BOB_PROFILES
    assert not demo_hub.api("GET", "users/bob").json()["servers"]


def _progress_messages(hub: HubProcess, user: str, token: str, out: list[str]) -> None:
    url = hub.api_url + f"users/{user}/server/progress"
    with httpx.stream("GET", url, headers={"Authorization": f"token {token}"},
                      timeout=60) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                out.append(event.get("message", ""))
                if event.get("ready") or event.get("failed"):
                    return


def test_progress_page_shows_profile_gpus_and_start(demo_hub):
    token = demo_hub.user_token("alice")
    messages: list[str] = []
    spawner = threading.Thread(target=demo_hub.request_spawn, args=("alice", "gpu-2x", token))
    spawner.start()
    for _ in range(100):
        if demo_hub.api("GET", "users/alice").json().get("pending") == "spawn":
            break
        time.sleep(0.02)
    _progress_messages(demo_hub, "alice", token, messages)
    spawner.join()
    text = "\n".join(messages)
    assert "Profile 2 GPUs chosen" in text
    assert re.search(r"GPUs assigned: sim-\d, sim-\d", text)
    assert "Server starting" in text
