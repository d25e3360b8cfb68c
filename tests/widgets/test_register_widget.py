"""``assay.widgets.RegisterModel`` in this process against the demo hub's Assay service:
built as a kernel builds it (``$ASSAY_BROKER_URL`` and a token from the environment), its
button clicked with ``Button.click()``, the version checked through ``assay.models``."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import assay.models


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def small_model() -> LogisticRegression:
    return LogisticRegression().fit(np.eye(4), [0, 1, 0, 1])


@pytest.fixture(scope="module")
def alice_token(demo_hub) -> str:
    return demo_hub.user_token("alice")


@pytest.fixture
def as_alice(monkeypatch, demo_hub, alice_token) -> None:
    """The environment of a kernel holding alice's hub token (no server session)."""
    for name in ("JUPYTERHUB_API_TOKEN", "ASSAY_TOKEN", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ASSAY_BROKER_URL", demo_hub.broker_url)
    monkeypatch.setenv("ASSAY_SESSION_TOKEN", alice_token)


def test_importing_assay_widgets_loads_the_register_widget_lazily():
    code = ("import sys, assay.widgets; assert 'ipywidgets' not in sys.modules; "
            "assert assay.widgets.RegisterModel.__name__ == 'RegisterModel'; "
            "assert 'ipywidgets' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.usefixtures("as_alice")
def test_one_click_registers_and_shows_version_class_lineage_and_link(demo_hub):
    from assay.widgets import RegisterModel

    existing = unique("existing")
    assay.models.register(small_model(), existing)
    form = RegisterModel(small_model())
    assert existing in form.name.options and form.result.value == ""
    name = unique("widget")
    form.name.value = name
    assert "a new model" in form.hint.value
    form.description.value = "predicts churn"
    form.metrics.value = "auc=0.91, f1=0.8"
    form.button.click()

    assert form.last_error is None, form.result.value
    version = form.last_version
    assert (version.name, version.version, version.classification) == (name, 1, "internal")
    shown = form.result.value
    assert f"<b>{name} version 1</b> registered (ready)." in shown
    assert "Classification: <b>internal</b>" in shown
    assert "Lineage: no datasets read by this kernel" in shown
    assert "Metrics: auc=0.91, f1=0.8" in shown
    link = re.search(r'href="([^"]+)"', shown).group(1)
    assert f"/services/assay/models/{name}" in link
    assert not form.button.disabled and name in form.name.options
    stored = assay.models.get(name, 1)
    assert stored.description == "predicts churn" and stored.metrics == {"auc": 0.91,
                                                                         "f1": 0.8}

    form.button.click()  # again: the next version of the same model
    assert form.last_version.version == 2
    assert "registers the next version" in form.hint.value


@pytest.mark.usefixtures("as_alice")
def test_refusals_are_shown_readable_and_the_form_keeps_its_values():
    from assay.widgets import RegisterModel

    form = RegisterModel(small_model(), name="Bad<b>Name")
    assert "not a valid name" in form.hint.value  # advisory, as typed
    form.description.value = "kept"
    form.metrics.value = "auc=0.9"
    form.button.click()
    assert isinstance(form.last_error, assay.models.InvalidModelInput)
    shown = form.result.value
    assert "Not registered. name: &#x27;Bad&lt;b&gt;Name&#x27;" in shown
    assert "<b>Name" not in shown and "Traceback" not in shown
    assert (form.name.value, form.description.value, form.metrics.value) == (
        "Bad<b>Name", "kept", "auc=0.9")

    form.name.value = unique("fixed")
    form.metrics.value = "auc=high"
    form.button.click()
    assert "Not registered. metrics: &#x27;auc&#x27; = &#x27;high&#x27; is not a number" in \
        form.result.value

    form.metrics.value = ""
    form.description.value = "x" * 2001
    form.button.click()
    assert "description: 2001 characters given" in form.result.value


@pytest.mark.usefixtures("as_alice")
def test_an_unserialisable_object_is_explained_and_nothing_registered():
    from assay.widgets import RegisterModel

    name = unique("generator")
    form = RegisterModel((i for i in range(3)), name=name)
    form.button.click()
    assert "Not registered. Cannot store a builtins.generator as a model" in form.result.value
    assert "Nothing was registered." in form.result.value
    with pytest.raises(assay.models.ModelNotFound):
        assay.models.get(name)


@pytest.mark.usefixtures("as_alice")
def test_a_pickled_model_is_registered_with_the_warning_in_view():
    from assay.widgets import RegisterModel

    form = RegisterModel({"threshold": 0.4}, name=unique("pickled"))
    form.button.click()
    assert form.last_version is not None, form.result.value
    assert "Note: no safe format for builtins.dict; stored with joblib (pickle)" in \
        form.result.value


def test_without_a_connection_the_form_says_why(monkeypatch):
    from assay.widgets import RegisterModel

    for name in ("ASSAY_BROKER_URL", "ASSAY_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    form = RegisterModel(small_model(), name="churn")
    assert "Could not load the existing model names" in form.result.value
    form.button.click()
    assert "Not registered. Not in an Assay server session" in form.result.value
