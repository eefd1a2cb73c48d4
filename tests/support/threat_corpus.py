"""The labelled threat corpus of tests/data/threat_corpus/: threatening and legitimate
political texts in English and Spanish, written for spoofwatch (docs/detection.md).

Files are named ``<label>_<language>.txt``. Records are separated by a line ``%%``; each
starts with a header line ``# id=<id>; split=train|heldout; kind=<category>`` followed by
the text, which may span lines. The split was fixed when the texts were written (30 % of
each file and of each category held out); tuning reads ``split=train`` only and never
looks at ``split=heldout``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parents[1] / "data" / "threat_corpus"
LABELS = ("threat", "legit")
LANGUAGES = ("en", "es")
SPLITS = ("train", "heldout")
SEPARATOR = "%%"

_HEADER = re.compile(r"# id=([a-z0-9-]+); split=(train|heldout); kind=([a-z_]+)")


class CorpusFormatError(ValueError):
    """A record of a corpus file does not follow the format above."""


@dataclass(frozen=True)
class Record:
    id: str
    label: str  # "threat" or "legit"
    language: str  # "en" or "es"
    split: str  # "train" or "heldout"
    kind: str
    text: str


def corpus_file(label: str, language: str) -> Path:
    return CORPUS_DIR / f"{label}_{language}.txt"


def _chunks(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    """(line number of the chunk's first line, its lines) for each %%-separated chunk."""
    start = 1
    chunk: list[str] = []
    for number, line in enumerate(lines, 1):
        if line.rstrip() == SEPARATOR:
            yield start, chunk
            start = number + 1
            chunk = []
        else:
            chunk.append(line)
    yield start, chunk


def parse(source: str, label: str, language: str, where: str = "<corpus>") -> list[Record]:
    """The records of one file's text; a malformed record raises CorpusFormatError."""
    records = []
    for line_number, chunk in _chunks(source.splitlines()):
        if not any(line.strip() for line in chunk):
            continue  # a trailing separator or blank tail
        header = _HEADER.fullmatch(chunk[0].strip())
        if header is None:
            raise CorpusFormatError(f"{where}:{line_number}: expected '# id=..; split=..; "
                                    f"kind=..', got {chunk[0][:60]!r}")
        text = "\n".join(chunk[1:]).strip()
        if not text:
            raise CorpusFormatError(f"{where}:{line_number}: record {header[1]} has no text")
        records.append(Record(header[1], label, language, header[2], header[3], text))
    return records


def load_set(name: str) -> list[Record]:
    """Every record of the set tests/data/<name>/ (threat_dev, threat_train2, threat_fresh
    ...: files named as the corpus's), in file order, whatever its split."""
    return [record for label in LABELS for language in LANGUAGES
            for record in parse((CORPUS_DIR.parent / name / f"{label}_{language}.txt")
                                .read_text(encoding="utf-8"),
                                label, language, f"{name}/{label}_{language}.txt")]


def load(label: str | None = None, language: str | None = None,
         split: str | None = None) -> list[Record]:
    """Records of the corpus, in file order, filtered by label, language and split.

    Tuning must call this with ``split="train"``.
    """
    records = []
    for each_label in LABELS:
        for each_language in LANGUAGES:
            if label not in (None, each_label) or language not in (None, each_language):
                continue
            path = corpus_file(each_label, each_language)
            records += parse(path.read_text(encoding="utf-8"), each_label, each_language,
                             str(path))
    return [r for r in records if split in (None, r.split)]
