"""Where `make up` runs the stack (hdms_tools.stack.compose.use_docker): compose only when it can
really start here. The engine's answers are stood in for; the decision is ours."""

from __future__ import annotations

import pytest

from hdms_tools import images
from hdms_tools.stack import compose
from hdms_tools.stack.config import Config, StackError


def config(**values: str) -> Config:
    return Config(env=values, env_file=images.REPO / ".env")


@pytest.fixture
def engine(monkeypatch):
    state = {"answers": True, "images": set()}
    monkeypatch.setattr(images, "answers", lambda: state["answers"])
    monkeypatch.setattr(images, "has_image", lambda tag: tag in state["images"])
    return state


def test_auto_without_images_falls_back_to_native_saying_why(engine, capsys):
    assert compose.use_docker(config(HDMS_STACK_MODE="auto"), announce=True) is False
    assert "make images" in capsys.readouterr().err


def test_auto_with_the_offline_set_picks_compose(engine):
    engine["images"] = set(images.OFFLINE.values())
    assert compose.use_docker(config(HDMS_STACK_MODE="auto")) is True
    assert compose.image_env(config())["POSTGRES_IMAGE"] == images.OFFLINE["POSTGRES_IMAGE"]


def test_auto_prefers_the_upstream_image_the_engine_has(engine):
    engine["images"] = set(images.OFFLINE.values()) | {"postgres:17.2-bookworm"}
    assert compose.image_env(config())["POSTGRES_IMAGE"] == "postgres:17.2-bookworm"


def test_docker_mode_insists_and_no_engine_is_an_error(engine):
    assert compose.use_docker(config(HDMS_STACK_MODE="docker")) is True  # images pulled or built at `up`
    engine["answers"] = False
    with pytest.raises(StackError, match="no Docker engine answers"):
        compose.use_docker(config(HDMS_STACK_MODE="docker"))
    assert compose.use_docker(config(HDMS_STACK_MODE="auto")) is False


def test_a_bad_mode_names_the_variable(engine):
    with pytest.raises(StackError, match="HDMS_STACK_MODE"):
        compose.use_docker(config(HDMS_STACK_MODE="kubernetes"))
