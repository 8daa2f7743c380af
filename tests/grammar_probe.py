"""Whether a grammar state consumes a text, token by token: the check grammar tests share."""


def accepts(constraint, text: str, tokenizer) -> bool:
    """Whether ``constraint`` consumes ``text`` token by token (stopping at the first refusal)."""
    for token in tokenizer(text, add_special_tokens=False)["input_ids"]:
        if not constraint.accepts(token):
            return False
        constraint.advance(token)
    return True
