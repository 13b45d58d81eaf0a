"""What a Truss model's methods ask for, read once at load as Truss reads it: which take the input,
`request: fastapi.Request`, or both; which combinations are refused (both `predict` and
`websocket`, a request-only `predict` after `preprocess`, …); the pydantic type its input is
validated into. Also the traceback of a model error, trimmed to start at the model's own code.
Standard library only: a class is recognised by its module and name, never imported.
"""
import inspect
import os
import traceback

NONE, INPUT, REQUEST, INPUT_AND_REQUEST = "none", "input", "request", "input+request"
OPENAI_METHODS = ("chat_completions", "completions", "embeddings", "messages", "responses")
PLATFORM_DIR = os.path.dirname(os.path.abspath(__file__))


class ModelDefinitionError(TypeError):
    """The model does not keep Truss's contract; the message names the method."""


def _is_class_named(annotation, module, name):
    if isinstance(annotation, str):
        return False
    try:
        mro = inspect.getmro(annotation)
    except (AttributeError, TypeError):
        return False
    return any(c.__name__ == name and c.__module__ == module for c in mro)


def is_request_type(annotation):
    return _is_class_named(annotation, "starlette.requests", "Request")


def pydantic_type(annotation):
    """The pydantic model class an input is annotated with, or None."""
    if _is_class_named(annotation, "pydantic.main", "BaseModel"):
        return annotation
    return None


def _signature(method):
    try:
        return inspect.signature(method, eval_str=True)
    except TypeError:  # before Python 3.10
        return inspect.signature(method)
    except Exception:
        return inspect.signature(method)


class Method:
    """One method of the model: how to call it and what its input is validated into."""

    def __init__(self, name, fn):
        self.name = name
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn)
        self.is_generator = inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)
        params = list(_signature(fn).parameters.values())
        self.input_type = None
        if len(params) == 0:
            self.args = NONE
        elif len(params) == 1:
            self.args = REQUEST if is_request_type(params[0].annotation) else INPUT
            self.input_type = None if self.args == REQUEST else pydantic_type(params[0].annotation)
        elif len(params) == 2:
            if is_request_type(params[0].annotation):
                raise ModelDefinitionError(
                    "`%s` takes two arguments with the request first: the request must be the second. Got: %s"
                    % (name, _signature(fn)))
            if not is_request_type(params[1].annotation):
                raise ModelDefinitionError(
                    "`%s` takes two arguments: its second must be annotated `request: fastapi.Request`. Got: %s"
                    % (name, _signature(fn)))
            self.args = INPUT_AND_REQUEST
            self.input_type = pydantic_type(params[0].annotation)
        else:
            raise ModelDefinitionError("`%s` takes more than two arguments. Got: %s" % (name, _signature(fn)))

    def arguments(self, value, request):
        return {NONE: (), INPUT: (value,), REQUEST: (request,), INPUT_AND_REQUEST: (value, request)}[self.args]

    @property
    def wants_request(self):
        return self.args in (REQUEST, INPUT_AND_REQUEST)


class ModelMethods:
    """The methods a model has, checked against Truss's rules."""

    def __init__(self, model):
        def find(name):
            fn = getattr(model, name, None)
            return Method(name, fn) if callable(fn) else None

        self.preprocess = find("preprocess")
        self.predict = find("predict")
        self.postprocess = find("postprocess")
        self.websocket = find("websocket")
        self.setup_environment = find("setup_environment")
        self.is_healthy = find("is_healthy")
        self.openai = {name: find(name) for name in OPENAI_METHODS}
        if self.is_healthy and self.is_healthy.args != NONE:
            raise ModelDefinitionError("`is_healthy` must take no argument but `self`.")
        if self.websocket and (self.predict or self.preprocess or self.postprocess):
            raise ModelDefinitionError(
                "a model cannot have both `websocket` and any of `predict`, `preprocess` or `postprocess`.")
        if not (self.websocket or self.predict):
            raise ModelDefinitionError("a model must have a `predict` or a `websocket` method.")
        if self.websocket:
            if self.websocket.args != INPUT:
                raise ModelDefinitionError("`websocket` must take one argument: the websocket.")
            if not self.websocket.is_async:
                raise ModelDefinitionError("`websocket` must be an `async def`.")
            return
        if self.preprocess and self.predict.args == REQUEST:
            raise ModelDefinitionError(
                "`predict` takes only the request, so what `preprocess` returns would be lost.")
        if self.postprocess and self.postprocess.args == REQUEST:
            raise ModelDefinitionError(
                "`postprocess` takes only the request, so what `predict` returns would be lost.")

    @property
    def first(self):
        """The method that receives the request's input."""
        return self.preprocess or self.predict

    @property
    def reads_input(self):
        """Whether the body is parsed as JSON: not when every step takes only the request."""
        return not (self.predict.args in (REQUEST, NONE) and (not self.preprocess or self.preprocess.args in (REQUEST, NONE)))

    @property
    def wants_request(self):
        return any(m is not None and m.wants_request for m in (self.preprocess, self.predict, self.postprocess))


def user_traceback(exc):
    """The traceback of a model error from the first frame outside the model server and the
    standard library's machinery (asyncio, threads) that called into the model."""
    tb = exc.__traceback__
    skipped = (PLATFORM_DIR, os.path.dirname(os.__file__))
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(skipped) and tb.tb_next is not None:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


class InvalidInput(ValueError):
    """The input does not validate into the pydantic type its method is annotated with."""

    def __init__(self, model_type, exc):
        self.errors = validation_errors(exc)
        first = self.errors[0] if self.errors else {}
        where = ".".join(str(p) for p in first.get("loc", ())) or "input"
        super().__init__("the input does not match %s: %s: %s" % (model_type.__name__, where, first.get("msg", exc)))


def validate_input(model_type, payload):
    """`payload` validated into `model_type` (pydantic 2, or 1); InvalidInput when it does not."""
    try:
        if hasattr(model_type, "model_validate"):
            return model_type.model_validate(payload)
        return model_type.parse_obj(payload)
    except Exception as e:
        if is_validation_error(e):
            raise InvalidInput(model_type, e)
        raise


def validation_errors(exc):
    """A pydantic ValidationError's errors, in JSON form."""
    try:
        return exc.errors(include_url=False, include_input=False)
    except TypeError:  # pydantic 1
        return exc.errors()


def is_validation_error(exc):
    return _is_class_named(type(exc), "pydantic_core._pydantic_core", "ValidationError") or _is_class_named(
        type(exc), "pydantic.error_wrappers", "ValidationError")


def is_http_exception(exc):
    return _is_class_named(type(exc), "starlette.exceptions", "HTTPException")
