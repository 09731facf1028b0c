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
  ``fail`` or ``null`` backend, priority <= 0, or the backend does not answer within
  :data:`OS_KEYRING_TIMEOUT_S`), a file next to the config, ``<config name>.secrets.json``, mode 0600 in
  a folder created 0700, written atomically. It is **not encrypted**: like ``~/.ssh/id_*`` without a
  passphrase or ``~/.netrc`` it relies on file permissions, so it protects against other local users and
  against a config file that is shared, pasted into a ticket or committed, not against root or a process
  running as this user, nor against a stolen unencrypted disk. Encrypting it with a key kept on the same
  disk would add nothing. ``PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring`` (keyring's own
  switch) forces the file.

The choice is sticky: a secret file that holds secrets stays the store at every later start, and a key
missing from the store in use is looked for in the other one and moved over (see :class:`Keystore`). Every
OS keyring call runs on one worker with a bound (:class:`_OsKeyringWorker`): start-up, a save or stop
never waits on a locked keyring's unlock prompt for longer than that.

The value stored is the slot's text as written in the URL (percent-encoding kept), so putting it back is
exact. Keys: ``camera.<id>.main`` / ``camera.<id>.sub`` for the first distinct secret of a camera URL,
``<that>.<parameter>`` for a second, different one (``camera.gate.main.token``); ``device.<digest>``,
``analytics.<digest>``, ``webhook.<digest>`` (:func:`destination_key`: the digest names the URL the secret
is sent to, never a list position), ``store.database``. Keys a save no longer references are deleted after
the config is written; a config read with index keys from an older Vigil (``device.0``) is re-keyed.

Ordering: a save writes the secrets first, then the config (atomically), then deletes stale keys, so a
crash at any point leaves a config whose references all resolve, each to its own destination's secret.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import queue
import re
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from app.paths import APP_NAME
from app.secrets import MASK, mask_slots, ref_key, replace_slots, secret_ref, secret_slots

if TYPE_CHECKING:  # keyring itself is imported on first use: 0.1-0.3 s that `vigil --version` need not pay
    import keyring.backend

log = logging.getLogger(__name__)

SERVICE = "vigil"
FILE_FORMAT = "vigil-secrets"
_REF_IN_TEXT_RE = re.compile(r"\$\{secret:([A-Za-z0-9_.-]{1,200})\}")


# the most an OS keyring call (finding the keyring included) may take before it counts as not answering
OS_KEYRING_TIMEOUT_S = 10.0


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


class _Timeout(Exception):
    """An OS keyring call did not come back within the bound; the message is the words."""


class _Call:
    __slots__ = ("args", "done", "error", "fn", "late", "result", "what")

    def __init__(self, what: str, fn: Callable, args: tuple) -> None:
        self.what, self.fn, self.args = what, fn, args
        self.done = threading.Event()
        self.late = False  # its caller stopped waiting for it
        self.result = self.error = None


class _OsKeyringWorker:
    """Every call into the OS keyring runs here: on one daemon thread, each waited for at most *timeout_s*.

    Why: ``keyring.get_keyring()`` and a backend's ``priority`` may wait on D-Bus activation, and a read or a
    write on a locked Secret Service collection waits for an unlock prompt that no one may answer (a kiosk
    logged in automatically, a headless node). Start-up, a save or stop must never wait for that longer than
    the bound. While a call that ran out of time has not come back, further calls fail at once with the same
    words (one wait at start-up, not one per camera); once it comes back the keyring is used again. A daemon
    thread, so a call that never returns does not keep the process from exiting; it ends when idle::

        caller --call()--> queue --> keystore:os-keyring thread --> keyring backend (D-Bus, a prompt...)
          '-- waits up to timeout_s, then raises "the OS keyring did not answer within N s"
    """

    IDLE_S = 2.0  # a thread per idle keystore would add up (one per config file, and per test)

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pending = ""  # what the call that ran out of time was asked, while it has not come back

    def call(self, what: str, fn: Callable, *args):
        """``fn(*args)`` on the worker; raises :class:`_Timeout` (in words) or what *fn* raised."""
        bound = f"the OS keyring did not answer within {self.timeout_s:g} s"
        with self._lock:
            if self._pending:
                raise _Timeout(f"{bound} (asked to {self._pending}, it has not answered since: locked, waiting "
                               "for an unlock prompt?)")  # fmt: skip
            c = _Call(what, fn, args)
            self._calls.put(c)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="keystore:os-keyring", daemon=True)
                self._thread.start()
        if not c.done.wait(self.timeout_s):
            with self._lock:
                if not c.done.is_set():  # done is set under this lock: the call is either back now or late
                    c.late = True
                    self._pending = what
                    raise _Timeout(f"{bound} when asked to {what} (locked, waiting for an unlock prompt?)")
        if c.error is not None:
            raise c.error
        return c.result

    def _run(self) -> None:
        while True:
            try:
                c = self._calls.get(timeout=self.IDLE_S)
            except queue.Empty:
                with self._lock:
                    if self._calls.empty():  # call() queues and looks at _thread under the same lock
                        self._thread = None
                        return
                continue
            try:
                c.result = c.fn(*c.args)
            except Exception as e:
                c.error = e
            with self._lock:
                c.done.set()
                if c.late:
                    self._pending = ""
                    log.info("secrets: the OS keyring answered at last (asked to %s); it is used again", c.what)


class Keystore:
    """Secrets by key, in the OS keyring or (where there is none) in a private file. Thread-safe.

    Which store (the *primary*) is chosen once, on first use, so a config without secrets never touches a
    keyring, and the choice is sticky across starts: a secret file that holds secrets is the store, whatever
    the OS keyring does today; only without one is the OS keyring tried, and used if it answers a read within
    the bound. Why: on a kiosk the login keyring may be locked, and whether its unlock prompt is answered is
    chance; a choice made fresh at every start flipped between the two stores and lost every password.
    A key missing from the primary is looked for in the other store and moved to the primary (said once in
    the log), so values written by an earlier start that chose differently are found.

    Every OS keyring call, ``keyring.get_keyring()`` included, runs on one worker with a bound of *timeout_s*
    (:class:`_OsKeyringWorker`); one that does not answer is a :class:`SecretStoreError` in words.

    *keyring_backend*: a ``keyring.backend.KeyringBackend`` to use instead of ``keyring.get_keyring()``."""

    def __init__(
        self,
        fallback_file: Path,
        keyring_backend: keyring.backend.KeyringBackend | None = None,
        scope: str = "",
        timeout_s: float = OS_KEYRING_TIMEOUT_S,
    ) -> None:
        self._file = _FileStore(fallback_file)
        self._requested = keyring_backend
        self._scope = scope
        self._worker = _OsKeyringWorker(timeout_s)
        self._kr: keyring.backend.KeyringBackend | None = None  # a usable OS keyring (priority > 0), once found
        self._kr_name = "keyring"
        self._looked = False  # keyring.get_keyring() has answered (found one or not)
        self._primary_os = False
        self._chosen = False
        self._moves = 0
        self._lock = threading.Lock()
        self.where = ""  # words: where the secrets are (set when chosen)

    @classmethod
    def for_config(cls, config_path: Path) -> Keystore:
        """The keystore of a config file (one per file and process: the backend is logged once)."""
        return _keystore_for(Path(config_path).absolute())

    # ------------------------------------------------------------------ backend
    def _look_for_os(self, probe: bool) -> str:
        """On the worker: find the OS keyring (with *probe*, read from it too). '' when usable, else why not."""
        import keyring

        kr = self._requested or keyring.get_keyring()
        name = getattr(kr, "name", type(kr).__name__)
        try:
            priority = float(kr.priority)
        except Exception:  # a backend's priority may raise when it is not viable at all
            priority = 0.0
        # the fail/null backends (priority <= 0) are what keyring returns where there is no OS keyring at all
        if priority > 0:
            self._kr, self._kr_name = kr, name
        self._looked = True
        if priority <= 0:
            return f"no OS keyring here (keyring found only {name!r})"
        if probe:
            try:
                kr.get_password(SERVICE, self._scope + "vigil.probe")
            except Exception as e:
                return f"the OS keyring ({name}) does not answer: {type(e).__name__}: {e}"
        return ""

    def _choose(self) -> None:
        if self._chosen:
            return
        self._chosen = True
        try:
            held = len(self._file.read())
        except SecretStoreError:
            held = -1  # there but unreadable or damaged: still the store, its errors are said on every use
        if held:
            self.where = f"the file {self._file.path}"
            log.info("secrets: camera passwords are kept in %s, which already holds them (mode 0600, not "
                     "encrypted: readable only by this user; the store chosen once stays, see docs/secrets.md)",
                     self._file.path)  # fmt: skip
            return
        try:
            why = self._worker.call("find itself and read a key", self._look_for_os, True)
        except _Timeout as e:
            why = str(e)
        if why:
            self.where = f"the file {self._file.path}"
            log.info("secrets: %s; camera passwords are kept in %s (mode 0600, not encrypted: readable only by "
                     "this user, see docs/secrets.md)", why, self._file.path)  # fmt: skip
        else:
            self._primary_os = True
            self.where = f"the OS keyring ({self._kr_name})"
            log.info("secrets: camera passwords are kept in the OS keyring (%s), service %r", self._kr_name, SERVICE)

    @property
    def uses_os_keyring(self) -> bool:
        with self._lock:
            self._choose()
            return self._primary_os

    def _os_call(self, verb: str, key: str, method: str, *args):
        """``backend.<method>(service, key, *args)`` on the worker; None where there is no OS keyring."""
        import keyring.errors

        if not self._looked:
            try:
                self._worker.call("find itself", self._look_for_os, False)
            except _Timeout as e:
                raise SecretStoreError(f"{e}; cannot {verb} {key!r}") from None
        kr = self._kr
        if kr is None:
            return None

        def work():
            try:
                return getattr(kr, method)(SERVICE, self._scope + key, *args)
            except keyring.errors.PasswordDeleteError:  # not there: nothing to delete
                return None

        try:
            return self._worker.call(f"{verb} {key!r}", work)
        except _Timeout as e:
            raise SecretStoreError(str(e)) from None
        except Exception as e:
            where = f"the OS keyring ({self._kr_name})"
            raise SecretStoreError(f"{where} refused to {verb} {key!r}: {type(e).__name__}: {e}") from None

    # the two stores, primary or other, behind one shape
    def _os_get(self, key: str) -> str | None:
        return self._os_call("read", key, "get_password")

    def _os_put(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            if self._os_call("read", key, "get_password") != value:
                self._os_call("store", key, "set_password", value)

    def _os_delete(self, keys: set[str]) -> None:
        for key in sorted(keys):
            self._os_call("delete", key, "delete_password")

    def _file_get(self, key: str) -> str | None:
        return self._file.read().get(key)

    def _file_put(self, values: dict[str, str]) -> None:
        current = self._file.read()
        if any(current.get(k) != v for k, v in values.items()):
            self._file.write({**current, **values})

    def _file_delete(self, keys: set[str]) -> None:
        current = self._file.read()
        if keys & current.keys():
            self._file.write({k: v for k, v in current.items() if k not in keys})

    def _os_words(self) -> str:
        return f"the OS keyring ({self._kr_name})"  # the name is known once it has been found (lazily)

    def _file_words(self) -> str:
        return f"the file {self._file.path}"

    def _stores(self) -> tuple[tuple, tuple]:
        """(get, put, delete, words) of the primary store, then of the other one."""
        os_ = (self._os_get, self._os_put, self._os_delete, self._os_words)
        file = (self._file_get, self._file_put, self._file_delete, self._file_words)
        return (os_, file) if self._primary_os else (file, os_)

    # ------------------------------------------------------------------ API
    def get(self, key: str) -> str | None:
        """The value of *key*: from the primary store, else from the other one (then moved to the primary).
        Raises SecretStoreError when neither has it and the primary could not be read."""
        with self._lock:
            self._choose()
            (get, put, _, here), (other_get, _, other_delete, there) = self._stores()
            try:
                value, error = get(key), None
            except SecretStoreError as e:
                value, error = None, e
            if value is not None:
                return value
            try:
                value = other_get(key)
            except SecretStoreError as e:
                log.debug("secrets: %r is not in %s, and %s cannot be read: %s", key, here(), there(), e)
                value = None
            if value is None:
                if error is not None:
                    raise error
                return None
            if error is None:  # the primary answers: move the value there, so the next start finds it at once
                try:
                    put({key: value})
                    other_delete({key})
                except SecretStoreError as e:
                    log.warning("secrets: %r was found in %s but cannot be moved to %s: %s", key, there(), here(), e)
                else:
                    self._moves += 1
                    if self._moves == 1:
                        log.info("secrets: %r was in %s, not in %s (an earlier start kept it there); moved it "
                                 "(further moves are not logged)", key, there(), here())  # fmt: skip
            return value

    def put(self, values: dict[str, str]) -> None:
        """Store every key -> value in the primary store (unchanged values are not written again)."""
        if not values:
            return
        with self._lock:
            self._choose()
            self._stores()[0][1](dict(values))

    def delete(self, keys: Iterable[str]) -> None:
        """Delete *keys* from the primary store, and from the other one too where it can be reached (a value
        an earlier start left there must not outlive its camera); the other store failing is only logged."""
        keys = set(keys)
        if not keys:
            return
        with self._lock:
            self._choose()
            (_, _, delete, _), (_, _, other_delete, there) = self._stores()
            delete(keys)
            try:
                other_delete(keys)
            except SecretStoreError as e:
                log.warning("secrets: %d keys no longer used may stay in %s: %s", len(keys), there(), e)


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


def destination_key(kind: str, url: str) -> str:
    """The key of the first secret of a JSON device, analytics server or webhook URL: ``<kind>.<digest>``,
    the digest being the first 12 hex digits of SHA-256 over the URL with its secrets masked (scheme, user,
    host, port, path: where the secret is sent). Not the entry's position in its list: with index keys,
    deleting entry 0 and dying between the secrets and the config write left the old config's entry 0
    resolving to entry 1's password, sent to entry 0's host. A key names its destination, so an old config
    never resolves to another destination's secret."""
    return f"{kind}.{hashlib.sha256(mask_slots(url).encode('utf-8')).hexdigest()[:12]}"


def _fields(data: dict) -> Iterator[_SecretField]:
    """Every URL of a dumped config (``AppConfig.model_dump(mode="json")``) that may carry a secret."""
    for cam in data.get("cameras") or []:
        for name, stream, words in (("url", "main", "URL"), ("sub_url", "sub", "sub-stream URL")):
            if isinstance(cam.get(name), str):
                yield _SecretField(f"camera.{cam['id']}.{stream}", f"camera {cam['id']!r} ({words})", True, cam, name)
    probes = data.get("probes") or {}
    for dev in probes.get("json_devices") or []:
        if isinstance(url := dev.get("url"), str):
            yield _SecretField(destination_key("device", url), f"JSON device {dev.get('name')!r}", False, dev, "url")
    for i, srv in enumerate(probes.get("analytics_servers") or []):
        if isinstance(url := srv.get("base_url"), str):
            yield _SecretField(destination_key("analytics", url), f"analytics server {i + 1}", False, srv, "base_url")
    hooks = (data.get("alerts") or {}).get("webhook_urls") or []
    for i, url in enumerate(hooks):
        if isinstance(url, str):
            yield _SecretField(destination_key("webhook", url), f"webhook {i + 1}", False, hooks, i)
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
    # references resolved under a key that is not the one their URL gets now (``device.0`` from before keys
    # named their destination, an entry whose URL was edited by hand): a save re-keys them
    outdated: int = 0


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
                if key != f.key and not key.startswith(f"{f.key}."):
                    scan.outdated += 1
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
