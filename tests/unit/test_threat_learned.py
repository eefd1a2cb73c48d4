"""The learned threat reading (detect/threat_learned.py): its model file, its windows, the
cap on negative weights, reports, and its part in threat_content."""

from __future__ import annotations

import json
import re
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
from support.modules import load_by_path
from support.threat_corpus import load
from unit.test_threat_reading_figures import DEVELOPMENT_SETS, development_set

REPO = Path(__file__).resolve().parents[2]
PATTERNS = load_patterns()
CONCEPTS = load_concepts(learned=True)
BARE = load_concepts(learned=False)


def toy(weights: dict[str, float], bias: float = -1.0, threshold: float = 1.0,
        neg_cap: float = 4.0) -> ConceptModel:
    """The bundled concepts with a small hand-made learned model."""
    from dataclasses import replace
    return replace(BARE, learned=LearnedModel(weights, bias, threshold, 5, neg_cap, ""))


def learned_hit(text: str, model: ConceptModel):
    return score_concepts(normalize_text(text), model).learned


def fires(text: str, model: ConceptModel) -> bool:
    hit = learned_hit(text, model)
    return hit is not None and hit.fired


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


def test_only_the_heaviest_positive_weights_count_up_to_pos_top() -> None:
    weights = {f"w:{c}": 0.5 for c in "abcdefgh"} | {"w:z": 2.0, "w:n": -1.0}
    data = {"format": 1, "weights": weights, "bias": -1.0, "threshold": 1.0, "stem": 5,
            "neg_cap": 4.0, "pos_top": 3}
    model = model_from_data(data)
    assert model.pos_top == 3
    many = [f"w:{c}" for c in "abcdefgh"]
    # eight words of 0.5 would add 4.0; three of them count (the heaviest first)
    assert window_score(model, many) == -1.0 + 1.5
    assert window_score(model, [*many, "w:z"]) == -1.0 + 2.0 + 1.0
    # negative weights all count (down to the cap), whatever pos_top says
    assert window_score(model, [*many, "w:z", "w:n"]) == -1.0 + 2.0 + 1.0 - 1.0
    # a model file without pos_top counts every positive weight
    unbounded = model_from_data({k: v for k, v in data.items() if k != "pos_top"})
    assert unbounded.pos_top == 0 and window_score(unbounded, many) == -1.0 + 4.0


def test_words_stems_pairs_and_concepts_are_the_features() -> None:
    collector = LearnedWindows(None, collect=True, stem=5)
    score_concepts(normalize_text("We will burn your house."), BARE, learned=collector)
    [(every, plain)] = collector.windows
    # doubled letters are made single ("will" -> "wil"), stems are five letters
    assert {"w:we", "w:wil", "w:burn", "w:house", "b:we_wil", "b:burn_your", "b:your_house",
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
    assert hit.sentence == 20_001  # the threat read alone: a window of one sentence


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


def test_a_threat_of_one_sentence_is_read_alone_whatever_stands_before_it() -> None:
    """A sentence after one of MIN_UNIT_WORDS (8) words or more is a window of its own; a
    shorter sentence before it shares its window, and its negative weights then cost the
    threat at most the cap."""
    weights = {"w:burn": 3.0, "w:thank": -2.0, "w:volun": -2.0}
    model = toy(weights, neg_cap=10.0)
    threat = "We burn the houses of traitors."
    assert learned_hit(threat, model).fired
    hit = learned_hit(f"Thank you so much, volunteers, for all of your work. {threat}", model)
    assert hit.fired and hit.sentence == 2
    capped = toy(weights, neg_cap=2.0, threshold=0.0)
    hit = learned_hit(f"Thank you, volunteers, thank you. {threat}", capped)
    assert hit.fired and hit.score == -1.0 + 3.0 - 2.0 and hit.sentence == 1


def test_quoted_concepts_count_in_a_message_that_does_not_report() -> None:
    """Quotation marks around a whole threat hide nothing: only a report discounts
    quotes."""
    model = toy({"cc:harm_act+reader": 3.0})
    assert learned_hit("We will burn your house.", model).fired
    assert learned_hit('"We will burn your house."', model).fired


def test_a_word_pair_that_touches_a_quoted_word_is_quoted() -> None:
    """In a report it gives nothing; quoting every other word of a threat keeps its pairs
    (a forger's trick against a rule that would drop such pairs)."""
    collector = LearnedWindows(None, collect=True, stem=5)
    score_concepts(normalize_text('Somebody wrote "we know who" vote here.'), BARE,
                   learned=collector)
    every = set().union(*(w for w, _ in collector.windows))
    plain = set().union(*(p for _, p in collector.windows))
    assert {"b:wrote_we", "b:we_know", "b:know_who", "b:who_vote"} <= every
    assert not {"b:wrote_we", "b:we_know", "b:know_who", "b:who_vote"} & plain
    assert "b:vote_here" in plain


def test_ordinary_prose_never_fires_without_a_threats_idea() -> None:
    """A window fires only if it names harm, pursuit, surveillance, the reader's data,
    leverage, a loss, staying home, a false notice or an ultimatum."""
    model = toy({"w:al": 3.0, "w:volun": 3.0, "c:harm_act": 0.1})
    assert not learned_hit("Thanks to all the volunteers who came along.", model)
    assert learned_hit("Thanks to all the volunteers who came along with gasoline.",
                       model).fired


def test_a_long_reported_sentence_gives_nothing_past_its_first_segment() -> None:
    """Words are held until their sentence ends: a report of 100 words is discounted
    whole, not only after its first 60 words."""
    model = toy({"w:burn": 3.0})
    report = ("Police said that they would burn the barn if something happened "
              + "and then some more words " * 20 + "today.")
    assert not fires(report, model)
    assert fires(report.replace("Police said", "We think"), model)


def test_doubled_letters_change_no_stem() -> None:
    model = toy({"w:dayca": 3.0})
    assert fires("We know which daycare, or else.", model)
    assert fires("We know which daaycare, or else.", model)


def test_the_learned_reading_alone_makes_a_threat_finding() -> None:
    text = "Roads get dark out past the county line. Vote accordingly, neighbor."
    model = toy({"w:acord": 3.0, "w:dark": 1.0})
    reading = read_content(text, PATTERNS, model)
    assert reading.concepts.hit is None and reading.phrases.score == 0
    assert reading.learned_fired and reading.score == 3.0
    assert read_content(text, PATTERNS, BARE).score == 0


def test_threat_content_names_the_learned_window() -> None:
    from spoofwatch.detect.threat import _threat_finding
    text = "Roads get dark out past the county line. Vote accordingly, neighbor."
    reading = read_content(text, PATTERNS, toy({"w:acord": 3.0}))
    finding = _threat_finding(lambda name: 2.0, reading)
    assert 'learned: "acord", sentence 2' in finding.text
    assert ("learned_sentence", "2") in finding.detail


def test_the_example_of_the_docs_is_true() -> None:
    text = "Your son drives home alone from practice at 8. Roads are dark. Vote accordingly."
    reading = read_content(text, PATTERNS, CONCEPTS)
    assert read_content(text, PATTERNS, BARE).score == 0  # no rule, no phrase
    assert reading.learned_fired and reading.score == 3.0
    assert reading.concepts.learned.reason() == (
        '"your son" + "home alone" + "vote acord" + command+reader, sentence 1')


PAD = "Thank you for your help, campaign volunteers."
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def test_legitimate_sentences_around_a_threat_hide_little() -> None:
    """A forger who has read the weights puts the most 'legitimate' sentence there is
    before a threat, or before each of its sentences. Over every training threat the
    learned reading flags: one such sentence on top hides almost none (the threat's own
    sentence is a window, unless it is shorter than MIN_UNIT_WORDS); one before every
    sentence hides a few (measured when the model was trained: 1,804 and 1,700 of 1,806
    stay flagged; docs/detection.md)."""
    threats = [r for r in load(label="threat", split="train") +
               [r for name in DEVELOPMENT_SETS
                for r in development_set(name) if r.label == "threat"]
               if fires(r.text, CONCEPTS)]
    on_top = sum(fires(f"{PAD} {r.text}", CONCEPTS) for r in threats)
    every = sum(fires(" ".join(f"{PAD} {s}" for s in _SENTENCE_END.split(r.text)), CONCEPTS)
                for r in threats)
    assert len(threats) > 1_700
    assert on_top >= 0.995 * len(threats), (on_top, len(threats))
    assert every >= 0.93 * len(threats), (every, len(threats))


def test_words_of_legitimate_mail_inside_a_threat_lower_it_by_the_cap_at_most() -> None:
    model = load_learned()
    threat = "Your son drives home alone from practice at 8. Roads are dark. Vote accordingly."
    disguise = sorted((w for w in model.weights if w.startswith("w:")),
                      key=lambda w: model.weights[w])[:40]
    padded = threat[:-1] + " " + " ".join(w[2:] for w in disguise) + "."
    plain, hidden = learned_hit(threat, CONCEPTS), learned_hit(padded, CONCEPTS)
    assert plain.score - hidden.score <= model.neg_cap + 1e-9


def test_the_service_configuration_can_turn_the_learned_reading_off(tmp_path: Path) -> None:
    from spoofwatch.config import load_config
    config = tmp_path / "spoofwatch.yaml"
    policy = REPO / "policies" / "default.yaml"
    head = f"authserv_id: mx.example.org\npolicy: {policy}\n"
    config.write_text(head + "threat_learned: false\n")
    assert load_config(config).detection.concepts.learned is None
    config.write_text(head + "threat_learned: true\n")
    assert load_config(config).detection.concepts.learned is not None
    config.write_text(head)  # on by default
    assert load_config(config).detection.concepts.learned is not None


def test_training_never_reads_a_held_out_record() -> None:
    script = load_by_path(REPO / "scripts" / "train-threat-model.py", "train_threat_model")
    records = script.training_records()
    assert len(records) > 4_000
    assert {r.split for r in records} == {"train"}
    held = {r.id for r in load(split="heldout")} | {r.id for r in development_set("threat_fresh")}
    assert held and not held & {r.id for r in records}
    # a set listed by mistake gives its held-out records nothing either
    script.TRAINING_SETS = (*script.TRAINING_SETS, ("threat_fresh", None))
    assert [r.id for r in script.training_records()] == [r.id for r in records]


def test_the_model_file_is_plain_json_with_bounded_size() -> None:
    data = json.loads((REPO / "milter" / "spoofwatch" / "data" /
                       "threat_model.json").read_text())
    assert data["format"] == 1 and len(data["weights"]) < 60_000


LICENCES = Path("/usr/share/common-licenses")


def test_no_licence_text_of_debian_reads_as_a_threat() -> None:
    """Long ordinary prose, never in the training texts: Debian's licence texts (base-files,
    on every Debian machine). Before the cap on positive weights (pos_top) and the long
    legitimate training texts, 7 of these files (13 paragraphs) read as threats. Now no
    paragraph alone does, and two whole files do, just past the threshold (2.70 against
    2.68, run 13): the two LGPL versions, on a window of three sentences of their
    section on how to decide between the licences ("to decide", "only in", "thorough")."""
    files = sorted(p for p in LICENCES.iterdir() if p.is_file() and not p.is_symlink())
    assert len(files) >= 10, f"{LICENCES} is missing or nearly empty"
    fired = []
    for path in files:
        text = path.read_text("utf-8", errors="replace")
        pieces = [text, *(p for p in text.split("\n\n") if p.strip())]
        fired += [f"{path.name}: {piece[:60]!r}" for piece in pieces
                  if read_content(piece, PATTERNS, CONCEPTS).learned_fired]
    # the two LGPL files as wholes (each begins with its title)
    assert [f.split(":")[0] for f in fired] == ["LGPL-2", "LGPL-2.1"], fired
    assert "GNU LIBRARY GENERAL PUBLIC LICENSE" in fired[0], fired
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in fired[1], fired


# Short everyday notes that use the words the model weighs most ("luck", "smart", "shame",
# a candidate's name of the training texts): before single words were clipped at WORD_CLIP,
# six of twenty such notes read as threats, three with run 10's model, and two with
# today's (run 14): FIRING_NOTES, named in docs/detection.md and pinned so that a change of
# the reading shows on them.
FIRING_NOTES = [
    "It would be a shame to miss the chili cook-off. Vote for your favorite pot at the fire "
    "hall.",
    "Our games night moved to Wednesday because the church hall is a polling place Tuesday.",
]
QUIET_NOTES = [
    "Good luck with the move! Smart choice on the new house. Remember to update your "
    "address so you can vote in your new precinct.",
    "Bonita casa la tuya, qué suerte. Ya sabes dónde votar el domingo.",
    "Good luck to all our candidates! It is smart to vote early and skip the lines on "
    "Tuesday.",
    "Use a more traditional for loop, so it is easier to figure out what the code is doing "
    "(cleaning up a gcc const-cast warning in the process). Signed-off-by: Alan Coopersmith",
    "Best of luck on your exams this week! Don't forget the school board election is Tuesday.",
    'Smart move registering early, Kim. See you at the polls on the 5th!',
    'Gaines Street is closed for the parade; the polling place at the library is still open.',
    'Mucha suerte en la elección, compañeros. Nos vemos en la casilla a las 8.',
    'Qué pena que no pudiste venir al mitin. Vota temprano y evita las filas.',
    "Heads up: the drop box at city hall closes at 8 pm sharp on election day. Don't be late!",
    'Your ballot has been received and counted. Thank you for voting in the county election.',
    "We noticed you haven't returned your mail ballot yet. You still have time, drop it off "
    "by Tuesday.",
    'Watch your step at the polling place, the ramp is icy. Volunteers will salt it at 6 am.',
    'Lucky you, early voting starts tomorrow and the line at the rec center is short.',
    "Don't let the rain keep you home. Grab an umbrella and vote, it only takes ten minutes.",
    'Sería una lástima perder tu voto por un error en la firma. Revisa tu sobre antes de enviarlo.',
    'Smart voters check their registration. Ours takes two minutes at vote.example.org.',
    "Happy birthday, Dad! Hope you have a great day. Don't forget to vote for the library levy.",
]


@pytest.mark.parametrize("note", QUIET_NOTES)
def test_short_notes_with_heavy_words_stay_quiet(note: str) -> None:
    assert read_content(note, PATTERNS, CONCEPTS).score == 0


def test_the_short_notes_known_to_fire_are_these() -> None:
    assert [read_content(n, PATTERNS, CONCEPTS).score >= 3 for n in FIRING_NOTES] == [
        True, True]


def test_no_word_alone_weighs_more_than_the_word_clip() -> None:
    weights = load_learned().weights
    words = [w for name, w in weights.items() if name.startswith("w:")]
    assert words and max(abs(w) for w in words) <= 1.0
    assert max(abs(w) for w in weights.values()) > 1.0  # pairs and concepts weigh more


# --- Words cut by hyphens and sentences cut by ellipses (a red-team review's ways around
# the reading: "sha-me", "acc-" at a line's end, "Your son... drives home...").

@pytest.mark.parametrize(("token", "words"), [
    ("sha-me", ["shame"]),
    ("v-o-t-e", ["vote"]),
    ("fam-ily", ["family"]),
    ("acc-ordingly", ["accordingly"]),
    ("kn_ow", ["know"]),
    ("wh\u00b7ere", ["where"]),
    ("bu/rn", ["burn"]),
    ("kn- ow", ["know"]),
    ("sh'ame", ["shame"]),
    ("bal-lot", ["ballot"]),  # both pieces are words of their own
    # compounds of words stay their words, as before
    ("door-to-door", ["door", "to", "door"]),
    ("get-out-the-vote", ["get", "out", "the", "vote"]),
    ("866-our-vote", ["866", "our", "vote"]),
    ("vote-by-mail", ["vote", "by", "mail"]),
    ("check-in", ["checkin"]),  # the training texts write "checkin" whole
    ("change-of-address", ["change", "of", "address"]),
    ("and/or", ["and", "or"]),
])
def test_a_word_cut_inside_is_read_whole_and_a_compound_stays_its_words(
        token: str, words: list[str]) -> None:
    from spoofwatch.detect.threat_concepts import WordReader
    learned = CONCEPTS.learned
    assert learned is not None and learned.vocabulary
    assert WordReader(CONCEPTS, learned.vocabulary).words(token) == words


def test_an_apostrophe_of_a_contraction_still_parts_the_word() -> None:
    from spoofwatch.detect.threat_concepts import _TOKEN
    assert _TOKEN.findall("we'll don't it's you're sh'ame") == [
        "we", "ll", "don", "t", "it", "s", "you", "re", "sh'ame"]


def test_a_hyphen_at_a_line_end_joins_the_lines() -> None:
    assert normalize_text("we know acc-\nordingly") == "we know acc-ordingly"
    assert normalize_text("sha- \n  me") == "sha-me"
    # digits and a hyphen with a blank line after it are left alone
    assert normalize_text("pages 10-\n12") == "pages 10- 12"


def test_a_pair_and_a_term_run_on_over_a_short_sentence() -> None:
    model = toy({"b:son_drive": 3.0}, threshold=1.5)
    assert fires("Your son drives home.", model)
    assert fires("Your son... drives home...", model)
    assert fires("Your son\u2026 drives home\u2026", model)
    assert fires("Your son. Drives home.", model)
    assert fires("We are proud of your son. Drives home.", model)  # 7 words
    # a sentence of RUN_ON_WORDS (8) words or more ends the pair
    assert not fires("We are all so proud of your son. Drives home.", model)
    # a term too: "know where you live" over three sentence ends
    hit = score_concepts(normalize_text("We know. Where you. Live. Vote Trump or else."),
                         BARE).hit
    assert hit is not None and "personal_data" in hit.concepts


# Floors just under what the shipped reading keeps (run 14, docs/detection.md: 99.4 % for
# each mark inside words and for line breaks, 81.3 % for ellipses, 81.8 % and 81.7 % for
# periods)
CUT_WORDS_FLOOR = 0.98
CUT_LINES_FLOOR = 0.99
ELLIPSES_FLOOR = 0.78
PERIODS_FLOOR = 0.78


def _cut_with(mark: str):
    def change(text: str, rng) -> str:
        def cut(match: re.Match[str]) -> str:
            word = match.group(0)
            if rng.random() < 0.5:
                return word
            at = rng.randrange(1, len(word) - 1)
            return word[:at] + mark + word[at:]
        return re.sub(r"[^\W\d_]{4,}", cut, text)
    change.__name__ = f"cut with {mark!r}"
    return change


_cut_words = _cut_with("-")


def _cut_lines(text: str, rng) -> str:
    def cut(match: re.Match[str]) -> str:
        word = match.group(0)
        if rng.random() < 0.3:
            at = rng.randrange(2, len(word) - 1)
            return word[:at] + "-\n" + word[at:]
        return word
    return re.sub(r"[^\W\d_]{4,}", cut, text)


def _ellipses(text: str, rng) -> str:
    return " ".join(w + ("..." if i % 2 else "") for i, w in enumerate(text.split(" ")))


def _periods(text: str, rng) -> str:
    return " ".join(w + ("." if i % 2 else "") for i, w in enumerate(text.split(" ")))


def _periods_4(text: str, rng) -> str:
    return " ".join(w + ("." if i % 4 == 3 else "") for i, w in enumerate(text.split(" ")))


def test_cut_words_and_ellipses_hide_few_threats() -> None:
    """Over every training threat the reading flags: a hyphen inside half the words of
    four letters or more, a line break inside a third of them, an ellipsis or a period
    after every other word. Measured when the model was trained (docs/detection.md: before
    these fixes 36 %, 60 %, 17 % and 18 % stayed flagged)."""
    import random
    threats = [r for r in load(label="threat", split="train") +
               [r for name in DEVELOPMENT_SETS
                for r in development_set(name) if r.label == "threat" and r.split == "train"]
               if read_content(r.text, PATTERNS, CONCEPTS).score >= 3]
    assert len(threats) > 1_000
    for change, floor in ((_cut_words, CUT_WORDS_FLOOR), (_cut_with("- "), CUT_WORDS_FLOOR),
                          (_cut_with("/"), CUT_WORDS_FLOOR), (_cut_lines, CUT_LINES_FLOOR),
                          (_ellipses, ELLIPSES_FLOOR), (_periods, PERIODS_FLOOR),
                          (_periods_4, PERIODS_FLOOR)):
        rng = random.Random(7)
        kept = sum(read_content(change(r.text, rng), PATTERNS, CONCEPTS).score >= 3
                   for r in threats)
        assert kept >= floor * len(threats), (change.__name__, kept, len(threats))


# Reviews of runs 12 and 13 (a forger who read the code, the lists and the model): cheap
# ways around the reading that no longer work. The last four: one word inserted into a
# threat lowered the learned score below 0, and run 13's floor then silenced the rule that
# still fired; a rule now counts by itself.
REVIEW_STILL_THREATS = [
    "We kn- ow you li- ve on Al- der Co- urt. Vo- te for Cra- vens on Tuesday or we wi- ll "
    "bu- rn yo- ur ho- use to the gro- und.",
    "We know you live on Alder Court. Vote for Cravens on Tuesday or we will bu/rn your "
    "house to the ground.",
    "We know you live on Alder Court. Vote for Cravens on Tuesday or we will burn your "
    "ho'use to the gro'und.",
    "Sabemos donde vives Si. Votas por Ramírez el. Domingo vamos a quemar. Tu casa.",
    "Important: as I told you... the election in your district has been postponed to "
    "November 12... Please do not go to the polls on Tuesday...",
    "We know you live on Alder Court... Vote for Cravens on Tuesday... or we will burn... "
    "your house... officials said so...",
    "If you vote for the levy we will kill really your dog.",
    "Si votas por Ortega, te really vamos a lastimar.",
    "We'll really find you if you vote for the levy. Nowhere to hide in this town.",
    "Tu jefe sabrá si votaste. Si no votas really por Morales, pierdes el trabajo.",
]


@pytest.mark.parametrize("text", REVIEW_STILL_THREATS)
def test_the_reviews_cut_and_reported_threats_stay_threats(text: str) -> None:
    assert read_content(text, PATTERNS, CONCEPTS).score >= 3

