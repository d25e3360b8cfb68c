"""Kubernetes mode with the real KubeSpawner and no cluster: pod manifests, groups, forms.

Every manifest is serialised as KubeSpawner would send it and validated against the
Kubernetes OpenAPI schema (strict: unknown fields fail).
"""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest
from kubernetes_asyncio.client import ApiClient
from tornado import web
from traitlets.config import Config

from assay.config import load, memory_bytes
from assay.spawners import objects
from assay.spawners.kubernetes import AssayKubeSpawner

K8S_VERSION = "1.33.0"
GPU = "nvidia.com/gpu"
ALICE_GROUPS = ["gpu-users", "oncology"]
BOB_GROUPS = ["analytics"]


@pytest.fixture
def make_spawner(kube_config_file: Path, make_user, dummy_kubeconfig: Path):
    """``make_spawner(name, groups, config=None)``: a spawner on the kubernetes demo config."""

    def build(name: str, groups: list[str], config: Config | None = None) -> AssayKubeSpawner:
        c = config or Config()
        c.AssayProfileMixin.assay_config_file = str(kube_config_file)
        return AssayKubeSpawner(config=c, _mock=True, user=make_user(name, groups))

    return build


async def manifest_for(spawner: AssayKubeSpawner, user_options: dict) -> dict:
    spawner.user_options = user_options
    await spawner.load_user_options()
    pod = await spawner.get_pod_manifest()
    async with ApiClient() as api:
        manifest = api.sanitize_for_serialization(pod)
    manifest["apiVersion"] = "v1"
    manifest["kind"] = "Pod"
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    return manifest


def container(manifest: dict) -> dict:
    (notebook,) = manifest["spec"]["containers"]
    return notebook


def env(manifest: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container(manifest)["env"]}


def cpus(quantity: str | float) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def memory(quantity: str | int) -> int:
    text = str(quantity)
    return int(text) if text.isdigit() else memory_bytes(text)


def gpu_mentioned(manifest: dict) -> bool:
    return GPU in json.dumps(manifest)


def demo_profiles(config_file: Path) -> dict:
    return {p.slug: p for p in load(config_file).profiles}


DEMO_SLUGS = ["cpu-small", "cpu-large", "gpu-2x", "dask", "secure-cpu"]


async def test_demo_lists_the_profiles_under_test(kube_config_file: Path) -> None:
    assert list(demo_profiles(kube_config_file)) == DEMO_SLUGS
    assert load(kube_config_file).mode == "kubernetes"


@pytest.mark.parametrize("slug", DEMO_SLUGS)
async def test_every_demo_profile_gives_a_valid_pod_sized_as_configured(
    kube_config_file: Path, slug: str, make_spawner,
) -> None:
    profile = demo_profiles(kube_config_file)[slug]
    kube = load(kube_config_file).kubernetes
    spawner = make_spawner("alice", ALICE_GROUPS)

    manifest = await manifest_for(spawner, {"profile": slug})

    resources = container(manifest)["resources"]
    assert cpus(resources["limits"]["cpu"]) == profile.cpu.limit
    assert cpus(resources["requests"]["cpu"]) == profile.cpu.guarantee
    assert memory(resources["limits"]["memory"]) == memory_bytes(profile.memory.limit)
    assert memory(resources["requests"]["memory"]) == memory_bytes(profile.memory.guarantee)
    assert container(manifest)["image"] == (profile.image or kube.image)
    variables = env(manifest)
    assert variables["ASSAY_PROFILE"] == slug
    assert variables["ASSAY_ZONE"] == profile.zone
    assert variables["ASSAY_DASK_WORKERS"] == str(profile.dask_workers)
    assert manifest["metadata"]["labels"]["assay/zone"] == profile.zone
    assert spawner.namespace == kube.namespace

    spec = manifest["spec"]
    if profile.gpus:
        assert resources["limits"][GPU] == str(profile.gpus)
        assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    else:
        assert not gpu_mentioned(manifest)
        assert not spec.get("nodeSelector")
        assert not spec.get("tolerations")


async def test_gpu_then_cpu_on_the_same_spawner_leaves_no_gpu_trace(make_spawner) -> None:
    spawner = make_spawner("alice", ALICE_GROUPS)

    gpu = await manifest_for(spawner, {"profile": "gpu-2x"})
    cpu = await manifest_for(spawner, {"profile": "cpu-small"})

    assert container(gpu)["resources"]["limits"][GPU] == "2"
    assert not gpu_mentioned(cpu)
    assert not cpu["spec"].get("nodeSelector")
    assert not cpu["spec"].get("tolerations")
    assert cpus(container(cpu)["resources"]["limits"]["cpu"]) == 1
    assert memory(container(cpu)["resources"]["limits"]["memory"]) == memory_bytes("2G")
    assert env(cpu)["ASSAY_PROFILE"] == "cpu-small"

    again = await manifest_for(spawner, {"profile": "gpu-2x"})
    assert container(again)["resources"]["limits"][GPU] == "2"
    assert again["spec"]["tolerations"] == gpu["spec"]["tolerations"]


async def test_admin_settings_survive_profile_switches(make_spawner) -> None:
    c = Config()
    c.KubeSpawner.environment = {"SITE": "lab-1"}
    c.KubeSpawner.node_selector = {"pool": "users"}
    spawner = make_spawner("alice", ALICE_GROUPS, c)

    gpu = await manifest_for(spawner, {"profile": "gpu-2x"})
    cpu = await manifest_for(spawner, {"profile": "cpu-small"})

    assert gpu["spec"]["nodeSelector"] == {"pool": "users", "nvidia.com/gpu.present": "true"}
    assert cpu["spec"]["nodeSelector"] == {"pool": "users"}
    assert env(cpu)["SITE"] == "lab-1"
    assert not gpu_mentioned(cpu)


async def test_no_profile_requested_gives_the_default(make_spawner) -> None:
    spawner = make_spawner("bob", BOB_GROUPS)
    manifest = await manifest_for(spawner, {})
    assert env(manifest)["ASSAY_PROFILE"] == "cpu-small"


@pytest.mark.parametrize(("slug", "group"), [("gpu-2x", "gpu-users"), ("secure-cpu", "oncology")])
async def test_a_forbidden_profile_is_refused_with_403_naming_the_group(
    slug: str, group: str, make_spawner,
) -> None:
    spawner = make_spawner("bob", BOB_GROUPS)
    spawner.user_options = {"profile": slug}

    with pytest.raises(web.HTTPError) as refused:
        await spawner.load_user_options()

    assert refused.value.status_code == 403
    message = refused.value.jupyterhub_message
    assert slug in message and f"'{group}'" in message and "bob" in message
    # nothing of the refused profile was applied
    manifest = await manifest_for(spawner, {"profile": "cpu-small"})
    assert not gpu_mentioned(manifest)
    assert env(manifest)["ASSAY_ZONE"] == "standard"


async def test_an_unknown_profile_is_refused_with_400_listing_the_usable_ones(
    make_spawner,
) -> None:
    spawner = make_spawner("bob", BOB_GROUPS)
    spawner.user_options = {"profile": "huge"}

    with pytest.raises(web.HTTPError) as refused:
        await spawner.load_user_options()

    assert refused.value.status_code == 400
    message = refused.value.jupyterhub_message
    assert "huge" in message
    for slug in ("cpu-small", "cpu-large", "dask"):
        assert slug in message
    assert "gpu-2x" not in message and "secure-cpu" not in message


async def test_profile_list_offers_only_the_profiles_a_user_may_use(make_spawner) -> None:
    bob = make_spawner("bob", BOB_GROUPS)
    alice = make_spawner("alice", ALICE_GROUPS)

    assert callable(bob.profile_list)
    bobs = bob.profile_list(bob)
    assert [p["slug"] for p in bobs] == ["cpu-small", "cpu-large", "dask"]
    assert [p["slug"] for p in bobs if p["default"]] == ["cpu-small"]
    assert [p["slug"] for p in alice.profile_list(alice)] == DEMO_SLUGS


async def test_group_membership_is_read_at_spawn_time(make_spawner, make_user) -> None:
    spawner = make_spawner("bob", BOB_GROUPS)
    spawner.user.groups.extend(make_user("x", ["gpu-users"]).groups)

    manifest = await manifest_for(spawner, {"profile": "gpu-2x"})

    assert container(manifest)["resources"]["limits"][GPU] == "2"
    assert "gpu-2x" in [p["slug"] for p in spawner.profile_list(spawner)]


async def test_the_spawn_form_lists_only_usable_profiles_and_posts_the_slug(make_spawner) -> None:
    spawner = make_spawner("bob", BOB_GROUPS)
    form = spawner.options_form
    html = form(spawner) if callable(form) else form

    for slug in ("cpu-small", "cpu-large", "dask"):
        assert f'name="profile" id="profile-{slug}" value="{slug}"' in html
    assert "gpu-2x" not in html and "secure-cpu" not in html
    assert spawner.run_options_from_form({"profile": ["dask"]}) == {"profile": "dask"}
    with pytest.raises(web.HTTPError) as refused:
        spawner.run_options_from_form({"profile": ["gpu-2x"]})
    assert refused.value.status_code == 403


async def test_a_profile_edit_applies_at_the_next_spawn(
    kube_config_file: Path, make_spawner,
) -> None:
    spawner = make_spawner("bob", BOB_GROUPS)
    await manifest_for(spawner, {"profile": "cpu-small"})
    text = kube_config_file.read_text()
    kube_config_file.write_text(
        text.replace("memory: {guarantee: 1G, limit: 2G}", "memory: {guarantee: 1G, limit: 3G}")
    )

    manifest = await manifest_for(spawner, {"profile": "cpu-small"})

    assert memory(container(manifest)["resources"]["limits"]["memory"]) == memory_bytes("3G")


def test_profile_entries_use_a_profile_image_and_mark_one_default(kube_config_file: Path) -> None:
    config = load(kube_config_file)
    custom = config.profile("dask").model_copy(update={"image": "registry.example/dask:1"})
    no_default = [p.model_copy(update={"default": False}) for p in config.profiles[:2]]

    (entry,) = objects.profile_list([custom], config.kubernetes)
    entries = objects.profile_list(no_default + [custom], config.kubernetes)

    assert entry["kubespawner_override"]["image"] == "registry.example/dask:1"
    assert entry["default"] is True
    assert [e["default"] for e in entries] == [True, False, False]
    assert objects.profile_list([], config.kubernetes) == []


async def test_the_spawn_progress_names_the_chosen_profile(make_spawner) -> None:
    config = Config()
    config.KubeSpawner.events_enabled = False  # pod events need a cluster
    spawner = make_spawner("bob", BOB_GROUPS, config)
    await manifest_for(spawner, {"profile": "dask"})

    events = [event async for event in spawner.progress()]

    assert any("Dask cluster" in e["message"] and "2 Dask workers" in e["message"]
               for e in events)
