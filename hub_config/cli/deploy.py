"""``assay deploy render`` and ``assay kernels install``.

``deploy render`` writes the zero-to-jupyterhub Helm values and the extra manifests for
``assay.yaml`` (see docs/deploy.md); ``kernels install`` installs the Assay kernelspecs
(needed after an editable install, which installs no data files; ``make install`` runs it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import default_path
from ..errors import ConfigError, DeployError

DEFAULT_OUT = "assay-deploy"


def register(sub: argparse._SubParsersAction) -> None:
    deploy = sub.add_parser("deploy", help="Kubernetes deployment",
                            description="Deploy Assay on Kubernetes with zero-to-jupyterhub.")
    actions = deploy.add_subparsers(dest="action", metavar="ACTION", required=True)
    render = actions.add_parser(
        "render", help="write Helm values and manifests",
        description="Write values.yaml (zero-to-jupyterhub) and manifests.yaml (namespace, "
        "ConfigMap, storage, RBAC) from the admin YAML. Never writes secret values.")
    render.add_argument("--config", help="admin YAML (default: $ASSAY_CONFIG or the shipped one)")
    render.add_argument("--out", default=DEFAULT_OUT, help=f"folder (default: {DEFAULT_OUT})")
    render.add_argument("--hub-image", help="hub image with a pinned tag "
                        "(default: assay-hub:<version>, built from images/hub)")
    render.add_argument("--storage-size", default="10Gi",
                        help="size of the Assay service's volume (default: 10Gi)")
    render.add_argument("--storage-class", help="StorageClass of that volume (default: the "
                        "cluster's default)")
    render.add_argument("--strict", action="store_true",
                        help="exit 1 when the config renders but will not work on a cluster")
    render.set_defaults(func=render_command)

    kernels = sub.add_parser("kernels", help="Assay kernelspecs",
                             description="Install the 'Python 3 (Assay)' kernelspecs.")
    kernel_actions = kernels.add_subparsers(dest="action", metavar="ACTION", required=True)
    install = kernel_actions.add_parser(
        "install", help="install the kernelspecs",
        description="Install 'Python 3 (Assay)' and 'Python 3 (Assay, GPU)' (listed on GPU "
        "profiles only) and the server setting that hides the GPU one elsewhere.")
    where = install.add_mutually_exclusive_group()
    where.add_argument("--sys-prefix", action="store_true",
                       help="into this Python environment (the default)")
    where.add_argument("--user", action="store_true", help="into the user's Jupyter folders")
    where.add_argument("--prefix", help="under this prefix (share/jupyter/kernels, etc/jupyter)")
    install.set_defaults(func=kernels_install)


def render_command(args: argparse.Namespace) -> int:
    from ..deploy.render import render_file, write
    from ..deploy.values import CHART_REPO, CHART_VERSION, DeployOptions

    options = DeployOptions(storage_size=args.storage_size, storage_class=args.storage_class,
                            **({"hub_image": args.hub_image} if args.hub_image else {}))
    try:
        rendered = render_file(args.config or default_path(), options)
    except (ConfigError, DeployError) as exc:
        print(exc.user_message, file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"Cannot read the config: {exc}", file=sys.stderr)
        return 1
    for path in write(rendered, args.out):
        print(f"Wrote {path}")
    for warning in rendered.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    out, ns = Path(args.out), rendered.config.kubernetes.namespace
    print("\nSecrets to create first (values never go into these files):")
    for secret in rendered.secrets:
        literals = " ".join(f"--from-literal={key}=..." for key in secret.keys)
        note = " (optional)" if secret.optional else ""
        print(f"  kubectl -n {ns} create secret generic {secret.name} {literals}"
              f"   # {secret.purpose}{note}")
    print("\nThen:\n"
          f"  kubectl apply -f {out / 'manifests.yaml'}\n"
          f"  helm repo add jupyterhub {CHART_REPO} && helm repo update\n"
          f"  helm upgrade --install assay jupyterhub/jupyterhub --version {CHART_VERSION} "
          f"--namespace {ns} --values {out / 'values.yaml'}")
    return 1 if args.strict and rendered.warnings else 0


def kernels_install(args: argparse.Namespace) -> int:
    from ..kernels.install import install

    for path in install(prefix=args.prefix, user=args.user):
        print(f"Installed {path}")
    return 0
