"""A second, non-SQuAD check: the bundled news article, hand-written questions.

    python benchmarks/news_check.py [--json]

Ingests the bundled AP/Breitbart sample through the service (the real loader, a one-article
namespace, default settings), asks questions whose answers are in it and questions about
things it never mentions, and prints the same answer metrics as ``citebot eval``. The
questions were written after the defaults were chosen and were not used to choose them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from config import load_settings
from evaluation.harness import answer_hit
from retrieval.service import CitebotService, sample_path

ANSWERABLE = [
    ("Who is the spokesman for Iran's Foreign Ministry?", "Bahram Ghasemi"),
    ("When did Putin say foreign forces would be withdrawn from Syria?", "May 17"),
    ("What does Iran call its fighters in Syria?", "defenders of the shrine"),
    ("Where is the Zeinab Shrine?", "near Damascus"),
    ("Where did Mike Pompeo give his speech?", "Heritage Foundation"),
    ("How many Iranians did the new Treasury sanctions target?", "five"),
    ("Which group are the sanctioned Iranians linked to?", "Islamic Revolutionary Guard Corps"),
    ("What support is the group accused of giving the Houthi rebels?", "ballistic missile support"),
    ("How long will Iranian soldiers stay in Syria?", "as long as necessary"),
    ("According to whom did Ghasemi make his remarks?", "Radio Farda"),
    ("What does Adelle Nazarian report on?", "politics and national security"),
    ("Who did Putin meet before his statement?", "Bashar al-Assad"),
    ("Which department issued new sanctions against Iran?", "Treasury Department"),
    ("In what year did Iran accuse Russia of diverging on its goals?", "2015"),
]
UNANSWERABLE = [
    "What is the boiling point of water at sea level?",
    "Who won the 2018 FIFA World Cup?",
    "How do I bake sourdough bread?",
    "What is the capital of Australia?",
    "When was the Eiffel Tower built?",
    "Which company makes the iPhone?",
    "How fast does light travel?",
    "Who wrote Pride and Prejudice?",
]


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="citebot-news-") as tmp:
        svc = CitebotService.from_settings(load_settings(data_dir=Path(tmp)))
        report = svc.ingest([sample_path()], "news")
        text = svc.catalog.text("news", report.items[0].doc_id) or ""
        rows = []
        hits = lengths = wrong = valid = citations = 0
        for question, gold in ANSWERABLE:
            answer = svc.ask(question, "news")
            quoted = " ".join(c.quote for c in answer.citations)
            hit = not answer.abstained and answer_hit([gold], quoted)
            hits += hit
            wrong += answer.abstained
            lengths += len(quoted) if not answer.abstained else 0
            for c in answer.citations:
                citations += 1
                valid += text[c.start : c.end] == c.quote
            rows.append(
                {
                    "question": question,
                    "gold": gold,
                    "hit": hit,
                    "abstained": answer.abstained,
                    "confidence": round(answer.confidence, 3),
                    "answer": quoted,
                }
            )
        abstained = 0
        for question in UNANSWERABLE:
            answer = svc.ask(question, "news")
            abstained += answer.abstained
            rows.append(
                {
                    "question": question,
                    "gold": None,
                    "abstained": answer.abstained,
                    "confidence": round(answer.confidence, 3),
                }
            )
        answered = len(ANSWERABLE) - wrong
        return {
            "chunks": report.chunks,
            "answerable": len(ANSWERABLE),
            "hit_at_1": hits / len(ANSWERABLE),
            "answer_chars": lengths / answered if answered else 0.0,
            "wrong_abstain": wrong / len(ANSWERABLE),
            "abstain_unanswerable": abstained / len(UNANSWERABLE),
            "citation_validity": valid / citations if citations else 1.0,
            "questions": rows,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    result = run()
    if parser.parse_args().json:
        print(json.dumps(result, indent=2))
        return
    for row in result["questions"]:
        mark = "abstained" if row["abstained"] else ("hit" if row.get("hit") else "answered")
        print(f"{mark:>9}  {row['confidence']:.2f}  {row['question']}")
    print(
        f"\n{result['answerable']} answerable: hit@1 {result['hit_at_1']:.2f}, {result['answer_chars']:.0f} chars, "
        f"wrong abstentions {result['wrong_abstain']:.2f}; {len(UNANSWERABLE)} unanswerable: abstained on "
        f"{result['abstain_unanswerable']:.2f}; citation validity {result['citation_validity']:.0%}"
    )


if __name__ == "__main__":
    main()
