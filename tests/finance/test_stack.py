"""`finance.stack` (`make run`): what it prints once the app is up."""

from __future__ import annotations

from django.test import Client
from django.urls import resolve

from finance import stack


def test_make_run_says_where_the_app_and_the_api_docs_are() -> None:
    lines = stack.where_to_go(8123)
    assert lines[0].startswith("Open http://127.0.0.1:8123/ ")
    (docs,) = [line for line in lines if line.startswith("API docs: ")]
    url = docs.split()[2]
    assert url == "http://127.0.0.1:8123/api/v1/docs/"
    assert resolve("/api/v1/docs/").url_name == "api_docs"  # the URL it names exists
    assert Client().get("/api/v1/docs/").status_code == 302  # (a login first)
