"""PDF loading: bounded by time and characters (item 10), cleaned text (item 19), quiet
pypdf (item 15), on real PDFs from shared/realweb and on PDFs made here (fpdf2, raw)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from retrieval.errors import SourceTooLarge, UnsupportedSource
from retrieval.loaders import Limits, load_bytes
from retrieval.sentences import paragraphs
from tests.builders import pdf_from_objects
from tests.realweb import realweb

ROOT = Path(__file__).resolve().parents[1]
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def shared_stream_pdf(pages: int, operators: bytes) -> bytes:
    """``pages`` pages that all draw one compressed content stream: a small file, and pypdf
    parses the whole stream again for every page."""
    content = zlib.compress(operators, 9)
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R"
        b" /Resources << /Font << /F1 4 0 R >> >> >>"
    )
    return pdf_from_objects(objs + [page] * pages)


# -- item 10: bounded extraction ----------------------------------------------------------------
def test_a_pdf_that_is_slow_to_parse_is_stopped_at_the_time_limit():
    data = shared_stream_pdf(200, b"BT 1 0 Td ET\n" * 200_000)  # no text; ~1 s of parsing per page
    assert len(data) < 40_000
    started = time.perf_counter()
    with pytest.raises(UnsupportedSource, match="took longer than 2 seconds"):
        load_bytes(data, "slow.pdf", limits=Limits.shipped(max_seconds=2))
    assert time.perf_counter() - started < 10
    # The stopped worker is replaced: the next PDF loads as usual.
    doc = load_bytes(shared_stream_pdf(1, b"BT /F1 12 Tf 72 712 Td (The dam opened.) Tj ET\n"), "ok.pdf")
    assert doc.text == "The dam opened."


def test_the_character_limit_is_checked_as_pages_are_read():
    text_ops = b"BT /F1 12 Tf 72 712 Td (The dam opened on Tuesday.) Tj ET\n"
    one_page = shared_stream_pdf(1, text_ops * 1500)
    started = time.perf_counter()
    load_bytes(one_page, "one.pdf")
    page_seconds = time.perf_counter() - started
    many = shared_stream_pdf(40, text_ops * 1500)  # ~36,000 characters a page, 40 pages
    started = time.perf_counter()
    with pytest.raises(SourceTooLarge, match="over the limit of 50,000 characters"):
        load_bytes(many, "many.pdf", limits=Limits.shipped(max_chars=50_000))
    refused_after = time.perf_counter() - started
    # Refused within the second page, not after reading all forty.
    assert refused_after < 6 * page_seconds + 1.0, (refused_after, page_seconds)


# -- item 19: cleaned text ---------------------------------------------------------------------
def test_real_two_column_pdf_rejoins_hyphenation_normalises_ligatures_drops_page_numbers():
    doc = load_bytes(realweb("pdf/multicolumn.pdf"), "multicolumn.pdf")
    assert "consectetuer adipiscing elit" in doc.text
    assert "adip- iscing" not in doc.text and "adip-" not in doc.text
    assert "two columns filled" in doc.text  # "ﬁlled" in the PDF
    assert not any(ch in doc.text for ch in "\ufb00\ufb01\ufb02\ufb03\ufb04")
    texts = [doc.text[s:e] for s, e in paragraphs(doc.text)]
    assert not [t for t in texts if t.strip().isdigit()]
    assert not any(t.rstrip().endswith((" 1", " 2", " 3")) for t in texts)


def test_real_pdf_sentence_across_a_page_break_stays_whole():
    doc = load_bytes(realweb("pdf/pdflatex-4-pages.pdf"), "pdflatex.pdf")
    # Page 1 ends "... you will get no" above the page number "1"; page 2 starts "information.".
    assert "you will get no 1" not in doc.text
    assert doc.text.count("you will get no information.") == doc.text.count("you will get no") > 0
    texts = [doc.text[s:e] for s, e in paragraphs(doc.text)]
    assert not [t for t in texts if t.strip().isdigit()]


def test_real_pdfs_load_or_are_refused_clearly():
    assert "crazy ones" in load_bytes(realweb("pdf/crazyones-pdfa.pdf"), "c.pdf").text.lower()
    assert "misfits" in load_bytes(realweb("pdf/crazyones-pdfa.pdf"), "c.pdf").text
    with pytest.raises(UnsupportedSource, match="encrypted"):
        load_bytes(realweb("pdf/libreoffice-writer-password.pdf"), "locked.pdf")


def _fpdf_article(path: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    if DEJAVU.exists():
        pdf.add_font("DejaVu", fname=str(DEJAVU))
        pdf.set_font("DejaVu", size=11)
    else:
        pdf.set_font("Helvetica", size=11)
    lines = [
        "The council approved the new reservoir on Tuesday after a long debate about the",
        "costs of the project, which engineers had estimated at forty million euros in a pre-",
        "liminary report published in the spring by the regional water authority and its",
        "partners.",
        "A second paragraph starts here and says that work begins next year in March.",
    ]
    for page_no in (1, 2):
        pdf.add_page()
        pdf.set_y(20)
        for line in lines:
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
        if DEJAVU.exists():
            pdf.cell(0, 6, "The \ufb01nal \ufb02ow of the \ufb01eld was measured.", new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(-20)
        pdf.cell(0, 6, str(page_no), align="C")
    pdf.output(str(path))
    return path


def test_fpdf_pdf_rejoins_hyphenated_words_and_drops_page_numbers(tmp_path: Path):
    doc = load_bytes(_fpdf_article(tmp_path / "article.pdf").read_bytes(), "article.pdf")
    assert "in a preliminary report" in doc.text
    assert "pre- liminary" not in doc.text
    texts = [doc.text[s:e] for s, e in paragraphs(doc.text)]
    assert not [t for t in texts if t.strip().isdigit()]
    assert any(t.startswith("A second paragraph starts here") for t in texts)
    if DEJAVU.exists():
        assert "The final flow of the field was measured." in doc.text


# -- item 15: pypdf's warnings --------------------------------------------------------------------
def test_pypdf_warnings_do_not_reach_stderr(tmp_path: Path):
    broken = realweb("pdf/unreadablemetadata.pdf")  # pypdf warns "Invalid parent xref., rebuild xref"
    path = tmp_path / "broken.pdf"
    path.write_bytes(broken)
    code = (
        "import sys, pathlib\n"
        "from retrieval.errors import IngestError\n"
        "from retrieval.loaders import load_path\n"
        "try:\n"
        "    load_path(pathlib.Path(sys.argv[1]))\n"
        "except IngestError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "broken.pdf" in done.stdout  # refused with a clear message (its page tree is unreadable)


def test_pypdf_warnings_are_logged_at_debug(caplog):
    caplog.set_level("DEBUG", logger="retrieval.extraction")
    with contextlib.suppress(UnsupportedSource):  # its page tree is unreadable
        load_bytes(realweb("pdf/unreadablemetadata.pdf"), "broken.pdf")
    records = [r for r in caplog.records if r.name == "retrieval.extraction"]
    assert records and all(r.levelname == "DEBUG" for r in records)
    assert any("xref" in r.getMessage() for r in records)
