"""Job secrets: per-owner values, encrypted in the database, referenced as ``secret://name``.

Values are sealed with Fernet (AES-128-CBC + HMAC-SHA256) under a key from
``$ASSAY_SECRET_KEY`` or a key file (``<state_dir>/secret.key``, created 0600 on first
use). Each ciphertext also seals its owner and name, so a row copied to another owner
or name does not decrypt there. Only the service reads values, when a run starts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ..db.engine import IMMEDIATE
from ..db.models import NAME, JobSecret
from ..errors import InvalidSecret, SecretNotFound, SecretsUnavailable
from .params import SECRET_HELP, SECRET_NAME

KEY_ENV = "ASSAY_SECRET_KEY"
MAX_VALUE_BYTES = 64 * 1024


def _read_key_file(path: Path, create: bool) -> bytes:
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(Fernet.generate_key())
    try:
        return path.read_bytes().strip()
    except OSError as exc:
        raise SecretsUnavailable("Secrets are not available: the service has no key.",
                                 f"cannot read secret key file {path}: {exc.strerror}") from None


def load_key(key_file: Path | None = None, *, create: bool = False,
             environ: Mapping[str, str] | None = None) -> bytes:
    """The Fernet key: ``$ASSAY_SECRET_KEY`` (of ``environ``, default the process's) if
    set, else the contents of ``key_file`` (made with a new key when ``create`` and
    missing)."""
    environ = os.environ if environ is None else environ
    key = environ.get(KEY_ENV, "").strip().encode()
    if not key:
        if key_file is None:
            raise SecretsUnavailable("Secrets are not available: the service has no key.",
                                     f"neither ${KEY_ENV} nor a key file is configured")
        key = _read_key_file(key_file, create)
    try:
        Fernet(key)
    except ValueError:
        raise SecretsUnavailable("Secrets are not available: the service key is invalid.",
                                 "the secret key must be 32 url-safe base64-encoded bytes "
                                 "(Fernet.generate_key())") from None
    return key


def check_name(name: object) -> str:
    if not isinstance(name, str) or not SECRET_NAME.match(name):
        raise InvalidSecret(f"name: must be {SECRET_HELP}, got {name!r}")
    return name


def _check_value(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidSecret("value: must be non-empty text")
    if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
        raise InvalidSecret(f"value: must be at most {MAX_VALUE_BYTES} bytes")
    return value


def _check_owner(owner: object) -> str:
    if not isinstance(owner, str) or not owner or len(owner) > NAME:
        raise InvalidSecret(f"owner: must be a user name of 1-{NAME} characters")
    return owner


class SecretStore:
    """Encrypted secrets in ``engine``'s database (migrated by ``assay.db.upgrade``)."""

    def __init__(self, engine: Engine, key: bytes):
        self._engine = engine
        self._fernet = Fernet(key)

    def _seal(self, owner: str, name: str, value: str) -> str:
        plain = json.dumps({"owner": owner, "name": name, "value": value})
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def _open(self, owner: str, name: str, ciphertext: str) -> str:
        try:
            sealed = json.loads(self._fernet.decrypt(ciphertext.encode("ascii")))
        except (InvalidToken, ValueError):
            sealed = None
        if not isinstance(sealed, dict) or (sealed.get("owner"), sealed.get("name")) != (
                owner, name):
            raise SecretsUnavailable(
                f"Secret '{name}' cannot be read: it was stored under another key. "
                "Store it again.", f"secret {owner}/{name}: decryption failed")
        return sealed["value"]

    def put(self, owner: str, name: str, value: str) -> None:
        """Store or replace a secret."""
        row = {"owner": _check_owner(owner), "name": check_name(name),
               "ciphertext": self._seal(owner, name, _check_value(value)),
               "created_at": datetime.now(UTC)}
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(JobSecret).values(row)
        statement = statement.on_conflict_do_update(
            index_elements=["owner", "name"],
            set_={"ciphertext": statement.excluded.ciphertext,
                  "created_at": statement.excluded.created_at})
        with self._engine.connect().execution_options(**IMMEDIATE) as conn, conn.begin():
            conn.execute(statement)

    def get(self, owner: str, name: str) -> str:
        """The value; ``SecretNotFound`` if the owner has no such secret."""
        return self.resolve(owner, [name])[name]

    def resolve(self, owner: str, names: Iterable[str]) -> dict[str, str]:
        """Values of several secrets; ``SecretNotFound`` names every missing one."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        query = select(JobSecret.name, JobSecret.ciphertext).where(
            JobSecret.owner == owner, JobSecret.name.in_(wanted))
        with self._engine.connect() as conn:
            rows = {r.name: r.ciphertext for r in conn.execute(query)}
        missing = [n for n in wanted if n not in rows]
        if missing:
            have = ", ".join(self.names(owner)) or "(none)"
            raise SecretNotFound(
                f"No secret named {', '.join(repr(m) for m in missing)} for {owner}; "
                f"{owner}'s secrets: {have}. Store it first (assay secrets set NAME).")
        return {name: self._open(owner, name, rows[name]) for name in wanted}

    def names(self, owner: str) -> list[str]:
        query = select(JobSecret.name).where(JobSecret.owner == owner).order_by(JobSecret.name)
        with self._engine.connect() as conn:
            return list(conn.scalars(query))

    def delete(self, owner: str, name: str) -> bool:
        statement = delete(JobSecret).where(JobSecret.owner == owner, JobSecret.name == name)
        with self._engine.begin() as conn:
            return conn.execute(statement).rowcount > 0
