"""Who may use which profile, and what a refused user is told."""

from __future__ import annotations

import copy

import pytest
import yaml

from assay import profiles
from assay.config import parse
from assay.errors import ProfileForbidden, SpawnRefused, UnknownProfile

ALICE = ["gpu-users", "oncology"]
BOB = ["analytics"]


@pytest.fixture
def demo(demo_yaml_text):
    return parse(demo_yaml_text)


def slugs(items) -> list[str]:
    return [p.slug for p in items]


def test_open_profile_is_allowed_to_everyone(demo):
    assert profiles.allowed(demo.profile("cpu-small"), [])
    assert profiles.allowed(demo.profile("cpu-small"), BOB)


def test_restricted_profile_needs_one_of_its_groups(demo):
    gpu = demo.profile("gpu-2x")
    assert profiles.allowed(gpu, ["gpu-users"])
    assert profiles.allowed(gpu, ALICE)
    assert not profiles.allowed(gpu, BOB)
    assert not profiles.allowed(gpu, [])


def test_usable_profiles_per_user(demo):
    assert slugs(profiles.usable(demo, ALICE)) == [
        "cpu-small", "cpu-large", "gpu-2x", "dask", "secure-cpu"]
    assert slugs(profiles.usable(demo, BOB)) == ["cpu-small", "cpu-large", "dask"]
    assert slugs(profiles.usable(demo, ["oncology"])) == [
        "cpu-small", "cpu-large", "dask", "secure-cpu"]


def test_no_choice_gives_the_default_profile(demo):
    assert profiles.choose(demo, None, "bob", BOB).slug == "cpu-small"
    assert profiles.choose(demo, "", "alice", ALICE).slug == "cpu-small"


def test_default_is_the_marked_profile_not_the_first(demo_config_data):
    data = copy.deepcopy(demo_config_data)
    del data["profiles"][0]["default"]
    data["profiles"][3]["default"] = True
    config = parse(yaml.safe_dump(data))
    assert profiles.choose(config, None, "bob", BOB).slug == "dask"


def test_default_forbidden_to_user_falls_back_to_first_usable(demo_config_data):
    data = copy.deepcopy(demo_config_data)
    del data["profiles"][0]["default"]
    data["profiles"][2]["default"] = True  # gpu-2x
    config = parse(yaml.safe_dump(data))
    assert profiles.choose(config, None, "alice", ALICE).slug == "gpu-2x"
    assert profiles.choose(config, None, "bob", BOB).slug == "cpu-small"


def test_chosen_profile_is_returned(demo):
    assert profiles.choose(demo, "gpu-2x", "alice", ALICE).gpus == 2
    assert profiles.choose(demo, "dask", "bob", BOB).dask_workers == 2


def test_forbidden_profile_is_403_naming_profile_group_and_admins(demo):
    with pytest.raises(ProfileForbidden) as caught:
        profiles.choose(demo, "gpu-2x", "bob", BOB)
    exc = caught.value
    assert isinstance(exc, SpawnRefused)
    assert exc.status_code == 403
    assert exc.user_message == (
        "Profile 'gpu-2x' requires membership in group 'gpu-users'; bob is not a member. "
        "Ask an Assay admin (admin) to add you.")
    assert exc.jupyterhub_message == exc.user_message
    assert str(exc) == exc.user_message


def test_forbidden_secure_profile(demo):
    with pytest.raises(ProfileForbidden) as caught:
        profiles.choose(demo, "secure-cpu", "admin", [])
    assert caught.value.user_message == (
        "Profile 'secure-cpu' requires membership in group 'oncology'; admin is not a member. "
        "Ask an Assay admin (admin) to add you.")


def test_forbidden_names_every_group_and_generic_admin(demo_config_data):
    data = copy.deepcopy(demo_config_data)
    data["admins"] = []
    data["profiles"][2]["groups"] = ["gpu-users", "analytics"]
    config = parse(yaml.safe_dump(data))
    with pytest.raises(ProfileForbidden) as caught:
        profiles.choose(config, "gpu-2x", "carol", ["oncology"])
    assert caught.value.user_message == (
        "Profile 'gpu-2x' requires membership in group 'gpu-users' or 'analytics'; "
        "carol is not a member. Ask an Assay admin to add you.")


def test_unknown_profile_is_400_listing_only_usable_slugs(demo):
    with pytest.raises(UnknownProfile) as caught:
        profiles.choose(demo, "gpu-8x", "bob", BOB)
    assert caught.value.status_code == 400
    assert caught.value.user_message == (
        "No such profile: gpu-8x. Options include: cpu-small, cpu-large, dask")


@pytest.mark.parametrize(("slug", "shown"), [
    (5, "5"), (["gpu-2x"], "['gpu-2x']"), ({"slug": "dask"}, "{'slug': 'dask'}"),
    (True, "True"), ("x" * 200, "x" * 80)])
def test_non_string_or_huge_slug_is_unknown(demo, slug, shown):
    with pytest.raises(UnknownProfile) as caught:
        profiles.choose(demo, slug, "alice", ALICE)
    assert caught.value.status_code == 400
    assert caught.value.user_message == (
        f"No such profile: {shown}. "
        "Options include: cpu-small, cpu-large, gpu-2x, dask, secure-cpu")


def test_user_with_no_usable_profile_is_refused(demo_config_data):
    data = copy.deepcopy(demo_config_data)
    data["profiles"] = [data["profiles"][2], data["profiles"][4]]
    config = parse(yaml.safe_dump(data))
    with pytest.raises(ProfileForbidden) as caught:
        profiles.choose(config, None, "bob", BOB)
    assert caught.value.status_code == 403
    assert "requires membership in group 'gpu-users'; bob is not a member" in str(caught.value)


def test_grantors(demo, demo_config_data):
    assert profiles.grantors(demo) == "an Assay admin (admin)"
    data = copy.deepcopy(demo_config_data)
    data["admins"] = ["admin", "root-1"]
    assert profiles.grantors(parse(yaml.safe_dump(data))) == "an Assay admin (admin, root-1)"


@pytest.mark.parametrize(("slug", "text"), [
    ("cpu-small", "1 CPU · 2G memory"),
    ("cpu-large", "4 CPUs · 16G memory"),
    ("gpu-2x", "8 CPUs · 32G memory · 2 GPUs"),
    ("dask", "2 CPUs · 8G memory · 2 Dask workers"),
    ("secure-cpu", "2 CPUs · 8G memory · secure zone"),
])
def test_summary_of_demo_profiles(demo, slug, text):
    assert profiles.summary(demo.profile(slug)) == text


def test_summary_singular_and_fractions(demo_config_data):
    data = copy.deepcopy(demo_config_data)
    data["profiles"][0].update(cpu={"limit": 0.5}, gpus=1, dask_workers=1, zone="secure")
    config = parse(yaml.safe_dump(data))
    assert profiles.summary(config.profile("cpu-small")) == (
        "0.5 CPUs · 2G memory · 1 GPU · 1 Dask worker · secure zone")
