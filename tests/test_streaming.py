import pytest

from agentroute import GenerationCancelled, GenerationError, Trace
from agentroute.decode.streaming import TextStreamer


def test_streamed_chunks_add_up_to_the_reply(llama_model):
    chunks = []
    result = llama_model.generate("Tell me a story.", max_new_tokens=24, on_text=chunks.append)
    assert "".join(chunks) == result.text and len(chunks) > 1


def test_streaming_never_emits_text_past_a_stop_string(llama_model):
    full = llama_model.generate("Tell me a story.", max_new_tokens=24)
    cut = next(i for i in range(4, len(full.text)) if full.text[i].strip() and full.text[i] not in full.text[:i])
    stop = full.text[cut - 1 : cut + 1]
    chunks = []
    result = llama_model.generate("Tell me a story.", max_new_tokens=24, stop=[stop], on_text=chunks.append)
    assert "".join(chunks) == result.text and stop not in "".join(chunks)


class _Utf8Tokenizer:
    """Token i is byte i: lets the test split a multi-byte character across tokens."""

    def decode(self, ids, skip_special_tokens=True):
        return bytes(ids).decode("utf-8", errors="replace")


def test_incomplete_characters_and_possible_stop_prefixes_are_held_back():
    chunks = []
    streamer = TextStreamer(_Utf8Tokenizer(), chunks.append, stop=["END"])
    data = list("héllo E".encode())
    for n in range(1, len(data) + 1):
        streamer.push(data[:n])
    assert "\ufffd" not in "".join(chunks)
    assert "".join(chunks) == "héllo "  # "E" may start "END": held back
    streamer.finish("héllo Everyone")
    assert "".join(chunks) == "héllo Everyone"


@pytest.mark.parametrize("mode", ["routed", "lossless"])
def test_a_cancelled_check_stops_the_decode_and_keeps_nothing(llama_model, mode):
    expected = llama_model.generate("Tell me a story.", max_new_tokens=24, mode=mode, ignore_eos=True)
    asked = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) > 5  # say stop once a few tokens are out

    with Trace() as trace, pytest.raises(GenerationCancelled):
        llama_model.generate("Tell me a story.", max_new_tokens=24, mode=mode, ignore_eos=True, cancelled=cancelled)
    assert len(asked) == 6 and trace.records == []  # it stopped at once and recorded no step
    # The half-written cache was dropped: the next call (reusing the prompt's prefix) is unchanged.
    assert (
        llama_model.generate("Tell me a story.", max_new_tokens=24, mode=mode, ignore_eos=True).token_ids
        == expected.token_ids
    )


def test_a_check_that_is_already_set_skips_the_prefill(llama_model):
    with pytest.raises(GenerationCancelled, match="cancelled by its caller"):
        llama_model.generate("Tell me a story.", max_new_tokens=4, cancelled=lambda: True)


def test_cancelled_must_be_callable(llama_model):
    with pytest.raises(GenerationError, match="cancelled"):
        llama_model.generate("Tell me a story.", max_new_tokens=4, cancelled=True)
