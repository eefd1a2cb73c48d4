"""The learned threat reading (detect/threat_learned.py): its model file, its windows, the
cap on negative weights, reports, and its part in threat_content."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spoofwatch.detect.content import load_patterns
from spoofwatch.detect.text_normalize import normalize_text
from spoofwatch.detect.threat import read_content
from spoofwatch.detect.threat_concepts import ConceptModel, load_concepts, score_concepts
from spoofwatch.detect.threat_learned import (
    LearnedModel,
    LearnedModelError,
    LearnedWindows,
    load_learned,
    model_from_data,
    window_score,
)

REPO = Path(__file__).resolve().parents[2]
PATTERNS = load_patterns()
CONCEPTS = load_concepts()
BARE = load_concepts(learned=False)


def toy(weights: dict[str, float], bias: float = -1.0, threshold: float = 1.0,
        neg_cap: float = 4.0) -> ConceptModel:
    """The bundled concepts with a small hand-made learned model."""
    from dataclasses import replace
    return replace(BARE, learned=LearnedModel(weights, bias, threshold, 5, neg_cap, ""))


def learned_hit(text: str, model: ConceptModel):
    return score_concepts(normalize_text(text), model).learned


def test_the_bundled_model_loads_and_matches_the_training_texts() -> None:
    model = load_learned()
    assert model.weights and model.stem == 5 and model.neg_cap > 0
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "train-threat-model.py"),
                             "--check"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "threat model: current"


@pytest.mark.parametrize(("content", "message"), [
    ("{", "cannot read"),
    ("[]", "format: 1"),
    ('{"format": 2}', "format: 1"),
    ('{"format": 1, "weights": {}}', "malformed"),
    ('{"format": 1, "weights": {"w:x": "heavy"}, "bias": 0, "threshold": 1, "stem": 5,'
     ' "neg_cap": 1}', "malformed"),
])
def test_a_broken_model_file_is_refused_with_its_name(tmp_path: Path, content: str,
                                                      message: str) -> None:
    path = tmp_path / "model.json"
    path.write_text(content)
    with pytest.raises(LearnedModelError, match=message) as caught:
        load_learned(path)
    assert str(path) in str(caught.value)


def test_a_missing_model_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LearnedModelError, match="cannot read"):
        load_learned(tmp_path / "absent.json")


def test_negative_weights_lower_a_window_by_at_most_the_cap() -> None:
    model = model_from_data({"format": 1, "weights": {"w:a": 5.0, "w:b": -3.0, "w:c": -3.0},
                             "bias": -1.0, "threshold": 1.0, "stem": 5, "neg_cap": 4.0})
    assert window_score(model, ["w:a"]) == 4.0
    assert window_score(model, ["w:a", "w:b"]) == 1.0
    assert window_score(model, ["w:a", "w:b", "w:c"]) == 0.0  # -6 capped at -4


def test_words_stems_pairs_and_concepts_are_the_features() -> None:
    collector = LearnedWindows(None, collect=True)
    score_concepts(normalize_text("We will burn your house."), BARE, learned=collector)
    [(every, plain)] = collector.windows
    assert {"w:we", "w:burn", "w:house", "b:we_will", "b:burn_your", "b:your_house",
            "c:harm_act", "c:reader"} <= every
    assert any(name.startswith("cc:") and "harm_act" in name for name in every)
    assert every == plain  # nothing quoted


def test_a_window_past_the_threshold_fires_and_says_why() -> None:
    model = toy({"w:burn": 3.0, "b:your_house": 2.0})
    hit = learned_hit("Nice day. We will burn your house.", model)
    assert hit is not None and hit.fired
    assert hit.score == 4.0 and hit.features == ("w:burn", "b:your_house")
    assert hit.reason() == '"burn" + "your house", sentence 1'


def test_words_far_apart_are_not_one_window() -> None:
    model = toy({"w:burn": 1.5, "b:your_house": 1.5}, threshold=1.5)
    near = "We will burn it all. Your house is next."
    assert learned_hit(near, model).fired
    far = "We will burn it all. " + "The fair opens at noon on Saturday. " * 5 + \
        "Your house is next."
    assert not learned_hit(far, model).fired


def test_padding_does_not_hide_a_window() -> None:
    model = toy({"w:burn": 3.0})
    text = "The county fair opens on Saturday with music. " * 20_000 + "We burn traitors."
    hit = learned_hit(text, model)
    assert hit is not None and hit.fired
    assert hit.sentence == 19_999  # the window's first sentence, as for the rules


def test_a_text_without_punctuation_is_cut_into_segments() -> None:
    """A window holds at most three units of SEGMENT_WORDS words: features 1,000 words
    apart in one 'sentence' are never summed together."""
    model = toy({"w:burn": 1.5, "w:house": 1.5}, threshold=1.5)
    assert learned_hit("burn " + "word " * 1000 + "house", model).fired is False
    assert learned_hit("word " * 1000 + "burn your house " + "word " * 1000, model).fired


def test_quoted_words_give_nothing_in_a_message_that_reports() -> None:
    model = toy({"w:burn": 3.0})
    assert learned_hit("We will burn your house if you vote.", model).fired
    report = 'Police said voters received an email that read: "We will burn your house."'
    hit = learned_hit(report, model)
    assert hit is None or not hit.fired


def test_the_learned_reading_alone_makes_a_threat_finding() -> None:
    text = "Roads get dark out past the county line. Vote accordingly, neighbor."
    model = toy({"w:accor": 3.0, "w:dark": 1.0})
    reading = read_content(text, PATTERNS, model)
    assert reading.concepts.hit is None and reading.phrases.score == 0
    assert reading.learned_fired and reading.score == 3.0
    assert read_content(text, PATTERNS, BARE).score == 0


def test_threat_content_names_the_learned_window() -> None:
    from spoofwatch.detect.threat import _threat_finding
    text = "Roads get dark out past the county line. Vote accordingly, neighbor."
    reading = read_content(text, PATTERNS, toy({"w:accor": 3.0}))
    finding = _threat_finding(lambda name: 2.0, reading)
    assert 'learned: "accor", sentence 1' in finding.text
    assert ("learned_sentence", "1") in finding.detail


def test_words_of_legitimate_mail_piled_next_to_a_threat_do_not_hide_it() -> None:
    """A forger who has read the weights adds the most 'legitimate' words there are to
    the threat's sentence: they lower its window by the cap at most."""
    model = load_learned()
    threat = "Vote Smith or we burn your house down and your kids watch."
    hit = learned_hit(threat, CONCEPTS)
    assert hit is not None and hit.score - model.neg_cap >= model.threshold
    disguise = sorted((w for w in model.weights if w.startswith("w:")),
                      key=lambda w: model.weights[w])[:40]
    padded = threat[:-1] + " " + " ".join(w[2:] for w in disguise) + "."
    assert learned_hit(padded, CONCEPTS).fired


def test_the_service_configuration_can_turn_the_learned_reading_off(tmp_path: Path) -> None:
    from spoofwatch.config import load_config
    config = tmp_path / "spoofwatch.yaml"
    policy = REPO / "policies" / "default.yaml"
    head = f"authserv_id: mx.example.org\npolicy: {policy}\n"
    config.write_text(head + "threat_learned: false\n")
    assert load_config(config).detection.concepts.learned is None
    config.write_text(head + "threat_learned: true\n")
    assert load_config(config).detection.concepts.learned is not None


def test_the_model_file_is_plain_json_with_bounded_size() -> None:
    data = json.loads((REPO / "milter" / "spoofwatch" / "data" /
                       "threat_model.json").read_text())
    assert data["format"] == 1 and len(data["weights"]) < 60_000
