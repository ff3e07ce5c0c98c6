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


def _check_mode(value: str | None) -> str | None:
    if value is not None and value not in ("extractive", "llm"):
        raise typer.BadParameter(f"{value!r} is not a mode (extractive or llm)")
    return value


ModeOpt = Annotated[
    str | None,
    typer.Option(
        "--mode",
        callback=_check_mode,
        help="extractive (quotes, offline) or llm (the configured model, every sentence verified).",
        show_default=False,
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Only documents published (or, undated, ingested) since: 12h, 7d, 2w, 3m, 1y or 2024-05-01.",
        show_default=False,
    ),
]
SourceOpt = Annotated[
    str | None,
    typer.Option(
        "--source", help="Only documents from this site (a domain like reuters.com, or a URL).", show_default=False
    ),
]


SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="A document set (repeat the option for several).", show_default=False),
]


def _sets(values: list[str] | None) -> tuple[str, ...]:
    """The --set names (a bad one exits 2 with one line, before any work)."""
    from retrieval.access import parse_set_names

    if any(not (v or "").strip() for v in values or []):
        raise fail("--set needs a set name, like --set policies", 2)
    try:
        return parse_set_names([_text(v) or "" for v in values or []])
    except InvalidQuestion as exc:
        raise fail(str(exc), 2) from exc


def _narrowed(values: list[str] | None) -> Any:
    """ask/search --set: the operator sees every set; --set narrows to those (None: no narrowing)."""
    from retrieval.access import Access

    names = _sets(values)
    return Access.of(everything=True, narrow=names) if names else None


def _scope(since: str | None, source: str | None) -> Any:
    """The --since/--source filter (None: none); a bad one exits 2 with one line, before any work."""
    from retrieval.scoping import Scope

    for option, value, example in (("--since", since, "--since 7d"), ("--source", source, "--source reuters.com")):
        if value is not None and not value.strip():  # given, but blank: not "no filter"
            raise fail(f"{option} needs a value, like {example}", 2)
    try:
        return Scope.parse(_text(since), _text(source))
    except InvalidQuestion as exc:
        raise fail(str(exc), 2) from exc


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
        yield CitebotService.from_settings(settings)
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
    sets: SetOpt = None,
) -> None:
    """Ingest .txt, .md, .html and .pdf files, directories and URLs (--set: into those document sets)."""
    names = _sets(sets)
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

        report = svc.ingest(sources, namespace, progress=on_progress, sets=names)
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
    from retrieval.scoping import byline as outlet_and_day

    if answer.abstained or not answer.citations or answer.mode == "llm":  # LLM mode: the verified sentences
        out.print(escape(answer.text))
    else:
        out.print(" ".join(f"\u201c{_marked(c.quote, c.answer_span)}\u201d [{c.n}]" for c in answer.citations))
    if answer.note:
        out.print(f"[dim]({escape(answer.note)})[/dim]")
    for c in answer.citations:
        out.print(f"\n[bold][{c.n}][/bold] {escape(c.title)}, paragraph {c.paragraph}, characters {c.start}–{c.end}")
        byline = outlet_and_day(c.url, c.published)
        if byline:
            out.print(f"    {escape(byline)}")
        out.print(f"    id: {c.id}" + (f"  {escape(c.url)}" if c.url else ""))


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question.", show_default=False)] = None,
    questions: QuestionsOpt = None,
    namespace: NamespaceOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
    mode: ModeOpt = None,
    since: SinceOpt = None,
    source: SourceOpt = None,
    sets: SetOpt = None,
) -> None:
    """Answer a question with quoted sentences and their citations (or say it is not there)."""
    scope = _scope(since, source)
    access = _narrowed(sets)
    items = one_or_batch(_text(question), questions, "question")
    batch = questions is not None
    with service(data_dir, answer_mode=mode) as svc:
        if not batch:
            svc.check_question(items[0])  # a bad question fails before any work
        ns = svc.namespace(namespace)
        if namespace is None and ns == svc.config.default_namespace and svc.ensure_sample(ns):
            err.print("[dim]A new store: ingested the bundled sample article first (citebot forget removes it).[/dim]")
        hint_if_empty(svc, ns)
        effective = mode or svc.answer_mode(ns)  # --mode, else the namespace's (citebot config answer-mode)
        streaming = effective == "llm" and not as_json
        if streaming:
            from citebot.streaming import TerminalStream

            stream = TerminalStream(err)
        run = partial(
            svc.ask,
            namespace=ns,
            mode=effective,
            on_token=stream.token if streaming else None,
            scope=scope,
            access=access,
        )
        for n, item, answer in each(items, batch, "question", run, as_json):
            if streaming:
                stream.finish()
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
    since: SinceOpt = None,
    source: SourceOpt = None,
    sets: SetOpt = None,
) -> None:
    """Show the passages that best match a query."""
    scope = _scope(since, source)
    access = _narrowed(sets)
    items = one_or_batch(_text(query), questions, "query")
    batch = questions is not None
    with service(data_dir) as svc:
        ns = svc.namespace(namespace)
        hint_if_empty(svc, ns)
        run = partial(svc.search, namespace=ns, k=k, scope=scope, access=access)
        for n, item, hits in each(items, batch, "query", run, as_json):
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
        in_sets = "  " + escape(f"[sets: {', '.join(d.sets)}]") if d.sets else ""
        out.print(
            f"{d.id}  {escape(d.title)}  ({d.chunks} chunks, {d.chars:,} chars)  {escape(d.url or d.source)}{in_sets}"
        )


@app.command("sets")
def list_sets(namespace: NamespaceOpt = None, data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """List the namespace's document sets: documents in each, and the roles a restricted one is visible to."""
    with service(data_dir) as svc:
        ns = svc.namespace(namespace)
        found = svc.sets(ns)
    if as_json:
        emit({"namespace": ns, "sets": [s.to_dict() for s in found]})
        return
    if not found:
        out.print(
            f"No document sets in namespace {escape(repr(ns))}. Ingest into one with: citebot ingest PATH --set NAME"
        )
    for s in found:
        who = f"restricted to roles {', '.join(s.roles)}" if s.roles else "visible to everyone"
        out.print(f"{escape(s.name)}  ({s.documents} documents, {who})")


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


config_app = typer.Typer(help="Show or change a namespace's settings (stored in the catalog).")
app.add_typer(config_app, name="config")


def _check_mode_choice(value: str | None) -> str | None:
    if value is not None and value not in ("extractive", "llm", "default"):
        raise typer.BadParameter(f"{value!r} is not a mode (extractive, llm or default)")
    return value


@config_app.command("answer-mode")
def config_answer_mode(
    mode: Annotated[
        str | None,
        typer.Argument(
            metavar="[MODE]",
            help="extractive, llm, or default (back to the settings' answer_mode); none: show it.",
            callback=_check_mode_choice,
            show_default=False,
        ),
    ] = None,
    namespace: NamespaceOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show or set how a namespace's questions are answered (a Discord server's: its id)."""
    with service(data_dir) as svc:
        ns = svc.namespace(namespace)
        if mode is not None:
            svc.set_answer_mode(ns, None if mode == "default" else mode)
        override = svc.answer_mode_override(ns)
        default = svc.config.answer_mode
    if as_json:
        emit({"namespace": ns, "answer_mode": override or default, "override": override, "default": default})
        return
    source = f"set for this namespace; the default is {default}" if override else "the default"
    out.print(f"answer mode of namespace {escape(repr(ns))}: {override or default} ({source})")


@config_app.command("set-roles")
def config_set_roles(
    name: Annotated[str, typer.Argument(metavar="SET", help="The document set.")],
    roles: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[ROLE_ID]...", help="Role ids that may see it; none: everyone may.", show_default=False
        ),
    ] = None,
    namespace: NamespaceOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Restrict a document set to members holding one of these Discord role ids (none: lift the restriction)."""
    ids = [r.strip() for r in roles or [] if r.strip()]
    bad = [r for r in ids if not r.isdigit() or len(r) > 20]
    if bad:
        raise fail(f"{_text(bad[0])!r} is not a role id (a number like 123456789012345678)", 2)
    with service(data_dir) as svc:
        info = svc.restrict_set(namespace, _text(name) or "", ids)
    if as_json:
        emit(info.to_dict())
        return
    who = f"restricted to roles {', '.join(info.roles)}" if info.roles else "visible to everyone"
    out.print(f"set {escape(info.name)}: {who} ({info.documents} documents)")


def _check_days(value: int) -> int:
    if not 1 <= value <= 90:
        raise typer.BadParameter(f"{value} is not 1 to 90")
    return value


@app.command()
def stats(
    days: Annotated[
        int, typer.Option("--days", help="The last N days (UTC, today included): 1 to 90.", callback=_check_days)
    ] = 7,
    namespace: NamespaceOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What a namespace was asked (by the Discord bot), answered and rated: /stats's numbers."""
    with service(data_dir) as svc:
        numbers = svc.stats(namespace, days)
    if as_json:
        emit(numbers.to_dict())
        return
    ratio = numbers.helpful_ratio
    out.print(
        f"namespace {escape(repr(numbers.namespace))}, {numbers.days} day(s) since {numbers.since}: "
        f"{numbers.asked} asked, {numbers.answered} answered, {numbers.abstained} abstained; "
        f"{numbers.helpful} 👍 {numbers.not_helpful} 👎" + (f" ({ratio:.0%} helpful)" if ratio is not None else "")
    )
    for day in numbers.per_day:
        out.print(f"  {day.day}  {day.answered} answered, {day.abstained} abstained")
    if numbers.unanswered:
        out.print("most asked without an answer:")
        for q in numbers.unanswered:
            out.print(f"  {q.count}x  {escape(q.question)}")
    if numbers.top_cited:
        out.print("most cited:")
        for d in numbers.top_cited:
            out.print(f"  {d.answers}x  {escape(d.title or '(forgotten)')}  {d.doc_id}")


feed_app = typer.Typer(help="RSS and Atom feeds whose new articles are ingested by themselves (polled by: feed poll).")
app.add_typer(feed_app, name="feed")


def _feed_line(f: Any) -> str:
    st = f.state
    health = f"failing ({st.failures}x): {one_line(st.last_error)}" if st.failures else "ok"
    if not st.failures and st.last_error:
        health = f"ok, but {one_line(st.last_error)}"
    polled = "never polled" if st.last_poll_at is None else f"last poll {_ago(st.last_poll_at)}"
    set_name = f"  set {f.set_name}" if f.set_name else ""
    return f"{f.id}  {f.url}  ({f.entries} entries, {polled}, {health}){set_name}"


def _ago(at: float) -> str:
    import time

    seconds = max(0, int(time.time() - at))
    return f"{seconds // 60} min ago" if seconds >= 60 else f"{seconds} s ago"


@feed_app.command("add")
def feed_add(
    url: Annotated[str, typer.Argument(help="The feed's http(s) address.", show_default=False)],
    set_name: Annotated[
        str | None, typer.Option("--set", help="The document set its articles go to.", show_default=False)
    ] = None,
    namespace: NamespaceOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Subscribe to a feed (checked by fetching it once); its articles come with the next poll."""
    with service(data_dir) as svc:
        feed = svc.add_feed(_text(url) or "", namespace, set_name=_text(set_name))
    if as_json:
        emit({"feed": feed.to_dict()})
    else:
        title = f" ({escape(feed.state.title)})" if feed.state.title else ""
        out.print(f"Added feed {feed.id}  {escape(feed.url)}{title}; its articles come with: citebot feed poll")


@feed_app.command("list")
def feed_list(namespace: NamespaceOpt = None, data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """List a namespace's feeds with their health: entries, last poll, errors."""
    with service(data_dir) as svc:
        ns = svc.namespace(namespace)
        feeds = svc.feeds(ns)
    if as_json:
        emit({"namespace": ns, "feeds": [f.to_dict() for f in feeds]})
        return
    if not feeds:
        out.print(f"No feeds in namespace {escape(repr(ns))}. Add one with: citebot feed add URL")
    for f in feeds:
        out.print(escape(_feed_line(f)))


@feed_app.command("remove")
def feed_remove(
    ref: Annotated[str, typer.Argument(metavar="URL|ID", help="The feed's URL or id.", show_default=False)],
    namespace: NamespaceOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Unsubscribe from a feed (the articles it brought stay; citebot forget removes them)."""
    with service(data_dir) as svc:
        feed = svc.remove_feed(_text(ref) or "", namespace)
    if as_json:
        emit({"removed": feed.to_dict()})
    else:
        out.print(f"Removed feed {feed.id}  {escape(feed.url)}")


@feed_app.command("poll")
def feed_poll(
    namespace: NamespaceOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Poll every feed now, due or not.")] = False,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Poll the due feeds (every namespace's, or --namespace's) and ingest new articles: for cron or a systemd timer.

    Exit code 1 when a feed failed (its error is kept and shown by feed list; it is retried with backoff).
    """
    with service(data_dir) as svc:
        report = svc.poll_feeds(namespace, every_namespace=namespace is None, force=force)
    if as_json:
        emit(report.to_dict())
    else:
        for item in report.items:
            counts = f"{item.added} added, {item.replaced} replaced, {item.failed} failed"
            detail = f": {one_line(item.error)}" if item.error else ""
            out.print(escape(f"{item.status:<12} {item.feed_id}  {item.url}  ({counts}){detail}"))
        out.print(report.summary() if report.items else "No feed is due.")
    if any(item.status == "failed" for item in report.items):
        raise Exit(1)


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
    sync: Annotated[
        bool,
        typer.Option("--sync", help="Push the commands to Discord globally (after installing or changing them)."),
    ] = False,
    sync_guild: Annotated[
        int | None, typer.Option("--sync-guild", help="Push the commands to this guild only, at once (development).")
    ] = None,
    shard_count: Annotated[
        int | None,
        typer.Option(
            "--shard-count",
            help="Total gateway shards across all processes (the same in each). Default: Discord's recommendation.",
            show_default=False,
        ),
    ] = None,
    shard_ids: Annotated[
        str | None,
        typer.Option(
            "--shard-ids",
            help="The shards this process runs, e.g. 0,1 or 0-3 (needs --shard-count). Default: all of them.",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Start the Discord bot (DISCORD_TOKEN from the environment or .env).

    The commands are pushed to Discord only with --sync or --sync-guild: once after
    installing or upgrading, not on every start. Several processes split the guilds with
    --shard-count N --shard-ids ... (each its own ids), sharing one catalog and Chroma server.
    """
    from bot.shards import ShardOptionError, plan_shards

    if sync and sync_guild is not None:
        raise fail("use --sync or --sync-guild, not both", 2)
    try:
        plan = plan_shards(shard_count, shard_ids)
    except ShardOptionError as exc:
        raise fail(str(exc), 2) from exc
    settings = load_settings(data_dir=data_dir)
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise fail("DISCORD_TOKEN is not set (put it in the environment or in .env)", 2)
    from bot.runner import run_bot

    try:
        run_bot(settings, sync_guild=sync_guild, sync_global=sync, shards=plan)
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
    mode: ModeOpt = None,
) -> None:
    """Measure answers and citations on a SQuAD-format set, beside BM25 and a naive LangChain pipeline."""
    if mode == "llm":  # the configured model beside the extractive mode (evaluation/llm.py)
        from evaluation.llm import evaluate_llm as run
        from evaluation.llm import markdown
    else:
        from evaluation.harness import evaluate, markdown

        run = partial(evaluate, baselines=baselines)
    try:
        report = run(
            dataset,
            sample=sample,
            seed=seed,
            holdout=holdout,
            split=split,
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
