"""What the bot remembers while it runs: the answers it sent and the threads it opened.

Both are bounded and in memory only; after a restart the buttons and threads rebuild what
they need from the messages themselves. They live on the bot (not in a cog) so that the
views and any cog can reach them, and reloading a cog forgets nothing.
"""

from __future__ import annotations

from collections import OrderedDict

from retrieval import Answer


class AnswerCache:
    """Recent answers by message id (bounded), and who already rated which answer."""

    def __init__(self, size: int = 2000) -> None:
        self.size = size
        self._answers: OrderedDict[int, Answer] = OrderedDict()
        self._votes: OrderedDict[tuple[int, int], int] = OrderedDict()

    def put(self, message_id: int, answer: Answer) -> None:
        self._answers[message_id] = answer
        self._answers.move_to_end(message_id)
        while len(self._answers) > self.size:
            self._answers.popitem(last=False)

    def get(self, message_id: int) -> Answer | None:
        return self._answers.get(message_id)

    def voted(self, message_id: int, user_id: int) -> bool:
        return (message_id, user_id) in self._votes

    def vote(self, message_id: int, user_id: int, vote: int) -> None:
        self._votes[(message_id, user_id)] = vote
        while len(self._votes) > self.size * 10:
            self._votes.popitem(last=False)


class ThreadMemory:
    """The question each thread the bot opened was opened for (bounded, oldest forgotten first)."""

    def __init__(self, size: int = 5000) -> None:
        self.size = size
        self._questions: OrderedDict[int, str] = OrderedDict()

    def remember(self, thread_id: int, question: str) -> None:
        self._questions[thread_id] = question
        while len(self._questions) > self.size:
            self._questions.popitem(last=False)

    def question(self, thread_id: int) -> str | None:
        return self._questions.get(thread_id)
