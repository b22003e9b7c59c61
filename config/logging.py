"""Correlation ids on every log line: the request id on the web, the task id in workers."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

current_context_id: ContextVar[str] = ContextVar("current_context_id", default="-")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.context_id = current_context_id.get()
        return True


class SingleLineFormatter(logging.Formatter):
    """Keeps tracebacks on the record's line so one record is one line for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", "\\n")


def request_id_from(given: str) -> str:
    """The caller's X-Request-ID if it is safe to log, else a new one."""
    return given if _SAFE_ID.match(given) else uuid.uuid4().hex


def _request_id(request: HttpRequest) -> str:
    return request_id_from(request.headers.get("X-Request-ID", ""))


class RequestIdMiddleware:
    """Takes the caller's X-Request-ID (or makes one), logs with it and echoes it back."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if iscoroutinefunction(self.get_response):
            return self._acall(request)
        request_id = _request_id(request)
        token = current_context_id.set(request_id)
        try:
            response = cast(HttpResponse, self.get_response(request))  # sync chain here
        finally:
            current_context_id.reset(token)
        response["X-Request-ID"] = request_id
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        request_id = _request_id(request)
        token = current_context_id.set(request_id)
        try:
            response = await cast(Awaitable[HttpResponse], self.get_response(request))
        finally:
            current_context_id.reset(token)
        response["X-Request-ID"] = request_id
        return response
