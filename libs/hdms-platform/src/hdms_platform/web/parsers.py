"""The JSON parser every service uses (REST_FRAMEWORK['DEFAULT_PARSER_CLASSES']).

Its own module: DRF reads the setting while `rest_framework.views` is imported, which
`hdms_platform.web.exceptions` itself imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework import exceptions
from rest_framework.parsers import DataAndFiles, JSONParser, MultiPartParser


class StrictJSONParser(JSONParser):
    """JSON, minus what PostgreSQL cannot store: a NUL (\\u0000) or an unpaired surrogate anywhere
    in a key or a string is a 400 naming the problem, not a 500 from the database."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON nested too deeply.") from None
        _check_storable(data)
        return data


def _check_storable(value: object, depth: int = 0) -> None:
    if depth > 64:
        raise exceptions.ParseError("JSON nested deeper than 64 levels.")
    if isinstance(value, str):
        if "\x00" in value:
            raise exceptions.ParseError("JSON strings may not contain NUL (\\u0000).")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise exceptions.ParseError("JSON strings may not contain unpaired surrogates (\\ud800-\\udfff).") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key, depth + 1)
            _check_storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item, depth + 1)


class _NamedUploadsParser(DjangoMultiPartParser):
    """Django drops a file part whose name sanitises to nothing ("..", "/"), which reads as "no
    file was submitted"; keep the file and let the service give it a safe name instead."""

    def sanitize_file_name(self, file_name: str) -> str | None:
        return super().sanitize_file_name(file_name) or "attachment"


class MultiPartUploadParser(MultiPartParser):
    """multipart/form-data uploads: DRF's parser with the naming rule above."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        context = parser_context or {}
        request = context["request"]
        meta = {**request.META, "CONTENT_TYPE": media_type}
        try:
            data, files = _NamedUploadsParser(meta, stream, request.upload_handlers, get_encoding(context)).parse()
        except MultiPartParserError as exc:
            raise exceptions.ParseError(f"Multipart form parse error - {exc}") from None
        return DataAndFiles(data, files)


def get_encoding(parser_context: Mapping[str, Any]) -> str:
    from django.conf import settings

    return str(parser_context.get("encoding", settings.DEFAULT_CHARSET))
