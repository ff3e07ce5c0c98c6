"""Builders for test inputs: real HTML pages, real PDFs, article texts, documents, SQuAD files."""

from __future__ import annotations

import json
from pathlib import Path

from retrieval.loaders import content_id
from retrieval.models import Document

ARTICLE_HTML = """<!doctype html><html><head><title>Dam Opens on the River | Daily Planet</title>
<meta name="author" content="Lois Lane"><meta property="article:published_time" content="2024-03-05T10:00:00Z">
</head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a> Subscribe now</nav>
<article><h1>Dam Opens on the River</h1>
<p>The new hydroelectric dam on the Blue River opened on Tuesday after eleven years of construction, officials said.</p>
<p>Engineer Maria Gomez said the dam will supply power to roughly forty thousand homes in the valley.</p>
<p>Critics argued that the reservoir flooded farmland that had been cultivated for generations by local families.</p>
</article>
<div class="share">Share on Facebook Share on Twitter</div>
<div id="comments"><h3>Comments</h3><p>Please let us know if you're having issues with commenting.</p></div>
<footer>Copyright Daily Planet. All rights reserved. Privacy policy.</footer>
</body></html>"""


def make_pdf(path: Path, paragraphs: list[str], title: str = "Solar Report", author: str = "Ada Byron") -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for para in paragraphs:
        pdf.multi_cell(0, 6, para)
        pdf.ln(6)
    pdf.output(str(path))
    return path


def article(title: str, sentences: list[str], byline: str = "By Staff Writer") -> str:
    return f"{title}\n\n{byline}\n\n" + "\n\n".join(sentences) + "\n"


def pdf_from_objects(objs: list[bytes], trailer: bytes = b"") -> bytes:
    """A PDF file made of these objects (1 is the catalog), with a valid cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R " % (len(objs) + 1) + trailer + b">>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def doc(text: str, source: str = "s", title: str = "T") -> Document:
    """A document as the loaders would make it (its id is its content's)."""
    return Document(id=content_id(text), text=text, source=source, title=title)


SQUAD_ARTICLES = {
    "Volcano_Island": [
        (
            "Mount Keller is a shield volcano on Tarven Island. It last erupted in 1894, burying the harbour "
            "town of Ossel under grey ash. Geologists from Lund measured the caldera at four kilometres across.",
            [
                ("When did Mount Keller last erupt?", "1894"),
                ("Which harbour town was buried under ash?", "Ossel"),
            ],
        ),
        (
            "Farmers on Tarven Island grow saffron on the volcanic slopes. The crop is harvested by hand every "
            "October and shipped to markets in Bergen.",
            [("Where is the saffron shipped?", "Bergen")],
        ),
    ],
    "Chess_Club": [
        (
            "The Marlow Chess Club was founded in 1921 by the schoolteacher Agnes Whitby. Its members play every "
            "Thursday evening in the library of the old corn exchange.",
            [
                ("Who founded the Marlow Chess Club?", "Agnes Whitby"),
                ("On which evening do the chess members play?", "Thursday"),
            ],
        ),
    ],
    "River_Barges": [
        (
            "Wooden barges carried coal along the Denholm canal until 1962. Each barge was pulled by a single horse "
            "walking on the towpath beside the water.",
            [
                ("What did the barges carry along the Denholm canal?", "coal"),
                ("What pulled each barge?", "a single horse"),
            ],
        ),
    ],
}


def write_squad(path: Path) -> Path:
    """A tiny SQuAD v1.1-format file of SQUAD_ARTICLES (what the evaluation reads)."""
    data = []
    for title, paragraphs in SQUAD_ARTICLES.items():
        paras = []
        for n, (context, qas) in enumerate(paragraphs):
            paras.append(
                {
                    "context": context,
                    "qas": [
                        {
                            "id": f"{title}-{n}-{i}",
                            "question": question,
                            "answers": [{"text": answer, "answer_start": context.index(answer)}],
                        }
                        for i, (question, answer) in enumerate(qas)
                    ],
                }
            )
        data.append({"title": title, "paragraphs": paras})
    path.write_text(json.dumps({"version": "1.1", "data": data}), encoding="utf-8")
    return path
