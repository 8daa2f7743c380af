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
