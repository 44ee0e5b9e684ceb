from hdms_tools.envfile import add_missing


def test_make_env_adds_what_an_older_env_file_lacks_and_keeps_the_rest(tmp_path):
    old = tmp_path / ".env"
    old.write_text("DJANGO_SECRET_KEY=kept-as-it-was\nREDIS_PASSWORD=from-an-older-version\n")
    example = "DJANGO_SECRET_KEY=change-me\n# a comment\nREDIS_CACHE_PASSWORD=change-me\nGATEWAY_PORT=8000\n"
    assert add_missing(old, example) == ["REDIS_CACHE_PASSWORD", "GATEWAY_PORT"]
    values = dict(line.split("=", 1) for line in old.read_text().splitlines() if "=" in line)
    assert values["DJANGO_SECRET_KEY"] == "kept-as-it-was" and values["GATEWAY_PORT"] == "8000"
    assert len(values["REDIS_CACHE_PASSWORD"]) >= 24 and values["REDIS_CACHE_PASSWORD"] != "change-me"
    assert add_missing(old, example) == []  # idempotent
