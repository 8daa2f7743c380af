def test_seed_makes_sampling_reproducible(llama_model):
    a = llama_model.generate("Tell me a story.", temperature=1.0, top_p=0.9, top_k=50, seed=7, max_new_tokens=24)
    b = llama_model.generate("Tell me a story.", temperature=1.0, top_p=0.9, top_k=50, seed=7, max_new_tokens=24)
    c = llama_model.generate("Tell me a story.", temperature=1.0, top_p=0.9, top_k=50, seed=8, max_new_tokens=24)
    assert a.token_ids == b.token_ids
    assert a.token_ids != c.token_ids
    assert a.record.seed == 7 and a.record.temperature == 1.0


def test_unseeded_sampling_records_the_seed_it_used(llama_model):
    first = llama_model.generate("Tell me a story.", temperature=1.0, max_new_tokens=16)
    again = llama_model.generate("Tell me a story.", temperature=1.0, seed=first.record.seed, max_new_tokens=16)
    assert first.record.seed is not None and again.token_ids == first.token_ids


def test_stop_strings_cut_the_reply(llama_model):
    full = llama_model.generate("Tell me a story.", max_new_tokens=24)
    # a non-blank character that first appears after the reply's start, so the cut is not empty
    cut = next(i for i in range(3, len(full.text)) if full.text[i].strip() and full.text[i] not in full.text[:i])
    marker = full.text[cut]
    stopped = llama_model.generate("Tell me a story.", max_new_tokens=24, stop=[marker])
    assert stopped.record.finish_reason == "stop"
    assert marker not in stopped.text and full.text.startswith(stopped.text)
