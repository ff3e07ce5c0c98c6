"""How far the models installable here can take answers, with no latency limit.

    python benchmarks/ceilings.py --dataset ../shared/eval/realtimeqa-news-dev.json [--sample 600] [--json OUT]

The plan of ``citebot eval`` (seeded sample, 20% of the articles held out), one store. Each
row ranks the same questions another way, beside the shipped ranking measured in the same run:

- shipped: ``citebot ask`` as configured (the cross-encoder reads 3 sentences of the top 5 chunks);
- no cross-encoder: the first stage alone (``reranker_model = "none"``);
- every sentence: the cross-encoder reads every sentence of the top 10 chunks (an order of
  magnitude more time than the shipped ask); the chunks are ranked with the shipped weight,
  or by their best logit alone;
- whole chunks: it reads each of the top 10 chunks whole (up to 320 tokens);
- any sentence of the top k holds the answer: what a perfect reader of those chunks could quote;
- a wider first stage (30 candidates a side instead of 10): the gold chunk in its top 10 and 20.

"answer quoted": for the shipped row its hit@1 (an abstention misses); for the others the
share whose gold answer is in the two sentences the row would quote (the top chunk's two
best by logit) — an upper bound on their hit@1, since they never abstain.

"absent abstain @ 5%": the share of questions about held-out articles whose signal (the
shipped confidence, or the best logit read) falls below the threshold that 5% of answerable
questions fall below — the abstention goal's trade-off.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from config import load_settings
from evaluation.harness import NAMESPACE, GoldQuestion, answer_hit, covers, load_plan
from retrieval.models import Chunk, EvidenceHit
from retrieval.noise import is_noise
from retrieval.reranking import CrossEncoder, RerankerConfig, load_reranker
from retrieval.service import CitebotService

TOP = 10
WIDE_CANDIDATES = 30
CHUNK_TOKENS = 320


def gold_rank(chunks: Sequence[Chunk], doc_id: str, q: GoldQuestion) -> int | None:
    """1-based rank of the first chunk holding a gold span, or None."""
    return next(
        (n for n, c in enumerate(chunks, 1) if c.doc_id == doc_id and covers((c.start, c.end), q.spans)),
        None,
    )


def below_at_5_percent(answerable: list[float], absent: list[float]) -> float | None:
    """Share of ``absent`` below the signal's 5th percentile over the answerable questions."""
    if not answerable or not absent:
        return None
    return float(np.mean(np.array(absent) < np.quantile(np.array(answerable), 0.05)))


class Rows:
    """Per-row tallies: ranks of the gold chunk, answer hits, abstention signals and time read."""

    def __init__(self) -> None:
        self.ranks: dict[str, list[int | None]] = {}
        self.hits: dict[str, list[bool]] = {}
        self.signal: dict[str, tuple[list[float], list[float]]] = {}
        self.seconds: dict[str, list[float]] = {}
        self.depth: dict[str, int] = {}  # how many chunks the row ranks

    def add(self, row: str, rank: int | None, hit: bool | None = None, depth: int = TOP) -> None:
        self.ranks.setdefault(row, []).append(rank)
        self.depth[row] = depth
        if hit is not None:
            self.hits.setdefault(row, []).append(hit)

    def signal_of(self, row: str, value: float, answerable: bool) -> None:
        self.signal.setdefault(row, ([], []))[0 if answerable else 1].append(value)

    def timed(self, row: str, seconds: float) -> None:
        self.seconds.setdefault(row, []).append(seconds)

    def report(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for row, ranks in self.ranks.items():
            entry: dict[str, Any] = {
                f"recall@{k}": sum(r is not None and r <= k for r in ranks) / len(ranks)
                for k in (1, 5, 10, 20)
                if k <= self.depth[row]
            }
            if row in self.hits:
                entry["answer quoted"] = float(np.mean(self.hits[row]))
            if row in self.signal:
                entry["absent abstain @ 5%"] = below_at_5_percent(*self.signal[row])
            if row in self.seconds:
                entry["ms per question"] = 1000 * float(np.median(self.seconds[row]))
            out[row] = entry
        return out


def two_best(hit: EvidenceHit, logit: dict[tuple[str, int], float]) -> str:
    """The top chunk's two sentences the cross-encoder scored highest."""
    read = [s.sentence for s in hit.sentences if (s.sentence.doc_id, s.sentence.start) in logit]
    read.sort(key=lambda s: -logit[(s.doc_id, s.start)])
    return " ".join(s.text for s in read[:2])


def measure(dataset: str, sample: int, seed: int, workdir: Path) -> dict[str, Any]:
    articles, plan = load_plan(dataset, sample=sample, seed=seed, holdout=0.2, split="all")
    settings = load_settings(data_dir=workdir / "citebot")
    shipped = CitebotService.from_settings(settings)
    for i in plan.ingested:
        shipped.ingest_document(articles[i].document(f"eval:{i}"), NAMESPACE, refresh=False)

    def variant(**update: Any) -> CitebotService:
        changed = settings.model_copy(update=update)
        return CitebotService.from_settings(changed, embedder=shipped.embedder, store=shipped.store)

    off = variant(reranker_model="none")
    wide = variant(reranker_model="none", candidate_k=WIDE_CANDIDATES)
    sentence_reader = load_reranker(
        RerankerConfig(settings.reranker_model, settings.reranker_max_tokens, settings.reranker_threads)
    )
    if sentence_reader is None:
        raise SystemExit("the reranker is switched off in the settings: nothing to measure")
    chunk_reader = CrossEncoder(RerankerConfig(settings.reranker_model, CHUNK_TOKENS, settings.reranker_threads))
    weight = shipped.searcher.fusion.rerank_weight
    rows = Rows()
    holds: dict[int, list[bool]] = {k: [] for k in (1, 3, 5, 10)}
    questions = [(q, True) for q in plan.answerable] + [(q, False) for q in plan.unanswerable]
    for q, answerable in questions:
        doc_id = articles[q.article].doc_id
        query = q.question  # as `citebot eval` asks it
        answer = shipped.ask(query, NAMESPACE)
        rows.signal_of("shipped", answer.confidence, answerable)
        hits = off.searcher.retrieve(NAMESPACE, query, TOP).evidence(query, TOP).hits
        read = [
            (n, s.sentence)
            for n, h in enumerate(hits)
            for s in h.sentences
            if not is_noise(s.sentence.text, h.hit.title)
        ]
        started = time.perf_counter()
        logits = sentence_reader.score(query, [s.text for _, s in read]).tolist()
        seconds = time.perf_counter() - started
        rows.signal_of("every sentence, cross-encoder alone", max(logits, default=-99.0), answerable)
        if not answerable:
            continue
        logit = {(s.doc_id, s.start): x for (_, s), x in zip(read, logits, strict=True)}
        best: dict[int, float] = {}
        for (n, _), x in zip(read, logits, strict=True):
            best[n] = max(best.get(n, x), x)
        floor = min(best.values(), default=0.0)
        for k, found in holds.items():
            found.append(any(answer_hit(q.answers, s.sentence.text) for h in hits[:k] for s in h.sentences))

        rows.timed("shipped", answer.timings_ms["total"] / 1000)
        ranked = [h.chunk for h in shipped.search(query, NAMESPACE, k=TOP)]
        quoted = " ".join(c.quote for c in answer.citations)
        rows.add("shipped", gold_rank(ranked, doc_id, q), not answer.abstained and answer_hit(q.answers, quoted))
        rows.add("no cross-encoder", gold_rank([h.hit.chunk for h in hits], doc_id, q))
        by_weight = [h.hit.score + weight * (best.get(n, floor) - floor) for n, h in enumerate(hits)]
        by_logit = [best.get(n, -99.0) for n in range(len(hits))]
        for row, key in (
            ("every sentence, shipped weight", by_weight),
            ("every sentence, cross-encoder alone", by_logit),
        ):
            order = sorted(range(len(hits)), key=lambda n: -key[n])
            said = two_best(hits[order[0]], logit) if order else ""
            rows.add(row, gold_rank([hits[n].hit.chunk for n in order], doc_id, q), answer_hit(q.answers, said))
            rows.timed(row, seconds)
        started = time.perf_counter()
        whole = chunk_reader.score(query, [h.hit.chunk.text for h in hits]).tolist()
        rows.timed("whole chunks", time.perf_counter() - started)
        order = sorted(range(len(hits)), key=lambda n: -whole[n])
        rows.add("whole chunks", gold_rank([hits[n].hit.chunk for n in order], doc_id, q))
        widened = [h.chunk for h in wide.search(query, NAMESPACE, k=2 * TOP)]
        rows.add(f"first stage, {WIDE_CANDIDATES} candidates a side", gold_rank(widened, doc_id, q), depth=2 * TOP)
    return {
        "dataset": dataset,
        "sample": sample,
        "seed": seed,
        "answerable": len(plan.answerable),
        "absent": len(plan.unanswerable),
        "rows": rows.report(),
        "any sentence of the top k chunks holds the answer": {str(k): float(np.mean(v)) for k, v in holds.items()},
    }


COLUMNS = ("recall@1", "recall@5", "recall@10", "recall@20", "answer quoted", "absent abstain @ 5%")


def table(report: dict[str, Any]) -> str:
    columns = [*COLUMNS, "ms per question"]
    lines = [
        f"{report['dataset']}: {report['answerable']} answerable questions, {report['absent']} about absent articles",
        "",
        "| ranking | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for name, entry in report["rows"].items():
        cells = ["" if entry.get(c) is None else f"{entry[c]:.{1 if c.startswith('ms') else 3}f}" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    holds = report["any sentence of the top k chunks holds the answer"]
    lines.append("")
    lines.append(
        "any sentence of the top k chunks holds the answer: " + ", ".join(f"k={k} {v:.3f}" for k, v in holds.items())
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--sample", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="citebot-ceilings-") as tmp:
        report = measure(args.dataset, args.sample, args.seed, Path(tmp))
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
