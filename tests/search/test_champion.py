"""The champion rule, and registration against the in-memory registry of tests/fakes.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from search.errors import GruSearchError
from search.registry import CHAMPION, ModelRef, Standing, decide, parse_ref, register_and_promote


def _s(version="2", objective="val_accuracy", mode="max", value=0.9, fingerprint="abc"):
    return Standing(version, objective, mode, value, fingerprint)


def test_first_version_becomes_champion():
    decision = decide(_s(), None)
    assert decision.move and "first champion" in decision.reason


@pytest.mark.parametrize(
    ("mode", "new", "old", "move"),
    [
        ("max", 0.95, 0.90, True),
        ("max", 0.90, 0.90, False),
        ("max", 0.85, 0.90, False),
        ("min", 0.10, 0.20, True),
        ("min", 0.20, 0.20, False),
        ("min", 0.30, 0.20, False),
    ],
)
def test_moves_only_when_strictly_better(mode, new, old, move):
    decision = decide(_s(value=new, mode=mode), _s(version="1", value=old, mode=mode))
    assert decision.move is move
    assert ("beats" if move else "does not beat") in decision.reason
    assert "version 1" in decision.reason


def test_other_objective_or_data_never_moves_the_alias():
    better = _s(value=0.99)
    by_loss = decide(better, _s(version="1", objective="val_loss", mode="min", value=0.5))
    assert not by_loss.move
    assert (
        "chosen on val_loss (min), this search on val_accuracy (max); the scores are not comparable."
        in by_loss.reason
    )
    other_data = decide(better, _s(version="1", value=0.1, fingerprint="zzz"))
    assert not other_data.move and "trained on other data" in other_data.reason


def test_standing_round_trips_through_version_tags():
    s = _s(value=0.123456789)
    assert Standing.from_tags("2", s.tags()) == s
    assert Standing.from_tags("2", {"objective": "x"}) is None


def test_register_and_promote_sequence(fake_registry):
    v1, d1 = register_and_promote(
        fake_registry, "m", "runs:/a/model", "a", _s(version="?", value=0.8), {"search_run_id": "a"}
    )
    v2, d2 = register_and_promote(
        fake_registry, "m", "runs:/b/model", "b", _s(version="?", value=0.7), {"search_run_id": "b"}
    )
    v3, d3 = register_and_promote(
        fake_registry,
        "m",
        "runs:/c/model",
        "c",
        _s(version="?", value=0.85),
        {"search_run_id": "c"},
    )
    assert (v1, v2, v3) == ("1", "2", "3")
    assert (d1.move, d2.move, d3.move) == (True, False, True)
    assert fake_registry.aliases[CHAMPION] == "3"
    assert fake_registry.versions["2"].tags["objective_value"] == "0.7"
    assert fake_registry.versions["2"].tags["search_run_id"] == "b"
    assert "0.7 does not beat the champion's 0.8 (version 1)" in d2.reason


def test_the_champion_run_tag_follows_the_alias(fake_registry):
    register_and_promote(fake_registry, "m", "runs:/a/model", "a", _s(version="?", value=0.8), {})
    assert fake_registry.run_tags == {"a": {"champion": "true"}}
    register_and_promote(fake_registry, "m", "runs:/b/model", "b", _s(version="?", value=0.7), {})
    assert fake_registry.run_tags == {"a": {"champion": "true"}, "b": {"champion": "false"}}
    register_and_promote(fake_registry, "m", "runs:/c/model", "c", _s(version="?", value=0.9), {})
    # The alias moved from a's version to c's: a's tag is no longer true.
    assert fake_registry.run_tags == {
        "a": {"champion": "false"},
        "b": {"champion": "false"},
        "c": {"champion": "true"},
    }
    assert fake_registry.locks == ["m.champion-lock"] * 3


def test_hand_set_champion_without_score_stays(fake_registry):
    fake_registry.versions["1"] = SimpleNamespace(version="1", tags={})
    fake_registry.aliases[CHAMPION] = "1"
    _, decision = register_and_promote(fake_registry, "m", "s", "r", _s(version="?"), {})
    assert not decision.move and "no recorded score" in decision.reason
    assert fake_registry.aliases[CHAMPION] == "1"


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("vowels", ModelRef("vowels", alias="champion")),
        ("vowels@staging", ModelRef("vowels", alias="staging")),
        ("vowels/3", ModelRef("vowels", version="3")),
        ("models:/vowels@champion", ModelRef("vowels", alias="champion")),
    ],
)
def test_parse_ref(text, ref):
    assert parse_ref(text) == ref


@pytest.mark.parametrize("text", ["vowels/latest", "@champion", "vowels@"])
def test_bad_refs_say_the_form(text):
    with pytest.raises(GruSearchError, match="must look like NAME, NAME@ALIAS or NAME/VERSION"):
        parse_ref(text)


def test_the_ensemble_leaves_out_trials_validation_shows_to_be_clearly_worse():
    from types import SimpleNamespace

    from search.selection import ensemble_members

    ranked = [
        SimpleNamespace(number=n, objective=v)
        for n, v in (("0", 0.98), ("1", 0.94), ("2", 0.88), ("3", 0.70))
    ]
    # 50 validation cases: two standard errors of 0.98 are 0.04, so 0.94 stays and 0.88 goes.
    assert [o.number for o in ensemble_members(ranked, 5, "val_accuracy", 50)] == ["0", "1"]
    # Few cases cannot tell 0.88 from 0.98 (one case is 0.1 of 10).
    assert [o.number for o in ensemble_members(ranked, 3, "val_accuracy", 10)] == ["0", "1", "2"]
    # A perfect best keeps only the trials within one case (ties at 1.0 on 54 cases stay).
    perfect = [
        SimpleNamespace(number=n, objective=v) for n, v in (("a", 1.0), ("b", 1.0), ("c", 0.96))
    ]
    assert [o.number for o in ensemble_members(perfect, 10, "val_accuracy", 54)] == ["a", "b"]
    # Losses have no such scale: the top `size` stay.
    assert len(ensemble_members(ranked, 3, "val_loss", 50)) == 3
