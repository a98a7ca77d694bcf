"""``semseg models``: filtered table of names, parameter counts and papers."""

from __future__ import annotations

from semseg.cli import main
from semseg.cli.models import count_parameters, short_citation


def test_lists_matching_models_with_counts(capsys) -> None:
    assert main(["models", "*link*"]) == 0
    out = capsys.readouterr().out
    assert "linknet" in out and "11.53M" in out and "11.50M" in out
    assert "Chaurasia" in out
    assert "segnet" not in out


def test_unknown_pattern_is_a_one_line_error(capsys) -> None:
    assert main(["models", "nope*"]) == 2
    err = capsys.readouterr().err
    assert "no model matches 'nope*'" in err and "unet" in err


def test_count_parameters_matches_the_real_model() -> None:
    assert count_parameters("enet", 11) == 363_791
    assert count_parameters("unet", 2) == 31_037_698


def test_short_citation_keeps_authors_and_venue() -> None:
    assert short_citation("Long et al., Fully Convolutional Networks, CVPR 2015") == (
        "Long et al., CVPR 2015"
    )
    assert short_citation("") == "-"
