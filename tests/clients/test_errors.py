"""The client's exception tree: one module, drawn in its docstring, one class per error code."""

from __future__ import annotations

import inspect

import pytest

from clients import errors
from clients.errors import (ArgumentError, BadRequest, FeedError, InvalidParams, LimitExceeded,
                            RateLimited, ServerError, UnknownSubscription, UnknownSymbol)
from wire import events


def test_every_exception_of_the_module_is_drawn_in_its_docstring():
    classes = [obj for _, obj in inspect.getmembers(errors, inspect.isclass)
               if issubclass(obj, Exception) and obj.__module__ == errors.__name__]
    assert len(classes) >= 14
    for cls in classes:
        assert issubclass(cls, FeedError)
        assert f" {cls.__name__} " in errors.__doc__ or f"── {cls.__name__}" in errors.__doc__


@pytest.mark.parametrize(("code", "cls"), [
    ("bad_json", BadRequest), ("bad_request", BadRequest), ("invalid_params", InvalidParams),
    ("unknown_symbol", UnknownSymbol), ("unknown_subscription", UnknownSubscription),
    ("limit_exceeded", LimitExceeded), ("rate_limited", RateLimited),
    ("a_newer_code", ServerError),
])
def test_an_error_event_becomes_the_class_of_its_code(code, cls):
    exc = ServerError.of(events.Error(7, code, "sigma",
                                      "sigma must be a finite number >= 0, got -1.0"))
    assert type(exc) is cls
    assert (exc.code, exc.field, exc.id) == (code, "sigma", 7)
    assert exc.message == "sigma must be a finite number >= 0, got -1.0"
    assert str(exc) == f"{code} (field sigma): sigma must be a finite number >= 0, got -1.0"


def test_an_argument_error_is_a_value_error_naming_the_argument():
    exc = ArgumentError("sigma", "sigma must be >= 0, got -1")
    assert isinstance(exc, ValueError) and exc.argument == "sigma"
