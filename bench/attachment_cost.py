"""CPU cost of reading document attachments: ordinary files and the worst hostile ones.

    .venv/bin/python bench/attachment_cost.py

Prints, for each case, the file size, the CPU seconds of one reading (least of three,
thread CPU time), the characters read and the problem reported. The figures of
docs/detection.md ("Attachments and odd parts") come from this script.
"""

from __future__ import annotations

import logging
import random
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "milter"), str(HERE.parent / "tests")]

from spoofwatch.detect.attachment_text import MAX_ATTACHMENT_CHARS  # noqa: E402
from spoofwatch.detect.docx_text import read_docx  # noqa: E402
from spoofwatch.detect.pdf_text import read_pdf  # noqa: E402
from support import documents  # noqa: E402
from support.cputime import least_cpu  # noqa: E402

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
WORDS = "the county fair opens on saturday with a parade music food and games".split()


def _prose(lines: int, seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    return [" ".join(rnd.choice(WORDS) for _ in range(12)) for _ in range(lines)]


def _one_content(content: bytes, pages: int) -> bytes:
    data = zlib.compress(content)
    kids = b" ".join(b"4 0 R" for _ in range(pages))
    return documents.pdf_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 3 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data
        + b"\nendstream"])


def _docx_xml(body: str) -> bytes:
    return documents.docx(document=f'<w:document xmlns:w="{W}"><w:body>{body}</w:body>'
                                   "</w:document>")


def main() -> None:
    logging.disable(logging.WARNING)  # pypdf's warnings about the hostile files
    lines = _prose(60)
    cases: list[tuple[str, str, bytes]] = [
        ("pdf", "prose, 100 pages, uncompressed", documents.pdf([lines] * 100)),
        ("pdf", "prose, 100 pages, compressed", documents.pdf([lines] * 100, compress=True)),
        ("pdf", "prose, 2,000 pages (stops at the character bound)",
         documents.pdf([lines] * 2000)),
        ("pdf", "45,000 Tj on 1 page, drawn on 100 pages",
         _one_content(b"BT /F1 11 Tf " + b"(x) Tj " * 45_000 + b"ET", 100)),
        ("pdf", "49,000 empty Tj on 1 page, drawn on 3 pages",
         _one_content(b"BT /F1 11 Tf " + b"() Tj " * 49_000 + b"ET", 3)),
        ("pdf", "200,000 Td on 1 page (over the stream bound), 100 pages",
         _one_content(b"BT " + b"0 0 Td " * 200_000 + b"ET", 100)),
        ("pdf", "flate bomb: 200 MB of content", _one_content(b" " * 200_000_000, 1)),
        ("docx", "prose, 20,000 paragraphs", documents.docx(_prose(20_000))),
        ("docx", "zip bomb: 200 MB of spaces in one run",
         _docx_xml("<w:p><w:r><w:t>" + " " * 200_000_000 + "x</w:t></w:r></w:p>")),
        ("docx", "200,000 nested paragraphs",
         _docx_xml("<w:p>" * 200_000 + "<w:r><w:t>x</w:t></w:r>" + "</w:p>" * 200_000)),
    ]
    print(f"{'kind':5} {'case':58} {'bytes':>11} {'cpu s':>7} {'s/MB':>6} {'chars':>9}  problem")
    for kind, name, data in cases:
        read: Callable[[bytes, int], object] = read_pdf if kind == "pdf" else read_docx
        result = read(data, MAX_ATTACHMENT_CHARS)
        seconds = least_cpu(lambda data=data, read=read: read(data, MAX_ATTACHMENT_CHARS))
        text, problem = getattr(result, "text", ""), getattr(result, "problem", "")
        print(f"{kind:5} {name:58} {len(data):11,} {seconds:7.3f} "
              f"{seconds / (len(data) / 1e6):6.2f} {len(text):9,}  {problem}")


if __name__ == "__main__":
    main()
