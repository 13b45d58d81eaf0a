"""The user's model inside a Python replica: loading Truss's `class Model` (its import path, the
arguments its __init__ asks for, its methods checked against Truss's rules) and the output streams
that tag each line with the request it was printed for. Standard library only; knows nothing of
HTTP (server.py serves it).
"""
import contextvars
import importlib.util
import inspect
import os
import sys
from pathlib import Path

from plinth_methods import ModelMethods


def log_error(message):
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def external_package_path(entry, index):
    """Where the bundle holds external_package_dirs[index] (the rule of config/external-packages.ts):
    a folder inside the model directory where it is, one outside it at .plinth/external_packages/<index>."""
    import posixpath

    normal = posixpath.normpath(entry)
    if entry.startswith("/") or "\\" in entry or normal == ".." or normal.startswith("../"):
        return ".plinth/external_packages/%d" % index
    return normal


# The request being handled, for the model's own log lines (see runtime/replica-log-mark.ts).
REQUEST_ID = contextvars.ContextVar("plinth_request_id", default=None)
REQUEST_MARK_START = "\x1b]plinth-request;"
REQUEST_MARK_END = "\x07"


class RequestTaggedStream:
    """Wraps stdout/stderr: a line started while a request is handled begins with its id mark."""

    def __init__(self, inner):
        self._inner = inner
        self._at_line_start = True

    def write(self, text):
        request_id = REQUEST_ID.get()
        if request_id and text:
            mark = REQUEST_MARK_START + request_id + REQUEST_MARK_END
            lines = text.split("\n")
            out = []
            for i, line in enumerate(lines):
                starts = self._at_line_start if i == 0 else True
                out.append(mark + line if starts and (line or i < len(lines) - 1) else line)
            text = "\n".join(out)
        if text:
            self._at_line_start = text.endswith("\n")
        return self._inner.write(text)

    def __getattr__(self, name):
        return getattr(self._inner, name)


class Secrets(dict):
    """The secrets a model declared: reading one nobody set says which and how to set it (as
    Truss's resolver does); `.get()` answers None for it."""

    def __missing__(self, name):
        raise KeyError(f"secret {name!r} is not set: declare it under secrets in config.yaml and run `plinth secrets set {name}`")


class LazyDataResolver:
    """Truss's `lazy_data_resolver`: Plinth downloads weights and data at build time, so by the
    time the model is constructed they are in place and waiting returns at once (with "", as
    Truss's does when it had nothing left to fetch)."""

    def __init__(self, data_dir):
        self._data_dir = data_dir

    def block_until_download_complete(self, log_stats=True, issue_collect=True):
        return ""

    def raise_if_not_collected(self):
        return None


# Where the build laid out model_cache repositories (use_volume false) as huggingface_hub's cache.
HF_CACHE_DIR = ".plinth-hf-cache"


class ModelHolder:
    """Loads the user's Model class and calls it; knows nothing of HTTP."""

    def __init__(self, app_dir, model_file, config, secrets, environment):
        self.app_dir = Path(app_dir)
        self.model_file = self.app_dir / model_file
        self.config = config
        self.secrets = Secrets(secrets)
        self.environment = environment
        self.model = None
        self.methods = None
        self.ready = False

    def set_import_path(self):
        paths = [str(self.model_file.parent), str(self.app_dir)]
        packages = self.config.get("bundled_packages_dir") or "packages"
        paths.insert(0, str(self.app_dir / packages))
        # After the bundled packages, as Truss merges them into that folder (the CLI packed one
        # outside the model directory under .plinth/external_packages/<index>: external-packages.ts).
        for i, extra in enumerate(self.config.get("external_package_dirs") or []):
            paths.insert(1 + i, str(self.app_dir / external_package_path(extra, i)))
        for p in reversed(paths):
            if p not in sys.path:
                sys.path.insert(0, p)

    def instantiate(self):
        self.set_import_path()
        hf_cache = self.app_dir / HF_CACHE_DIR
        if hf_cache.is_dir():
            os.environ.setdefault("HF_HUB_CACHE", str(hf_cache))
        spec = importlib.util.spec_from_file_location("model", str(self.model_file))
        module = importlib.util.module_from_spec(spec)
        sys.modules["model"] = module
        spec.loader.exec_module(module)
        class_name = self.config.get("model_class_name") or "Model"
        cls = getattr(module, class_name, None)
        if cls is None:
            raise RuntimeError("%s defines no class named %s" % (self.model_file.name, class_name))
        offered = {
            "config": self.config,
            "data_dir": self.app_dir / (self.config.get("data_dir") or "data"),
            "secrets": self.secrets,
            "environment": self.environment,
            "lazy_data_resolver": LazyDataResolver(self.app_dir / (self.config.get("data_dir") or "data")),
        }
        params = {} if cls.__init__ is object.__init__ else inspect.signature(cls.__init__).parameters
        if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values()):
            kwargs = offered
        else:
            kwargs = {k: v for k, v in offered.items() if k in params}
        self.model = cls(**kwargs)
        self.methods = ModelMethods(self.model)

    def has(self, name):
        return callable(getattr(self.model, name, None))
