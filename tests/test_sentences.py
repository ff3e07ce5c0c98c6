from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.sentences import paragraphs, sentences, split_long

SEED_LIKE = (
    "Dr. Smith met J. K. Rowling in the U.S. on Jan. 5. He said \u201chi.\u201d Then he left!\n\n"
    "Secretary of State Mike Pompeo said, \u201cIran must withdraw.\u201d During that speech he spoke."
)


def texts(t: str) -> list[str]:
    return [t[s.start : s.end] for s in sentences(t)]


def test_abbreviations_initials_and_quotes_do_not_split():
    assert texts(SEED_LIKE) == [
        "Dr. Smith met J. K. Rowling in the U.S. on Jan. 5.",
        "He said \u201chi.\u201d",
        "Then he left!",
        "Secretary of State Mike Pompeo said, \u201cIran must withdraw.\u201d",
        "During that speech he spoke.",
    ]


def test_paragraph_numbers_follow_blank_lines():
    spans = sentences(SEED_LIKE)
    assert [s.paragraph for s in spans] == [1, 1, 1, 2, 2]


def test_list_items_and_short_lines_are_sentences_but_wrapped_lines_are_not():
    text = (
        "Headline\n- one\n- two\nThis is a long wrapped line of prose that goes past sixty characters\nand continues."
    )
    assert texts(text) == [
        "Headline",
        "- one",
        "- two",
        "This is a long wrapped line of prose that goes past sixty characters\nand continues.",
    ]


def test_overlong_sentence_is_split_at_clause_boundaries_within_limit():
    text = "; ".join(f"clause number {i} with some words" for i in range(40)) + "."
    pieces = list(split_long(text, 0, len(text), 200))
    assert all(e - s <= 200 for s, e in pieces)
    assert all(text[s:e].strip() == text[s:e] for s, e in pieces)
    assert pieces[0][1] < 200 and text[pieces[0][1] - 1] == ";"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab .!?\n\u201c\u201d'\"Aq1")), max_size=400), st.integers(20, 300))
def test_sentences_are_exact_ordered_non_overlapping_spans(text, limit):
    spans = sentences(text, max_chars=limit)
    last = 0
    for s in spans:
        assert last <= s.start < s.end <= len(text)
        assert s.end - s.start <= limit
        assert not text[s.start].isspace() and not text[s.end - 1].isspace()
        last = s.end
    # Every non-space character is inside some sentence: nothing is dropped.
    inside = set()
    for s in spans:
        inside.update(range(s.start, s.end))
    assert all(i in inside for i, ch in enumerate(text) if not ch.isspace())
    assert bool(paragraphs(text)) == bool(text.strip())
