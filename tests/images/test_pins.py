"""The images' pins agree with setup.cfg and with each other; every base image is pinned.

No image is built here (no Docker engine): this reads images/constraints.txt and the
Dockerfiles as text and checks them against setup.cfg with ``packaging``.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from assay.deploy.values import CHART_VERSION

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "images"
CONSTRAINTS = IMAGES / "constraints.txt"
DOCKERFILES = {name: IMAGES / name / "Dockerfile" for name in ("hub", "singleuser",
                                                               "singleuser-gpu")}
SINGLEUSER = ("singleuser", "singleuser-gpu")
PIN = re.compile(r"(?<![\w.-])([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9][A-Za-z0-9.+!_-]*)")


def setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    return parser


def lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def install_requires() -> list[Requirement]:
    return [Requirement(line) for line in lines(setup_cfg()["options"]["install_requires"])]


def runtime_extras() -> list[Requirement]:
    """Requirements of the extras other than ``test`` (what an image may install)."""
    cfg = setup_cfg()
    if not cfg.has_section("options.extras_require"):
        return []
    return [Requirement(line) for extra, value in cfg["options.extras_require"].items()
            if extra != "test" for line in lines(value)]


def constraints() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in lines(CONSTRAINTS.read_text()):
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==" and not requirement.extras, f"not an exact pin: {line}"
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"{name} is pinned twice"
        pins[name] = Version(spec.version)
    return pins


def dockerfile(name: str) -> str:
    return DOCKERFILES[name].read_text()


def instructions(text: str, keyword: str) -> list[str]:
    """The arguments of every ``keyword`` instruction (continuation lines joined)."""
    joined = re.sub(r"\\\n", " ", text)
    return [line.split(None, 1)[1] for line in joined.splitlines()
            if line.strip().upper().startswith(keyword + " ")]


def base_image(name: str) -> tuple[str, str]:
    (ref,) = [args.split()[0] for args in instructions(dockerfile(name), "FROM")]
    image, _, tag = ref.partition("@")[0].rpartition(":")
    return image, tag


def test_every_requirement_of_the_package_is_pinned_within_its_range() -> None:
    pins = constraints()
    for requirement in install_requires():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} (setup.cfg) has no pin in {CONSTRAINTS.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} ({CONSTRAINTS.name}) is outside setup.cfg's "
            f"'{requirement}'")
    if any(canonicalize_name(r.name) == "psycopg" and "binary" in r.extras
           for r in install_requires()):
        assert pins["psycopg-binary"] == pins["psycopg"], "psycopg[binary] needs both, equal"


def test_the_extras_the_images_install_are_pinned() -> None:
    pins = constraints()
    extras = {e for text in map(dockerfile, DOCKERFILES)
              for group in re.findall(r"/tmp/assay/src\[([^\]]+)\]", text)
              for e in group.split(",")}
    cfg = setup_cfg()["options.extras_require"]
    for extra in sorted(extras):
        assert extra in cfg, f"the images install extra [{extra}], which setup.cfg lacks"
        for requirement in map(Requirement, lines(cfg[extra])):
            assert canonicalize_name(requirement.name) in pins, (
                f"{requirement} (extra [{extra}]) has no pin in {CONSTRAINTS.name}")


def test_pins_of_optional_dependencies_satisfy_their_ranges() -> None:
    pins = constraints()
    for requirement in runtime_extras():
        name = canonicalize_name(requirement.name)
        if name in pins:
            assert requirement.specifier.contains(pins[name], prereleases=True), (
                f"{name}=={pins[name]} is outside '{requirement}'")


@pytest.mark.parametrize("name", list(DOCKERFILES))
def test_every_base_image_is_pinned(name: str) -> None:
    refs = [args.split()[0] for args in instructions(dockerfile(name), "FROM")]
    assert refs, f"{name}: no FROM"
    for ref in refs:
        image, _, digest = ref.partition("@")
        tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
        assert tag or digest, f"{name}: FROM {ref} has no tag or digest"
        assert tag != "latest" and not tag.endswith("-latest"), f"{name}: FROM {ref} floats"
        assert "$" not in ref, f"{name}: FROM {ref} depends on a build argument"


@pytest.mark.parametrize("name", list(DOCKERFILES))
def test_images_install_the_package_non_editably_with_the_constraints(name: str) -> None:
    text = dockerfile(name)
    installs = [args for args in instructions(text, "RUN") if "pip install" in args]
    assert installs, f"{name}: installs nothing"
    for run in installs:
        for command in re.split(r"&&|;", run):
            if "pip install" in command:
                assert "--constraint /tmp/assay/constraints.txt" in command, command
                assert not re.search(r"\s(-e|--editable)\s", command), command
    assert "COPY" in text and "images/constraints.txt /tmp/assay/constraints.txt" in text


@pytest.mark.parametrize("name", list(DOCKERFILES))
def test_images_copy_every_folder_the_package_is_built_from(name: str) -> None:
    cfg = setup_cfg()
    folders = {line.split("=")[1].strip() for line in lines(cfg["options"]["package_dir"])}
    folders |= {source.split("/")[0] for _, value in cfg["options.data_files"].items()
                for source in lines(value)}
    copied = {source for args in instructions(dockerfile(name), "COPY")
              for source in args.split()[:-1] if not source.startswith("--")}
    ignore = (DOCKERFILES[name].parent / "Dockerfile.dockerignore").read_text()
    for folder in sorted(folders):
        assert folder in copied, f"{name}: does not copy {folder}/ (setup.cfg uses it)"
        assert f"!{folder}\n" in ignore, f"{name}: Dockerfile.dockerignore excludes {folder}/"


@pytest.mark.parametrize("name", list(DOCKERFILES))
def test_dockerfiles_pin_nothing_differently(name: str) -> None:
    pins = constraints()
    for package, version in PIN.findall(dockerfile(name)):
        key = canonicalize_name(package)
        assert key in pins, f"{name}: pins {package}=={version}, absent from constraints"
        assert pins[key] == Version(version), (
            f"{name}: {package}=={version} but constraints say {pins[key]}")


def test_singleuser_images_agree_on_python_and_follow_docker_stacks() -> None:
    python_requires = SpecifierSet(setup_cfg()["options"]["python_requires"])
    versions = set()
    for name in SINGLEUSER:
        image, tag = base_image(name)
        assert image.startswith("quay.io/jupyter/"), f"{name}: not a docker-stacks image"
        match = re.search(r"python-(\d+\.\d+\.\d+)$", tag)
        assert match, f"{name}: tag {tag!r} does not name its Python version"
        versions.add(Version(match.group(1)))
        text = dockerfile(name)
        assert "USER ${NB_UID}" in text and "fix-permissions \"${CONDA_DIR}\"" in text
        assert "jupyter server extension enable --sys-prefix assay.extensions" in text
        assert "assay kernels install --sys-prefix" in text
        assert "images/jupyter_server_config.py ${CONDA_DIR}/etc/jupyter/" in text
    assert len(versions) == 1, f"singleuser images differ in Python: {versions}"
    (version,) = versions
    assert python_requires.contains(version), f"Python {version} outside {python_requires}"
    assert base_image("singleuser-gpu")[1].startswith("cuda12-")


def test_the_hub_image_is_the_charts_release() -> None:
    image, tag = base_image("hub")
    assert image == "quay.io/jupyterhub/k8s-hub"
    assert tag == CHART_VERSION, (
        f"images/hub builds on k8s-hub:{tag} but the values are rendered for chart "
        f"{CHART_VERSION} (assay.deploy.values.CHART_VERSION): change both together")
