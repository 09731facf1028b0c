"""Secrets at rest: camera passwords and other credentials live in the OS keyring, never in the config file.

What is a secret: every value :mod:`app.secrets` finds in a URL of the config (the password in
``user:password@``, and secret query or path parameters such as ``pwd=``, ``token=``,
``_password=..._``), in camera main and sub-stream URLs, JSON device URLs, analytics server URLs,
webhook URLs and the store's database URL. On disk such a value is replaced by a reference that names its
key, e.g. ``rtsp://admin:${secret:camera.gate.main}@10.0.0.5/ch1?pwd=${secret:camera.gate.main}``; the
user name and everything else stay readable. Braces are not allowed unencoded in an RFC 3986 URL, so a
reference is never mistaken for a password.

Where the values go (one :class:`Keystore` per config file, chosen once, said once in the log):

* the OS keyring through the ``keyring`` package (Secret Service on a Linux desktop, the macOS Keychain,
  the Windows Credential Manager): service ``vigil``, user name = the key (``camera.gate.main``). A
  config file other than the platform default one prefixes its keys with its absolute path
  (``/srv/site-a/vigil.json|camera.gate.main``), so two sites on one machine never share a password.
* where keyring finds no usable backend (a headless Linux node: ``keyring.get_keyring()`` is the
  ``fail`` or ``null`` backend, priority <= 0, or the backend does not answer), a file next to the
  config, ``<config name>.secrets.json``, mode 0600 in a folder created 0700, written atomically. It is
  **not encrypted**: like ``~/.ssh/id_*`` without a passphrase or ``~/.netrc`` it relies on file
  permissions, so it protects against other local users and against a config file that is shared,
  pasted into a ticket or committed, not against root or a process running as this user, nor against a
  stolen unencrypted disk. Encrypting it with a key kept on the same disk would add nothing.
  ``PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring`` (keyring's own switch) forces the file.

The value stored is the slot's text as written in the URL (percent-encoding kept), so putting it back is
exact. Keys: ``camera.<id>.main`` / ``camera.<id>.sub`` for the first distinct secret of a camera URL,
``<that>.<parameter>`` for a second, different one (``camera.gate.main.token``); ``device.<i>``,
``analytics.<i>``, ``webhook.<i>``, ``store.database`` likewise. Keys a save no longer references are
deleted after the config is written.

Ordering: a save writes the secrets first, then the config (atomically), then deletes stale keys, so a
crash at any point leaves a config whose references all resolve.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from app.paths import APP_NAME
from app.secrets import MASK, ref_key, replace_slots, secret_ref, secret_slots

if TYPE_CHECKING:  # keyring itself is imported on first use: 0.1-0.3 s that `vigil --version` need not pay
    import keyring.backend

log = logging.getLogger(__name__)

SERVICE = "vigil"
FILE_FORMAT = "vigil-secrets"
_REF_IN_TEXT_RE = re.compile(r"\$\{secret:([A-Za-z0-9_.-]{1,200})\}")


class SecretStoreError(OSError):
    """The keyring or the secret file cannot be read or written; the message says which and why.
    An OSError, so a failed save is reported like a full disk."""


def fallback_file_for(config_path: Path) -> Path:
    """The file store that goes with *config_path*: ``vigil.json`` -> ``vigil.secrets.json``."""
    return config_path.with_name(f"{config_path.stem}.secrets.json")


class _FileStore:
    """``{"format": "vigil-secrets", "version": 1, "secrets": {key: value}}``, 0600, atomic replace."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, str]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise SecretStoreError(f"cannot read the secret file {self.path}: {e.strerror}") from None
        if st.st_mode & 0o077:
            log.warning("the secret file %s could be read by other users (mode %o); it is now 0600",
                        self.path, stat.S_IMODE(st.st_mode))  # fmt: skip
            try:
                os.chmod(self.path, 0o600)
            except OSError as e:
                raise SecretStoreError(f"cannot make the secret file {self.path} private: {e.strerror}") from None
        try:
            data = json.loads(self.path.read_bytes().decode("utf-8"))
        except OSError as e:
            raise SecretStoreError(f"cannot read the secret file {self.path}: {e.strerror}") from None
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = None
        secrets = data.get("secrets") if isinstance(data, dict) and data.get("format") == FILE_FORMAT else None
        if not isinstance(secrets, dict) or not all(isinstance(v, str) for v in secrets.values()):
            raise SecretStoreError(f"the secret file {self.path} is damaged (not a Vigil secret file); move it "
                                   "away and enter the camera passwords again")  # fmt: skip
        return {str(k): v for k, v in secrets.items()}

    def write(self, secrets: dict[str, str]) -> None:
        folder = self.path.parent
        try:
            if not folder.exists():
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask
            elif folder.stat().st_mode & 0o022:
                log.warning("the folder %s of the secret file can be written by other users: they could replace "
                            "the file; make it 0700", folder)  # fmt: skip
            text = json.dumps({"format": FILE_FORMAT, "version": 1, "secrets": dict(sorted(secrets.items()))},
                              indent=2, ensure_ascii=False)  # fmt: skip
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)  # created 0600
        except OSError as e:
            raise SecretStoreError(f"cannot write the secret file {self.path}: {e.strerror}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise SecretStoreError(f"cannot write the secret file {self.path}: {e.strerror}") from None


class Keystore:
    """Secrets by key, in the OS keyring or (where there is none) in a private file. Thread-safe.

    *keyring_backend*: a ``keyring.backend.KeyringBackend`` to use instead of ``keyring.get_keyring()``.
    The backend is chosen on first use, so a config without secrets never touches a keyring."""

    def __init__(
        self, fallback_file: Path, keyring_backend: keyring.backend.KeyringBackend | None = None, scope: str = ""
    ) -> None:
        self._file = _FileStore(fallback_file)
        self._requested = keyring_backend
        self._scope = scope
        self._os: keyring.backend.KeyringBackend | None = None
        self._chosen = False
        self._lock = threading.Lock()
        self.where = ""  # words: where the secrets are (set when chosen)

    @classmethod
    def for_config(cls, config_path: Path) -> Keystore:
        """The keystore of a config file (one per file and process: the backend is logged once)."""
        return _keystore_for(Path(config_path).absolute())

    # ------------------------------------------------------------------ backend
    def _choose(self) -> None:
        if self._chosen:
            return
        import keyring

        kr = self._requested or keyring.get_keyring()
        name = getattr(kr, "name", type(kr).__name__)
        try:
            priority = float(kr.priority)
        except Exception:  # a backend's priority may raise when it is not viable at all
            priority = 0.0
        # the fail/null backends (priority <= 0) are what keyring returns where there is no OS keyring at all
        why = _probe(kr, name, self._scope) if priority > 0 else f"no OS keyring here (keyring found only {name!r})"
        if why:
            self.where = f"the file {self._file.path}"
            log.info("secrets: %s; camera passwords are kept in %s (mode 0600, not encrypted: readable only by "
                     "this user, see docs/secrets.md)", why, self._file.path)  # fmt: skip
        else:
            self._os = kr
            self.where = f"the OS keyring ({name})"
            log.info("secrets: camera passwords are kept in the OS keyring (%s), service %r", name, SERVICE)
        self._chosen = True

    @property
    def uses_os_keyring(self) -> bool:
        with self._lock:
            self._choose()
            return self._os is not None

    def _os_call(self, verb: str, key: str, fn, *args):
        import keyring.errors

        try:
            return fn(SERVICE, self._scope + key, *args)
        except keyring.errors.PasswordDeleteError:
            return None
        except Exception as e:
            raise SecretStoreError(f"{self.where} refused to {verb} {key!r}: {type(e).__name__}: {e}") from None

    # ------------------------------------------------------------------ API
    def get(self, key: str) -> str | None:
        with self._lock:
            self._choose()
            if self._os is not None:
                return self._os_call("read", key, self._os.get_password)
            return self._file.read().get(key)

    def put(self, values: dict[str, str]) -> None:
        """Store every key -> value (unchanged values are not written again)."""
        if not values:
            return
        with self._lock:
            self._choose()
            if self._os is not None:
                for key, value in values.items():
                    if self._os_call("read", key, self._os.get_password) != value:
                        self._os_call("store", key, self._os.set_password, value)
                return
            current = self._file.read()
            if any(current.get(k) != v for k, v in values.items()):
                self._file.write({**current, **values})

    def delete(self, keys: Iterable[str]) -> None:
        keys = set(keys)
        if not keys:
            return
        with self._lock:
            self._choose()
            if self._os is not None:
                for key in sorted(keys):
                    self._os_call("delete", key, self._os.delete_password)
                return
            current = self._file.read()
            if keys & current.keys():
                self._file.write({k: v for k, v in current.items() if k not in keys})


PROBE_TIMEOUT_S = 10.0


def _probe(kr: keyring.backend.KeyringBackend, name: str, scope: str) -> str:
    """'' when the backend answers a read; else why not, in words. On a worker thread with a bound: a locked
    Secret Service collection asks to be unlocked by a prompt, which no one answers on a headless node."""
    answer: list[str] = []

    def read() -> None:
        try:
            kr.get_password(SERVICE, scope + "vigil.probe")
            answer.append("")
        except Exception as e:
            answer.append(f"the OS keyring ({name}) does not answer: {type(e).__name__}: {e}")

    t = threading.Thread(target=read, name="keystore:probe", daemon=True)
    t.start()
    t.join(PROBE_TIMEOUT_S)
    if not answer:
        return f"the OS keyring ({name}) did not answer within {PROBE_TIMEOUT_S:g} s (locked, waiting for a prompt?)"
    return answer[0]


@functools.cache
def _keystore_for(config_path: Path) -> Keystore:
    default = Path(platformdirs.user_config_dir(APP_NAME)).absolute() / "vigil.json"
    scope = "" if config_path == default else f"{config_path}|"
    return Keystore(fallback_file_for(config_path), scope=scope)


# ---------------------------------------------------------------- which config values carry secrets


@dataclass
class _SecretField:
    key: str  # key of its first distinct secret
    where: str  # words for the operator
    camera: bool
    holder: dict | list
    index: str | int


def _fields(data: dict) -> Iterator[_SecretField]:
    """Every URL of a dumped config (``AppConfig.model_dump(mode="json")``) that may carry a secret."""
    for cam in data.get("cameras") or []:
        for name, stream, words in (("url", "main", "URL"), ("sub_url", "sub", "sub-stream URL")):
            if isinstance(cam.get(name), str):
                yield _SecretField(f"camera.{cam['id']}.{stream}", f"camera {cam['id']!r} ({words})", True, cam, name)
    probes = data.get("probes") or {}
    for i, dev in enumerate(probes.get("json_devices") or []):
        if isinstance(dev.get("url"), str):
            yield _SecretField(f"device.{i}", f"JSON device {dev.get('name')!r}", False, dev, "url")
    for i, srv in enumerate(probes.get("analytics_servers") or []):
        if isinstance(srv.get("base_url"), str):
            yield _SecretField(f"analytics.{i}", f"analytics server {i + 1}", False, srv, "base_url")
    hooks = (data.get("alerts") or {}).get("webhook_urls") or []
    for i, url in enumerate(hooks):
        if isinstance(url, str):
            yield _SecretField(f"webhook.{i}", f"webhook {i + 1}", False, hooks, i)
    store = data.get("store") or {}
    if isinstance(store.get("url"), str):
        yield _SecretField("store.database", "the database URL", False, store, "url")


def _real(value: str) -> bool:
    return bool(value) and value != MASK and ref_key(value) is None


@dataclass
class SecretScan:
    """What :func:`resolve_secrets` found in a config read from disk."""

    references: int = 0  # references resolved or not
    plaintext_camera: int = 0  # distinct secrets in plain text, camera URLs
    plaintext_other: int = 0  # ... in the other URLs
    missing: list[tuple[str, str]] = field(default_factory=list)  # (where, key) of unresolved references


def resolve_secrets(data: dict, keystore: Keystore) -> SecretScan:
    """Put the stored values back in place of the references in *data* (in place). A reference whose key
    is not in the keystore stays as it is (the camera then says :data:`MISSING_WORDS`); a keystore that
    cannot be read counts as missing everything, with the reason logged."""
    scan = SecretScan()
    for f in _fields(data):
        url = f.holder[f.index]
        slots = secret_slots(url)
        plain = {s.value for s in slots if _real(s.value)}
        if f.camera:
            scan.plaintext_camera += len(plain)
        else:
            scan.plaintext_other += len(plain)
        values = []
        for s in slots:
            key = ref_key(s.value)
            if key is None:
                values.append(s.value)
                continue
            scan.references += 1
            try:
                value = keystore.get(key)
            except SecretStoreError as e:
                log.error("%s", e)
                value = None
            if value is None:
                if (f.where, key) not in scan.missing:
                    scan.missing.append((f.where, key))
                values.append(s.value)
            else:
                values.append(value)
        if slots:
            f.holder[f.index] = replace_slots(url, values)
    return scan


def strip_secrets(data: dict) -> tuple[dict[str, str], set[str]]:
    """Replace every secret in *data* by a reference (in place). Returns (key -> value to store, every key
    the stripped config references, stored or not)."""
    to_store: dict[str, str] = {}
    referenced: set[str] = set()
    for f in _fields(data):
        url = f.holder[f.index]
        slots = secret_slots(url)
        if not slots:
            continue
        keys: dict[str, str] = {}  # value -> key, for this URL: the same password twice is one key
        values = []
        for s in slots:
            if ref_key(s.value) is not None or not _real(s.value):
                values.append(s.value)  # a reference that did not resolve, "***" or an empty password
                if ref_key(s.value):
                    referenced.add(ref_key(s.value))
                continue
            if s.value not in keys:
                base = f.key if not keys else f"{f.key}.{re.sub(r'[^A-Za-z0-9_-]+', '-', s.name)[:40] or 'secret'}"
                key, n = base, 2
                while key in to_store or key in referenced:
                    key, n = f"{base}.{n}", n + 1
                keys[s.value] = key
                to_store[key] = s.value
                referenced.add(key)
            values.append(secret_ref(keys[s.value]))
        f.holder[f.index] = replace_slots(url, values)
    return to_store, referenced


def references_in(text: str) -> set[str]:
    """The keys referenced anywhere in a config file's text."""
    return set(_REF_IN_TEXT_RE.findall(text))
