"""`heard params`: one table of parameters, documented, and config files checked by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT
from heard.config import load_config
from heard.errors import HeardError
from heard.param_docs import PARAM_DOCS
from heard.params_command import markdown, params_command
from heardcore.params import Params, entries


def test_every_parameter_is_documented_and_nothing_else() -> None:
    assert [entry[0] for entry in entries()] == list(PARAM_DOCS)
    for name, default, lo, hi in entries():
        assert lo <= default <= hi, name
        unit, meaning = PARAM_DOCS[name]
        assert unit and len(meaning) > 10, name


def test_parameters_doc_is_generated_from_the_table() -> None:
    assert (ROOT / "docs" / "PARAMETERS.md").read_text() == markdown()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"vad_on_db10": 5}', "config field 'vad_on_db10': 5 is outside 20..300"),
        ('{"vad_onn_db10": 90}', "config field 'vad_onn_db10': unknown parameter"),
        ('{"turn_bridge_ms": "300"}', "config field 'turn_bridge_ms': must be a whole number"),
        ('{"turn_bridge_ms": 300', "not valid JSON"),
        ("[1, 2]", "the configuration must be an object"),
        ("[]", "the configuration must be an object"),
        ("null", "the configuration must be an object"),
        ("0", "the configuration must be an object"),
    ],
)
def test_bad_config_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(HeardError, match="^" + str(path).replace("\\", "\\\\")) as info:
        load_config(path)
    assert message in str(info.value)


def test_check_lists_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"vad_on_db10": 100}')
    result = CliRunner().invoke(params_command, ["--check", str(path)])
    assert result.exit_code == 0
    assert "overrides 1 of" in result.output and "vad_on_db10 = 100 (default 50)" in result.output
    assert load_config(path).as_dict() == Params({"vad_on_db10": 100}).as_dict()


def test_listing_shows_every_parameter() -> None:
    result = CliRunner().invoke(params_command, [])
    assert result.exit_code == 0
    assert len(result.output.strip().splitlines()) == len(list(entries()))
