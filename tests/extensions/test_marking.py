"""The pure parts of the extension: markings (never lowered) and guarding routes in place."""

from __future__ import annotations

from jupyter_server.base.handlers import AuthenticatedFileHandler, JupyterHandler
from jupyter_server.nbconvert.handlers import NbconvertFileHandler, NbconvertPostHandler
from tornado import web

from assay.config.catalog import CLASSES as CATALOG_CLASSES
from assay.extensions import _jupyter_server_extension_points, guard
from assay.extensions.marking import CLASSES, Marking


def test_class_order_is_the_catalogs():
    assert CLASSES == CATALOG_CLASSES


def test_extension_points_name_the_package():
    assert _jupyter_server_extension_points() == [{"module": "assay.extensions"}]


def test_marking_from_untrusted_metadata():
    assert not Marking.from_metadata(None) and not Marking.from_metadata({"assay": "x"})
    junk = {"assay": {"classification": "top-secret", "datasets": ["a", 3, "", "a", None]}}
    assert Marking.from_metadata(junk) == Marking(None, ("a",))
    good = {"assay": {"classification": "restricted", "datasets": ["b", "a"]}}
    assert Marking.from_metadata(good) == Marking("restricted", ("a", "b"))


def test_merging_never_lowers():
    restricted, public = Marking("restricted", ("trial",)), Marking("public", ("genes",))
    assert restricted.merge(public) == public.merge(restricted) == Marking(
        "restricted", ("genes", "trial"))
    assert Marking().merge(Marking("internal")) == Marking("internal")


def test_only_classes_above_internal_block_exports():
    assert [Marking(c).blocks_export for c in CLASSES] == [False, False, True, True]
    assert not Marking().blocks_export


def test_writing_keeps_other_keys():
    metadata = {"kernelspec": {}, "assay": {"lineage": [1]}}
    Marking("confidential", ("x",)).write(metadata)
    assert metadata == {"kernelspec": {}, "assay": {"lineage": [1], "classification":
                                                    "confidential", "datasets": ["x"]}}


class Other(JupyterHandler):
    pass


def test_download_and_export_routes_are_guarded_in_place_once():
    app = web.Application([(r"/files/(.*)", AuthenticatedFileHandler, {"path": "/tmp"}),
                           (r"/nbconvert/(\w+)", NbconvertPostHandler),
                           (r"/other", Other)])
    app.add_handlers(".*$", [(r"/ext/nbconvert/(?P<format>\w+)(?P<path>/.*)",
                              NbconvertFileHandler)])
    assert sorted(guard.install(app)) == [r"/ext/nbconvert/(?P<format>\w+)(?P<path>/.*)$",
                                          r"/files/(.*)$", r"/nbconvert/(\w+)$"]
    assert guard.install(app) == []  # idempotent
    rules = {r.matcher.regex.pattern: r for router in guard._routers(app.default_router)
             for r in router.rules if hasattr(r.matcher, "regex")}
    files = rules[r"/files/(.*)$"]
    assert issubclass(files.target, AuthenticatedFileHandler)
    assert files.target.__name__ == "AssayGuardedAuthenticatedFileHandler"
    assert files.target_kwargs == {"path": "/tmp"}
    assert rules[r"/other$"].target is Other
