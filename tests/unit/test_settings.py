"""LABELER_* parsing and checking: one place, one line per bad value."""

import pytest

from labeler.settings import VARIABLES, Settings, SettingsError


def test_defaults_need_no_environment(tmp_path):
    settings = Settings.from_env({"LABELER_HOME": str(tmp_path)})
    assert (settings.home, settings.chunk_images, settings.visibility_timeout) == (
        tmp_path, 512, 120)
    assert settings.redis_url is None and settings.cautions() == []


def test_values_are_parsed_to_their_types(tmp_path):
    settings = Settings.from_env({"LABELER_CHUNK_IMAGES": " 64 ",
                                  "LABELER_ALLOWED_ROOTS": f"{tmp_path}:/srv",
                                  "LABELER_REDIS_URL": "redis://:pw@host:6379/0"})
    assert settings.chunk_images == 64
    assert settings.task_events == "auto"
    assert [Settings.from_env({"LABELER_TASK_EVENTS": v}).task_events
            for v in ("1", "off", " Auto ")] == ["on", "off", "auto"]
    assert [str(p) for p in settings.allowed_roots] == [str(tmp_path), "/srv"]


@pytest.mark.parametrize("name", [n for n, v in VARIABLES.items()
                                  if v.field not in ("model", "allowed_roots")])
def test_every_checked_variable_refuses_nonsense_naming_itself(name):
    with pytest.raises(SettingsError) as info:
        Settings.from_env({name: "-x-"})
    message = str(info.value)
    assert message.startswith(f"{name}='-x-' is not valid: use ") and "\n" not in message


def test_a_visibility_timeout_within_the_time_limit_is_refused():
    with pytest.raises(SettingsError, match="must exceed LABELER_TASK_TIME_LIMIT=90"):
        Settings.from_env({"LABELER_VISIBILITY_TIMEOUT": "90"})
    ok = Settings.from_env({"LABELER_VISIBILITY_TIMEOUT": "10", "LABELER_TASK_TIME_LIMIT": "6"})
    assert ok.visibility_timeout == 10


def test_unsafe_but_working_combinations_are_cautions():
    settings = Settings.from_env({"LABELER_RESULT_TTL": "600", "LABELER_WORKER_IDLE_EXIT": "3",
                                  "LABELER_VISIBILITY_TIMEOUT": "7200"})
    cautions = " ".join(settings.cautions())
    for name in ("LABELER_RESULT_TTL", "LABELER_WORKER_IDLE_EXIT", "LABELER_VISIBILITY_TIMEOUT"):
        assert name in cautions
