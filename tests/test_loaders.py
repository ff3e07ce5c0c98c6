from pathlib import Path

import pytest

from retrieval.errors import EmptyDocument, IngestError, SourceTooLarge, UnsupportedSource
from retrieval.loaders import Limits, content_id, expand_paths, load_bytes, load_path
from retrieval.service import sample_path
from tests.builders import ARTICLE_HTML, make_pdf


def test_sample_article_metadata_and_stable_id():
    doc = load_path(sample_path())
    assert doc.title == "Iran Rebuffs Russian Demand to Withdraw from Syria"
    assert doc.author == "The Associated Press"
    assert doc.id == content_id(doc.text) == load_path(sample_path()).id
    assert "Iran must withdraw all forces under Iranian command throughout the entirety Syria" in doc.text


def test_txt_byline():
    doc = load_bytes(b"Big Storm Hits Coast\n\nBy Jane Roe\n\nThe storm came ashore at dawn.", "storm.txt")
    assert (doc.title, doc.author) == ("Big Storm Hits Coast", "Jane Roe")


def test_txt_without_headline_uses_file_name():
    doc = load_bytes(b"This file starts with a sentence. And goes on.", "notes.txt")
    assert doc.title == "notes"


def test_markdown_front_matter_and_heading():
    md = b"---\ntitle: Front Title\nauthor: A. Writer\ndate: 2020-01-02\n---\n\n# Heading\n\nBody text here."
    doc = load_bytes(md, "post.md")
    assert (doc.title, doc.author, doc.published) == ("Front Title", "A. Writer", "2020-01-02")
    assert load_bytes(b"# Only Heading\n\nBody.", "x.md").title == "Only Heading"


def test_html_extraction_drops_navigation_share_and_comments():
    doc = load_bytes(ARTICLE_HTML.encode(), "dam.html", url="https://planet.example/dam")
    assert "forty thousand homes" in doc.text
    for boilerplate in ("Subscribe now", "Share on Facebook", "issues with commenting", "Privacy policy"):
        assert boilerplate not in doc.text
    assert doc.title.startswith("Dam Opens on the River")
    assert doc.author == "Lois Lane"
    assert doc.published == "2024-03-05"
    assert doc.url == doc.source == "https://planet.example/dam"
    assert "\n\n" in doc.text  # paragraphs kept apart


def test_pdf_text_and_metadata(tmp_path: Path):
    path = make_pdf(
        tmp_path / "report.pdf",
        [
            "Solar panels on the school roof produced 120 megawatt hours last year.",
            "The board approved a second array.",
        ],
    )
    doc = load_path(path)
    assert "120 megawatt hours" in doc.text
    assert (doc.title, doc.author) == ("Solar Report", "Ada Byron")
    assert doc.media_type == "application/pdf"


def test_latin1_text_is_decoded():
    doc = load_bytes("Caf\u00e9 na\u00efve r\u00e9sum\u00e9 and more words here.".encode("latin-1"), "x.txt")
    assert "Caf\u00e9" in doc.text


@pytest.mark.parametrize(
    ("data", "name", "error", "message"),
    [
        (b"\x00\x01\x02binary\x00", "blob.txt", UnsupportedSource, "binary"),
        (b"   \n\n ", "empty.txt", EmptyDocument, "empty"),
        (b"hello", "image.png", UnsupportedSource, "unsupported type"),
        (b"not a pdf at all", "fake.pdf", UnsupportedSource, "not a PDF"),
        (b"%PDF-1.4 garbage that is no pdf", "broken.pdf", UnsupportedSource, "PDF"),
        (
            b"<html><head><title>t</title></head><body><script>x()</script></body></html>",
            "empty.html",
            EmptyDocument,
            "no article text",
        ),
    ],
)
def test_bad_inputs_raise_clear_errors(data, name, error, message):
    with pytest.raises(error, match=message):
        load_bytes(data, name)


def test_size_limits_are_checked_before_parsing():
    with pytest.raises(SourceTooLarge, match="over the limit"):
        load_bytes(b"x" * 101, "big.txt", limits=Limits.shipped(max_bytes=100))
    with pytest.raises(SourceTooLarge, match="characters"):
        load_bytes(b"word " * 100, "long.txt", limits=Limits.shipped(max_chars=50))


def test_missing_path_and_directory_expansion(tmp_path: Path):
    with pytest.raises(IngestError, match="no such file"):
        load_path(tmp_path / "missing.txt")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.txt").write_text("One.")
    (tmp_path / "a" / "two.MD").write_text("# Two")
    (tmp_path / "a" / "skip.png").write_bytes(b"\x89PNG")
    (tmp_path / "a" / "deep").mkdir()
    (tmp_path / "a" / "deep" / "three.html").write_text("<p>x</p>")
    names = [p.name for p in expand_paths(tmp_path / "a")]
    assert names == ["three.html", "one.txt", "two.MD"]


# -- item 18: encodings -----------------------------------------------------------------------
# charset_normalizer alone reads this (as Latin-1) as cp1250: "Mčre et pčre sont allés ŕ la foręt".
FRENCH = "Mère et père sont allés à la forêt près du lac."
CZECH = "Příliš žluťoučký kůň úpěl ďábelské ódy. Česká republika je stát ve střední Evropě."


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_western_text_is_read_as_western_without_a_warning(encoding, caplog):
    caplog.set_level("WARNING", logger="retrieval.loaders")
    for name in ("note.txt", "note.md"):
        doc = load_bytes(FRENCH.encode(encoding), name)
        assert doc.text == FRENCH
    german = "Die Straße in München ist schön. Größere Häuser wurden über die Brücke gebaut."
    assert load_bytes(german.encode(encoding), "de.txt").text == german
    assert caplog.records == []


def test_a_guessed_encoding_is_warned_about(caplog):
    caplog.set_level("WARNING", logger="retrieval.loaders")
    doc = load_bytes(CZECH.encode("cp1250"), "cz.txt")
    assert doc.text == CZECH
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "cz.txt: not UTF-8; the encoding was guessed as cp1250" in caplog.records[0].getMessage()


def test_a_declared_charset_is_used(caplog):
    caplog.set_level("WARNING", logger="retrieval.loaders")
    russian = "Привет, как дела? Это пример текста на русском языке."
    doc = load_bytes(russian.encode("koi8-r"), "ru.txt", content_type="text/plain; charset=KOI8-R")
    assert doc.text == russian
    page = (
        '<html><head><meta charset="iso-8859-1"><title>Été</title></head>'
        f"<body><article><p>{FRENCH}</p></article></body></html>"
    )
    assert FRENCH in load_bytes(page.encode("latin-1"), "fr.html").text
    assert caplog.records == []
