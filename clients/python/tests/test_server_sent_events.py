"""The event stream parser, on the cases the standard names."""

from __future__ import annotations

import unittest
from typing import List

from cairn_client._server_sent_events import Message, lines_of, messages_of


def parse(chunks: List[bytes]) -> List[Message]:
    retries: List[int] = []
    return list(messages_of(lines_of(chunks), retries.append))


class ServerSentEvents(unittest.TestCase):
    def test_lines_end_with_cr_lf_or_crlf_even_split_between_chunks(self) -> None:
        self.assertEqual(list(lines_of([b"a\r", b"\nb\rc\n", b"d"])), ["a", "b", "c"])

    def test_data_lines_join_comments_are_skipped_and_the_id_is_kept(self) -> None:
        messages = parse([b": cairn events\n\nid: 7\nevent: run.state\ndata: {\"a\":\ndata: 1}\n\n"])
        self.assertEqual(messages, [Message(id="7", event="run.state", data='{"a":\n1}')])

    def test_an_event_cut_before_its_blank_line_is_never_dispatched(self) -> None:
        self.assertEqual(parse([b"id: 1\ndata: {}\n\nid: 2\ndata: {\"cut"]), [Message(id="1", event="message", data="{}")])

    def test_retry_is_handed_on(self) -> None:
        retries: List[int] = []
        list(messages_of(lines_of([b"retry: 2500\n\n"]), retries.append))
        self.assertEqual(retries, [2500])


if __name__ == "__main__":
    unittest.main()
