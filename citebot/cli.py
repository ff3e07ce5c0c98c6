"""The ``citebot`` command: parses input, calls the service API, prints results.

Nothing here knows about chunking, embeddings or stores; domain errors become one-line
messages and exit codes (2: bad usage, settings or question; 1: anything else that failed;
130: interrupted). No error prints a traceback (``CITEBOT_DEBUG=1`` shows unexpected ones).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from config import SettingsError, describe_error, load_settings
from retrieval.errors import CitebotError, InvalidQuestion, NotFound

T = TypeVar("T")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,  # True prints the whole help, then raises: bare ``citebot`` is one usage line
    pretty_exceptions_enable=False,
    help="Ask questions about your articles and get answers quoted from them, with citations you can check.",
)
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# Python decodes undecodable argv bytes to lone surrogates (PEP 383); no store or JSON can hold them.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: str | None) -> str | None:
    """A text argument with undecodable bytes as U+FFFD (they cannot match any stored text)."""
    return None if value is None else _SURROGATE.sub("\ufffd", value)


def _check_namespace(value: str | None) -> str | None:
    # A namespace names stored data: a lossy replacement would silently pick another one.
    if value is not None and _SURROGATE.search(value):
        raise typer.BadParameter("the namespace is not valid UTF-8 text")
    return value


NamespaceOpt = Annotated[
    str | None,
    typer.Option("--namespace", "-n", help="Namespace (e.g. one per Discord server).", callback=_check_namespace),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", envvar="CITEBOT_DATA_DIR", show_envvar=True, help="Where the store lives.", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (one object per line in batch mode).")]
QuestionsOpt = Annotated[
    Path | None, typer.Option("--questions", help="Batch mode: a file with one question per line.", show_default=False)
]


class Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def one_line(message: str) -> str:
    return _SURROGATE.sub("\ufffd", " ".join(line.strip() for line in message.splitlines() if line.strip()))


def fail(message: str, code: int = 1) -> Exit:
    err.print(f"[red]error:[/red] {escape(one_line(message))}")
    return Exit(code)


@contextmanager
def service(data_dir: Path | None, **overrides: Any) -> Iterator[Any]:
    settings = load_settings(data_dir=data_dir, **overrides)  # first: a bad setting fails before heavy imports
    from retrieval.service import CitebotService

    try:
        yield CitebotService(settings)
    except InvalidQuestion as exc:
        raise fail(str(exc), 2) from exc
    except CitebotError as exc:
        raise fail(str(exc)) from exc


def emit(obj: dict) -> None:
    # Lone surrogates (undecodable file names) would make the line invalid UTF-8.
    out.print(_SURROGATE.sub("\ufffd", json.dumps(obj, ensure_ascii=False)), markup=False)


def hint_if_empty(svc: Any, ns: str) -> None:
    if not svc.sources(ns):
        err.print(
            f"[dim]note: namespace {escape(repr(ns))} has no documents "
            "(add some with: citebot ingest PATH|URL; list namespaces with: citebot namespaces)[/dim]"
        )


def read_questions(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"{path}: cannot read the questions file ({exc})", 2) from exc
    return [line.strip() for line in lines if line.strip()]


def one_or_batch(single: str | None, batch: Path | None, what: str) -> list[str]:
    if batch is not None:
        return read_questions(batch)
    if single is None or not single.strip():
        raise fail(f"the {what} is empty", 2)
    return [single]


def each(
    items: list[str], batch: bool, key: str, run: Callable[[str], T], as_json: bool
) -> Iterator[tuple[int, str, T]]:
    """``run`` each item; in batch mode a bad one is reported (a JSON error object in its
    place, or a line on stderr) and the rest go on. Yields (number from 1, item, result)."""
    for n, item in enumerate(items, start=1):
        try:
            result = run(item)
        except InvalidQuestion as exc:
            if not batch:
                raise
            if as_json:
                emit({key: item, "error": str(exc)})
            else:
                err.print(f"[red]error:[/red] {key} {n}: {escape(one_line(str(exc)))}")
            continue
        yield n, item, result


@app.command()
def ingest(
    sources: Annotated[list[str], typer.Argument(help="Files, directories (recursive) or http(s) URLs.")],
    namespace: NamespaceOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest .txt, .md, .html and .pdf files, directories and URLs."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=as_json or not err.is_terminal,
    )
    with service(data_dir) as svc, progress as bar:
        task = bar.add_task("ingesting", total=None)

        def on_progress(p: Any) -> None:
            bar.update(task, total=p.total, completed=p.done, description=Path(p.source).name[:40])

        report = svc.ingest(sources, namespace, progress=on_progress)
    if as_json:
        emit(report.to_dict())
    else:
        for item in report.items:
            if item.status == "failed":
                err.print(f"[red]failed[/red]    {escape(one_line(item.error or item.source))}")
            else:
                size = "already in the store" if item.status == "unchanged" else f"{item.chunks} chunks"
                out.print(f"{item.status:<10} {item.doc_id}  {escape(item.title or '')}  ({size})")
        out.print(report.summary())
    if report.failed:
        raise Exit(1)


def _marked(quote: str, span: tuple[int, int] | None) -> str:
    """The quote with its answer span in bold (Rich markup)."""
    if span is None:
        return escape(quote)
    start, end = span
    return f"{escape(quote[:start])}[bold]{escape(quote[start:end])}[/bold]{escape(quote[end:])}"


def _print_answer(answer: Any) -> None:
    if answer.abstained or not answer.citations:
        out.print(escape(answer.text))
    else:
        out.print(" ".join(f"\u201c{_marked(c.quote, c.answer_span)}\u201d [{c.n}]" for c in answer.citations))
    for c in answer.citations:
        out.print(f"\n[bold][{c.n}][/bold] {escape(c.title)}, paragraph {c.paragraph}, characters {c.start}–{c.end}")
        out.print(f"    id: {c.id}" + (f"  {escape(c.url)}" if c.url else ""))


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question.", show_default=False)] = None,
    questions: QuestionsOpt = None,
    namespace: NamespaceOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question with quoted sentences and their citations (or say it is not there)."""
    items = one_or_batch(_text(question), questions, "question")
    batch = questions is not None
    with service(data_dir) as svc:
        if not batch:
            svc.check_question(items[0])  # a bad question fails before any work
        ns = svc.namespace(namespace)
        if namespace is None and ns == svc.settings.default_namespace and svc.ensure_sample(ns):
            err.print("[dim]A new store: ingested the bundled sample article first (citebot forget removes it).[/dim]")
        hint_if_empty(svc, ns)
        for n, item, answer in each(items, batch, "question", partial(svc.ask, namespace=ns), as_json):
            if as_json:
                emit(answer.to_dict())
                continue
            if batch:
                out.print(("\n" if n > 1 else "") + f"[bold]Q{n}: {escape(item)}[/bold]")
            _print_answer(answer)


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="What to look for.", show_default=False)] = None,
    k: Annotated[int | None, typer.Option("-k", min=1, max=50, help="How many passages.")] = None,
    questions: QuestionsOpt = None,
    namespace: NamespaceOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the passages that best match a query."""
    items = one_or_batch(_text(query), questions, "query")
    batch = questions is not None
    with service(data_dir) as svc:
        ns = svc.namespace(namespace)
        hint_if_empty(svc, ns)
        for n, item, hits in each(items, batch, "query", partial(svc.search, namespace=ns, k=k), as_json):
            if as_json:
                emit({"query": item, "results": [h.to_dict() for h in hits]})
                continue
            if batch:
                out.print(f"[bold]Query {n}: {escape(item)}[/bold]\n")
            if not hits:
                out.print("No passages found.")
            for h in hits:
                out.print(f"[bold]{h.rank}.[/bold] {escape(h.title)}, paragraph {h.chunk.paragraph} (id {h.id})")
                out.print(f"   {escape(h.chunk.text)}\n")


@app.command()
def cite(
    citation_id: Annotated[str | None, typer.Argument(metavar="ID", help="A citation id.", show_default=False)] = None,
    quote: Annotated[str | None, typer.Option("--quote", help="Find where this text occurs.")] = None,
    namespace: NamespaceOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open a citation in context, or find where a quote occurs in the articles."""
    if (citation_id is None) == (quote is None):
        raise fail("give a citation ID or --quote TEXT (one of them)", 2)
    with service(data_dir) as svc:
        if citation_id is not None:
            found = svc.cite(_text(citation_id) or "", namespace)
        else:
            found = svc.find_quote(_text(quote) or "", namespace)
            if found is None:
                raise fail("that text does not occur in the ingested articles")
    if as_json:
        emit({**found.to_dict(), "exact": found.exact})
        return
    note = "" if found.exact else " (near match)"
    out.print(f"[bold]{escape(found.title)}[/bold], paragraph {found.paragraph}, id {found.id}{note}")
    if found.url:
        out.print(escape(found.url))
    rel_start, rel_end = found.start - found.context_start, found.end - found.context_start
    ctx = found.context
    out.print(f"\n{escape(ctx[:rel_start])}[reverse]{escape(ctx[rel_start:rel_end])}[/reverse]{escape(ctx[rel_end:])}")


@app.command()
def sources(namespace: NamespaceOpt = None, data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """List the ingested documents."""
    with service(data_dir) as svc:
        ns = svc.namespace(namespace)
        docs = svc.sources(ns)
    if as_json:
        emit({"documents": [d.to_dict() for d in docs]})
        return
    if not docs:
        out.print(
            f"No documents yet in namespace {escape(repr(ns))}. Add some with: citebot ingest PATH|URL "
            "(citebot namespaces lists the namespaces)"
        )
    for d in docs:
        out.print(f"{d.id}  {escape(d.title)}  ({d.chunks} chunks, {d.chars:,} chars)  {escape(d.url or d.source)}")


@app.command("namespaces")
def list_namespaces(data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """List the namespaces that ever held a document, with what they hold now."""
    with service(data_dir) as svc:
        infos = svc.namespaces()
    if as_json:
        emit({"namespaces": [i.to_dict() for i in infos]})
        return
    if not infos:
        out.print("No namespaces yet. Add documents with: citebot ingest PATH|URL [--namespace NAME]")
    for i in infos:
        out.print(f"{escape(i.namespace)}  ({i.documents} documents, {i.chunks} chunks)")


@app.command()
def forget(
    doc_id: Annotated[str, typer.Argument(metavar="DOC_ID", help="Document id (or a unique prefix).")],
    namespace: NamespaceOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a document and its passages."""
    with service(data_dir) as svc:
        info = svc.forget(_text(doc_id) or "", namespace)
    if as_json:
        emit({"forgotten": info.to_dict()})
    else:
        out.print(f"Forgot {info.id}  {escape(info.title)}")


@app.command()
def repair(namespace: NamespaceOpt = None, data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Make the vector store match the catalog: re-embed missing passages, drop orphan ones."""
    with service(data_dir) as svc:
        reports = svc.repair(namespace)
    if as_json:
        emit({"repaired": [r.to_dict() for r in reports]})
        return
    for r in reports:
        out.print(escape(r.summary()))
    if not reports:
        out.print("Nothing to repair: the data dir has no namespaces.")


@app.command()
def run(
    sync_guild: Annotated[
        int | None, typer.Option("--sync-guild", help="Sync commands to this guild only (development).")
    ] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Start the Discord bot (DISCORD_TOKEN from the environment or .env)."""
    settings = load_settings(data_dir=data_dir)
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise fail("DISCORD_TOKEN is not set (put it in the environment or in .env)", 2)
    from bot.runner import run_bot

    try:
        run_bot(settings, sync_guild=sync_guild)
    except CitebotError as exc:
        raise fail(str(exc)) from exc
    except OSError as exc:  # aiohttp's connection errors are OSErrors
        raise fail(f"cannot reach the Discord API at {settings.discord_api_base}: {exc}") from exc


@app.command("eval")
def evaluate(
    dataset: Annotated[Path, typer.Argument(help="A SQuAD v1.1-format JSON file.", show_default=False)],
    sample: Annotated[
        int | None, typer.Option("--sample", min=1, help="Ask a seeded random sample of N questions.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the sample and the held-out articles.")] = 0,
    holdout: Annotated[
        float, typer.Option("--holdout", min=0.0, max=0.9, help="Share of articles not ingested (abstention).")
    ] = 0.2,
    split: Annotated[
        str, typer.Option("--split", help="Articles to use: all, or the seeded halves tune / test.")
    ] = "all",
    baselines: Annotated[
        bool, typer.Option("--baselines/--no-baselines", help="Also run BM25 and the naive LangChain pipeline.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Measure answers and citations on a SQuAD-format set, beside BM25 and a naive LangChain pipeline."""
    from retrieval.evaluation import evaluate as run_evaluation
    from retrieval.evaluation import markdown

    try:
        report = run_evaluation(
            dataset,
            sample=sample,
            seed=seed,
            holdout=holdout,
            split=split,
            baselines=baselines,
            progress=None if as_json else lambda message: err.print(f"[dim]{escape(message)}[/dim]"),
        )
    except CitebotError as exc:
        raise fail(str(exc), 2) from exc
    if as_json:
        emit(report)
    else:
        out.print(markdown(report), markup=False)


class _ModelNotes(logging.Handler):
    """Shows the service's INFO notes (e.g. "preparing the embedding model, once") as dim lines."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"[dim]{escape(one_line(record.getMessage()))}[/dim]")


def _show_notes() -> None:
    logger = logging.getLogger("retrieval")
    if not any(isinstance(h, _ModelNotes) for h in logger.handlers):
        logger.addHandler(_ModelNotes(logging.INFO))
        logger.setLevel(logging.INFO)


def _usage_error(exc: Any) -> int:
    """Print a click/typer usage error as one line; returns its exit code."""
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) or "citebot"
    message = exc.format_message()
    if message == "Missing command." and ctx is not None:  # bare ``citebot``: name the commands
        message = f"no command given (one of: {', '.join(ctx.command.list_commands(ctx))})"
    err.print(f"[red]error:[/red] {escape(one_line(message))} (see: {escape(command)} --help)")
    return int(getattr(exc, "exit_code", 2))


def _aborted() -> None:
    err.print("Aborted")
    sys.exit(130)


def main(argv: list[str] | None = None) -> None:
    _show_notes()
    try:
        code = app(args=argv, prog_name="citebot", standalone_mode=False)
    except Exit as exc:
        sys.exit(exc.code)
    except NotFound as exc:
        fail(str(exc))
        sys.exit(1)
    except (ValidationError, SettingsError) as exc:
        fail(describe_error(exc), 2)
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        _aborted()
    except Exception as exc:
        # typer >= 0.2x raises its vendored click's exceptions (typer.TyperException), older
        # typer click's own: both have exit_code and format_message.
        if isinstance(getattr(exc, "exit_code", None), int) and callable(getattr(exc, "format_message", None)):
            sys.exit(_usage_error(exc))
        if os.environ.get("CITEBOT_DEBUG"):
            raise
        fail(f"unexpected {type(exc).__name__}: {exc} (CITEBOT_DEBUG=1 shows the traceback)")
        sys.exit(1)
    if code == 130:  # typer turns Ctrl-C into Exit(130), which standalone_mode=False returns
        _aborted()
    sys.exit(code if isinstance(code, int) else 0)
