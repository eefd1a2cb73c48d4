#!/usr/bin/env python3
"""Train the learned threat reading: write milter/spoofwatch/data/threat_model.json.

    .venv/bin/python scripts/train-threat-model.py            # train and write the model
    .venv/bin/python scripts/train-threat-model.py --check    # is the model's hash current?

Reads the training texts only: the ``split=train`` records of tests/data/threat_corpus
and of the sets listed in TRAINING_SETS (a held-out record is never read, in any set). The texts
are read through the very code the service runs (``score_concepts`` with a collecting
``LearnedWindows``), so training and scoring see the same words, concepts and windows.

The model is a logistic regression over binary window features, trained by plain
stochastic gradient descent (deterministic: fixed seed, fixed order) as multiple-instance
learning: a threatening text is a bag of windows of which at least one threatens, so after
a first round on whole texts each threat is represented by its best-scoring window, while
every window of a legitimate text is a negative. The threshold is chosen on out-of-fold
scores (5-fold cross-validation over the training texts) as the lowest at which no more
than MAX_FP_RATE of the legitimate texts (both languages together) score past it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "milter"), str(ROOT / "tests")]

from spoofwatch.detect.text_normalize import normalize_text  # noqa: E402
from spoofwatch.detect.threat import paragraph_sentences  # noqa: E402
from spoofwatch.detect.threat_concepts import (  # noqa: E402
    load_concepts,
    plain_words,
    score_concepts,
)
from spoofwatch.detect.threat_learned import (  # noqa: E402
    FORMAT,
    LearnedWindows,
    capped_score,
    counted_positives,
)
from support.threat_corpus import LABELS, LANGUAGES, Record, parse  # noqa: E402

DATA = ROOT / "tests" / "data"
MODEL_FILE = ROOT / "milter" / "spoofwatch" / "data" / "threat_model.json"
PACKAGE = ROOT / "milter" / "spoofwatch"
# What decides the features a text gives: the model is stale when any of it changes.
SHAPING_FILES = (PACKAGE / "data" / "threat_concepts.yaml",
                 PACKAGE / "data" / "real_words_near_terms.txt",
                 PACKAGE / "detect" / "threat_learned.py",
                 PACKAGE / "detect" / "threat_concepts.py",
                 PACKAGE / "detect" / "text_normalize.py",
                 PACKAGE / "detect" / "content.py",
                 PACKAGE / "detect" / "threat.py",
                 PACKAGE / "detect" / "data_file.py",
                 ROOT / "tests" / "support" / "threat_corpus.py",
                 Path(__file__).resolve())
# (directory, split read: "train" or None for every record)
TRAINING_SETS = (("threat_corpus", "train"), ("threat_dev", None), ("threat_dev2", None),
                 ("threat_dev3", None), ("threat_train", None),
                 ("threat_train2", None))
STEM = 5
EPOCHS = 40
L2 = 1e-4
RATE = 0.2
ROUNDS = 3  # multiple-instance rounds
FOLDS = 5
SEED = 1
MAX_FP_RATE = 0.02  # see choose_threshold
NEG_CAP = 2.0
POS_TOP = 12  # see capped_score: 8 lost recall (cross-validated), 16 let a licence fire
CLIP = 2.5  # the largest weight, either way, of one feature
# ... and of one word alone: a single word ("luck", "smart", a candidate's name the training
# threats share) at CLIP made short get-out-the-vote notes fire; pairs and concepts say more
WORD_CLIP = 1.0  # 1.5 fired on as many short notes and lost recall (cross-validated)
WEIGHT_FLOOR = 0.1  # smaller weights are dropped (in cross-validation too)
VOCABULARY_TEXTS = 2  # a word is in the vocabulary when this many training texts write it

Features = tuple[str, ...]  # sorted: sums in a fixed order, whatever the hash seed


def training_records() -> list[Record]:
    records = []
    for directory, split in TRAINING_SETS:
        for label in LABELS:
            for language in LANGUAGES:
                path = DATA / directory / f"{label}_{language}.txt"
                # a held-out record is never read, whatever set it is in
                records += [r for r in parse(path.read_text("utf-8"), label, language,
                                             str(path))
                            if split in (None, r.split) and r.split != "heldout"]
    return records


def training_hash() -> str:
    """sha256 over what the model is made from (the model file's ``trained_on``): the
    training texts, the bundled concepts file (the concepts are features) and the
    training settings."""
    digest = hashlib.sha256()
    for path in (*SHAPING_FILES, *sorted((PACKAGE / "text").glob("*.py"))):
        digest.update(path.read_bytes())
    digest.update(repr((STEM, EPOCHS, L2, RATE, ROUNDS, FOLDS, SEED, MAX_FP_RATE, NEG_CAP,
                        CLIP, WEIGHT_FLOOR, POS_TOP, WORD_CLIP, VOCABULARY_TEXTS)).encode())
    for record in training_records():
        digest.update(f"{record.id}\0{record.label}\0{record.text}\0".encode())
    return digest.hexdigest()


def vocabulary(records: list[Record], model) -> frozenset[str]:
    """The words the training texts write whole, in VOCABULARY_TEXTS texts or more (the
    model file's ``vocabulary``: WordReader reads a hyphenated word whole by it)."""
    counts: dict[str, int] = {}
    for record in records:
        for word in plain_words(normalize_text(paragraph_sentences(record.text)), model):
            counts[word] = counts.get(word, 0) + 1
    return frozenset(s for s, n in counts.items() if n >= VOCABULARY_TEXTS)


def windows_of(text: str, model, known: frozenset[str]) -> list[Features]:
    collector = LearnedWindows(None, collect=True, stem=STEM, vocabulary=known,
                               rules=model.rules)
    score = score_concepts(normalize_text(paragraph_sentences(text)), model,
                           learned=collector)
    chosen = [plain if score.reports else every for every, plain in collector.windows]
    return [tuple(sorted(f)) for f in chosen] or [()]


def _score(weights: dict[str, float], bias: float, features: Features) -> float:
    return capped_score(weights, bias, NEG_CAP, features, POS_TOP)


def _union(windows: list[Features]) -> Features:
    return tuple(sorted(set().union(*windows)))


def train(data: list[tuple[Record, list[Features]]]) -> tuple[dict[str, float], float]:
    weights: dict[str, float] = {}
    bias = -1.0
    for round_number in range(ROUNDS):
        instances: list[tuple[Features, int]] = []
        for record, windows in data:
            if record.label == "threat":
                if round_number == 0:
                    instances.append((_union(windows), 1))
                else:
                    instances.append((max(windows, key=lambda f: _score(weights, bias, f)),
                                      1))
            else:
                instances += [(f, 0) for f in windows]
                instances.append((_union(windows), 0))
        positives = sum(y for _, y in instances)
        balance = {1: len(instances) / (2 * positives),
                   0: len(instances) / (2 * (len(instances) - positives))}
        rng = random.Random(SEED)
        for epoch in range(EPOCHS):
            order = list(instances)
            rng.shuffle(order)
            rate = RATE / (1 + 0.1 * epoch)
            for features, label in order:
                # the score as the service computes it: past the cap, the negative
                # weights of the window take no part (and get no gradient)
                negative = sum(w for name in features
                               if (w := weights.get(name, 0.0)) < 0)
                capped = negative < -NEG_CAP
                counted = counted_positives(weights, features, POS_TOP)
                z = _score(weights, bias, features)
                p = 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))
                step = (p - label) * balance[label] * rate
                for name in features:
                    old = weights.get(name, 0.0)
                    if (capped and old < 0) or (old > 0 and name not in counted):
                        continue
                    # no single word or pair may weigh more than CLIP either way, and no
                    # word alone more than WORD_CLIP
                    limit = WORD_CLIP if name.startswith("w:") else CLIP
                    weights[name] = max(-limit, min(limit, old - step - rate * L2 * old))
                bias -= step
    return weights, bias


def pruned(weights: dict[str, float], bias: float) -> tuple[dict[str, float], float]:
    """The weights the model file keeps: rounded, and none smaller than WEIGHT_FLOOR (most
    word pairs are seen once; dropping their small weights halves the file and the memory
    the service holds it in)."""
    return {k: round(v, 4) for k, v in weights.items() if abs(v) >= WEIGHT_FLOOR}, bias


def best_score(weights: dict[str, float], bias: float, windows: list[Features]) -> float:
    return max(_score(weights, bias, f) for f in windows)


def choose_threshold(data: list[tuple[Record, list[Features]]],
                     out_of_fold: Path | None = None) -> tuple[float, dict]:
    """The threshold from out-of-fold scores, and the cross-validated figures."""
    folds: list[list[int]] = [[] for _ in range(FOLDS)]
    for index, (record, _) in enumerate(data):
        folds[int(hashlib.sha256(record.id.encode()).hexdigest(), 16) % FOLDS].append(index)
    scores = [0.0] * len(data)
    for fold in folds:
        held = set(fold)
        weights, bias = pruned(*train([d for i, d in enumerate(data) if i not in held]))
        for i in fold:
            scores[i] = best_score(weights, bias, data[i][1])
    # over both languages at once: a per-language quantile of a few hundred texts moves
    # with every text added (the sixth-highest score of 580).
    # MAX_FP_RATE: the model weighs the concept rules as features, and its reading is the
    # only one that counts (a rule alone no longer makes a threat). Out of fold, 1 % of
    # the legitimate texts gives 39 % of the threats, 2 % 50 %, 3 % 57 %. The rules counted
    # by themselves before and flagged 6 % of the legitimate training texts (in-sample)
    # for 59 % of the threats. 2 % reads the short everyday notes and licence texts of
    # tests/unit/test_threat_learned.py as the shipped reading did (3 of 20 notes, 1 of 860
    # licence paragraphs); 3 % fires on a fourth note. A quarantined legitimate message is
    # the worse mistake (a threat missed is still a spoof, with a banner).
    legit = sorted((s for (r, _), s in zip(data, scores, strict=True) if r.label == "legit"),
                   reverse=True)
    threshold = legit[int(MAX_FP_RATE * len(legit))] + 1e-6
    figures = {}
    for language in LANGUAGES:
        for label in LABELS:
            got = [s >= threshold for (r, _), s in zip(data, scores, strict=True)
                   if r.label == label and r.language == language]
            figures[f"{label}_{language}"] = f"{sum(got)}/{len(got)}"
    if out_of_fold is not None:
        out_of_fold.write_text(json.dumps(
            {r.id: round(s, 4) for (r, _), s in zip(data, scores, strict=True)}) + "\n")
    return round(threshold, 4), figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=MODEL_FILE,
                        help="where to write the model (default: the bundled file)")
    parser.add_argument("--out-of-fold", type=Path,
                        help="also write each text's out-of-fold best score (JSON)")
    parser.add_argument("--check", action="store_true",
                        help="only check that the model was trained on the current texts")
    args = parser.parse_args()
    if args.check:
        data = json.loads(MODEL_FILE.read_text("utf-8"))
        current = data.get("trained_on")
        if (data.get("stem"), data.get("neg_cap"), data.get("pos_top", 0)) != (
                STEM, NEG_CAP, POS_TOP):
            print(f"{MODEL_FILE}: stem, neg_cap or pos_top differ from this script's")
            return 1
        if current != training_hash():
            print(f"{MODEL_FILE} is stale: run scripts/train-threat-model.py")
            return 1
        print("threat model: current")
        return 0
    model = load_concepts(learned=False)
    records = training_records()
    known = vocabulary(records, model)
    data = [(r, windows_of(r.text, model, known)) for r in records]
    threshold, figures = choose_threshold(data, args.out_of_fold)
    weights, bias = pruned(*train(data))
    kept = dict(sorted(weights.items()))
    out = {"format": FORMAT, "stem": STEM, "bias": round(bias, 4), "threshold": threshold,
           "neg_cap": NEG_CAP, "pos_top": POS_TOP, "trained_on": training_hash(),
           "cross_validated": figures, "texts": len(records), "weights": kept,
           "vocabulary": sorted(known)}
    args.out.write_text(json.dumps(out, indent=0, ensure_ascii=True) + "\n", "utf-8")
    print(f"{len(records)} texts, {len(kept)} weights, threshold {threshold}; "
          f"cross-validated (out of fold): {figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
