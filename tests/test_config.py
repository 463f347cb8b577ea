from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import SCHEMAS, load_config, load_section, shipped_config_path
from pipeline.errors import ConfigError
from pipeline.resources import configs_dir


def test_every_shipped_yaml_has_a_schema_and_loads() -> None:
    shipped = {p.stem for p in configs_dir().glob("*.yaml")}
    assert shipped == set(SCHEMAS), "every shipped YAML needs a schema and vice versa"
    for name in SCHEMAS:
        assert shipped_config_path(name).is_file()
        section = load_section(name)
        assert section.model_config.get("frozen") is True
    config = load_config()
    assert config.diffusion.min_b_value == 50.0


def test_config_is_frozen() -> None:
    config = load_config()
    with pytest.raises(Exception, match="frozen"):
        config.diffusion.min_b_value = 0  # type: ignore[misc]


def test_user_override_merges_key_by_key(tmp_path: Path) -> None:
    override = tmp_path / "site.yaml"
    override.write_text("diffusion:\n  high_b_value: 1400\n")
    config = load_config(override)
    assert config.diffusion.high_b_value == 1400
    assert config.diffusion.min_b_value == 50.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("diffusion:\n  min_b_value: -5\n", r"diffusion\.yaml|site\.yaml.*min_b_value"),
        ("diffusion:\n  typo_key: 1\n", "typo_key"),
        ("difusion:\n  min_b_value: 0\n", "unknown section.*difusion.*valid: decision"),
        ("registration:\n  dwi_to_t2w:\n    transform: spline\n", "transform"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("radiomics:\n  images:\n    adc: {bin_width: 0.1, normalize: true}\n", "quantitative"),
        ("radiomics:\n  images:\n    t2w: {bin_width: 1, bin_count: 8}\n", "exactly one"),
    ],
)
def test_bad_override_names_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    override = tmp_path / "site.yaml"
    override.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(override)
