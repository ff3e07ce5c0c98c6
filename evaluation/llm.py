"""Evaluation of LLM mode (``citebot eval --mode llm``), beside the extractive mode in the same run.

Two measurements over a SQuAD-format set (``evaluation.py`` reads it and plans the run):

1. **Answers** from whatever model is configured (``llm_model``, ``llm_base_url``): each
   answerable question is asked in both modes of one service, in turn (rotating which goes
   first). Reported: the share of the model's sentences the verifier kept; the share of kept
   sentences whose citation supports them, judged independently of the verifier — a kept
   sentence that states a gold answer is supported when one of its cited sentences holds a
   gold answer span (by offsets), and the sentences stating none are counted apart; hit@1
   (a gold answer in the answer shown: the verified text, or the quotes of a fallback);
   fallbacks; abstention on held-out articles; latency p50/p95 of each mode.
2. **The verifier alone**, on scripted one-sentence answers with known labels, built from the
   same questions' evidence: supported — the gold sentence verbatim, and shortened (its
   answer kept); unsupported — a sentence of another article, the gold sentence with another
   question's answer swapped in, and the gold sentence cited to a passage that lacks it.
   Reported: precision and recall of dropping, and the same over a sweep of support
   thresholds (how ``GroundingConfig.support_threshold`` was chosen; BENCHMARKS.md).
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evaluation.harness import (
    NAMESPACE,
    Article,
    GoldQuestion,
    Progress,
    answer_hit,
    load_plan,
    percentile,
)
from retrieval.embedding import Embedder
from retrieval.grounding import ClaimSentence, GroundingConfig, Verifier
from retrieval.llm_prompt import Passage, passages
from retrieval.models import Answer

THRESHOLDS = tuple(round(0.30 + 0.05 * i, 2) for i in range(11))  # 0.30 … 0.80


@dataclass(frozen=True)
class Scripted:
    """A scripted answer sentence, its passages, and whether they support it."""

    text: str
    shown: tuple[Passage, ...]
    supported: bool
    kind: str


def _quoted(answer: Answer) -> str:
    return answer.text if answer.mode == "llm" else " ".join(c.quote for c in answer.citations)


def _holds_gold(citation: Any, doc_id: str, q: GoldQuestion) -> bool:
    return citation.doc_id == doc_id and any(citation.start <= s and e <= citation.end for s, e in q.spans)


def _gold_sentence(shown: Sequence[Passage], doc_id: str, q: GoldQuestion) -> tuple[Passage, str] | None:
    for p in shown:
        for s in p.hit.sentences:
            span = s.sentence
            if span.doc_id == doc_id and any(span.start <= a and b <= span.end for a, b in q.spans):
                return p, span.text
    return None


def _shortened(sentence: str, answers: Sequence[str]) -> str:
    """The sentence with every fourth word that is not part of the answer left out."""
    keep = {w for a in answers for w in a.split()}
    words = sentence.rstrip(".").split()
    out = [w for i, w in enumerate(words) if w in keep or i % 4 != 3]
    return " ".join(out) + "."


def scripted_set(svc: Any, articles: Sequence[Article], questions: Sequence[GoldQuestion], seed: int) -> list[Scripted]:
    """Labelled one-sentence answers from the evidence of each question (see the module doc)."""
    rng = random.Random(f"scripted-{seed}")
    others = list(questions)
    items: list[Scripted] = []
    for q in questions:
        doc_id = articles[q.article].doc_id
        evidence = svc.searcher.retrieve(NAMESPACE, q.question, svc.config.search_k).evidence(
            q.question, svc.config.search_k
        )
        shown = tuple(passages(evidence, 5))
        found = _gold_sentence(shown, doc_id, q)
        if found is None:
            continue
        passage, sentence = found
        n = passage.n
        items.append(Scripted(f"{sentence} [{n}]", shown, True, "verbatim"))
        items.append(Scripted(f"{_shortened(sentence, q.answers)} [{n}]", shown, True, "shortened"))
        other = rng.choice([o for o in others if o.article != q.article] or others)
        foreign = articles[other.article]
        spans = [s for s in foreign.text.split(". ") if len(s.split()) >= 8]
        if spans:
            items.append(Scripted(f"{rng.choice(spans).strip().rstrip('.')}. [{n}]", shown, False, "foreign"))
        answer = q.answers[0]
        wrong = other.answers[0]
        if answer in sentence and wrong.lower() not in sentence.lower():
            items.append(Scripted(f"{sentence.replace(answer, wrong, 1)} [{n}]", shown, False, "swapped"))
        elsewhere = [
            p for p in shown if p.n != n and not any(answer_hit(q.answers, s.sentence.text) for s in p.hit.sentences)
        ]
        if elsewhere:
            items.append(Scripted(f"{sentence} [{elsewhere[0].n}]", shown, False, "wrong passage"))
    return items


def measure_verifier(embedder: Embedder, items: Sequence[Scripted], config: GroundingConfig) -> dict[str, Any]:
    """Precision and recall of dropping, at ``config``'s threshold and over ``THRESHOLDS``."""
    probe = Verifier(embedder, replace(config, support_threshold=0.0))  # raw support; the other rules still apply
    rows: list[tuple[bool, float, bool]] = []  # (supported, support, passes the other rules)
    by_kind: dict[str, list[bool]] = {}
    for item in items:
        text, n = item.text.rsplit(" [", 1)  # one claim, however the splitter would cut it
        claim = ClaimSentence(text, (int(n.rstrip("]")),), item.text)
        (judged,) = probe.verify_claims([claim], item.shown).judged
        rows.append((item.supported, judged.support, judged.kept))

    def at(threshold: float) -> dict[str, float]:
        dropped = [not (ok and support >= threshold) for _, support, ok in rows]
        bad = [not s for s, _, _ in rows]
        true_drops = sum(1 for d, b in zip(dropped, bad, strict=True) if d and b)
        precision = true_drops / sum(dropped) if sum(dropped) else 1.0
        recall = true_drops / sum(bad) if sum(bad) else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"threshold": threshold, "precision": precision, "recall": recall, "f1": f1}

    chosen = config.support_threshold
    for item, (_, support, ok) in zip(items, rows, strict=True):
        by_kind.setdefault(item.kind, []).append(ok and support >= chosen)
    return {
        "sentences": len(rows),
        "unsupported": sum(1 for s, _, _ in rows if not s),
        "threshold": chosen,
        **{k: v for k, v in at(chosen).items() if k != "threshold"},
        "kept_by_kind": {k: sum(v) / len(v) for k, v in sorted(by_kind.items())},
        "sweep": [at(t) for t in THRESHOLDS],
    }


def evaluate_llm(
    dataset: Path | str,
    *,
    sample: int | None = None,
    seed: int = 0,
    holdout: float = 0.2,
    split: str = "all",
    embedder: Embedder | None = None,
    settings_overrides: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    from config import load_settings
    from retrieval.service import CitebotService

    articles, plan = load_plan(dataset, sample=sample, seed=seed, holdout=holdout, split=split)
    say = progress or (lambda _: None)
    workdir = Path(tempfile.mkdtemp(prefix="citebot-eval-llm-"))
    try:
        settings = load_settings(data_dir=workdir / "citebot", **{**(settings_overrides or {}), "answer_mode": "llm"})
        svc = CitebotService.from_settings(settings, embedder=embedder)
        for i in plan.ingested:
            svc.ingest_document(articles[i].document(f"eval:{i}"), NAMESPACE, refresh=False)
        svc.searcher.index(NAMESPACE)
        _ = svc.llm  # the model client, before any clock starts
        say(f"ingested {len(plan.ingested)} articles; asking {len(plan.answerable)} questions in both modes")
        modes = ("extractive", "llm")
        latency: dict[str, list[float]] = {m: [] for m in modes}
        hits: dict[str, list[bool]] = {m: [] for m in modes}
        sentences = kept = stating = supported = fallbacks = llm_answers = 0
        for n, q in enumerate(plan.answerable):
            doc_id = articles[q.article].doc_id
            for j in range(2):
                mode = modes[(n + j) % 2]
                started = time.perf_counter()
                answer = svc.ask(q.question, NAMESPACE, mode=mode)
                latency[mode].append((time.perf_counter() - started) * 1000)
                hits[mode].append(not answer.abstained and answer_hit(q.answers, _quoted(answer)))
                if mode != "llm":
                    continue
                grounded = svc.llm.last
                fallbacks += answer.mode != "llm" and not answer.abstained
                llm_answers += answer.mode == "llm"
                if grounded is None:
                    continue
                sentences += len(grounded.judged)
                for judged in grounded.judged:
                    if not judged.kept:
                        continue
                    kept += 1
                    if answer_hit(q.answers, judged.claim.text):
                        stating += 1
                        cited = [s.sentence for _, s in judged.spans]
                        supported += any(
                            s.doc_id == doc_id and any(s.start <= a and b <= s.end for a, b in q.spans) for s in cited
                        )
            if (n + 1) % 100 == 0:
                say(f"{n + 1}/{len(plan.answerable)} questions")
        absent = {m: 0 for m in modes}
        for q in plan.unanswerable:
            for mode in modes:
                absent[mode] += svc.ask(q.question, NAMESPACE, mode=mode).abstained
        say("measuring the verifier on scripted answers")
        items = scripted_set(svc, articles, plan.answerable, seed)
        verifier = measure_verifier(svc.embedder, items, svc.llm.verifier.config)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    asked = len(plan.answerable)
    return {
        "dataset": str(dataset),
        "seed": seed,
        "sample": sample,
        "split": split,
        "model": settings.llm_model,
        "answerable_questions": asked,
        "unanswerable_questions": len(plan.unanswerable),
        "modes": {
            mode: {
                "hit_at_1": sum(hits[mode]) / asked,
                "latency_p50_ms": percentile(latency[mode], 50),
                "latency_p95_ms": percentile(latency[mode], 95),
                "abstain_unanswerable": absent[mode] / len(plan.unanswerable) if plan.unanswerable else 0.0,
            }
            for mode in modes
        },
        "llm": {
            "answers_from_the_model": llm_answers / asked,
            "fallbacks": fallbacks / asked,
            "sentences": sentences,
            "kept_share": kept / sentences if sentences else 0.0,
            "kept_stating_a_gold_answer": stating,
            "cited_support": supported / stating if stating else 0.0,
        },
        "verifier": verifier,
    }


def markdown(report: dict[str, Any]) -> str:
    ext, llm = report["modes"]["extractive"], report["modes"]["llm"]
    m, v = report["llm"], report["verifier"]
    lines = [
        f"Dataset `{Path(report['dataset']).name}` (split: {report['split']}), seed {report['seed']}, "
        f"model `{report['model']}`: {report['answerable_questions']} answerable and "
        f"{report['unanswerable_questions']} unanswerable questions, both modes in one run.",
        "",
        "| metric | extractive | llm |",
        "|---|---:|---:|",
        f"| answer hit@1 | {ext['hit_at_1']:.3f} | {llm['hit_at_1']:.3f} |",
        f"| abstains when the article is absent | {ext['abstain_unanswerable']:.3f} | "
        f"{llm['abstain_unanswerable']:.3f} |",
        f"| latency p50 (ms) | {ext['latency_p50_ms']:.1f} | {llm['latency_p50_ms']:.1f} |",
        f"| latency p95 (ms) | {ext['latency_p95_ms']:.1f} | {llm['latency_p95_ms']:.1f} |",
        f"| answers written by the model (verified) | – | {m['answers_from_the_model']:.3f} |",
        f"| fallbacks to the quoted answer | – | {m['fallbacks']:.3f} |",
        f"| model sentences kept by the verifier | – | {m['kept_share']:.3f} of {m['sentences']} |",
        f"| kept sentences whose citation holds the gold answer (independent check) | – | "
        f"{m['cited_support']:.3f} of {m['kept_stating_a_gold_answer']} |",
        "",
        f"Verifier on {v['sentences']} scripted sentences ({v['unsupported']} unsupported), "
        f"threshold {v['threshold']:.2f}: dropping precision {v['precision']:.3f}, recall {v['recall']:.3f}.",
        "",
        "| support threshold | precision of dropping | recall of dropping | F1 |",
        "|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['threshold']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} |" for r in v["sweep"]
    ]
    lines += ["", "Kept by kind: " + ", ".join(f"{k} {share:.3f}" for k, share in v["kept_by_kind"].items())]
    return "\n".join(lines)
